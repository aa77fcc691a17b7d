/**
 * The loyalty engine: points, tiers, caps, budgets, expiry, reversals and referral, as a pure function of
 * the ordered stream. Rules are data (`config/schema/loyalty-rules.ts`), chosen per stream position
 * (`config/schema/rules-timeline.ts`); time is event time in the bank's time zone; expiry and tier reviews
 * are event-time timers fired by the partition watermark. Semantics are documented in docs/loyalty.md; the decisions in brief:
 *
 * - Evaluation: matching rules by priority (highest first; ties: the branch's own rules, then file
 *   order). Every matching rule applies (stacks) until an `exclusive` one has applied: it ends the list.
 *   Whether a rule "applied" depends on its conditions only, not on whether caps left it any points.
 * - Rounding: each rule's points = floor((fixed + points × amount / per_minor) × multiplier × tier
 *   multiplier), exact in integers; then per_tx cap, the customer's day / week / month usage of that
 *   rule, and the partition's share of the campaign budget.
 * - Lots: one per earning transaction (or credit), expiring at the end of the bank day `expiry_days`
 *   (of the member's tier when earned) later, or at the end of that day's bank month (rules
 *   `tiers.expiry_at: month_end`); redemptions consume lots first-in-first-out.
 * - Reversal: takes back what the original earned less what of it already expired, from the original's
 *   own lot first, then the oldest lots, and whatever is left becomes a debt (a negative balance)
 *   repaid first from later earnings. It releases the original's cap usage, campaign budget and
 *   tier-qualifying points. A reversal that arrives before its original is remembered and cancels it.
 * - Refund (`kind: refund`): takes back the refunded purchase's points in proportion (or its own amount's
 *   estimate); what it took is kept for the reversal window, and a reversal naming it gives exactly that back.
 *   One that came before the purchase it names is settled to the linked share when the purchase comes.
 * - Redemption: refused when the balance is short, visibly (a `redeem_refused` row with 0 points).
 * - Tiers: upgrade at once on qualifying points over the window; downgrade only at a scheduled review.
 */
import type { RedemptionV1, StoredProfileV1, TransactionV1 } from '../../../contracts/events.js';
import { pushTimer, type CustomerState, type PartitionState, type Timer } from '../state.js';
import { idHash, oldestSeenDay, seenDay, seenIds, type SeenIds } from '../seen.js';
import { DAY_MS, parseTime, type Ctx, type Emit, type MigrationV1 } from '../types.js';
import { bankDay, bankMonth, bankWeek, dateDay, dayOfWeek, dayStart, minuteOfDay, monthStart } from './calendar.js';
import { parseReferralCreditId, REFERRAL_RULE } from './referral.js';
import { isMember } from './membership.js';
import type { CompiledRule, Condition, LoyaltyRules, TierDef, TimelineEntry, LoyaltyConfig } from '../../../config/schema/mod.js';
import type { EarlyRefund, EarnRecord, HeldAward, HeldEarning, LoyaltyState, Lot, RefundRecord } from './state.js';
import { item, ownValue } from '../invariant.js';
import { dueLots, earliestExpiry, earnedRecord, forgetEarned, forgetEarnedBefore, insertLot, keepEarned, mergeLots, ownLot, take } from './book.js';

/** The rules version in force at a stream position (for `scored_transactions.rules_version`). */
export function loyaltyVersionAt(cfg: LoyaltyConfig, seq: number): string {
  return cfg.timeline.at(seq).version;
}

/** How long after a transaction a reversal of it is accepted at a stream position (`reversals.window_days`), ms. */
export function loyaltyReversalWindowMs(cfg: LoyaltyConfig, seq: number): number {
  return cfg.timeline.at(seq).rules.reversals.windowDays * DAY_MS;
}

export const LOYALTY_EXPIRY_TIMER = 'loyalty.expire';
export const LOYALTY_REVIEW_TIMER = 'loyalty.review';
/** A non-member's pending points run out (rules `membership.pending_days`). */
export const LOYALTY_HOLD_TIMER = 'loyalty.hold';

export function isLoyaltyTimer(kind: string): boolean {
  return kind === LOYALTY_EXPIRY_TIMER || kind === LOYALTY_REVIEW_TIMER || kind === LOYALTY_HOLD_TIMER;
}

/** A change of tier, exposed so the offers engine can react to it. */
export interface TierChange {
  customerId: string;
  from: string;
  to: string;
  /** Event time of the change. */
  at: number;
  reason: string;
}

export type LoyaltyStatus =
  | 'earned' | 'none' | 'declined' | 'reversed' | 'reversal_pending' | 'cancelled'
  | 'redeemed' | 'refused' | 'credited' | 'duplicate' | 'refunded' | 'refund_reversed' | 'not_member'
  /** A non-member's earning kept as pending points (rules `membership.pending_days`): 0 points now. */
  | 'held';

export interface LoyaltyOutcome {
  /** Net points the event moved: earn + bonus, −reverse, −refund, −redeem, +credit; 0 when refused. */
  points: number;
  status: LoyaltyStatus;
  /** The tier change the event caused, if any. */
  tierChange?: TierChange;
  /**
   * A reversal naming a refund applied within the reversal window (a voided refund): it undoes the
   * refund (whatever points it gave back, possibly none), not a purchase.
   */
  ofRefund?: true;
  /**
   * Refunds that came before this purchase and were settled on it (see settleEarlyRefunds): each refund's
   * id, event time and amount, so the features take that money out of the purchase's day as they would
   * have had the refund come after it.
   */
  settledRefunds?: { id: string; at: number; amount: number }[];
}

// ---------------------------------------------------------------------------------------------------
// Entry points
// ---------------------------------------------------------------------------------------------------

/** Applies a transaction (an earning one, a reversal or a refund) to the customer's loyalty state. */
export function loyaltyOnTransaction(state: PartitionState, c: CustomerState, tx: TransactionV1, ctx: Ctx, cfg: LoyaltyConfig, emit: Emit): LoyaltyOutcome {
  const entry = cfg.timeline.at(ctx.seq);
  prune(c.loyalty, ctx.watermark, entry.rules, seenIds(c));
  const placed = place(state, c, ctx, entry, emit);
  const early = earlyRefundsOf(c.loyalty, tx.tx_id, ctx, entry.rules);
  const out = tx.reverses_tx_id !== undefined ? reverse(state, c, tx, tx.reverses_tx_id, ctx, entry, emit)
    : tx.kind === 'refund' ? refund(c, tx, ctx, entry, emit)
      : earn(state, c, tx, ctx, entry, cfg, emit);
  return withChange(early.length > 0 ? settleEarlyRefunds(state, c, tx, early, out, ctx, entry, emit) : out, placed);
}

/**
 * Applies a redemption in stream order: refused when the balance is short. A negative amount is a
 * credit (the referral bonus another partition decided; see referral.ts), never produced by the API.
 */
