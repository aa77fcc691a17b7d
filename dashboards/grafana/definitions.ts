/**
 * The Grafana dashboards, as data: five dashboards (retention, loyalty, campaigns, satisfaction, operations), and the
 * administrators' access audit (`ADMIN_DASHBOARDS`, a folder of its own), for the
 * ClickHouse data source plugin (grafana-clickhouse-datasource v4, SQL editor). `generate.ts` renders them
 * to the JSON files next to this one, which Grafana provisions (dashboards/provisioning/dashboards/vafa.yml)
 * and the built-in dashboard serves, and the admin ones to dashboards/grafana-admin/ (imported into their own
 * Grafana organization by docker/grafana/audit-org.sh; the built-in dashboard serves them to `admin` only); a
 * test checks the files are up to date.
 *
 * Every query reads the dashboard relations of sinks/clickhouse/dashboard-views.ts (`dash_*`): time-ordered
 * copies read with FINAL (so replayed rows never count twice) and `dash_customers`, the customer snapshot.
 * Table names are unqualified: the plugin connects with the data source's default database (`vafa`).
 *
 * Filters: `$__conditionalAll(column IN (${var:singlequote}), $var)` becomes `1=1` when "All" is selected, so
 * an unfiltered dashboard adds no predicate. `branch` is the customer's branch (the ledger and the lifecycle
 * rows carry the member's branch); where a table has no segment, the segment filter goes through the
 * customer snapshot (`customer_id IN (SELECT … FROM dash_customers …)`), which costs a snapshot read only
 * when a segment is selected.
 */

import { shippedPolicy } from '../../config/mod.js';

export const DATASOURCE = { type: 'grafana-clickhouse-datasource', uid: 'vafa-clickhouse' } as const;

/**
 * The administrators' data source: ClickHouse user `grafana_audit`, which may read the access audit only
 * (docker/clickhouse/initdb/10-grafana-reader.sh; `grafana`, behind DATASOURCE, may not). It lives in a
 * Grafana organization of its own (docker/grafana/audit-org.sh): in Grafana OSS every member of an
 * organization can query every data source of it.
 */
export const AUDIT_DATASOURCE = { type: 'grafana-clickhouse-datasource', uid: 'vafa-clickhouse-audit' } as const;

type Datasource = typeof DATASOURCE | typeof AUDIT_DATASOURCE;

/**
 * Churn probability at or above which the dashboards call a customer at risk: the shipped lifecycle's
 * intensive-care entry (`stages.intensive_care.enter_probability` of config/lifecycle.yaml, 0.25), so "at risk"
 * on a panel is what sends a customer to the retention team. A bank that changes it in its lifecycle file
 * regenerates the dashboards with the same number here.
 */
export const AT_RISK_PROBABILITY = shippedPolicy().lifecycle.intensive.enter;
export const PLUGIN_VERSION = '4.20.0';

export type PanelType = 'timeseries' | 'barchart' | 'piechart' | 'stat' | 'table';

export interface PanelSpec {
  title: string;
  description: string;
  type: PanelType;
  /** One query per target (refId A, B, …). */
  sql: string[];
  w: number;
  h: number;
  unit?: string;
  decimals?: number;
  /** barchart: stack the series. */
  stacked?: boolean;
  /** barchart: bars grow to the right. */
  horizontal?: boolean;
  /** Columns kept in the data (tooltips, tables) but not drawn. */
  hidden?: string[];
  /** Columns on a right-hand axis, with their unit. */
  rightAxis?: Record<string, string>;
  /** Per-column units. */
  units?: Record<string, string>;
}

export interface VariableSpec {
  name: string;
  label: string;
  /** `query`: options from SQL; `custom`: a fixed, comma-separated list. */
  type: 'query' | 'custom';
  query: string;
  /** Grafana's refresh: 1 on load, 2 on time range change. */
  refresh?: 1 | 2;
}

export interface DashboardSpec {
  uid: string;
  /** Grafana tag of the set the dashboard belongs to, which its links list. Default `vafa`. */
  tag?: string;
  title: string;
  description: string;
  /** `event-time` dashboards look at the event time of transactions; `wall-clock` ones at when things ran. */
  clock: 'event-time' | 'wall-clock';
  time: { from: string; to: string };
  refresh: string;
  variables: VariableSpec[];
  panels: PanelSpec[];
  /** The data source every panel and variable queries. Default DATASOURCE. */
  datasource?: Datasource;
}

// --- Filters --------------------------------------------------------------------------------------

const all = (cond: string, v: string): string => `$__conditionalAll(${cond}, $${v})`;
const BRANCH = all('branch_id IN (${branch:singlequote})', 'branch');
const SEGMENT = all('segment IN (${segment:singlequote})', 'segment');
const CHANNEL = all('channel IN (${channel:singlequote})', 'channel');
const CAMPAIGN = all('campaign_id IN (${campaign:singlequote})', 'campaign');
const SEGMENT_VIA_CUSTOMER = all('customer_id IN (SELECT customer_id FROM dash_customers WHERE segment IN (${segment:singlequote}))', 'segment');
const INSTANCE = all('instance IN (${instance:singlequote})', 'instance');

const CUSTOMERS = `${BRANCH} AND ${SEGMENT}`;
const LEDGER = `$__timeFilter(occurred_at) AND ${BRANCH} AND ${CHANNEL} AND ${SEGMENT_VIA_CUSTOMER}`;
const TRANSITIONS = `$__timeFilter(occurred_at) AND ${BRANCH} AND ${SEGMENT}`;
/** Offers (marketing and recovery): surveys have no holdout and are measured on the Satisfaction dashboard. */
const OFFERS = `$__timeFilter(created_at) AND kind = 'offer' AND ${CAMPAIGN} AND ${CHANNEL} AND ${BRANCH} AND ${SEGMENT}`;
/** Conversions of offers: survey answers (the conversions of surveys, copied to dash_survey_answers_v1) left out. */
const CONVERSIONS = `$__timeFilter(offered_at) AND ${CAMPAIGN} AND ${CHANNEL} AND ${BRANCH} AND ${SEGMENT_VIA_CUSTOMER}
    AND conversion_id NOT IN (SELECT conversion_id FROM dash_survey_answers_v1 WHERE $__timeFilter(offered_at))`;
const BATCHES = `$__timeFilter(flushed_at) AND ${INSTANCE}`;
/** Offer decisions held back for consent or membership (surveys left out, as in OFFERS); `channel` is where it would have gone. */
const HELD = `$__timeFilter(held_at) AND kind = 'offer' AND ${CAMPAIGN} AND ${CHANNEL} AND ${BRANCH} AND ${SEGMENT}`;

export const STAGES = ['acquisition', 'welcome', 'getting_acquainted', 'account_management', 'intensive_care', 'potential_separation', 'separation', 'win_back'];
export const TX_CHANNELS = ['pos', 'atm', 'bill_pay', 'installment', 'online', 'fuel', 'transfer', 'deposit'];
export const OFFER_CHANNELS = ['sms', 'app', 'email', 'branch'];

const dimVariable = (name: string, label: string, dim: string): VariableSpec => ({
  name, label, type: 'query', refresh: 1, query: `SELECT DISTINCT value FROM dash_dims_v1 WHERE dim = '${dim}' ORDER BY value`,
});
const BRANCH_VAR = dimVariable('branch', 'Branch', 'branch');
const SEGMENT_VAR = dimVariable('segment', 'Segment', 'segment');

