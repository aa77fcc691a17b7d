/**
 * The scorer's pure core. Per event, in two phases so a micro-batch makes one model call:
 *  1. `apply(state, event)`: idempotency, watermark and timers, loyalty and features; returns the named
 *     feature vector to score (or nothing for events that need no score);
 *  2. `complete(state, pending, score)`: lifecycle stage and the rows that depend on the score.
 * Phase 1 never reads what phase 2 writes (stage, churn), so applying a whole batch's phase 1 before
 * its phase 2 gives the same result as one event at a time.
 */
import type { FeedbackV1, StoredProfileV1, TransactionV1 } from '../../contracts/events.js';
import { getCustomer, popDueTimer, pushTimer, type CustomerState, type PartitionState } from './state.js';
import { iso, parseTime, DAY_MS, type CoreEvent, type Ctx, type Emit, type Score } from './types.js';
import { loyaltyOnRedemption, loyaltyOnTransaction, DEFAULT_LOYALTY, type LoyaltyConfig } from './loyalty/engine.js';
import { featuresOnTransaction, featureVector } from './features/engine.js';
import { applyStage, decideStage, DORMANCY_MS } from './lifecycle/engine.js';

export interface EngineConfig {
  /** Allowed lateness: the watermark trails the largest event time by this much. Default 1 hour. */
  latenessMs: number;
  /** How long a tx id is remembered for de-duplication and reversal, in event time. Default 400 days. */
  dedupHorizonMs: number;
  loyalty: LoyaltyConfig;
}

export const DEFAULT_ENGINE_CONFIG: EngineConfig = { latenessMs: 3_600_000, dedupHorizonMs: 400 * DAY_MS, loyalty: DEFAULT_LOYALTY };

/** An event after phase 1, waiting for its churn score. */
export interface Pending {
  customerId: string;
  ctx: Ctx;
  features: Record<string, number>;
  /** The transaction (or undefined for profile/feedback/redemption events). */
  tx?: TransactionV1;
  points: number;
  duplicate: boolean;
  sourceId: string;
}

export class Engine {
  constructor(readonly config: EngineConfig = DEFAULT_ENGINE_CONFIG) {}

  /** Phase 1. Returns undefined when the event needs no score (e.g. a refused redemption, a duplicate profile). */
  apply(state: PartitionState, ev: CoreEvent, emit: Emit): Pending | undefined {
    const at = eventTime(ev);
    if (at > state.maxEventTime) state.maxEventTime = at;
    const watermark = Math.max(state.watermark, state.maxEventTime - this.config.latenessMs);
    state.watermark = watermark;
    state.seq = ev.seq;
    state.stats.events++;
    const ctx: Ctx = { seq: ev.seq, partition: ev.partition, at, watermark };
    this.fireTimers(state, ctx, emit);
    if (at < watermark) state.stats.late++;

    const c = getCustomer(state, ev.msg.body.customer_id);
    c.lastSeq = ev.seq;
    switch (ev.msg.kind) {
      case 'transaction': return this.onTransaction(state, c, ev.msg.body, ctx, emit);
      case 'profile': return this.onProfile(state, c, ev.msg.body, ctx);
      case 'redemption': {
        const ok = loyaltyOnRedemption(state, c, ev.msg.body, ctx, this.config.loyalty, emit);
        return this.pending(c, ctx, ev.msg.body.redemption_id, ok ? -ev.msg.body.points : 0);
      }
      case 'feedback': return this.onFeedback(c, ev.msg.body, ctx, emit);
    }
  }

  /** Phase 2. */
  complete(state: PartitionState, p: Pending, score: Score | undefined, emit: Emit): void {
    const c = state.customers[p.customerId];
    if (!c) return;
    if (score) c.churn = { p: score.probability, version: score.modelVersion, at: p.ctx.at };
    const stage = decideStage(c, p.ctx.at, p.features, c.churn.p);
    applyStage(c, stage, p.ctx, p.sourceId, emit);
    if (p.tx) {
      const tx = p.tx;
      emit.row('scored_transactions', {
        tx_id: tx.tx_id, customer_id: tx.customer_id, channel: tx.channel, amount_minor: tx.amount_minor, currency: tx.currency,
        occurred_at: iso(p.ctx.at), status: tx.status ?? 'approved', reverses_tx_id: tx.reverses_tx_id ?? '', mcc: tx.mcc ?? '',
        merchant_id: tx.merchant_id ?? '', terminal_id: tx.terminal_id ?? '', branch_id: tx.branch_id ?? '', biller_id: tx.biller_id ?? '',
        due_date: tx.due_date ?? null, card_token: tx.card_token ?? '', points: p.points, churn_probability: c.churn.p,
        model_version: c.churn.version, lifecycle_stage: c.lifecycle.stage, tier: c.loyalty.tier, segment: c.profile?.segment ?? '',
        rules_version: this.config.loyalty.version, duplicate_of_seq: 0, partition: p.ctx.partition, stream_seq: p.ctx.seq,
      });
    }
    emitCustomerState(c, p.ctx, p.features, emit);
  }

