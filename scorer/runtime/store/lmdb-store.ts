/**
 * The scorer's state store: one LMDB environment per data directory, one named database per partition
 * (`partition-<n>`), LZ4-compressed values in the versioned codec of `codec.ts`. Keys of a partition:
 *
 * - `meta`: the partition state without its customers and timers (seq, watermark, stats, budgets, rules,
 *   whatever else the core keeps there), with the number of customers and timers the store holds;
 * - `c/<customer id>`: one customer;
 * - `t/<page>`: the timer heap, verbatim, in pages of `timerPageSize` entries (the heap's layout decides
 *   the firing order of timers due together, so it is kept as it is, not rebuilt).
 *
 * A commit writes the customers changed since the previous commit, the timer pages that changed and the
 * meta record (the stream position it covers) in ONE transaction, on lmdb-js's write thread: a block of
 * writes conditional on the partition's owner entry (`owners` db, versioned) still holding the version
 * this store's `load` claimed. Loading a partition claims it; a writer that lost it (a fenced worker in
 * another process sharing the data directory) has its commits refused as a whole, never interleaved
 * with the new owner's. Recovery reads the meta and the records it covers and resumes the stream after
 * `meta.seq`.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import path from 'node:path';
import { open, type Database, type RootDatabase } from 'lmdb';
import type { CustomerState, PartitionState, Timer } from '../../core/mod.js';
import type { Logger } from '../../../platform/mod.js';
import type { CheckpointStore } from '../checkpoints.js';
import { ChangeTracker, isPartial, PartialStateError, rawCustomers, trackerOf, type CustomerCache, type CustomerChanges, type CustomerSource } from './changes.js';
import { CODEC_VERSION, CodecError, decodeRecord, encodeRecord, type EncodeOptions } from './codec.js';
import { COMPACT_MARKER, CUSTOMER_PREFIX, META, StaleCommitError, StoreCorruptError, StoreOpenError, TIMER_PREFIX } from './layout.js';

export { COMPACT_MARKER, CUSTOMER_PREFIX, META, StaleCommitError, StoreCorruptError, StoreOpenError, TIMER_PREFIX };

/** Options of `LmdbStateStore.open`. */
export interface LmdbStateStoreOptions {
  /** Directory of the LMDB environment (created when missing). */
  path: string;
  /** Timers per stored page of a partition's heap. Default 1024. */
  timerPageSize?: number;
  /** Most partitions the environment holds (LMDB named databases). Default 1024 (the settings' limit). */
  maxPartitions?: number;
  /** Customers decoded between two turns of the event loop while loading. Default 2000. */
  loadChunk?: number;
  /**
   * Most customers of a partition kept decoded in memory. Set: `load` reads only the meta record and the
   * timers, and the customers come from the store as the core reaches them, through a bounded cache
   * (changes.ts) that drops the least recently reached ones once a commit is durable. Unset (default):
   * `load` reads every customer into memory (what whole-state code such as `save` needs).
   */
  cacheCustomers?: number;
  /**
   * With `cacheCustomers`: also most heap the decoded customers of a partition may take once a commit is
   * durable, bytes, estimated per customer as `HEAP_BYTES_PER_RECORD_BYTE` × the length of its record (as
   * read, then as each commit writes it). Default: no bound but `cacheCustomers`.
   */
  cacheBytes?: number;
  /**
   * Map the data file in chunks (lmdb's `remapChunks`, MDB_REMAP_CHUNKS: 16 pages a chunk, unused chunks
   * unmapped once more than 8,192 are mapped, at most 16,384): bounds the file-backed RSS of the process to
   * about 0.5–1 GiB however large the store (docs/operations.md). Off: the whole file is mapped and every
   * page the process reads stays in its RSS until the kernel reclaims it. Default true. Its price is paid at
   * every read of a record: while commits are written, a read maps its chunk again (~115 µs against ~11
   * mapped whole, measured on the million-customer store, December 2026). `VAFA_STATE_MAP_CHUNKS=0` turns it off.
   */
  remapChunks?: boolean;
  /**
   * Where a partition's state is looked for when the store has none or a corrupt one, in order (NATS
   * snapshots, NDJSON checkpoints of an older vafa). What is found is written into the store.
   */
  fallbacks?: readonly CheckpointStore[];
  /**
   * Snapshots another machine may have written (a partition that moved): when they cover a later
   * position than the store's own state, the partition is restored from them.
   */
  remote?: RemoteSnapshots;
  /** Called once a commit is durable in the store, with the customers it wrote. */
  onCommitted?: (partition: number, changes: CustomerChanges) => void;
  /** Called when the owner hands a partition over gracefully, after its last commit (ship what is not shipped). */
  onReleased?: (partition: number) => Promise<unknown>;
  logger?: Logger;
}

