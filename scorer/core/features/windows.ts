/**
 * The window sums of a customer's feature state (features/engine.ts reads them for every vector): the
 * 7/30/90/365-day sums of the buckets and the active days of the last 90, as one walk over the tiers
 * ({@link windowSums}) gives them, and a derived cache that keeps them without the walk ({@link windowsOf}).
 */
import { num } from '../invariant.js';
import { B_APPROVED, B_COMPLAINTS, B_DECLINES, B_INFLOW, B_KEY, B_OUT_COUNT, B_SPEND, B_VISITS, BUCKET_WIDTH, type FeatureState } from './state.js';

/** The sums featureValues reads. */
export interface WindowSums {
  a7: number; s7: number; a30: number; s30: number; d30: number;
  a90: number; s90: number; in90: number; o90: number; v90: number; d90: number; c90: number;
  a365: number; s365: number; c365: number; active30: number;
}

/** Active days of the last 90, oldest first (scratch space: ≤ 90 entries, reused by every call). */
const activeScratch: number[] = [];

/** The sums of one pass over the tiers (see windowSums): scratch, overwritten by every call (no allocation per event). */
const windowScratch: WindowSums = {
  a7: 0, s7: 0, a30: 0, s30: 0, d30: 0, a90: 0, s90: 0, in90: 0, o90: 0, v90: 0, d90: 0, c90: 0, a365: 0, s365: 0, c365: 0, active30: 0,
};

/** Every bucket's approved count, spend and complaints, summed over both tiers (what the cache keeps beside the sums). */
interface Totals {
  a: number;
  s: number;
  c: number;
}

/**
 * One pass over the day tier, newest first: the 7/30/90/365-day sums and the active days of the last 90
 * (into `active`, oldest first); then the week tier's share of the 365-day sums. The same pass adds every
 * bucket of both tiers into `tot`. Each field of a bucket is read once. Returns {@link windowScratch}.
 */
function windowSums(f: FeatureState, today: number, active: number[], tot: Totals): WindowSums {
  let a7 = 0, s7 = 0, a30 = 0, s30 = 0, d30 = 0;
  let a90 = 0, s90 = 0, in90 = 0, o90 = 0, v90 = 0, d90 = 0, c90 = 0;
  let a365 = 0, s365 = 0, c365 = 0;
  let totA = 0, totS = 0, totC = 0;
  active.length = 0;
  let active30 = 0;
  const b = f.days;
  for (let o = b.length - BUCKET_WIDTH; o >= 0; o -= BUCKET_WIDTH) {
    const d = num(b, o + B_KEY);
    const approved = num(b, o + B_APPROVED);
    const spend = num(b, o + B_SPEND);
    const complaints = num(b, o + B_COMPLAINTS);
    totA += approved; totS += spend; totC += complaints;
    if (d > today) continue;
    const age = today - d;
    if (age >= 365) continue;
    a365 += approved; s365 += spend; c365 += complaints;
    if (age >= 90) continue;
    const visits = num(b, o + B_VISITS);
    const declines = num(b, o + B_DECLINES);
    a90 += approved; s90 += spend; in90 += num(b, o + B_INFLOW); o90 += num(b, o + B_OUT_COUNT);
    v90 += visits; d90 += declines; c90 += complaints;
    if (visits > 0) {
      active.push(d);
      if (age < 30) active30++;
    }
    if (age >= 30) continue;
    a30 += approved; s30 += spend; d30 += declines;
    if (age < 7) {
      a7 += approved; s7 += spend;
    }
  }
  const w = f.weeks;
  for (let o = w.length - BUCKET_WIDTH; o >= 0; o -= BUCKET_WIDTH) {
    const first = num(w, o + B_KEY) * 7;
    const approved = num(w, o + B_APPROVED);
    const spend = num(w, o + B_SPEND);
    const complaints = num(w, o + B_COMPLAINTS);
    totA += approved; totS += spend; totC += complaints;
    if (first > today) continue;
    if (today - first >= 365) continue;
    a365 += approved; s365 += spend; c365 += complaints;
  }
  tot.a = totA; tot.s = totS; tot.c = totC;
  active.reverse();
  const out = windowScratch;
  out.a7 = a7; out.s7 = s7; out.a30 = a30; out.s30 = s30; out.d30 = d30;
  out.a90 = a90; out.s90 = s90; out.in90 = in90; out.o90 = o90; out.v90 = v90; out.d90 = d90; out.c90 = c90;
  out.a365 = a365; out.s365 = s365; out.c365 = c365; out.active30 = active30;
  return out;
}


