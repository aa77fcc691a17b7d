/**
 * The book: the one owner of a customer's loyalty lots (`LoyaltyState.lots`) and earning records
 * (`LoyaltyState.earned`). Every read and write of either goes through here, so that their in-memory
 * representation can change in this file alone (the state store's codec reads the representation too).
 * The book emits nothing and arms no timer: the engine does, from what these functions return.
 *
 * Invariants:
 * - Lots are kept in (at, seq) order and consumed first-in-first-out in that order.
 * - balance = Σ lots[].rem − debt, and debt > 0 only while no lot has points left: a lot added while a
 *   debt is open repays it first ({@link insertLot}).
 * - Earning records are kept only for the reversal window ({@link forgetEarnedBefore}).
 *
 * It also owns the two derived caches, never state (rebuilt from the state when missing, after a restore
 * too): how far {@link mergeLots} has merged a lots list, and the earning records' ids in time order.
 *
 * Sealed parts: a customer the state store restores may keep its lots and earning records as the record
 * held them, encoded ({@link sealLots}, {@link sealEarned}); `L.lots` and `L.earned` then hold only what
 * came after. An operation that needs a sealed part opens it first (decodes it into the plain list or
 * object, in its place): a redemption, the weekly merge and pruning, a reversal or a refund, a lookup of
 * an earning record that is sealed. Earning and the daily events do not: an expiry takes its lots out of
 * the sealed part in place ({@link SealedLots.dropDue}), and a lookup of a record that is not there opens
 * nothing, so a commit writes the sealed parts back as their bytes (once a year's lots expire, a customer
 * with points has an expiry most bank days it earned on, a year or more before). Every
 * function here gives what it gives on the opened state; nothing outside the book and the codec reads
 * `lots` or `earned` (test/unit/book-owner.test.ts).
 */
import type { EarnRecord, LoyaltyState, Lot } from './state.js';
import { item, num, ownValue, setOwnAll } from '../invariant.js';

// ---------------------------------------------------------------------------------------------------
// Lots
// ---------------------------------------------------------------------------------------------------

/**
 * Adds a lot in (at, seq) order; it first repays any debt (its `rem` goes down by what it repaid).
 * Returns false, adding nothing, when the debt took all of it.
 */
export function insertLot(L: LoyaltyState, lot: Lot): boolean {
  const repay = Math.min(L.debt, lot.rem);
  L.debt -= repay;
  lot.rem -= repay;
  if (lot.rem <= 0) return false;
  const sealed = sealedLotsOf.get(L);
  if (sealed !== undefined && (sealed.lastAt > lot.at || (sealed.lastAt === lot.at && sealed.lastSeq > lot.seq))) openLots(L);
  const lots = L.lots;
  let i = lots.length;
  while (i > 0) {
    const before = item(lots, i - 1);
    if (!(before.at > lot.at || (before.at === lot.at && before.seq > lot.seq))) break;
    i--;
  }
  lots.splice(i, 0, lot);
  const merged = mergedUpTo.get(lots);
  if (merged !== undefined && i < merged) mergedUpTo.set(lots, i);
  unmergedFrom(L, lot.at);
  return true;
}

/** The earliest expiry of a lot, 0 when there is no lot. */
export function earliestExpiry(L: LoyaltyState): number {
  let next = sealedLotsOf.get(L)?.earliestExpiry ?? 0;
  for (const l of L.lots) if (next === 0 || l.exp < next) next = l.exp;
  return next;
}

/** The lot a transaction earned (source `tx`, id `txId`) while it is unspent and not merged into another. */
export function ownLot(L: LoyaltyState, txId: string): Lot | undefined {
  openLots(L);
  return L.lots.find((l) => l.src === 'tx' && l.id === txId);
}

/** Takes up to `amount` unspent points: from lot `preferTx` first (if given), then oldest first. Returns what it took. */
export function take(L: LoyaltyState, amount: number, preferTx: string | undefined): number {
  openLots(L);
  let left = amount;
  const use = (l: Lot): void => {
    const k = Math.min(l.rem, left);
    l.rem -= k;
    left -= k;
  };
  if (preferTx !== undefined) {
    const first = ownLot(L, preferTx);
    if (first) use(first);
  }
  for (const l of L.lots) {
    if (left <= 0) break;
    use(l);
  }
  const kept: Lot[] = [];
  for (const l of L.lots) {
    if (l.rem > 0) kept.push(l);
    else if (kept.length > 0) unmergedFrom(L, l.at);
  }
  L.lots = kept;
  return amount - left;
}

