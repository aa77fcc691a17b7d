/**
 * Next-best offers: per event, after the churn score and the lifecycle stage are known (the end of
 * `Engine.complete`, and lifecycle timer decisions), in this order:
 *
 *  1. close the open offers whose conversion window ended before the watermark (non-responses, which
 *     may suppress the customer after `non_response.after` in a row);
 *  2. attribute conversions: an open offer (treated or holdout) whose goal behaviour this event is,
 *     strictly after the trigger and within the goal's window, converts — once; every open offer the
 *     event satisfies converts (a transaction can convert offers of different campaigns);
 *  3. note a tier upgrade (for the `tier_upgrade` occasion);
 *  4. decide: the eligible offers, ranked by
 *        score = weight × expected_value × max(p, propensity_floor)^churn_exponent × (1 + value_at_risk)^value_exponent
 *     (ties by offer code), each checked against its limits (per-customer count, the partition's share of
 *     the budget) and the contact policy (cool-down, quiet hours, per-channel and per-customer windows,
 *     trying the offer's channels in order); the first `max_offers_per_event` that pass are decided.
 *     A decision for a customer in the campaign's holdout is recorded (`offers.holdout = 1`), counts
 *     against the contact policy like a treated one (so both groups see the same policy), but is not
 *     published and uses no budget.
 *     With `contact_policy.hold_marketing_on_open_complaint`, a customer with an open complaint (feature
 *     `open_complaints` > 0 as of the event) is eligible for `purpose: recovery` offers only; the
 *     resolution that closes the last complaint releases the hold from that event on.
 *  5. surveys (`purpose: survey`) are ranked and decided the same way after the offers, in their own
 *     slot (`max_surveys_per_event`), against the same contact policy; they have no holdout. A survey
 *     converts when answered: a survey feedback naming its offer_id (or, without one, its campaign and
 *     scale) within the window; the conversion carries the score. A survey left unanswered is not a
 *     non-response for the suppression rule, and an answer does not reset it.
 *
 * Pure and deterministic: event time only, ids from hashes of the inputs.
 */
import { daysInMonth, type FeedbackV1, type TransactionV1 } from '../../../contracts/events.js';
import { parseChurnReasons } from '../../../contracts/churn-reasons.js';
import type { OfferChannel } from '../../../contracts/subjects.js';
import type { CustomerState, PartitionState } from '../state.js';
import type { Ctx, Emit } from '../types.js';
import { ParseCache, parsedDate, parsedYmd, utcDate } from '../memo.js';
import type { OfferDef, OffersCatalogue, OfferTrigger, OffersConfig } from '../../../config/schema/mod.js';
import { inHoldout, offerId } from './ids.js';
import { cooldownAllows, inQuietHours, windowAllows } from './policy.js';
import { newOffersState, type OffersState, type OpenOffer } from './state.js';
import { heldReason, type HeldReason } from './consent.js';

/** What the offers engine needs to know about the event that prompts it. */
export interface OfferEvent {
  ctx: Ctx;
  /** The triggering event's id: `tx_id`, `profile:<seq>`, feedback/redemption id, `timer:lifecycle:<due>`. */
  sourceId: string;
  trigger: OfferTrigger;
  tx?: TransactionV1 | undefined;
  /** The feedback, for a feedback event (a survey answer converts its survey). */
  feedback?: FeedbackV1 | undefined;
  /** The named feature vector as of the event. */
  features: Readonly<Record<string, number>>;
  /** Expected lifetime value of the customer, major units (value_at_risk = value × churn probability). */
  value: number;
}

/** Subject of an offer trigger on stream `OFFERS`. */
export function offerSubject(channel: OfferChannel): string {
  return `offers.${channel}`;
}

/** Headers a publisher or the webhook sink adds so a branch screen can route a teller prompt. */
export function offerHeaders(payload: Readonly<Record<string, unknown>>): Record<string, string> {
  const h: Record<string, string> = { 'Vafa-Customer': String(payload.customer_id ?? ''), 'Vafa-Offer': String(payload.offer_code ?? '') };
  if (payload.branch_id) h['Vafa-Branch'] = String(payload.branch_id);
  return h;
}

/** The partition's share of a global budget: split evenly, the remainder to the lowest partitions. */
export function budgetShare(total: number, partition: number, partitions: number): number {
  const p = Math.max(1, partitions);
  return Math.floor(total / p) + (partition < total % p ? 1 : 0);
}

