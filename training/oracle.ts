/**
 * The simulator's oracle: the probability that a customer churns within the horizon after an
 * observation, under the very law the simulator drew the customer's churn time from
 * (`simulator/population.ts`; the law travels with the ground truth as `hazard`). Its ROC AUC on the
 * held-out rows is the ceiling of what the customer's churn *propensity* explains.
 *
 * It is not a hard ceiling for a behavioural model: the simulator fades a customer's activity in the
 * weeks before the drawn churn time, so features can see a churn coming that the law alone cannot
 * (a model above the oracle is reading that fade).
 *
 * The law, for a customer opened at `o`, churn time `T`:
 * - with probability `first_year`, churn in the first year: a share `early_share` at `o + 7 + 83·u^0.9`
 *   days, the rest at `o + 90 + 275·u^1.4` days (u uniform);
 * - otherwise a yearly hazard `annual` from `established_from` on: `P(T ≤ t) = 1 − (1 − annual)^years`;
 * - a customer who came back after churning (`reactivated_at` at or before the observation) does not
 *   churn again.
 * Oracle at observation B, horizon H: `P(B < T ≤ B + H | T > B) = (F(B + H) − F(B)) / (1 − F(B))`.
 */
import type { ChurnTruth } from './dataset.js';

const DAY = 86_400_000;
const YEAR = 365 * DAY;

/** The churn law of one simulated customer (the simulator's `CustomerTruth.hazard`). */
export interface ChurnHazard {
  first_year: number;
  early_share: number;
  annual: number;
  established_from: string;
}

/** P(T ≤ t) under the law, for a customer opened at `opened` (epoch ms). */
export function churnCdf(h: ChurnHazard, opened: number, t: number): number {
  const d = (t - opened) / DAY;
  const early = d < 7 ? 0 : Math.min(1, ((d - 7) / 83) ** (1 / 0.9));
  const late = d < 90 ? 0 : Math.min(1, ((d - 90) / 275) ** (1 / 1.4));
  const first = h.early_share * early + (1 - h.early_share) * late;
  const from = Date.parse(h.established_from);
  const est = t <= from ? 0 : 1 - (1 - h.annual) ** ((t - from) / YEAR);
  return h.first_year * first + (1 - h.first_year) * est;
}

/**
 * The oracle's P(churn in (at, at + horizon]) for a customer still there at `at`, or undefined when
 * the truth carries no law (not simulated).
 */
export function oracleProbability(truth: ChurnTruth & { hazard?: ChurnHazard }, at: number, horizonMs: number): number | undefined {
  const h = truth.hazard;
  if (!h) return undefined;
  if (truth.reactivated_at && Date.parse(truth.reactivated_at) <= at) return 0;
  const opened = Date.parse(truth.opened_at);
  const f0 = churnCdf(h, opened, at);
  const f1 = churnCdf(h, opened, at + horizonMs);
  return f0 >= 1 ? 1 : Math.max(0, (f1 - f0) / (1 - f0));
}