/**
 * Derived, never state: a feature state's window sums as of day `today`, kept without the walk. The 7, 30
 * and 90-day sums and the active days are those of the day buckets in (today − k, today]: {@link noteChange}
 * adds every change {@link bump} makes, {@link noteDayRemoved} takes out what roll moves or drops, and a
 * later day slides the windows over the few buckets that leave or enter them. The year's sums are the
 * totals of every bucket of both tiers (kept the same way) less the buckets outside the year, found at the
 * ends of the tiers. Every bucket field is a whole number (counts, integer amounts), so sums kept by adding
 * and subtracting equal the walk's as long as they stay safe integers; anything else (a sum that would
 * not, a list the cache does not know, an earlier day) falls back to the walk.
 */
interface WindowCache {
  valid: boolean;
  days: number[];
  weeks: number[];
  today: number;
  sums: WindowSums;
  /** Every bucket's approved count, spend and complaints, summed over both tiers. */
  tot: Totals;
  /** Active days of the last 90, ascending (as windowSums leaves them). */
  active: number[];
}

const caches = new WeakMap<FeatureState, WindowCache>();

/** The cache, when it follows `f`'s tiers. */
function liveCache(f: FeatureState): WindowCache | undefined {
  const cache = caches.get(f);
  return cache !== undefined && cache.valid && cache.days === f.days && cache.weeks === f.weeks ? cache : undefined;
}

/** The window sums and active days of `f` as of day `today` (read them before the next change to `f`). */
export function windowsOf(f: FeatureState, today: number): { sums: WindowSums; active: readonly number[] } {
  const cache = liveCache(f);
  if (cache === undefined || today < cache.today || (today > cache.today && !slide(cache, today)) || !yearSums(cache)) return walked(f, today);
  return cache;
}

/** The walk, remembered for the next read when every sum is a safe integer. */
function walked(f: FeatureState, today: number): { sums: WindowSums; active: readonly number[] } {
  const active = activeScratch;
  const tot: Totals = { a: 0, s: 0, c: 0 };
  const sums = windowSums(f, today, active, tot);
  let cache = caches.get(f);
  if (!wholeSums(sums) || !safeTotals(tot)) {
    if (cache !== undefined) cache.valid = false;
    return { sums, active };
  }
  if (cache === undefined) {
    cache = { valid: true, days: f.days, weeks: f.weeks, today, sums: { ...sums }, tot, active: [...active] };
    caches.set(f, cache);
  } else {
    cache.valid = true;
    cache.days = f.days;
    cache.weeks = f.weeks;
    cache.today = today;
    cache.tot = tot;
    Object.assign(cache.sums, sums);
    cache.active.length = 0;
    for (const d of active) cache.active.push(d);
  }
  return cache;
}

function safeTotals(t: Totals): boolean {
  return Number.isSafeInteger(t.a) && Number.isSafeInteger(t.s) && Number.isSafeInteger(t.c);
}

/** True when every sum is a safe integer. */
function wholeSums(s: WindowSums): boolean {
  const safe = Number.isSafeInteger;
  return safe(s.a7) && safe(s.s7) && safe(s.a30) && safe(s.s30) && safe(s.d30) && safe(s.a90) && safe(s.s90) && safe(s.in90) && safe(s.o90)
    && safe(s.v90) && safe(s.d90) && safe(s.c90) && safe(s.a365) && safe(s.s365) && safe(s.c365) && safe(s.active30);
}