/** Key of an offer's budget use in `PartitionState.budgets`. */
export function offerBudgetKey(code: string): string {
  return `offers:budget:${code}`;
}

/** The customer's offer state, created on first use (checkpoints older than the offers engine have none). */
export function offersState(c: CustomerState): OffersState {
  const holder = c as CustomerState & { offers?: OffersState };
  if (!holder.offers || holder.offers.v !== 1) holder.offers = newOffersState();
  return holder.offers;
}

/** Open offers are bounded by the contact policy; this is a safety net for a catalogue without one. */
const MAX_OPEN = 200;

/** Priority of an offer for a customer (see the module comment). */
export function offerScore(o: OfferDef, p: number, valueAtRisk: number, floor: number): number {
  return o.weight * o.expectedValue * Math.max(p, floor) ** o.churnExponent * (1 + Math.max(0, valueAtRisk)) ** o.valueExponent;
}

/** True when the customer holds a product: the feature `has_<product>` when the vector has it, else the profile's list. */
export function holds(c: CustomerState, features: Readonly<Record<string, number>>, product: string): boolean {
  const f = features[`has_${product}`];
  if (f !== undefined) return f >= 1;
  return c.profile?.products?.includes(product) ?? false;
}

function inRange(v: number, r: { min: number | null; max: number | null } | null): boolean {
  if (!r) return true;
  return (r.min === null || v >= r.min) && (r.max === null || v <= r.max);
}

/** The UTC calendar date of bank-local opening instants, remembered per instant. */
const openingDates = new ParseCache<readonly [year: number, month: number, day: number], number>((local) => {
  const d = new Date(local);
  return [d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate()];
});

/**
 * The occasion instance active at `now` (bank-local calendar), or undefined: a birthday or an opening
 * anniversary from its day (00:00 bank time) for `withinMs`; a tier upgrade from the event that showed it.
 * 29 February falls on 28 February in other years.
 */
export function occasionKey(kind: OfferDef['occasion'] & object, c: CustomerState, s: OffersState, now: number, offsetMin: number): string | undefined {
  const off = offsetMin * 60_000;
  if (kind.kind === 'tier_upgrade') {
    return s.tierUpAt > 0 && now >= s.tierUpAt && now - s.tierUpAt < kind.withinMs ? `tier_upgrade:${s.tier}:${s.tierUpAt}` : undefined;
  }
  let month: number;
  let day: number;
  let minYear: number;
  if (kind.kind === 'birthday') {
    const m = parsedYmd(c.profile?.birth_date ?? '');
    if (!m) return undefined;
    [minYear, month, day] = m;
  } else {
    const opened = c.profile?.opened_at ? parsedDate(c.profile.opened_at) : NaN;
    if (Number.isNaN(opened)) return undefined;
    const [y, mo, d] = openingDates.get(opened + off);
    month = mo;
    day = d;
    minYear = y + 1;
  }
  const year = utcDate(now + off).year;
  for (let y = year; y >= year - 1; y--) {
    if (y < minYear) continue;
    const start = Date.UTC(y, month - 1, Math.min(day, daysInMonth(y, month))) - off;
    if (now >= start && now - start < kind.withinMs) return `${kind.kind}:${y}`;
  }
  return undefined;
}

/** The tier rank: `tier_rank` from the features when present, else the position in `tier_order` (1-based; 0 unknown). */
function tierRank(c: CustomerState, features: Readonly<Record<string, number>>, cat: OffersCatalogue): number {
  const f = features.tier_rank;
  if (f !== undefined) return f;
  return cat.tierOrder.indexOf(c.loyalty.tier) + 1;
}

function goalMet(def: OfferDef | undefined, c: CustomerState, ev: OfferEvent): boolean {
  if (!def) return false;
  const g = def.goal;
  if (g.kind === 'product') return g.products.some((p) => holds(c, ev.features, p));
  const tx = ev.tx;
  if (!tx || tx.reverses_tx_id || tx.kind === 'refund' || (tx.status ?? 'approved') !== 'approved') return false;
  if (g.channels && !g.channels.includes(tx.channel)) return false;
  if (g.mccs && (!tx.mcc || !g.mccs.includes(tx.mcc))) return false;
  return tx.amount_minor >= g.minAmount;
}

