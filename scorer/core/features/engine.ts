/**
 * Streaming behavioural features, updated incrementally in event time.
 *
 * State is bounded (see ./state.ts): a day tier of the last 91 days, a week tier beyond it up to a year,
 * per-channel last-seen times, exponentially decayed channel counts, sticky-product use times and open
 * complaints. Nothing depends on the wall clock or on other customers: the features of a customer are a
 * function of that customer's own events (and which of them were too late), so the trainer's replay and
 * the running scorer compute the same numbers.
 *
 * Lateness: an event at or after the partition watermark (max event time − allowed lateness) is folded
 * into its own day (or week) bucket wherever it falls; an event behind the watermark is not folded in,
 * only counted (`late_events`, next to the engine's `stats.late`).
 */
import { CHANNELS, type Channel, type FeedbackV1, type TransactionV1 } from '../../../contracts/events.js';
import { item, num } from '../invariant.js';
import { parsedDate, parsedYmd, utcDate } from '../memo.js';
import { noteChange, noteDayRemoved, noteWeekDropped, windowsOf } from './windows.js';
import type { CustomerState } from '../state.js';
import { DAY_MS, type Ctx } from '../types.js';
import { FEATURE_NAMES, RECENCY_CAP_DAYS, STICKY_PRODUCTS, type StickyProduct } from '../../../contracts/features.js';
import { DEFAULT_FEATURE_CONFIG, type FeatureConfig } from '../../../config/schema/mod.js';
import {
  B_APPROVED, B_COMPLAINTS, B_KEY, B_DECLINES, B_INFLOW, B_OUT_COUNT, B_SPEND, B_VISITS, BUCKET_WIDTH, DAY_TIER_DAYS, MAX_OPEN_COMPLAINTS, MAX_REFUNDS, MAX_SCORES, WEEK_SUMS,
  newFeatureState, type FeatureState, type RememberedRefund, type SurveyAnswer,
} from './state.js';

export { FEATURE_CATALOGUE, FEATURE_NAMES, MODEL_FEATURE_NAMES, isFeature, type FeatureSpec } from '../../../contracts/features.js';
export { DEFAULT_FEATURE_CONFIG, type FeatureConfig } from '../../../config/schema/mod.js';

/** Time constant of the decayed channel mix. */
export const MIX_TAU_MS = 30 * DAY_MS;
/** Days a week bucket is kept (a week is dropped once its last day is older than this). */
const WEEK_TIER_DAYS = 365;
const YEAR_MS = 365 * DAY_MS;
const CHANNEL_INDEX = Object.fromEntries(CHANNELS.map((c, i) => [c, i])) as Record<Channel, number>;
const STICKY_INDEX: Record<StickyProduct, number> = Object.fromEntries(STICKY_PRODUCTS.map((p, i) => [p, i])) as Record<StickyProduct, number>;

const dayOf = (ms: number): number => Math.floor(ms / DAY_MS);
const weekOf = (day: number): number => Math.floor(day / 7);

/** The customer's feature state: nested buckets (layout 2) are flattened, older layouts (a skeleton checkpoint) reset. */
export function featureState(c: CustomerState): FeatureState {
  const v = (c.features as { v?: number }).v;
  if (v === 2) {
    const old = c.features as unknown as { days: number[][]; weeks: number[][] };
    c.features = { ...c.features, v: 3, days: old.days.flat(), weeks: old.weeks.flat() };
  } else if (v !== 3) {
    c.features = newFeatureState();
  }
  return c.features;
}

/**
 * Offset of the bucket with key `key` in a flat ascending bucket list (BUCKET_WIDTH numbers each),
 * inserted (zeroed) where it belongs if missing.
 */
function bucketIn(list: number[], key: number): number {
  let o = list.length - BUCKET_WIDTH;
  while (o >= 0 && num(list, o + B_KEY) > key) o -= BUCKET_WIDTH;
  if (o >= 0 && list[o + B_KEY] === key) return o;
  const at = o + BUCKET_WIDTH;
  list.splice(at, 0, key, 0, 0, 0, 0, 0, 0, 0);
  return at;
}