export function loyaltyOnRedemption(state: PartitionState, c: CustomerState, r: RedemptionV1, ctx: Ctx, cfg: LoyaltyConfig, emit: Emit): LoyaltyOutcome {
  const entry = cfg.timeline.at(ctx.seq);
  const R = entry.rules;
  const L = c.loyalty;
  prune(L, ctx.watermark, R);
  const placed = place(state, c, ctx, entry, emit);
  const prev = own(L.redemptions, r.redemption_id);
  if (prev !== undefined && prev >= ctx.watermark - R.reversals.windowDays * DAY_MS) return withChange({ points: 0, status: 'duplicate' }, placed);
  L.redemptions[r.redemption_id] = ctx.at;
  if (r.points < 0) return withChange(credit(state, c, r, -r.points, ctx, entry, emit), placed);
  if (!(r.points > 0) || L.balance < r.points) {
    ledger(c, ctx, emit, { id: `refused:rd:${r.redemption_id}`, kind: 'redeem_refused', points: 0, rule: 'redemption', version: entry.version, source: r.redemption_id, channel: '', at: ctx.at, expiresAt: null });
    return withChange({ points: 0, status: 'refused' }, placed);
  }
  take(L, r.points, undefined);
  L.balance -= r.points;
  ledger(c, ctx, emit, { id: `redeem:rd:${r.redemption_id}`, kind: 'redeem', points: -r.points, rule: 'redemption', version: entry.version, source: r.redemption_id, channel: '', at: ctx.at, expiresAt: null });
  return withChange({ points: -r.points, status: 'redeemed' }, placed);
}

/**
 * An opening balance migrated from the bank's previous club (types.ts `MigrationV1`): a `migration`
 * ledger entry naming its source file and line, a lot with its own expiry, and the tier it held there.
 * Applied once per `migration_id` (remembered like a redemption id).
 */
export function loyaltyOnMigration(state: PartitionState, c: CustomerState, m: MigrationV1, ctx: Ctx, cfg: LoyaltyConfig, emit: Emit): LoyaltyOutcome {
  const entry = cfg.timeline.at(ctx.seq);
  const R = entry.rules;
  const L = c.loyalty;
  prune(L, ctx.watermark, R);
  const placed = place(state, c, ctx, entry, emit);
  const key = `migration:${m.migration_id}`;
  if (own(L.redemptions, key) !== undefined) return withChange({ points: 0, status: 'duplicate' }, placed);
  L.redemptions[key] = ctx.at;
  let change = placed;
  if (m.tier !== undefined && m.tier !== L.tier && tierIndex(R, m.tier) >= 0) {
    change = changeTier(c, ctx, ctx.at, m.tier, `migration: ${m.source}`, emit);
    scheduleReview(state, c, ctx.at, R);
  }
  if (m.points <= 0) return withChange({ points: 0, status: 'none' }, change);
  const exp = m.expires_at !== undefined ? parseTime(m.expires_at) : expiryAt(ctx.at, tierDef(R, L.tier).expiryDays, R);
  L.balance += m.points;
  ledger(c, ctx, emit, { id: key, kind: 'migration', points: m.points, rule: 'migration', version: entry.version, source: m.source, channel: '', at: ctx.at, expiresAt: exp });
  addLot(state, c, { src: 'rd', id: key, at: ctx.at, seq: ctx.seq, exp, pts: m.points, rem: m.points, tier: L.tier, ver: entry.version });
  return withChange({ points: m.points, status: 'credited' }, change);
}

/**
 * A profile upsert: places the member in a tier, remembers who referred them and, when it makes a
 * customer with pending points a member, grants them (call after `c.profile` is set).
 */
export function loyaltyOnProfile(state: PartitionState, c: CustomerState, profile: StoredProfileV1, ctx: Ctx, cfg: LoyaltyConfig, emit: Emit): LoyaltyOutcome {
  const entry = cfg.timeline.at(ctx.seq);
  const L = c.loyalty;
  prune(L, ctx.watermark, entry.rules);
  const placed = place(state, c, ctx, entry, emit);
  const by = profile.referred_by;
  if (by !== undefined && by !== c.id && !L.referral?.done) L.referral = { by, opened: parseTime(profile.opened_at), done: false };
  if (L.held === undefined || !isMember(profile)) return withChange({ points: 0, status: 'none' }, placed);
  const before = L.balance;
  const upgraded = grantHeld(state, c, profile, L.held, ctx, entry, emit);
  return withChange({ points: L.balance - before, status: 'credited', ...(upgraded ? { tierChange: upgraded } : {}) }, placed);
}

/** Fires a loyalty timer (lot expiry or tier review). Returns true when balance or tier changed. */
export function loyaltyOnTimer(state: PartitionState, c: CustomerState, t: Timer, ctx: Ctx, cfg: LoyaltyConfig, emit: Emit): boolean {
  const entry = cfg.timeline.at(ctx.seq);
  if (t.kind === LOYALTY_EXPIRY_TIMER) {
    const L = c.loyalty;
    if (L.expiryAt !== undefined && L.expiryAt !== t.due) return false; // stale: re-armed since
    const changed = expireLots(c, t.due, ctx, emit);
    L.expiryAt = 0;
    armExpiry(state, c);
    return changed;
  }
  if (t.kind === LOYALTY_REVIEW_TIMER) return review(state, c, t.due, ctx, entry, emit);
  if (t.kind === LOYALTY_HOLD_TIMER) dropHeld(state, c.loyalty, (h) => h.until <= t.due);
  return false;
}

// ---------------------------------------------------------------------------------------------------
// Earning
// ---------------------------------------------------------------------------------------------------

/**
 * Whether a reversal that arrived first (within `reversals.pending_days`) cancels this transaction; the
 * reversal's note is consumed either way.
 */
function cancelledBeforehand(L: CustomerState['loyalty'], tx: TransactionV1, ctx: Ctx, R: TimelineEntry['rules']): boolean {
  if (isEmpty(L.pending)) return false; // (looking a fresh id up costs a string-table probe)
  const pending = own(L.pending, tx.tx_id);
  if (pending === undefined) return false;
  delete L.pending[tx.tx_id];
  return pending >= ctx.watermark - R.reversals.pendingDays * DAY_MS;
}

function earn(state: PartitionState, c: CustomerState, tx: TransactionV1, ctx: Ctx, entry: TimelineEntry, cfg: LoyaltyConfig, emit: Emit): LoyaltyOutcome {
  const R = entry.rules;
  const L = c.loyalty;
  if (cancelledBeforehand(L, tx, ctx, R)) return { points: 0, status: 'cancelled' };
  if (tx.status === 'declined') return { points: 0, status: 'declined' };
  const member = isMember(c.profile);
  const holdDays = R.membership?.pendingDays ?? 0;
  if (!member && holdDays === 0) return { points: 0, status: 'not_member' };
  if (R.currencies && !R.currencies.includes(tx.currency)) return { points: 0, status: 'none' };
  if (member) referral(c, tx, ctx, entry, cfg, emit);

  const tier = tierDef(R, L.tier);
  const awards = evaluate(state, c, tx, ctx, R, tier, cfg);
  if (!member) return hold(state, c, tx, ctx, entry, awards, tier, holdDays);
  if (awards.length === 0) return { points: 0, status: 'none' };

  const total = awards.reduce((s, a) => s + a.pts, 0);
  const exp = expiryAt(ctx.at, tier.expiryDays, R);
  for (const a of awards) {
    L.balance += a.pts;
    ledger(c, ctx, emit, { id: `${a.rule.kind}:${a.rule.id}:${tx.tx_id}`, kind: a.rule.kind, points: a.pts, rule: a.rule.id, version: entry.version, source: tx.tx_id, channel: tx.channel, at: ctx.at, expiresAt: exp });
  }
  addLot(state, c, { src: 'tx', id: tx.tx_id, at: ctx.at, seq: ctx.seq, exp, pts: total, rem: total, tier: L.tier, ver: entry.version });
  const month = bankMonth(ctx.at, R.offsetMin);
  keepEarned(L, tx.tx_id, earnRecord(ctx.at, total, entry.version, month, awards, tx.amount_minor));
  L.months[month] = monthPoints(L.months, month) + total;
  const tierChange = upgrade(state, c, ctx, entry, emit);
  return { points: total, status: 'earned', ...(tierChange ? { tierChange } : {}) };
}