/** One key and its record in a partition's database; no value: the key is removed. */
export interface StoreFrame {
  key: string;
  value: Uint8Array | undefined;
}

/** Snapshots of partitions kept elsewhere (the NATS object store), as frames of the store's records. */
export interface RemoteSnapshots {
  /** The position the partition's newest snapshot covers; undefined when there is none. */
  position(partition: number): Promise<number | undefined>;
  /** The frames of the partition's snapshots, oldest first: applied in order, they give its state. */
  frames(partition: number): AsyncIterable<StoreFrame>;
  /** The store restored the partition from these snapshots (increments may follow them). */
  restored?(partition: number, seq: number): void;
}

/** What the `meta` record holds besides the partition state's own fields. */
interface StoredMeta extends Omit<PartitionState, 'customers' | 'timers'> {
  customerCount: number;
  timerCount: number;
  timerPageSize: number;
}

/**
 * A commit keeps each written customer's lots and earning records sealed as the chunks it wrote (codec.ts
 * `EncodeOptions`): the next commit writes them back as they are, and a cached customer holds them as
 * bytes until the core needs them.
 */
const RESEAL: EncodeOptions = { reseal: true };

/**
 * Memory of a cached customer per byte of its (uncompressed) record, rounded up; `cacheBytes` counts with
 * it. The store reads customers sealed and a commit reseals them (codec version 7), so a cached customer
 * holds its lots and earning records as bytes: on the simulated year's customers (7.2 KB records, December
 * 2026), read sealed and touched once (their remembered-ids index built) 2.9 bytes a record byte, heap and
 * buffers (`vafa bench --only core`: `store.cache_bytes_per_record_byte`); decoded whole 6.5 (what version
 * 6 held: 5.5 on the million-customer store). Rounded up to 4: a customer the core opened (a redemption,
 * the weekly merge) holds more until its next commit reseals it.
 */
export const HEAP_BYTES_PER_RECORD_BYTE = 4;

/** Longest the probe of an existing environment may take, ms. */
const PROBE_TIMEOUT_MS = 30_000;
/** Conditional writes of one commit while the owner entry still reads as this store's claim (see writeAsOwner). */
const OWNER_WRITE_ATTEMPTS = 2;
/** Customers one `prefetch` call brings in at most (a batch's worth; the rest are read when reached). */
export const MAX_PREFETCH = 10_000;
/** Concurrent page reads of one `prefetch` (lmdb's prefetch runs on libuv's pool, 4 threads by default). */
const PREFETCH_PARALLEL = 4;
/** A `prefetch` resolves after this long whatever the disk does (the core's reads then wait instead). */
const PREFETCH_DEADLINE_MS = 5_000;

/** Opens the environment and lists its databases in a child process; throws `StoreOpenError` if that fails. */
function probeEnvironment(where: string): void {
  const lmdbUrl = pathToFileURL(createRequire(import.meta.url).resolve('lmdb')).href;
  const script = `const { open } = await import(${JSON.stringify(lmdbUrl)}); const env = open({ path: process.argv[1], compression: true, readOnly: true });`
    + ` let n = 0; for (const _ of env.getKeys()) n++; env.getStats(); await env.close(); process.stdout.write(String(n));`;
  const probe = spawnSync(process.execPath, ['--input-type=module', '-e', script, where], { timeout: PROBE_TIMEOUT_MS, encoding: 'utf8' });
  if (probe.status === 0) return;
  const how = probe.signal ? `signal ${probe.signal}` : `exit code ${String(probe.status)}`;
  throw new StoreOpenError(where, `the environment does not open (probe ended with ${how}${probe.stderr ? `: ${probe.stderr.trim().split('\n')[0]}` : ''})`);
}

/** Environments this process has open (`compactEnvironment` never runs under one of them). */
const openPaths = new Set<string>();
/** Longest a compaction at open may take, ms (a million customers: some gigabytes copied). */
const COMPACT_TIMEOUT_MS = 30 * 60_000;

/** What a compaction did. */
export interface Compaction {
  ms: number;
  bytesBefore: number;
  bytesAfter: number;
}

/**
 * Rewrites the environment at `where` through a compacting copy (lmdb's `mdb_env_copy2` with
 * `MDB_CP_COMPACT`: only the pages in use, renumbered; free pages and the bytes they kept are left out),
 * then puts the copy in place of `data.mdb` and removes the marker. Run in a child process before the
 * store opens the environment (nothing else may have it open). Throws when the copy fails (the original
 * stays, the marker too: retried at the next open).
 */
