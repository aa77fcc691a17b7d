/**
 * The LMDB state store on a real LMDB environment in a temp dir, fed by the real engine over simulated
 * traffic: the codec round-trips customers and reads its older versions, a store of the previous version
 * loads and is rewritten record by record as it changes; the change tracker sees every
 * customer the core reaches (timers included); commits after each batch reload equal to the live state;
 * a stale commit is refused; damaged records and a damaged environment are named, and the partition is
 * restored from a fallback (never silently empty).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { open } from 'lmdb';
import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TxMessage } from '../../contracts/events.js';
import { Engine } from '../../scorer/core/engine.js';
import { newPartitionState, type PartitionState } from '../../scorer/core/state.js';
import { openLoyalty, openSeen } from '../../scorer/core/mod.js';
import { Emit } from '../../scorer/core/types.js';
import { FileCheckpointStore } from '../../scorer/runtime/checkpoints.js';
import {
  ChainMovedError, ChangeTracker, CODEC_VERSION, CodecError, decodeRecord, encodeRecord, LmdbStateStore, NatsSnapshots, rawCustomers,
  StaleCommitError, StoreCorruptError, StoreOpenError,
} from '../../scorer/runtime/store/mod.js';
import { RECORD_KIND, type RecordKind } from '../../scorer/runtime/store/codec.js';
import { startLocalNats, type LocalNats } from '../../platform/nats-server.js';
import { connectNats } from '../../platform/nats.js';
import { createBank } from '../../simulator/mod.js';
import { defaultEngineConfig } from '../../config/policy.js';

const PARTITION = 2;

/** Simulated traffic for one partition: profiles first, then the bank's events in order. */
function traffic(): TxMessage[] {
  const bank = createBank({ seed: 5, customers: 40, start: new Date('2025-01-01T00:00:00Z'), days: 90 });
  const out: TxMessage[] = [];
  for (const { cards: _cards, ...profile } of bank.profiles()) out.push({ kind: 'profile', body: profile });
  for (const ev of bank.events()) out.push(ev.kind === 'redemption' ? { kind: 'redemption', body: { ...ev.body, occurred_at: ev.body.occurred_at ?? '2025-01-01T00:00:00Z' } } : ev);
  return out;
}

const engine = new Engine(defaultEngineConfig());
function apply(state: PartitionState, msgs: readonly TxMessage[]): void {
  for (const msg of msgs) {
    const emit = new Emit();
    const pending = engine.apply(state, { seq: state.seq + 1, partition: PARTITION, msg }, emit);
    if (pending) engine.complete(state, pending, { probability: 0.05, modelVersion: 't' }, emit);
  }
}

/** The state as plain data (no tracking proxy), for comparisons. */
/** A deep copy of `state`, its customers' sealed lots and earning records opened first (see {@link opened}). */
function plain(state: PartitionState): PartitionState {
  return structuredClone({ ...opened(state), customers: rawCustomers(state) });
}

/**
 * `state` with the lots and earning records of its customers opened: a customer the store restores keeps
 * them sealed (left encoded) until the core needs them, so compared as plain data they are opened first.
 */
function opened<T extends PartitionState | undefined>(state: T): T {
  if (state !== undefined) for (const c of Object.values(rawCustomers(state))) { openLoyalty(c.loyalty); openSeen(c.seen); }
  return state;
}

let msgs: TxMessage[];
let dir: string;
beforeAll(() => {
  msgs = traffic();
  dir = mkdtempSync(path.join(os.tmpdir(), 'vafa-state-'));
}, 60_000);
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('the codec', () => {
  it('round-trips every customer exactly, smaller than JSON, and reads version-1 and version-2 records', () => {
    const state = newPartitionState(PARTITION);
    apply(state, msgs);
    let json = 0;
    let binary = 0;
    for (const customer of Object.values(state.customers)) {
      const bytes = encodeRecord('customer', customer);
      expect(bytes[0]).toBe(CODEC_VERSION);
      expect(decodeRecord('customer', bytes, 'c')).toEqual(customer);
      expect(decodeRecord('customer', encodeRecord('customer', customer, 1), 'v1')).toEqual(customer);
      expect(decodeRecord('customer', encodeRecord('customer', customer, 2), 'v2')).toEqual(customer);
      json += Buffer.byteLength(JSON.stringify(customer));
      binary += bytes.length;
    }
    expect(binary).toBeLessThan(json * 0.7);
  });

  it('a customer decoded sealed keeps nothing of the bytes it was read from (the store reads into a buffer lmdb reuses)', () => {
    const state = newPartitionState(PARTITION);
    apply(state, msgs);
    for (const customer of Object.values(rawCustomers(state))) {
      const read = Buffer.from(encodeRecord('customer', customer));
      const decoded = decodeRecord<typeof customer>('customer', read, 'c', { sealed: true });
      read.fill(0xff); // the next read overwrites the buffer
      openLoyalty(decoded.loyalty);
      openSeen(decoded.seen);
      expect(decoded).toEqual(customer);
    }
  });

  it('names the record it cannot read: unknown version, another kind, a damaged body', () => {
    const bytes = encodeRecord('meta', { seq: 1 });
    expect(() => decodeRecord('customer', bytes, 'c/x')).toThrow(/state record c\/x: expected a customer record/);
    expect(() => decodeRecord('meta', Buffer.from([CODEC_VERSION + 1, 2, 0x80]), 'meta')).toThrow(new RegExp(`unknown codec version ${CODEC_VERSION + 1}`));
    expect(() => decodeRecord('meta', Buffer.concat([bytes.subarray(0, 4), Buffer.from([0xc1, 0xc1])]), 'meta')).toThrow(CodecError);
  });
});

