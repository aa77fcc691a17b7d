/**
 * A scorer process's memory budget: what each bounded part of it takes, and the V8 old-space limit
 * (`--max-old-space-size`) that follows, so that the heap is bounded by configuration instead of by
 * V8's default (a quarter of the machine, up to 4 GiB). docs/operations.md ("Memory of a scorer") gives
 * the measurements behind the constants and the rest of the process's memory.
 */

/**
 * Heap of one pending timer, bytes: its object, its `due` boxed, its customer id, and two array slots (the
 * partition's heap and the store's copy of it as committed). 111 measured with 2.07 M timers (December 2026).
 */
export const TIMER_HEAP_BYTES = 120;
/** Heap of a scorer besides its cached customers and its timers (code, the engine, a batch in flight), MiB. */
export const BASE_HEAP_MIB = 160;
/**
 * Old space allowed over the live heap: V8 collects more often as the heap nears its limit, and a limit
 * close to the live heap makes it collect all the time (or fail, out of memory). At 1.5 the million bench's
 * scorer ran 341–346 events/s, at 2 366–458 (two alternating pairs, December 2026).
 */
export const HEAP_HEADROOM = 2;

/** What a scorer process holds in its heap, by configuration. */
export interface HeapBudget {
  /** Estimated heap of the cached customers, bytes, all partitions together (`VAFA_STATE_CACHE_MB`). */
  cacheBytes: number;
  /** Pending timers of the partitions the process owns (about 2 a customer after a simulated year). */
  timers: number;
}

/** The live heap of a scorer with `budget`, MiB. */
export function liveHeapMiB(budget: HeapBudget): number {
  return budget.cacheBytes / 2 ** 20 + (budget.timers * TIMER_HEAP_BYTES) / 2 ** 20 + BASE_HEAP_MIB;
}

/** The V8 old-space limit for a scorer with `budget` (`--max-old-space-size`), MiB, a multiple of 64. */
export function oldSpaceLimitMiB(budget: HeapBudget): number {
  return Math.ceil((liveHeapMiB(budget) * HEAP_HEADROOM) / 64) * 64;
}

/**
 * A process's customer cache (`VAFA_STATE_CACHE_CUSTOMERS`, `VAFA_STATE_CACHE_MB`) as the per-partition
 * bounds of `LmdbStateStoreOptions`: split evenly over `partitions`. No customers: no bounds (every
 * partition loaded whole); no MiB: bounded by count only.
 */
export function partitionCacheBounds(customers: number, mib: number, partitions: number): { cacheCustomers?: number; cacheBytes?: number } {
  if (!(customers > 0)) return {};
  const cacheCustomers = Math.ceil(customers / partitions);
  return mib > 0 ? { cacheCustomers, cacheBytes: Math.ceil((mib * 2 ** 20) / partitions) } : { cacheCustomers };
}
