/**
 * Per-customer offer state: plain JSON (checkpoints are JSON.stringify), bounded by the contact policy:
 * contacts live as long as a period or cool-down can still see them, open offers until their conversion
 * window closes, and the rest is one entry per offer code at most.
 */

/** One decision that counts against the contact policy (treated and holdout alike). */
export interface Contact {
  at: number;
  code: string;
  channel: string;
}

/** A decision waiting for its goal behaviour (treated and holdout alike, so uplift can be measured). */
export interface OpenOffer {
  id: string;
  code: string;
  campaign: string;
  channel: string;
  branch: string;
  holdout: boolean;
  /** Event time of the trigger. */
  at: number;
  /** End of the conversion window (inclusive), event ms. */
  until: number;
  /** A survey's scale (its answer is a survey feedback on this scale); absent for offers. */
  survey?: string;
}

export interface OffersState {
  /** Layout version. */
  v: 1;
  /** Contacts within the policy horizon, in decision order. */
  contacts: Contact[];
  /** Decisions still inside their conversion window, in decision order. */
  open: OpenOffer[];
  /** Decisions per offer code, ever (for per-customer limits). */
  counts: Record<string, number>;
  /** Consecutive decisions whose window closed without a conversion. */
  ignored: number;
  /** No decision before this event time (suppression after repeated non-response); 0 = none. */
  suppressedUntil: number;
  /** Last tier seen and its rank (to tell an upgrade), and when the last upgrade was seen. */
  tier: string;
  tierRank: number;
  tierUpAt: number;
  /** Per offer code, the occasion instance it last fired for (`birthday:2026`, …): once per occasion. */
  occasions: Record<string, string>;
  /** Per offer code, when a decision was last held back by the consent rules (consent.ts); absent: never. */
  held?: Record<string, number>;
}

export function newOffersState(): OffersState {
  return { v: 1, contacts: [], open: [], counts: {}, ignored: 0, suppressedUntil: 0, tier: '', tierRank: 0, tierUpAt: 0, occasions: {} };
}
