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
import { partitionOf, STREAM_TX, txSubject } from '../../contracts/subjects.js';
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

export interface Forgotten {
  partition: number;
  /** The control message's stream sequence. */
  seq: number;
  /** True when the scorer has acked past it; false when no scorer consumer exists yet (it will, in order). */
  applied: boolean;
}

/** The scorer did not pass the erasure within the deadline (it is behind or down); retrying is safe. */
export class ScorerErasureTimeoutError extends Error {
  override readonly name = 'ScorerErasureTimeoutError';
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

/** `forgetInScorer` over a NATS connection, as the API and `vafa erase` call it (default deadline). */
export function scorerEraser(nc: NatsConnection, partitions: number): (customerId: string, erasureId: string) => Promise<Forgotten> {
  return async (customerId, erasureId) => forgetInScorer({ js: jetstream(nc), jsm: await jetstreamManager(nc), partitions, customerId, erasureId });
}
