/**
 * The scorer's pure core. Per event, in two phases so a micro-batch makes one model call:
 *  1. `apply(state, event)`: idempotency, watermark and timers, loyalty and features; returns the named
 *     feature vector to score (or nothing for events that need no score);
 *  2. `complete(state, pending, score)`: lifecycle stage and the rows that depend on the score.
 * Phase 1 never reads what phase 2 writes (stage, churn), so applying a whole batch's phase 1 before
 * its phase 2 gives the same result as one event at a time.
 */
import type { ControlV1, FeedbackV1, StoredProfileV1, TransactionV1 } from '../../contracts/events.js';
import { dueTimerCustomers, getCustomer, popDueTimer, type CustomerState, type PartitionState, type Timer } from './state.js';
import { parseTime, DAY_MS, type CoreEvent, type Ctx, type Emit, type Score } from './types.js';
import { FEATURE_NAMES as FEATURE_NAMES_ORDER } from '../../contracts/features.js';
import {
  isLoyaltyTimer, loyaltyOnMigration, loyaltyOnProfile, loyaltyOnRedemption, loyaltyOnTimer, loyaltyOnTransaction, loyaltyReversalWindowMs, loyaltyVersionAt,
} from './loyalty/engine.js';
import { loyaltyConfig, type EngineConfig, type LoyaltyConfig, parseRules, RulesTimeline } from '../../config/schema/mod.js';
import { featuresOnFeedback, featuresOnTransaction, featureValues, namedFeatures, FEATURE_VALUES, type FeatureConfig, type FeatureVector } from './features/engine.js';
import { forgetBefore, rememberFirst, seenDay, seenIds } from './seen.js';
import { offersOnComplete, offersOnTimer, openOffer } from './offers/engine.js';
import { onErasure, withPseudonyms } from './erasure.js';
import { withStatements } from './offers/consent.js';
import {
  applyStage, armLifecycleTimer, decideStage, expectedValue, lifecycleState, takeLifecycleTimer, LIFECYCLE_TIMER,
  type LifecycleConfig, type Trigger,
} from './lifecycle/engine.js';

/** An event after phase 1, waiting for its churn score. */
export interface Pending {
  customerId: string;
  ctx: Ctx;
  /**
   * The feature vector (FEATURE_CATALOGUE) as of `asOf`: every name readable (`features.recency_days`),
   * numbers in catalogue order under `values`. Score from `values` (index by FEATURE_INDEX, resolved once
   * per model) rather than by name.
   */
  features: FeatureVector;
  /** The same numbers in catalogue order (FEATURE_NAMES / FEATURE_INDEX). */
  values: readonly number[];
  /** Event time the features (and the stage decision) are as of: the event's time, or the watermark for an event behind it (a late event, a profile whose event time is an old opening). */
  asOf?: number;
  /** The transaction (or undefined for profile/feedback/redemption events). */
  tx?: TransactionV1;
  /** The feedback, for a feedback event (a survey answer converts its survey in phase 2). */
  feedback?: FeedbackV1;
  points: number;
  duplicate: boolean;
  sourceId: string;
  /**
   * The customer's profile and tier as of this event (phase 1). Phase 2 decides with these, not with
   * what a later event of the same customer in the same micro-batch has already changed, so a batch
   * decides exactly as one event at a time and a replay with other batch boundaries decides the same.
   */
  asOfCustomer: CustomerView;
}

export class Engine {
  private readonly lifecycle: LifecycleConfig;
  private readonly featureConfig: FeatureConfig;

  constructor(readonly config: EngineConfig) {
    this.lifecycle = config.lifecycle;
    this.featureConfig = config.features;
  }

