/**
 * Right to erasure in the core (docs/security.md "The scorer forgets the customer"):
 *
 * - `erase_customer` (the customer's own partition): the customer's state and timers are forgotten;
 * - `erase_mentions` (every partition): wherever another customer's data names the erased customer, the
 *   erasure id takes the id's place, in the state now and in every event the partition applies from then
 *   on (`withPseudonyms`). Named are: who referred the customer (`profile.referred_by`,
 *   `loyalty.referral.by`, a deferred decision's profile) and, in a referrer's state, the id of a referral
 *   credit for the erased customer (`ref:<version>:<id>`, a redemption id and its lot), re-derived as the
 *   warehouse re-derives it (`ref:<version>:<erasure id>`, sinks/clickhouse/erasure.ts). A pending bonus
 *   thus goes to the erasure id: the erased customer's pseudonymous ledger, never their id again. Whether
 *   a customer was referred stays what it was (the `referred` feature).
 */
import type { ControlV1, StoredProfileV1 } from '../../contracts/events.js';
import { dropTimersOf, type CustomerState, type PartitionState } from './state.js';
import type { CoreEvent } from './types.js';
import { parseReferralCreditId } from './loyalty/referral.js';
import { renameCreditLots, someCreditLot } from './loyalty/book.js';
import { sha256Hex } from './sha256.js';

type ErasureControl = Exclude<ControlV1, { type: 'loyalty_rules' }>;
type EraseCustomer = Extract<ControlV1, { type: 'erase_customer' }>;
type EraseMentions = Extract<ControlV1, { type: 'erase_mentions' }>;

const ERASURE_ID_PREFIX = 'erased-';

/** Applies an erasure control message; `mentions` as in `CoreEvent.mentions`. */
export function onErasure(state: PartitionState, body: ErasureControl, mentions?: readonly string[]): void {
  if (body.type === 'erase_customer') eraseCustomer(state, body);
  else eraseMentions(state, body, mentions);
}

/**
 * Forgets a customer (right to erasure): the state, with it the remembered transaction ids, and the
 * timers. Stats and campaign budgets are not the customer's data and stay. Nothing is emitted.
 */
export function eraseCustomer(state: PartitionState, body: EraseCustomer): void {
  const customerId = body.customer_id;
  if (Object.hasOwn(state.customers, customerId)) delete state.customers[customerId];
  dropTimersOf(state, customerId);
}

/**
 * Records the erasure (`PartitionState.erased`) and writes the erasure id in place of the erased
 * customer's id in the customers that name it: those of `mentions`, or every customer in the state.
 * Nothing is emitted; idempotent.
 */
export function eraseMentions(state: PartitionState, body: EraseMentions, mentions?: readonly string[]): void {
  (state.erased ??= {})[body.customer_sha256] = body.erasure_id;
  const one = { [body.customer_sha256]: body.erasure_id };
  for (const id of mentions ?? Object.keys(state.customers)) {
    const c = Object.hasOwn(state.customers, id) ? state.customers[id] : undefined;
    if (c !== undefined && namesErased(c, one)) pseudonymise(c, one);
  }
}

/** The erasure id of `id` when `erased` (SHA-256 → erasure id) holds it; undefined otherwise. */
function erasureOf(erased: Readonly<Record<string, string>>, id: string): string | undefined {
  if (id.startsWith(ERASURE_ID_PREFIX)) return undefined;
  const hash = sha256Hex(id);
  return Object.hasOwn(erased, hash) ? erased[hash] : undefined;
}

/** A referral credit id (`ref:<version>:<referred>`) with the referred customer's erasure id; undefined when it names none erased. */
function creditIdOf(erased: Readonly<Record<string, string>>, id: string): string | undefined {
  const credit = parseReferralCreditId(id);
  // A hashed credit id (`~…`, a referred id too long to spell) cannot be matched: docs/security.md.
  if (!credit || credit.referred.startsWith('~')) return undefined;
  const erasureId = erasureOf(erased, credit.referred);
  return erasureId === undefined ? undefined : `ref:${credit.version}:${erasureId}`;
}

function profileWith(erased: Readonly<Record<string, string>>, profile: StoredProfileV1 | undefined): StoredProfileV1 | undefined {
  const by = profile?.referred_by;
  const erasureId = profile === undefined || by === undefined ? undefined : erasureOf(erased, by);
  return profile === undefined || erasureId === undefined ? undefined : { ...profile, referred_by: erasureId };
}

/**
 * Whether customer `c`'s data names a customer of `erased` (SHA-256 of the id → erasure id). The
 * runtime finds `CoreEvent.mentions` with it.
 */
export function namesErased(c: CustomerState, erased: Readonly<Record<string, string>>): boolean {
  const L = c.loyalty;
  if (profileWith(erased, c.profile) || (L.referral && erasureOf(erased, L.referral.by) !== undefined)) return true;
  if (c.lifecycle.deferred.some((d) => profileWith(erased, d.profile))) return true;
  for (const id in L.redemptions) if (creditIdOf(erased, id) !== undefined) return true;
  return someCreditLot(L, (id) => creditIdOf(erased, id) !== undefined);
}

function pseudonymise(c: CustomerState, erased: Readonly<Record<string, string>>): void {
  const L = c.loyalty;
  c.profile = profileWith(erased, c.profile) ?? c.profile;
  for (const d of c.lifecycle.deferred) d.profile = profileWith(erased, d.profile) ?? d.profile;
  if (L.referral) L.referral.by = erasureOf(erased, L.referral.by) ?? L.referral.by;
  // Rebuilt in order: a replay that met the erasure first holds the same keys in the same order.
  L.redemptions = Object.fromEntries(Object.entries(L.redemptions).map(([id, at]) => [creditIdOf(erased, id) ?? id, at]));
  renameCreditLots(L, (id) => creditIdOf(erased, id));
}

/**
 * `ev` as the partition applies it once it knows of erasures (`PartitionState.erased`): a profile's
 * `referred_by` and a referral credit's id (and, for a credit still addressed to the erased customer, its
 * customer) hold the erasure id instead of the erased customer's id. Any other event is returned as is.
 */
export function withPseudonyms(state: PartitionState, ev: CoreEvent): CoreEvent {
  const erased = state.erased;
  if (erased === undefined) return ev;
  const msg = ev.msg;
  if (msg.kind === 'profile') {
    const profile = profileWith(erased, msg.body);
    return profile ? { ...ev, msg: { kind: 'profile', body: profile } } : ev;
  }
  if (msg.kind !== 'redemption' || parseReferralCreditId(msg.body.redemption_id) === undefined) return ev;
  const creditId = creditIdOf(erased, msg.body.redemption_id);
  const customerId = erasureOf(erased, msg.body.customer_id);
  if (creditId === undefined && customerId === undefined) return ev;
  return { ...ev, msg: { kind: 'redemption', body: { ...msg.body, redemption_id: creditId ?? msg.body.redemption_id, customer_id: customerId ?? msg.body.customer_id } } };
}