/**
 * Runs steps 1–4 of the module comment for one event of customer `c`. Call it after the event's
 * lifecycle stage and churn probability are final.
 */
export function offersOnEvent(state: PartitionState, c: CustomerState, ev: OfferEvent, cfg: OffersConfig, emit: Emit): void {
  const cat = cfg.catalogue;
  if (cat.offers.length === 0) return;
  const s = offersState(c);
  const { ctx } = ev;
  // A profile's event time is its opened_at: what it changes is observed at the watermark.
  const now = ev.trigger === 'profile' ? Math.max(ctx.at, ctx.watermark) : ctx.at;
  // A timer decision is as of its due time, whichever event's watermark fired it (batch boundaries must not matter).
  const watermark = ev.trigger === 'timer' ? ctx.at : ctx.watermark;
  // ... but not an offer that would have expired before the watermark that fired it (timers of history:
  // a profile loaded years after the account opened fires its welcome-stage timers at once).
  const firedAt = ev.trigger === 'timer' ? ctx.watermark : now;
  const defs = offersByCode(cat);

  closeWindows(s, watermark, cat);
  // A timer is no behaviour of the customer's: it converts nothing.
  if (ev.trigger !== 'timer' && s.open.length > 0) convertOpen(c, s, ev, now, defs, emit);
  trackTier(c, s, ev, cat, now);

  // Contacts no future decision can see any more (later decisions are at or after the watermark).
  if (anyBefore(s.contacts, watermark - cat.horizonMs)) {
    s.contacts = s.contacts.filter((k) => k.at >= watermark - cat.horizonMs);
  }

  const late = ev.trigger !== 'profile' && ev.trigger !== 'timer' && ctx.at < watermark;
  if (late || now < s.suppressedUntil) return;
  // History (backfill) and anything as of its cut-over: nothing is offered for the past.
  if (ctx.historical || (state.cutover !== undefined && now <= state.cutover)) return;
  decideBest(state, c, s, ev, cfg, now, firedAt, emit);
}

/** Whether a contact was made before `t` (a loop: no closure per event). */
function anyBefore(contacts: readonly { at: number }[], t: number): boolean {
  for (const k of contacts) if (k.at < t) return true;
  return false;
}

/** Whether an open offer's window closed before `t`. */
function anyUntilBefore(open: readonly { until: number }[], t: number): boolean {
  for (const o of open) if (o.until < t) return true;
  return false;
}

/** Step 1: the open offers whose windows closed before the watermark are non-responses (enough of them suppress contacts). */
function closeWindows(s: OffersState, watermark: number, cat: OffersCatalogue): void {
  if (!anyUntilBefore(s.open, watermark)) return;
  const closed = s.open.filter((o) => o.until < watermark).sort((a, b) => a.until - b.until || (a.id < b.id ? -1 : 1));
  s.open = s.open.filter((o) => o.until >= watermark);
  for (const o of closed) {
    if (o.survey !== undefined) continue;
    s.ignored++;
    const nr = cat.policy.nonResponse;
    if (nr && s.ignored >= nr.after) {
      s.suppressedUntil = Math.max(s.suppressedUntil, o.until + nr.suppressMs);
      s.ignored = 0;
    }
  }
}

/** Step 2: the open offers whose goal this event meets convert (one survey answer at most); the rest stay open. */
function convertOpen(c: CustomerState, s: OffersState, ev: OfferEvent, now: number, defs: ReadonlyMap<string, OfferDef>, emit: Emit): void {
  const still: OpenOffer[] = [];
  let answered = false;
  for (const o of s.open) {
    const inWindow = o.at < now && now <= o.until;
    if (o.survey !== undefined) {
      const fb = ev.feedback;
      if (!answered && inWindow && fb && answers(fb, o)) {
        answered = true;
        emitConversion(c, o, ev, now, defs.get(o.code)?.goal.id ?? 'survey_answered', 0, emit, { score: fb.score ?? null, scale: o.survey });
        continue;
      }
    } else {
      const def = inWindow ? defs.get(o.code) : undefined;
      if (def && goalMet(def, c, ev)) {
        emitConversion(c, o, ev, now, def.goal.id, ev.tx && def.goal.kind === 'transaction' ? ev.tx.amount_minor : 0, emit);
        s.ignored = 0;
        continue;
      }
    }
    still.push(o);
  }
  s.open = still;
}