export function compactEnvironment(where: string): Compaction {
  const started = performance.now();
  const data = path.join(where, 'data.mdb');
  const bytesBefore = statSync(data).size;
  const copy = `${where}.compacting`;
  rmSync(copy, { recursive: true, force: true });
  mkdirSync(copy, { recursive: true });
  const lmdbUrl = pathToFileURL(createRequire(import.meta.url).resolve('lmdb')).href;
  const script = `const { open } = await import(${JSON.stringify(lmdbUrl)}); const env = open({ path: process.argv[1], compression: true });`
    + ' await env.backup(process.argv[2], true); await env.close();';
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', script, where, copy], { timeout: COMPACT_TIMEOUT_MS, encoding: 'utf8' });
  if (run.status !== 0 || !existsSync(path.join(copy, 'data.mdb'))) {
    rmSync(copy, { recursive: true, force: true });
    const how = run.signal ? `signal ${run.signal}` : `exit code ${String(run.status)}`;
    throw new StoreOpenError(where, `compaction failed (${how}${run.stderr ? `: ${run.stderr.trim().split('\n').slice(-3).join(' ')}` : ''})`);
  }
  renameSync(path.join(copy, 'data.mdb'), data);
  rmSync(copy, { recursive: true, force: true });
  rmSync(path.join(where, COMPACT_MARKER), { force: true });
  return { ms: Math.round(performance.now() - started), bytesBefore, bytesAfter: statSync(data).size };
}

const customerKey = (id: string): string => `${CUSTOMER_PREFIX}${id}`;
const timerKey = (page: number): string => `${TIMER_PREFIX}${String(page).padStart(8, '0')}`;
/** `0` sorts right after `/`: the end of a prefix range. */
const rangeOf = (prefix: string): { start: string; end: string } => ({ start: prefix, end: `${prefix.slice(0, -1)}0` });

/** What the store remembers of a partition between commits. */
interface Committed {
  seq: number;
  customerCount: number;
  /** The heap as last committed (element references): a page is written again only if one differs. */
  timers: Timer[];
}

export class LmdbStateStore implements CheckpointStore {
  private readonly committed = new Map<number, Committed>();
  /** Partitions whose records were found damaged while read lazily: the next load clears and restores them. */
  private readonly damaged = new Map<number, StoreCorruptError>();
  /** Partitions whose older snapshots (`fallbacks`) were discarded in this process (`withoutOlderCopies`). */
  private readonly discarded = new Set<number>();
  /** This process wrote the compaction marker already. */
  private compactionMarked = false;
  private readonly databases = new Map<number, Database<Buffer, string>>();
  /** Who writes each partition: the version of its entry in `owners` this store claimed on load. */
  private readonly claims = new Map<number, number>();
  private readonly owners: Database<Buffer, number>;
  private readonly timerPageSize: number;
  private readonly loadChunk: number;

  private constructor(private readonly env: RootDatabase, private readonly options: LmdbStateStoreOptions) {
    this.timerPageSize = options.timerPageSize ?? 1024;
    this.loadChunk = options.loadChunk ?? 2000;
    this.owners = env.openDB<Buffer, number>({ name: 'owners', encoding: 'binary', useVersions: true });
  }

  /** Makes this store the partition's only writer: later commits of any earlier loader are refused. */
  private async claim(partition: number): Promise<void> {
    const version = Date.now() + Math.random();
    await this.owners.put(partition, Buffer.from(`${process.pid}`), version);
    this.claims.set(partition, version);
  }

  /**
   * Opens (or creates) the environment at `options.path`; throws `StoreOpenError` naming the path. An
   * existing environment is first opened by a child process: lmdb's native code crashes the process
   * (SIGSEGV) on a damaged data file instead of throwing.
   */
  static open(options: LmdbStateStoreOptions): LmdbStateStore {
    if (existsSync(path.join(options.path, 'data.mdb'))) probeEnvironment(options.path);
    // Never under an environment this process has open (lmdb shares one per path): it would go on reading the old file.
    if (existsSync(path.join(options.path, COMPACT_MARKER)) && !openPaths.has(path.resolve(options.path))) {
      try {
        const done = compactEnvironment(options.path);
        options.logger?.info({ path: options.path, ...done }, 'state store compacted: the free pages of erased customers are gone');
      } catch (err) {
        options.logger?.error({ path: options.path, err: (err as Error).message }, 'state store not compacted; retried at the next start');
      }
    }
    try {
      mkdirSync(options.path, { recursive: true });
      // No read-ahead: customers are read one at a time at random; read-ahead maps ~30× the pages a read needs.
      const env = open({ path: options.path, compression: true, maxDbs: (options.maxPartitions ?? 1024) + 2, ...{ noReadAhead: true, remapChunks: options.remapChunks ?? true } });
      openPaths.add(path.resolve(options.path));
      return new LmdbStateStore(env, options);
    } catch (err) {
      throw new StoreOpenError(options.path, (err as Error).message);
    }
  }

