/**
 * Per-customer loyalty state: plain JSON (checkpoints are JSON.stringify), bounded by the horizons of
 * the rules: lots live until they expire, earning records for the reversal window, cap counters for the
 * current and previous period, tier buckets for the tier window.
 *
 * Invariant: balance = Σ lots[].rem − debt, and debt > 0 only while no lot has points left.
 */

/**
 * A parcel of points that expires together: one per earning transaction (or referral credit) while a
 * reversal may still take from it; past the reversal window, neighbouring lots with the same expiry,
 * tier and rules version are merged into the first of them (`n` members), which changes no amount.
 */
export interface Lot {
  /** `tx` (earned by a transaction) or `rd` (a credit delivered as an internal redemption-like event). */
  src: 'tx' | 'rd';
  /** tx_id or redemption_id. */
  id: string;
  /** Event time it was earned; lots are consumed first-in-first-out by (at, seq). */
  at: number;
  seq: number;
  /** Instant it expires (end of the bank day, `expiry_days` of the member's tier after earning). */
  exp: number;
  /** Points earned (absent in a merged lot). */
  pts?: number;
  /** Lots merged into this one (absent: 1). */
  n?: number;
  /** Points still unspent. */
  rem: number;
  /** Tier at earning (it set the expiry) and the rules version that produced the lot. */
  tier: string;
  ver: string;
}

/**
 * One rule's share of an earning, kept so a reversal can release exactly what it used: only awards that
 * counted against a cap or a campaign budget are kept (the others release nothing).
 */
export interface RuleAward {
  /** Rule id (absent in newer records: nothing reads it). */
  rule?: string;
  pts: number;
  /** Cap counters this award was added to (`<rule>|d<day>`, `|w<week>`, `|m<month>`); absent: none. */
  caps?: string[];
  /** Campaign whose partition budget it used; absent or '': none. */
  campaign?: string;
}

/** What a transaction earned, kept for the reversal window (reversals and refunds read it). */
export interface EarnRecord {
  at: number;
  /** Stream sequence (absent in newer records: nothing reads it). */
  seq?: number;
  pts: number;
  /** Points of its lot that expired (not taken back again by a reversal); absent: 0. */
  x?: number;
  ver: string;
  /** Bank month whose tier bucket it was added to. */
  m: number;
  /** Absent: none to release. */
  awards?: RuleAward[];
  /** The transaction's `amount_minor`, the base of a refund's proportion (absent in records from before refunds). */
  amt?: number;
  /** Amount refunded so far (cumulative over partial refunds, at most `amt`); absent: 0. */
  rf?: number;
  /** Points refunds have taken back so far; absent: 0. */
  rp?: number;
}

/**
 * What a refund did, kept while a reversal of it (a voided refund) is accepted: `reversals.window_days`
 * after the refund. Every applied refund has one, also one that took nothing (its reversal is then known
 * as a refund's, and undoes nothing).
 */
export interface RefundRecord {
  /** Event time of the refund. */
  at: number;
  /** Points it took back (0: none, or none left to give back after its purchase was reversed). */
  pts: number;
  /** Rules version of its `refund` ledger row. */
  ver: string;
  /** Bank month whose tier-qualifying points it lowered. */
  m: number;
  /** The refunded purchase whose earning record it counted against (`refund_of_tx_id`, linked refunds only). */
  of?: string;
  /** The refund's `amount_minor` counted into the purchase's refunded amount (linked refunds only). */
  amt?: number;
  /** Instant the points given back by its reversal expire (see docs/loyalty.md, Refunds). */
  exp: number;
  /** 1 once reversed: a second reversal of it gives nothing back. */
  rev?: 1;
  /**
   * A linked refund whose purchase was not known yet (it arrived first): it took what its own amount
   * earns, and is settled to the linked outcome if the purchase arrives within `reversals.pending_days`
   * (docs/loyalty.md, Refund before its purchase). Absent once settled, or for any other refund.
   */
  early?: EarlyRefund;
}

/** What settling a refund that arrived before its purchase needs. */
export interface EarlyRefund {
  /** The purchase it names (`refund_of_tx_id`). */
  of: string;
  /** The refund's `amount_minor`. */
  amt: number;
  /** Its stream sequence: several early refunds of one purchase settle in arrival order. */
  seq: number;
}