/** Moves day buckets older than the day tier into week buckets and drops weeks older than a year. */
function roll(f: FeatureState, day: number): void {
  if (day <= f.rolled) return;
  f.rolled = day;
  const firstKept = day - (DAY_TIER_DAYS - 1);
  let n = 0;
  while (n < f.days.length && num(f.days, n + B_KEY) < firstKept) {
    const key = num(f.days, n + B_KEY);
    const kept = key > day - WEEK_TIER_DAYS;
    noteDayRemoved(f, n, !kept);
    if (kept) {
      const w = bucketIn(f.weeks, weekOf(key));
      for (let i = 1; i < BUCKET_WIDTH; i++) if ((WEEK_SUMS & (1 << i)) !== 0) f.weeks[w + i] = num(f.weeks, w + i) + num(f.days, n + i);
    }
    n += BUCKET_WIDTH;
  }
  if (n > 0) f.days.splice(0, n);
  let w = 0;
  while (w < f.weeks.length && num(f.weeks, w + B_KEY) * 7 + 6 <= day - WEEK_TIER_DAYS) {
    noteWeekDropped(f, w);
    w += BUCKET_WIDTH;
  }
  if (w > 0) f.weeks.splice(0, w);
}

/** A bucket: the flat list it lives in and its offset there, and the feature state that list is of. */
interface Slot {
  f: FeatureState;
  list: number[];
  o: number;
}

/** The bucket an event at `at` belongs to, or undefined when it is older than anything kept. */
function bucketFor(f: FeatureState, at: number): Slot | undefined {
  const day = dayOf(at);
  roll(f, day);
  if (day >= f.rolled - (DAY_TIER_DAYS - 1)) return { f, list: f.days, o: bucketIn(f.days, day) };
  if (day > f.rolled - WEEK_TIER_DAYS) return { f, list: f.weeks, o: bucketIn(f.weeks, weekOf(day)) };
  return undefined;
}

/** Adds `delta` to field `field` of a bucket, never below 0 when `floor` is set; in a week bucket, only to the {@link WEEK_SUMS}. */
function bump(b: Slot, field: number, delta: number, floor = false): void {
  if (b.list !== b.f.days && (WEEK_SUMS & (1 << field)) === 0) return;
  const before = num(b.list, b.o + field);
  const v = before + delta;
  const after = floor ? Math.max(0, v) : v;
  b.list[b.o + field] = after;
  noteChange(b.f, b.list, b.o, field, before, after);
}

/** Adds one transaction at `t` to the decayed channel counts. */
function mixAdd(f: FeatureState, channel: number, t: number): void {
  if (t > f.mixAt) {
    const decay = f.mixAt === 0 ? 0 : Math.exp(-(t - f.mixAt) / MIX_TAU_MS);
    for (let i = 0; i < f.mix.length; i++) f.mix[i] = num(f.mix, i) * decay;
    f.mixAt = t;
    f.mix[channel] = num(f.mix, channel) + 1;
  } else {
    f.mix[channel] = num(f.mix, channel) + Math.exp(-(f.mixAt - t) / MIX_TAU_MS);
  }
}

/** The sticky product a transaction shows the customer using, if any. */
function stickyUse(tx: TransactionV1): StickyProduct | undefined {
  switch (tx.channel) {
    case 'bill_pay': return tx.branch_id ? undefined : 'bill_pay';
    case 'installment': return 'installments';
    case 'transfer': return tx.branch_id ? undefined : 'online_banking';
    case 'online': return 'online_banking';
    case 'pos': case 'fuel': case 'atm': return 'debit_card';
    case 'deposit': return tx.branch_id ? undefined : 'direct_deposit';
  }
  return undefined;
}

/** True when the event is behind the watermark: counted, not folded in. */
function tooLate(f: FeatureState, ctx: Ctx): boolean {
  if (ctx.at >= ctx.watermark) return false;
  f.late++;
  return true;
}

