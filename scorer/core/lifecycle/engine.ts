/**
 * Lifecycle stages, from the relationship stages of the background: acquisition, welcome, getting
 * acquainted, account management, intensive care, potential separation, separation, win-back.
 *
 * A stage is decided on tenure, activity (days without a transaction), declines, complaints and the churn
 * probability, with the thresholds of `config/lifecycle.yaml`; every change is a `stage_changed` event (a row in
 * `lifecycle_transitions`). Dormancy needs no event from the customer: one event-time timer per customer
 * (`kind: 'lifecycle'`) is armed for the next moment a stage could change on its own (idle thresholds,
 * tenure milestones, `closed_at`) and re-armed when it fires.
 *
 * Rules, first match wins (docs/features.md, "Lifecycle"):
 *  1. `closed_at` ≤ now                                   → separation
 *  2. `opened_at` > now, or nothing known but a non-transaction event → acquisition
 *  3. idle ≥ separation_days                               → separation
 *     (idle: since the last transaction; with none, since max(opened_at, when the customer became known))
 *  4. idle ≥ potential_separation_days                     → potential_separation
 *  4b. an open complaint (≥ N)                             → intensive_care (before win-back)
 *  5. a transaction while in separation                    → win_back (stays for win_back_days)
 *  6. P(churn) ≥ enter (or ≥ exit while already there), declines_30d ≥ N, open complaints ≥ N → intensive_care,
 *     which lasts at least min_days
 *  7. tenure < welcome_days → welcome; < getting_acquainted_days → getting_acquainted; else account_management
 */
import type { CustomerState, PartitionState } from '../state.js';
import { pushTimer } from '../state.js';
import { DAY_MS, type Ctx, type Emit } from '../types.js';
import { parsedDate } from '../memo.js';
import type { LifecycleConfig } from '../../../config/schema/mod.js';
import { newLifecycleState, type LifecycleState } from './state.js';

export { parseLifecycleConfig, LifecycleConfigError, type LifecycleConfig } from '../../../config/schema/mod.js';
export { expectedValue } from './value.js';

export const STAGES = [
  'acquisition', 'welcome', 'getting_acquainted', 'account_management', 'intensive_care', 'potential_separation', 'separation', 'win_back',
] as const;
export type Stage = (typeof STAGES)[number];

/** What prompted a decision: the customer's own (folded-in) transaction, another event of theirs, or a timer. */
export type Trigger = 'activity' | 'event' | 'timer';

export interface StageDecision {
  stage: Stage;
  reason: string;
}

/** Timer kind owned by this module. */
export const LIFECYCLE_TIMER = 'lifecycle';

/** The customer's lifecycle state, completed if it is of an older layout (a skeleton checkpoint). */
export function lifecycleState(c: CustomerState): LifecycleState {
  const l = c.lifecycle as Partial<LifecycleState> & { stage: string; since: number };
  if (l.timer === undefined || l.inflight === undefined || l.deferred === undefined || l.known === undefined) {
    c.lifecycle = { ...newLifecycleState(), stage: l.stage, since: l.since };
  }
  return c.lifecycle;
}

const timeOf = (s: string | undefined): number => (s ? parsedDate(s) : NaN);