// --- Retention ------------------------------------------------------------------------------------

const retention: DashboardSpec = {
  uid: 'vafa-retention',
  title: 'vafa · Retention',
  description: 'Churn risk, value at risk, new-customer cohorts and lifecycle stage changes.',
  clock: 'event-time',
  time: { from: 'now-30d', to: 'now' },
  refresh: '1m',
  variables: [BRANCH_VAR, SEGMENT_VAR, { name: 'channel', label: 'Channel', type: 'custom', query: TX_CHANNELS.join(',') }],
  panels: [
    {
      title: 'Customers at risk', type: 'stat', w: 24, h: 4,
      description: `The customer snapshot (branch and segment filters): customers, those at risk (a churn probability of ${AT_RISK_PROBABILITY} or more, the lifecycle's intensive-care entry), the mean churn probability and the value at risk (churn probability × expected lifetime value, currency major units).`,
      units: { avg_churn_probability: 'percentunit' },
      sql: [`SELECT count() AS customers, countIf(churn_probability >= ${AT_RISK_PROBABILITY}) AS at_risk, round(avg(churn_probability), 4) AS avg_churn_probability,
  round(sum(value_at_risk)) AS value_at_risk
FROM dash_customers
WHERE ${CUSTOMERS}`],
    },
    {
      title: 'At-risk customers and why', type: 'table', w: 15, h: 10,
      description: `Customers at risk (churn probability ${AT_RISK_PROBABILITY} or more; branch and segment filters), the 100 with the most value at risk first, and the top reasons of their latest score: feature, the value the model saw, and its signed contribution to the log-odds of churn (+ raises the risk, − lowers it; docs/models.md "Reasons"). Empty when the score carries no reasons (a model without an explainer, or reasons off).`,
      units: { churn_risk: 'percentunit' },
      // A plain top-N on purpose: ClickHouse sorts on the narrow columns, then reads churn_reasons and formats
      // the text only for the 100 rows kept (lazy materialization), not for every customer at risk.
      sql: [`SELECT customer_id AS customer, if(branch_id = '', '(none)', branch_id) AS branch, lifecycle_stage AS stage, round(churn_probability, 3) AS churn_risk,
  round(value_at_risk) AS value_at_risk, churn_reasons_text AS why_at_risk
FROM dash_customers
WHERE churn_probability >= ${AT_RISK_PROBABILITY} AND ${CUSTOMERS}
ORDER BY value_at_risk DESC, churn_risk DESC, customer
LIMIT 100`],
    },
    {
      title: 'What drives the risk', type: 'barchart', w: 9, h: 10, horizontal: true, unit: 'short', hidden: ['mean_contribution'],
      description: `Among the customers at risk (churn probability ${AT_RISK_PROBABILITY} or more; branch and segment filters): how many have each feature among the reasons raising their risk (positive contribution), and its mean contribution to the log-odds of churn (in the label). Top 15.`,
      sql: [`SELECT concat(feature, ' (mean +', toString(round(avg(contribution), 2)), ')') AS reason, count() AS customers, round(avg(contribution), 4) AS mean_contribution
FROM dash_customer_reasons
WHERE churn_probability >= ${AT_RISK_PROBABILITY} AND contribution > 0 AND ${CUSTOMERS}
GROUP BY feature
ORDER BY customers DESC, mean_contribution DESC, feature
LIMIT 15`],
    },
    {
      title: 'Churn-probability distribution', type: 'barchart', w: 12, h: 9, unit: 'short',
      description: 'Customers per 5-point band of the current churn probability (customer snapshot).',
      sql: [`SELECT concat(toString(bucket), '-', toString(bucket + 5), '%') AS churn_probability, customers
FROM (
  SELECT toUInt8(least(floor(churn_probability * 20), 19) * 5) AS bucket, count() AS customers
  FROM dash_customers
  WHERE ${CUSTOMERS}
  GROUP BY bucket
  ORDER BY bucket WITH FILL FROM 0 TO 100 STEP 5
)`],
    },
    {
      title: 'Value at risk by branch and stage', type: 'barchart', w: 12, h: 9, stacked: true, unit: 'short',
      description: 'Sum of value at risk per branch (top 25), stacked by lifecycle stage (customer snapshot).',
      sql: [`SELECT if(branch_id = '', '(none)', branch_id) AS branch,
${STAGES.map((s) => `  round(sumIf(value_at_risk, lifecycle_stage = '${s}')) AS ${s}`).join(',\n')}
FROM dash_customers
WHERE ${CUSTOMERS}
GROUP BY branch
ORDER BY sum(value_at_risk) DESC
LIMIT 25`],
    },
    {
      title: 'First-90-day churn by opening cohort', type: 'barchart', w: 12, h: 9, unit: 'short', hidden: ['churned_90d_pct'],
      description: 'Customers who opened in the time range, by opening week: how many, and how many reached intensive care, potential separation or separation within 90 days of opening (churned_90d_pct in the tooltip). Cohorts younger than 90 days are still open.',
      sql: [`SELECT formatDateTime(cohort, '%Y-%m-%d') AS cohort_week, customers, churned_90d, round(100 * churned_90d / customers, 1) AS churned_90d_pct
FROM (
  SELECT toMonday(c.opened_at) AS cohort, count() AS customers,
    countIf(t.customer_id != '' AND t.first_at <= c.opened_at + INTERVAL 90 DAY) AS churned_90d
  FROM (
    SELECT customer_id, assumeNotNull(opened_at) AS opened_at
    FROM dash_customers
    WHERE $__timeFilter(opened_at) AND ${CUSTOMERS}
  ) AS c
  LEFT JOIN (
    SELECT customer_id, min(occurred_at) AS first_at
    FROM dash_transitions_v1 FINAL
    WHERE occurred_at >= $__fromTime AND to_stage IN ('intensive_care', 'potential_separation', 'separation') AND ${BRANCH} AND ${SEGMENT}
    GROUP BY customer_id
  ) AS t ON t.customer_id = c.customer_id
  GROUP BY cohort
)
ORDER BY cohort_week`],
    },
    {
      title: 'Value at risk by stage', type: 'table', w: 12, h: 9,
      description: 'Per lifecycle stage: customers, mean churn probability, expected lifetime value and value at risk (customer snapshot).',
      units: { avg_churn_probability: 'percentunit' },
      sql: [`SELECT lifecycle_stage AS stage, count() AS customers, round(avg(churn_probability), 4) AS avg_churn_probability,
  round(sum(expected_value)) AS expected_value, round(sum(value_at_risk)) AS value_at_risk
FROM dash_customers
WHERE ${CUSTOMERS}
GROUP BY stage
ORDER BY value_at_risk DESC`],
    },
    {
      title: 'Stage transitions over time', type: 'timeseries', w: 12, h: 9, unit: 'short',
      description: 'Customers entering each lifecycle stage per interval (event time).',
      sql: [`SELECT $__timeInterval(occurred_at) AS time, to_stage, count() AS transitions
FROM dash_transitions_v1 FINAL
WHERE ${TRANSITIONS}
GROUP BY time, to_stage
ORDER BY time`],
    },
    {
      title: 'Most frequent stage transitions', type: 'barchart', w: 12, h: 9, horizontal: true, unit: 'short',
      description: 'From → to stage changes in the time range (top 15).',
      sql: [`SELECT concat(from_stage, ' → ', to_stage) AS transition, count() AS transitions
FROM dash_transitions_v1 FINAL
WHERE ${TRANSITIONS}
GROUP BY transition
ORDER BY transitions DESC
LIMIT 15`],
    },
    {
      title: 'Activity by channel', type: 'timeseries', w: 12, h: 9, unit: 'short',
      description: 'Scored transactions per interval and channel (event time; branch of the transaction, segment of the customer).',
      sql: [`SELECT $__timeInterval(occurred_at) AS time, channel, count() AS transactions
FROM dash_tx_v1 FINAL
WHERE $__timeFilter(occurred_at) AND ${BRANCH} AND ${CHANNEL} AND ${SEGMENT}
GROUP BY time, channel
ORDER BY time`],
    },
    {
      title: 'Active customers and their churn probability', type: 'timeseries', w: 12, h: 9, unit: 'short', rightAxis: { avg_churn_probability: 'percentunit' },
      description: 'Customers with a transaction in each interval, and the mean churn probability the model gave them then.',
      sql: [`SELECT $__timeInterval(occurred_at) AS time, uniqExact(customer_id) AS active_customers, round(avg(churn_probability), 4) AS avg_churn_probability
FROM dash_tx_v1 FINAL
WHERE $__timeFilter(occurred_at) AND ${BRANCH} AND ${CHANNEL} AND ${SEGMENT}
GROUP BY time
ORDER BY time`],
    },
  ],
};