  get location(): string {
    return this.options.path;
  }

  private db(partition: number): Database<Buffer, string> {
    let db = this.databases.get(partition);
    if (!db) {
      db = this.env.openDB<Buffer, string>({ name: `partition-${partition}`, encoding: 'binary' });
      this.databases.set(partition, db);
    }
    return db;
  }

  /**
   * The partition's committed state; else (none, or corrupt: logged with the path, then cleared) the
   * first fallback's, written into the store; else undefined.
   */
  async load(partition: number): Promise<PartitionState | undefined> {
    await this.claim(partition);
    try {
      const damage = this.damaged.get(partition);
      if (damage) throw damage;
      const state = await this.read(partition);
      const remote = this.options.remote;
      const remoteSeq = await remote?.position(partition);
      if (state && (remoteSeq === undefined || remoteSeq <= state.seq)) return await this.withoutOlderCopies(partition, state);
      if (remote && remoteSeq !== undefined) return await this.withoutOlderCopies(partition, await this.restoreFromRemote(remote, partition, state?.seq));
    } catch (err) {
      if (!(err instanceof StoreCorruptError)) throw err;
      this.damaged.delete(partition);
      this.options.logger?.error({ partition, path: this.location, err: err.message }, 'state store damaged for this partition: cleared; restoring from a snapshot or the stream');
      await this.db(partition).clearAsync();
    }
    return this.restoreFromFallbacks(partition);
  }

  /**
   * Migration: once the store holds the partition, the older whole snapshots it may have been imported
   * from (`fallbacks`) are stale and would keep an erased customer: each is discarded, once per partition
   * in this process. A failure is logged; the partition starts anyway.
   */
  private async withoutOlderCopies<T extends PartitionState | undefined>(partition: number, state: T): Promise<T> {
    if (!state || this.discarded.has(partition)) return state;
    this.discarded.add(partition);
    for (const fallback of this.options.fallbacks ?? []) {
      try {
        if (await fallback.discard?.(partition)) this.options.logger?.info({ partition, from: fallback.location }, 'older snapshot of the partition discarded: the state store holds it');
      } catch (err) {
        this.options.logger?.warn({ partition, from: fallback.location, err: (err as Error).message }, 'older snapshot of the partition not discarded; retried at the next start');
        this.discarded.delete(partition);
      }
    }
    return state;
  }

  private async restoreFromRemote(remote: RemoteSnapshots, partition: number, localSeq: number | undefined): Promise<PartitionState | undefined> {
    await this.restore(partition, remote.frames(partition));
    const state = await this.read(partition);
    if (state) remote.restored?.(partition, state.seq);
    this.options.logger?.info({ partition, seq: state?.seq, localSeq, path: this.location }, 'partition state restored from snapshots');
    return state;
  }

  /**
   * Replaces the partition's records with `frames` applied in order (a base snapshot, then increments);
   * the meta record is written last, so an interrupted restore leaves no state, never a mix.
   */
  async restore(partition: number, frames: AsyncIterable<StoreFrame>): Promise<void> {
    const db = this.db(partition);
    await db.clearAsync();
    this.committed.delete(partition);
    let meta: Uint8Array | undefined;
    let pending: Promise<boolean>[] = [];
    for await (const frame of frames) {
      if (frame.key === META) meta = frame.value;
      else pending.push(frame.value ? db.put(frame.key, Buffer.from(frame.value)) : db.remove(frame.key));
      if (pending.length >= this.loadChunk) {
        await Promise.all(pending);
        pending = [];
      }
    }
    await Promise.all(pending);
    if (!meta) return;
    // An increment carries the timer pages the heap has, not those it dropped: drop what the meta does not count.
    const { timerCount, timerPageSize } = this.decode<StoredMeta>(partition, 'meta', META, meta);
    const pages = Math.ceil(timerCount / timerPageSize);
    const stale: string[] = [];
    for (const key of db.getKeys(rangeOf(TIMER_PREFIX) as never)) if (Number((key as string).slice(TIMER_PREFIX.length)) >= pages) stale.push(key as string);
    await Promise.all(stale.map((key) => db.remove(key)));
    await db.put(META, Buffer.from(meta));
  }

