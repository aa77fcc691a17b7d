/**
 * Survey campaigns in ClickHouse (issue 9): a survey is a campaign whose trigger asks a question instead
 * of making an offer (`offers.kind = 'survey'`, `survey_scale` csat5 | nps10, never held out), and whose
 * "conversion" is the customer's answer (an `offer_conversions` row for the trigger, with `score` and
 * `scale`; `tx_id` is then the answer's feedback_id). Response rate and score are measured like
 * conversions: per survey *sent*, by the bank-local day it was sent, whatever day the answer came.
 * Every view reads `offers FINAL` / `offer_conversions FINAL`, so a replayed event never counts twice.
 *
 * - A survey *responded* when `offer_conversions` has a row for its offer_id (the scorer writes at most
 *   one, for the first answer within the window; should there ever be more, the earliest counts).
 * - Response rate = responded / sent. Scores are averaged over the responses that carry a score.
 * - CSAT (csat5 surveys): % of scored responses scoring 4–5; NULL for an nps10 survey.
 * - NPS (nps10 surveys): % promoters (9–10) − % detractors (0–6), −100 to 100; NULL for a csat5 survey.
 *   The same definitions as the feedback views (feedback-views.ts), over survey answers only.
 * - Hours to respond: event time from the trigger's `created_at` to the answer's `occurred_at`.
 * - The dimensions are the trigger's: delivery channel, branch (the visited branch for a branch-visit
 *   survey, else the home branch), segment, tier and the lifecycle stage when it was sent.
 * - Counts (`scored_responses`, `satisfied`, `promoters`, `detractors`) are there so rows can be summed
 *   into coarser groups; the rates and the median cannot be.
 */
import { shippedPolicy } from '../../config/mod.js';
import { view, type ViewDef } from './views.js';

/** Response, score and cost measures of the rows of v_survey_outcomes in one group. */
const MEASURES = `count() AS surveys_sent,
  uniqExact(customer_id) AS customers_asked,
  countIf(responded) AS responses,
  responses / surveys_sent AS response_rate,
  countIf(responded AND score IS NOT NULL) AS scored_responses,
  if(scored_responses > 0, avgIf(score, responded), NULL) AS mean_score,
  countIf(responded AND scale = 'csat5' AND score >= 4) AS satisfied,
  countIf(responded AND scale = 'nps10' AND score >= 9) AS promoters,
  countIf(responded AND scale = 'nps10' AND score <= 6) AS detractors,
  if(scale = 'csat5' AND scored_responses > 0, 100 * satisfied / scored_responses, NULL) AS csat,
  if(scale = 'nps10' AND scored_responses > 0, 100 * (promoters - detractors) / scored_responses, NULL) AS nps,
  if(responses > 0, quantileExactIf(0.5)(hours_to_respond, responded), NULL) AS median_hours_to_respond,
  sum(cost) AS cost,
  cost / nullIf(responses, 0) AS cost_per_response`;

/** The survey views for a bank-local day of `offsetMin` minutes east of UTC (default: the shipped rules' offset). */
export function surveyViews(offsetMin: number = shippedPolicy().calendar.offsetMin): ViewDef[] {
  const off = Math.trunc(offsetMin);
  return [
    view('v_survey_outcomes', 'one row per survey sent (offers of kind survey) with its answer, if any: score and hours to respond', (db) => `
SELECT
  o.offer_id AS offer_id, o.customer_id AS customer_id, o.offer_code AS offer_code, o.campaign_id AS campaign_id,
  o.channel AS channel, o.branch_id AS branch_id, o.segment AS segment, o.tier AS tier, o.lifecycle_stage AS lifecycle_stage,
  o.survey_scale AS scale, o.cost AS cost, o.triggered_by_tx_id AS triggered_by_tx_id,
  o.created_at AS created_at, o.expires_at AS expires_at,
  toDate(addMinutes(o.created_at, ${off})) AS day,
  a.offer_id != '' AS responded,
  if(responded, a.responded_at, NULL) AS responded_at,
  if(responded, tupleElement(a.answer, 2), '') AS feedback_id,
  if(responded, tupleElement(a.answer, 1), NULL) AS score,
  if(responded, dateDiff('second', o.created_at, a.responded_at) / 3600, NULL) AS hours_to_respond
FROM (SELECT * FROM ${db}.offers FINAL WHERE kind = 'survey') AS o
LEFT JOIN (
  SELECT offer_id, min(converted_at) AS responded_at, argMin((score, tx_id), converted_at) AS answer
  FROM ${db}.offer_conversions FINAL
  GROUP BY offer_id
) AS a ON a.offer_id = o.offer_id`),

    view('v_survey_campaigns', 'per bank-local day of sending, campaign, survey, channel, branch and scale: surveys sent, customers asked, responses, response rate, mean score, CSAT / NPS, median hours to respond, cost', (db) => `
SELECT day, campaign_id, offer_code, channel, branch_id, scale,
  ${MEASURES}
FROM ${db}.v_survey_outcomes
GROUP BY day, campaign_id, offer_code, channel, branch_id, scale`),

    view('v_survey_by_stage', 'per campaign, survey, scale and the lifecycle stage when it was sent: the same measures as v_survey_campaigns over all days', (db) => `
SELECT campaign_id, offer_code, scale, lifecycle_stage,
  ${MEASURES}
FROM ${db}.v_survey_outcomes
GROUP BY campaign_id, offer_code, scale, lifecycle_stage`),
  ];
}

/** The survey views for the shipped bank calendar. */
export const SURVEY_VIEWS: readonly ViewDef[] = surveyViews();
