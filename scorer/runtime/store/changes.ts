/**
 * Which customers changed since the last commit, and (lazily loaded partitions) which are in memory at
 * all. The core reaches a customer only through `state.customers` (created, read for an event, for
 * phase 2, for a timer that fires), and not every path sets `lastSeq` (timers do not), so the worker
 * wraps that record in a proxy that notes every customer read, created or removed. A customer read but
 * left unchanged is written again: harmless, and bounded by the customers a batch reaches.
 *
 * With a `CustomerCache` (the LMDB store's lazy partitions), the record behind the proxy is a bounded
 * cache: a customer it does not hold is read from the store (lmdb's `get` is synchronous and memory
 * mapped) the first time the core looks for it (`Object.hasOwn`, `in`, a plain read), so the core keeps
 * its synchronous `Record` view. Customers reached since the last commit (dirty) stay until it is
 * durable; then `evict` drops the least recently reached clean ones past the limits (a number of customers
 * and, if set, their estimated heap in bytes). Enumerating the
 * proxy (`Object.keys`) yields only what is cached: whole-state code (`save`, NDJSON snapshots) needs a
 * state loaded whole.
 */
import type { CustomerState, PartitionState } from '../../core/mod.js';

export interface CustomerChanges {
  /** Customers created or reached since the last `take` (written with the commit). */
  readonly changed: ReadonlySet<string>;
  /** Customers removed since the last `take` and not created again (deleted with the commit). */
  readonly removed: ReadonlySet<string>;
  /** Customers that did not exist at the last `take` (for the store's customer count). */
  readonly added: number;
}

/** A committed customer as read from the store. */
export interface StoredCustomer {
  customer: CustomerState;
  /** Heap the decoded customer is estimated to take, bytes (the store's estimate from its record's length). */
  heapBytes: number;
}

/** Where a cache misses to: the committed customers of the partition. */
export interface CustomerSource {
  /** The committed customer, decoded, with its estimated heap; undefined when there is none. */
  read(id: string): StoredCustomer | undefined;
  /** Whether a committed record exists (no decoding). */
  exists(id: string): boolean;
}

/** A bounded cache over a store (see the file's note). */
export interface CustomerCache {
  source: CustomerSource;
  /** Most customers kept in memory once the last commit is durable (dirty ones are never dropped). At least 1. */
  limit: number;
  /**
   * Most estimated heap of the customers kept in memory once the last commit is durable, bytes (dirty
   * ones are never dropped; a customer's estimate is set when it is read and at every commit that writes
   * it, `weigh`). Default: no bound but `limit`.
   */
  limitBytes?: number;
}

/** Cache figures since the tracker was made. */
export interface CacheStats {
  /** Customers in memory now. */
  cached: number;
  /** Their estimated heap, bytes (0 without a cache: nothing is weighed). */
  cachedBytes: number;
  /** Lookups of a customer by the core (a `hasOwn`, an `in`, a read). */
  lookups: number;
  /** Lookups that went to the store (a miss; the customer may not exist yet). */
  misses: number;
  /** Customers dropped from memory. */
  evicted: number;
}

/** A lazily loaded state was asked for something only a whole state can give. */
export class PartialStateError extends Error {
  override readonly name = 'PartialStateError';
}

const rawByProxy = new WeakMap<object, Record<string, CustomerState>>();
const trackerByProxy = new WeakMap<object, ChangeTracker>();

/** The customers record itself, without the tracking proxy (reading it marks nothing). */
export function rawCustomers(state: PartitionState): Record<string, CustomerState> {
  return rawByProxy.get(state.customers) ?? state.customers;
}

/** The tracker that wraps `state.customers`, if any. */
export function trackerOf(state: PartitionState): ChangeTracker | undefined {
  return trackerByProxy.get(state.customers);
}

/** Whether `state.customers` holds only a cache of the partition's customers (loaded lazily). */
export function isPartial(state: PartitionState): boolean {
  return trackerOf(state)?.bounded ?? false;
}

export class ChangeTracker {
  private changed = new Set<string>();
  private removed = new Set<string>();
  private added = 0;
  /** Removed since the last durable commit: the store still has their records, the partition does not. */
  private removedUndurable = new Set<string>();
  /** Cached customers, least recently reached first (bounded caches only). */
  private readonly recency = new Set<string>();
  /** Estimated heap of each cached customer (bounded caches only), and their sum. */
  private readonly weights = new Map<string, number>();
  private weightTotal = 0;
  private readonly figures = { lookups: 0, misses: 0, evicted: 0 };
  private readonly raw: Record<string, CustomerState>;

  /** Returns the tracker already wrapping `state.customers`, else wraps it in a new one (unbounded). */
  static of(state: PartitionState): ChangeTracker {
    return trackerOf(state) ?? new ChangeTracker(state);
  }