/** What a reversal needs of an earning, and nothing more (the record lives for the reversal window). */
function earnRecord(at: number, pts: number, ver: string, m: number, awards: readonly Award[], amt: number): EarnRecord {
  const rec: EarnRecord = { at, pts, ver, m, amt };
  for (const a of awards) {
    if (a.caps.length === 0 && !a.campaign) continue;
    (rec.awards ??= []).push({ pts: a.pts, ...(a.caps.length ? { caps: a.caps } : {}), ...(a.campaign ? { campaign: a.campaign } : {}) });
  }
  return rec;
}

interface Award {
  rule: CompiledRule;
  pts: number;
  caps: string[];
  campaign: string;
}

function evaluate(state: PartitionState, c: CustomerState, tx: TransactionV1, ctx: Ctx, R: LoyaltyRules, tier: TierDef, cfg: LoyaltyConfig): Award[] {
  const L = c.loyalty;
  const branch = memberBranch(c);
  const rules = branch !== '' && Object.hasOwn(R.branches, branch) ? ownValue(R.branches, branch) : R.bank;
  const day = bankDay(ctx.at, R.offsetMin);
  const week = bankWeek(day, R.weekStart);
  const month = bankMonth(ctx.at, R.offsetMin);
  const facts: Facts = {
    tx, at: ctx.at, day, minute: minuteOfDay(ctx.at, R.offsetMin), dow: dayOfWeek(day), tier: L.tier, segment: c.profile?.segment, rules: R,
  };
  const awards: Award[] = [];
  for (const rule of rules) {
    if (!matches(rule.when, facts)) continue;
    let pts = rulePoints(rule, tx.amount_minor, tier);
    if (rule.caps.tx !== null) pts = Math.min(pts, rule.caps.tx);
    const caps: string[] = [];
    const limits = rule.caps;
    if (limits.day !== null && limits.day !== undefined) pts = capped(L, caps, `${rule.id}|d${day}`, limits.day, pts);
    if (limits.week !== null && limits.week !== undefined) pts = capped(L, caps, `${rule.id}|w${week}`, limits.week, pts);
    if (limits.month !== null && limits.month !== undefined) pts = capped(L, caps, `${rule.id}|m${month}`, limits.month, pts);
    let campaign = '';
    const campaignId = rule.when.campaign;
    const camp = campaignId !== null ? R.campaigns[campaignId] : undefined;
    if (camp && camp.budget !== null && campaignId !== null) {
      campaign = campaignId;
      const key = budgetKey(campaign);
      pts = Math.min(pts, Math.max(0, budgetShare(camp.budget, ctx.partition, cfg.partitions) - (own(state.budgets, key) ?? 0)));
    }
    if (pts > 0) {
      for (const k of caps) L.caps[k] = (own(L.caps, k) ?? 0) + pts;
      if (campaign) state.budgets[budgetKey(campaign)] = (own(state.budgets, budgetKey(campaign)) ?? 0) + pts;
      awards.push({ rule, pts, caps, campaign });
    }
    if (rule.exclusive) break;
  }
  return awards;
}

/** `pts` within what is left of a period's cap (counter `key`, which the award then counts against). */
function capped(L: LoyaltyState, caps: string[], key: string, cap: number, pts: number): number {
  caps.push(key);
  return Math.min(pts, Math.max(0, cap - (own(L.caps, key) ?? 0)));
}

interface Facts {
  tx: TransactionV1;
  at: number;
  day: number;
  minute: number;
  dow: number;
  tier: string;
  segment: string | undefined;
  rules: LoyaltyRules;
}

function matches(w: Condition, f: Facts): boolean {
  const tx = f.tx;
  if (w.channels && !w.channels.includes(tx.channel)) return false;
  if (w.mccs && (tx.mcc === undefined || !w.mccs.includes(tx.mcc))) return false;
  if (w.excludeMccs && tx.mcc !== undefined && w.excludeMccs.includes(tx.mcc)) return false;
  if (w.merchants && (tx.merchant_id === undefined || !w.merchants.includes(tx.merchant_id))) return false;
  if (w.billers && (tx.biller_id === undefined || !w.billers.includes(tx.biller_id))) return false;
  if (w.branches && (tx.branch_id === undefined || !w.branches.includes(tx.branch_id))) return false;
  if (w.atBranch !== null && w.atBranch !== (tx.branch_id !== undefined)) return false;
  if (w.minAmount !== null && tx.amount_minor < w.minAmount) return false;
  if (w.maxAmount !== null && tx.amount_minor > w.maxAmount) return false;
  if (w.timeFrom !== null && w.timeTo !== null) {
    const inside = w.timeFrom < w.timeTo ? f.minute >= w.timeFrom && f.minute < w.timeTo : f.minute >= w.timeFrom || f.minute < w.timeTo;
    if (!inside) return false;
  }
  if (w.days && !w.days.includes(f.dow)) return false;
  if (w.tiers && !w.tiers.includes(f.tier)) return false;
  if (w.segments && (f.segment === undefined || !w.segments.includes(f.segment))) return false;
  if (w.campaign !== null) {
    const camp = f.rules.campaigns[w.campaign];
    if (!camp || f.at < camp.from || f.at >= camp.to) return false;
  }
  if (w.earlyByDays !== null) {
    if (tx.due_date === undefined || dateDay(tx.due_date) - f.day < w.earlyByDays) return false;
  }
  return true;
}

const BP = 10_000n;

/** floor((fixed + points × amount / per) × multiplier × tier multiplier), exact. */
function rulePoints(rule: CompiledRule, amount: number, tier: TierDef): number {
  const a = rule.award;
  const per = BigInt(a.per);
  const tierBp = a.tierMult ? BigInt(tier.multBp) : BP;
  const num = (BigInt(a.fixed) * per + BigInt(a.points) * BigInt(amount)) * BigInt(a.multBp) * tierBp;
  const pts = num / (per * BP * BP);
  return pts > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(pts);
}

/** The partition's share of a global budget: split evenly, the remainder to the lowest partitions. */
export function budgetShare(budget: number, partition: number, partitions: number): number {
  const p = Math.max(1, partitions);
  return Math.floor(budget / p) + (partition < budget % p ? 1 : 0);
}

export function budgetKey(campaign: string): string {
  return `loyalty:campaign:${campaign}`;
}

/** End of the bank day `days` after the day of `at`; with rules `tiers.expiry_at: month_end`, the end of that day's bank month. */
export function expiryAt(at: number, days: number, R: Pick<LoyaltyRules, 'offsetMin' | 'expiryAt'>): number {
  const dayEnd = dayStart(bankDay(at, R.offsetMin) + days + 1, R.offsetMin) - 1;
  return R.expiryAt === 'month_end' ? monthStart(bankMonth(dayEnd, R.offsetMin) + 1, R.offsetMin) - 1 : dayEnd;
}

function referral(c: CustomerState, tx: TransactionV1, ctx: Ctx, entry: TimelineEntry, cfg: LoyaltyConfig, emit: Emit): void {
  const ref = c.loyalty.referral;
  const rr = entry.rules.referral;
  if (!ref || ref.done || !rr) return;
  if (ctx.at < ref.opened || ctx.at > ref.opened + rr.windowDays * DAY_MS) return;
  if (rr.channels && !rr.channels.includes(tx.channel)) return;
  if (tx.amount_minor < rr.minAmount) return;
  ref.done = true;
  emit.event({ type: 'referral_qualified', referrerId: ref.by, referredId: c.id, points: rr.points, at: ctx.at, rulesVersion: entry.version, partitions: cfg.partitions });
}

