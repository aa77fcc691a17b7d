/**
 * Campaign measurement in ClickHouse: who was notified, who converted, uplift over the holdout with its
 * confidence interval, cost per conversion, time to convert, per channel and branch. Every view reads
 * `offers FINAL` / `offer_conversions FINAL`, so a replayed event never counts twice.
 *
 * Units: a *decision* is one row of `offers` (treated: published; holdout: recorded only). A decision
 * *converted* when `offer_conversions` has a row for its offer_id (its goal behaviour within its window
 * after the trigger; at most one per decision). Rates are converted decisions / decisions, per group.
 *
 * Uplift = treated rate − holdout rate, with two 95 % intervals for a difference of independent
 * proportions — the same formulas as `scorer/core/offers/uplift.ts` (a test compares the two):
 *  - Newcombe's hybrid score interval from the Wilson interval of each rate (`newcombe_lo/hi`);
 *  - Wald, d ± z·√(p₁(1−p₁)/n₁ + p₂(1−p₂)/n₂) (`wald_lo/hi`).
 * Cost counts treated decisions only (a holdout costs nothing); cost per incremental conversion divides
 * it by uplift × treated decisions.
 *
 * Held back (`offers_held`): decisions the consent rules stopped (not_member, no_consent:<channel>); never
 * published, no decision in `offers`. `v_offer_campaigns` counts them per campaign (`held_back`,
 * `customers_held`), `v_offers_held` per day, offer, channel and reason.
 *
 * Days are bank-local, as in the loyalty, feedback and survey views: the UTC time is shifted by the rules'
 * `bank_time_offset` before it is cut.
 */
import { shippedPolicy } from '../../config/mod.js';
import { view, type ViewDef } from './views.js';

/** z for a two-sided 95 % interval. */
const Z = '1.959963984540054';

/** Wilson bound of x/n: sign −1 lower, +1 upper (n > 0). */
function wilson(x: string, n: string, sign: 1 | -1): string {
  const p = `(${x} / ${n})`;
  return `((${p} + ${Z} * ${Z} / (2 * ${n})) ${sign < 0 ? '-' : '+'} ${Z} * sqrt(${p} * (1 - ${p}) / ${n} + ${Z} * ${Z} / (4 * ${n} * ${n}))) / (1 + ${Z} * ${Z} / ${n})`;
}

/** Uplift with both intervals, grouped by `keys` (columns of v_offer_outcomes). */
function upliftSql(db: string, keys: string[]): string {
  const k = keys.join(', ');
  return `
SELECT ${k},
  n_treated, x_treated, n_holdout, x_holdout,
  rate_treated, rate_holdout,
  rate_treated - rate_holdout AS uplift,
  if(rate_holdout > 0, rate_treated / rate_holdout - 1, NULL) AS relative_uplift,
  uplift - ${Z} * sqrt(rate_treated * (1 - rate_treated) / n_treated + rate_holdout * (1 - rate_holdout) / n_holdout) AS wald_lo,
  uplift + ${Z} * sqrt(rate_treated * (1 - rate_treated) / n_treated + rate_holdout * (1 - rate_holdout) / n_holdout) AS wald_hi,
  uplift - sqrt(pow(rate_treated - wl_treated, 2) + pow(wu_holdout - rate_holdout, 2)) AS newcombe_lo,
  uplift + sqrt(pow(wu_treated - rate_treated, 2) + pow(rate_holdout - wl_holdout, 2)) AS newcombe_hi
FROM (
  SELECT ${k}, n_treated, x_treated, n_holdout, x_holdout,
    x_treated / n_treated AS rate_treated,
    x_holdout / n_holdout AS rate_holdout,
    ${wilson('x_treated', 'n_treated', -1)} AS wl_treated,
    ${wilson('x_treated', 'n_treated', 1)} AS wu_treated,
    ${wilson('x_holdout', 'n_holdout', -1)} AS wl_holdout,
    ${wilson('x_holdout', 'n_holdout', 1)} AS wu_holdout
  FROM (
    SELECT ${k},
      toFloat64(countIf(holdout = 0)) AS n_treated, toFloat64(countIf(holdout = 0 AND converted)) AS x_treated,
      toFloat64(countIf(holdout = 1)) AS n_holdout, toFloat64(countIf(holdout = 1 AND converted)) AS x_holdout
    FROM ${db}.v_offer_outcomes
    GROUP BY ${k}
  )
  WHERE n_treated > 0 AND n_holdout > 0
)`;
}