  /**
   * The partition's committed records as frames, read in one read transaction (a consistent view even
   * while commits go on): the meta record first, then the timer pages, then the customers (`ids`, or
   * all); a customer in `ids` without a record is a removal.
   */
  async *frames(partition: number, ids?: ReadonlySet<string>): AsyncGenerator<StoreFrame> {
    const db = this.db(partition);
    const transaction = this.env.useReadTransaction();
    try {
      const read = (key: string): Buffer | undefined => db.get(key, { transaction });
      yield { key: META, value: read(META) };
      for (const { key, value } of db.getRange({ ...rangeOf(TIMER_PREFIX), transaction } as never)) yield { key: key as string, value: Buffer.from(value as Buffer) };
      let sinceYield = 0;
      const customers = ids ? [...ids].map((id) => ({ key: customerKey(id), value: read(customerKey(id)) })) : db.getRange({ ...rangeOf(CUSTOMER_PREFIX), transaction } as never);
      for (const frame of customers) {
        yield { key: frame.key as string, value: frame.value ? Buffer.from(frame.value as Buffer) : undefined };
        if (++sinceYield >= this.loadChunk) {
          sinceYield = 0;
          await yieldToLoop();
        }
      }
    } finally {
      transaction.done();
    }
  }

  private async restoreFromFallbacks(partition: number): Promise<PartitionState | undefined> {
    this.committed.delete(partition);
    for (const fallback of this.options.fallbacks ?? []) {
      const state = await fallback.load(partition);
      if (!state) continue;
      await this.save(state);
      this.options.logger?.info({ partition, seq: state.seq, path: this.location }, 'partition state restored into the state store');
      await this.withoutOlderCopies(partition, state);
      return this.options.cacheCustomers === undefined ? state : await this.read(partition);
    }
    return undefined;
  }

  /** Reads the partition as committed; undefined when it has no meta record and no other records. */
  private async read(partition: number): Promise<PartitionState | undefined> {
    const db = this.db(partition);
    const metaBytes = db.getBinary(META);
    if (!metaBytes) {
      if (db.getKeysCount({ limit: 1 }) > 0) throw new StoreCorruptError(this.location, partition, 'records without a meta record (an interrupted restore)');
      return undefined;
    }
    const meta = this.decode<StoredMeta>(partition, 'meta', META, metaBytes);
    if (this.options.cacheCustomers !== undefined) return this.readLazily(partition, meta, this.options.cacheCustomers);
    const customers = await this.readCustomers(partition, meta.seq);
    const timers = this.readTimers(partition, meta);
    const found = Object.keys(customers).length;
    if (found !== meta.customerCount) throw new StoreCorruptError(this.location, partition, `${found} customer records, the meta record counts ${meta.customerCount}`);
    const { customerCount: _customers, timerCount: _timers, timerPageSize: _pageSize, ...partitionState } = meta;
    if (partitionState.partition !== partition) throw new StoreCorruptError(this.location, partition, `meta record of partition ${partitionState.partition}`);
    const state: PartitionState = { ...partitionState, customers, timers };
    if (meta.timerPageSize === this.timerPageSize) this.committed.set(partition, { seq: meta.seq, customerCount: found, timers: timers.slice() });
    else await this.save(state); // pages of another size: written again once
    return state;
  }

  /**
   * The partition without its customers: meta and timers, and a cache of at most `limit` customers that
   * reads each from the store when the core first reaches it. The customer records are counted (the
   * database's entry count, less the meta record and timer pages) against the meta record; a record that
   * does not decode is found when read.
   */
  private async readLazily(partition: number, meta: StoredMeta, limit: number): Promise<PartitionState> {
    const entries = (this.db(partition).getStats() as { entryCount: number }).entryCount;
    const found = entries - 1 - Math.ceil(meta.timerCount / meta.timerPageSize);
    if (found !== meta.customerCount) throw new StoreCorruptError(this.location, partition, `${found} customer records, the meta record counts ${meta.customerCount}`);
    const timers = this.readTimers(partition, meta);
    const { customerCount: _customers, timerCount: _timers, timerPageSize: _pageSize, ...partitionState } = meta;
    if (partitionState.partition !== partition) throw new StoreCorruptError(this.location, partition, `meta record of partition ${partitionState.partition}`);
    const state: PartitionState = { ...partitionState, customers: {}, timers };
    new ChangeTracker(state, this.cacheOver(partition, limit));
    this.committed.set(partition, { seq: meta.seq, customerCount: found, timers: meta.timerPageSize === this.timerPageSize ? timers.slice() : [] });
    if (meta.timerPageSize !== this.timerPageSize) await this.writeTimersAgain(state, found);
    return state;
  }

