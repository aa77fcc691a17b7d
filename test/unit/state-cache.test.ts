/**
 * The LMDB store's bounded customer cache (changes.ts, `cacheCustomers`), on a real LMDB environment fed
 * by the real engine: a partition of 300 simulated customers processed with a cache of 50, in batches as
 * the worker takes them (phase 1 of the batch, then phase 2) and with a restart halfway, keeps at most 50
 * customers in memory after every commit, and gives the same rows, the same final state and the same
 * stored state as the same batches through an all-in-memory state, its cold customers read ahead
 * (`prefetch`) after the restart. A damaged record is found when read.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { open } from 'lmdb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TxMessage } from '../../contracts/events.js';
import { Engine, type Pending } from '../../scorer/core/engine.js';
import { newPartitionState, type CustomerState, type PartitionState } from '../../scorer/core/state.js';
import { openLoyalty, openSeen } from '../../scorer/core/mod.js';
import { OutputEmit } from '../../sinks/mapping.js';
import { FileCheckpointStore } from '../../scorer/runtime/checkpoints.js';
import { ChangeTracker, CODEC_VERSION, LmdbStateStore, PartialStateError, rawCustomers, StoreCorruptError } from '../../scorer/runtime/store/mod.js';
import { createBank } from '../../simulator/mod.js';
import { defaultEngineConfig } from '../../config/policy.js';

const PARTITION = 1;
const CUSTOMERS = 300;
const LIMIT = 50;
const BATCH = 100;

function traffic(): TxMessage[] {
  const bank = createBank({ seed: 11, customers: CUSTOMERS, start: new Date('2025-01-01T00:00:00Z'), days: 60 });
  const out: TxMessage[] = [];
  for (const { cards: _cards, ...profile } of bank.profiles()) out.push({ kind: 'profile', body: profile });
  for (const ev of bank.events()) out.push(ev.kind === 'redemption' ? { kind: 'redemption', body: { ...ev.body, occurred_at: ev.body.occurred_at ?? '2025-01-01T00:00:00Z' } } : ev);
  return out;
}

const engine = new Engine(defaultEngineConfig());

/** One batch as the worker runs it: phase 1 of every event, then phase 2; the rows it caused, as JSON. */
function batch(state: PartitionState, msgs: readonly TxMessage[]): string {
  const emit = new OutputEmit();
  const pendings: Pending[] = [];
  for (const msg of msgs) {
    const pending = engine.apply(state, { seq: state.seq + 1, partition: PARTITION, msg }, emit);
    if (pending) pendings.push(pending);
  }
  for (const [i, pending] of pendings.entries()) engine.complete(state, pending, { probability: (i % 10) / 10, modelVersion: 't' }, emit);
  return JSON.stringify({ rows: [...emit.tableRows()], publishes: emit.publishes });
}

/** A deep copy of `state`, its customers' sealed lots and earning records opened first (see {@link opened}). */
const plain = (state: PartitionState): PartitionState => structuredClone({ ...opened(state), customers: rawCustomers(state) });

/**
 * `state` with the lots and earning records of its customers opened: a customer the store restores keeps
 * them sealed (left encoded) until the core needs them, so compared as plain data they are opened first.
 */
function opened<T extends PartitionState | undefined>(state: T): T {
  if (state !== undefined) for (const c of Object.values(rawCustomers(state))) { openLoyalty(c.loyalty); openSeen(c.seen); }
  return state;
}

function openedCustomer(c: CustomerState | undefined): CustomerState | undefined {
  if (c !== undefined) { openLoyalty(c.loyalty); openSeen(c.seen); }
  return c;
}