/** How the features remember refunds for their reversal (the engine passes the loyalty rules' window). */
export interface RefundMemory {
  /** How long a refund's spend change is remembered: `reversals.window_days`, in ms. */
  keepMs: number;
  /** The transaction is a reversal of a refund (the loyalty engine knows it): it undoes that refund. */
  reversesRefund: boolean;
  /** Refunds that came before this purchase, settled on it now (`LoyaltyOutcome.settledRefunds`). */
  settled?: readonly { id: string; at: number; amount: number }[];
}

/**
 * Folds a transaction into the customer's features. `originalAt` is the event time of the transaction a
 * reversal undoes or a refund gives money back for (when known): the reversal takes its amount and count
 * out of that day's bucket; a refund takes its amount out of that day's spend (nothing when its purchase
 * is unknown: no day to take it from) and is no visit, no activity. A reversal of a refund
 * (`refunds.reversesRefund`) puts back the spend that refund took out, if remembered, and changes nothing
 * else. Without `refunds`, refunds are not remembered and every reversal is a purchase's.
 * @returns false when the event was too late and only counted.
 */
export function featuresOnTransaction(c: CustomerState, tx: TransactionV1, ctx: Ctx, originalAt?: number, refunds?: RefundMemory): boolean {
  const f = featureState(c);
  if (tooLate(f, ctx)) return false;
  const at = ctx.at;
  const outgoing = tx.channel !== 'deposit';
  if (f.refunds !== undefined && refunds) forgetRefunds(f, f.refunds, ctx.watermark - refunds.keepMs);
  if (tx.reverses_tx_id && refunds?.reversesRefund) {
    const kept = f.refunds !== undefined && Object.hasOwn(f.refunds, tx.reverses_tx_id) ? f.refunds[tx.reverses_tx_id] : undefined;
    if (kept === undefined) return true;
    delete f.refunds?.[tx.reverses_tx_id];
    const [, purchaseAt, taken] = kept;
    const b = bucketFor(f, purchaseAt);
    if (b) bump(b, B_SPEND, taken);
    return true;
  }
  if (tx.kind === 'refund' && !tx.reverses_tx_id) {
    if (tx.status === 'declined' || !outgoing || originalAt === undefined) return true;
    const b = bucketFor(f, originalAt);
    if (b) takeRefund(f, b, tx.tx_id, at, originalAt, tx.amount_minor, refunds);
    return true;
  }
  if (tx.reverses_tx_id) {
    if (originalAt === undefined) return true;
    const b = bucketFor(f, originalAt);
    if (!b) return true;
    bump(b, B_APPROVED, -1, true);
    if (outgoing) {
      bump(b, B_OUT_COUNT, -1, true);
      bump(b, B_SPEND, -tx.amount_minor, true);
    } else {
      bump(b, B_INFLOW, -tx.amount_minor, true);
    }
    return true;
  }
  const b = bucketFor(f, at);
  if (b) {
    bump(b, B_VISITS, 1);
    if (tx.status === 'declined') {
      bump(b, B_DECLINES, 1);
    } else {
      bump(b, B_APPROVED, 1);
      if (outgoing) {
        bump(b, B_OUT_COUNT, 1);
        bump(b, B_SPEND, tx.amount_minor);
        if (refunds?.settled) for (const r of refunds.settled) takeRefund(f, b, r.id, r.at, at, r.amount, refunds);
      } else {
        bump(b, B_INFLOW, tx.amount_minor);
      }
    }
  }
  if (f.firstAt === 0 || at < f.firstAt) f.firstAt = at;
  if (at > f.lastAt) f.lastAt = at;
  const ch = CHANNEL_INDEX[tx.channel];
  if (at > num(f.lastBy, ch)) f.lastBy[ch] = at;
  mixAdd(f, ch, at);
  const sticky = stickyUse(tx);
  if (sticky) {
    const i = STICKY_INDEX[sticky];
    if (at > num(f.sticky, i)) f.sticky[i] = at;
  }
  return true;
}