  /** The bounded cache of a partition's customers over this store (`cacheCustomers`, `cacheBytes`). */
  private cacheOver(partition: number, limit: number): CustomerCache {
    const limitBytes = this.options.cacheBytes;
    return { limit, source: this.customerSource(partition), ...(limitBytes === undefined ? {} : { limitBytes }) };
  }

  /** Reads single customers of a partition as committed; a damaged one marks the partition for the next load. */
  private customerSource(partition: number): CustomerSource {
    const db = this.db(partition);
    return {
      exists: (id) => db.doesExist(customerKey(id)),
      read: (id) => {
        // lmdb's own buffer, overwritten by the next read: the decoder copies what it keeps (a test holds it to
        // that). lmdb sets the record's size as the buffer's own `length`; the view is cut to it explicitly.
        const read = db.getBinaryFast(customerKey(id));
        if (!read) return undefined;
        const bytes = new Uint8Array(read.buffer, read.byteOffset, read.length);
        try {
          const customer = this.decode<CustomerState>(partition, 'customer', customerKey(id), bytes, true);
          const seq = this.committed.get(partition)?.seq ?? Infinity;
          if (customer.id !== id || customer.lastSeq > seq) throw new StoreCorruptError(this.location, partition, `record of customer ${id} holds ${customer.id} at seq ${customer.lastSeq} (the partition is at ${seq})`);
          return { customer, heapBytes: bytes.length * HEAP_BYTES_PER_RECORD_BYTE };
        } catch (err) {
          if (err instanceof StoreCorruptError) this.damaged.set(partition, err);
          throw err;
        }
      },
    };
  }

  /** Timer pages of another size than this store's: every page written again with the meta record, once. */
  private async writeTimersAgain(state: PartitionState, customerCount: number): Promise<void> {
    const writes: [string, Buffer | undefined][] = [];
    for (const { key } of this.db(state.partition).getRange({ ...rangeOf(TIMER_PREFIX), values: false } as never)) writes.push([key as string, undefined]);
    const timers = this.timerWrites(state.timers, [], writes);
    writes.push([META, encodeRecord('meta', this.meta(state, customerCount))]);
    await this.write(state.partition, writes);
    this.committed.set(state.partition, { seq: state.seq, customerCount, timers });
  }

  /**
   * The committed customers of `partition` for whom `match` holds: every record decoded, `loadChunk` at
   * a time with the event loop free in between (docs/security.md gives the cost).
   */
  async customersWhere(partition: number, match: (customer: CustomerState) => boolean): Promise<string[]> {
    const found: string[] = [];
    let sinceYield = 0;
    for (const { key, value } of this.db(partition).getRange(rangeOf(CUSTOMER_PREFIX))) {
      const customer = this.decode<CustomerState>(partition, 'customer', key, value);
      if (match(customer)) found.push(customer.id);
      if (++sinceYield >= this.loadChunk) {
        sinceYield = 0;
        await yieldToLoop();
      }
    }
    return found;
  }

  private async readCustomers(partition: number, seq: number): Promise<Record<string, CustomerState>> {
    const customers: Record<string, CustomerState> = {};
    let sinceYield = 0;
    for (const { key, value } of this.db(partition).getRange(rangeOf(CUSTOMER_PREFIX))) {
      const customer = this.decode<CustomerState>(partition, 'customer', key, value, true);
      if (customer.lastSeq > seq) throw new StoreCorruptError(this.location, partition, `customer ${customer.id} is at seq ${customer.lastSeq}, after the partition's ${seq}`);
      customers[customer.id] = customer;
      if (++sinceYield >= this.loadChunk) {
        sinceYield = 0;
        await yieldToLoop();
      }
    }
    return customers;
  }

  private readTimers(partition: number, meta: StoredMeta): Timer[] {
    const timers: Timer[] = [];
    const pages = Math.ceil(meta.timerCount / meta.timerPageSize);
    for (let page = 0; page < pages; page++) {
      const bytes = this.db(partition).getBinary(timerKey(page));
      if (!bytes) throw new StoreCorruptError(this.location, partition, `timer page ${page} of ${pages} missing`);
      for (const timer of this.decode<Timer[]>(partition, 'timers', timerKey(page), bytes)) timers.push(timer);
    }
    if (timers.length !== meta.timerCount) throw new StoreCorruptError(this.location, partition, `${timers.length} timers, the meta record counts ${meta.timerCount}`);
    return timers;
  }