/** The offer views for a bank-local day of `offsetMin` minutes east of UTC (default: the shipped rules' offset). */
export function offerViews(offsetMin: number = shippedPolicy().calendar.offsetMin): ViewDef[] {
  const off = Math.trunc(offsetMin);
  const day = (col: string): string => `toDate(addMinutes(${col}, ${off}))`;
  return [
    view('v_offer_outcomes', 'one row per offer decision (treated or holdout) with its conversion, if any', (db) => outcomesSql(db)),

    view('v_offer_campaigns', 'per campaign: customers notified, decisions, conversions, cost and cost per (incremental) conversion; decisions and customers the consent rules held back', (db) => campaignsSql(db)),

    view('v_offer_uplift', 'per campaign: treated vs holdout conversion rate, uplift, Newcombe and Wald 95 % intervals', (db) => upliftSql(db, ['campaign_id'])),

    view('v_offer_uplift_by_offer', 'per campaign and offer: treated vs holdout conversion rate, uplift, Newcombe and Wald 95 % intervals', (db) => upliftSql(db, ['campaign_id', 'offer_code'])),

    view('v_offer_time_to_convert', 'per campaign, offer and channel: conversions and hours from trigger to conversion (mean, median, p90)', (db) => `
SELECT campaign_id, offer_code, channel, holdout,
  count() AS conversions,
  avg(hours_to_convert) AS mean_hours,
  quantileExact(0.5)(hours_to_convert) AS median_hours,
  quantileExact(0.9)(hours_to_convert) AS p90_hours
FROM ${db}.v_offer_outcomes
WHERE converted
GROUP BY campaign_id, offer_code, channel, holdout`),

    view('v_offer_by_channel_branch', 'per campaign, channel and branch: notified, conversions, rates and cost (branch: the teller branch for branch prompts, else the home branch)', (db) => byChannelBranchSql(db)),

    view('v_offer_daily', 'per bank-local day of the trigger and campaign: decisions and conversions (for time series)', (db) => `
SELECT ${day('created_at')} AS day, campaign_id, offer_code,
  countIf(holdout = 0) AS offers_sent,
  countIf(holdout = 1) AS holdout_decisions,
  countIf(holdout = 0 AND converted) AS conversions,
  countIf(holdout = 1 AND converted) AS holdout_conversions,
  sum(cost) AS cost
FROM ${db}.v_offer_outcomes
GROUP BY day, campaign_id, offer_code`),

    view('v_offers_held', 'per bank-local day, campaign, offer, kind, channel and reason (not_member, no_consent:<channel>): decisions and customers the consent rules held back, never published', (db) => `
SELECT ${day('held_at')} AS day, campaign_id, offer_code, kind, channel, reason,
  count() AS held_back, uniqExact(customer_id) AS customers_held
FROM ${db}.offers_held FINAL
GROUP BY day, campaign_id, offer_code, kind, channel, reason`),
  ];
}