/**
 * What a non-member's transaction would have earned, kept as pending points (rules
 * `membership.pending_days`): not on the balance, not in the ledger, granted if the customer joins by
 * `until`, dropped (its cap and budget usage released) when the watermark passes it.
 */
export interface HeldEarning {
  /** Event time and stream sequence of the transaction (the granted lot keeps its place in the FIFO order). */
  at: number;
  seq: number;
  /** Last instant a join grants it: `at` + pending_days. */
  until: number;
  /** Expiry of the points once granted (the tier's `expiry_days` at the transaction, as an earning's). */
  exp: number;
  /** Tier and rules version at the transaction. */
  tier: string;
  ver: string;
  /** The transaction's channel and `amount_minor`; bank month for the tier-qualifying points. */
  ch: string;
  amt: number;
  m: number;
  /** Amount refunded while held (linked refunds, at most `amt`); absent: 0. */
  rf?: number;
  /** One per rule that awarded points, in evaluation order, with the cap counters and budget it used. */
  awards: HeldAward[];
}

export interface HeldAward {
  kind: 'earn' | 'bonus';
  rule: string;
  pts: number;
  caps?: string[];
  campaign?: string;
}

export interface LoyaltyState {
  /** Points balance; negative while a debt is open (a reversal took back points already spent). */
  balance: number;
  /** Tier id ('' until the customer's first loyalty event places them). */
  tier: string;
  /** Event time of the last tier change. */
  tierSince: number;
  /** Points owed after a reversal found too few unspent points; repaid first from later earnings. */
  debt: number;
  /**
   * Unspent lots in first-in-first-out order. A customer the state store restored may keep its older lots
   * sealed (encoded) before these: read and change them only through the loyalty book (book.ts).
   */
  lots: Lot[];
  /**
   * tx_id → what it earned (only transactions that earned points). A restored customer may keep more of
   * them sealed: read and change them only through the loyalty book (book.ts).
   */
  earned: Record<string, EarnRecord>;
  /** Refund tx_id → what it took back, for the reversal window (absent until the customer's first refund). */
  refunds?: Record<string, RefundRecord>;
  /**
   * Refunds whose record aged out of the reversal window: the refund id's hash (seen.ts `idHash`) → the
   * UTC day it was seen on, kept while the id itself is remembered (the customer's seen ids), so a late
   * reversal of such a refund is known as a refund's and books nothing (absent until the first one).
   */
  pastRefunds?: Record<string, number>;
  /** A non-member's pending points by tx_id (absent until the first; see {@link HeldEarning}). */
  held?: Record<string, HeldEarning>;
  /** Reversals that arrived before their original: original tx_id → the reversal's event time. */
  pending: Record<string, number>;
  /** Cap usage: `<rule>|<d|w|m><period number>` → points awarded in that period. */
  caps: Record<string, number>;
  /** Tier-qualifying points per bank month number. */
  months: Record<string, number>;
  /** Due time of the pending tier-review timer, 0 when none. */
  reviewAt: number;
  /**
   * Due time of the customer's one pending expiry timer (the earliest lot expiry), 0 when none; heap
   * entries with another due are stale. Absent in states from before: every lot expiry had its own timer.
   */
  expiryAt?: number;
  /** Redemption (and credit) ids already applied → event time (idempotency). */
  redemptions: Record<string, number>;
  /** Referral of this customer by another, until the bonus is decided or the window passes. */
  referral: { by: string; opened: number; done: boolean } | null;
  /** Week number (epoch ms / 7 days) of the watermark at the last pruning (it runs at most once a week). */
  pruned: number;
  /**
   * No two neighbouring lots earned before this time could merge (book.ts `mergeLots` has merged up to it,
   * and no lot was inserted or taken out between them since), so the next merge starts there: a customer
   * restored with its lots sealed decodes only its later lots to merge them. Absent until the first merge.
   */
  merged?: number;
}

export function newLoyaltyState(): LoyaltyState {
  return {
    balance: 0, tier: '', tierSince: 0, debt: 0, lots: [], earned: {}, pending: {}, caps: {}, months: {},
    reviewAt: 0, expiryAt: 0, redemptions: {}, referral: null, pruned: 0,
  };
}