function credit(state: PartitionState, c: CustomerState, r: RedemptionV1, pts: number, ctx: Ctx, entry: TimelineEntry, emit: Emit): LoyaltyOutcome {
  const R = entry.rules;
  const L = c.loyalty;
  const ref = parseReferralCreditId(r.redemption_id);
  const version = ref?.version ?? entry.version;
  const exp = expiryAt(ctx.at, tierDef(R, L.tier).expiryDays, R);
  L.balance += pts;
  ledger(c, ctx, emit, { id: `credit:rd:${r.redemption_id}`, kind: 'bonus', points: pts, rule: ref ? REFERRAL_RULE : 'credit', version, source: r.redemption_id, channel: '', at: ctx.at, expiresAt: exp });
  addLot(state, c, { src: 'rd', id: r.redemption_id, at: ctx.at, seq: ctx.seq, exp, pts, rem: pts, tier: L.tier, ver: version });
  const month = bankMonth(ctx.at, R.offsetMin);
  L.months[month] = (own(L.months, String(month)) ?? 0) + pts;
  const tierChange = upgrade(state, c, ctx, entry, emit);
  return { points: pts, status: 'credited', ...(tierChange ? { tierChange } : {}) };
}

// ---------------------------------------------------------------------------------------------------
// Lots, reversals, expiry
// ---------------------------------------------------------------------------------------------------

/** Adds a lot in (at, seq) order; a new lot first repays any debt. Schedules its expiry. */
function addLot(state: PartitionState, c: CustomerState, lot: Lot): void {
  const L = c.loyalty;
  if (!insertLot(L, lot)) return;
  if (L.expiryAt === undefined) {
    // A state from before one timer per customer: its lots' timers are in the heap; chain from here on.
    L.expiryAt = earliestExpiry(L);
    pushTimer(state, { due: L.expiryAt, customerId: c.id, kind: LOYALTY_EXPIRY_TIMER });
  } else if (L.expiryAt === 0 || lot.exp < L.expiryAt) {
    L.expiryAt = lot.exp;
    pushTimer(state, { due: lot.exp, customerId: c.id, kind: LOYALTY_EXPIRY_TIMER });
  }
}

/** Arms the customer's expiry timer for the earliest lot expiry (one pending timer per customer). */
function armExpiry(state: PartitionState, c: CustomerState): void {
  const L = c.loyalty;
  const next = earliestExpiry(L);
  if (next === 0) return;
  L.expiryAt = next;
  pushTimer(state, { due: next, customerId: c.id, kind: LOYALTY_EXPIRY_TIMER });
}

function reverse(state: PartitionState, c: CustomerState, tx: TransactionV1, orig: string, ctx: Ctx, entry: TimelineEntry, emit: Emit): LoyaltyOutcome {
  const R = entry.rules;
  const L = c.loyalty;
  const refunded = L.refunds !== undefined ? own(L.refunds, orig) : undefined;
  if (refunded !== undefined) {
    if (refunded.at >= ctx.watermark - R.reversals.windowDays * DAY_MS) return { ...unrefund(state, c, tx, orig, refunded, ctx, entry, emit), ofRefund: true };
    forgetRefund(L, orig, refunded);
  }
  if (isPastRefund(c, orig)) return { points: 0, status: 'none', ofRefund: true };
  if (tx.status === 'declined' || orig === tx.tx_id) return { points: 0, status: 'none' };
  if (L.held !== undefined && own(L.held, orig) !== undefined) {
    dropHeld(state, L, (_, id) => id === orig);
    return { points: 0, status: 'reversed' };
  }
  const rec = earnedRecord(L, orig);
  if (rec === undefined || rec.at < ctx.watermark - R.reversals.windowDays * DAY_MS) {
    if (rec !== undefined) forgetEarned(L, orig);
    if (seenDay(seenIds(c), orig) !== undefined) return { points: 0, status: 'none' }; // it earned nothing (or too long ago)
    const pending = own(L.pending, orig);
    if (pending === undefined || pending < ctx.watermark - R.reversals.pendingDays * DAY_MS) L.pending[orig] = ctx.at; // keep the first unexpired one
    return { points: 0, status: 'reversal_pending' };
  }
  forgetEarned(L, orig);
  // Refunds of it took their share already; with the purchase gone, a later reversal of one gives nothing back.
  const refunds = rec.rp ? L.refunds : undefined;
  if (refunds) {
    for (const id in refunds) {
      const rf = ownValue(refunds, id);
      if (rf.of === orig) rf.pts = 0;
    }
  }
  const back = Math.max(0, rec.pts - (rec.x ?? 0) - (rec.rp ?? 0));
  takeBack(L, back, orig);
  release(state, L, rec);
  if (back > 0) {
    ledger(c, ctx, emit, { id: `reverse:tx:${tx.tx_id}`, kind: 'reverse', points: -back, rule: 'reversal', version: rec.ver, source: orig, channel: tx.channel, at: ctx.at, expiresAt: null });
  }
  return { points: -back, status: 'reversed' };
}

/**
 * A refund (`kind: refund`) never earns. Naming an original whose earning record is within the reversal
 * window, it takes back `floor(original points × amount refunded so far / original amount)` less what
 * earlier refunds of it took, never more than the original earned less what of it expired. Otherwise
 * (no original named, an unknown one, one past the window) it takes back what its own amount earns under
 * the rules in force ({@link unlinkedRefundPoints}); an original known within the window that earned
 * nothing gives nothing back. Points come out like a reversal's: the original's lot first, then the oldest,
 * the rest a debt. Tier-qualifying points go down by what is taken; cap usage and budgets stay used. A
 * reversal of the refund that came first (within `pending_days`) cancels it, as it cancels a purchase.
 */