/**
 * Takes a refund's amount out of its purchase's day spend (`b`, the bucket of `originalAt`; never below
 * zero) and, with `refunds`, remembers what it took for a reversal of the refund.
 */
function takeRefund(f: FeatureState, b: Slot, id: string, at: number, originalAt: number, amount: number, refunds: RefundMemory | undefined): void {
  const before = num(b.list, b.o + B_SPEND);
  bump(b, B_SPEND, -amount, true);
  const taken = before - num(b.list, b.o + B_SPEND);
  if (refunds && taken > 0) rememberRefund(f, id, at, originalAt, taken);
}

function rememberRefund(f: FeatureState, id: string, at: number, originalAt: number, taken: number): void {
  const kept = (f.refunds ??= {});
  kept[id] = [at, originalAt, taken];
  const entries = Object.entries(kept);
  if (entries.length <= MAX_REFUNDS) return;
  entries.sort(([a, x], [b, y]) => x[0] - y[0] || (a < b ? -1 : 1));
  for (const [old] of entries.slice(0, entries.length - MAX_REFUNDS)) delete kept[old];
}

/** Drops the refunds (`kept`, the state's own) made before `horizon` (a reversal of them is no longer accepted). */
function forgetRefunds(f: FeatureState, kept: Record<string, RememberedRefund>, horizon: number): void {
  for (const [id, [refundAt]] of Object.entries(kept)) if (refundAt < horizon) delete kept[id];
  if (Object.keys(kept).length === 0) delete f.refunds;
}

/**
 * Folds feedback in: a complaint opens (and counts in `complaints_90d`), a resolution that names it
 * closes it. @returns false when too late.
 */
export function featuresOnFeedback(c: CustomerState, fb: FeedbackV1, ctx: Ctx): boolean {
  const f = featureState(c);
  if (tooLate(f, ctx)) return false;
  const horizon = Math.max(ctx.at, f.lastAt) - YEAR_MS;
  if (fb.kind === 'complaint') {
    const b = bucketFor(f, ctx.at);
    if (b) bump(b, B_COMPLAINTS, 1);
    f.complaints[fb.feedback_id] = ctx.at;
    if (ctx.at > (f.complaintAt ?? 0)) f.complaintAt = ctx.at;
  } else if (fb.kind === 'resolution' && fb.resolves_feedback_id) {
    delete f.complaints[fb.resolves_feedback_id];
  } else if (fb.kind === 'survey' && fb.score !== undefined && fb.scale) {
    const scores = (f.scores ??= []);
    const norm = fb.scale === 'csat5' ? (fb.score - 1) / 4 : fb.score / 10;
    const low = fb.scale === 'csat5' ? fb.score <= 2 : fb.score <= 6;
    scores.splice(scores.findLastIndex(([t]) => t <= ctx.at) + 1, 0, [ctx.at, norm, low ? 1 : 0]);
    const kept = scores.findIndex(([t]) => t >= horizon);
    const drop = Math.max(kept < 0 ? scores.length : kept, scores.length - MAX_SCORES);
    if (drop > 0) scores.splice(0, drop);
  }
  const open = Object.entries(f.complaints);
  for (const [id, t] of open) if (t < horizon) delete f.complaints[id];
  if (open.length > MAX_OPEN_COMPLAINTS) {
    open.sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : 1));
    for (const [id] of open.slice(0, open.length - MAX_OPEN_COMPLAINTS)) delete f.complaints[id];
  }
  return true;
}

const capDays = (ms: number): number => Math.min(RECENCY_CAP_DAYS, Math.max(0, ms / DAY_MS));
/** Days since `at` (capped), or the cap when there is none. */
const sinceDays = (at: number | undefined, now: number): number => (at ? capDays(now - at) : RECENCY_CAP_DAYS);
/** A channel's share of the mix (0 without any). */
const share = (count: number, total: number): number => (total > 0 ? count / total : 0);

function ageYears(birth: string | undefined, at: number): number {
  if (!birth) return 0;
  const ymd = parsedYmd(birth);
  if (!ymd) return 0;
  const now = utcDate(at);
  const [y, mo, d] = ymd;
  let age = now.year - y;
  if (now.month < mo || (now.month === mo && now.date < d)) age--;
  return Math.max(0, age);
}

