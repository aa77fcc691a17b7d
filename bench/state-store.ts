/**
 * Figures of the LMDB state store on simulated history: bytes per customer (JSON, the codec, on disk
 * with LZ4), the cost of a commit per batch against a whole NDJSON snapshot, and the time to load a
 * partition. The history is the simulator's (`createBank`, what `vafa simulate` writes) through the real
 * engine, one partition, in batches as the worker takes them.
 *
 *   npx tsx bench/state-store.ts [--customers 300] [--days 365] [--seed 7] [--batch 1000] [--load-copies 20]
 *
 * `--load-copies`: the partition is also loaded with every customer copied that many times under new
 * ids (a larger partition of the same customers).
 */
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { TxMessage } from '../contracts/events.js';
import { Engine, newPartitionState, type PartitionState, Emit, num } from '../scorer/core/mod.js';
import { FileCheckpointStore } from '../scorer/runtime/mod.js';
import { ChangeTracker, encodeRecord, LmdbStateStore, rawCustomers } from '../scorer/runtime/store/mod.js';
import { createBank } from '../simulator/mod.js';
import { defaultEngineConfig } from '../config/mod.js';

const { values } = parseArgs({
  options: {
    customers: { type: 'string', default: '300' }, days: { type: 'string', default: '365' }, seed: { type: 'string', default: '7' },
    batch: { type: 'string', default: '1000' }, 'load-copies': { type: 'string', default: '20' },
  },
});
const batchSize = Number(values.batch);

function quantile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))] ?? 0;
}
const describe = (xs: number[]): string => {
  const s = [...xs].sort((a, b) => a - b);
  return `median ${quantile(s, 0.5).toFixed(1)}  p99 ${quantile(s, 0.99).toFixed(1)}  max ${num(s, s.length - 1).toFixed(1)}`;
};
const directoryBytes = (dir: string): number => readdirSync(dir).reduce((n, f) => n + statSync(path.join(dir, f)).size, 0);

function history(): TxMessage[] {
  const bank = createBank({ seed: Number(values.seed), customers: Number(values.customers), start: new Date('2025-01-01T00:00:00Z'), days: Number(values.days) });
  const out: TxMessage[] = [];
  for (const { cards: _cards, ...profile } of bank.profiles()) out.push({ kind: 'profile', body: profile });
  for (const ev of bank.events()) out.push(ev.kind === 'redemption' ? { kind: 'redemption', body: { ...ev.body, occurred_at: ev.body.occurred_at ?? '2025-01-01T00:00:00Z' } } : ev);
  return out;
}

const dir = mkdtempSync(path.join(os.tmpdir(), 'vafa-store-bench-'));
try {
  const messages = history();
  const engine = new Engine(defaultEngineConfig());
  const state = newPartitionState(0);
  const tracker = new ChangeTracker(state);
  const store = LmdbStateStore.open({ path: path.join(dir, 'state') });
  const commitMs: number[] = [];
  const durableMs: number[] = [];
  const changedPerBatch: number[] = [];
  for (let start = 0; start < messages.length; start += batchSize) {
    for (const msg of messages.slice(start, start + batchSize)) {
      const emit = new Emit();
      const pending = engine.apply(state, { seq: state.seq + 1, partition: 0, msg }, emit);
      if (pending) engine.complete(state, pending, { probability: 0.05, modelVersion: 'bench' }, emit);
    }
    const changes = tracker.take();
    const t0 = performance.now();
    const committed = store.commit(state, changes);
    commitMs.push(performance.now() - t0);
    await committed;
    durableMs.push(performance.now() - t0);
    changedPerBatch.push(changes.changed.size);
  }
  const customers = Object.values(rawCustomers(state));
  const json = customers.map((c) => Buffer.byteLength(JSON.stringify(c)));
  const codec = customers.map((c) => encodeRecord('customer', c).length);
  console.log(`history: ${messages.length} events, ${customers.length} customers, ${state.timers.length} timers; batches of ${batchSize}`);
  console.log(`bytes/customer JSON:  ${describe(json)}  mean ${(json.reduce((a, b) => a + b, 0) / json.length).toFixed(0)}`);
  console.log(`bytes/customer codec: ${describe(codec)}  mean ${(codec.reduce((a, b) => a + b, 0) / codec.length).toFixed(0)}`);
  await store.close();
  const onDisk = LmdbStateStore.open({ path: path.join(dir, 'compact') });
  await onDisk.save(state);
  await onDisk.close();
  console.log(`on disk (LMDB, LZ4, incl. meta and ${state.timers.length} timers): ${(directoryBytes(path.join(dir, 'compact')) / customers.length).toFixed(0)} bytes/customer`);
  console.log(`changed customers per batch: ${describe(changedPerBatch)}`);
  console.log(`commit, main thread ms: ${describe(commitMs)}`);
  console.log(`commit, until durable ms: ${describe(durableMs)}`);

  const files = new FileCheckpointStore(path.join(dir, 'ndjson'));
  let t0 = performance.now();
  await files.save(state);
  console.log(`whole NDJSON snapshot of the same partition: ${(performance.now() - t0).toFixed(0)} ms, ${directoryBytes(path.join(dir, 'ndjson'))} bytes`);

  const reopened = LmdbStateStore.open({ path: path.join(dir, 'state') });
  t0 = performance.now();
  await reopened.load(0);
  console.log(`load ${customers.length} customers: ${(performance.now() - t0).toFixed(0)} ms`);
  const copies = Number(values['load-copies']);
  const big: PartitionState = { ...structuredClone({ ...state, customers: {} }), customers: {} };
  for (let k = 0; k < copies; k++) for (const c of customers) big.customers[`${c.id}~${k}`] = { ...c, id: `${c.id}~${k}` };
  const bigStore = LmdbStateStore.open({ path: path.join(dir, 'big') });
  await bigStore.save(big);
  await bigStore.close();
  const bigReopened = LmdbStateStore.open({ path: path.join(dir, 'big') });
  t0 = performance.now();
  await bigReopened.load(0);
  const n = Object.keys(big.customers).length;
  const ms = performance.now() - t0;
  console.log(`load ${n} customers: ${ms.toFixed(0)} ms (${((ms * 1000) / n).toFixed(0)} µs/customer), ${(directoryBytes(path.join(dir, 'big')) / 2 ** 20).toFixed(0)} MiB on disk`);
  await reopened.close();
  await bigReopened.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