function refund(c: CustomerState, tx: TransactionV1, ctx: Ctx, entry: TimelineEntry, emit: Emit): LoyaltyOutcome {
  const R = entry.rules;
  const L = c.loyalty;
  if (cancelledBeforehand(L, tx, ctx, R)) return { points: 0, status: 'cancelled' };
  const month = bankMonth(ctx.at, R.offsetMin);
  // What a reversal of this refund needs, whatever it took (the reversal is then known as a refund's).
  const kept = (pts: number, m: number, ver: string, exp: number, of?: string, amt?: number): void => {
    (L.refunds ??= {})[tx.tx_id] = { at: ctx.at, pts, ver, m, exp, ...(of !== undefined ? { of } : {}), ...(amt ? { amt } : {}) };
  };
  if (tx.status === 'declined') {
    kept(0, month, entry.version, 0);
    return { points: 0, status: 'declined' };
  }
  const orig = tx.refund_of_tx_id !== undefined && tx.refund_of_tx_id !== tx.tx_id ? tx.refund_of_tx_id : undefined;
  const horizon = ctx.watermark - R.reversals.windowDays * DAY_MS;
  const held = orig !== undefined && L.held !== undefined ? own(L.held, orig) : undefined;
  if (held !== undefined) {
    kept(0, month, entry.version, held.exp, orig, countHeldRefund(held, tx.amount_minor));
    return { points: 0, status: 'none' };
  }
  const rec = orig !== undefined ? earnedRecord(L, orig) : undefined;
  if (orig !== undefined && rec !== undefined && rec.at >= horizon && rec.amt !== undefined) {
    const { back, counted } = refundShare(rec, tx.amount_minor);
    const lot = ownLot(L, orig);
    kept(back, rec.m, rec.ver, lot?.exp ?? expiryAt(ctx.at, tierDef(R, L.tier).expiryDays, R), orig, counted);
    if (back === 0) return { points: 0, status: 'none' };
    takeBack(L, back, orig);
    const m = own(L.months, String(rec.m));
    if (m !== undefined) L.months[rec.m] = m - back;
    ledger(c, ctx, emit, { id: `refund:tx:${tx.tx_id}`, kind: 'refund', points: -back, rule: 'refund', version: rec.ver, source: orig, channel: tx.channel, at: ctx.at, expiresAt: null });
    return { points: -back, status: 'refunded' };
  }
  const exp = expiryAt(ctx.at, tierDef(R, L.tier).expiryDays, R);
  const origDay = orig !== undefined && rec === undefined ? seenDay(seenIds(c), orig) : undefined;
  if (origDay !== undefined && origDay * DAY_MS >= horizon) { // known, recent, earned nothing
    kept(0, month, entry.version, exp);
    return { points: 0, status: 'none' };
  }
  const back = R.currencies && !R.currencies.includes(tx.currency) ? 0 : unlinkedRefundPoints(c, tx, ctx, R);
  kept(back, month, entry.version, exp);
  if (orig !== undefined && rec === undefined && origDay === undefined) ownValue(L.refunds ?? {}, tx.tx_id).early = { of: orig, amt: tx.amount_minor, seq: ctx.seq };
  if (back === 0) return { points: 0, status: 'none' };
  takeBack(L, back, undefined);
  L.months[month] = (own(L.months, String(month)) ?? 0) - back;
  ledger(c, ctx, emit, { id: `refund:tx:${tx.tx_id}`, kind: 'refund', points: -back, rule: 'refund:unlinked', version: entry.version, source: tx.tx_id, channel: tx.channel, at: ctx.at, expiresAt: null });
  return { points: -back, status: 'refunded' };
}

/** A linked refund of `amount` against its purchase's record: the points it takes back and the amount it counted (the record updated). */
function refundShare(rec: EarnRecord, amount: number): { back: number; counted: number } {
  const total = rec.amt ?? 0;
  const refunded = Math.min(total, (rec.rf ?? 0) + amount);
  const due = total === 0 ? rec.pts : Number((BigInt(rec.pts) * BigInt(refunded)) / BigInt(total));
  const taken = rec.rp ?? 0;
  const back = Math.max(0, Math.min(due, rec.pts - (rec.x ?? 0)) - taken);
  const counted = refunded - (rec.rf ?? 0);
  rec.rf = refunded;
  if (back > 0) rec.rp = taken + back;
  return { back, counted };
}

/**
 * The refunds that named this transaction before it arrived and are still waiting for it (within
 * `reversals.pending_days` of the refund, not voided), in arrival order. Their tier-qualifying points are
 * put back first, so the transaction's own tier check sees what it would have seen had it come first;
 * {@link settleEarlyRefunds} then books them as linked. Waits that ran out are forgotten (they stay unlinked).
 */
const NO_EARLY_REFUNDS: readonly [string, RefundRecord, EarlyRefund][] = Object.freeze([]);

function earlyRefundsOf(L: LoyaltyState, txId: string, ctx: Ctx, R: LoyaltyRules): readonly [string, RefundRecord, EarlyRefund][] {
  const refunds = L.refunds;
  if (refunds === undefined) return NO_EARLY_REFUNDS;
  const horizon = ctx.watermark - R.reversals.pendingDays * DAY_MS;
  const recent = ctx.at >= ctx.watermark - R.reversals.windowDays * DAY_MS;
  const out: [string, RefundRecord, EarlyRefund][] = [];
  for (const id in refunds) {
    const rf = ownValue(refunds, id);
    const early = rf.early;
    if (early?.of !== txId) continue;
    if (rf.rev === 1 || rf.at < horizon || !recent) delete rf.early;
    else out.push([id, rf, early]);
  }
  out.sort((a, b) => a[2].seq - b[2].seq);
  for (const [, rf] of out) {
    const m = own(L.months, String(rf.m));
    if (m !== undefined) L.months[rf.m] = m + rf.pts;
  }
  return out;
}

/**
 * Settles the refunds that came before `tx` (their purchase) so that the result is what they would have
 * done after it: each takes the linked share ({@link refundShare}) instead of what its own amount earned
 * (nothing when the purchase earned nothing), and the difference is one `refund` row (rule
 * `refund:settled`, id `refund:settled:tx:<refund>`, source the purchase; + when the refund took too
 * much). Its record becomes a linked refund's, so a reversal of it gives back the linked share.
 */
function settleEarlyRefunds(state: PartitionState, c: CustomerState, tx: TransactionV1, early: readonly [string, RefundRecord, EarlyRefund][], out: LoyaltyOutcome, ctx: Ctx, entry: TimelineEntry, emit: Emit): LoyaltyOutcome {
  let moved = 0;
  const settledRefunds = early.map(([id, rf, waiting]) => ({ id, at: rf.at, amount: waiting.amt }));
  for (const [id, rf, waiting] of early) moved += settleEarly(state, c, tx, id, rf, waiting.amt, ctx, entry, emit);
  const tierChange = upgrade(state, c, ctx, entry, emit);
  return { ...out, points: out.points + moved, settledRefunds, ...(tierChange && !out.tierChange ? { tierChange } : {}) };
}

/** Settles one refund that came before its purchase `tx`; returns the points it moved. */
function settleEarly(state: PartitionState, c: CustomerState, tx: TransactionV1, id: string, rf: RefundRecord, amount: number, ctx: Ctx, entry: TimelineEntry, emit: Emit): number {
  const L = c.loyalty;
  const horizon = ctx.watermark - entry.rules.reversals.windowDays * DAY_MS;
  delete rf.early;
  const took = rf.pts;
  const rec = earnedRecord(L, tx.tx_id);
  let back = 0;
  if (rec !== undefined && rec.amt !== undefined) {
    const share = refundShare(rec, amount);
    back = share.back;
    const lot = ownLot(L, tx.tx_id);
    Object.assign(rf, { pts: back, ver: rec.ver, m: rec.m, of: tx.tx_id, exp: lot?.exp ?? rf.exp }, share.counted ? { amt: share.counted } : {});
    const m = own(L.months, String(rec.m));
    if (m !== undefined) L.months[rec.m] = m - back;
  } else if (rec !== undefined || Math.floor(ctx.at / DAY_MS) * DAY_MS < horizon) { // linked, it would have been unlinked too
    const m = own(L.months, String(rf.m));
    if (m !== undefined) L.months[rf.m] = m - took;
    return 0;
  } else {
    rf.pts = 0;
    const held = L.held !== undefined ? own(L.held, tx.tx_id) : undefined;
    if (held !== undefined) Object.assign(rf, { of: tx.tx_id, exp: held.exp }, withAmount(countHeldRefund(held, amount)));
  }
  const diff = took - back;
  if (diff === 0) return 0;
  if (diff < 0) takeBack(L, -diff, tx.tx_id);
  else L.balance += diff;
  ledger(c, ctx, emit, { id: `refund:settled:tx:${id}`, kind: 'refund', points: diff, rule: 'refund:settled', version: rf.ver, source: tx.tx_id, channel: tx.channel, at: ctx.at, expiresAt: diff > 0 ? rf.exp : null });
  if (diff > 0) restore(state, c, rec !== undefined ? tx.tx_id : id, diff, rf.exp, rf.ver, ctx, emit);
  return diff;
}