// --- Loyalty --------------------------------------------------------------------------------------

const loyalty: DashboardSpec = {
  uid: 'vafa-loyalty',
  title: 'vafa · Loyalty',
  description: 'Points earned, redeemed and expired; the points liability; tiers; top earners.',
  clock: 'event-time',
  time: { from: 'now-30d', to: 'now' },
  refresh: '1m',
  variables: [BRANCH_VAR, { name: 'channel', label: 'Channel', type: 'custom', query: TX_CHANNELS.join(',') }, SEGMENT_VAR],
  panels: [
    {
      title: 'Points in the range', type: 'stat', w: 14, h: 4, unit: 'short',
      description: 'Points earned (earn + bonus), redeemed, expired and reversed in the time range (points ledger; the channel filter keeps only movements of that channel: redemptions and expiries carry none).',
      sql: [`SELECT sumIf(points, kind IN ('earn', 'bonus')) AS earned, -sumIf(points, kind = 'redeem') AS redeemed, -sumIf(points, kind = 'expire') AS expired,
  -sumIf(points, kind = 'reverse') AS reversed
FROM dash_ledger_v1 FINAL
WHERE ${LEDGER}`],
    },
    {
      title: 'Points liability now', type: 'stat', w: 10, h: 4, unit: 'short',
      description: 'Outstanding points of the customers in the branch and segment filters (customer snapshot), and how many members hold any.',
      sql: [`SELECT sum(points_balance) AS outstanding_points, countIf(points_balance > 0) AS members_with_points
FROM dash_customers
WHERE ${CUSTOMERS}`],
    },
    {
      title: 'Points by movement', type: 'timeseries', w: 12, h: 9, unit: 'short',
      description: 'Points moved per interval by kind (earn, bonus, redeem, expire, reverse), as positive amounts.',
      sql: [`SELECT $__timeInterval(occurred_at) AS time, kind, sum(abs(points)) AS moved
FROM dash_ledger_v1 FINAL
WHERE ${LEDGER} AND points != 0
GROUP BY time, kind
ORDER BY time`],
    },
    {
      title: 'Points liability over time', type: 'timeseries', w: 12, h: 9, unit: 'short',
      description: 'Outstanding points at the end of each interval: the liability now less every movement after the interval (so only movements since the start of the range are read). Branch and segment filters; channel does not apply.',
      sql: [`WITH (SELECT sum(points_balance) FROM dash_customers WHERE ${CUSTOMERS}) AS liability_now
SELECT time, liability_now - (moved_since_start - moved_until_then) AS liability
FROM (
  SELECT $__timeInterval(occurred_at) AS time,
    sum(sum(points)) OVER (ORDER BY time ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS moved_until_then,
    sum(sum(points)) OVER () AS moved_since_start
  FROM dash_ledger_v1 FINAL
  WHERE occurred_at >= $__fromTime AND ${BRANCH} AND ${SEGMENT_VIA_CUSTOMER}
  GROUP BY time
)
WHERE time <= $__toTime
ORDER BY time`],
    },
    {
      title: 'Points by channel', type: 'barchart', w: 12, h: 9, unit: 'short',
      description: 'Points earned, redeemed and expired per transaction channel in the time range ("(none)": redemptions, expiries, credits).',
      sql: [`SELECT if(channel = '', '(none)', channel) AS channel_name, sumIf(points, kind IN ('earn', 'bonus')) AS earned,
  -sumIf(points, kind = 'redeem') AS redeemed, -sumIf(points, kind = 'expire') AS expired
FROM dash_ledger_v1 FINAL
WHERE ${LEDGER}
GROUP BY channel_name
ORDER BY earned DESC`],
    },
    {
      title: 'Points by channel and rule', type: 'table', w: 12, h: 9,
      description: 'Per channel and earning rule: movements and points earned, redeemed, expired and reversed in the time range.',
      sql: [`SELECT if(channel = '', '(none)', channel) AS channel_name, rule_id AS rule, count() AS movements,
  sumIf(points, kind IN ('earn', 'bonus')) AS earned, -sumIf(points, kind = 'redeem') AS redeemed,
  -sumIf(points, kind = 'expire') AS expired, -sumIf(points, kind = 'reverse') AS reversed
FROM dash_ledger_v1 FINAL
WHERE ${LEDGER}
GROUP BY channel_name, rule
ORDER BY earned DESC`],
    },
    {
      title: 'Tier mix', type: 'piechart', w: 8, h: 9, unit: 'short',
      description: 'Members per loyalty tier (customer snapshot).',
      sql: [`SELECT if(tier = '', '(none)', tier) AS tier_name, count() AS members
FROM dash_customers
WHERE ${CUSTOMERS}
GROUP BY tier_name
ORDER BY members DESC`],
    },
    {
      title: 'Leaderboard: top earners', type: 'table', w: 16, h: 9,
      description: 'The 20 customers who earned the most points in the time range, with their tier and balance after their last movement in it.',
      sql: [`SELECT customer_id AS customer, sumIf(points, kind IN ('earn', 'bonus')) AS points_earned, countIf(kind IN ('earn', 'bonus')) AS earning_movements,
  argMax(tier, (occurred_at, stream_seq)) AS current_tier, argMax(balance_after, (occurred_at, stream_seq)) AS balance
FROM dash_ledger_v1 FINAL
WHERE ${LEDGER}
GROUP BY customer
HAVING points_earned > 0
ORDER BY points_earned DESC, customer
LIMIT 20`],
    },
  ],
};

// --- Campaigns ------------------------------------------------------------------------------------

const campaignTotals = `SELECT campaign_id, countIf(holdout = 0) AS n_notified, countIf(holdout = 1) AS n_held_out, sumIf(cost, holdout = 0) AS cost_sum
  FROM dash_offers_v1 FINAL
  WHERE ${OFFERS}
  GROUP BY campaign_id`;
const campaignConversions = `SELECT campaign_id, uniqExactIf(offer_id, holdout = 0) AS n_converted, uniqExactIf(offer_id, holdout = 1) AS n_converted_holdout
  FROM dash_conversions_v1 FINAL
  WHERE ${CONVERSIONS}
  GROUP BY campaign_id`;
