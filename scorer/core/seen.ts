/**
 * Remembered transaction ids of one customer (de-duplication, and the original's day for a reversal):
 * plain JSON buckets by UTC event day, ascending, each id once. Whole buckets are dropped once their day
 * is entirely older than the horizon, so an id is remembered for at least the horizon and at most a day
 * (plus the time to the customer's next transaction) longer. Lookups go through an index derived from
 * the buckets (never stored: rebuilt after a restore), so every operation is O(1) amortised per event.
 */
import { DAY_MS } from './types.js';

export interface SeenIds {
  /** Layout version. */
  v: 2;
  /** UTC day numbers (epoch ms / 86.4e6) with remembered ids, ascending. */
  days: number[];
  /** The ids of each day of `days`, in arrival order. */
  ids: string[][];
}

/** Buckets kept at most (a bound on top of the horizon: the oldest are dropped beyond). */
export const MAX_SEEN_DAYS = 1_000;

export function newSeenIds(): SeenIds {
  return { v: 2, days: [], ids: [] };
}

/** Derived: id → day, per bucket list object (a restored state gets a fresh one). */
const indexes = new WeakMap<SeenIds, Map<string, number>>();

function indexOf(s: SeenIds): Map<string, number> {
  let index = indexes.get(s);
  if (!index) {
    index = new Map();
    for (let i = 0; i < s.days.length; i++) for (const id of s.ids[i]!) index.set(id, s.days[i]!);
    indexes.set(s, index);
  }
  return index;
}

/**
 * The customer's remembered ids in this layout; a state of the older layout (`id → event ms`, with the
 * day of its last pruning under a key with a space) is converted once.
 */
export function seenIds(holder: { seen: SeenIds }): SeenIds {
  const s = holder.seen as SeenIds | Record<string, number>;
  if ((s as SeenIds).v === 2 && Array.isArray((s as SeenIds).days)) return s as SeenIds;
  const next = newSeenIds();
  for (const [id, at] of Object.entries(s as Record<string, number>)) if (!id.includes(' ') && typeof at === 'number') remember(next, id, at);
  holder.seen = next;
  return next;
}

/** UTC day the id was seen on, or undefined when it is not remembered. */
export function seenDay(s: SeenIds, id: string): number | undefined {
  return indexOf(s).get(id);
}

/** Remembers `id` as seen at event time `at` (no-op when already remembered). */
export function remember(s: SeenIds, id: string, at: number): void {
  const index = indexOf(s);
  if (index.has(id)) return;
  const day = Math.floor(at / DAY_MS);
  let i = s.days.length - 1;
  while (i >= 0 && s.days[i]! > day) i--;
  if (i >= 0 && s.days[i] === day) s.ids[i]!.push(id);
  else {
    s.days.splice(i + 1, 0, day);
    s.ids.splice(i + 1, 0, [id]);
  }
  index.set(id, day);
}

/** Drops every bucket whose day ends at or before `horizon` (event ms), and the oldest beyond MAX_SEEN_DAYS. */
export function forgetBefore(s: SeenIds, horizon: number): void {
  let n = 0;
  while (n < s.days.length && ((s.days[n]! + 1) * DAY_MS <= horizon || s.days.length - n > MAX_SEEN_DAYS)) n++;
  if (n === 0) return;
  const index = indexOf(s);
  for (let i = 0; i < n; i++) for (const id of s.ids[i]!) index.delete(id);
  s.days.splice(0, n);
  s.ids.splice(0, n);
}