/**
 * Puts `pts` points given back (already on the balance) into the lots: a debt first, then the lot `id`
 * (one is made, expiring at `exp`; at once when that has passed, as its timer would have).
 */
function restore(state: PartitionState, c: CustomerState, id: string, pts: number, exp: number, ver: string, ctx: Ctx, emit: Emit): void {
  const L = c.loyalty;
  const lot = ownLot(L, id);
  if (lot === undefined && exp > ctx.watermark) return addLot(state, c, { src: 'tx', id, at: ctx.at, seq: ctx.seq, exp, pts, rem: pts, tier: L.tier, ver });
  const repay = Math.min(L.debt, pts);
  L.debt -= repay;
  const rest = pts - repay;
  if (rest <= 0) return;
  if (lot !== undefined) lot.rem += rest;
  else {
    L.balance -= rest;
    ledger(c, ctx, emit, { id: `expire:tx:${id}`, kind: 'expire', points: -rest, rule: `expiry:${L.tier}`, version: ver, source: id, channel: '', at: exp, expiresAt: exp });
  }
}

/** A refund's record leaves the reversal window: its id stays known as a refund's (see {@link LoyaltyState.pastRefunds}). */
function forgetRefund(L: LoyaltyState, id: string, rf: RefundRecord): void {
  if (L.refunds) delete L.refunds[id];
  (L.pastRefunds ??= {})[idHash(id)] = Math.floor(rf.at / DAY_MS);
}

/** Whether `id` is a refund whose record left the reversal window while its id is still remembered. */
function isPastRefund(c: CustomerState, id: string): boolean {
  const past = c.loyalty.pastRefunds;
  return past !== undefined && own(past, idHash(id)) !== undefined && seenDay(seenIds(c), id) !== undefined;
}

/**
 * A reversal of a refund (the refund was voided) gives back exactly what the refund took: one `reverse`
 * row (+points, `source_id` the refund, rule `reversal:refund`, the refund row's rules version) and one lot
 * expiring when the record says (a lot already past its expiry expires at once, as its timer would have).
 * Later earnings' debt rules apply: the points first repay a debt. The refunded purchase's refunded
 * amount and taken points go back down (a later refund or reversal of it sees the refund undone), and so
 * do the tier-qualifying points the refund lowered (which may upgrade the member, as an earning would).
 * Declined, or the refund already reversed: nothing.
 */
function unrefund(state: PartitionState, c: CustomerState, tx: TransactionV1, id: string, rf: RefundRecord, ctx: Ctx, entry: TimelineEntry, emit: Emit): LoyaltyOutcome {
  const L = c.loyalty;
  if (tx.status === 'declined' || rf.rev === 1) return { points: 0, status: 'none' };
  rf.rev = 1;
  const rec = rf.of !== undefined ? earnedRecord(L, rf.of) : undefined;
  if (rec !== undefined) {
    if (rf.amt) rec.rf = Math.max(0, (rec.rf ?? 0) - rf.amt);
    if (rf.pts) rec.rp = Math.max(0, (rec.rp ?? 0) - rf.pts);
  }
  const held = rf.of !== undefined && L.held !== undefined ? own(L.held, rf.of) : undefined;
  if (held !== undefined && rf.amt) held.rf = Math.max(0, (held.rf ?? 0) - rf.amt);
  const pts = rf.pts;
  if (pts === 0) return { points: 0, status: 'refund_reversed' };
  const m = own(L.months, String(rf.m));
  if (m !== undefined) L.months[rf.m] = m + pts;
  L.balance += pts;
  ledger(c, ctx, emit, { id: `reverse:tx:${tx.tx_id}`, kind: 'reverse', points: pts, rule: 'reversal:refund', version: rf.ver, source: id, channel: tx.channel, at: ctx.at, expiresAt: rf.exp });
  restore(state, c, id, pts, rf.exp, rf.ver, ctx, emit);
  const tierChange = upgrade(state, c, ctx, entry, emit);
  return { points: pts, status: 'refund_reversed', ...(tierChange ? { tierChange } : {}) };
}

/**
 * What a refund that cannot be tied to a known earning takes back: what its own amount earns by the
 * `earn` rules in force (matched on the refund's own facts, with priority, stacking, exclusivity, the
 * member's tier multiplier and `per_tx` caps). Bonus rules are left out (they reward when and how the
 * purchase was made, which a refund does not tell), and so are period caps and budgets (the refund
 * does not say which period's usage the purchase had). Reads the state, changes nothing.
 */
function unlinkedRefundPoints(c: CustomerState, tx: TransactionV1, ctx: Ctx, R: LoyaltyRules): number {
  const L = c.loyalty;
  const branch = memberBranch(c);
  const rules = branch !== '' && Object.hasOwn(R.branches, branch) ? ownValue(R.branches, branch) : R.bank;
  const day = bankDay(ctx.at, R.offsetMin);
  const facts: Facts = {
    tx, at: ctx.at, day, minute: minuteOfDay(ctx.at, R.offsetMin), dow: dayOfWeek(day), tier: L.tier, segment: c.profile?.segment, rules: R,
  };
  const tier = tierDef(R, L.tier);
  let total = 0;
  for (const rule of rules) {
    if (rule.kind !== 'earn' || !matches(rule.when, facts)) continue;
    let pts = rulePoints(rule, tx.amount_minor, tier);
    if (rule.caps.tx !== null) pts = Math.min(pts, rule.caps.tx);
    total += pts;
    if (rule.exclusive) break;
  }
  return Math.min(total, Number.MAX_SAFE_INTEGER);
}

/** Takes `back` points off the balance: unspent lots (lot `preferTx` first, then the oldest), the rest a debt. */
function takeBack(L: LoyaltyState, back: number, preferTx: string | undefined): void {
  const fromLots = take(L, back, preferTx);
  L.debt += back - fromLots;
  L.balance -= back;
}

/** Gives back what a reversed earning used: cap counters, campaign budget, tier-qualifying points. */
function release(state: PartitionState, L: LoyaltyState, rec: EarnRecord): void {
  releaseUsage(state, L, rec.awards ?? []);
  const m = own(L.months, String(rec.m));
  if (m !== undefined) L.months[rec.m] = m - (rec.pts - (rec.rp ?? 0));
}

/** Gives back the cap counters and campaign budget that awards used. */
function releaseUsage(state: PartitionState, L: LoyaltyState, awards: readonly { pts: number; caps?: string[]; campaign?: string }[]): void {
  for (const a of awards) {
    for (const k of a.caps ?? []) {
      const used = own(L.caps, k);
      if (used !== undefined) L.caps[k] = Math.max(0, used - a.pts);
    }
    if (a.campaign) {
      const key = budgetKey(a.campaign);
      const used = own(state.budgets, key);
      if (used !== undefined) state.budgets[key] = Math.max(0, used - a.pts);
    }
  }
}

function expireLots(c: CustomerState, due: number, ctx: Ctx, emit: Emit): boolean {
  const L = c.loyalty;
  const gone = dueLots(L, due);
  if (gone.length === 0) return false;
  for (const l of gone) {
    L.balance -= l.rem;
    if (l.src === 'tx') {
      const rec = earnedRecord(L, l.id);
      if (rec) rec.x = (rec.x ?? 0) + l.rem;
    }
    ledger(c, ctx, emit, { id: `expire:${l.src}:${l.id}`, kind: 'expire', points: -l.rem, rule: `expiry:${l.tier}`, version: l.ver, source: l.id, channel: '', at: l.exp, expiresAt: l.exp });
  }
  return true;
}