  /** Phase 1. Returns undefined when the event needs no score (e.g. a refused redemption, a duplicate profile). */
  apply(state: PartitionState, event: CoreEvent, emit: Emit): Pending | undefined {
    const ev = withPseudonyms(state, event);
    const ctx = this.advance(state, ev);
    state.seq = ev.seq;
    state.stats.events++;
    this.fireTimers(state, ctx, emit, Infinity);
    const { at, watermark } = ctx;
    if (at < watermark) state.stats.late++;
    // Cut-over: a live feedback as of the backfilled history is that history's (feedback ids are not remembered).
    if (ev.msg.kind === 'feedback' && !ev.historical && state.cutover !== undefined && at <= state.cutover) {
      state.stats.duplicates++;
      return undefined;
    }

    if (ev.msg.kind === 'control') {
      this.onControl(state, ev.msg.body, ctx, ev.mentions);
      return undefined;
    }
    const c = getCustomer(state, ev.msg.body.customer_id);
    c.lastSeq = ev.seq;
    switch (ev.msg.kind) {
      case 'transaction': return this.onTransaction(state, c, ev.msg.body, ctx, emit);
      case 'profile': return this.onProfile(state, c, ev.msg.body, ctx, emit);
      case 'redemption': {
        const r = loyaltyOnRedemption(state, c, ev.msg.body, ctx, this.loyaltyFor(state), emit);
        return this.pending(c, ctx, ev.msg.body.redemption_id, r.points);
      }
      case 'feedback': return this.onFeedback(c, ev.msg.body, ctx);
      case 'migration': {
        const r = loyaltyOnMigration(state, c, ev.msg.body, ctx, this.loyaltyFor(state), emit);
        return this.pending(c, ctx, ev.msg.body.migration_id, r.points);
      }
    }
  }

  /**
   * Fires at most `limit` of the timers that `ev`'s arrival makes due, as `apply(ev)` would fire them
   * first, and returns how many fired. `ev` itself is not applied and the partition's position stays
   * before it: a runtime may commit here and apply `ev` afterwards (its `apply` fires the rest), with the
   * same result as one `apply`. This bounds the customers one step reaches when the watermark crosses a
   * moment many timers share (points of a whole bank expiring at the end of a bank day). Returns
   * `limit` when more may be due; fewer means none is left.
   */
  fireDue(state: PartitionState, ev: CoreEvent, emit: Emit, limit: number): number {
    if (!(limit >= 1)) throw new RangeError(`fireDue: limit must be at least 1, got ${limit}`);
    return this.fireTimers(state, this.advance(state, ev), emit, limit);
  }

  /**
   * Customers whose timers the events `messages` would make due (the first `limit` in due order), for
   * the runtime to read ahead: applying those events fires them and reads each customer. Reads the
   * state only.
   */
  timerCustomersDue(state: PartitionState, messages: readonly CoreEvent['msg'][], limit: number): string[] {
    let maxEventTime = state.maxEventTime;
    for (const msg of messages) {
      if (msg.kind === 'profile' || msg.kind === 'control') continue;
      const at = eventTime({ seq: 0, partition: state.partition, msg }, state);
      if (at > maxEventTime) maxEventTime = at;
    }
    const watermark = Math.max(state.watermark, maxEventTime - this.config.latenessMs);
    return dueTimerCustomers(state, watermark, limit);
  }

  /** Moves the partition's clock for `ev` (idempotent: `fireDue` then `apply` move it once). */
  private advance(state: PartitionState, ev: CoreEvent): Ctx {
    const at = eventTime(ev, state);
    // A profile's "time" is the account's opening, which may lie anywhere (profiles are often loaded
    // ahead of activity): only events that happen now move the partition's clock.
    if (ev.msg.kind !== 'profile' && at > state.maxEventTime) state.maxEventTime = at;
    const watermark = Math.max(state.watermark, state.maxEventTime - this.config.latenessMs);
    state.watermark = watermark;
    const ctx: Ctx = { seq: ev.seq, partition: ev.partition, at, watermark };
    if (ev.historical) {
      ctx.historical = true;
      state.cutover = Math.max(state.cutover ?? 0, state.maxEventTime);
    }
    return ctx;
  }

  /** Phase 2. */
  complete(state: PartitionState, p: Pending, score: Score | undefined, emit: Emit): void {
    const c = Object.hasOwn(state.customers, p.customerId) ? state.customers[p.customerId] : undefined;
    if (!c) return;
    const live = showAs(c, p.asOfCustomer);
    try {
      this.decide(state, c, p, score, emit);
    } finally {
      showAs(c, live);
    }
  }