const NO_LOTS: readonly Lot[] = Object.freeze([]);

/**
 * Removes the lots that expire at or before `due` and returns them in their order (the caller books
 * them off the balance); none due: an empty list, and the lots list stays as it was.
 */
export function dueLots(L: LoyaltyState, due: number): readonly Lot[] {
  const sealed = sealedLotsOf.get(L);
  let gone: Lot[] | undefined;
  if (sealed !== undefined && sealed.earliestExpiry <= due) {
    // The sealed lots come before L.lots, so dropping theirs in place keeps the order an open would give.
    const dropped = sealed.dropDue(due);
    keepSealedLots(L, dropped.rest);
    if (dropped.gone.length > 0) gone = dropped.gone;
    unmergedFrom(L, dropped.gapAt);
  }
  if (!L.lots.some((l) => l.exp <= due)) return gone ?? NO_LOTS;
  const keep: Lot[] = [];
  gone ??= [];
  const keptBefore = sealedLotsOf.has(L);
  for (const l of L.lots) {
    if (l.exp > due) keep.push(l);
    else {
      gone.push(l);
      if (keptBefore || keep.length > 0) unmergedFrom(L, l.at);
    }
  }
  L.lots = keep;
  return gone;
}

/**
 * Merges neighbouring lots earned before `horizon` (no reversal can take from them preferentially any
 * more) that expire together with the same tier and rules version: first-in-first-out consumption of the
 * merged lot takes what it took from its members in turn, and they expire at the same instant, so no
 * amount changes; their expiry becomes one ledger row under the first member's id. It starts at
 * `L.merged` (below it there is nothing to merge; a horizon at or before it changes nothing). A customer
 * whose lots are sealed and whose plain lots all come at or after the horizon merges in the sealed part
 * ({@link SealedLots.openBetween}: only the chunks that hold a lot that could merge are decoded, and
 * written again only when one did); otherwise the sealed lots from that point on are opened first.
 */
export function mergeLots(L: LoyaltyState, horizon: number): void {
  const mergedBefore = L.merged ?? 0;
  if (horizon <= mergedBefore) return;
  L.merged = horizon;
  const sealed = sealedLotsOf.get(L);
  if (sealed !== undefined) {
    const first = L.lots[0];
    if (first === undefined || first.at >= horizon) {
      const between = sealed.openBetween(mergedBefore, horizon);
      if (between === undefined) return;
      const count = between.lots.length;
      mergeRun(between.lots, 0, horizon);
      if (between.lots.length === count) return;
      keepSealedLots(L, between.sealBack(between.lots));
      return;
    }
    openLotsFrom(L, sealed, mergedBefore);
  }
  const lots = L.lots;
  mergedUpTo.set(lots, mergeRun(lots, Math.min(mergedUpTo.get(lots) ?? 0, lots.length), horizon));
}

/**
 * The merge of {@link mergeLots} on `lots` in place, from index `start` (the lots before it have no
 * neighbours to merge); returns how many lots at its start now have none.
 */
function mergeRun(lots: Lot[], start: number, horizon: number): number {
  let out = start;
  let i = out;
  for (; i < lots.length; i++) {
    const l = item(lots, i);
    // Lots are in (at, seq) order: none from here on was earned before the horizon.
    if (l.at >= horizon) break;
    const last = out > 0 ? item(lots, out - 1) : undefined;
    if (last && l.at < horizon && last.at < horizon && last.exp === l.exp && last.tier === l.tier && last.ver === l.ver) {
      last.rem += l.rem;
      last.n = (last.n ?? 1) + (l.n ?? 1);
      delete last.pts;
      continue;
    }
    lots[out++] = l;
  }
  const merged = out;
  if (out === i) return merged;
  for (; i < lots.length; i++) lots[out++] = item(lots, i);
  lots.length = out;
  return merged;
}

/**
 * Records that lots earned at `at` or later may have neighbours that could merge (a lot inserted, or one
 * taken out from between two): {@link LoyaltyState.merged} goes back to `at` when it was past it.
 */
function unmergedFrom(L: LoyaltyState, at: number): void {
  if (L.merged !== undefined && at < L.merged) L.merged = at;
}

/**
 * Derived, never state: per lots list, how many of its first lots mergeLots left with no neighbours to
 * merge. Those stay so (their times stay before every later horizon, and nothing changes a lot's expiry,
 * tier or version), so the next pass starts at the last of them; insertLot brings the count back to where it
 * inserts, and a list replaced by a filtered copy (take, dueLots, a restore) starts from 0.
 */
const mergedUpTo = new WeakMap<Lot[], number>();