/** Per campaign: offers notified and held out (`o.*`) joined with their conversions in each group (`c.*`). */
const CAMPAIGN_RESULTS = `FROM (
  ${campaignTotals}
) AS o
LEFT JOIN (
  ${campaignConversions}
) AS c ON c.campaign_id = o.campaign_id`;

const campaigns: DashboardSpec = {
  uid: 'vafa-campaigns',
  title: 'vafa · Campaigns',
  description: 'Offers notified and converted, uplift over the holdout group, cost per conversion (surveys: see Satisfaction).',
  clock: 'event-time',
  time: { from: 'now-30d', to: 'now' },
  refresh: '1m',
  variables: [
    dimVariable('campaign', 'Campaign', 'campaign'),
    { name: 'channel', label: 'Offer channel', type: 'custom', query: OFFER_CHANNELS.join(',') },
    BRANCH_VAR, SEGMENT_VAR,
  ],
  panels: [
    {
      title: 'Campaign totals', type: 'stat', w: 24, h: 4,
      description: 'Offers decided in the time range: notified (treated), held out (control group), converted (treated offers whose goal was met in their window), conversion rate, uplift over the holdout in percentage points, cost and cost per conversion.',
      units: { conversion_pct: 'percent', uplift_pp: 'short' },
      sql: [`SELECT sum(o.n_notified) AS notified, sum(o.n_held_out) AS held_out, sum(c.n_converted) AS converted,
  round(100 * converted / nullIf(notified, 0), 2) AS conversion_pct,
  round(conversion_pct - 100 * sum(c.n_converted_holdout) / nullIf(held_out, 0), 2) AS uplift_pp,
  round(sum(o.cost_sum)) AS cost, round(cost / nullIf(converted, 0), 2) AS cost_per_conversion
${CAMPAIGN_RESULTS}`],
    },
    {
      title: 'Campaign results', type: 'table', w: 24, h: 9,
      description: 'Per campaign: notified and held-out offers, conversions in each group, conversion rates, uplift (treated − holdout, percentage points), cost per conversion and per incremental conversion (conversions above what the holdout rate predicts).',
      sql: [`SELECT o.campaign_id AS campaign, o.n_notified AS notified, o.n_held_out AS held_out, c.n_converted AS converted, c.n_converted_holdout AS converted_holdout,
  round(100 * converted / nullIf(notified, 0), 2) AS conversion_pct,
  round(100 * converted_holdout / nullIf(held_out, 0), 2) AS holdout_conversion_pct,
  round(conversion_pct - holdout_conversion_pct, 2) AS uplift_pp,
  round(o.cost_sum) AS cost,
  round(cost / nullIf(converted, 0), 2) AS cost_per_conversion,
  round(cost / nullIf(converted - notified * converted_holdout / nullIf(held_out, 0), 0), 2) AS cost_per_incremental_conversion
${CAMPAIGN_RESULTS}
ORDER BY notified DESC, campaign`],
    },
    {
      title: 'Conversion rate: treated vs holdout', type: 'barchart', w: 12, h: 9, unit: 'percent',
      description: 'Per campaign, the conversion rate of the notified offers and of the holdout group; the gap is the uplift.',
      sql: [`SELECT o.campaign_id AS campaign, round(100 * c.n_converted / nullIf(o.n_notified, 0), 2) AS treated_pct,
  round(100 * c.n_converted_holdout / nullIf(o.n_held_out, 0), 2) AS holdout_pct
${CAMPAIGN_RESULTS}
ORDER BY o.n_notified DESC, campaign
LIMIT 20`],
    },
    {
      title: 'Cost per conversion', type: 'barchart', w: 12, h: 9, unit: 'short',
      description: 'Per campaign, cost per conversion and per incremental conversion (currency major units).',
      sql: [`SELECT o.campaign_id AS campaign, round(o.cost_sum / nullIf(c.n_converted, 0), 2) AS cost_per_conversion,
  round(o.cost_sum / nullIf(c.n_converted - o.n_notified * c.n_converted_holdout / nullIf(o.n_held_out, 0), 0), 2) AS cost_per_incremental_conversion
${CAMPAIGN_RESULTS}
ORDER BY o.n_notified DESC, campaign
LIMIT 20`],
    },
    {
      title: 'Notified and converted over time', type: 'timeseries', w: 16, h: 9, unit: 'short',
      description: 'Offers notified per interval, and conversions of the offers notified in each interval (by the time of the offer).',
      sql: [`SELECT time, sum(notified) AS notified, sum(converted) AS converted
FROM (
  SELECT $__timeInterval(created_at) AS time, countIf(holdout = 0) AS notified, toUInt64(0) AS converted
  FROM dash_offers_v1 FINAL
  WHERE ${OFFERS}
  GROUP BY time
  UNION ALL
  SELECT $__timeInterval(offered_at) AS time, toUInt64(0) AS notified, uniqExactIf(offer_id, holdout = 0) AS converted
  FROM dash_conversions_v1 FINAL
  WHERE ${CONVERSIONS}
  GROUP BY time
)
GROUP BY time
ORDER BY time`],
    },
    {
      title: 'Offers by delivery channel', type: 'piechart', w: 8, h: 9, unit: 'short',
      description: 'Notified offers per delivery channel (SMS, app, email, branch teller prompt).',
      sql: [`SELECT channel AS delivery_channel, countIf(holdout = 0) AS notified
FROM dash_offers_v1 FINAL
WHERE ${OFFERS}
GROUP BY delivery_channel
ORDER BY notified DESC`],
    },
    {
      title: 'Held back: consent and membership', type: 'table', w: 24, h: 8,
      description: 'Offers decided in the time range but never sent because the customer had not consented to the channel (no_consent:<channel>) or is not a club member (not_member, members-only offers): per campaign, offer and reason, the decisions held back and the customers they concern (offers_held; surveys held back are in v_offers_held). Not counted as notified, held out or converted above.',
      sql: [`SELECT campaign_id AS campaign, offer_code AS offer, reason, count() AS held_back, uniqExact(customer_id) AS customers
FROM dash_held_v1 FINAL
WHERE ${HELD}
GROUP BY campaign, offer, reason
ORDER BY held_back DESC, campaign, offer, reason`],
    },
  ],
};

// --- Satisfaction ---------------------------------------------------------------------------------

const DELIVERY = all('channel IN (${delivery:singlequote})', 'delivery');
/** Feedback in the range: branch and channel as recorded on the feedback, segment through the snapshot. */
const FEEDBACK = `$__timeFilter(occurred_at) AND ${BRANCH} AND ${CHANNEL} AND ${SEGMENT_VIA_CUSTOMER}`;
/** Scored answers (either scale) in the range, of the selected campaigns. */
const SCORES = `${FEEDBACK} AND ${CAMPAIGN} AND score IS NOT NULL AND scale != ''`;
/** Survey triggers sent in the range. */
const SURVEYS = `$__timeFilter(created_at) AND ${CAMPAIGN} AND ${DELIVERY} AND ${BRANCH} AND ${SEGMENT}`;
/** Feedback is sparse: time series use buckets of at least a day. */
const DAYS = (col: string): string => `toStartOfInterval(toDateTime(${col}), INTERVAL greatest(86400, $__interval_s) second)`;