  /** `sealed`: a customer the core will run, its loyalty sections left encoded (codec.ts `DecodeOptions`). */
  private decode<T>(partition: number, kind: 'meta' | 'customer' | 'timers', key: string, bytes: Uint8Array, sealed = false): T {
    try {
      return decodeRecord<T>(kind, bytes, key, { sealed });
    } catch (err) {
      if (err instanceof CodecError) throw new StoreCorruptError(this.location, partition, err.message);
      throw err;
    }
  }

  /**
   * Commits the customers in `changes`, the timer pages that changed and the position (`state.seq`) in
   * one transaction; resolves once it is committed. The state may change as soon as this returns a
   * promise (records are encoded before). Throws `StaleCommitError` for a position older than the last.
   */
  commit(state: PartitionState, changes: CustomerChanges): Promise<void> {
    const partition = state.partition;
    const before = this.committed.get(partition) ?? { seq: 0, customerCount: 0, timers: [] };
    if (state.seq < before.seq) throw new StaleCommitError(partition, state.seq, `the store already holds seq ${before.seq}`);
    const customers = rawCustomers(state);
    const tracker = trackerOf(state);
    const writes: [string, Buffer | undefined][] = [];
    for (const id of changes.changed) {
      const customer = customers[id];
      const record = customer ? encodeRecord('customer', customer, CODEC_VERSION, RESEAL) : undefined;
      tracker?.weigh(id, (record?.length ?? 0) * HEAP_BYTES_PER_RECORD_BYTE);
      writes.push([customerKey(id), record]);
    }
    for (const id of changes.removed) writes.push([customerKey(id), undefined]);
    const timers = this.timerWrites(state.timers, before.timers, writes);
    const customerCount = before.customerCount + changes.added;
    writes.push([META, encodeRecord('meta', this.meta(state, customerCount))]);
    this.committed.set(partition, { seq: state.seq, customerCount, timers });
    const written = this.writeAsOwner(partition, state.seq, writes).then(() => tracker?.evict());
    const onCommitted = this.options.onCommitted;
    return onCommitted ? written.then(() => onCommitted(partition, changes)) : written;
  }

  /** Before a commit removes a customer record (an erasure): the next open compacts the environment (`COMPACT_MARKER`). */
  private markErasures(writes: readonly [string, Buffer | undefined][]): void {
    if (this.compactionMarked || !writes.some(([key, value]) => value === undefined && key.startsWith(CUSTOMER_PREFIX))) return;
    writeFileSync(path.join(this.options.path, COMPACT_MARKER), `${new Date().toISOString()}\n`);
    this.compactionMarked = true;
  }

  /** `write`, as one block conditional on this store still owning the partition. */
  private async writeAsOwner(partition: number, seq: number, writes: readonly [string, Buffer | undefined][]): Promise<void> {
    this.markErasures(writes);
    const claim = this.claims.get(partition);
    if (claim === undefined) return this.write(partition, writes);
    const db = this.db(partition);
    for (let attempt = 1; ; attempt++) {
      const applied = await this.owners.ifVersion(partition, claim, () => {
        for (const [key, value] of writes) void (value ? db.put(key, value) : db.remove(key));
      });
      if (applied) return;
      const owner = this.owners.getEntry(partition);
      const ours = owner?.version === claim;
      // Refused while the entry still reads as this store's claim: not a fence. Again, conditional as before,
      // so a real fence still refuses; logged, because the store should not refuse its owner at all.
      if (ours && attempt < OWNER_WRITE_ATTEMPTS) {
        this.options.logger?.warn({ partition, seq, attempt }, 'state store refused a commit though this store still owns the partition; writing again');
        continue;
      }
      this.committed.delete(partition);
      throw new StaleCommitError(partition, seq, ours
        ? `refused ${attempt} times though the owner entry still reads as this store's claim`
        : `another writer loaded the partition since (this one is fenced; the owner entry names ${owner ? `pid ${owner.value.toString()}` : 'no one'})`);
    }
  }

  /** Adds the timer pages that differ from the last commit to `writes`; returns the heap as committed. */
  private timerWrites(heap: readonly Timer[], last: Timer[], writes: [string, Buffer | undefined][]): Timer[] {
    const size = this.timerPageSize;
    const pages = Math.ceil(heap.length / size);
    for (let page = 0; page < pages; page++) {
      const start = page * size;
      const end = Math.min(heap.length, start + size);
      let same = end - start === Math.min(size, Math.max(0, last.length - start));
      for (let i = start; same && i < end; i++) same = heap[i] === last[i];
      if (same) continue;
      const content = heap.slice(start, end);
      writes.push([timerKey(page), encodeRecord('timers', content)]);
      for (const [i, timer] of content.entries()) last[start + i] = timer;
    }
    for (let page = pages; page < Math.ceil(last.length / size); page++) writes.push([timerKey(page), undefined]);
    last.length = heap.length;
    return last;
  }

