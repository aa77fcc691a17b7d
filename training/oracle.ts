/**
 * The simulator's oracle: the probability that a customer churns within the horizon after a cut-off,
 * under the very process the simulator drew the customer's churn from (`simulator/churn.ts`; the law
 * travels with the ground truth as `hazard`), knowing what the simulator knew at the cut-off and
 * nothing later: the customer's baseline hazard, the shocks that had happened by then (bad experiences,
 * fees, competitor offers — which the bank's data never shows —, life events, product closures) and
 * whether the drift had begun. Its ROC AUC on the held-out rows is the ceiling a model reading only the
 * bank's data can hope to approach.
 *
 * At cut-off B with horizon H:
 * - drifting since D ≤ B: the drift's length L has a known law (uniform, scaled by the tenure at D), so
 *   `P(L ≤ B + H − D | L > B − D)`;
 * - not drifting: the hazard of starting to drift at s ∈ (B, B + H] is the baseline × the onboarding bump
 *   × (1 + the bumps of the shocks so far + the expected bumps of those still to come); drift must begin
 *   and run its course within the horizon: `∫ S(s) λ(s) P(L ≤ B + H − s) ds`, summed by the day;
 * - a customer who came back after churning (`reactivated_at` at or before B) does not churn again.
 */
import { driftLengthCdf, hazardMultiplier, SHOCKS, type ChurnHazard, type ChurnLaw, type Shock } from '../simulator/mod.js';
import type { ChurnTruth } from './dataset.js';

/** The churn process of one simulated customer: the simulator's own `CustomerTruth.hazard`. */
export type { ChurnHazard };

const DAY = 86_400_000;

/** The part of the law known at `at`: the shocks up to it, the drift start if it had begun. */
function knownAt(h: ChurnHazard, at: number): ChurnLaw {
  const shocks: Shock[] = [];
  for (const s of h.shocks) {
    const t = Date.parse(s.at);
    if (t <= at) shocks.push({ kind: s.kind, at: t, size: s.size, days: s.days });
  }
  const drift = h.drift_at === undefined ? NaN : Date.parse(h.drift_at);
  return { base: h.base, feeExposure: h.fee_exposure, shocks, ...(drift <= at ? { driftAt: drift } : {}) };
}

/** The expected hazard bump, `Δ` days after the cut-off, of the random shocks still to come. */
function expectedBump(law: ChurnLaw, days: number): number {
  let e = 0;
  for (const s of SHOCKS) {
    const rate = (s.rate * (s.kind === 'fee' ? law.feeExposure : 1)) / 365;
    e += rate * s.size * s.days * (1 - Math.exp(-days / s.days));
  }
  return e;
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
  const law = knownAt(h, at);
  const horizonDays = horizonMs / DAY;
  if (law.driftAt !== undefined) {
    const tenure = (law.driftAt - opened) / DAY;
    const elapsed = (at - law.driftAt) / DAY;
    const f0 = driftLengthCdf(tenure, elapsed);
    return f0 >= 1 ? 1 : (driftLengthCdf(tenure, elapsed + horizonDays) - f0) / (1 - f0);
  }
  let survival = 1;
  let p = 0;
  for (let d = 0; d < horizonDays; d++) {
    const t = at + (d + 0.5) * DAY;
    const multiplier = hazardMultiplier(law, opened, t) + expectedBump(law, d + 0.5) * hazardMultiplier({ ...law, shocks: [] }, opened, t);
    const rate = (law.base / 365) * multiplier;
    const start = survival * (1 - Math.exp(-rate));
    p += start * driftLengthCdf((t - opened) / DAY, horizonDays - d - 0.5);
    survival -= start;
  }
  return p;
}