/** Decides the stage as of `at` from the phase-1 feature vector and the last churn probability. */
export function decideStage(
  c: CustomerState, at: number, features: Readonly<Record<string, number>>, churn: number, trigger: Trigger,
  cfg: LifecycleConfig,
): StageDecision {
  const l = lifecycleState(c);
  const p = c.profile;
  const closedAt = p?.closed_at;
  if (timeOf(closedAt) <= at) return { stage: 'separation', reason: `account closed ${closedAt}` };
  const opened = timeOf(p?.opened_at);
  if (opened > at) return { stage: 'acquisition', reason: 'account not open yet' };
  if (!p && !c.features.lastAt) return { stage: 'acquisition', reason: 'no account or transaction yet' };

  // Idle: since the last transaction; with none yet, since the opening or since the customer became known.
  let idle = (features.recency_days ?? 0) * DAY_MS;
  if (l.known && at - l.known < idle) idle = Math.max(0, at - l.known);
  const idleDays = idle / DAY_MS;
  if (idle >= cfg.separationMs) return { stage: 'separation', reason: `no transaction for ${Math.floor(idleDays)} days` };
  if (idle >= cfg.potentialMs) return { stage: 'potential_separation', reason: `no transaction for ${Math.floor(idleDays)} days` };

  // An unresolved complaint outranks every other active stage: the bank must look after this customer now.
  const openComplaints = features.open_complaints ?? 0;
  if (openComplaints >= cfg.intensive.openComplaints) return { stage: 'intensive_care', reason: `${openComplaints} open complaint${openComplaints === 1 ? '' : 's'}` };
  if (trigger === 'activity' && l.stage === 'separation') return { stage: 'win_back', reason: 'transacted again after separation' };
  if (l.stage === 'win_back' && at - l.since < cfg.winBackMs) return { stage: 'win_back', reason: 'returning customer' };

  const ic = cfg.intensive;
  if (l.stage === 'intensive_care' && at - l.since < ic.minMs) return { stage: 'intensive_care', reason: 'in intensive care' };
  if (churn >= ic.enter) return { stage: 'intensive_care', reason: `churn probability ${churn.toFixed(3)} ≥ ${ic.enter}` };
  if (l.stage === 'intensive_care' && churn >= ic.exit) return { stage: 'intensive_care', reason: `churn probability ${churn.toFixed(3)} still ≥ ${ic.exit}` };
  const declines = features.declines_30d ?? 0;
  if (declines >= ic.declines30d) return { stage: 'intensive_care', reason: `${declines} declined transactions in 30 days` };

  const tenure = (features.tenure_days ?? 0) * DAY_MS;
  if (tenure < cfg.welcomeMs) return { stage: 'welcome', reason: `tenure ${Math.floor(tenure / DAY_MS)} days` };
  if (tenure < cfg.acquaintedMs) return { stage: 'getting_acquainted', reason: `tenure ${Math.floor(tenure / DAY_MS)} days` };
  return { stage: 'account_management', reason: 'established' };
}

/** Applies a decision; a change is a `stage_changed` event. @returns true when the stage changed. */
export function applyStage(c: CustomerState, next: StageDecision, ctx: Ctx, sourceId: string, emit: Emit): boolean {
  const l = lifecycleState(c);
  const prev = l.stage;
  if (prev === next.stage) return false;
  l.stage = next.stage;
  l.since = ctx.at;
  emit.event({
    type: 'stage_changed', transitionId: `${c.id}:${ctx.seq}:${next.stage}:${ctx.at}`, customerId: c.id, from: prev, to: next.stage,
    at: ctx.at, reason: next.reason, churnProbability: c.churn.p, segment: c.profile?.segment ?? '',
    branchId: c.profile?.branch_id ?? '', sourceId, seq: ctx.seq,
  });
  return true;
}

/**
 * The next moment after `after` at which the stage could change with no event from the customer: an
 * idle threshold, a tenure milestone, or `closed_at`; 0 when there is none. Phase 1 arms timers, so this
 * reads phase-1 state only (never the stage: the end of win-back is decided by the next event or timer).
 */
export function nextLifecycleDue(c: CustomerState, after: number, cfg: LifecycleConfig): number {
  const l = lifecycleState(c);
  const opened = timeOf(c.profile?.opened_at);
  const closed = timeOf(c.profile?.closed_at);
  // (l.known and the features are phase-1 state.)
  const base = c.features.lastAt || Math.max(Number.isFinite(opened) ? opened : 0, l.known);
  let best = 0;
  if (Number.isFinite(closed)) best = earliestAfter(best, closed, after);
  if (base) best = earliestAfter(earliestAfter(best, base + cfg.potentialMs, after), base + cfg.separationMs, after);
  if (Number.isFinite(opened)) best = earliestAfter(earliestAfter(earliestAfter(best, opened, after), opened + cfg.welcomeMs, after), opened + cfg.acquaintedMs, after);
  return best;
}

/** `t` when it is after `after` and before `best` (0: none yet), else `best`. */
function earliestAfter(best: number, t: number, after: number): number {
  return t > after && (best === 0 || t < best) ? t : best;
}

/** Arms (or brings forward) the customer's lifecycle timer for the next moment after `after`. */
export function armLifecycleTimer(state: PartitionState, c: CustomerState, after: number, cfg: LifecycleConfig): void {
  const l = lifecycleState(c);
  if (!l.known) l.known = after;
  const due = nextLifecycleDue(c, after, cfg);
  if (due === 0) return;
  if (l.timer !== 0 && l.timer <= due) return;
  l.timer = due;
  pushTimer(state, { due, customerId: c.id, kind: LIFECYCLE_TIMER });
}

/** True when a fired timer is the customer's armed one (older entries are stale); disarms it. */
export function takeLifecycleTimer(c: CustomerState, due: number): boolean {
  const l = lifecycleState(c);
  if (l.timer !== due) return false;
  l.timer = 0;
  return true;
}
