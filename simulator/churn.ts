/**
 * How a simulated customer drifts away: a behaviour-driven churn process.
 *
 * Each customer has a hazard of starting to drift (per day), the product of
 * - a baseline from static traits (segment, sticky products, referral, decline propensity, the customer's
 *   standing satisfaction, an unseen latent factor; `population.ts`),
 * - an onboarding bump for new customers that fades over their first months (new customers churn most),
 * - bumps from what the customer lives through, each decaying with its own time constant: a bad
 *   experience (a run of failed payments; a complaint after the bad ones), a fee that hurts (rarely a complaint),
 *   a competitor's offer (unseen by the bank), a life event (a new employer: the salary deposit moves
 *   away) and a product closure (the installment loan is paid off).
 *
 * Drift starts at the first time the integrated hazard passes an exponential draw; it lasts a number of
 * days (shorter for customers who never settled in), during which the customer's activity falls,
 * visits space out, sticky products stop (salary, then direct debits and installments) and spend moves
 * to fewer categories (`generator.ts`); the customer is gone at the end of it (`churnAt`). A churned
 * customer may come back later (win-back), as before.
 *
 * The law travels with the ground truth (`CustomerTruth.hazard`), so the oracle (`training/oracle.ts`)
 * can score a customer at a cut-off with the hazard the simulator itself used, from what had happened
 * by then (the shocks so far, whether the drift has begun), never from what comes after.
 */
import type { Rng } from './rng.js';

export const DAY = 86_400_000;
const YEAR = 365 * DAY;

/** What can raise a customer's hazard of drifting away. */
export type ShockKind = 'incident' | 'fee' | 'competitor' | 'life_event' | 'product_closure';

/** One thing that happened to a customer: the hazard multiplier gains `size · e^(−Δt / days)` from `at` on. */
export interface Shock {
  kind: ShockKind;
  at: number;
  size: number;
  days: number;
  /** An incident the customer complains about. */
  complained?: boolean;
}

/** A kind of random shock: yearly rate (before the customer's exposure), hazard bump and its decay. */
interface ShockSpec {
  kind: Exclude<ShockKind, 'product_closure'>;
  rate: number;
  size: number;
  days: number;
}

/**
 * The random shocks. Incidents: failed payments for a few days (`INCIDENT_DAYS`, declines at
 * `INCIDENT_DECLINE`); fees: a charge the customer resents (rate × fee exposure); competitor offers are
 * invisible in the bank's data; life events move the salary deposit away (salary holders).
 */
export const SHOCKS: readonly ShockSpec[] = [
  { kind: 'incident', rate: 0.2, size: 20, days: 60 },
  { kind: 'fee', rate: 0.2, size: 15, days: 45 },
  { kind: 'competitor', rate: 0.3, size: 30, days: 45 },
  { kind: 'life_event', rate: 0.08, size: 5, days: 365 },
];
/** A paid-off installment loan: the tie that kept the customer is gone. */
export const CLOSURE_SHOCK = { size: 10, days: 120 };
/** New customers: the hazard multiplier gains these bumps, fading with tenure. */
export const ONBOARDING: readonly { size: number; days: number }[] = [{ size: 44, days: 25 }, { size: 7, days: 180 }];
/** Drift lasts between these many days for a settled customer; ×min(1, (tenure at onset + 20) / 200) for a new one. */
export const DRIFT_DAYS: readonly [number, number] = [60, 150];
/** An incident's failed payments last this many days (uniform) at this extra decline rate. */
export const INCIDENT_DAYS: readonly [number, number] = [2, 6];
export const INCIDENT_DECLINE = 0.2;
/** Share of fee shocks the customer complains about (at feedback 1). */
export const SHOCK_COMPLAINT: Partial<Record<ShockKind, number>> = { fee: 0.03 };
/**
 * Share of incidents bad enough that the customer complains (after the first failed payment of it);
 * those weigh `INCIDENT_COMPLAINED_SIZE` on the hazard instead of the incident's usual size.
 */
export const INCIDENT_COMPLAINED_SHARE = 0.15;
export const INCIDENT_COMPLAINED_SIZE = 80;

