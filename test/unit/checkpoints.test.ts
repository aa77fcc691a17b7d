/**
 * Checkpoint snapshots: format 2 (NDJSON streamed in chunks) round-trips a partition state built by the
 * engine from simulated traffic, in files and in the NATS object store (a real nats-server); version-1
 * files are still read; a truncated or foreign snapshot is refused by name.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TxMessage } from '../../contracts/events.js';
import { Engine } from '../../scorer/core/engine.js';
import { newPartitionState, type PartitionState } from '../../scorer/core/state.js';
import { Emit } from '../../scorer/core/types.js';
import {
  CHECKPOINT_FORMAT, CheckpointError, decodeSnapshot, encodeSnapshot, FileCheckpointStore, NatsCheckpointStore,
} from '../../scorer/runtime/checkpoints.js';
import { startLocalNats, type LocalNats } from '../../platform/nats-server.js';
import { connectNats } from '../../platform/nats.js';
import { createBank } from '../../simulator/mod.js';
import { defaultEngineConfig } from '../../config/policy.js';

/** A partition state as the scorer holds it: simulated customers with a few months of history. */
function buildState(partition: number): PartitionState {
  const bank = createBank({ seed: 3, customers: 60, start: new Date('2025-01-01T00:00:00Z'), days: 120 });
  const engine = new Engine(defaultEngineConfig());
  const state = newPartitionState(partition);
  let seq = 0;
  const run = (msg: TxMessage): void => {
    const emit = new Emit();
    const p = engine.apply(state, { seq: ++seq, partition, msg }, emit);
    if (p) engine.complete(state, p, { probability: 0.03, modelVersion: 't' }, emit);
  };
  for (const { cards: _cards, ...profile } of bank.profiles()) run({ kind: 'profile', body: profile });
  for (const ev of bank.events()) run(ev.kind === 'redemption' ? { kind: 'redemption', body: { ...ev.body, occurred_at: ev.body.occurred_at ?? '2025-01-01T00:00:00Z' } } : ev);
  return state;
}

async function collect(gen: AsyncIterable<Uint8Array>): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  for await (const c of gen) out.push(c);
  return out;
}

async function* from(chunks: Uint8Array[]): AsyncGenerator<Uint8Array> {
  yield* chunks;
}

let state: PartitionState;
let dir: string;
beforeAll(() => {
  state = buildState(3);
  dir = mkdtempSync(path.join(os.tmpdir(), 'vafa-ckpt-'));
}, 60_000);
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('a snapshot', () => {
  it('is a header line and one line per customer, in chunks of about a megabyte, and reads back equal', async () => {
    const chunks = await collect(encodeSnapshot(state));
    const bytes = chunks.reduce((n, c) => n + c.length, 0);
    expect(bytes).toBeGreaterThan(1 << 20); // more than one chunk
    expect(chunks.length).toBeGreaterThan(1);
    const lines = Buffer.concat(chunks).toString('utf8').trimEnd().split('\n');
    const ids = Object.keys(state.customers);
    expect(lines).toHaveLength(1 + ids.length);
    expect(JSON.parse(lines[0]!)).toMatchObject({ format: CHECKPOINT_FORMAT, partition: 3, seq: state.seq, customers: ids.length });
    // Chunk boundaries fall anywhere (here: inside lines and multi-byte characters): the reader copes.
    const split = Buffer.concat(chunks);
    const odd = Array.from({ length: Math.ceil(split.length / 7777) }, (_, i) => split.subarray(i * 7777, (i + 1) * 7777));
    expect(await decodeSnapshot(from(odd), 3, 'test')).toEqual(state);
  });

  it('refuses a truncated snapshot, one of another partition, and an empty one', async () => {
    const whole = Buffer.concat(await collect(encodeSnapshot(state)));
    const cut = whole.subarray(0, whole.lastIndexOf('\n', whole.length - 2) + 1);
    await expect(decodeSnapshot(from([cut]), 3, 'cut')).rejects.toThrow(/checkpoint cut of partition 3: truncated/);
    await expect(decodeSnapshot(from([whole]), 4, 'other')).rejects.toThrow(CheckpointError);
    await expect(decodeSnapshot(from([]), 3, 'none')).rejects.toThrow(/empty/);
  });
});

describe('FileCheckpointStore', () => {
  it('saves atomically and loads; reads a version-1 file and replaces it on the next save', async () => {
    const store = new FileCheckpointStore(path.join(dir, 'files'));
    expect(await store.load(3)).toBeUndefined();
    const legacy = path.join(dir, 'files', 'partition-3.json');
    writeFileSync(legacy, JSON.stringify(state));
    expect(await store.load(3)).toEqual(state);
    await store.save(state);
    expect(existsSync(legacy)).toBe(false);
    expect(readFileSync(path.join(dir, 'files', 'partition-3.ndjson'), 'utf8').startsWith(`{"format":"${CHECKPOINT_FORMAT}"`)).toBe(true);
    expect(await store.load(3)).toEqual(state);
  });
});

describe('NatsCheckpointStore', () => {
  let nats: LocalNats;
  let nc: NatsConnection;
  beforeAll(async () => {
    nats = await startLocalNats({ port: 0, storeDir: path.join(dir, 'nats') });
    nc = await connectNats(nats.url, 'checkpoint-test');
  }, 30_000);
  afterAll(async () => {
    await nc?.close();
    await nats?.stop();
  });

  it('streams a snapshot into the object store and back', async () => {
    const store = await NatsCheckpointStore.open(nc);
    expect(await store.load(3)).toBeUndefined();
    await store.save(state);
    expect(await store.load(3)).toEqual(state);
    // Another instance (a scorer on another machine) reads the same snapshot.
    expect(await (await NatsCheckpointStore.open(nc)).load(3)).toEqual(state);
  });
});
