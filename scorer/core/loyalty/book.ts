/**
 * The book: the one owner of a customer's loyalty lots (`LoyaltyState.lots`) and earning records
 * (`LoyaltyState.earned`). Every read and write of either goes through here, so that their in-memory
 * representation can change in this file alone (the state store's codec reads the representation too).
 * The book emits nothing and arms no timer: the engine does, from what these functions return.
 *
 * Invariants:
 * - Lots are kept in (at, seq) order and consumed first-in-first-out in that order.
 * - balance = Σ lots[].rem − debt, and debt > 0 only while no lot has points left: a lot added while a
 *   debt is open repays it first ({@link addLot}).
 * - Earning records are kept only for the reversal window ({@link forgetEarnedBefore}).
 *
 * It also owns the two derived caches, never state (rebuilt from the state when missing, after a restore
 * too): how far {@link mergeLots} has merged a lots list, and the earning records' ids in time order.
 */
import type { EarnRecord, LoyaltyState } from './state.js';
import { item, num, ownValue } from '../invariant.js';

// ---------------------------------------------------------------------------------------------------
// Earning records
// ---------------------------------------------------------------------------------------------------

/** What transaction `txId` earned, while its record is kept. */
export function earnedRecord(L: LoyaltyState, txId: string): EarnRecord | undefined {
  const earned = L.earned;
  return Object.hasOwn(earned, txId) ? earned[txId] : undefined;
}

/** Deletes transaction `txId`'s earning record (the derived order drops it when its time passes). */
export function forgetEarned(L: LoyaltyState, txId: string): void {
  delete L.earned[txId];
}

/** `L.earned[id] = rec`, kept in the derived order when there is one (else it is built from the record when first needed). */
export function keepEarned(L: LoyaltyState, id: string, rec: EarnRecord): void {
  L.earned[id] = rec;
  const order = earnedOrders.get(L.earned);
  if (order !== undefined) placeEarned(order, id, rec.at);
}

/** Deletes the earning records made before `horizon`: those a scan of every record would delete, found in time order. */
export function forgetEarnedBefore(L: LoyaltyState, horizon: number): void {
  const earned = L.earned;
  const order = earnedOrder(earned);
  const { ids, ats } = order;
  while (order.head < ats.length && num(ats, order.head) < horizon) {
    const id = item(ids, order.head++);
    const rec = Object.hasOwn(earned, id) ? earned[id] : undefined;
    if (rec !== undefined && rec.at < horizon) delete earned[id];
  }
  if (order.head > 64 && order.head * 2 > ats.length) {
    ids.splice(0, order.head);
    ats.splice(0, order.head);
    order.head = 0;
  }
}

/**
 * Derived from `LoyaltyState.earned`, never state: its ids in ascending `at` order from `head` on (ids
 * whose record was deleted or replaced since may linger until their time passes). Built from the record
 * on first use (after a restore too) and kept by {@link keepEarned}, so pruning visits only the records it
 * drops, not every record of the reversal window.
 */
interface EarnedOrder {
  ids: string[];
  ats: number[];
  head: number;
}

const earnedOrders = new WeakMap<Record<string, EarnRecord>, EarnedOrder>();

function earnedOrder(earned: Record<string, EarnRecord>): EarnedOrder {
  let order = earnedOrders.get(earned);
  if (order === undefined) {
    order = { ids: [], ats: [], head: 0 };
    for (const id in earned) if (Object.hasOwn(earned, id)) placeEarned(order, id, ownValue(earned, id).at);
    earnedOrders.set(earned, order);
  }
  return order;
}

/** Puts `id` (earned at `at`) in its place in the order: usually last (a NaN time is never pruned, nor placed). */
function placeEarned(order: EarnedOrder, id: string, at: number): void {
  if (Number.isNaN(at)) return;
  const { ids, ats } = order;
  let i = ats.length;
  while (i > order.head && num(ats, i - 1) > at) i--;
  if (i === ats.length) {
    ids.push(id);
    ats.push(at);
  } else {
    ids.splice(i, 0, id);
    ats.splice(i, 0, at);
  }
}