let msgs: TxMessage[];
let dir: string;
beforeAll(() => {
  msgs = traffic();
  dir = mkdtempSync(path.join(os.tmpdir(), 'vafa-cache-'));
}, 60_000);
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('a partition larger than its customer cache', () => {
  it('stays within the bound after every commit and equals the all-in-memory run', async () => {
    const reference = newPartitionState(PARTITION);
    const where = path.join(dir, 'bounded');
    let store = LmdbStateStore.open({ path: where, cacheCustomers: LIMIT, timerPageSize: 64 });
    expect(await store.load(PARTITION)).toBeUndefined();
    let state = newPartitionState(PARTITION);
    let tracker = store.track(state);
    const half = Math.floor(msgs.length / BATCH / 2) * BATCH;
    let misses = 0;
    let lookups = 0;
    for (let start = 0; start < msgs.length; start += BATCH) {
      if (start === half) { // a restart: the partition is loaded lazily, none of its customers read
        lookups += tracker.stats().lookups;
        misses += tracker.stats().misses;
        await store.close();
        store = LmdbStateStore.open({ path: where, cacheCustomers: LIMIT, timerPageSize: 64 });
        state = (await store.load(PARTITION))!;
        tracker = store.track(state);
        expect(tracker.stats().cached).toBe(0);
        expect(state.timers).toEqual(reference.timers);
      }
      const slice = msgs.slice(start, start + BATCH);
      if (start >= half) { // after the restart, as the worker does: the batch's cold customers are read ahead
        const ids = new Set(slice.map((m) => m.body.customer_id));
        const cold = [...ids].filter((id) => !Object.hasOwn(rawCustomers(state), id)).length;
        const before = tracker.stats();
        expect(await store.prefetch(state, slice.map((m) => m.body.customer_id))).toBe(cold);
        expect(tracker.stats(), 'a prefetch reads nothing into the cache').toEqual(before);
      }
      const expected = batch(reference, slice);
      expect(batch(state, slice), `rows of the batch at ${start}`).toBe(expected);
      const reached = tracker.pending;
      expect(tracker.stats().cached).toBeLessThanOrEqual(LIMIT + reached);
      await store.commit(state, tracker.take());
      expect(tracker.stats().cached, `cached after the commit at ${start}`).toBeLessThanOrEqual(LIMIT);
    }
    lookups += tracker.stats().lookups;
    misses += tracker.stats().misses;
    expect(Object.keys(rawCustomers(reference)).length).toBe(CUSTOMERS);
    expect(misses).toBeGreaterThan(CUSTOMERS); // the cache did evict and read back
    expect(misses / lookups).toBeLessThan(0.5);
    expect({ ...plain(state), customers: {} }).toEqual({ ...plain(reference), customers: {} });
    await expect(store.save(state)).rejects.toThrow(PartialStateError);
    await store.close();
    const whole = LmdbStateStore.open({ path: where, timerPageSize: 64 });
    const loaded = (await whole.load(PARTITION))!;
    expect(opened(loaded)).toEqual(plain(reference));
    expect(await whole.prefetch(loaded, Object.keys(rawCustomers(reference))), 'a partition loaded whole has nothing to read ahead').toBe(0);
    await whole.close();
  }, 120_000);

  it('a damaged record found when read lazily: StoreCorruptError, and the next load restores the partition from its fallback', async () => {
    const where = path.join(dir, 'damaged');
    const state = newPartitionState(PARTITION);
    batch(state, msgs.slice(0, 1500));
    const snapshots = new FileCheckpointStore(path.join(dir, 'snapshots'));
    await snapshots.save(state);
    const writer = LmdbStateStore.open({ path: where });
    await writer.save(state);
    await writer.close();
    const victim = Object.keys(state.customers)[3]!;
    const raw = open({ path: where, compression: true, maxDbs: 1025 });
    await raw.openDB<Buffer, string>({ name: `partition-${PARTITION}`, encoding: 'binary' }).put(`c/${victim}`, Buffer.from([CODEC_VERSION, 1, 0xc1, 0xc1, 0xc1]));
    await raw.close();

    const errors: string[] = [];
    const logger = { error: (o: { err: string }) => errors.push(o.err), info: () => undefined } as never;
    // A fallback that keeps its copy (no `discard`): an older vafa's snapshots are discarded once the store holds the partition.
    const kept = { load: (p: number) => snapshots.load(p), save: (s: typeof state) => snapshots.save(s) };
    const store = LmdbStateStore.open({ path: where, cacheCustomers: LIMIT, fallbacks: [kept], logger });
    const lazy = (await store.load(PARTITION))!;
    expect(() => Object.hasOwn(lazy.customers, victim)).toThrow(StoreCorruptError);
    const restored = (await store.load(PARTITION))!;
    expect(errors.join()).toContain(`c/${victim}`);
    expect(openedCustomer(restored.customers[victim])).toEqual(state.customers[victim]);
    await store.close();
  });

  it('an in-memory tracker still notes changes and never evicts', async () => {
    const state = newPartitionState(PARTITION);
    batch(state, msgs.slice(0, 2000));
    const tracker = ChangeTracker.of(state);
    expect(ChangeTracker.of(state)).toBe(tracker);
    batch(state, msgs.slice(2000, 2500));
    expect(tracker.take().changed.size).toBeGreaterThan(0);
    tracker.evict();
    expect(tracker.stats().cached).toBe(Object.keys(rawCustomers(state)).length);
  });
});
