/**
 * A reversal that names a completion (0220/0221 advice) in its field 90 reverses what the completion was
 * booked under: its authorisation's id (issue 17). Real frames through the codec and the mapping, then
 * the listener with the completion ids in memory and in NATS KV (a real nats-server).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TransactionV1 } from '../../contracts/events.js';
import { decode, encode, type FieldValue } from '../../ingest/iso8583/codec.js';
import { COMPLETION_IDS_BUCKET, COMPLETION_IDS_TTL_MS, MemoryCompletionIds, NatsCompletionIds } from '../../ingest/iso8583/completions.js';
import { frameMessage, framingOf } from '../../ingest/iso8583/framing.js';
import { mapToTransaction, reversalOfBooked, type CompletionIds, type MappedEvent } from '../../ingest/iso8583/mapping.js';
import { startIso8583Listener } from '../../ingest/iso8583/server.js';
import { dialectConfig } from '../../ingest/iso8583/specfile.js';
import { startLocalNats, type LocalNats } from '../../platform/nats-server.js';
import { captureLogger, connectClient, fakeIngest } from './helpers.js';

const KEY = 'completion-test-key';
const PAN = '4111111111111111';
const NOW = new Date('2026-04-21T12:00:00Z');
const cfg = dialectConfig();
const ACQUIRER = '627412';

const base = (extra: Record<number, FieldValue>): Record<number, FieldValue> => ({
  2: PAN, 3: '000000', 4: '000000065000', 32: ACQUIRER, 41: 'TERM0001', 49: '364', ...extra,
});
/** Field 90 (1987): original MTI, STAN, transmission date-time, acquirer and forwarder (11 digits each). */
const original = (mti: string, stan: string, transmission: string): string => `${mti}${stan}${transmission}${ACQUIRER.padStart(11, '0')}${'0'.repeat(11)}`;

// One card purchase as a dual-message switch sends it, and the reversals it may send.
const FRAMES: Record<string, { mti: string; fields: Record<number, FieldValue> }> = {
  auth: { mti: '0100', fields: base({ 7: '0421101010', 11: '000505' }) },
  completion: { mti: '0220', fields: base({ 7: '0421111111', 11: '000506', 90: original('0100', '000505', '0421101010') }) },
  reversalOfCompletion: { mti: '0420', fields: base({ 7: '0421111500', 11: '000507', 90: original('0220', '000506', '0421111111') }) },
  repeatOfIt: { mti: '0421', fields: base({ 7: '0421111600', 11: '000507', 90: original('0220', '000506', '0421111111') }) },
  reversalOfAuth: { mti: '0420', fields: base({ 7: '0421111700', 11: '000508', 90: original('0100', '000505', '0421101010') }) },
};
const AUTH_ID = `iso:${ACQUIRER}:000505:20260421101010`;
const COMPLETION_OWN_ID = `iso:${ACQUIRER}:000506:20260421111111`;

/** Encodes and decodes a frame under the default dialect, as the listener receives it, then maps it. */
const mapped = (name: string): MappedEvent => {
  const m = FRAMES[name]!;
  const r = mapToTransaction(decode(encode(m, cfg.spec, cfg.options), cfg.spec, cfg.options), { now: NOW, tokenKey: KEY });
  if (!r.ok || r.kind === 'no_event') throw new Error(`${name} did not map: ${JSON.stringify(r)}`);
  return r;
};

describe('the mapping', () => {
  it('books a completion under its authorisation\'s id and returns its own id; a reversal naming it is marked and rebuilds that own id', () => {
    expect(mapped('auth').tx.tx_id).toBe(AUTH_ID);
    const completion = mapped('completion');
    expect(completion).toMatchObject({ kind: 'completion', tx: { tx_id: AUTH_ID }, completionOwnId: COMPLETION_OWN_ID });
    const reversal = mapped('reversalOfCompletion');
    expect(reversal).toMatchObject({ kind: 'reversal', reversesCompletion: true, tx: { reverses_tx_id: COMPLETION_OWN_ID, tx_id: `${COMPLETION_OWN_ID}:rev` } });
    expect(mapped('reversalOfAuth').reversesCompletion).toBeUndefined();
    expect(mapped('auth').completionOwnId).toBeUndefined();
  });

  it('made a reversal of the booked id, it is the same event as a reversal naming the authorisation', () => {
    const resolved = reversalOfBooked(mapped('reversalOfCompletion').tx, AUTH_ID);
    const direct = mapped('reversalOfAuth').tx;
    expect(resolved.reverses_tx_id).toBe(AUTH_ID);
    expect(resolved.tx_id).toBe(direct.tx_id);
    expect(resolved.tx_id).toBe(`${AUTH_ID}:rev`);
  });
});

