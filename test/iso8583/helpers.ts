import { readFileSync } from 'node:fs';
import { connect as netConnect, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import fc from 'fast-check';
import { createLogger, type Logger } from '../../platform/log.js';
import type { IngestOutcome, ItemResult } from '../../ingest/service.js';
import type { FieldValue } from '../../ingest/iso8583/codec.js';
import { FrameReader, type FramingOptions } from '../../ingest/iso8583/framing.js';
import type { FieldSpec, Iso8583Spec } from '../../ingest/iso8583/spec.js';

const FIXTURES = new URL('../fixtures/iso8583/', import.meta.url);

export function fixture(path: string): Buffer {
  return readFileSync(new URL(path, FIXTURES));
}

export function fixtureJson<T>(path: string, encoding: BufferEncoding = 'utf8'): T {
  return JSON.parse(fixture(path).toString(encoding)) as T;
}

export const MOOV_FILES = [
  'financial_transaction_message.dat', 'financial_transaction_message_response.dat',
  'iso_reversal_message.dat', 'iso_reversal_message_response.dat', 'iso_reversal_message_advice.dat',
  'iso_reversal_repeat_message.dat', 'iso_reversal_repeat_message_response.dat',
  'network_management_message.dat', 'network_management_message_response.dat',
];

const PRINTABLE = ' !"#$%&\'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~';
const TEXT_CHARS: Record<string, string> = {
  n: '0123456789', a: 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz ', an: 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ',
  ans: PRINTABLE, as: PRINTABLE, ns: PRINTABLE, anp: PRINTABLE, z: '0123456789=',
};

/** Random strings over an alphabet (drawn as bytes: far faster than per-character arbitraries). */
function textArb(chars: string, minLength: number, maxLength: number): fc.Arbitrary<string> {
  return fc.uint8Array({ minLength, maxLength }).map((u) => Array.from(u, (b) => chars[b % chars.length]).join(''));
}

/** Random valid values for a field. */
export function fieldValueArb(fs: FieldSpec): fc.Arbitrary<FieldValue> {
  const fixed = fs.lengthType === 'fixed';
  const min = fixed ? fs.length : 0;
  const max = fixed ? fs.length : Math.min(fs.length, 40);
  if (fs.type === 'b') return fc.uint8Array({ minLength: min, maxLength: max }).map((u) => Buffer.from(u));
  if (fs.type === 'xn') return fc.tuple(fc.constantFrom('C', 'D'), textArb('0123456789', min, max)).map(([s, d]) => s + d);
  return textArb(TEXT_CHARS[fs.type] ?? PRINTABLE, min, max);
}

/** Random valid messages: an MTI and a random subset of the spec's fields. */
export function messageArb(spec: Iso8583Spec): fc.Arbitrary<{ mti: string; fields: Record<number, FieldValue> }> {
  const numbers = Object.keys(spec).map(Number);
  return fc.tuple(
    textArb('0123456789', 4, 4),
    fc.subarray(numbers, { minLength: 0, maxLength: 20 }).chain((picked) =>
      fc.tuple(...picked.map((n) => fieldValueArb(spec[n]!).map((v) => [n, v] as const)))),
  ).map(([mti, entries]) => ({ mti, fields: Object.fromEntries(entries) as Record<number, FieldValue> }));
}

/** A logger writing into memory, to search everything logged. */
export function captureLogger(): { logger: Logger; text: () => string } {
  const chunks: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer | string, _enc, cb) {
      chunks.push(chunk.toString());
      cb();
    },
  });
  return { logger: createLogger({ level: 'debug', destination }), text: () => chunks.join('') };
}

/** A stand-in for IngestService: records items; `down` makes every item fail as if JetStream were unavailable. */
export function fakeIngest(): { ingest: (kind: string, items: readonly unknown[]) => Promise<IngestOutcome>; items: unknown[]; down: boolean; calls: number } {
  const seen = new Set<string>();
  const state = {
    items: [] as unknown[],
    down: false,
    calls: 0,
    async ingest(_kind: string, items: readonly unknown[]): Promise<IngestOutcome> {
      state.calls++;
      await new Promise((r) => setTimeout(r, Math.random() * 5));
      const results: ItemResult[] = items.map((item, index) => {
        const id = String((item as { tx_id: string }).tx_id);
        if (state.down) return { index, status: 'failed', id, error: 'JetStream unavailable: no responders' };
        state.items.push(item);
        const duplicate = seen.has(id);
        seen.add(id);
        return { index, status: duplicate ? 'duplicate' : 'accepted', id, seq: state.items.length };
      });
      const count = (s: string): number => results.filter((r) => r.status === s).length;
      return { results, accepted: count('accepted'), duplicates: count('duplicate'), invalid: 0, failed: count('failed'), unavailable: state.down };
    },
  };
  return state;
}

/** A switch-side test client: sends raw bytes, collects framed responses. */
export interface Client {
  socket: Socket;
  frames: Buffer[];
  closed: Promise<void>;
  send(b: Buffer): void;
  /** Resolves once `n` frames have arrived (or rejects after `ms`). */
  waitFor(n: number, ms?: number): Promise<Buffer[]>;
}

export async function connectClient(port: number, framing: Omit<FramingOptions, 'maxFrameBytes'> = { lengthHeader: 'binary2' }): Promise<Client> {
  const socket = netConnect({ port, host: '127.0.0.1' });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('error', reject);
  });
  socket.on('error', () => undefined);
  const reader = new FrameReader({ ...framing, maxFrameBytes: 65535 });
  const frames: Buffer[] = [];
  let wake: (() => void) | undefined;
  socket.on('data', (chunk: Buffer) => {
    frames.push(...reader.push(chunk).frames);
    wake?.();
  });
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  return {
    socket,
    frames,
    closed,
    send: (b) => void socket.write(b),
    waitFor: (n, ms = 5000) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`got ${frames.length} of ${n} frames`)), ms);
        const check = (): void => {
          if (frames.length >= n) {
            clearTimeout(timer);
            wake = undefined;
            resolve(frames.slice());
          }
        };
        wake = check;
        check();
      }),
  };
}