/** The year's sums as of the cached day: the totals less the buckets outside (today − 365, today] at the ends of each tier. */
function yearSums(cache: WindowCache): boolean {
  const T = cache.today;
  let { a, s, c } = cache.tot;
  const d = cache.days;
  const w = cache.weeks;
  let lo = 0;
  for (; lo < d.length && T - num(d, lo + B_KEY) >= 365; lo += BUCKET_WIDTH) {
    a -= num(d, lo + B_APPROVED); s -= num(d, lo + B_SPEND); c -= num(d, lo + B_COMPLAINTS);
  }
  for (let o = d.length - BUCKET_WIDTH; o >= lo && num(d, o + B_KEY) > T; o -= BUCKET_WIDTH) {
    a -= num(d, o + B_APPROVED); s -= num(d, o + B_SPEND); c -= num(d, o + B_COMPLAINTS);
  }
  lo = 0;
  for (; lo < w.length && T - num(w, lo + B_KEY) * 7 >= 365; lo += BUCKET_WIDTH) {
    a -= num(w, lo + B_APPROVED); s -= num(w, lo + B_SPEND); c -= num(w, lo + B_COMPLAINTS);
  }
  for (let o = w.length - BUCKET_WIDTH; o >= lo && num(w, o + B_KEY) * 7 > T; o -= BUCKET_WIDTH) {
    a -= num(w, o + B_APPROVED); s -= num(w, o + B_SPEND); c -= num(w, o + B_COMPLAINTS);
  }
  const sums = cache.sums;
  sums.a365 = a;
  sums.s365 = s;
  sums.c365 = c;
  return Number.isSafeInteger(a) && Number.isSafeInteger(s) && Number.isSafeInteger(c);
}

/** Offset of the first bucket of the (ascending) day list with a key above `key`. */
function firstAbove(list: readonly number[], key: number): number {
  let lo = 0;
  let hi = list.length / BUCKET_WIDTH;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (num(list, mid * BUCKET_WIDTH + B_KEY) > key) hi = mid;
    else lo = mid + 1;
  }
  return lo * BUCKET_WIDTH;
}

/** Adds `sign` × the fields of the day buckets with keys in (lo, hi] to the `k`-day window's sums (k: 7, 30 or 90). */
function shift(cache: WindowCache, k: number, lo: number, hi: number, sign: number): void {
  const d = cache.days;
  const s = cache.sums;
  for (let o = firstAbove(d, lo); o < d.length && num(d, o + B_KEY) <= hi; o += BUCKET_WIDTH) {
    const ap = sign * num(d, o + B_APPROVED);
    const sp = sign * num(d, o + B_SPEND);
    if (k === 7) {
      s.a7 += ap; s.s7 += sp;
    } else if (k === 30) {
      s.a30 += ap; s.s30 += sp; s.d30 += sign * num(d, o + B_DECLINES);
    } else {
      s.a90 += ap; s.s90 += sp; s.in90 += sign * num(d, o + B_INFLOW); s.o90 += sign * num(d, o + B_OUT_COUNT);
      s.v90 += sign * num(d, o + B_VISITS); s.d90 += sign * num(d, o + B_DECLINES); s.c90 += sign * num(d, o + B_COMPLAINTS);
      if (sign > 0 && num(d, o + B_VISITS) > 0) cache.active.push(num(d, o + B_KEY));
    }
  }
}

/** Moves the cached day forward to `to`: the buckets that leave each window and those that enter it. */
function slide(cache: WindowCache, to: number): boolean {
  const T = cache.today;
  for (const k of WINDOWS) {
    shift(cache, k, T - k, Math.min(T, to - k), -1);
    shift(cache, k, Math.max(T, to - k), to, 1);
  }
  const active = cache.active;
  let drop = 0;
  while (drop < active.length && num(active, drop) <= to - 90) drop++;
  if (drop > 0) active.splice(0, drop);
  let recent = 0;
  for (let i = active.length - 1; i >= 0 && num(active, i) > to - 30; i--) recent++;
  cache.sums.active30 = recent;
  cache.today = to;
  return wholeSums(cache.sums);
}

const WINDOWS = [7, 30, 90] as const;