function emitConversion(
  c: CustomerState, o: OpenOffer, ev: OfferEvent, now: number, goal: string, valueMinor: number, emit: Emit, answer?: { score: number | null; scale: string },
): void {
  emit.event({
    type: 'offer_converted', conversionId: `${o.id}:conv`, offerId: o.id, customerId: c.id, campaign: o.campaign, code: o.code, channel: o.channel,
    branchId: o.branch, holdout: o.holdout, goal, sourceId: ev.sourceId, offeredAt: o.at, at: now, valueMinor, seq: ev.ctx.seq,
    ...(answer ? { answer } : {}),
  });
}

/** Step 3: a tier upgrade is remembered (for the tier_upgrade occasion) when the tier's rank rises. */
function trackTier(c: CustomerState, s: OffersState, ev: OfferEvent, cat: OffersCatalogue, now: number): void {
  const rank = tierRank(c, ev.features, cat);
  if (c.loyalty.tier !== s.tier) {
    if (s.tier !== '' && rank > s.tierRank && s.tierRank > 0) s.tierUpAt = Math.max(now, s.tierUpAt);
    s.tier = c.loyalty.tier;
    s.tierRank = rank;
  }
}

type Ranked = { o: OfferDef; score: number; occasion: string | undefined };

const byScore = (a: Ranked, b: Ranked): number => b.score - a.score || (a.o.code < b.o.code ? -1 : a.o.code > b.o.code ? 1 : 0);

/** Step 4: ranks the eligible offers and the eligible surveys apart, and decides the best of each within their per-event limits. */
function decideBest(state: PartitionState, c: CustomerState, s: OffersState, ev: OfferEvent, cfg: OffersConfig, now: number, firedAt: number, emit: Emit): void {
  const cat = cfg.catalogue;
  const p = c.churn.p;
  const valueAtRisk = ev.value * p;
  // Contact policy: an open complaint holds back marketing (service recovery offers only).
  const hold = cat.policy.holdMarketingOnOpenComplaint && openComplaints(ev.features) > 0;
  const ranked: Ranked[] = [];
  const surveys: Ranked[] = [];
  for (const o of cat.offers) {
    const occasion = o.occasion ? occasionKey(o.occasion, c, s, now, cat.offsetMin) : undefined;
    if (o.occasion && (occasion === undefined || s.occasions[o.code] === occasion)) continue;
    if (hold && o.purpose !== 'recovery') continue;
    if (now + o.validMs <= firedAt) continue;
    if (!eligible(o, c, ev, now, p, valueAtRisk)) continue;
    (o.survey ? surveys : ranked).push({ o, score: offerScore(o, p, valueAtRisk, cat.arbitration.floor), occasion });
  }
  decideRanked(state, c, s, ranked.sort(byScore), cat.arbitration.maxPerEvent, cfg, ev, now, emit);
  decideRanked(state, c, s, surveys.sort(byScore), cat.arbitration.maxSurveysPerEvent, cfg, ev, now, emit);
}

/** True when a survey feedback answers the open survey `o`: it names it, or (naming none) its campaign and scale. */
function answers(fb: FeedbackV1, o: OpenOffer): boolean {
  if (fb.kind !== 'survey' || fb.score === undefined) return false;
  if (fb.offer_id) return fb.offer_id === o.id;
  return fb.campaign_id === o.campaign && fb.scale === o.survey;
}

/** An open offer or survey of the customer by id (none when the offers engine has not seen the customer). */
export function openOffer(c: CustomerState, id: string): OpenOffer | undefined {
  const holder = c as CustomerState & { offers?: OffersState };
  return holder.offers?.open.find((o) => o.id === id);
}

function decideRanked(
  state: PartitionState, c: CustomerState, s: OffersState, ranked: readonly { o: OfferDef; occasion: string | undefined }[], max: number,
  cfg: OffersConfig, ev: OfferEvent, now: number, emit: Emit,
): void {
  const cat = cfg.catalogue;
  let decided = 0;
  for (const { o, occasion } of ranked) {
    if (decided >= max) break;
    if (o.perCustomer !== null && (s.counts[o.code] ?? 0) >= o.perCustomer) continue;
    const budgetKey = offerBudgetKey(o.code);
    if (o.total !== null && (state.budgets[budgetKey] ?? 0) >= budgetShare(o.total, ev.ctx.partition, cfg.partitions)) continue;
    if (!cooldownAllows(s.contacts.filter((k) => k.code === o.code).map((k) => k.at), now, o.cooldownMs)) continue;
    const channel = pickChannel(o, s, now, cat, (ch) => heldReason(o, c.profile, ch, cat) === undefined);
    if (channel) {
      decide(state, c, s, o, channel, occasion, ev, now, emit);
      decided++;
      continue;
    }
    const blocked = pickChannel(o, s, now, cat);
    const reason = blocked && heldReason(o, c.profile, blocked, cat);
    if (blocked && reason) holdBack(c, s, o, blocked, reason, ev, now, emit);
  }
}