/** Whether a credit's lot (source `rd`) has an id that `named` selects. */
export function someCreditLot(L: LoyaltyState, named: (id: string) => boolean): boolean {
  openLots(L);
  return L.lots.some((lot) => lot.src === 'rd' && named(lot.id));
}

/** Renames every credit's lot (source `rd`) whose id `rename` maps (undefined: keeps its id). */
export function renameCreditLots(L: LoyaltyState, rename: (id: string) => string | undefined): void {
  openLots(L);
  for (const lot of L.lots) if (lot.src === 'rd') lot.id = rename(lot.id) ?? lot.id;
}

// ---------------------------------------------------------------------------------------------------
// Earning records
// ---------------------------------------------------------------------------------------------------

/** What transaction `txId` earned, while its record is kept. */
export function earnedRecord(L: LoyaltyState, txId: string): EarnRecord | undefined {
  if (!Object.hasOwn(L.earned, txId) && sealedEarnedOf.get(L)?.has(txId) === true) openEarned(L);
  const earned = L.earned;
  return Object.hasOwn(earned, txId) ? earned[txId] : undefined;
}

/** Deletes transaction `txId`'s earning record (the derived order drops it when its time passes). */
export function forgetEarned(L: LoyaltyState, txId: string): void {
  openEarned(L);
  delete L.earned[txId];
}

/**
 * `L.earned[id] = rec`, kept in the derived order when there is one (else it is built from the record when
 * first needed). With the records sealed it goes beside them, replacing a sealed one of the same id when
 * they are opened (in that one's place, as an assignment to an existing key keeps its place).
 */
export function keepEarned(L: LoyaltyState, id: string, rec: EarnRecord): void {
  L.earned[id] = rec;
  const order = earnedOrders.get(L.earned);
  if (order !== undefined) placeEarned(order, id, rec.at);
}

/**
 * Deletes the earning records made before `horizon`: those a scan of every record would delete, found in
 * time order. The sealed part drops its own ({@link SealedEarned.dropBefore}, which decodes only what holds
 * one); it is opened first when a plain record is that old (it may replace a sealed one, which must not come
 * back), or when it cannot drop them alone.
 */
