/**
 * Lifecycle stages (walking-skeleton version): tenure and activity decide the stage; every change is a
 * row in `lifecycle_transitions`.
 */
import type { CustomerState } from '../state.js';
import { DAY_MS, iso, type Ctx, type Emit } from '../types.js';

export function decideStage(c: CustomerState, at: number, features: Record<string, number>, churn: number): { stage: string; reason: string } {
  const tenure = features.tenure_days ?? 0;
  const recency = features.recency_days ?? 0;
  if (c.profile?.closed_at && Date.parse(c.profile.closed_at) <= at) return { stage: 'separation', reason: 'account closed' };
  if (recency > 90) return { stage: 'potential_separation', reason: `no activity for ${Math.floor(recency)} days` };
  if (churn >= 0.7) return { stage: 'intensive_care', reason: `churn probability ${churn.toFixed(2)}` };
  if (tenure < 30) return { stage: 'welcome', reason: 'first 30 days' };
  if (tenure < 90) return { stage: 'getting_acquainted', reason: 'first 90 days' };
  return { stage: 'account_management', reason: 'established' };
}

export function applyStage(c: CustomerState, next: { stage: string; reason: string }, ctx: Ctx, sourceId: string, emit: Emit): void {
  const prev = c.lifecycle.stage;
  if (prev === next.stage) return;
  c.lifecycle = { stage: next.stage, since: ctx.at };
  emit.row('lifecycle_transitions', {
    transition_id: `${c.id}:${ctx.seq}:${next.stage}`, customer_id: c.id, from_stage: prev, to_stage: next.stage,
    occurred_at: iso(ctx.at), reason: next.reason, churn_probability: c.churn.p, segment: c.profile?.segment ?? '',
    branch_id: c.profile?.branch_id ?? '', source_id: sourceId, stream_seq: ctx.seq,
  });
}

export const DORMANCY_DAYS = 90;
export const DORMANCY_MS = DORMANCY_DAYS * DAY_MS;
