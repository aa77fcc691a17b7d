/**
 * The ISO 8583 listener's CPU an authorisation request, by step, in one process and without I/O: decoding
 * the frame, mapping it to a transaction (ids, dates, the card token), and building, encoding and framing
 * its response; on the 0200 requests bench phase 2d sends (bench/events.ts). Medians of `--rounds`
 * passes over `--messages` requests, µs a message.
 *
 *   npx tsx bench/iso8583-path.ts [--messages 20000] [--rounds 7]
 */
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { buildResponse, decode, DEFAULT_TABLES, encode, frameMessage, mapToTransaction, type DecodedMessage } from '../ingest/iso8583/mod.js';
import { iso0200Fields } from './events.js';
import { median } from './stats.js';

const FRAMING = { lengthHeader: 'binary2', lengthHeaderIncludesItself: false } as const;
const TOKEN_KEY = 'bench-iso8583-path-token-key';

/** The payloads (frames without their length header) of `count` requests over 64 connections and 500 cards. */
export function requestPayloads(count: number, now: Date): Buffer[] {
  const payloads: Buffer[] = [];
  for (let i = 0; i < count; i++) payloads.push(encode({ mti: '0200', fields: iso0200Fields(i % 64, Math.floor(i / 64), i % 500, now) }));
  return payloads;
}

/** µs a message of each step over one pass; the decoded messages feed the next steps. */
function pass(payloads: readonly Buffer[], now: Date): { decode: number; map: number; respond: number; total: number } {
  const decoded: DecodedMessage[] = new Array(payloads.length);
  const t0 = performance.now();
  for (let i = 0; i < payloads.length; i++) decoded[i] = decode(payloads[i] as Buffer);
  const t1 = performance.now();
  let mapped = 0;
  for (const msg of decoded) if (mapToTransaction(msg, { now, tokenKey: TOKEN_KEY, tables: DEFAULT_TABLES }).ok) mapped++;
  const t2 = performance.now();
  let bytes = 0;
  for (const msg of decoded) {
    const response = buildResponse(msg, '00', undefined, DEFAULT_TABLES.responseEchoFields);
    if (response) bytes += frameMessage(encode(response), FRAMING).length;
  }
  const t3 = performance.now();
  if (mapped !== payloads.length || bytes === 0) throw new Error(`only ${mapped} of ${payloads.length} requests mapped`);
  const us = (ms: number): number => (ms * 1000) / payloads.length;
  return { decode: us(t1 - t0), map: us(t2 - t1), respond: us(t3 - t2), total: us(t3 - t0) };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { messages: { type: 'string', default: '20000' }, rounds: { type: 'string', default: '7' } } });
  const now = new Date();
  const payloads = requestPayloads(Number(values.messages), now);
  const passes = Array.from({ length: Number(values.rounds) }, () => pass(payloads, now));
  const m = (k: keyof ReturnType<typeof pass>): string => median(passes.map((p) => p[k])).toFixed(2);
  console.log(`${payloads.length.toLocaleString('en-US')} 0200 requests, median of ${passes.length} passes, µs a message: decode ${m('decode')}, map ${m('map')}, respond ${m('respond')}, total ${m('total')}`);
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