/** Index of every catalogue name in a feature vector (`FEATURE_NAMES` order). */
export const FEATURE_INDEX: Readonly<Record<string, number>> = Object.freeze(Object.fromEntries(FEATURE_NAMES.map((n, i) => [n, i])));
export const FEATURE_COUNT = FEATURE_NAMES.length;

/** The symbol under which a {@link FeatureVector} keeps its numbers. */
export const FEATURE_VALUES: unique symbol = Symbol('feature values');

/**
 * A feature vector: the numbers in catalogue order (`[FEATURE_VALUES]`, indexed by FEATURE_INDEX) with
 * every name readable as a property (`v.recency_days`), without building a name-keyed object per event.
 * Not enumerable: use {@link featureRecord} for a plain object.
 */
export type FeatureVector = Readonly<Record<string, number>> & { readonly [FEATURE_VALUES]: readonly number[] };

class NamedFeatures {
  readonly [FEATURE_VALUES]: readonly number[];

  constructor(values: readonly number[]) {
    this[FEATURE_VALUES] = values;
  }
}
FEATURE_NAMES.forEach((name, i) => {
  Object.defineProperty(NamedFeatures.prototype, name, {
    get(this: NamedFeatures): number {
      return num(this[FEATURE_VALUES], i);
    },
    enumerable: false,
  });
});

/** Wraps catalogue-ordered numbers as a {@link FeatureVector}. */
export function namedFeatures(values: readonly number[]): FeatureVector {
  if (values.length !== FEATURE_COUNT) throw new RangeError(`a feature vector has ${FEATURE_COUNT} values, got ${values.length}`);
  return new NamedFeatures(values) as unknown as FeatureVector;
}

/** The numbers of a feature vector, or of a plain name-keyed object (catalogue order; missing names are 0). */
export function featureValuesOf(v: Readonly<Record<string, number>>): readonly number[] {
  const own = (v as Partial<FeatureVector>)[FEATURE_VALUES];
  return own ?? FEATURE_NAMES.map((n) => v[n] ?? 0);
}

/** A plain object of the numbers, keyed by name in catalogue order (what `featureVector` returns). */
export function featureRecord(values: readonly number[]): Record<string, number> {
  const r: Record<string, number> = {};
  FEATURE_NAMES.forEach((name, i) => {
    r[name] = num(values, i);
  });
  return r;
}

const JSON_KEYS = FEATURE_NAMES.map((n, i) => `${i === 0 ? '{' : ','}${JSON.stringify(n)}:`);

/** Scratch for {@link featuresJson}: key texts and value texts, alternating (reused by every call). */
const jsonParts: string[] = [...JSON_KEYS.flatMap((key) => [key, '0']), '}'];

/** The texts of the small whole numbers (counts, flags, capped days): most of a vector's values. */
const SMALL_INTS = 4096;
const INT_TEXT = Array.from({ length: SMALL_INTS }, (_, i) => JSON.stringify(i));

/**
 * `JSON.stringify(featureRecord(values))`, without the record (built by name it would be a dictionary,
 * slow to serialize) and without `String(x)`: that puts every fractional value's text in V8's number-string
 * cache, which keeps it alive past the young generation (measured ~460 B an event promoted). A small whole
 * number's text comes from a table (no allocation); any other value is serialized alone by JSON.stringify,
 * which writes it as JSON does (non-finite as null, -0 as 0) without that cache.
 */
export function featuresJson(values: readonly number[]): string {
  if (values.length !== FEATURE_COUNT) return slicedJson(values);
  const parts = jsonParts;
  for (let i = 0; i < FEATURE_COUNT; i++) {
    const v = values[i];
    if (typeof v !== 'number') return slicedJson(values);
    parts[2 * i + 1] = v >= 0 && v < SMALL_INTS && Math.floor(v) === v ? item(INT_TEXT, v) : JSON.stringify(v);
  }
  return parts.join('');
}