/** Sends the named frames in order to a listener (each answered before the next), returns the events it booked and the answers. */
async function through(names: string[], completions?: CompletionIds): Promise<{ events: TransactionV1[]; answers: string[] }> {
  const ingest = fakeIngest();
  const { logger } = captureLogger();
  const listener = await startIso8583Listener({
    port: 0, host: '127.0.0.1', ingest, tokenKey: KEY, logger, spec: cfg.spec, options: cfg.options, tables: cfg.tables,
    dlq: async () => undefined, now: () => NOW, ...(completions ? { completions } : {}),
  });
  const framing = framingOf(cfg.options);
  const client = await connectClient(listener.port, framing);
  try {
    for (const [i, name] of names.entries()) {
      client.send(frameMessage(encode(FRAMES[name]!, cfg.spec, cfg.options), framing));
      await client.waitFor(i + 1);
    }
    const answers = client.frames.map((f) => String(decode(f, cfg.spec, cfg.options).fields[39]));
    return { events: ingest.items as TransactionV1[], answers };
  } finally {
    client.socket.destroy();
    await listener.close();
  }
}

describe('the listener', () => {
  it('books a reversal naming a completion as a reversal of the authorisation\'s id; its repeat and a reversal naming the authorisation are the same event', async () => {
    const { events, answers } = await through(['auth', 'completion', 'reversalOfCompletion', 'repeatOfIt', 'reversalOfAuth'], new MemoryCompletionIds());
    expect(answers).toEqual(['00', '00', '00', '00', '00']);
    expect(events.map((e) => [e.tx_id, e.reverses_tx_id])).toEqual([
      [AUTH_ID, undefined], [AUTH_ID, undefined], [`${AUTH_ID}:rev`, AUTH_ID], [`${AUTH_ID}:rev`, AUTH_ID], [`${AUTH_ID}:rev`, AUTH_ID],
    ]);
  });

  it('without completion ids (or for a completion it never saw) the reversal names the completion\'s own id, as before', async () => {
    const without = await through(['auth', 'completion', 'reversalOfCompletion']);
    expect(without.events[2]!.reverses_tx_id).toBe(COMPLETION_OWN_ID);
    const unseen = await through(['reversalOfCompletion'], new MemoryCompletionIds());
    expect(unseen.events[0]!.reverses_tx_id).toBe(COMPLETION_OWN_ID);
  });

  it('answers 96 and books nothing when the completion ids cannot be reached (the switch retries)', async () => {
    const down: CompletionIds = { remember: async () => { throw new Error('no responders'); }, bookedIdOf: async () => { throw new Error('no responders'); } };
    const { events, answers } = await through(['auth', 'completion', 'reversalOfCompletion'], down);
    expect(answers).toEqual(['00', '96', '96']);
    expect(events.map((e) => e.tx_id)).toEqual([AUTH_ID]);
  });
});

describe('completion ids in NATS KV', () => {
  let nats: LocalNats;
  let dir: string;
  const connections: NatsConnection[] = [];
  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'vafa-completions-'));
    nats = await startLocalNats({ port: 0, storeDir: dir });
  }, 30_000);
  afterAll(async () => {
    await Promise.all(connections.map((c) => c.close()));
    await nats?.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const open = async (): Promise<NatsCompletionIds> => {
    const nc = await connect({ servers: nats.url, timeout: 5000 });
    connections.push(nc);
    return NatsCompletionIds.open(nc);
  };

  it('remembers a completion durably (another connection, as another ingest process, finds it) with the bucket\'s TTL', async () => {
    const ids = await open();
    const { events } = await through(['auth', 'completion'], ids);
    expect(events).toHaveLength(2);
    const other = await open();
    expect(await other.bookedIdOf(COMPLETION_OWN_ID)).toBe(AUTH_ID);
    expect(await other.bookedIdOf('iso:1:000001:20260101000000')).toBeUndefined();
    const after = await through(['reversalOfCompletion'], other);
    expect(after.events[0]).toMatchObject({ tx_id: `${AUTH_ID}:rev`, reverses_tx_id: AUTH_ID });
    const nc = connections[0]!;
    const { jetstreamManager } = await import('@nats-io/jetstream');
    const info = await (await jetstreamManager(nc)).streams.info(`KV_${COMPLETION_IDS_BUCKET}`);
    expect(info.config.max_age).toBe(COMPLETION_IDS_TTL_MS * 1_000_000);
  }, 30_000);
});
