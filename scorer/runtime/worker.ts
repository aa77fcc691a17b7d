/**
 * One partition's worker: a durable pull consumer on `tx.<p>.>`, micro-batches bounded by size and a
 * few milliseconds of waiting, the pure core in the middle, and acks at the edge: a batch is acked
 * (cumulatively, `AckPolicy.All`) only after every row and offer it caused is durable. State is
 * checkpointed with the sequence it covers; a restart loads the checkpoint and replays from there,
 * and the deterministic ids of every output make the replayed writes idempotent.
 */
import { AckPolicy, DeliverPolicy, type ConsumerMessages, type JetStreamClient, type JetStreamManager, type JsMsg } from '@nats-io/jetstream';
import { nanos } from '@nats-io/transport-node';
import { STREAM_TX, partitionFilter } from '../../contracts/subjects.js';
import type { Engine, Pending } from '../core/engine.js';
import { newPartitionState, type PartitionState } from '../core/state.js';
import type { Score } from '../core/types.js';
import type { CheckpointStore } from './checkpoints.js';
import { ChangeTracker } from './store/changes.js';
import { StoreCorruptError } from './store/lmdb-store.js';
import { decodeTx } from './decode.js';
import type { Logger } from '../../runtime/log.js';
import type { ClickHouseSink, RefusedRow } from '../../sinks/clickhouse/sink.js';
import { TracedEmit, refusedRowMessages } from './refused.js';
import type { Fence } from './ownership.js';

/** Scores feature vectors, one model call per micro-batch. */
export interface ChurnScorer {
  scoreBatch(features: readonly Record<string, number>[]): Promise<Score[]>;
}

export interface WorkerDeps {
  js: JetStreamClient;
  jsm: JetStreamManager;
  engine: Engine;
  sink: ClickHouseSink;
  store: CheckpointStore;
  scorer?: ChurnScorer;
  logger: Logger;
  instance: string;
  batch: number;
  waitMs: number;
  checkpointMs: number;
  /** Publishes the batch's offer triggers and DLQ messages; resolves when JetStream has them. */
  publish: (msgs: { subject: string; msgId: string; data: Uint8Array; headers?: Record<string, string> }[]) => Promise<void>;
  onBatch?: (info: BatchInfo) => void;
  /** Called when the message feed ends while the worker was not asked to stop (consumer gone, connection closed). */
  onEnded?: () => void;
  /** Ownership fence: once invalid (lease lost), the worker stops without committing another batch. */
  fence?: Fence;
}

export class FencedError extends Error {
  override readonly name = 'FencedError';
}

export class DeliveryGapError extends Error {
  override readonly name = 'DeliveryGapError';
}

/** The store has no state for a partition whose consumer acked events, and the stream no longer holds them all. */
export class StateLostError extends Error {
  override readonly name = 'StateLostError';
}

export interface BatchInfo {
  partition: number;
  events: number;
  firstSeq: number;
  lastSeq: number;
  pending: number;
  modelMs: number;
  flushMs: number;
  dlq: number;
  /** Event-time-free latency: wall ms from JetStream's timestamp of each message to its ack. */
  latenciesMs: number[];
}

export function consumerName(partition: number): string {
  return `scorer-p${partition}`;
}

export class PartitionWorker {
  private state: PartitionState;
  private messages: ConsumerMessages | undefined;
  private readonly queue: JsMsg[] = [];
  private wake: (() => void) | undefined;
  private stopping = false;
  private ended = false;
  private lastCheckpoint = Date.now();
  private running: Promise<void> | undefined;
  private fenced = false;
  private lastDelivery = 0;
  /** Customers changed since the last commit (stores that commit incrementally). */
  private changes: ChangeTracker | undefined;

  constructor(readonly partition: number, private readonly deps: WorkerDeps) {
    this.state = newPartitionState(partition);
  }

  get seq(): number {
    return this.state.seq;
  }

  get stats(): PartitionState['stats'] {
    return this.state.stats;
  }