// ---------------------------------------------------------------------------------------------------
// Membership: a non-member's pending points (rules `membership.pending_days`, docs/loyalty.md)
// ---------------------------------------------------------------------------------------------------

/**
 * Keeps what a non-member's transaction earns (evaluated as for a member: its cap and budget usage
 * counts) as pending points until `pending_days` after it: no balance, no lot, no ledger row, no
 * tier-qualifying points, no referral. A timer drops it then, unless a join granted it first.
 */
function hold(state: PartitionState, c: CustomerState, tx: TransactionV1, ctx: Ctx, entry: TimelineEntry, awards: readonly Award[], tier: TierDef, days: number): LoyaltyOutcome {
  if (awards.length === 0) return { points: 0, status: 'not_member' };
  const R = entry.rules;
  const until = ctx.at + days * DAY_MS;
  (c.loyalty.held ??= {})[tx.tx_id] = {
    at: ctx.at, seq: ctx.seq, until, exp: expiryAt(ctx.at, tier.expiryDays, R), tier: c.loyalty.tier, ver: entry.version,
    ch: tx.channel, amt: tx.amount_minor, m: bankMonth(ctx.at, R.offsetMin), awards: awards.map(heldAward),
  };
  pushTimer(state, { due: until, customerId: c.id, kind: LOYALTY_HOLD_TIMER });
  return { points: 0, status: 'held' };
}

function heldAward(a: Award): HeldAward {
  return { kind: a.rule.kind, rule: a.rule.id, pts: a.pts, ...(a.caps.length ? { caps: a.caps } : {}), ...(a.campaign ? { campaign: a.campaign } : {}) };
}

/** Drops the pending points `gone` selects, giving back their cap and budget usage. */
function dropHeld(state: PartitionState, L: LoyaltyState, gone: (h: HeldEarning, id: string) => boolean): void {
  const held = L.held;
  if (held === undefined) return;
  for (const id in held) {
    const h = ownValue(held, id);
    if (!gone(h, id)) continue;
    releaseUsage(state, L, h.awards);
    delete held[id];
  }
  if (Object.keys(held).length === 0) delete L.held;
}

/** Counts a linked refund of a held purchase (cumulative, at most its amount); returns the amount counted. */
function countHeldRefund(h: HeldEarning, amount: number): number {
  const before = h.rf ?? 0;
  h.rf = Math.min(h.amt, before + amount);
  return h.rf - before;
}

function withAmount(amt: number): { amt?: number } {
  return amt ? { amt } : {};
}

/**
 * The customer joined: every pending earning whose window was still open when they joined (the
 * statement's own time) is granted, in stream order, the rest dropped. Returns the tier change it caused.
 */
function grantHeld(state: PartitionState, c: CustomerState, profile: StoredProfileV1, held: Record<string, HeldEarning>, ctx: Ctx, entry: TimelineEntry, emit: Emit): TierChange | undefined {
  const L = c.loyalty;
  const joined = profile.membership !== undefined ? parseTime(profile.membership.at) : ctx.watermark;
  const ids = Object.keys(held).sort((a, b) => ownValue(held, a).seq - ownValue(held, b).seq);
  dropHeld(state, L, (h) => h.until < joined);
  delete L.held;
  for (const id of ids) {
    if (!Object.hasOwn(held, id)) continue;
    const h = ownValue(held, id);
    grant(state, c, id, h, Math.max(h.at, joined), ctx, emit);
  }
  return upgrade(state, c, ctx, entry, emit);
}

/**
 * Grants one pending earning as it was kept: a row per rule (`grant:<kind>:<rule>:<tx>`, kind `earn` or
 * `bonus`, `source_id` the transaction, dated the join), a lot in the transaction's place expiring as
 * its points would have, its earning record (reversals and refunds work from here as for any earning)
 * and its tier-qualifying points; then the refunds it had while pending, as linked refunds.
 */
function grant(state: PartitionState, c: CustomerState, id: string, h: HeldEarning, at: number, ctx: Ctx, emit: Emit): void {
  const L = c.loyalty;
  let total = 0;
  for (const a of h.awards) {
    total += a.pts;
    L.balance += a.pts;
    ledger(c, ctx, emit, { id: `grant:${a.kind}:${a.rule}:${id}`, kind: a.kind, points: a.pts, rule: a.rule, version: h.ver, source: id, channel: h.ch, at, expiresAt: h.exp });
  }
  addLot(state, c, { src: 'tx', id, at: h.at, seq: h.seq, exp: h.exp, pts: total, rem: total, tier: h.tier, ver: h.ver });
  const rec: EarnRecord = { at: h.at, pts: total, ver: h.ver, m: h.m, amt: h.amt };
  for (const a of h.awards) {
    if (a.caps !== undefined || a.campaign !== undefined) (rec.awards ??= []).push({ pts: a.pts, ...(a.caps ? { caps: a.caps } : {}), ...(a.campaign ? { campaign: a.campaign } : {}) });
  }
  keepEarned(L, id, rec);
  L.months[h.m] = (own(L.months, String(h.m)) ?? 0) + total;
  if (h.rf) refundsWhileHeld(c, id, rec, h, at, ctx, emit);
}

/** The refunds of a held purchase (not voided), booked at its grant in their order as linked refunds (`refund:tx:<refund>`). */
function refundsWhileHeld(c: CustomerState, purchase: string, rec: EarnRecord, h: HeldEarning, at: number, ctx: Ctx, emit: Emit): void {
  const L = c.loyalty;
  const refunds = Object.entries(L.refunds ?? {}).flatMap(([id, rf]) => (rf.of === purchase && rf.rev !== 1 && rf.amt ? [[id, rf, rf.amt] as const] : []));
  refunds.sort((a, b) => a[1].at - b[1].at || (a[0] < b[0] ? -1 : 1));
  for (const [refundId, rf, amount] of refunds) {
    const { back } = refundShare(rec, amount);
    Object.assign(rf, { pts: back, ver: rec.ver, m: rec.m, exp: h.exp });
    if (back === 0) continue;
    takeBack(L, back, purchase);
    L.months[rec.m] = (own(L.months, String(rec.m)) ?? 0) - back;
    ledger(c, ctx, emit, { id: `refund:tx:${refundId}`, kind: 'refund', points: -back, rule: 'refund', version: rec.ver, source: purchase, channel: h.ch, at, expiresAt: null });
  }
}

// ---------------------------------------------------------------------------------------------------
// Tiers
// ---------------------------------------------------------------------------------------------------

function tierDef(R: LoyaltyRules, id: string): TierDef {
  return R.tiers.find((t) => t.id === id) ?? item(R.tiers, 0);
}

function tierIndex(R: LoyaltyRules, id: string): number {
  return R.tiers.findIndex((t) => t.id === id);
}

function qualifyingPoints(L: LoyaltyState, fromMonth: number): number {
  let q = 0;
  const months = L.months;
  for (const m in months) if (Object.hasOwn(months, m) && Number(m) >= fromMonth) q += months[m] as number;
  return q;
}

function qualifiedTier(R: LoyaltyRules, points: number): string {
  let t = item(R.tiers, 0);
  for (const d of R.tiers) if (points >= d.min) t = d;
  return t.id;
}