/** CSAT (% of csat5 answers scoring 4–5) and NPS (% 9–10 − % 0–6 of nps10 answers), as in the satisfaction views. */
const CSAT_NPS = `round(100 * countIf(scale = 'csat5' AND score >= 4) / nullIf(countIf(scale = 'csat5'), 0), 1) AS csat_pct,
  round(100 * (countIf(scale = 'nps10' AND score >= 9) - countIf(scale = 'nps10' AND score <= 6)) / nullIf(countIf(scale = 'nps10'), 0), 1) AS nps`;

/** Survey triggers sent in the range, each with its answer (if any: the earliest, as in v_survey_outcomes). */
const surveyOutcomes = (cols: string): string => `(
  SELECT ${cols}
  FROM dash_surveys_v1 FINAL
  WHERE ${SURVEYS}
) AS s
LEFT JOIN (
  SELECT offer_id, min(converted_at) AS answered_at, tupleElement(argMin(tuple(score), converted_at), 1) AS score
  FROM dash_survey_answers_v1 FINAL
  WHERE $__timeFilter(offered_at) AND ${CAMPAIGN}
  GROUP BY offer_id
) AS a ON a.offer_id = s.offer_id`;
/** Measures over surveyOutcomes rows (a.offer_id is empty for an unanswered survey). */
const SURVEY_MEASURES = `count() AS sent, countIf(a.offer_id != '') AS answered, round(100 * answered / sent, 1) AS response_pct`;
const SURVEY_SCORES = `round(100 * countIf(s.survey_scale = 'csat5' AND a.score >= 4) / nullIf(countIf(s.survey_scale = 'csat5' AND a.score IS NOT NULL), 0), 1) AS csat_pct,
  round(100 * (countIf(s.survey_scale = 'nps10' AND a.score >= 9) - countIf(s.survey_scale = 'nps10' AND a.score <= 6)) / nullIf(countIf(s.survey_scale = 'nps10' AND a.score IS NOT NULL), 0), 1) AS nps`;

/** Complaints opened in the range with their resolution (the earliest resolution of the same customer naming them), if any. */
const complaintsWithResolution = (cols: string): string => `(
  SELECT ${cols}
  FROM dash_feedback_v1 FINAL
  WHERE ${FEEDBACK} AND kind = 'complaint'
) AS c
LEFT JOIN (
  SELECT customer_id, resolves_feedback_id AS complaint_id, min(occurred_at) AS resolved_at
  FROM dash_feedback_v1 FINAL
  WHERE occurred_at >= $__fromTime AND kind = 'resolution' AND resolves_feedback_id != ''
  GROUP BY customer_id, complaint_id
) AS r ON r.customer_id = c.customer_id AND r.complaint_id = c.feedback_id`;
const RESOLUTION_MEASURES = `count() AS complaints, countIf(r.complaint_id != '') AS resolved, complaints - resolved AS still_open,
  if(resolved > 0, round(quantileExactIf(0.5)(dateDiff('second', c.occurred_at, r.resolved_at) / 3600, r.complaint_id != ''), 1), NULL) AS median_hours_to_resolve,
  if(resolved > 0, round(quantileExactIf(0.9)(dateDiff('second', c.occurred_at, r.resolved_at) / 3600, r.complaint_id != ''), 1), NULL) AS p90_hours_to_resolve`;

