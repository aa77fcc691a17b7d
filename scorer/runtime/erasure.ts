/**
 * Makes the scorer forget a customer (right to erasure, docs/security.md): publishes an `erase_mentions`
 * control message on every partition of `TX` (other customers' data naming the customer takes the erasure
 * id, scorer/core/erasure.ts) and an `erase_customer` control message on the customer's partition, then
 * waits until each partition's scorer has acked past its message. Acks are cumulative and sent only once a
 * batch is durable, so from then on the scorer holds nothing of the customer (state, remembered
 * transaction ids, timers, their id in other customers' state) and writes nothing built from the
 * customer's history: the warehouse can be erased after it without rows coming back.
 *
 * Message ids are derived from the erasure id, so a retried erasure publishes each once (within the
 * stream's duplicate window). With no scorer consumer yet, nothing waits: the scorer applies the messages
 * in stream order when it starts.
 */
import { createHash } from 'node:crypto';
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { ControlV1 } from '../../contracts/events.js';
import { SCORER_ERASURE_TIMEOUT, type ErasedOutsideWarehouse, type Forgotten, type SnapshotErasure } from '../../contracts/erasure.js';
import { partitionOf, STREAM_TX, txSubject } from '../../contracts/subjects.js';
import { sleep, type Logger } from '../../platform/mod.js';
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

/** What `forgetInScorer` did, with each partition's `erase_mentions` message. */
export interface ForgottenEverywhere extends Forgotten {
  published: { partition: number; seq: number; applied: boolean }[];
}

export async function forgetInScorer(opts: ForgetOptions): Promise<ForgottenEverywhere> {
  const deadlineMs = opts.deadlineMs ?? 60_000;
  const publishTimeout = Math.min(deadlineMs, 10_000);
  const partition = partitionOf(opts.customerId, opts.partitions);
  const customerSha256 = createHash('sha256').update(opts.customerId).digest('hex');
  const published: { partition: number; seq: number }[] = [];
  for (let p = 0; p < opts.partitions; p++) {
    const mentions: ControlV1 = { control_id: `erase-mentions:${opts.erasureId}:${p}`, type: 'erase_mentions', customer_sha256: customerSha256, erasure_id: opts.erasureId };
    const ack = await opts.js.publish(txSubject(p, 'control'), JSON.stringify(mentions), { msgID: `control:erase-mentions:${opts.erasureId}:${p}`, timeout: publishTimeout });
    published.push({ partition: p, seq: ack.seq });
  }
  const body: ControlV1 = { control_id: `erase:${opts.erasureId}`, type: 'erase_customer', customer_id: opts.customerId, erasure_id: opts.erasureId };
  const ack = await opts.js.publish(txSubject(partition, 'control'), JSON.stringify(body), { msgID: `control:erase:${opts.erasureId}`, timeout: publishTimeout });
  const until = Date.now() + deadlineMs;
  const [applied, mentions] = await Promise.all([
    passed(opts, partition, ack.seq, until),
    Promise.all(published.map(async (m) => ({ ...m, applied: await passed(opts, m.partition, m.seq, until) }))),
  ]);
  return { partition, seq: ack.seq, applied, mentions: { partitions: mentions.length, applied: mentions.filter((m) => m.applied).length }, published: mentions };
}

/** Waits until the scorer of `partition` has acked `seq`: true, or false when it has no consumer yet. */
async function passed(opts: ForgetOptions, partition: number, seq: number, until: number): Promise<boolean> {
  for (;;) {
    const info = await opts.jsm.consumers.info(STREAM_TX, consumerName(partition)).catch((err: Error) => {
      if (/consumer not found/i.test(err.message)) return undefined;
      throw err;
    });
    if (!info) return false;
    const floor = info.ack_floor.stream_seq;
    if (floor >= seq) return true;
    if (Date.now() >= until) throw new ScorerErasureTimeoutError(partition, seq, floor, opts.deadlineMs ?? 60_000);
    await sleep(Math.min(opts.pollMs ?? 200, Math.max(1, until - Date.now())));
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
    const snapshotOptions = {
      nc, customerId, mentions: { [createHash('sha256').update(customerId).digest('hex')]: erasureId },
      ...(options.snapshotDeadlineMs !== undefined ? { deadlineMs: options.snapshotDeadlineMs } : {}), ...(options.logger ? { logger: options.logger } : {}),
    };
    // Without a scorer consumer the control message is not applied yet: the snapshots (if any) still hold the customer.
    const snapshots = scorer.applied ? await eraseFromSnapshots({ ...snapshotOptions, partition: scorer.partition, erasedAtSeq: scorer.seq }) : NO_SNAPSHOT;
    const others = await Promise.all(scorer.published.filter((m) => m.applied && m.partition !== scorer.partition)
      .map((m) => eraseFromSnapshots({ ...snapshotOptions, partition: m.partition, erasedAtSeq: m.seq })));
    const { published: _published, ...forgotten } = scorer;
    return { scorer: forgotten, streams: retained.streams, card_directory: retained.card_directory, snapshots, mention_snapshots: summed(others), ms: Math.round(performance.now() - t0) };
  };
}

const NO_SNAPSHOT: SnapshotErasure = { chain: false, objects: 0, rewritten: 0, frames: 0, chunks: 0 };

function summed(parts: readonly SnapshotErasure[]): SnapshotErasure {
  return parts.reduce((a, b) => ({
    chain: a.chain || b.chain, objects: a.objects + b.objects, rewritten: a.rewritten + b.rewritten, frames: a.frames + b.frames, chunks: a.chunks + b.chunks,
  }), NO_SNAPSHOT);
}
