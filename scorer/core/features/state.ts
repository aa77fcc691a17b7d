/**
 * Per-customer behavioural feature state: plain JSON, bounded whatever the customer does. Field by
 * field in docs/features.md ("State").
 *
 * Memory bound: ≤ 91 day buckets + ≤ 54 week buckets of 8 numbers, 8 channel recencies, 8 decayed channel
 * counts, 5 sticky-use times, ≤ 50 open complaints, ≤ 50 survey answers and ≤ 50 refunds — about 1,250 numbers at the very most, typically a
 * few hundred, independent of how many events the customer sends.
 */
import type { CHANNELS } from '../../../contracts/events.js';
import type { STICKY_PRODUCTS } from '../../../contracts/features.js';

/** One number for each element of a constant list, in its order (a tuple as long as the list). */
export type Each<T extends readonly unknown[], V> = { -readonly [K in keyof T]: V };
/** One number per channel, in CHANNELS order. */
export type PerChannel = Each<typeof CHANNELS, number>;
/** One number per sticky product, in STICKY_PRODUCTS order. */
export type PerSticky = Each<typeof STICKY_PRODUCTS, number>;
/** A survey answer: event ms, score on 0–1, 1 when dissatisfied (else 0). */
export type SurveyAnswer = [at: number, score: number, low: number];
/** A remembered refund: its event ms, its purchase's day ms, the spend it took out. */
export type RememberedRefund = [at: number, purchaseAt: number, taken: number];

/** Layout of a day or week bucket: index 0 is the day (or week) number, then the sums. */
export const B_KEY = 0;
export const B_VISITS = 1;
export const B_APPROVED = 2;
export const B_OUT_COUNT = 3;
export const B_SPEND = 4;
export const B_INFLOW = 5;
export const B_DECLINES = 6;
export const B_COMPLAINTS = 7;
export const BUCKET_WIDTH = 8;
/**
 * The sums a week bucket keeps, as a bit per field: the approved count, the spend and the complaints, all
 * the year's windows read. The other sums count only in windows of 90 days or less, which the day tier
 * covers, so in a week bucket they stay 0 and each of their columns costs a record one byte (shapes.ts
 * writes an all-zero column as its divisor 0 alone).
 */
export const WEEK_SUMS = (1 << B_APPROVED) | (1 << B_SPEND) | (1 << B_COMPLAINTS);

/** Days kept in the day tier (exact 7/30/90-day windows and the 30-vs-60 trend). */
export const DAY_TIER_DAYS = 91;
/** Open complaints kept at most (the oldest are dropped beyond). */
export const MAX_OPEN_COMPLAINTS = 50;
/** Survey answers kept at most. */
export const MAX_SCORES = 50;
/** Refunds remembered at most for their reversal (the oldest are dropped beyond). */
export const MAX_REFUNDS = 50;

export interface FeatureState {
  /** Layout version; 3 = this one (2: the same with nested buckets, flattened on first touch; older ones are reset). */
  v: 3;
  /** Event time of the first transaction folded in; 0 = none yet. */
  firstAt: number;
  /** Event time of the latest transaction folded in (reversals excluded); 0 = none yet. */
  lastAt: number;
  /** Latest transaction per channel (CHANNELS order), event ms; 0 = never. */
  lastBy: PerChannel;
  /**
   * Day tier, flat: BUCKET_WIDTH numbers per bucket, `day, visits, approved, outgoing count, outgoing amount,
   * inflow amount, declines, complaints`, per UTC day number (epoch ms / 86.4e6) with something in it,
   * ascending by day, only the last 91 days (≤ 91 × 8 numbers). Always whole buckets: at a bucket's
   * offset `o`, every `o + B_…` is there (read with `num` of ../invariant.ts, which checks it).
   */
  days: number[];
  /**
   * Week tier, flat: the same with the week number (day number / 7, floored) first, for days older than the
   * day tier, ≤ 365 days back; only the {@link WEEK_SUMS} are kept, the other sums are 0 (states written
   * before may hold them: nothing reads them).
   */
  weeks: number[];
  /** Newest day number whose arrival rolled the tiers (days before `rolled − 90` live in `weeks`). */
  rolled: number;
  /** Channel mix: per channel, Σ exp(−(mixAt − t) / τ) over transactions at t; shares are ratios of these. */
  mix: PerChannel;
  /** Reference time of `mix`, event ms. */
  mixAt: number;
  /** Last time each sticky product was used (STICKY_PRODUCTS order), event ms; 0 = never. */
  sticky: PerSticky;
  /** Open complaints: feedback_id → event ms; resolved ones removed, pruned after a year. */
  complaints: Record<string, number>;
  /** Latest complaint, event ms; absent or 0 = none (states from before it was kept have none). */
  complaintAt?: number;
  /**
   * Survey answers of the last year, oldest first: `[event ms, score on 0–1, 1 when dissatisfied]`,
   * at most MAX_SCORES (the oldest dropped beyond). Absent in states from before it was kept.
   */
  scores?: SurveyAnswer[];
  /**
   * Refunds that took spend out of their purchase's day, while a reversal of them is accepted (the
   * loyalty rules' `reversals.window_days`): refund tx_id → `[refund event ms, purchase day ms, spend
   * taken]`, at most MAX_REFUNDS (the oldest dropped beyond). Absent until the customer's first one.
   */
  refunds?: Record<string, RememberedRefund>;
  /** Events behind the watermark, not folded in (counted, reported as `late_events`). */
  late: number;
}

export function newFeatureState(): FeatureState {
  return {
    v: 3, firstAt: 0, lastAt: 0, lastBy: [0, 0, 0, 0, 0, 0, 0, 0], days: [], weeks: [], rolled: 0,
    mix: [0, 0, 0, 0, 0, 0, 0, 0], mixAt: 0, sticky: [0, 0, 0, 0, 0], complaints: {}, late: 0,
  };
}