describe('the change tracker', () => {
  it('notes the customers an event or a firing timer reaches, and new ones', () => {
    const state = newPartitionState(PARTITION);
    apply(state, msgs.slice(0, 2000));
    const tracker = new ChangeTracker(state);
    const known = new Set(Object.keys(rawCustomers(state)));
    const before = structuredClone(rawCustomers(state));
    apply(state, msgs.slice(2000, 2600));
    const { changed, added } = tracker.take();
    const after = rawCustomers(state);
    // Every customer whose state differs was noted (whatever path changed it).
    for (const id of Object.keys(after)) {
      if (JSON.stringify(after[id]) !== JSON.stringify(before[id])) expect(changed.has(id), id).toBe(true);
    }
    expect(added).toBe(Object.keys(after).filter((id) => !known.has(id)).length);
    expect(tracker.take().changed.size).toBe(0);
  });
});

describe('LmdbStateStore', () => {
  it('commits the changed customers after each batch; a reopened store loads the live state', async () => {
    const where = path.join(dir, 'commits');
    const store = LmdbStateStore.open({ path: where, timerPageSize: 64 });
    expect(await store.load(PARTITION)).toBeUndefined();
    const state = newPartitionState(PARTITION);
    const tracker = new ChangeTracker(state);
    for (let start = 0; start < msgs.length; start += 500) {
      apply(state, msgs.slice(start, start + 500));
      await store.commit(state, tracker.take());
    }
    expect(state.timers.length).toBeGreaterThan(64); // several timer pages
    await store.close();
    const reopened = LmdbStateStore.open({ path: where, timerPageSize: 64 });
    expect(opened(await reopened.load(PARTITION))).toEqual(plain(state));
    // A commit older than the one stored (a fenced worker still writing) is refused.
    await reopened.load(PARTITION);
    const stale = { ...plain(state), seq: state.seq - 10 };
    expect(() => reopened.commit(stale, new ChangeTracker(stale).take())).toThrow(StaleCommitError);
    await reopened.close();
  });

  it('a store mapped whole (VAFA_STATE_MAP_CHUNKS=0) commits and loads the same state, and the same file opens mapped in chunks', async () => {
    const where = path.join(dir, 'mapped-whole');
    const whole = LmdbStateStore.open({ path: where, remapChunks: false });
    const state = newPartitionState(PARTITION);
    const tracker = new ChangeTracker(state);
    for (let start = 0; start < msgs.length; start += 500) {
      apply(state, msgs.slice(start, start + 500));
      await whole.commit(state, tracker.take());
    }
    await whole.close();
    const lazyWhole = LmdbStateStore.open({ path: where, remapChunks: false, cacheCustomers: 2 });
    const lazily = await lazyWhole.load(PARTITION);
    const expected = plain(state);
    const ids = Object.keys(expected.customers);
    expect(ids.length).toBeGreaterThan(2);
    for (const id of ids) { // each a cold read from the file (two are cached at most)
      const customer = lazily?.customers[id];
      if (customer) { openLoyalty(customer.loyalty); openSeen(customer.seen); }
      expect(structuredClone(customer)).toEqual(expected.customers[id]);
    }
    await lazyWhole.close();
    const chunked = LmdbStateStore.open({ path: where });
    expect(opened(await chunked.load(PARTITION))).toEqual(plain(state));
    await chunked.close();
  });

  // Version 2: the first compact one; 10: the last before the current, whose sealed chunks a commit carries into version-11 records.
  it.each([2, 10, 11, 12])('a store written by an older codec (version %i) loads as it was; a commit rewrites what it touches in the current version', async (old) => {
    const where = path.join(dir, `old-codec-${old}`);
    const state = newPartitionState(PARTITION);
    apply(state, msgs.slice(0, 1500));
    const writer = LmdbStateStore.open({ path: where });
    await writer.save(state);
    await writer.close();
    // Every record of the partition re-encoded as version `old`, as an older vafa left them.
    const kindOf = (byte: number): RecordKind => (Object.keys(RECORD_KIND) as RecordKind[]).find((k) => RECORD_KIND[k] === byte)!;
    const versions = async (): Promise<Map<number, number>> => {
      const raw = open({ path: where, compression: true, maxDbs: 1025 });
      const db = raw.openDB<Buffer, string>({ name: `partition-${PARTITION}`, encoding: 'binary' });
      const count = new Map<number, number>();
      for (const { value } of db.getRange()) count.set(value[0]!, (count.get(value[0]!) ?? 0) + 1);
      await raw.close();
      return count;
    };
    const raw = open({ path: where, compression: true, maxDbs: 1025 });
    const db = raw.openDB<Buffer, string>({ name: `partition-${PARTITION}`, encoding: 'binary' });
    for (const { key, value } of db.getRange()) {
      const kind = kindOf(value[1]!);
      await db.put(key, encodeRecord(kind, decodeRecord(kind, value, key), old));
    }
    await raw.close();
    const before = await versions();
    expect([...before.keys()]).toEqual([old]);

    const store = LmdbStateStore.open({ path: where });
    const loaded = (await store.load(PARTITION))!;
    expect(opened(loaded)).toEqual(plain(state));
    const tracker = new ChangeTracker(loaded);
    apply(loaded, msgs.slice(1500, 1600));
    const changes = tracker.take();
    await store.commit(loaded, changes);
    await store.close();
    const after = await versions();
    expect(changes.changed.size).toBeGreaterThan(0);
    expect(after.get(CODEC_VERSION)).toBeGreaterThanOrEqual(changes.changed.size); // the touched customers (and meta) are the current version now
    expect(after.get(old)).toBeGreaterThan(0); // the others stay as they were, and still read
    const reopened = LmdbStateStore.open({ path: where });
    expect(opened(await reopened.load(PARTITION))).toEqual(plain(loaded));
    await reopened.close();
  });

  it('a writer that lost the partition (another loaded it since) has its whole commit refused', async () => {
    const where = path.join(dir, 'two-writers');
    const state = newPartitionState(PARTITION);
    const tracker = new ChangeTracker(state);
    const fenced = LmdbStateStore.open({ path: where });
    await fenced.load(PARTITION);
    apply(state, msgs.slice(0, 600));
    await fenced.commit(state, tracker.take());
    const owner = LmdbStateStore.open({ path: where }); // another process on the same data directory
    const taken = (await owner.load(PARTITION))!;
    expect(opened(taken)).toEqual(plain(state));
    apply(state, msgs.slice(600, 900));
    await expect(fenced.commit(state, tracker.take())).rejects.toThrow(/refused: another writer loaded the partition/);
    const ownerTracker = new ChangeTracker(taken);
    apply(taken, msgs.slice(600, 700));
    await owner.commit(taken, ownerTracker.take());
    expect(opened(await LmdbStateStore.open({ path: where }).load(PARTITION))).toEqual(plain(taken));
    await fenced.close();
    await owner.close();
  });

  it('a damaged record: an error naming the path, the partition cleared and restored from the fallback', async () => {
    const where = path.join(dir, 'damaged');
    const state = newPartitionState(PARTITION);
    apply(state, msgs.slice(0, 1500));
    const snapshots = new FileCheckpointStore(path.join(dir, 'snapshots'));
    await snapshots.save(state);
    const store = LmdbStateStore.open({ path: where });
    await store.save(state);
    await store.close();
    const raw = open({ path: where, compression: true, maxDbs: 1025 });
    const db = raw.openDB<Buffer, string>({ name: `partition-${PARTITION}`, encoding: 'binary' });
    const victim = `c/${Object.keys(state.customers)[3]!}`;
    await db.put(victim, Buffer.from([CODEC_VERSION, 1, 0xc1, 0xc1, 0xc1]));
    await raw.close();

    const errors: string[] = [];
    const logger = { error: (o: { err: string }) => errors.push(o.err), info: () => undefined } as never;
    const bare = LmdbStateStore.open({ path: where });
    await expect((bare as unknown as { read(p: number): Promise<unknown> }).read(PARTITION)).rejects.toThrow(new RegExp(`state store ${where}, partition ${PARTITION}: state record ${victim}`));
    await bare.close();
    const recovering = LmdbStateStore.open({ path: where, fallbacks: [snapshots], logger });
    expect(opened(await recovering.load(PARTITION))).toEqual(plain(state));
    expect(errors.join()).toContain(where);
    await recovering.close();
    expect(opened(await LmdbStateStore.open({ path: where }).load(PARTITION))).toEqual(plain(state)); // restored into the store
  });

  it('imports the NDJSON checkpoint of an older vafa once, then serves from LMDB', async () => {
    const state = newPartitionState(PARTITION);
    apply(state, msgs.slice(0, 800));
    const legacy = new FileCheckpointStore(path.join(dir, 'legacy'));
    await legacy.save(state);
    const store = LmdbStateStore.open({ path: path.join(dir, 'imported'), fallbacks: [legacy], logger: { info: () => undefined } as never });
    expect(opened(await store.load(PARTITION))).toEqual(plain(state));
    rmSync(path.join(dir, 'legacy'), { recursive: true });
    expect(opened(await store.load(PARTITION))).toEqual(plain(state));
    await store.close();
  });

  it('a damaged environment: StoreOpenError naming the path', () => {
    const where = path.join(dir, 'garbage');
    rmSync(where, { recursive: true, force: true });
    LmdbStateStore.open({ path: where }); // creates the directory
    writeFileSync(path.join(where, 'data.mdb'), Buffer.alloc(64 * 1024, 0x5a));
    expect(() => LmdbStateStore.open({ path: path.join(where) })).toThrow(StoreOpenError);
    expect(() => LmdbStateStore.open({ path: where })).toThrow(where);
  });
});