/** A bucket field changed from `before` to `after` (bump): the totals, and the windows of the cached day the bucket is in. */
export function noteChange(f: FeatureState, list: readonly number[], o: number, field: number, before: number, after: number): void {
  const cache = liveCache(f);
  if (cache === undefined) return;
  const change = after - before;
  if (change === 0) return;
  if (!(Number.isSafeInteger(before) && Number.isSafeInteger(after)) || (list !== cache.days && list !== cache.weeks)) {
    cache.valid = false;
    return;
  }
  if (field === B_APPROVED) cache.tot.a += change;
  else if (field === B_SPEND) cache.tot.s += change;
  else if (field === B_COMPLAINTS) cache.tot.c += change;
  const T = cache.today;
  const key = num(list, o + B_KEY);
  if (list === cache.days && key <= T && T - key < 90) addToWindows(cache, field, T - key, change, key, before, after);
  if (!safeTotals(cache.tot) || !wholeSums(cache.sums)) cache.valid = false;
}

/**
 * roll takes the day bucket at `o` out of the day tier: into the week tier (`dropped` false: the totals keep
 * it) or out of the state; either way it leaves the cached day's windows.
 */
export function noteDayRemoved(f: FeatureState, o: number, dropped: boolean): void {
  const cache = liveCache(f);
  if (cache === undefined) return;
  const d = cache.days;
  if (dropped) {
    cache.tot.a -= num(d, o + B_APPROVED);
    cache.tot.s -= num(d, o + B_SPEND);
    cache.tot.c -= num(d, o + B_COMPLAINTS);
  }
  const T = cache.today;
  const key = num(d, o + B_KEY);
  if (key <= T && T - key < 90) {
    for (const field of WINDOW_FIELDS) {
      const v = num(d, o + field);
      if (v !== 0) addToWindows(cache, field, T - key, -v, key, v, 0);
    }
  }
  if (!safeTotals(cache.tot) || !wholeSums(cache.sums)) cache.valid = false;
}

/** roll drops the week bucket at `o` (older than a year): out of the totals. */
export function noteWeekDropped(f: FeatureState, o: number): void {
  const cache = liveCache(f);
  if (cache === undefined) return;
  const w = cache.weeks;
  cache.tot.a -= num(w, o + B_APPROVED);
  cache.tot.s -= num(w, o + B_SPEND);
  cache.tot.c -= num(w, o + B_COMPLAINTS);
  if (!safeTotals(cache.tot)) cache.valid = false;
}

const WINDOW_FIELDS = [B_VISITS, B_APPROVED, B_OUT_COUNT, B_SPEND, B_INFLOW, B_DECLINES, B_COMPLAINTS] as const;

/** A change to a day bucket `age` (< 90) days before the cached day: its 7/30/90-day windows and the active days. */
function addToWindows(cache: WindowCache, field: number, age: number, change: number, day: number, before: number, after: number): void {
  const s = cache.sums;
  const m = age < 30;
  const w = age < 7;
  switch (field) {
    case B_APPROVED:
      s.a90 += change;
      if (m) s.a30 += change;
      if (w) s.a7 += change;
      break;
    case B_SPEND:
      s.s90 += change;
      if (m) s.s30 += change;
      if (w) s.s7 += change;
      break;
    case B_COMPLAINTS: s.c90 += change; break;
    case B_INFLOW: s.in90 += change; break;
    case B_OUT_COUNT: s.o90 += change; break;
    case B_DECLINES:
      s.d90 += change;
      if (m) s.d30 += change;
      break;
    case B_VISITS:
      s.v90 += change;
      if ((before > 0) !== (after > 0)) activeChange(cache, day, after > 0, m);
      break;
    default: cache.valid = false;
  }
}

/** A day of the last 90 becomes active (or stops being): its place in the ascending active days, and the 30-day count. */
function activeChange(cache: WindowCache, day: number, active: boolean, recent: boolean): void {
  const list = cache.active;
  let i = list.length;
  while (i > 0 && num(list, i - 1) > day) i--;
  if (active) {
    list.splice(i, 0, day);
    if (recent) cache.sums.active30++;
  } else if (i > 0 && list[i - 1] === day) {
    list.splice(i - 1, 1);
    if (recent) cache.sums.active30--;
  }
}