  private meta(state: PartitionState, customerCount: number): StoredMeta {
    const { customers: _customers, timers, ...rest } = state;
    return { ...rest, customerCount, timerCount: timers.length, timerPageSize: this.timerPageSize };
  }

  /** Issues every write in this event turn (one transaction) and resolves when it is committed. */
  private async write(partition: number, writes: readonly [string, Buffer | undefined][]): Promise<void> {
    this.markErasures(writes);
    const db = this.db(partition);
    const done: Promise<boolean>[] = [];
    for (const [key, value] of writes) done.push(value ? db.put(key, value) : db.remove(key));
    await Promise.all(done);
  }

  /**
   * Writes the whole partition state, replacing what the store held for it: the meta record is removed
   * first and written last, so an interrupted save leaves no state (then restored from a fallback or the
   * stream), never a mix. Customers go in chunks, the event loop free in between.
   */
  async save(state: PartitionState): Promise<void> {
    const partition = state.partition;
    if (isPartial(state)) throw new PartialStateError(`partition ${partition}: save writes a whole state, this one was loaded lazily (commit its changes instead)`);
    await this.db(partition).clearAsync();
    this.committed.delete(partition);
    const customers = rawCustomers(state);
    const ids = Object.keys(customers);
    for (let start = 0; start < ids.length; start += this.loadChunk) {
      await this.write(partition, ids.slice(start, start + this.loadChunk).map((id) => [customerKey(id), encodeRecord('customer', customers[id])]));
    }
    const writes: [string, Buffer | undefined][] = [];
    const timers = this.timerWrites(state.timers, [], writes);
    writes.push([META, encodeRecord('meta', this.meta(state, ids.length))]);
    await this.write(partition, writes);
    this.committed.set(partition, { seq: state.seq, customerCount: ids.length, timers });
  }

  /**
   * The tracker of `state`'s changes: the one its lazy load made, else a new one, a bounded cache over
   * this store when `cacheCustomers` is set (a partition that starts empty is bounded too).
   */
  track(state: PartitionState): ChangeTracker {
    const existing = trackerOf(state);
    if (existing) return existing;
    const limit = this.options.cacheCustomers;
    return new ChangeTracker(state, limit === undefined ? undefined : this.cacheOver(state.partition, limit));
  }

  /**
   * Brings the records of those of `ids` the partition does not hold in memory into the page cache, off the
   * event loop, in up to PREFETCH_PARALLEL concurrent reads: the core reads a cold customer synchronously,
   * and without this each such read waits on the disk in turn (measured on the million-customer store,
   * cold: ~650 µs a read one by one, ~240 µs a read four at a time, and nothing on the event loop's path
   * when the prefetch of batch N+1 overlaps batch N). Resolves with the number of customers asked for;
   * never rejects (a failed or slow prefetch only means the later read waits; a damaged record is reported
   * by that read) and resolves after PREFETCH_DEADLINE_MS at the latest. At most MAX_PREFETCH ids.
   */
  async prefetch(state: PartitionState, ids: Iterable<string>): Promise<number> {
    if (!isPartial(state)) return 0;
    const cached = rawCustomers(state);
    const keys: string[] = [];
    const asked = new Set<string>();
    for (const id of ids) {
      if (keys.length >= MAX_PREFETCH) break;
      if (asked.has(id) || Object.hasOwn(cached, id)) continue;
      asked.add(id);
      keys.push(customerKey(id));
    }
    if (keys.length === 0) return 0;
    const db = this.db(state.partition);
    const size = Math.ceil(keys.length / PREFETCH_PARALLEL);
    const reads: Promise<void>[] = [];
    for (let start = 0; start < keys.length; start += size) reads.push(db.prefetch(keys.slice(start, start + size)).catch(() => undefined));
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, PREFETCH_DEADLINE_MS);
      timer.unref();
    });
    await Promise.race([Promise.all(reads), deadline]);
    clearTimeout(timer);
    return keys.length;
  }

  /** The owner hands the partition over: its last commit is durable here; snapshots take it along. */
  async release(partition: number): Promise<void> {
    await this.env.committed;
    await this.options.onReleased?.(partition);
  }

  /** Waits for pending writes, then closes the environment. */
  async close(): Promise<void> {
    await this.env.committed;
    await this.env.close();
    openPaths.delete(path.resolve(this.options.path));
  }
}