  private decide(state: PartitionState, c: CustomerState, p: Pending, score: Score | undefined, emit: Emit): void {
    const l = lifecycleState(c);
    // Timers the watermark fired while this event was applied (same seq) ran before its decision when
    // events go one at a time: take them first here too.
    this.runDeferred(state, c, p.ctx.seq + 1, emit);
    if (p.feedback) this.emitFeedback(c, p.feedback, p.ctx, emit);
    if (score) setChurn(c, score, p.ctx.at);
    // A decision as of an earlier time than the current stage's start leaves the stage alone.
    const asOf = p.asOf ?? p.ctx.at;
    if (asOf >= l.since) {
      const trigger: Trigger = p.tx && !p.tx.reverses_tx_id && p.tx.kind !== 'refund' && p.ctx.at >= p.ctx.watermark ? 'activity' : 'event';
      applyStage(c, decideStage(c, asOf, p.features, c.churn.p, trigger, this.lifecycle), asOf === p.ctx.at ? p.ctx : { ...p.ctx, at: asOf }, p.sourceId, emit);
    }
    if (p.tx) {
      emit.event({
        type: 'transaction_scored', tx: p.tx, at: p.ctx.at, points: p.points, churnProbability: c.churn.p, modelVersion: c.churn.version,
        churnReasons: c.churn.reasons ?? '', stage: c.lifecycle.stage, tier: c.loyalty.tier, segment: c.profile?.segment ?? '',
        rulesVersion: loyaltyVersionAt(this.loyaltyFor(state), p.ctx.seq), partition: p.ctx.partition, seq: p.ctx.seq,
      });
    }
    emitCustomerState(c, p.ctx, p.features, emit, this.lifecycle);
    offersOnComplete(state, c, p, expectedValue(p.features, this.lifecycle.value), this.config.offers, emit);
    l.inflight = Math.max(0, l.inflight - 1);
    if (l.inflight === 0) this.runDeferred(state, c, Infinity, emit);
  }

  /** A rules reload recorded in the stream: it applies to this partition from this position on. */
  private onControl(state: PartitionState, body: ControlV1, ctx: Ctx, mentions?: readonly string[]): void {
    if (body.type !== 'loyalty_rules') return onErasure(state, body, mentions);
    const known = this.loyaltyFor(state).timeline.entries.some((e) => e.version === body.version);
    if (known) return;
    parseRules(body.text, `control ${body.control_id}`); // refuses (throws → DLQ) rules that do not validate
    (state.rules ??= []).push({ version: body.version, fromSeq: ctx.seq, text: body.text });
  }

  /** The loyalty config of a partition: the configured rules, then the reloads its stream carried. */
  private loyaltyFor(state: PartitionState): LoyaltyConfig {
    const reloads = state.rules;
    const latest = reloads?.at(-1);
    if (!reloads || !latest) return this.config.loyalty;
    const key = `${state.partition}:${reloads.length}:${latest.fromSeq}`;
    let cfg = this.reloaded.get(key);
    if (!cfg) {
      const entries = [...this.config.loyalty.timeline.entries];
      for (const r of reloads) {
        if (entries.some((e) => e.version === r.version)) continue;
        entries.push({ version: r.version, fromSeq: r.fromSeq, rules: parseRules(r.text, `rules ${r.version}`) });
      }
      cfg = loyaltyConfig(RulesTimeline.fromJSON(entries), this.config.loyalty.partitions);
      this.reloaded.set(key, cfg);
    }
    return cfg;
  }

  /** Derived from state (parsed reloads), never state itself: safe to rebuild after a restore. */
  private readonly reloaded = new Map<string, LoyaltyConfig>();

  private pending(c: CustomerState, ctx: Ctx, sourceId: string, points: number, tx?: TransactionV1, feedback?: FeedbackV1): Pending {
    lifecycleState(c).inflight++;
    const asOf = Math.max(ctx.at, ctx.watermark);
    const values = featureValues(c, asOf, this.featureConfig);
    const pending: Pending = {
      customerId: c.id, ctx, features: namedFeatures(values), values, asOf, points, duplicate: false, sourceId,
      asOfCustomer: { profile: c.profile, tier: c.loyalty.tier },
    };
    if (tx) pending.tx = tx;
    if (feedback) pending.feedback = feedback;
    return pending;
  }

  /**
   * Lifecycle timer decisions deferred behind this customer's phase 2 (same micro-batch), taken in
   * stream order: those fired before `beforeSeq` now, so a batch decides exactly as one event at a time.
   */
  private runDeferred(state: PartitionState, c: CustomerState, beforeSeq: number, emit: Emit): void {
    const l = lifecycleState(c);
    for (let d = l.deferred[0]; d !== undefined && d.seq < beforeSeq; d = l.deferred[0]) {
      l.deferred.shift();
      const tctx: Ctx = { seq: d.seq, partition: state.partition, at: d.at, watermark: d.watermark ?? d.at };
      const around = showAs(c, d.tier !== undefined ? { profile: d.profile, tier: d.tier } : { profile: c.profile, tier: c.loyalty.tier });
      try {
        if (d.rowOnly) emitCustomerState(c, tctx, namedFeatures(d.features), emit, this.lifecycle);
        else this.timerStage(state, c, tctx, namedFeatures(deferredValues(d.features)), emit);
      } finally {
        showAs(c, around);
      }
    }
  }