/** v_offer_outcomes: every decision (`offers FINAL`, kind offer) with its conversion, if any. */
function outcomesSql(db: string): string {
  return `
SELECT
  o.offer_id AS offer_id, o.customer_id AS customer_id, o.offer_code AS offer_code, o.campaign_id AS campaign_id,
  o.channel AS channel, o.branch_id AS branch_id, o.segment AS segment, o.tier AS tier, o.lifecycle_stage AS lifecycle_stage,
  o.holdout AS holdout, o.cost AS cost, o.expected_value AS expected_value, o.churn_probability AS churn_probability,
  o.created_at AS created_at, o.expires_at AS expires_at, o.triggered_by_tx_id AS triggered_by_tx_id,
  c.offer_id != '' AS converted,
  if(converted, c.converted_at, NULL) AS converted_at,
  if(converted, c.goal, '') AS goal,
  if(converted, c.value_minor, 0) AS value_minor,
  if(converted, dateDiff('second', o.created_at, c.converted_at) / 3600, NULL) AS hours_to_convert
FROM (SELECT * FROM ${db}.offers FINAL WHERE kind = 'offer') AS o
LEFT JOIN (SELECT offer_id, goal, converted_at, value_minor FROM ${db}.offer_conversions FINAL) AS c ON c.offer_id = o.offer_id`;
}

/** v_offer_campaigns: per campaign, what was sent and converted, joined with what the consent rules held back. */
function campaignsSql(db: string): string {
  return `
SELECT * FROM (
SELECT campaign_id,
  uniqExactIf(customer_id, holdout = 0) AS customers_notified,
  countIf(holdout = 0) AS offers_sent,
  uniqExactIf(customer_id, holdout = 1) AS holdout_customers,
  countIf(holdout = 1) AS holdout_decisions,
  countIf(holdout = 0 AND converted) AS conversions,
  countIf(holdout = 1 AND converted) AS holdout_conversions,
  conversions / nullIf(offers_sent, 0) AS conversion_rate,
  holdout_conversions / nullIf(holdout_decisions, 0) AS holdout_conversion_rate,
  sum(cost) AS cost,
  cost / nullIf(conversions, 0) AS cost_per_conversion,
  (conversion_rate - holdout_conversion_rate) * offers_sent AS incremental_conversions,
  if(incremental_conversions > 0, cost / incremental_conversions, NULL) AS cost_per_incremental_conversion,
  sumIf(value_minor, holdout = 0 AND converted) AS converted_value_minor,
  min(created_at) AS first_offer_at,
  max(created_at) AS last_offer_at
FROM ${db}.v_offer_outcomes
GROUP BY campaign_id
) AS sent LEFT JOIN (
  SELECT campaign_id, count() AS held_back, uniqExact(customer_id) AS customers_held
  FROM ${db}.offers_held FINAL WHERE kind = 'offer' GROUP BY campaign_id
) AS held USING (campaign_id)`;
}

/** v_offer_by_channel_branch: per campaign, channel and branch. */
function byChannelBranchSql(db: string): string {
  return `
SELECT campaign_id, channel, branch_id,
  uniqExactIf(customer_id, holdout = 0) AS customers_notified,
  countIf(holdout = 0) AS offers_sent,
  countIf(holdout = 0 AND converted) AS conversions,
  conversions / nullIf(offers_sent, 0) AS conversion_rate,
  countIf(holdout = 1) AS holdout_decisions,
  countIf(holdout = 1 AND converted) AS holdout_conversions,
  holdout_conversions / nullIf(holdout_decisions, 0) AS holdout_conversion_rate,
  sum(cost) AS cost,
  cost / nullIf(conversions, 0) AS cost_per_conversion,
  avgIf(hours_to_convert, holdout = 0 AND converted) AS mean_hours_to_convert
FROM ${db}.v_offer_outcomes
GROUP BY campaign_id, channel, branch_id`;
}

/** The offer views for the shipped rules' calendar (Tehran, +03:30). */
export const OFFER_VIEWS: readonly ViewDef[] = offerViews();

/** Creates (or replaces) the offer views, in dependency order. */
export function offerViewStatements(database: string, offsetMin?: number): string[] {
  return offerViews(offsetMin).map((v) => v.sql(database));
}