  private pending(c: CustomerState, ctx: Ctx, sourceId: string, points: number, tx?: TransactionV1): Pending {
    return { customerId: c.id, ctx, features: featureVector(c, ctx.at), points, duplicate: false, sourceId, ...(tx ? { tx } : {}) };
  }

  private onTransaction(state: PartitionState, c: CustomerState, tx: TransactionV1, ctx: Ctx, emit: Emit): Pending | undefined {
    if (c.seen[tx.tx_id] !== undefined) {
      state.stats.duplicates++;
      return undefined;
    }
    c.seen[tx.tx_id] = ctx.at;
    this.pruneSeen(c, ctx);
    const points = loyaltyOnTransaction(state, c, tx, ctx, this.config.loyalty, emit);
    featuresOnTransaction(c, tx, ctx.at, ctx);
    pushTimer(state, { due: c.features.lastTxAt + DORMANCY_MS, customerId: c.id, kind: 'dormancy' });
    return this.pending(c, ctx, tx.tx_id, points, tx);
  }

  private onProfile(_state: PartitionState, c: CustomerState, profile: StoredProfileV1, ctx: Ctx): Pending {
    c.profile = profile;
    return this.pending(c, ctx, `profile:${ctx.seq}`, 0);
  }

  private onFeedback(c: CustomerState, fb: FeedbackV1, ctx: Ctx, emit: Emit): Pending {
    emit.row('feedback', {
      feedback_id: fb.feedback_id, customer_id: fb.customer_id, occurred_at: iso(ctx.at), kind: fb.kind, score: fb.score ?? null,
      scale: fb.scale ?? '', resolves_feedback_id: fb.resolves_feedback_id ?? '', campaign_id: fb.campaign_id ?? '', offer_id: fb.offer_id ?? '',
      branch_id: fb.branch_id ?? '', channel: fb.channel ?? '', text: fb.text ?? '', lifecycle_stage: c.lifecycle.stage, stream_seq: ctx.seq,
    });
    return this.pending(c, ctx, fb.feedback_id, 0);
  }

  private pruneSeen(c: CustomerState, ctx: Ctx): void {
    const horizon = ctx.watermark - this.config.dedupHorizonMs;
    for (const [id, at] of Object.entries(c.seen)) if (at < horizon) delete c.seen[id];
  }

  /** Fires every timer due at or before the watermark, in due order. */
  private fireTimers(state: PartitionState, ctx: Ctx, emit: Emit): void {
    for (let t = popDueTimer(state, ctx.watermark); t; t = popDueTimer(state, ctx.watermark)) {
      const c = state.customers[t.customerId];
      if (!c) continue;
      const tctx: Ctx = { ...ctx, at: t.due };
      if (t.kind === 'dormancy') {
        if (c.features.lastTxAt + DORMANCY_MS !== t.due) continue; // superseded by later activity
        const features = featureVector(c, t.due);
        applyStage(c, decideStage(c, t.due, features, c.churn.p), tctx, `timer:dormancy:${t.due}`, emit);
        emitCustomerState(c, tctx, features, emit);
      }
    }
  }
}

function eventTime(ev: CoreEvent): number {
  const m = ev.msg;
  switch (m.kind) {
    case 'transaction': return parseTime(m.body.occurred_at);
    case 'feedback': return parseTime(m.body.occurred_at);
    case 'redemption': return parseTime(m.body.occurred_at);
    case 'profile': return parseTime(m.body.opened_at);
  }
}

function emitCustomerState(c: CustomerState, ctx: Ctx, features: Record<string, number>, emit: Emit): void {
  const expectedValue = (features.spend_90d_minor ?? 0) / 100 * 4 * 3;
  emit.customer(c.id, {
    customer_id: c.id, version: ctx.seq, updated_at: iso(ctx.at), segment: c.profile?.segment ?? '', branch_id: c.profile?.branch_id ?? '',
    opened_at: c.profile?.opened_at ? iso(parseTime(c.profile.opened_at)) : null, points_balance: c.loyalty.balance, tier: c.loyalty.tier,
    churn_probability: c.churn.p, model_version: c.churn.version, lifecycle_stage: c.lifecycle.stage, expected_value: expectedValue,
    value_at_risk: expectedValue * c.churn.p, tx_count_30d: features.tx_count_30d ?? 0, spend_30d_minor: features.spend_30d_minor ?? 0,
    last_tx_at: c.features.lastTxAt ? iso(c.features.lastTxAt) : null, features: JSON.stringify(features), recent_offers: '[]',
  });
}