  private timerStage(state: PartitionState, c: CustomerState, tctx: Ctx, features: FeatureVector, emit: Emit): void {
    const decision = decideStage(c, tctx.at, features, c.churn.p, 'timer', this.lifecycle);
    if (applyStage(c, decision, tctx, `timer:lifecycle:${tctx.at}`, emit)) {
      emitCustomerState(c, tctx, features, emit, this.lifecycle);
      offersOnTimer(state, c, tctx, features, expectedValue(features, this.lifecycle.value), this.config.offers, emit);
    }
  }


  private onTransaction(state: PartitionState, c: CustomerState, tx: TransactionV1, ctx: Ctx, emit: Emit): Pending | undefined {
    const seen = seenIds(c);
    if (rememberFirst(seen, tx.tx_id, ctx.at) !== undefined) {
      state.stats.duplicates++;
      return undefined;
    }
    const loyalty = this.loyaltyFor(state);
    const reversalWindowMs = loyaltyReversalWindowMs(loyalty, ctx.seq);
    forgetBefore(seen, ctx.watermark - Math.max(this.config.dedupHorizonMs, reversalWindowMs));
    const outcome = loyaltyOnTransaction(state, c, tx, ctx, loyalty, emit);
    const original = tx.reverses_tx_id ?? tx.refund_of_tx_id;
    const originalDay = original ? seenDay(seen, original) : undefined;
    featuresOnTransaction(c, tx, ctx, originalDay === undefined ? undefined : originalDay * DAY_MS, {
      keepMs: reversalWindowMs, reversesRefund: outcome.ofRefund === true,
      ...(outcome.settledRefunds ? { settled: outcome.settledRefunds } : {}),
    });
    const points = outcome.points;
    armLifecycleTimer(state, c, Math.max(ctx.at, ctx.watermark), this.lifecycle);
    return this.pending(c, ctx, tx.tx_id, points, tx);
  }

  private onProfile(state: PartitionState, c: CustomerState, given: StoredProfileV1, ctx: Ctx, emit: Emit): Pending {
    const profile = withStatements(c.profile, given);
    c.profile = profile;
    armLifecycleTimer(state, c, Math.max(ctx.at, ctx.watermark), this.lifecycle);
    loyaltyOnProfile(state, c, profile, ctx, this.loyaltyFor(state), emit);
    return this.pending(c, ctx, `profile:${ctx.seq}`, 0);
  }

  private onFeedback(c: CustomerState, fb: FeedbackV1, ctx: Ctx): Pending {
    featuresOnFeedback(c, fb, ctx);
    return this.pending(c, ctx, fb.feedback_id, 0, undefined, fb);
  }

  /**
   * The feedback row, in phase 2: its stage is the customer's as the feedback arrived (before its own
   * decision), and an answer to one of vafa's surveys that names no campaign reports under the survey's,
   * both as one event at a time would see them, whatever the batch.
   */
  private emitFeedback(c: CustomerState, fb: FeedbackV1, ctx: Ctx, emit: Emit): void {
    const campaign = fb.campaign_id ?? (fb.offer_id ? openOffer(c, fb.offer_id)?.campaign : undefined) ?? '';
    emit.event({ type: 'feedback_recorded', feedback: fb, at: ctx.at, campaignId: campaign, stage: c.lifecycle.stage, seq: ctx.seq });
  }

  /** Fires the timers due at or before the watermark, in due order, at most `limit`; returns how many. */
  private fireTimers(state: PartitionState, ctx: Ctx, emit: Emit, limit: number): number {
    let fired = 0;
    while (fired < limit) {
      const timer = popDueTimer(state, ctx.watermark);
      if (!timer) break;
      fired++;
      this.fireTimer(state, timer, ctx, emit);
    }
    return fired;
  }

