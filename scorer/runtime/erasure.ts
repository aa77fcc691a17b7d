/**
 * Makes the scorer forget a customer (right to erasure, docs/security.md): publishes an `erase_customer`
 * control message on the customer's partition of `TX` and waits until that partition's scorer has acked
 * past it. Acks are cumulative and sent only once a batch is durable, so from then on the scorer holds
 * nothing of the customer (state, remembered transaction ids, timers) and writes nothing built from the
 * customer's history: the warehouse can be erased after it without rows coming back.
 *
 * The message id is derived from the erasure id, so a retried erasure publishes it once (within the
 * stream's duplicate window). With no scorer consumer yet, nothing waits: the scorer applies the message
 * in stream order when it starts.
 */
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { ControlV1 } from '../../contracts/events.js';
import { SCORER_ERASURE_TIMEOUT, type ErasedOutsideWarehouse, type Forgotten } from '../../contracts/erasure.js';
import { partitionOf, STREAM_TX, txSubject } from '../../contracts/subjects.js';
import type { Logger } from '../../runtime/log.js';
import { eraseRetained } from './retained-erasure.js';
import { eraseFromSnapshots } from './store/snapshot-erasure.js';
import { consumerName } from './worker.js';

export interface ForgetOptions {
  js: JetStreamClient;
  jsm: JetStreamManager;
  /** Partitions of `tx.>` (the settings' `partitions`). */
  partitions: number;
  customerId: string;
  /** The warehouse erasure's id (`erased-<24 hex>`). */
  erasureId: string;
  /** How long to wait for the scorer to pass the message, ms. Default 60,000. */
  deadlineMs?: number;
  /** Between two looks at the consumer, ms. Default 200. */
  pollMs?: number;
}

/** The scorer did not pass the erasure within the deadline (it is behind or down); retrying is safe. */
export class ScorerErasureTimeoutError extends Error {
  override readonly name = SCORER_ERASURE_TIMEOUT;
  constructor(readonly partition: number, readonly seq: number, readonly ackFloor: number, deadlineMs: number) {
    super(`the scorer of partition ${partition} has not passed the erasure at stream position ${seq} within ${deadlineMs} ms (it has acked up to ${ackFloor})`);
  }
}

export async function forgetInScorer(opts: ForgetOptions): Promise<Forgotten> {
  const deadlineMs = opts.deadlineMs ?? 60_000;
  const pollMs = opts.pollMs ?? 200;
  const partition = partitionOf(opts.customerId, opts.partitions);
  const body: ControlV1 = { control_id: `erase:${opts.erasureId}`, type: 'erase_customer', customer_id: opts.customerId, erasure_id: opts.erasureId };
  const ack = await opts.js.publish(txSubject(partition, 'control'), JSON.stringify(body), { msgID: `control:erase:${opts.erasureId}`, timeout: Math.min(deadlineMs, 10_000) });
  const seq = ack.seq;
  const until = Date.now() + deadlineMs;
  for (;;) {
    const info = await opts.jsm.consumers.info(STREAM_TX, consumerName(partition)).catch((err: Error) => {
      if (/consumer not found/i.test(err.message)) return undefined;
      throw err;
    });
    if (!info) return { partition, seq, applied: false };
    const floor = info.ack_floor.stream_seq;
    if (floor >= seq) return { partition, seq, applied: true };
    if (Date.now() >= until) throw new ScorerErasureTimeoutError(partition, seq, floor, deadlineMs);
    await new Promise((resolve) => setTimeout(resolve, Math.min(pollMs, Math.max(1, until - Date.now()))));
  }
}

/**
 * Said under `not_erased` when no scorer consumer existed yet: the control message (naming the customer)
 * stays in `TX` until a scorer applies it, and snapshots of the partition (if any) were not rewritten.
 */

/** Settings of `scorerEraser` beyond the connection; each with its default. */
export interface EraserOptions {
  /** How long the scorer may take to pass the control message, ms. Default 60,000. */
  scorerDeadlineMs?: number;
  /** How long reading one stream may take, ms. Default 600,000. */
  scanDeadlineMs?: number;
  /** How long the scorer may take to ship a snapshot covering the erasure, ms. Default 60,000. */
  snapshotDeadlineMs?: number;
  logger?: Logger;
}

/**
 * The erasure outside the warehouse, as the API and `vafa erase` call it: the scorer forgets the customer
 * (`forgetInScorer`), then the customer's retained messages and card-directory entries are securely
 * erased (retained-erasure.ts), then the snapshot objects still holding them are rewritten
 * (store/snapshot-erasure.ts). Each step is idempotent: a retry resumes.
 */
export function scorerEraser(nc: NatsConnection, partitions: number, options: EraserOptions = {}): (customerId: string, erasureId: string) => Promise<ErasedOutsideWarehouse> {
  return async (customerId, erasureId) => {
    const t0 = performance.now();
    const js = jetstream(nc);
    const jsm = await jetstreamManager(nc);
    const scorer = await forgetInScorer({ js, jsm, partitions, customerId, erasureId, ...(options.scorerDeadlineMs !== undefined ? { deadlineMs: options.scorerDeadlineMs } : {}) });
    const retained = await eraseRetained({
      js, jsm, customerId, partition: scorer.partition, controlSeq: scorer.seq, controlApplied: scorer.applied,
      ...(options.scanDeadlineMs !== undefined ? { deadlineMs: options.scanDeadlineMs } : {}), ...(options.logger ? { logger: options.logger } : {}),
    });
    // Without a scorer consumer the control message is not applied yet: the snapshots (if any) still hold the customer.
    const snapshots = scorer.applied
      ? await eraseFromSnapshots({
        nc, partition: scorer.partition, customerId, erasedAtSeq: scorer.seq,
        ...(options.snapshotDeadlineMs !== undefined ? { deadlineMs: options.snapshotDeadlineMs } : {}), ...(options.logger ? { logger: options.logger } : {}),
      })
      : { chain: false, objects: 0, rewritten: 0, frames: 0, chunks: 0 };
    return { scorer, streams: retained.streams, card_directory: retained.card_directory, snapshots, ms: Math.round(performance.now() - t0) };
  };
}
