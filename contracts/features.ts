/**
 * The feature catalogue: every behavioural feature the core computes, by name, with what it means and
 * its unit. `featureVector(c, at)` (`scorer/core/features/engine.ts`) returns exactly these names; a
 * model's manifest picks and orders the ones it uses, and the scorer refuses a model that asks for a name
 * not listed here; an offer's `when.features` (`config/offers.yaml`) names them too.
 *
 * Conventions (docs/features.md has the full story):
 * - time is event time; "days" are fractional days (ms / 86,400,000) unless the unit says whole days;
 * - windows `_Nd` are calendar days in UTC: the current day and the N − 1 before it (the 365-day window
 *   takes whole weeks beyond day 91: see docs/features.md);
 * - amounts are in minor units of the transaction currency, as they arrive (the engine is
 *   currency-agnostic; one bank, one currency);
 * - no feature is ever NaN or missing: "never" is a documented sentinel (e.g. 730 days).
 */
import { CHANNELS, type Channel } from './events.js';

export interface FeatureSpec {
  name: string;
  description: string;
  unit: string;
  /** Diagnostics are reported with the vector but not meant as model inputs. */
  diagnostic?: boolean;
}

/** Days reported for "never" and the cap of every recency. */
export const RECENCY_CAP_DAYS = 730;

/** Sticky products, in the order of `FeatureState.sticky`. */
export const STICKY_PRODUCTS = ['bill_pay', 'online_banking', 'debit_card', 'direct_deposit', 'installments'] as const;
export type StickyProduct = (typeof STICKY_PRODUCTS)[number];

const WINDOWS = [7, 30, 90, 365] as const;

function spec(name: string, description: string, unit: string, diagnostic = false): FeatureSpec {
  return diagnostic ? { name, description, unit, diagnostic } : { name, description, unit };
}

const CHANNEL_WORDS: Record<Channel, string> = {
  pos: 'POS card purchase', atm: 'ATM withdrawal', bill_pay: 'bill payment', installment: 'installment payment',
  online: 'online purchase', fuel: 'fuel-station payment', transfer: 'transfer', deposit: 'deposit',
};

/** Every feature, in the order `featureVector` returns them. */
export const FEATURE_CATALOGUE: readonly FeatureSpec[] = Object.freeze([
  spec('recency_days', `days since the last transaction (any channel or status, reversals excluded); with none yet, days since the account opened; capped at ${RECENCY_CAP_DAYS}`, 'days'),
  ...CHANNELS.map((ch) => spec(`recency_${ch}_days`, `days since the last ${CHANNEL_WORDS[ch]} (${ch}); ${RECENCY_CAP_DAYS} when never or longer`, 'days')),
  ...WINDOWS.map((w) => spec(`tx_count_${w}d`, `approved transactions in the last ${w} days, net of reversals`, 'count')),
  ...WINDOWS.map((w) => spec(`spend_${w}d_minor`, `approved outgoing amount (every channel but deposit) in the last ${w} days, net of reversals`, 'minor units')),
  spec('inflow_90d_minor', 'approved deposits (salary, cash, incoming) in the last 90 days', 'minor units'),
  spec('avg_ticket_90d_minor', 'mean approved outgoing amount per outgoing transaction over the last 90 days; 0 with none', 'minor units'),
  spec('active_days_30d', 'days with at least one transaction in the last 30 days', 'days'),
  spec('active_days_90d', 'days with at least one transaction in the last 90 days', 'days'),
  spec('interval_mean_days', 'mean gap between consecutive active days over the last 90 days; 90 with fewer than two active days', 'days'),
  spec('interval_trend_days', 'mean of the newer half of those gaps minus the mean of the older half (> 0: visits spacing out); 0 with fewer than two gaps', 'days'),
  spec('overdue_ratio', 'recency_days / interval_mean_days: how many usual gaps have passed since the last visit', 'ratio'),
  spec('activity_trend', 'ln((transactions in the last 30 days + 1) / (transactions in the 60 days before, per 30 days, + 1)); < 0: slowing down', 'log ratio'),
  spec('spend_trend', 'ln((outgoing amount in the last 30 days + 1) / (outgoing amount in the 60 days before, per 30 days, + 1))', 'log ratio'),
  ...CHANNELS.map((ch) => spec(`mix_${ch}`, `share of transactions that were ${CHANNEL_WORDS[ch]}s, exponentially decayed (30-day time constant); 0 with no transactions`, 'share')),
  spec('declines_30d', 'declined transactions in the last 30 days', 'count'),
  spec('declines_90d', 'declined transactions in the last 90 days', 'count'),
  spec('decline_rate_90d', 'declined / all transactions over the last 90 days; 0 with none', 'share'),
  spec('complaints_90d', 'complaints received in the last 90 days', 'count'),
  spec('open_complaints', 'complaints without a resolution yet (within a year)', 'count'),
  spec('complaints_365d', 'complaints received in the last 365 days', 'count'),
  spec('days_since_complaint', `days since the latest complaint; ${RECENCY_CAP_DAYS} when never or longer`, 'days'),
  spec('low_scores_90d', 'survey answers in the last 90 days that were dissatisfied: CSAT 1–2 or NPS 0–6 (detractors)', 'count'),
  spec('surveys_365d', 'survey answers (any scale) in the last 365 days', 'count'),
  spec('last_survey_score', 'the latest survey answer on a 0–1 scale (CSAT (s − 1) / 4, NPS s / 10); 0.5 with none in the last 365 days (see surveys_365d)', 'share'),
  ...STICKY_PRODUCTS.map((p) => spec(`has_${p}`, `1 when the profile lists ${p.replace('_', ' ')} or the customer used it in the last 90 days`, 'flag')),
  spec('sticky_products', 'number of sticky products held or used (bill pay, online banking, debit card, direct deposit, installments)', 'count'),
  spec('sticky_used_90d', 'number of sticky products actually used in the last 90 days (behaviour only)', 'count'),
  spec('tenure_days', 'days since the account opened (profile opened_at; without a profile, since the first transaction)', 'days'),
  spec('age_years', 'age from the profile birth date in whole years; 0 when unknown', 'years'),
  spec('referred', '1 when the profile names a referrer', 'flag'),
  spec('points_balance', 'loyalty points balance (read from the loyalty state)', 'points'),
  spec('tier_rank', 'loyalty tier as a rank: 0 none, 1 the lowest tier, …', 'rank'),
  spec('late_events', 'events that arrived behind the watermark (beyond the allowed lateness) and were not folded into the features', 'count', true),
]);

/** Every feature name, in catalogue order. */
export const FEATURE_NAMES: readonly string[] = Object.freeze(FEATURE_CATALOGUE.map((f) => f.name));

const KNOWN = new Set(FEATURE_NAMES);

/** True when `name` is in the catalogue. */
export function isFeature(name: string): boolean {
  return KNOWN.has(name);
}

/** The catalogue's model inputs: every feature but the diagnostics. */
export const MODEL_FEATURE_NAMES: readonly string[] = Object.freeze(FEATURE_CATALOGUE.filter((f) => !f.diagnostic).map((f) => f.name));
