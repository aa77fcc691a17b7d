/**
 * What the engine runs with: its timing and the bank's policy (the loyalty rules timeline, the lifecycle
 * thresholds, the feature configuration and the offer catalogue, with the partition count that budgets
 * are split over). Pure types and constructors; `config/policy.ts` builds one from the YAML files.
 */
import type { FeatureConfig } from './features.js';
import type { LifecycleConfig } from './lifecycle.js';
import type { LoyaltyRules } from './loyalty-rules.js';
import type { OffersCatalogue } from './offers.js';
import { RulesTimeline } from './rules-timeline.js';
import { DAY_MS } from './calendar.js';

/**
 * The engine's configuration: its timing and the bank's policy. The policy comes from the YAML files
 * (`config/policy.ts`: `buildEngineConfig`, or `defaultEngineConfig()` for the shipped files); the core
 * reads no file and has no policy of its own.
 */
export interface EngineConfig {
  /** Allowed lateness: the watermark trails the largest event time by this much. Default 1 hour. */
  latenessMs: number;
  /**
   * How long a tx id is remembered, in event time: a transaction whose id was seen within it is a
   * duplicate (counted in `stats.duplicates`, nothing else happens); one seen longer ago is applied as
   * new. A reversal also finds its original's day through it (to take it out of the features). Ids are
   * kept in whole UTC days: at least this long, at most a day longer. Never shorter than the reversal window
   * of the rules in force (`reversals.window_days`): an original is known for as long as a reversal of it
   * is accepted. Default 120 days, the shipped reversal window (card-scheme chargebacks).
   */
  dedupHorizonMs: number;
  /** Loyalty rules timeline (hot reload by stream position) and the partition count: see scorer/core/loyalty/engine.ts. */
  loyalty: LoyaltyConfig;
  /** Lifecycle thresholds and value assumptions (config/lifecycle.yaml). */
  lifecycle: LifecycleConfig;
  /** Product codes and the loyalty tiers, lowest first, that the features need. */
  features: FeatureConfig;
  /** Offer catalogue and partition count (budgets): see scorer/core/offers/engine.ts (config/offers.yaml). */
  offers: OffersConfig;
}

/** The engine's timing unless a caller sets its own: 1 hour of lateness, tx ids remembered 120 days. */
export const ENGINE_TIMING: Readonly<Pick<EngineConfig, 'latenessMs' | 'dedupHorizonMs'>> = Object.freeze({ latenessMs: 3_600_000, dedupHorizonMs: 120 * DAY_MS });

/** The loyalty engine's configuration (`scorer/core/loyalty/engine.ts`). */
export interface LoyaltyConfig {
  /** Which rules apply from which stream sequence (hot reload). */
  timeline: RulesTimeline;
  /**
   * Number of partitions of `tx.>`: campaign budgets are split evenly across them, and referral credits
   * are addressed to the referrer's partition. The runtime must set it from its settings.
   */
  partitions: number;
}

export function loyaltyConfig(rules: LoyaltyRules | RulesTimeline, partitions: number): LoyaltyConfig {
  if (!Number.isInteger(partitions) || partitions < 1) throw new Error(`partitions must be a positive integer, got ${partitions}`);
  return { timeline: rules instanceof RulesTimeline ? rules : RulesTimeline.of(rules), partitions };
}

/** The offers engine's configuration (`scorer/core/offers/engine.ts`). */
export interface OffersConfig {
  catalogue: OffersCatalogue;
  /** Number of partitions of `tx.>`: an offer's total budget is split evenly across them. */
  partitions: number;
}

export function offersConfig(catalogue: OffersCatalogue, partitions: number): OffersConfig {
  if (!Number.isInteger(partitions) || partitions < 1) throw new Error(`partitions must be a positive integer, got ${partitions}`);
  return { catalogue, partitions };
}
