/**
 * Migration from an older vafa's whole snapshots (the `vafa_checkpoints` object store and the `file`
 * store's directory), with a real nats-server: once the LMDB state store holds a partition, its older copy
 * is discarded (read once, then gone), so a customer erased later is not kept there; the object's chunks
 * are securely erased (no file of the JetStream store holds the customer afterwards), the file is
 * overwritten before it is removed; a partition migrated before (the store already holds it) loses its
 * older copy at the next start.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import { Objm } from '@nats-io/obj';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine } from '../../scorer/core/engine.js';
import { newPartitionState, type PartitionState } from '../../scorer/core/state.js';
import { Emit } from '../../scorer/core/types.js';
import { CHECKPOINT_BUCKET, FileCheckpointStore, NatsCheckpointStore } from '../../scorer/runtime/checkpoints.js';
import { LmdbStateStore } from '../../scorer/runtime/store/mod.js';
import { startLocalNats, type LocalNats } from '../../platform/nats-server.js';
import { connectNats } from '../../platform/nats.js';
import { defaultEngineConfig } from '../../config/policy.js';

const NEEDLE = `OLD-SNAP-${Math.random().toString(36).slice(2, 8)}`;
let dir: string;
let nats: LocalNats;
let nc: NatsConnection;

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'vafa-discard-'));
  nats = await startLocalNats({ port: 0, storeDir: path.join(dir, 'nats') });
  nc = await connectNats(nats.url, 'discard-test');
}, 30_000);
afterAll(async () => {
  await nc?.close();
  await nats?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** A partition state holding `NEEDLE` and another customer, as the engine builds it. */
function stateOf(partition: number): PartitionState {
  const engine = new Engine(defaultEngineConfig());
  const state = newPartitionState(partition);
  [NEEDLE, 'OTHER-1'].forEach((customer, i) => {
    const emit = new Emit();
    const body = { tx_id: `T-${partition}-${i}`, customer_id: customer, channel: 'pos' as const, amount_minor: 250_000, currency: 'IRR', occurred_at: '2026-01-05T10:00:00Z' };
    const p = engine.apply(state, { seq: i + 1, partition, msg: { kind: 'transaction', body } }, emit);
    if (p) engine.complete(state, p, { probability: 0.1, modelVersion: 't' }, emit);
  });
  return state;
}

function filesHolding(root: string, needle: string): string[] {
  const found: string[] = [];
  for (const entry of readdirSync(root, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const file = path.join(entry.parentPath, entry.name);
    if (readFileSync(file).includes(needle)) found.push(path.relative(root, file));
  }
  return found;
}

describe('older whole snapshots are discarded once the state store holds the partition', () => {
  it('imports each partition once, then the older copy is gone from NATS\'s files and the directory', async () => {
    const older = await NatsCheckpointStore.open(nc);
    const files = new FileCheckpointStore(path.join(dir, 'checkpoints'));
    await older.save(stateOf(1));
    await files.save(stateOf(2));
    expect(filesHolding(path.join(dir, 'nats'), NEEDLE).length, 'the object store\'s files hold the customer').toBeGreaterThan(0);
    expect(filesHolding(path.join(dir, 'checkpoints'), NEEDLE)).toEqual(['partition-2.ndjson']);

    const store = LmdbStateStore.open({ path: path.join(dir, 'state'), fallbacks: [older, files] });
    try {
      expect(Object.keys((await store.load(1))!.customers).sort()).toEqual([NEEDLE, 'OTHER-1'].sort());
      expect(Object.keys((await store.load(2))!.customers).sort()).toEqual([NEEDLE, 'OTHER-1'].sort());
    } finally {
      await store.close();
    }
    const objects = await new Objm(nc).open(CHECKPOINT_BUCKET);
    expect((await objects.info('partition-1'))?.deleted ?? true, 'the object is deleted').toBe(true);
    expect(await older.load(1)).toBeUndefined();
    expect(filesHolding(path.join(dir, 'nats'), NEEDLE), 'files of the JetStream store naming the customer').toEqual([]);
    expect(existsSync(path.join(dir, 'checkpoints', 'partition-2.ndjson'))).toBe(false);
  });

  it('a partition the store already holds loses an older copy at the next start', async () => {
    const files = new FileCheckpointStore(path.join(dir, 'checkpoints'));
    await files.save(stateOf(1));
    const store = LmdbStateStore.open({ path: path.join(dir, 'state'), fallbacks: [files] });
    try {
      const state = await store.load(1);
      expect(state?.seq, 'the state store\'s own state, not the file\'s').toBe(2);
    } finally {
      await store.close();
    }
    expect(existsSync(path.join(dir, 'checkpoints', 'partition-1.ndjson'))).toBe(false);
    expect(filesHolding(path.join(dir, 'checkpoints'), NEEDLE)).toEqual([]);
  });
});
