/** Per-customer lifecycle state: plain JSON. Field by field in docs/features.md ("Lifecycle state"). */
import type { StoredProfileV1 } from '../../../contracts/events.js';

/** A timer-driven stage decision waiting behind the customer's phase 2 in the same micro-batch. */
export interface DeferredStage {
  /** Event time the timer was due. */
  at: number;
  /** Stream sequence of the event whose watermark fired it. */
  seq: number;
  /** The feature vector as of `at`, taken when the timer fired: numbers in catalogue order (FEATURE_INDEX). */
  features: number[];
  /** The partition watermark that fired it (a decision that would be stale by then is not taken). */
  watermark?: number;
  /**
   * No stage decision, only the customer's snapshot as of `at`: a loyalty timer (points
   * expiring) changed the customer while earlier events of theirs waited for phase 2, and their rows
   * come first, as one event at a time.
   */
  rowOnly?: true;
  /**
   * The customer's tier and profile when the timer fired. Phase 2 of an earlier event sees that event's
   * own tier and profile; a decision or row deferred behind it sees these, as one event at a time would.
   * Absent in entries from before: phase 2's are used.
   */
  tier?: string;
  profile?: StoredProfileV1;
}

export interface LifecycleState {
  /** Current stage (see lifecycle/engine.ts STAGES). */
  stage: string;
  /** Event time the current stage began. */
  since: number;
  /**
   * When the customer became known: max(event time, watermark) of the first event that armed a timer.
   * A customer with no transaction yet is idle from max(opened_at, known), not from an opening long
   * before the bank's data starts.
   */
  known: number;
  /** Due time of the armed lifecycle timer; 0 = none. Older heap entries with another due are stale. */
  timer: number;
  /** Events of this customer through phase 1 but not yet phase 2 (0 between micro-batches). */
  inflight: number;
  /** Timer decisions deferred until the customer's earlier events finished phase 2 (empty between micro-batches). */
  deferred: DeferredStage[];
}

export function newLifecycleState(): LifecycleState {
  return { stage: 'acquisition', since: 0, known: 0, timer: 0, inflight: 0, deferred: [] };
}