const BY_CODE = new WeakMap<OffersCatalogue, ReadonlyMap<string, OfferDef>>();

/** The catalogue's offers by code, built once per catalogue rather than on every event. */
function offersByCode(cat: OffersCatalogue): ReadonlyMap<string, OfferDef> {
  let m = BY_CODE.get(cat);
  if (!m) BY_CODE.set(cat, (m = new Map(cat.offers.map((o) => [o.code, o]))));
  return m;
}

/** Open complaints as of the event (feature `open_complaints`; 0 when the vector has none). */
export function openComplaints(features: Readonly<Record<string, number>>): number {
  return features.open_complaints ?? 0;
}

function eligible(o: OfferDef, c: CustomerState, ev: OfferEvent, now: number, p: number, valueAtRisk: number): boolean {
  if (!o.triggers.includes(ev.trigger)) return false;
  if ((o.from !== null && now < o.from) || (o.to !== null && now >= o.to)) return false;
  if (o.atBranch && !(ev.trigger === 'transaction' && ev.tx?.branch_id)) return false;
  if (o.txChannels && !(ev.trigger === 'transaction' && ev.tx && o.txChannels.includes(ev.tx.channel))) return false;
  if (o.stages && !o.stages.includes(c.lifecycle.stage)) return false;
  if (o.tiers && !o.tiers.includes(c.loyalty.tier)) return false;
  if (o.segments && !o.segments.includes(c.profile?.segment ?? '')) return false;
  if (o.branches && !o.branches.includes(c.profile?.branch_id ?? '')) return false;
  if (!inRange(p, o.churn) || !inRange(valueAtRisk, o.valueAtRisk)) return false;
  for (const f of o.features) {
    const v = ev.features[f.name];
    if (v === undefined || !inRange(v, f)) return false;
  }
  for (const h of o.held) if (!holds(c, ev.features, h)) return false;
  for (const h of o.notHeld) if (holds(c, ev.features, h)) return false;
  if (o.churnReasons && !o.churnReasons.some((f) => risingReasons(c.churn.reasons).has(f))) return false;
  return true;
}

/** The last reasons text read, and the features it names as raising the risk (offers of one event read it several times). */
let lastReasons: string | undefined;
let lastRising: ReadonlySet<string> = new Set();

/** The features a stored `churn_reasons` text names with a positive contribution (contracts/churn-reasons.ts). */
function risingReasons(text: string | undefined): ReadonlySet<string> {
  if (text !== lastReasons) {
    lastRising = new Set(parseChurnReasons(text).filter((r) => r.contribution > 0).map((r) => r.feature));
    lastReasons = text;
  }
  return lastRising;
}

/** The offer's first channel the contact policy (and `allowed`, the consent rules) allows at `now`, or undefined. */
export function pickChannel(o: OfferDef, s: OffersState, now: number, cat: OffersCatalogue, allowed: (ch: OfferChannel) => boolean = () => true): OfferChannel | undefined {
  const pol = cat.policy;
  if (pol.perCustomer && !windowAllows(s.contacts.map((k) => k.at), now, pol.perCustomer.max, pol.perCustomer.periodMs)) return undefined;
  for (const ch of o.channels) {
    if (!allowed(ch)) continue;
    if (pol.quiet && pol.quiet.channels.includes(ch) && inQuietHours(now, cat.offsetMin, pol.quiet.from, pol.quiet.to)) continue;
    const cap = pol.perChannel[ch];
    if (cap && !windowAllows(s.contacts.filter((k) => k.channel === ch).map((k) => k.at), now, cap.max, cap.periodMs)) continue;
    return ch;
  }
  return undefined;
}