/** What featuresJson made of a vector of another length before (tests build snapshots with none): its array's text cut at the commas. */
function slicedJson(values: readonly number[]): string {
  const numbers = JSON.stringify(values);
  let from = 1;
  for (let i = 0; i < FEATURE_COUNT; i++) {
    const to = i === FEATURE_COUNT - 1 ? numbers.length - 1 : numbers.indexOf(',', from);
    jsonParts[2 * i + 1] = numbers.slice(from, to);
    from = to + 1;
  }
  return jsonParts.join('');
}

/** The sticky products held or used (see stickyCounts): scratch, overwritten by every call. */
const stickyScratch = { has: 0, used: 0, held: 0 };

/**
 * The sticky products: `has`, the bitmask of those the profile lists or the customer used in the last 90
 * days; `used`, how many were used; `held`, how many either. Returns {@link stickyScratch}.
 */
function stickyCounts(f: FeatureState, products: readonly string[], now: number, cfg: FeatureConfig): typeof stickyScratch {
  const held = heldMask(products, cfg);
  const usedSince = now - 90 * DAY_MS;
  let has = 0;
  let stickyUsed = 0;
  let stickyHeld = 0;
  for (let i = 0; i < STICKY_PRODUCTS.length; i++) {
    const usedAt = num(f.sticky, i);
    const used = usedAt > 0 && usedAt > usedSince;
    if (used) stickyUsed++;
    if (used || (held & (1 << i)) !== 0) {
      has |= 1 << i;
      stickyHeld++;
    }
  }
  stickyScratch.has = has;
  stickyScratch.used = stickyUsed;
  stickyScratch.held = stickyHeld;
  return stickyScratch;
}

/** The survey answers of the last year (see surveySummary): scratch, overwritten by every call. */
const surveyScratch = { low: 0, surveys: 0, last: 0.5 };

const NO_SCORES: readonly SurveyAnswer[] = Object.freeze([]);

/** Survey answers of the last 365 days, the dissatisfied ones of the last 90, and the latest (0.5 with none). Returns {@link surveyScratch}. */
function surveySummary(f: FeatureState, now: number): typeof surveyScratch {
  let lowScores = 0;
  let surveys = 0;
  let lastScore = 0.5;
  const answers = f.scores ?? NO_SCORES;
  for (let i = 0; i < answers.length; i++) {
    // Indexed, not destructured: an iterator per answer is garbage at every event.
    const answer = item(answers, i);
    const t = answer[0];
    const score = answer[1];
    const low = answer[2];
    if (t > now || now - t >= YEAR_MS) continue;
    surveys++;
    lastScore = score;
    if (low && now - t < 90 * DAY_MS) lowScores++;
  }
  surveyScratch.low = lowScores;
  surveyScratch.surveys = surveys;
  surveyScratch.last = lastScore;
  return surveyScratch;
}

/** Bitmask of the sticky products a profile's `products` list holds, per product-code config. */
const heldCache = new WeakMap<readonly string[], WeakMap<FeatureConfig, number>>();
function heldMask(products: readonly string[], cfg: FeatureConfig): number {
  let byCfg = heldCache.get(products);
  if (!byCfg) heldCache.set(products, (byCfg = new WeakMap()));
  const known = byCfg.get(cfg);
  if (known !== undefined) return known;
  const mask = STICKY_PRODUCTS.reduce((m, product, i) => {
    const codes = cfg.productCodes[product];
    return products.some((p) => codes.includes(p)) ? m | (1 << i) : m;
  }, 0);
  byCfg.set(cfg, mask);
  return mask;
}

const NO_PRODUCTS: readonly string[] = Object.freeze([]);

/**
 * The named feature vector of a customer as of event time `at` (every name of FEATURE_CATALOGUE, in
 * its order), as a plain object. "As of" is never before the customer's own latest transaction: a late
 * event scored after newer ones sees the customer as they are now. The hot path uses {@link featureValues}.
 */