  private fireTimer(state: PartitionState, t: Timer, ctx: Ctx, emit: Emit): void {
    const c = state.customers[t.customerId];
    if (!c) return;
    const tctx: Ctx = { ...ctx, at: t.due };
    if (t.kind === LIFECYCLE_TIMER) {
      if (!takeLifecycleTimer(c, t.due)) return; // stale: re-armed since
      const values = featureValues(c, t.due, this.featureConfig);
      const l = lifecycleState(c);
      // The customer has events in this batch still waiting for phase 2: decide after them (stream order).
      if (l.inflight > 0) l.deferred.push({ at: t.due, seq: ctx.seq, features: values, watermark: ctx.watermark, ...firedWith(c) });
      else this.timerStage(state, c, tctx, namedFeatures(values), emit);
      armLifecycleTimer(state, c, t.due, this.lifecycle);
    } else if (isLoyaltyTimer(t.kind) && loyaltyOnTimer(state, c, t, tctx, this.loyaltyFor(state), emit)) {
      const values = featureValues(c, t.due, this.featureConfig);
      const l = lifecycleState(c);
      // Rows of the customer's events still waiting for phase 2 come before this one (stream order).
      if (l.inflight > 0) l.deferred.push({ at: t.due, seq: ctx.seq, features: values, watermark: ctx.watermark, rowOnly: true, ...firedWith(c) });
      else emitCustomerState(c, tctx, namedFeatures(values), emit, this.lifecycle);
    }
  }
}

/** The customer's profile and tier as a decision reads them. */
export interface CustomerView {
  profile: StoredProfileV1 | undefined;
  tier: string;
}

/**
 * Shows the customer to the decisions that follow with `view`'s profile and tier (an event's phase 2 sees
 * them as of its phase 1, a deferred timer as it fired); returns the view it replaced, to put back.
 */
function showAs(c: CustomerState, view: CustomerView): CustomerView {
  const replaced = { profile: c.profile, tier: c.loyalty.tier };
  c.profile = view.profile;
  c.loyalty.tier = view.tier;
  return replaced;
}

/** What a deferred timer decision or row reads of the customer as the timer fires (DeferredStage). */
function firedWith(c: CustomerState): { tier: string; profile?: StoredProfileV1 } {
  return c.profile === undefined ? { tier: c.loyalty.tier } : { tier: c.loyalty.tier, profile: c.profile };
}

/** The last score, in place (one object per customer, not one per event). */
function setChurn(c: CustomerState, score: Score, at: number): void {
  const churn = c.churn;
  churn.p = score.probability;
  churn.version = score.modelVersion;
  churn.at = at;
  if (score.reasons !== undefined) churn.reasons = score.reasons;
  else if (churn.reasons) churn.reasons = '';
}

/** A deferred decision's features: numbers in catalogue order (a state from before kept them by name). */
function deferredValues(features: readonly number[] | Record<string, number>): readonly number[] {
  return Array.isArray(features) ? features : FEATURE_NAMES_ORDER.map((n) => (features as Record<string, number>)[n] ?? 0);
}

function eventTime(ev: CoreEvent, state: PartitionState): number {
  const m = ev.msg;
  switch (m.kind) {
    case 'control': return state.maxEventTime;
    case 'transaction': return parseTime(m.body.occurred_at);
    case 'feedback': return parseTime(m.body.occurred_at);
    case 'redemption': return parseTime(m.body.occurred_at);
    case 'profile': return parseTime(m.body.opened_at);
    case 'migration': return parseTime(m.body.migrated_at);
  }
}

/** The customer's latest snapshot, with the features as of `ctx.at` and the CLV. */
function emitCustomerState(c: CustomerState, ctx: Ctx, features: FeatureVector, emit: Emit, lifecycle: LifecycleConfig): void {
  // Everything the snapshot reads, as of now; the rest waits until no later snapshot of this batch replaces it.
  const seq = ctx.seq;
  const at = ctx.at;
  const profile = c.profile;
  const { id } = c;
  const { balance, tier } = c.loyalty;
  const { p, version, reasons } = c.churn;
  const stage = c.lifecycle.stage;
  const lastAt = c.features.lastAt;
  const values = features[FEATURE_VALUES];
  emit.customer(id, () => {
    const named = namedFeatures(values);
    const value = expectedValue(named, lifecycle.value);
    return {
      customerId: id, seq, at, profile, balance, tier, churnProbability: p, modelVersion: version, churnReasons: reasons ?? '', stage,
      expectedValue: value, txCount30d: named.tx_count_30d ?? 0, spend30dMinor: named.spend_30d_minor ?? 0, features: values, lastTxAt: lastAt,
    };
  });
}