/** A bump older than this many time constants is left out (e^−12 < 10^−5). */
const FORGOTTEN = 12;
const ONBOARDING_MEMORY = Math.max(...ONBOARDING.map((o) => o.days));

/** The churn law of one customer: everything the hazard at any time is computed from. */
export interface ChurnLaw {
  /** Baseline yearly hazard of starting to drift (static traits, normalized). */
  base: number;
  /** Fee exposure: multiplies the rate of fee shocks. */
  feeExposure: number;
  /** Every shock over the simulated horizon, in time order. */
  shocks: Shock[];
  /** When the drift began (epoch ms), if it did before the horizon. */
  driftAt?: number;
}

/** A shock the customer may complain about: when, what about, and the draw that decides it. */
export interface ShockComplaint {
  at: number;
  kind: ShockKind;
  u: number;
}

/** Multiplier of the baseline at `t`: onboarding and the shocks that happened at or before `t`. */
export function hazardMultiplier(law: ChurnLaw, openedAt: number, t: number): number {
  const tenure = Math.max(0, (t - openedAt) / DAY);
  let onboarding = 1;
  if (tenure < FORGOTTEN * ONBOARDING_MEMORY) for (const o of ONBOARDING) onboarding += o.size * Math.exp(-tenure / o.days);
  let shocks = 1;
  for (const s of law.shocks) {
    if (s.at > t) break;
    const age = (t - s.at) / (s.days * DAY);
    if (age < FORGOTTEN) shocks += s.size * Math.exp(-age);
  }
  return onboarding * shocks;
}

/** The scale of the drift's length for a drift starting at `tenureDays`. */
export function driftScale(tenureDays: number): number {
  return Math.min(1, (Math.max(0, tenureDays) + 20) / 200);
}

/** P(drift length ≤ `days`) for a drift that began at `tenureDays`. */
export function driftLengthCdf(tenureDays: number, days: number): number {
  const k = driftScale(tenureDays);
  const lo = DRIFT_DAYS[0] * k;
  const hi = DRIFT_DAYS[1] * k;
  return Math.min(1, Math.max(0, (days - lo) / (hi - lo)));
}

/** Draws the random shocks of `[from, until)` in time order; `closures` are the scheduled ones (loan ends). */
export function drawShocks(rng: Rng, from: number, until: number, feeExposure: number, closures: readonly number[]): Shock[] {
  const shocks: Shock[] = [];
  const years = Math.max(0, (until - from) / YEAR);
  for (const spec of SHOCKS) {
    const n = rng.poisson(spec.rate * years * (spec.kind === 'fee' ? feeExposure : 1));
    for (let k = 0; k < n; k++) {
      const at = Math.floor(rng.range(from, until));
      if (spec.kind === 'incident' && rng.chance(INCIDENT_COMPLAINED_SHARE)) shocks.push({ kind: spec.kind, at, size: INCIDENT_COMPLAINED_SIZE, days: spec.days, complained: true });
      else shocks.push({ kind: spec.kind, at, size: spec.size, days: spec.days });
    }
  }
  for (const at of closures) if (at >= from && at < until) shocks.push({ kind: 'product_closure', at, ...CLOSURE_SHOCK });
  return shocks.sort((a, b) => a.at - b.at || SHOCK_ORDER[a.kind] - SHOCK_ORDER[b.kind]);
}

const SHOCK_ORDER: Record<ShockKind, number> = { incident: 0, fee: 1, competitor: 2, life_event: 3, product_closure: 4 };

/** When drift begins: the first day the integrated hazard from `from` passes `threshold` (an Exp(1) draw); undefined before `until`. */
export function driftOnset(law: ChurnLaw, openedAt: number, from: number, until: number, threshold: number): number | undefined {
  let integrated = 0;
  const perDay = law.base / 365;
  for (let t = from; t < until; t += DAY) {
    const step = perDay * hazardMultiplier(law, openedAt, t);
    if (integrated + step >= threshold) return t + Math.floor(((threshold - integrated) / step) * DAY);
    integrated += step;
  }
  return undefined;
}