export function featureVector(c: CustomerState, at: number, cfg: FeatureConfig = DEFAULT_FEATURE_CONFIG): Record<string, number> {
  return featureRecord(featureValues(c, at, cfg));
}

/** The feature vector of a customer as of event time `at`: the numbers in catalogue order (FEATURE_INDEX). */
export function featureValues(c: CustomerState, at: number, cfg: FeatureConfig = DEFAULT_FEATURE_CONFIG): number[] {
  const f = featureState(c);
  const now = Math.max(at, f.lastAt);
  const today = dayOf(now);
  const window = windowsOf(f, today);
  const active = window.active;
  const { a7, s7, a30, s30, d30, a90, s90, in90, o90, v90, d90, c90, a365, s365, c365, active30 } = window.sums;

  const openedRaw = c.profile?.opened_at;
  const opened = openedRaw ? parsedDate(openedRaw) : NaN;
  const openedAt = Number.isFinite(opened) ? opened : f.firstAt;
  const tenureDays = openedAt ? Math.max(0, (now - openedAt) / DAY_MS) : 0;
  const recency = f.lastAt ? capDays(now - f.lastAt) : capDays(openedAt ? now - openedAt : 0);

  // Gaps between consecutive active days telescope: a run of them sums to last − first (whole days, exact).
  const gaps = active.length - 1;
  const intervalMean = gaps > 0 ? (num(active, gaps) - num(active, 0)) / gaps : 90;
  const half = Math.floor(Math.max(0, gaps) / 2);
  const intervalTrend = gaps >= 2 ? (num(active, gaps) - num(active, gaps - half)) / half - (num(active, half) - num(active, 0)) / half : 0;

  const prev60Count = a90 - a30;
  const prev60Spend = s90 - s30;

  let mixTotal = 0;
  for (let i = 0; i < f.mix.length; i++) mixTotal += num(f.mix, i);

  const { has, used: stickyUsed, held: stickyHeld } = stickyCounts(f, c.profile?.products ?? NO_PRODUCTS, now, cfg);

  const tierIndex = cfg.tiers.indexOf(c.loyalty.tier);

  const lb = f.lastBy;
  const m = f.mix;
  let open = 0;
  for (const _ in f.complaints) open++;
  const { low: lowScores, surveys, last: lastScore } = surveySummary(f, now);
  // One literal in catalogue order (CHANNELS and STICKY_PRODUCTS order; checked against the catalogue below).
  return [
    recency,
    sinceDays(lb[0], now), sinceDays(lb[1], now), sinceDays(lb[2], now), sinceDays(lb[3], now),
    sinceDays(lb[4], now), sinceDays(lb[5], now), sinceDays(lb[6], now), sinceDays(lb[7], now),
    a7, a30, a90, a365,
    s7, s30, s90, s365,
    in90,
    o90 > 0 ? s90 / o90 : 0,
    active30,
    active.length,
    intervalMean,
    intervalTrend,
    recency / Math.max(1, intervalMean),
    Math.log((a30 + 1) / (prev60Count / 2 + 1)),
    Math.log((s30 + 1) / (prev60Spend / 2 + 1)),
    share(m[0], mixTotal), share(m[1], mixTotal), share(m[2], mixTotal), share(m[3], mixTotal),
    share(m[4], mixTotal), share(m[5], mixTotal), share(m[6], mixTotal), share(m[7], mixTotal),
    d30,
    d90,
    v90 > 0 ? d90 / v90 : 0,
    c90,
    open,
    c365,
    f.complaintAt ? capDays(now - f.complaintAt) : RECENCY_CAP_DAYS,
    lowScores,
    surveys,
    lastScore,
    has & 1, (has >> 1) & 1, (has >> 2) & 1, (has >> 3) & 1, (has >> 4) & 1,
    stickyHeld,
    stickyUsed,
    tenureDays,
    ageYears(c.profile?.birth_date, now),
    c.profile?.referred_by ? 1 : 0,
    c.loyalty.balance,
    tierIndex >= 0 ? tierIndex + 1 : 0,
    f.late,
  ];
}