  /** Loads the checkpoint, (re)creates the durable consumer at the sequence after it, and starts consuming. */
  async start(): Promise<void> {
    const name = consumerName(this.partition);
    const loaded = await this.deps.store.load(this.partition);
    if (!loaded) await this.checkNothingProcessed(name);
    this.state = loaded ?? newPartitionState(this.partition);
    // A lazily loaded state comes with its cache's tracker; any other state gets one here.
    this.changes = this.deps.store.commit ? (this.deps.store.track?.(this.state) ?? ChangeTracker.of(this.state)) : undefined;
    await this.deps.jsm.consumers.delete(STREAM_TX, name).catch(() => undefined);
    await this.deps.jsm.consumers.add(STREAM_TX, {
      durable_name: name,
      filter_subject: partitionFilter(this.partition),
      ack_policy: AckPolicy.All,
      ack_wait: nanos(120_000),
      max_ack_pending: this.deps.batch * 4,
      ...(this.state.seq > 0 ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: this.state.seq + 1 } : { deliver_policy: DeliverPolicy.All }),
    });
    const consumer = await this.deps.js.consumers.get(STREAM_TX, name);
    this.messages = await consumer.consume({ max_messages: this.deps.batch * 2, expires: 5000 });
    const msgs = this.messages;
    void (async () => {
      for await (const m of msgs) {
        this.queue.push(m);
        if (this.wake && this.queue.length >= this.deps.batch) this.wakeUp();
        else if (this.wake && this.queue.length === 1) setTimeout(() => this.wakeUp(), this.deps.waitMs);
      }
      this.ended = true;
      this.wakeUp();
    })().catch((err: Error) => {
      this.deps.logger.error({ err: err.message, partition: this.partition }, 'consume loop failed');
      this.ended = true;
      this.wakeUp();
    }).finally(() => {
      if (!this.stopping) {
        this.deps.logger.warn({ partition: this.partition }, 'message feed ended unexpectedly; restarting the partition');
        this.deps.onEnded?.();
      }
    });
    this.deps.logger.info({ partition: this.partition, from_seq: this.state.seq + 1 }, 'partition worker started');
    this.running = this.loop().catch((err: Error) => this.deps.logger.error({ partition: this.partition, err: err.message }, 'partition worker failed'));
  }

  /**
   * Starting without state is right only for a partition that never processed an event: else the state
   * is rebuilt from the stream's first message (said loudly), or refused when the stream lost some.
   */
  private async checkNothingProcessed(name: string): Promise<void> {
    const consumer = await this.deps.jsm.consumers.info(STREAM_TX, name).catch(() => undefined);
    const acked = consumer?.ack_floor.stream_seq ?? 0;
    if (acked === 0) return;
    const where = this.deps.store.location ?? 'the checkpoint store';
    const stream = await this.deps.jsm.streams.info(STREAM_TX);
    if (stream.state.first_seq > 1) {
      throw new StateLostError(`partition ${this.partition}: no state in ${where}, its consumer acked up to seq ${acked} and stream ${STREAM_TX} starts at seq ${stream.state.first_seq}: restore the state store or a snapshot`);
    }
    this.deps.logger.error({ partition: this.partition, store: where, acked }, 'no state for this partition although its consumer acked events: rebuilding it by replaying the stream from its first message');
  }

  private wakeUp(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  private async loop(): Promise<void> {
    while (!this.stopping || this.queue.length > 0) {
      if (this.queue.length === 0) {
        if (this.ended || this.stopping) break;
        await new Promise<void>((r) => (this.wake = r));
        continue;
      }
      const batch = this.queue.splice(0, this.deps.batch);
      try {
        await this.processBatch(batch);
      } catch (err) {
        // Nothing of this batch was acked. Fenced: another owner has the partition. Anything else: drop
        // the in-memory state and let the partition restart from its checkpoint (its replay is idempotent).
        const fenced = err instanceof FencedError;
        if (fenced) this.deps.logger.warn({ partition: this.partition }, 'worker fenced: lease lost, stopping without committing');
        else this.deps.logger.error({ partition: this.partition, err: (err as Error).message }, 'batch failed; restarting the partition from its checkpoint');
        this.stopping = true;
        this.fenced = true;
        this.queue.length = 0;
        await this.messages?.close().catch(() => undefined);
        if (!fenced) this.deps.onEnded?.();
        return;
      }
    }
  }

  private async processBatch(batch: JsMsg[]): Promise<void> {
    const emit = new TracedEmit();
    const pendings: Pending[] = [];
    const dlq: { subject: string; msgId: string; data: Uint8Array; headers: Record<string, string> }[] = [];
    for (const m of batch) {
      // A delivery the server made but this client never received (lost in transit across a reconnect)
      // shows as a gap in the consumer's delivery sequence. With cumulative acks, acking past it would
      // drop that event: restart the partition from its checkpoint instead (nothing of this batch is acked).
      const delivered = m.info.deliverySequence;
      if (this.lastDelivery > 0 && delivered !== this.lastDelivery + 1) {
        throw new DeliveryGapError(`partition ${this.partition}: delivery ${delivered} after ${this.lastDelivery}`);
      }
      this.lastDelivery = delivered;
      if (m.seq <= this.state.seq) continue; // redelivery of an event already applied
      const decoded = decodeTx(m.subject, m.data);
      if (!decoded.ok || decoded.partition !== this.partition) {
        const reason = decoded.ok ? 'wrong_partition' : decoded.reason;
        const detail = decoded.ok ? `subject ${m.subject} delivered to partition ${this.partition}` : decoded.detail;
        dlq.push(this.dlqMessage(m, reason, detail));
        this.state.seq = m.seq;
        this.state.stats.rejected++;
        continue;
      }
      emit.applying(m.seq, m.subject);
      try {
        const p = this.deps.engine.apply(this.state, { seq: m.seq, partition: this.partition, msg: decoded.msg }, emit);
        if (p) pendings.push(p);
      } catch (err) {
        // A damaged stored customer (read lazily) is the store's failure, not the event's: the batch fails.
        if (err instanceof StoreCorruptError) throw err;
        dlq.push(this.dlqMessage(m, 'processing_error', (err as Error).message));
        this.state.seq = m.seq;
        this.state.stats.rejected++;
      }
    }
    const t0 = performance.now();
    const scores = this.deps.scorer && pendings.length ? await this.deps.scorer.scoreBatch(pendings.map((p) => p.features)) : [];
    const modelMs = performance.now() - t0;
    pendings.forEach((p, i) => {
      emit.completing(p.ctx.seq);
      this.deps.engine.complete(this.state, p, scores[i], emit);
    });

    if (this.deps.fence && !this.deps.fence.valid) throw new FencedError(`partition ${this.partition} lease lost`);
    const t1 = performance.now();
    const rows = emit.tableRows();
    const publishes = [
      ...emit.publishes.map((p) => ({ subject: p.subject, msgId: p.msgId, data: Buffer.from(JSON.stringify(p.payload)) })),
      ...dlq,
    ];
    const [refused] = await Promise.all([this.deps.sink.write(rows), publishes.length ? this.deps.publish(publishes) : Promise.resolve()]);
    const refusedToDlq = refused.length ? await this.dlqRefused(refused, emit) : 0;
    const flushMs = performance.now() - t1;
    const last = batch[batch.length - 1]!;
    if (this.deps.fence && !this.deps.fence.valid) throw new FencedError(`partition ${this.partition} lease lost`);
    // Incremental stores commit before the ack: an event the consumer acked is always in the store, so a
    // partition found without state after acks was lost, not merely interrupted (checkNothingProcessed).
    if (this.changes) await this.checkpoint();
    await this.ack(last);
    const now = Date.now();
    this.deps.onBatch?.({
      partition: this.partition, events: batch.length, firstSeq: batch[0]!.seq, lastSeq: last.seq, pending: last.info.pending,
      modelMs, flushMs, dlq: dlq.length + refusedToDlq, latenciesMs: batch.map((m) => now - m.info.timestampNanos / 1e6),
    });
    if (!this.changes && now - this.lastCheckpoint >= this.deps.checkpointMs) await this.checkpoint();
  }

  /**
   * Cumulative, confirmed ack. If it cannot be confirmed (NATS restarting), the batch's outputs are
   * already durable: the next batch's ack covers these messages (`AckPolicy.All`), and any
   * redelivery is skipped by sequence, so the worker carries on instead of stopping.
   */
  private async ack(m: JsMsg): Promise<void> {
    for (let attempt = 1; attempt <= 3; attempt++) {
      try {
        if (await m.ackAck({ timeout: 5000 })) return;
      } catch (err) {
        if (attempt === 3) this.deps.logger.warn({ partition: this.partition, seq: m.seq, err: (err as Error).message }, 'ack not confirmed; the next batch will cover it');
      }
    }
  }

  /** Rows the warehouse refused for their data go to DLQ with their source event; the batch then goes on. */
  private async dlqRefused(refused: RefusedRow[], emit: TracedEmit): Promise<number> {
    const msgs = refusedRowMessages(refused, (row) => emit.sourceOf(row));
    await this.deps.publish(msgs);
    const seqs = [...new Set(msgs.map((m) => m.headers['Vafa-Source-Seq']))].slice(0, 20);
    this.deps.logger.warn({ partition: this.partition, rows: msgs.length, tables: [...new Set(refused.map((r) => r.table))], seqs }, 'rows refused by ClickHouse sent to DLQ');
    return msgs.length;
  }

  private dlqMessage(m: JsMsg, reason: string, detail: string): { subject: string; msgId: string; data: Uint8Array; headers: Record<string, string> } {
    this.deps.logger.warn({ partition: this.partition, seq: m.seq, subject: m.subject, reason }, 'event sent to DLQ');
    const h = { 'Vafa-Reason': reason, 'Vafa-Detail': detail.slice(0, 1000), 'Vafa-Source-Stream': STREAM_TX, 'Vafa-Source-Subject': m.subject, 'Vafa-Source-Seq': String(m.seq) };
    return { subject: `dlq.scorer.${reason}`, msgId: `dlq:${STREAM_TX}:${m.seq}`, data: m.data, headers: h };
  }

  /**
   * Commits the customers changed since the last commit (incremental stores, after every batch, before its ack),
   * else saves the whole state; never once the fence is down (the partition may have a new owner by now).
   */
  async checkpoint(): Promise<void> {
    this.lastCheckpoint = Date.now();
    if (this.deps.fence && !this.deps.fence.valid) return;
    const { commit } = this.deps.store;
    if (this.changes && commit) await commit.call(this.deps.store, this.state, this.changes.take());
    else await this.deps.store.save(this.state);
  }

  /** Stops consuming, finishes the batches already received, checkpoints. */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.messages?.close().catch(() => undefined);
    this.wakeUp();
    await this.running;
    if (this.fenced) return;
    await this.checkpoint();
    if (this.deps.fence && !this.deps.fence.valid) return;
    await this.deps.store.release?.(this.partition).catch((err: Error) => {
      this.deps.logger.warn({ partition: this.partition, err: err.message }, 'partition handed over without its last snapshot; the next owner replays more of the stream');
    });
  }
}