export function forgetEarnedBefore(L: LoyaltyState, horizon: number): void {
  const sealed = sealedEarnedOf.get(L);
  if (sealed !== undefined) {
    if (oldestBefore(earnedOrder(L.earned), horizon)) openEarned(L);
    else if (sealed.earliestAt < horizon) {
      const earned = L.earned;
      const rest = sealed.dropBefore(horizon, (id) => Object.hasOwn(earned, id));
      if (rest === false) openEarned(L);
      else keepSealedEarned(L, rest);
    }
  }
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

/** Whether the order's oldest record (or a lingering id of one deleted since) was made before `horizon`. */
function oldestBefore(order: EarnedOrder, horizon: number): boolean {
  return order.head < order.ats.length && num(order.ats, order.head) < horizon;
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

// ---------------------------------------------------------------------------------------------------
// Sealed parts
// ---------------------------------------------------------------------------------------------------

/**
 * A customer's oldest lots kept encoded (the state store's codec makes these): every lot of `L.lots` comes
 * after them in (at, seq) order. Their summary lets the everyday operations go on without them.
 */
export interface SealedLots {
  /** Lots held (at least one). */
  readonly count: number;
  /** The earliest expiry among them (every one is > 0). */
  readonly earliestExpiry: number;
  /** `at` and `seq` of the last of them. */
  readonly lastAt: number;
  readonly lastSeq: number;
  /** Decodes them, in their order, as new objects. */
  open(): Lot[];
  /**
   * Takes out the lots that expire at or before `due`: returns them in their order, as new objects, the
   * lots left, still sealed (undefined: none left), and `gapAt`, the earliest `at` of a lot taken out after
   * one left (Infinity: none; the lots left then have the same neighbours). This part is left as it was.
   */
  dropDue(due: number): { gone: Lot[]; rest: SealedLots | undefined; gapAt: number };
  /**
   * Decodes the lots from the one before the first earned at or after `at` on (from the end of the part
   * that holds it: a whole chunk of the record), as new objects in their order, and returns them with the
   * lots before them, still sealed (undefined: none). This part is left as it was.
   */
  openFrom(at: number): { opened: Lot[]; rest: SealedLots | undefined };
  /**
   * For a merge before `horizon` when no two neighbouring lots earned before `from` could merge: the lots
   * that could take part, decoded in their order as new objects (from the one before the first earned at
   * or after `from`, to the last earned before `horizon`, as whole chunks of the record), and `sealBack`,
   * which gives this part with `lots` (those, merged) in their place, still sealed. Undefined when none
   * could. This part is left as it was.
   */
  openBetween(from: number, horizon: number): { lots: Lot[]; sealBack(lots: readonly Lot[]): SealedLots | undefined } | undefined;
}

/** A customer's earning records kept encoded; the records of `L.earned` with the same id replace them. */
export interface SealedEarned {
  /** Records held (at least one). */
  readonly count: number;
  /** The earliest `at` among them (an integer). */
  readonly earliestAt: number;
  /** Decodes them, in their key order, as new objects. */
  open(): Record<string, EarnRecord>;
  /** Whether a record of id `id` is among them (without decoding the records). */
  has(id: string): boolean;
  /**
   * Takes out the records made before `horizon` (those an open and a scan would delete), decoding no more
   * than it must: returns what is left, still sealed (undefined: none), or false, this part left as it
   * was, when the result could differ from an open's (an id dropped is also held elsewhere: in another of
   * its parts, or among the plain records `elsewhere` selects).
   */
  dropBefore(horizon: number, elsewhere: (id: string) => boolean): SealedEarned | undefined | false;
}

const sealedLotsOf = new WeakMap<LoyaltyState, SealedLots>();
const sealedEarnedOf = new WeakMap<LoyaltyState, SealedEarned>();

/**
 * Keeps `sealed` as the lots before `L.lots` (which must all come after the last of them). The store's
 * codec calls this on a customer it restores; the lots are decoded when an operation needs them.
 */
export function sealLots(L: LoyaltyState, sealed: SealedLots): void {
  const first = L.lots[0];
  if (first !== undefined && (first.at < sealed.lastAt || (first.at === sealed.lastAt && first.seq < sealed.lastSeq))) {
    throw new Error('sealed lots must come before the lots kept in the list');
  }
  sealedLotsOf.set(L, sealed);
}

/** Keeps `sealed` as earning records beside `L.earned` (whose records replace those of the same id). */
export function sealEarned(L: LoyaltyState, sealed: SealedEarned): void {
  sealedEarnedOf.set(L, sealed);
}

/** What a sealed part left of its lots after an operation took some out or rewrote them (undefined: none left). */
function keepSealedLots(L: LoyaltyState, rest: SealedLots | undefined): void {
  if (rest === undefined) sealedLotsOf.delete(L);
  else sealedLotsOf.set(L, rest);
}

/** The same for the earning records. */
function keepSealedEarned(L: LoyaltyState, rest: SealedEarned | undefined): void {
  if (rest === undefined) sealedEarnedOf.delete(L);
  else sealedEarnedOf.set(L, rest);
}

/** The lots kept sealed before `L.lots`, if any. */
export function sealedLots(L: LoyaltyState): SealedLots | undefined {
  return sealedLotsOf.get(L);
}

/** The earning records kept sealed beside `L.earned`, if any. */
export function sealedEarned(L: LoyaltyState): SealedEarned | undefined {
  return sealedEarnedOf.get(L);
}

/** Decodes the sealed lots from the one before the first earned at or after `at` on, in front of `L.lots` (a new list). */
function openLotsFrom(L: LoyaltyState, sealed: SealedLots, at: number): void {
  const { opened, rest } = sealed.openFrom(at);
  keepSealedLots(L, rest);
  for (const lot of L.lots) opened.push(lot);
  L.lots = opened;
}

/** Decodes the sealed lots, if any, in front of `L.lots` (a new list: the merge restarts from its start). */
function openLots(L: LoyaltyState): void {
  const sealed = sealedLotsOf.get(L);
  if (sealed === undefined) return;
  sealedLotsOf.delete(L);
  const lots = sealed.open();
  for (const lot of L.lots) lots.push(lot);
  L.lots = lots;
}

/** Decodes the sealed earning records, if any, under those of `L.earned` (a new object: its derived order is rebuilt). */
function openEarned(L: LoyaltyState): void {
  const sealed = sealedEarnedOf.get(L);
  if (sealed === undefined) return;
  sealedEarnedOf.delete(L);
  L.earned = setOwnAll(sealed.open(), L.earned);
}

/**
 * Decodes the customer's sealed lots and earning records, if any, into `L.lots` and `L.earned`: for what
 * reads the whole state as plain data (a JSON checkpoint, a comparison in a test). The book's answers do
 * not change.
 */
export function openLoyalty(L: LoyaltyState): void {
  openLots(L);
  openEarned(L);
}