describe('StoreCorruptError', () => {
  it('is raised for records without a meta record', async () => {
    const where = path.join(dir, 'orphans');
    const raw = open({ path: where, compression: true, maxDbs: 1025 });
    await raw.openDB<Buffer, string>({ name: `partition-${PARTITION}`, encoding: 'binary' }).put('c/x', encodeRecord('customer', { id: 'x', lastSeq: 1 }));
    await raw.close();
    const store = LmdbStateStore.open({ path: where });
    await expect((store as unknown as { read(p: number): Promise<unknown> }).read(PARTITION)).rejects.toThrow(StoreCorruptError);
    expect(await store.load(PARTITION)).toBeUndefined(); // cleared; no fallback: the worker decides (see worker.ts)
    await store.close();
  });
});

describe('NatsSnapshots (a real nats-server)', () => {
  let nats: LocalNats;
  let nc: NatsConnection;
  beforeAll(async () => {
    nats = await startLocalNats({ port: 0, storeDir: path.join(dir, 'nats') });
    nc = await connectNats(nats.url, 'state-store-test');
  }, 30_000);
  afterAll(async () => {
    await nc?.close();
    await nats?.stop();
  });

  /** A store on its own directory (another machine) whose commits feed its own snapshot shipper. */
  async function machine(name: string): Promise<{ store: LmdbStateStore; snapshots: NatsSnapshots }> {
    const snapshots = await NatsSnapshots.open(nc, { intervalMs: 3_600_000 });
    const store = LmdbStateStore.open({
      path: path.join(dir, name), timerPageSize: 64, remote: snapshots, onCommitted: (p, changes) => snapshots.committed(p, changes),
    });
    snapshots.attach(store);
    return { store, snapshots };
  }

  it('a base and increments restore on another machine; a late writer cannot extend the chain it lost', async () => {
    const first = await machine('machine-a');
    const state = newPartitionState(PARTITION);
    const tracker = new ChangeTracker(state);
    const run = async (on: LmdbStateStore, live: PartitionState, changes: ChangeTracker, from: number, to: number): Promise<void> => {
      for (let start = from; start < to; start += 400) {
        apply(live, msgs.slice(start, Math.min(to, start + 400)));
        await on.commit(live, changes.take());
      }
    };
    await run(first.store, state, tracker, 0, 1200);
    expect(await first.snapshots.ship(PARTITION)).toBe(state.seq); // base
    await run(first.store, state, tracker, 1200, 2000);
    await first.snapshots.ship(PARTITION); // increment
    await run(first.store, state, tracker, 2000, 2400);
    expect(await first.snapshots.ship(PARTITION)).toBe(state.seq); // increment

    // The partition moves: another machine restores base + increments and goes on from there.
    const second = await machine('machine-b');
    const moved = (await second.store.load(PARTITION))!;
    expect(opened(moved)).toEqual(plain(state));
    const movedTracker = new ChangeTracker(moved);
    await run(second.store, moved, movedTracker, 2400, 3000);
    expect(await second.snapshots.ship(PARTITION)).toBe(moved.seq); // an increment on the same chain

    // The first owner, fenced but still running, ships after it: refused, the chain is the second's.
    await run(first.store, state, tracker, 2400, 2600);
    await expect(first.snapshots.ship(PARTITION)).rejects.toThrow(ChainMovedError);
    const third = await machine('machine-c');
    expect(opened(await third.store.load(PARTITION))).toEqual(plain(moved));
    for (const m of [first, second, third]) await m.store.close();
  }, 60_000);
});
