/**
 * What an erasure reports beyond the warehouse's tables: the answer of `POST /v1/admin/erasures` and of
 * `vafa erase --json` (docs/security.md). Here, below the API, the CLI and the scorer's runtime, so that
 * each can read it without importing the others.
 */

/** The scorer's part: where the `erase_customer` control message went and whether it was applied. */
export interface Forgotten {
  partition: number;
  /** The control message's stream sequence. */
  seq: number;
  /** True when the scorer has acked past it; false when no scorer consumer exists yet (it will, in order). */
  applied: boolean;
  /**
   * The `erase_mentions` control messages (one per partition: other customers' data naming the customer
   * takes the erasure id): how many were published, and how many partitions' scorers have acked past theirs.
   */
  mentions: { partitions: number; applied: number };
}

/** One stream's retained messages. */
export interface StreamErasure {
  /** Messages read. */
  scanned: number;
  /** Messages of the customer, securely erased. */
  deleted: number;
}

/** The customer's partition's snapshot chain in the NATS object store. */
export interface SnapshotErasure {
  /** Whether the partition has a snapshot chain at all (the `nats` state store). */
  chain: boolean;
  /** Objects of the chain scanned. */
  objects: number;
  /** Objects replaced by a copy without the customer. */
  rewritten: number;
  /** Frames left out of those copies. */
  frames: number;
  /** Stored chunks of the replaced objects securely erased. */
  chunks: number;
}

/** What an erasure did outside the warehouse: the scorer, the streams, the card directory, the snapshots. */
export interface ErasedOutsideWarehouse {
  scorer: Forgotten;
  /** Per stream (`TX`, `OFFERS`, `DLQ`): messages read and messages of the customer securely erased. */
  streams: Record<string, StreamErasure>;
  /** Card-directory entries (revisions) of the customer erased. */
  card_directory: number;
  /** The customer's partition's snapshot chain: objects scanned and rewritten without the customer. */
  snapshots: SnapshotErasure;
  /**
   * The other partitions' snapshot chains, summed: objects rewritten without the records (superseded since)
   * in which other customers named the customer. `chain`: whether any partition has one.
   */
  mention_snapshots: SnapshotErasure;
  ms: number;
}

/** What an erasure that could not reach NATS (`--warehouse-only`, or the API without a scorer eraser) leaves (docs/security.md). */
export const NOT_ERASED = [
  'retained messages of the TX, OFFERS and DLQ streams (a replay would bring the customer back)',
  'the card directory (NATS KV vafa_cards)',
] as const;

/** Said as well when the erasure could not reach the scorer. */
export const SCORER_NOT_ERASED = 'scorer state (state store, snapshots): the scorer still holds the customer until it forgets them (vafa erase with NATS reachable, or an erase_customer control message)';

/**
 * The answer's `not_erased`: with NATS reached, nothing, or the control message kept when no scorer had
 * applied it yet; without, the scorer state and what NATS retains.
 */
export function notErased(reachedNats: boolean, outside: ErasedOutsideWarehouse | undefined): string[] {
  if (!reachedNats) return [SCORER_NOT_ERASED, ...NOT_ERASED];
  return outside?.scorer.applied === false ? [SCORER_PENDING] : [];
}

/** Said in `not_erased` when no scorer had applied the erasure yet. */
export const SCORER_PENDING = 'the erase_customer control message in TX and any snapshot of the partition: kept until a scorer applies the message (no scorer consumer yet); erase again once the scorer runs';

/** The places of an erasure's answer (API and `vafa erase --json`), beside the warehouse's `tables`. */
export function placesOf(outside: ErasedOutsideWarehouse): Omit<ErasedOutsideWarehouse, 'ms'> & { outside_warehouse_ms: number } {
  const { ms, ...places } = outside;
  return { ...places, outside_warehouse_ms: ms };
}

/** The `name` of the error the scorer's eraser throws when the scorer did not pass the erasure in time. */
export const SCORER_ERASURE_TIMEOUT = 'ScorerErasureTimeoutError';