const satisfaction: DashboardSpec = {
  uid: 'vafa-satisfaction',
  title: 'vafa · Satisfaction',
  description: 'Customer satisfaction: CSAT and NPS, complaints and their resolution, churn of complainers, survey campaigns.',
  clock: 'event-time',
  time: { from: 'now-30d', to: 'now' },
  refresh: '1m',
  variables: [
    BRANCH_VAR, SEGMENT_VAR,
    { name: 'channel', label: 'Feedback channel', type: 'custom', query: TX_CHANNELS.join(',') },
    dimVariable('campaign', 'Campaign', 'campaign'),
    { name: 'delivery', label: 'Survey channel', type: 'custom', query: OFFER_CHANNELS.join(',') },
  ],
  panels: [
    {
      title: 'Satisfaction in the range', type: 'stat', w: 14, h: 4,
      description: 'Feedback received in the time range (branch, feedback channel and segment filters; the campaign filter applies to the scores only): CSAT (% of csat5 answers scoring 4–5), NPS (% promoters 9–10 − % detractors 0–6 of nps10 answers), scored answers, complaints and compliments.',
      units: { csat_pct: 'percent' },
      sql: [`SELECT
  round(100 * countIf(scale = 'csat5' AND score >= 4 AND ${CAMPAIGN}) / nullIf(countIf(scale = 'csat5' AND score IS NOT NULL AND ${CAMPAIGN}), 0), 1) AS csat_pct,
  round(100 * (countIf(scale = 'nps10' AND score >= 9 AND ${CAMPAIGN}) - countIf(scale = 'nps10' AND score <= 6 AND ${CAMPAIGN}))
    / nullIf(countIf(scale = 'nps10' AND score IS NOT NULL AND ${CAMPAIGN}), 0), 1) AS nps,
  countIf(score IS NOT NULL AND scale != '' AND ${CAMPAIGN}) AS scored_answers,
  countIf(kind = 'complaint') AS complaints,
  countIf(kind = 'compliment') AS compliments
FROM dash_feedback_v1 FINAL
WHERE ${FEEDBACK}`],
    },
    {
      title: 'Surveys in the range', type: 'stat', w: 10, h: 4,
      description: 'Survey campaigns, measured like conversions: surveys sent in the time range (campaign, survey channel, branch and segment filters), how many were answered (whenever the answer came), the response rate and the cost per answer (currency major units).',
      units: { response_pct: 'percent' },
      sql: [`SELECT ${SURVEY_MEASURES}, round(sum(s.cost) / nullIf(answered, 0), 2) AS cost_per_answer
FROM ${surveyOutcomes('offer_id, cost')}`],
    },
    {
      title: 'CSAT and NPS over time', type: 'timeseries', w: 16, h: 9, unit: 'short', hidden: ['scored_answers'],
      description: 'CSAT (%) and NPS per day (or per interval when longer) of the answers received then; scored answers in the tooltip.',
      sql: [`SELECT ${DAYS('occurred_at')} AS time, ${CSAT_NPS}, count() AS scored_answers
FROM dash_feedback_v1 FINAL
WHERE ${SCORES}
GROUP BY time
ORDER BY time`],
    },
    {
      title: 'Feedback by kind', type: 'piechart', w: 8, h: 9, unit: 'short',
      description: 'Feedback received in the time range by kind: survey answers, complaints, compliments, resolutions.',
      sql: [`SELECT kind AS feedback_kind, count() AS received
FROM dash_feedback_v1 FINAL
WHERE ${FEEDBACK}
GROUP BY feedback_kind
ORDER BY received DESC`],
    },
    {
      title: 'CSAT and NPS by branch', type: 'barchart', w: 12, h: 9, unit: 'short', hidden: ['scored_answers'],
      description: 'Per branch recorded on the feedback (the 20 with the most scored answers): CSAT (%) and NPS.',
      sql: [`SELECT if(branch_id = '', '(none)', branch_id) AS branch, ${CSAT_NPS}, count() AS scored_answers
FROM dash_feedback_v1 FINAL
WHERE ${SCORES}
GROUP BY branch
ORDER BY scored_answers DESC, branch
LIMIT 20`],
    },
    {
      title: 'CSAT and NPS by channel', type: 'barchart', w: 12, h: 9, unit: 'short', hidden: ['scored_answers'],
      description: 'Per channel recorded on the feedback ("(none)": answers that named none): CSAT (%) and NPS.',
      sql: [`SELECT if(channel = '', '(none)', channel) AS feedback_channel, ${CSAT_NPS}, count() AS scored_answers
FROM dash_feedback_v1 FINAL
WHERE ${SCORES}
GROUP BY feedback_channel
ORDER BY scored_answers DESC, feedback_channel`],
    },
    {
      title: 'CSAT and NPS by lifecycle stage', type: 'barchart', w: 12, h: 9, unit: 'short', hidden: ['scored_answers'],
      description: 'Per lifecycle stage of the customer when the feedback arrived: CSAT (%) and NPS.',
      sql: [`SELECT if(lifecycle_stage = '', '(none)', lifecycle_stage) AS stage, ${CSAT_NPS}, count() AS scored_answers
FROM dash_feedback_v1 FINAL
WHERE ${SCORES}
GROUP BY stage
ORDER BY indexOf([${STAGES.map((x) => `'${x}'`).join(', ')}], stage), stage`],
    },
    {
      title: 'Scores by campaign', type: 'table', w: 12, h: 9,
      description: 'Per campaign the answer belongs to (a survey answer gets its survey\'s campaign; "(none)": unsolicited feedback): scored answers and CSAT on the 1–5 scale, and on the 0–10 scale with NPS.',
      sql: [`SELECT if(campaign_id = '', '(none)', campaign_id) AS campaign,
  countIf(scale = 'csat5') AS csat_answers, round(100 * countIf(scale = 'csat5' AND score >= 4) / nullIf(csat_answers, 0), 1) AS csat_pct,
  countIf(scale = 'nps10') AS nps_answers, round(100 * (countIf(scale = 'nps10' AND score >= 9) - countIf(scale = 'nps10' AND score <= 6)) / nullIf(nps_answers, 0), 1) AS nps
FROM dash_feedback_v1 FINAL
WHERE ${SCORES}
GROUP BY campaign
ORDER BY csat_answers + nps_answers DESC, campaign`],
    },
    {
      title: 'Complaints and complaint rate', type: 'timeseries', w: 12, h: 9, unit: 'short', rightAxis: { complaints_per_1000_active: 'short' },
      description: 'Complaints per day (or interval), and per 1,000 customers who transacted in it (branch, channel and segment filters on both).',
      sql: [`SELECT t.time AS time, c.complaints AS complaints, round(1000 * c.complaints / t.active_customers, 2) AS complaints_per_1000_active
FROM (
  SELECT ${DAYS('occurred_at')} AS time, uniqExact(customer_id) AS active_customers
  FROM dash_tx_v1 FINAL
  WHERE $__timeFilter(occurred_at) AND ${BRANCH} AND ${CHANNEL} AND ${SEGMENT}
  GROUP BY time
) AS t
LEFT JOIN (
  SELECT ${DAYS('occurred_at')} AS time, count() AS complaints
  FROM dash_feedback_v1 FINAL
  WHERE ${FEEDBACK} AND kind = 'complaint'
  GROUP BY time
) AS c ON c.time = t.time
ORDER BY time`],
    },
    {
      title: 'Time to resolution', type: 'timeseries', w: 12, h: 9, unit: 'short', rightAxis: { median_hours_to_resolve: 'h', p90_hours_to_resolve: 'h' },
      description: 'Complaints opened per day (or interval), how many of them are still open, and the median and 90th percentile of hours to their resolution (the earliest resolution naming them).',
      sql: [`SELECT ${DAYS('c.occurred_at')} AS time, ${RESOLUTION_MEASURES}
FROM ${complaintsWithResolution('feedback_id, customer_id, occurred_at')}
GROUP BY time
ORDER BY time`],
    },
    {
      title: 'Complaints by branch', type: 'table', w: 12, h: 9,
      description: 'Complaints opened in the time range per branch recorded on them: complainers, resolved, still open, median and 90th percentile of hours to resolution.',
      sql: [`SELECT if(c.branch_id = '', '(none)', c.branch_id) AS branch, uniqExact(c.customer_id) AS complainers, ${RESOLUTION_MEASURES}
FROM ${complaintsWithResolution('feedback_id, customer_id, branch_id, occurred_at')}
GROUP BY branch
ORDER BY complaints DESC, branch
LIMIT 25`],
    },
    {
      title: 'Churn: complainers and the others', type: 'barchart', w: 12, h: 9, unit: 'percent', hidden: ['customers'],
      description: 'Share of customers now in potential separation or separation (customer snapshot, branch and segment filters): those who complained in the time range against the others.',
      sql: [`SELECT if(f.customer_id != '', 'complained', 'did not complain') AS customers_group, count() AS customers,
  round(100 * countIf(s.lifecycle_stage IN ('separation', 'potential_separation')) / customers, 2) AS churned_pct
FROM (
  SELECT customer_id, lifecycle_stage
  FROM dash_customers
  WHERE ${CUSTOMERS}
) AS s
LEFT JOIN (
  SELECT DISTINCT customer_id
  FROM dash_feedback_v1 FINAL
  WHERE ${FEEDBACK} AND kind = 'complaint'
) AS f ON f.customer_id = s.customer_id
GROUP BY customers_group
ORDER BY customers_group`],
    },
    {
      title: 'Survey campaigns', type: 'table', w: 24, h: 8,
      description: 'Per survey campaign, survey, delivery channel and scale, for the surveys sent in the time range: sent, customers asked, answered, response rate, CSAT or NPS of the answers, median hours to answer, cost and cost per answer.',
      sql: [`SELECT s.campaign_id AS campaign, s.offer_code AS survey, s.channel AS delivery_channel, s.survey_scale AS scale,
  ${SURVEY_MEASURES}, uniqExact(s.customer_id) AS customers_asked,
  ${SURVEY_SCORES},
  if(answered > 0, round(quantileExactIf(0.5)(dateDiff('second', s.created_at, a.answered_at) / 3600, a.offer_id != ''), 1), NULL) AS median_hours_to_answer,
  round(sum(s.cost)) AS cost, round(cost / nullIf(answered, 0), 2) AS cost_per_answer
FROM ${surveyOutcomes('offer_id, customer_id, campaign_id, offer_code, channel, survey_scale, cost, created_at')}
GROUP BY campaign, survey, delivery_channel, scale
ORDER BY sent DESC, campaign, survey`],
    },
    {
      title: 'Surveys sent and answered', type: 'timeseries', w: 12, h: 9, unit: 'short', rightAxis: { response_pct: 'percent' },
      description: 'Surveys sent per day (or interval), how many of them were answered (by the day the survey was sent) and the response rate.',
      sql: [`SELECT ${DAYS('s.created_at')} AS time, ${SURVEY_MEASURES}
FROM ${surveyOutcomes('offer_id, created_at')}
GROUP BY time
ORDER BY time`],
    },
    {
      title: 'Surveys by lifecycle stage', type: 'barchart', w: 12, h: 9, unit: 'short', hidden: ['sent', 'answered'],
      description: 'Per lifecycle stage of the customer when the survey was sent: response rate (%), CSAT (%) and NPS of the answers.',
      sql: [`SELECT if(s.lifecycle_stage = '', '(none)', s.lifecycle_stage) AS stage, ${SURVEY_MEASURES}, ${SURVEY_SCORES}
FROM ${surveyOutcomes('offer_id, lifecycle_stage, survey_scale')}
GROUP BY stage
ORDER BY indexOf([${STAGES.map((x) => `'${x}'`).join(', ')}], stage), stage`],
    },
  ],
};

