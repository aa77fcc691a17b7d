/**
 * Scorer state: one `PartitionState` per partition, holding the customers that hash to it. Plain JSON
 * data (no classes, no Maps) so a checkpoint is `JSON.stringify` and a restore is `JSON.parse`.
 */
import type { StoredProfileV1 } from '../../contracts/events.js';
import type { LoyaltyState } from './loyalty/state.js';
import type { FeatureState } from './features/state.js';
import type { LifecycleState } from './lifecycle/state.js';
import type { OffersState } from './offers/state.js';
import { newLoyaltyState } from './loyalty/state.js';
import { newFeatureState } from './features/state.js';
import { newLifecycleState } from './lifecycle/state.js';
import { newOffersState } from './offers/state.js';
import { heapPeekLeast, heapPop, heapPush, heapRemoveWhere } from './heap.js';
import { newSeenIds, type SeenIds } from './seen.js';

export interface CustomerState {
  id: string;
  profile?: StoredProfileV1;
  loyalty: LoyaltyState;
  features: FeatureState;
  lifecycle: LifecycleState;
  /** Next-best offers: contacts, open offers awaiting conversion, occasions (offers/state.ts). */
  offers: OffersState;
  /** Last churn score: probability, the model version that produced it, and its reasons (`Score.reasons`; absent or '': none). */
  churn: { p: number; version: string; at: number; reasons?: string };
  /** Idempotency: tx ids seen within the de-duplication horizon, by UTC day (seen.ts). */
  seen: SeenIds;
  /** Stream sequence of the last event that touched this customer. */
  lastSeq: number;
}

/** A pending event-time timer. `kind` names the module that owns it. */
export interface Timer {
  due: number;
  customerId: string;
  kind: string;
  ref?: string;
}

export interface PartitionState {
  version: 1;
  partition: number;
  /** Stream sequence of the last event applied (what a checkpoint covers). */
  seq: number;
  /** Largest event time seen, epoch ms. */
  maxEventTime: number;
  /** maxEventTime − allowed lateness: timers due at or before it fire; events older than it are late. */
  watermark: number;
  customers: Record<string, CustomerState>;
  /** Min-heap on `due`. */
  timers: Timer[];
  stats: { events: number; duplicates: number; late: number; rejected: number };
  /** Per-partition shares of global budgets (campaign budgets are split evenly across partitions). */
  budgets: Record<string, number>;
  /**
   * Loyalty-rules reloads this partition has seen in the stream (control messages), in order: each
   * applies from its own stream position. Kept as text and re-parsed on load (rules hold Sets).
   */
  rules?: { version: string; fromSeq: number; text: string }[];
  /**
   * Cut-over from backfilled history to the live stream, epoch ms (set by `vafa backfill`; absent for a
   * partition that never had one). History holds everything up to it: no offer or survey is decided as of a
   * time at or before it, and a live feedback at or before it is a duplicate of the history (transactions
   * are recognised by their remembered tx ids, redemptions by their ids).
   */
  cutover?: number;
  /**
   * Customers erased elsewhere whose id other customers' data may name (`erase_mentions` control messages,
   * scorer/core/erasure.ts): the SHA-256 of the id (hex) → the erasure id written in its place. Absent
   * until the partition's first such message. Grows by one entry per erasure.
   */
  erased?: Record<string, string>;
  /**
   * The resume mark of the `vafa backfill` that last committed this partition: where its feeder stood and
   * the referral credits the partition's events published since the commit before, so that a rerun resumes
   * exactly there (`BackfillMark`, scorer/runtime/backfill/partitions.ts, which alone writes and reads it).
   * Opaque to the core, which never reads or changes it; the state store commits and restores it with the
   * partition's other fields (its meta record), as it is. Absent for a partition no backfill committed.
   */
  backfill?: unknown;
}

export function newPartitionState(partition: number): PartitionState {
  return {
    version: 1, partition, seq: 0, maxEventTime: 0, watermark: 0, customers: {}, timers: [],
    stats: { events: 0, duplicates: 0, late: 0, rejected: 0 }, budgets: {},
  };
}

export function getCustomer(state: PartitionState, id: string): CustomerState {
  let c = Object.hasOwn(state.customers, id) ? state.customers[id] : undefined;
  if (!c) {
    c = {
      id, loyalty: newLoyaltyState(), features: newFeatureState(), lifecycle: newLifecycleState(),
      churn: { p: 0, version: '', at: 0 }, seen: newSeenIds(), lastSeq: 0, offers: newOffersState(),
    };
    state.customers[id] = c;
  }
  return c;
}

const earlier = (x: Timer, y: Timer): boolean => x.due < y.due;

export function pushTimer(state: PartitionState, t: Timer): void {
  heapPush(state.timers, t, earlier);
}

/** Drops every timer of `customerId` (an erased customer); returns how many. */
export function dropTimersOf(state: PartitionState, customerId: string): number {
  return heapRemoveWhere(state.timers, (t) => t.customerId === customerId, earlier);
}

export function popDueTimer(state: PartitionState, upTo: number): Timer | undefined {
  const h = state.timers;
  const next = h[0];
  if (next === undefined || next.due > upTo) return undefined;
  return heapPop(h, earlier);
}

/**
 * Customers of the first `limit` timers due at or before `upTo`, in due order (duplicates possible),
 * without firing them: what the runtime may read ahead before the core reaches them.
 */
export function dueTimerCustomers(state: PartitionState, upTo: number, limit: number): string[] {
  return heapPeekLeast(state.timers, limit, (t) => t.due <= upTo, earlier).map((t) => t.customerId);
}