function decide(
  state: PartitionState, c: CustomerState, s: OffersState, o: OfferDef, channel: OfferChannel, occasion: string | undefined,
  ev: OfferEvent, now: number, emit: Emit,
): void {
  const id = offerId(c.id, o.code, ev.sourceId);
  const holdout = inHoldout(o.campaign, c.id, o.holdoutShare);
  // A prompt at the counter, or anything about a branch visit, belongs to the visited branch.
  const branch = (channel === 'branch' || o.atBranch) && ev.tx?.branch_id ? ev.tx.branch_id : (c.profile?.branch_id ?? '');
  const reason = occasion ? `${o.reason} (${occasion})` : o.reason;
  s.contacts.push({ at: now, code: o.code, channel });
  s.counts[o.code] = (s.counts[o.code] ?? 0) + 1;
  if (occasion) s.occasions[o.code] = occasion;
  s.open.push({ id, code: o.code, campaign: o.campaign, channel, branch, holdout, at: now, until: now + o.goal.withinMs, ...(o.survey ? { survey: o.survey.scale } : {}) });
  if (s.open.length > MAX_OPEN) s.open.splice(0, s.open.length - MAX_OPEN);
  if (!holdout && o.total !== null) {
    const key = offerBudgetKey(o.code);
    state.budgets[key] = (state.budgets[key] ?? 0) + 1;
  }
  emit.event({
    type: 'offer_decided', offerId: id, customerId: c.id, code: o.code, campaign: o.campaign, channel, reason, churnProbability: c.churn.p,
    stage: c.lifecycle.stage, tier: c.loyalty.tier, segment: c.profile?.segment ?? '', branchId: branch,
    forBranch: channel === 'branch' || (o.atBranch && branch !== ''), triggeredBy: ev.sourceId, at: now, expiresAt: now + o.validMs, holdout,
    expectedValue: o.expectedValue, cost: holdout ? 0 : o.cost, ...(o.survey ? { survey: { scale: o.survey.scale, question: o.survey.question } } : {}),
    seq: ev.ctx.seq,
  });
}

/**
 * A decision the consent rules hold back: an `offer_held` event with the id the decision would have had
 * and why; nothing published, no contact, count, occasion or budget used. Recorded at most once per
 * offer within its cool-down (as often as it could have been sent), so the reports count customers held
 * back rather than every event that found them so.
 */
function holdBack(c: CustomerState, s: OffersState, o: OfferDef, channel: OfferChannel, reason: HeldReason, ev: OfferEvent, now: number, emit: Emit): void {
  const held = (s.held ??= {});
  const last = held[o.code];
  if (last !== undefined && !cooldownAllows([last], now, o.cooldownMs)) return;
  held[o.code] = now;
  emit.event({
    type: 'offer_held', offerId: offerId(c.id, o.code, ev.sourceId), customerId: c.id, code: o.code, campaign: o.campaign, channel, reason,
    survey: o.survey !== null, stage: c.lifecycle.stage, tier: c.loyalty.tier, segment: c.profile?.segment ?? '',
    branchId: c.profile?.branch_id ?? '', triggeredBy: ev.sourceId, at: now, seq: ev.ctx.seq,
  });
}

/** The engine's call at the end of `complete()`: `p` is the event's `Pending`. */
export function offersOnComplete(
  state: PartitionState, c: CustomerState,
  p: { ctx: Ctx; sourceId: string; tx?: TransactionV1 | undefined; feedback?: FeedbackV1 | undefined; features: Readonly<Record<string, number>> },
  value: number, cfg: OffersConfig, emit: Emit,
): void {
  const trigger: OfferTrigger = p.tx ? 'transaction' : p.sourceId.startsWith('profile:') ? 'profile' : 'other';
  offersOnEvent(state, c, { ctx: p.ctx, sourceId: p.sourceId, trigger, tx: p.tx, feedback: p.feedback, features: p.features, value }, cfg, emit);
}

/** The engine's call when a lifecycle timer changed the customer's stage (`timer:lifecycle:<due>`). */
export function offersOnTimer(
  state: PartitionState, c: CustomerState, tctx: Ctx, features: Readonly<Record<string, number>>, value: number, cfg: OffersConfig, emit: Emit,
): void {
  offersOnEvent(state, c, { ctx: tctx, sourceId: `timer:lifecycle:${tctx.at}`, trigger: 'timer', features, value }, cfg, emit);
}