// --- Operations -----------------------------------------------------------------------------------

const latency = (col: string): string => `SELECT $__timeInterval(flushed_at) AS time, quantile(0.5)(${col}) AS p50, quantile(0.95)(${col}) AS p95,
  quantile(0.99)(${col}) AS p99, max(${col}) AS largest
FROM dash_batches_v1 FINAL
WHERE ${BATCHES}
GROUP BY time
ORDER BY time`;

const operations: DashboardSpec = {
  uid: 'vafa-operations',
  title: 'vafa · Operations',
  description: 'Scorer throughput, consumer lag, batch sizes, model and sink latency, dead letters (one row per micro-batch).',
  clock: 'wall-clock',
  time: { from: 'now-1h', to: 'now' },
  refresh: '10s',
  variables: [{ name: 'instance', label: 'Scorer instance', type: 'query', refresh: 2, query: 'SELECT DISTINCT instance FROM dash_batches_v1 WHERE $__timeFilter(flushed_at) ORDER BY instance' }],
  panels: [
    {
      title: 'Throughput', type: 'stat', w: 16, h: 4,
      description: 'Events scored in the time range, their mean rate, micro-batches and messages sent to the dead-letter stream.',
      units: { events_per_s: 'short' },
      sql: [`SELECT sum(events) AS events_scored, round(events_scored / greatest(1, dateDiff('second', $__fromTime, $__toTime)), 1) AS events_per_s,
  count() AS batches, sum(dlq) AS dead_letters
FROM dash_batches_v1 FINAL
WHERE ${BATCHES}`],
    },
    {
      title: 'Consumer lag now', type: 'stat', w: 8, h: 4, unit: 'short',
      description: 'Messages waiting, summed over partitions, as of each partition\'s latest batch in the range.',
      sql: [`SELECT sum(lag) AS pending
FROM (
  SELECT partition, argMax(pending, flushed_at) AS lag
  FROM dash_batches_v1 FINAL
  WHERE ${BATCHES}
  GROUP BY partition
)`],
    },
    {
      title: 'Events per second', type: 'timeseries', w: 12, h: 8, unit: 'short',
      description: 'Events scored per second, per scorer instance.',
      sql: [`SELECT $__timeInterval(flushed_at) AS time, instance, sum(events) / $__interval_s AS events_per_s
FROM dash_batches_v1 FINAL
WHERE ${BATCHES}
GROUP BY time, instance
ORDER BY time`],
    },
    {
      title: 'Consumer lag by partition', type: 'timeseries', w: 12, h: 8, unit: 'short',
      description: 'Largest number of messages waiting after a batch, per partition of tx.>.',
      sql: [`SELECT $__timeInterval(flushed_at) AS time, concat('partition ', toString(partition)) AS partition_name, max(pending) AS max_pending
FROM dash_batches_v1 FINAL
WHERE ${BATCHES}
GROUP BY time, partition_name
ORDER BY time`],
    },
    {
      title: 'Batch size', type: 'timeseries', w: 12, h: 8, unit: 'short',
      description: 'Events per micro-batch: mean, 95th percentile and largest.',
      sql: [`SELECT $__timeInterval(flushed_at) AS time, round(avg(events), 1) AS mean, quantile(0.95)(events) AS p95, max(events) AS largest
FROM dash_batches_v1 FINAL
WHERE ${BATCHES}
GROUP BY time
ORDER BY time`],
    },
    {
      title: 'Model latency per batch', type: 'timeseries', w: 12, h: 8, unit: 'ms',
      description: 'Wall time of the churn model step per micro-batch (one ONNX run per batch): the run itself (about 1 µs a row for the shipped model) plus the wait for its turn on the scorer\'s main thread (onnxruntime-node runs it from setImmediate), so it also shows how busy that thread is. Percentiles and largest.',
      sql: [latency('model_ms')],
    },
    {
      title: 'Sink flush latency', type: 'timeseries', w: 12, h: 8, unit: 'ms',
      description: 'Time to make a micro-batch\'s rows durable in ClickHouse: percentiles and largest.',
      sql: [latency('flush_ms')],
    },
    {
      title: 'Dead letters per second', type: 'timeseries', w: 12, h: 8, unit: 'short',
      description: 'Messages sent to the DLQ stream (undecodable or unprocessable) per second.',
      sql: [`SELECT $__timeInterval(flushed_at) AS time, sum(dlq) / $__interval_s AS dlq_per_s
FROM dash_batches_v1 FINAL
WHERE ${BATCHES}
GROUP BY time
ORDER BY time`],
    },
  ],
};

export const DASHBOARDS: readonly DashboardSpec[] = [retention, loyalty, campaigns, satisfaction, operations];

// --- Access audit (administrators only) -----------------------------------------------------------------

/** Audit rows of the range; `access_audit` is sorted by customer, so a time range reads the whole table. */
const AUDIT = '$__timeFilter(at)';

/**
 * The access audit (docs/security.md) is the operator's: every dashboard above is read by the retention and
 * loyalty staff it watches. So it is a dashboard of its own, imported by docker/grafana/audit-org.sh into a
 * Grafana organization of its own with AUDIT_DATASOURCE, never among DASHBOARDS (the built-in dashboard
 * serves those to the `read` scope, and this one to `admin` only), and it reads `access_audit` and
 * `v_access_audit_daily`, not `dash_*`.
 */
const accessAudit: DashboardSpec = {
  uid: 'vafa-access-audit',
  tag: 'vafa-admin',
  title: 'vafa · Access audit',
  description: 'Who read which customer\'s data, admin actions, sign-ins and refused requests (vafa.access_audit). For administrators only.',
  clock: 'wall-clock',
  time: { from: 'now-7d', to: 'now' },
  refresh: '1m',
  variables: [],
  datasource: AUDIT_DATASOURCE,
  panels: [
    {
      title: 'Access in the range', type: 'stat', w: 24, h: 4, unit: 'short',
      description: 'Audited requests in the time range, the customers whose data was read, who made them (principals: key ids, proxy users, cli users), refused requests (401/403 and other 4xx/5xx answers) and admin actions.',
      sql: [`SELECT count() AS requests, uniqExactIf(customer_id, customer_id != '' AND action LIKE 'customer.%') AS customers_read, uniqExactIf(principal, principal != '') AS principals,
  countIf(status >= 400) AS refused, countIf(action LIKE 'admin.%') AS admin_actions
FROM access_audit FINAL
WHERE ${AUDIT}`],
    },
    {
      title: 'Requests per day by action', type: 'timeseries', w: 12, h: 9, unit: 'short',
      description: 'Audited requests per day and action (v_access_audit_daily; days in UTC).',
      sql: [`SELECT toDateTime(day) AS time, action, sum(requests) AS requests
FROM v_access_audit_daily
WHERE day >= toDate($__fromTime) AND day <= toDate($__toTime)
GROUP BY time, action
ORDER BY time`],
    },
    {
      title: 'Who read customer data', type: 'table', w: 12, h: 9,
      description: 'Per principal in the time range: requests, distinct customers whose data they read, refused requests, first and last request. A principal reading many customers is worth a look.',
      sql: [`SELECT if(principal = '', '(unauthenticated)', principal) AS who, any(via) AS via, count() AS requests,
  uniqExactIf(customer_id, customer_id != '' AND action LIKE 'customer.%') AS customers_read, countIf(status >= 400) AS refused, min(at) AS first_at, max(at) AS last_at
FROM access_audit FINAL
WHERE ${AUDIT}
GROUP BY who
ORDER BY customers_read DESC, requests DESC, who
LIMIT 100`],
    },
    {
      title: 'Admin actions', type: 'table', w: 12, h: 9,
      description: 'The latest 100 admin actions in the time range (key listing and reloads, audit reads, erasures: customer_id holds the erasure id, never the customer id).',
      sql: [`SELECT at, principal, via, action, customer_id, status, remote_addr, detail
FROM access_audit FINAL
WHERE ${AUDIT} AND action LIKE 'admin.%'
ORDER BY at DESC
LIMIT 100`],
    },
    {
      title: 'Refused requests', type: 'table', w: 12, h: 9,
      description: 'The latest 100 requests answered 401 or 403 in the time range: failed sign-ins, missing or wrong keys, a scope too small.',
      sql: [`SELECT at, if(principal = '', '(unauthenticated)', principal) AS who, via, action, route, status, remote_addr, user_agent
FROM access_audit FINAL
WHERE ${AUDIT} AND status IN (401, 403)
ORDER BY at DESC
LIMIT 100`],
    },
  ],
};

