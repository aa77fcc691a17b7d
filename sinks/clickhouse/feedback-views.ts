/**
 * Customer-satisfaction reporting in ClickHouse (issue 9): CSAT and NPS by bank-local day, branch,
 * channel, campaign and lifecycle stage; complaints, their rate and time to resolution; and the churn
 * rate of customers who complained against those who did not. Every view reads the ReplacingMergeTree
 * tables with FINAL, so a re-sent or replayed feedback never counts twice.
 *
 * - CSAT (`scale = 'csat5'`, scores 1–5): the share of responses scoring 4 or 5, in percent.
 * - NPS (`scale = 'nps10'`, scores 0–10): % promoters (9–10) − % detractors (0–6), from −100 to 100.
 * - The dimensions are those recorded on the feedback row: `branch_id`, `channel`, `campaign_id` as
 *   sent, and `lifecycle_stage` = the customer's stage when the feedback arrived.
 * - A complaint is resolved by the earliest `resolution` whose `resolves_feedback_id` names it (same
 *   customer); time to resolution is in hours of event time.
 * - Complaint rate per day: complaints / customers with a transaction that day (per 1,000).
 * - Churned: the customer's latest stage (customer_state) is `separation` or `potential_separation`.
 */
import { shippedPolicy } from '../../config/mod.js';
import { view, type ViewDef } from './views.js';

/** The feedback views for a bank-local day of `offsetMin` minutes east of UTC (default: the shipped rules' offset). */
export function feedbackViews(offsetMin: number = shippedPolicy().calendar.offsetMin): ViewDef[] {
  const off = Math.trunc(offsetMin);
  const day = (col: string): string => `toDate(addMinutes(${col}, ${off}))`;
  return [
    view('v_feedback_csat', 'CSAT (% of csat5 responses scoring 4–5) per bank-local day, branch, channel, campaign and lifecycle stage', (db) => `
SELECT ${day('occurred_at')} AS day, branch_id, channel, campaign_id, lifecycle_stage,
  count() AS responses,
  countIf(score >= 4) AS satisfied,
  avg(score) AS mean_score,
  100 * satisfied / responses AS csat
FROM ${db}.feedback FINAL
WHERE scale = 'csat5' AND score IS NOT NULL
GROUP BY day, branch_id, channel, campaign_id, lifecycle_stage`),

    view('v_feedback_nps', 'NPS (% promoters 9–10 − % detractors 0–6 of nps10 responses) per bank-local day, branch, channel, campaign and lifecycle stage', (db) => `
SELECT ${day('occurred_at')} AS day, branch_id, channel, campaign_id, lifecycle_stage,
  count() AS responses,
  countIf(score >= 9) AS promoters,
  countIf(score >= 7 AND score <= 8) AS passives,
  countIf(score <= 6) AS detractors,
  100 * (promoters - detractors) / responses AS nps
FROM ${db}.feedback FINAL
WHERE scale = 'nps10' AND score IS NOT NULL
GROUP BY day, branch_id, channel, campaign_id, lifecycle_stage`),

    view('v_complaint_resolutions', 'one row per complaint with its resolution (the earliest resolution naming it), if any, and hours to resolve', (db) => `
SELECT c.feedback_id AS feedback_id, c.customer_id AS customer_id, c.branch_id AS branch_id, c.channel AS channel,
  c.campaign_id AS campaign_id, c.lifecycle_stage AS lifecycle_stage, c.occurred_at AS opened_at,
  ${day('c.occurred_at')} AS day,
  r.complaint_id != '' AS resolved,
  if(resolved, r.resolved_at, NULL) AS resolved_at,
  if(resolved, dateDiff('second', c.occurred_at, r.resolved_at) / 3600, NULL) AS hours_to_resolve
FROM (SELECT * FROM ${db}.feedback FINAL WHERE kind = 'complaint') AS c
LEFT JOIN (
  SELECT customer_id AS resolved_customer_id, resolves_feedback_id AS complaint_id, min(occurred_at) AS resolved_at
  FROM ${db}.feedback FINAL
  WHERE kind = 'resolution' AND resolves_feedback_id != ''
  GROUP BY resolved_customer_id, complaint_id
) AS r ON r.resolved_customer_id = c.customer_id AND r.complaint_id = c.feedback_id`),

    view('v_complaints', 'complaints per bank-local day (of the complaint), branch and channel: resolved, open, time to resolution', (db) => `
SELECT day, branch_id, channel,
  count() AS complaints,
  uniqExact(customer_id) AS complainers,
  countIf(resolved) AS resolved_complaints,
  complaints - resolved_complaints AS open_complaints,
  avgIf(hours_to_resolve, resolved) AS avg_hours_to_resolve,
  quantileExactIf(0.5)(hours_to_resolve, resolved) AS median_hours_to_resolve,
  quantileExactIf(0.9)(hours_to_resolve, resolved) AS p90_hours_to_resolve
FROM ${db}.v_complaint_resolutions
GROUP BY day, branch_id, channel`),

    view('v_complaint_rate', 'complaints per bank-local day against the customers who transacted that day (per 1,000)', (db) => `
SELECT a.day AS day, a.active_customers AS active_customers,
  c.complaints AS complaints, c.complainers AS complainers,
  1000 * c.complaints / a.active_customers AS complaints_per_1000_active
FROM (
  SELECT ${day('occurred_at')} AS day, uniqExact(customer_id) AS active_customers
  FROM ${db}.scored_transactions FINAL
  GROUP BY day
) AS a
LEFT JOIN (
  SELECT ${day('occurred_at')} AS day, count() AS complaints, uniqExact(customer_id) AS complainers
  FROM ${db}.feedback FINAL
  WHERE kind = 'complaint'
  GROUP BY day
) AS c ON c.day = a.day`),

    view('v_churn_by_complaint', 'churn rate (latest stage separation or potential_separation) of customers who complained against those who did not', (db) => `
SELECT f.customer_id != '' AS complained,
  count() AS customers,
  countIf(s.lifecycle_stage IN ('separation', 'potential_separation')) AS churned,
  churned / customers AS churn_rate
FROM (SELECT customer_id, lifecycle_stage FROM ${db}.customer_state FINAL) AS s
LEFT JOIN (SELECT DISTINCT customer_id FROM ${db}.feedback FINAL WHERE kind = 'complaint') AS f ON f.customer_id = s.customer_id
GROUP BY complained`),
  ];
}

/** The feedback views for the shipped bank calendar. */
export const FEEDBACK_VIEWS: readonly ViewDef[] = feedbackViews();