  /** Replaces `state.customers` with a tracking view of the same record (a cache over `cache.source` if given). */
  constructor(state: PartitionState, private readonly cache?: CustomerCache) {
    if (cache && !(Number.isInteger(cache.limit) && cache.limit >= 1)) throw new RangeError(`customer cache limit must be an integer ≥ 1, got ${cache.limit}`);
    if (cache?.limitBytes !== undefined && !(cache.limitBytes > 0)) throw new RangeError(`customer cache limitBytes must be > 0, got ${cache.limitBytes}`);
    const raw = rawCustomers(state);
    this.raw = raw;
    if (cache) for (const id of Object.keys(raw)) this.recency.add(id);
    const proxy = new Proxy(raw, {
      get: (target, key, receiver) => {
        if (typeof key === 'string' && this.present(target, key)) this.changed.add(key);
        return Reflect.get(target, key, receiver) as unknown;
      },
      has: (target, key) => (typeof key === 'string' ? this.present(target, key) : Reflect.has(target, key)),
      getOwnPropertyDescriptor: (target, key) => {
        if (typeof key === 'string') this.present(target, key);
        return Reflect.getOwnPropertyDescriptor(target, key);
      },
      set: (target, key, value) => {
        if (typeof key === 'string') this.noteWrite(target, key);
        // Set on the record itself: with the proxy as receiver, the defineProperty trap would note it twice.
        return Reflect.set(target, key, value);
      },
      defineProperty: (target, key, descriptor) => {
        if (typeof key === 'string') this.noteWrite(target, key);
        return Reflect.defineProperty(target, key, descriptor);
      },
      deleteProperty: (target, key) => {
        if (typeof key === 'string' && this.present(target, key)) {
          this.changed.delete(key);
          this.removed.add(key);
          this.removedUndurable.add(key);
          this.recency.delete(key);
          this.weigh(key, 0);
          this.added--;
        }
        return Reflect.deleteProperty(target, key);
      },
    });
    rawByProxy.set(proxy, raw);
    trackerByProxy.set(proxy, this);
    state.customers = proxy;
  }

  /** Whether this tracker is a bounded cache over a store. */
  get bounded(): boolean {
    return this.cache !== undefined;
  }

  /** The most customers a bounded cache keeps (undefined: unbounded). */
  get limit(): number | undefined {
    return this.cache?.limit;
  }

  /** Whether the partition has customer `id`; a cache reads it from its source into memory first. */
  private present(target: Record<string, CustomerState>, id: string): boolean {
    if (Object.hasOwn(target, id)) {
      this.figures.lookups++;
      return true;
    }
    if (!this.cache || Object.hasOwn(Object.prototype, id)) return false;
    this.figures.lookups++;
    this.figures.misses++;
    if (this.removedUndurable.has(id)) return false;
    const stored = this.cache.source.read(id);
    if (!stored) return false;
    target[id] = stored.customer;
    this.recency.add(id);
    this.weigh(id, stored.heapBytes);
    return true;
  }

  private noteWrite(target: Record<string, CustomerState>, key: string): void {
    if (!Object.hasOwn(target, key)) {
      const stored = this.cache !== undefined && !this.removedUndurable.has(key) && this.cache.source.exists(key);
      if (!stored) this.added++;
      this.removed.delete(key);
      this.removedUndurable.delete(key);
      if (this.cache) this.recency.add(key);
    }
    this.changed.add(key);
  }

  /** Sets the estimated heap of cached customer `id`, bytes (the store calls it when a commit encodes it; 0: forget it). */
  weigh(id: string, heapBytes: number): void {
    if (!this.cache) return;
    this.weightTotal += heapBytes - (this.weights.get(id) ?? 0);
    if (heapBytes > 0) this.weights.set(id, heapBytes);
    else this.weights.delete(id);
  }

  /** Number of customers noted since the last `take`. */
  get pending(): number {
    return this.changed.size + this.removed.size;
  }

  /** The changes since the last call, and a fresh start. */
  take(): CustomerChanges {
    const taken = { changed: this.changed, removed: this.removed, added: this.added };
    if (this.cache) {
      for (const id of this.changed) {
        this.recency.delete(id);
        this.recency.add(id);
      }
    }
    this.changed = new Set();
    this.removed = new Set();
    this.added = 0;
    return taken;
  }

  /**
   * Call once the commit of the last `take` is durable: drops the least recently reached customers past
   * the limits (count and bytes), except those reached since that `take` (not committed yet).
   */
  evict(): void {
    this.removedUndurable = new Set();
    if (!this.cache) return;
    const limitBytes = this.cache.limitBytes ?? Infinity;
    let skipped = 0;
    for (const id of this.recency) {
      if (this.recency.size - skipped <= this.cache.limit && this.weightTotal <= limitBytes) break;
      if (this.changed.has(id)) {
        skipped++;
        continue;
      }
      this.recency.delete(id);
      this.weigh(id, 0);
      Reflect.deleteProperty(this.raw, id);
      this.figures.evicted++;
    }
  }

  /** Cache figures (a tracker without a cache counts every customer as cached and nothing else). */
  stats(): CacheStats {
    return { cached: this.cache ? this.recency.size : Object.keys(this.raw).length, cachedBytes: this.weightTotal, ...this.figures };
  }
}