/** Dashboards for administrators only: provisioned into their own folder, not served by the built-in dashboard. */
export const ADMIN_DASHBOARDS: readonly DashboardSpec[] = [accessAudit];

// --- Rendering to Grafana's JSON model -----------------------------------------------------------------

type Json = Record<string, unknown>;

function fieldConfig(p: PanelSpec): Json {
  const custom: Json = p.type === 'timeseries'
    ? { drawStyle: 'line', lineWidth: 2, fillOpacity: 10, showPoints: 'never', spanNulls: true, axisPlacement: 'auto', stacking: { group: 'A', mode: 'none' } }
    : p.type === 'barchart' ? { fillOpacity: 80, lineWidth: 1, axisPlacement: 'auto' } : p.type === 'table' ? { align: 'auto', cellOptions: { type: 'auto' } } : {};
  const overrides: Json[] = [];
  const byName = (name: string, properties: Json[]): void => {
    overrides.push({ matcher: { id: 'byName', options: name }, properties });
  };
  for (const h of p.hidden ?? []) byName(h, [{ id: 'custom.hideFrom', value: { legend: true, tooltip: false, viz: true } }]);
  for (const [name, unit] of Object.entries(p.rightAxis ?? {})) byName(name, [{ id: 'custom.axisPlacement', value: 'right' }, { id: 'unit', value: unit }]);
  for (const [name, unit] of Object.entries(p.units ?? {})) byName(name, [{ id: 'unit', value: unit }]);
  return {
    defaults: { color: { mode: p.type === 'stat' ? 'thresholds' : 'palette-classic' }, custom, mappings: [], thresholds: { mode: 'absolute', steps: [{ color: 'green', value: null }] }, unit: p.unit ?? 'short', ...(p.decimals !== undefined ? { decimals: p.decimals } : {}) },
    overrides,
  };
}

function options(p: PanelSpec): Json {
  const legend = { calcs: [], displayMode: 'list', placement: 'bottom', showLegend: true };
  switch (p.type) {
    case 'timeseries': return { legend, tooltip: { mode: 'multi', sort: 'desc' } };
    case 'barchart': return { orientation: p.horizontal ? 'horizontal' : 'auto', stacking: p.stacked ? 'normal' : 'none', showValue: 'never', groupWidth: 0.7, barWidth: 0.9, xTickLabelRotation: 0, legend, tooltip: { mode: 'multi', sort: 'none' } };
    case 'piechart': return { pieType: 'donut', reduceOptions: { calcs: ['lastNotNull'], fields: '', values: true }, legend: { displayMode: 'table', placement: 'right', showLegend: true, values: ['value', 'percent'] }, tooltip: { mode: 'single', sort: 'none' }, displayLabels: ['percent'] };
    case 'stat': return { reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false }, colorMode: 'value', graphMode: 'none', justifyMode: 'auto', orientation: 'auto', textMode: 'value_and_name', wideLayout: true, showPercentChange: false };
    case 'table': return { showHeader: true, cellHeight: 'sm', footer: { show: false, reducer: ['sum'], countRows: false, fields: '' } };
  }
}

/** Each panel with its grid position: left to right, a new row when the 24 columns are full. */
function layout(panels: PanelSpec[]): { p: PanelSpec; x: number; y: number }[] {
  let x = 0;
  let y = 0;
  let rowH = 0;
  return panels.map((p) => {
    if (x + p.w > 24) {
      x = 0;
      y += rowH;
      rowH = 0;
    }
    const at = { p, x, y };
    x += p.w;
    rowH = Math.max(rowH, p.h);
    return at;
  });
}

function variableJson(v: VariableSpec, datasource: Datasource): Json {
  const common = {
    name: v.name, label: v.label, hide: 0, multi: true, includeAll: true, skipUrlSync: false,
    current: { selected: true, text: ['All'], value: ['$__all'] },
  };
  if (v.type === 'custom') {
    const values = v.query.split(',');
    return {
      ...common, type: 'custom', query: v.query,
      options: [{ selected: true, text: 'All', value: '$__all' }, ...values.map((x) => ({ selected: false, text: x, value: x }))],
    };
  }
  return { ...common, type: 'query', datasource, definition: v.query, query: v.query, refresh: v.refresh ?? 1, regex: '', sort: 0, options: [] };
}

/** Grafana's JSON model of a dashboard (schema version 41, as in the plugin's own dashboards). */
export function renderDashboard(d: DashboardSpec): Json {
  const datasource = d.datasource ?? DATASOURCE;
  return {
    uid: d.uid,
    title: d.title,
    description: d.description,
    tags: [d.tag ?? 'vafa', d.clock],
    editable: true,
    fiscalYearStartMonth: 0,
    graphTooltip: 1,
    id: null,
    links: [{ asDropdown: false, icon: 'external link', includeVars: false, keepTime: true, tags: [d.tag ?? 'vafa'], targetBlank: false, title: d.tag ?? 'vafa', type: 'dashboards' }],
    annotations: { list: [{ builtIn: 1, datasource: { type: 'grafana', uid: '-- Grafana --' }, enable: true, hide: true, iconColor: 'rgba(0, 211, 255, 1)', name: 'Annotations & Alerts', type: 'dashboard' }] },
    panels: layout(d.panels).map(({ p, x, y }, i) => ({
      id: i + 1,
      type: p.type,
      title: p.title,
      description: p.description,
      datasource,
      gridPos: { h: p.h, w: p.w, x, y },
      fieldConfig: fieldConfig(p),
      options: options(p),
      targets: p.sql.map((sql, j) => ({
        datasource,
        editorType: 'sql',
        format: p.type === 'timeseries' ? 0 : 1,
        queryType: p.type === 'timeseries' ? 'timeseries' : 'table',
        pluginVersion: PLUGIN_VERSION,
        rawSql: sql,
        refId: String.fromCharCode(65 + j),
      })),
    })),
    refresh: d.refresh,
    schemaVersion: 41,
    templating: { list: d.variables.map((v) => variableJson(v, datasource)) },
    time: d.time,
    timepicker: {},
    timezone: 'utc',
    version: 1,
    weekStart: '',
  };
}
