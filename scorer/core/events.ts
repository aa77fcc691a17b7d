/**
 * What the core decides, as domain events: points moved, a transaction scored, a stage or a tier changed,
 * an offer decided, held back or converted, a feedback recorded, a referral qualified, and the customer's
 * latest snapshot. The core emits these and nothing else; it knows no table, column or output message.
 * `sinks/mapping.ts` maps them to ClickHouse rows and to the messages the scorer publishes, so adding a
 * table or a column never touches the core.
 *
 * Times are epoch milliseconds (event time). Every event carries `seq`, the stream sequence of the event
 * that caused it, which versions what the outputs make of it.
 */
import type { FeedbackV1, StoredProfileV1, TransactionV1 } from '../../contracts/events.js';
import type { OfferChannel } from '../../contracts/subjects.js';

/** A movement of loyalty points (an earning, a reversal, a refund, an expiry, a redemption, a migration, …). */
export interface PointsMoved {
  type: 'points_moved';
  entryId: string;
  customerId: string;
  /** `earn`, `reversal`, `refund`, `expiry`, `redemption`, `migration`, … */
  kind: string;
  points: number;
  ruleId: string;
  rulesVersion: string;
  /** The transaction, redemption or migration line it came from. */
  sourceId: string;
  channel: string;
  /** The member's branch as the movement happened. */
  branchId: string;
  tier: string;
  at: number;
  /** When the points it created expire; null: it creates none. */
  expiresAt: number | null;
  balanceAfter: number;
  seq: number;
}

/** A transaction after its decision: the points it earned and the customer as it left them. */
export interface TransactionScored {
  type: 'transaction_scored';
  tx: TransactionV1;
  at: number;
  points: number;
  churnProbability: number;
  modelVersion: string;
  /** The score's reasons as JSON text; '' none. */
  churnReasons: string;
  stage: string;
  tier: string;
  segment: string;
  rulesVersion: string;
  partition: number;
  seq: number;
}

export interface TierChanged {
  type: 'tier_changed';
  changeId: string;
  customerId: string;
  from: string;
  to: string;
  at: number;
  reason: string;
  branchId: string;
  seq: number;
}

export interface StageChanged {
  type: 'stage_changed';
  transitionId: string;
  customerId: string;
  from: string;
  to: string;
  at: number;
  reason: string;
  churnProbability: number;
  segment: string;
  branchId: string;
  /** What prompted the decision: a tx id, `profile:<seq>`, `timer:lifecycle:<due>`, … */
  sourceId: string;
  seq: number;
}

/** What every offer decision says, sent or held back: the offer, the customer and their standing, why and when. */
export interface OfferDecisionFields {
  offerId: string;
  customerId: string;
  code: string;
  campaign: string;
  channel: OfferChannel;
  reason: string;
  stage: string;
  tier: string;
  segment: string;
  branchId: string;
  triggeredBy: string;
  at: number;
  seq: number;
}

/** An offer or a survey decided for a customer (a holdout decision included: it is recorded, not sent). */
export interface OfferDecided extends OfferDecisionFields {
  type: 'offer_decided';
  churnProbability: number;
  /** The branch travels with the trigger (a counter prompt, or an offer about a branch visit). */
  forBranch: boolean;
  expiresAt: number;
  holdout: boolean;
  expectedValue: number;
  cost: number;
  /** A survey's scale and question; absent for an offer. */
  survey?: { scale: string; question: string };
}

/** A decision the consent rules held back: nothing is sent. */
export interface OfferHeld extends OfferDecisionFields {
  type: 'offer_held';
  survey: boolean;
}

/** An open offer whose goal this event met (or a survey answered). */
export interface OfferConverted {
  type: 'offer_converted';
  conversionId: string;
  offerId: string;
  customerId: string;
  campaign: string;
  code: string;
  channel: string;
  branchId: string;
  holdout: boolean;
  goal: string;
  /** The converting event's id. */
  sourceId: string;
  offeredAt: number;
  at: number;
  valueMinor: number;
  /** A survey's answer. */
  answer?: { score: number | null; scale: string };
  seq: number;
}

export interface FeedbackRecorded {
  type: 'feedback_recorded';
  feedback: FeedbackV1;
  at: number;
  /** The campaign it reports under ('' none): its own, or the survey's it answers. */
  campaignId: string;
  /** The customer's stage as the feedback arrived. */
  stage: string;
  seq: number;
}

/**
 * A referred customer's transaction met the referral rule: the referrer, in whatever partition, is owed
 * `points`. The runtime routes it to the referrer's partition as a credit on `TX`.
 */
export interface ReferralQualified {
  type: 'referral_qualified';
  referrerId: string;
  referredId: string;
  points: number;
  at: number;
  rulesVersion: string;
  partitions: number;
}

export type DomainEvent =
  | PointsMoved | TransactionScored | TierChanged | StageChanged | OfferDecided | OfferHeld | OfferConverted
  | FeedbackRecorded | ReferralQualified;

/** The customer as of the latest event of a batch that touched them (earlier snapshots are replaced). */
export interface CustomerSnapshot {
  customerId: string;
  seq: number;
  at: number;
  profile: StoredProfileV1 | undefined;
  balance: number;
  tier: string;
  churnProbability: number;
  modelVersion: string;
  churnReasons: string;
  stage: string;
  expectedValue: number;
  /** Approved transactions and spend of the last 30 days (features `tx_count_30d`, `spend_30d_minor`). */
  txCount30d: number;
  spend30dMinor: number;
  /** The features as of `at`, in catalogue order (features/catalogue.ts). */
  features: readonly number[];
  /** Last transaction, epoch ms; 0 none. */
  lastTxAt: number;
}