/** Places a customer never placed, or one whose tier a new rules version no longer defines. */
function place(state: PartitionState, c: CustomerState, ctx: Ctx, entry: TimelineEntry, emit: Emit): TierChange | undefined {
  const R = entry.rules;
  const L = c.loyalty;
  if (L.tier !== '' && tierIndex(R, L.tier) >= 0) return undefined;
  const q = qualifyingPoints(L, bankMonth(ctx.at, R.offsetMin) - (R.windowMonths - 1));
  const to = qualifiedTier(R, q);
  let change: TierChange | undefined;
  if (L.tier === '') {
    L.tier = to;
    L.tierSince = ctx.at;
  } else {
    change = changeTier(c, ctx, ctx.at, to, `tier ${L.tier} is not defined by rules ${entry.version}`, emit);
  }
  scheduleReview(state, c, ctx.at, R);
  return change;
}

function upgrade(state: PartitionState, c: CustomerState, ctx: Ctx, entry: TimelineEntry, emit: Emit): TierChange | undefined {
  const R = entry.rules;
  const L = c.loyalty;
  const q = qualifyingPoints(L, bankMonth(ctx.at, R.offsetMin) - (R.windowMonths - 1));
  const to = qualifiedTier(R, q);
  if (tierIndex(R, to) <= tierIndex(R, L.tier)) return undefined;
  const change = changeTier(c, ctx, ctx.at, to, `upgrade: ${q} points in ${R.windowMonths} months`, emit);
  scheduleReview(state, c, ctx.at, R);
  return change;
}

/** The scheduled review: the tier follows the qualifying points (down, or up after a rules change). */
function review(state: PartitionState, c: CustomerState, due: number, ctx: Ctx, entry: TimelineEntry, emit: Emit): boolean {
  const R = entry.rules;
  const L = c.loyalty;
  if (L.reviewAt !== due) return false; // superseded
  L.reviewAt = 0;
  const q = qualifyingPoints(L, bankMonth(due, R.offsetMin) - (R.windowMonths - 1));
  const to = qualifiedTier(R, q);
  let changed = false;
  if (to !== L.tier) {
    changeTier(c, ctx, due, to, `review: ${q} points in ${R.windowMonths} months`, emit);
    changed = true;
  }
  scheduleReview(state, c, due, R);
  return changed;
}

/** Members above the lowest tier have one pending review: the next review month start after `at`. */
function scheduleReview(state: PartitionState, c: CustomerState, at: number, R: LoyaltyRules): void {
  const L = c.loyalty;
  if (L.reviewAt !== 0 || tierIndex(R, L.tier) <= 0) return;
  let m = bankMonth(at, R.offsetMin) + 1;
  while (m % R.reviewMonths !== 0) m++;
  L.reviewAt = monthStart(m, R.offsetMin);
  pushTimer(state, { due: L.reviewAt, customerId: c.id, kind: LOYALTY_REVIEW_TIMER });
}

function changeTier(c: CustomerState, ctx: Ctx, at: number, to: string, reason: string, emit: Emit): TierChange {
  const L = c.loyalty;
  const from = L.tier;
  L.tier = to;
  L.tierSince = at;
  emit.event({
    type: 'tier_changed', changeId: `${c.id}:${ctx.seq}:${at}:${to}`, customerId: c.id, from, to, at, reason,
    branchId: memberBranch(c), seq: ctx.seq,
  });
  return { customerId: c.id, from, to, at, reason };
}

// ---------------------------------------------------------------------------------------------------
// Housekeeping
// ---------------------------------------------------------------------------------------------------

/**
 * Drops what the horizons no longer need, at most once per week of watermark (memory stays bounded by
 * the horizons plus a week). Every read checks its horizon explicitly, so when pruning runs never
 * changes a result.
 */
function prune(L: LoyaltyState, watermark: number, R: LoyaltyRules, seen?: SeenIds): void {
  const week = Math.floor(watermark / (7 * DAY_MS));
  if (L.pruned === week) return;
  L.pruned = week;
  const reversalHorizon = watermark - R.reversals.windowDays * DAY_MS;
  forgetEarnedBefore(L, reversalHorizon);
  const refunds = L.refunds;
  if (refunds !== undefined) {
    for (const id in refunds) {
      const rf = ownValue(refunds, id);
      if (rf.at < reversalHorizon) forgetRefund(L, id, rf);
    }
    if (Object.keys(refunds).length === 0) delete L.refunds;
  }
  const oldestSeen = L.pastRefunds === undefined || seen === undefined ? undefined : oldestSeenDay(seen);
  if (L.pastRefunds !== undefined && oldestSeen !== undefined) {
    dropBefore(L.pastRefunds, oldestSeen);
    if (Object.keys(L.pastRefunds).length === 0) delete L.pastRefunds;
  }
  mergeLots(L, reversalHorizon);
  dropBefore(L.redemptions, reversalHorizon);
  dropBefore(L.pending, watermark - R.reversals.pendingDays * DAY_MS);
  pruneCaps(L.caps, watermark, R);
  const oldest = bankMonth(watermark, R.offsetMin) - R.windowMonths;
  for (const m in L.months) if (Number(m) < oldest) delete L.months[m];
}

/** Deletes the entries whose time is before `horizon` (in place, no copies of the keys). */
function dropBefore(times: Record<string, number>, horizon: number): void {
  for (const id in times) if (ownValue(times, id) < horizon) delete times[id];
}

/** Keeps the cap counters of the current and the previous period (`<rule>|<d|w|m><number>`). */
function pruneCaps(caps: Record<string, number>, watermark: number, R: LoyaltyRules): void {
  const day = bankDay(watermark, R.offsetMin);
  const week = bankWeek(day, R.weekStart);
  const month = bankMonth(watermark, R.offsetMin);
  for (const key in caps) {
    const bar = key.lastIndexOf('|');
    const kind = key.charAt(bar + 1);
    const current = kind === 'd' ? day : kind === 'w' ? week : kind === 'm' ? month : undefined;
    if (current === undefined || Number(key.slice(bar + 2)) < current - 1) delete caps[key];
  }
}

interface Movement {
  id: string;
  kind: string;
  points: number;
  rule: string;
  version: string;
  source: string;
  channel: string;
  at: number;
  expiresAt: number | null;
}

/** One `points_moved` event; call after the balance reflects the movement. */
function ledger(c: CustomerState, ctx: Ctx, emit: Emit, m: Movement): void {
  emit.event({
    type: 'points_moved', entryId: m.id, customerId: c.id, kind: m.kind, points: m.points, ruleId: m.rule, rulesVersion: m.version,
    sourceId: m.source, channel: m.channel, branchId: memberBranch(c), tier: c.loyalty.tier, at: m.at, expiresAt: m.expiresAt,
    balanceAfter: c.loyalty.balance, seq: ctx.seq,
  });
}

/** The member's branch (profile), whose policy applies and under which the ledger reports them. */
function memberBranch(c: CustomerState): string {
  return c.profile?.branch_id ?? '';
}

function withChange(out: LoyaltyOutcome, change: TierChange | undefined): LoyaltyOutcome {
  return change && !out.tierChange ? { ...out, tierChange: change } : out;
}

/** True when `rec` has no enumerable property (own or inherited). */
function isEmpty(rec: object): boolean {
  for (const _ in rec) return false;
  return true;
}

/** A month's tier-qualifying points (`own(months, String(m)) ?? 0`, without the key's text). */
function monthPoints(months: Record<string, number>, m: number): number {
  return Object.hasOwn(months, m) ? (months[m] ?? 0) : 0;
}

/** Own-property lookup: ids come from events and must never reach Object.prototype. */
function own<T>(rec: Record<string, T>, key: string): T | undefined {
  return Object.hasOwn(rec, key) ? rec[key] : undefined;
}
