/**
 * One partition's worker: a durable pull consumer on `tx.<p>.>`, micro-batches, the pure core in the
 * middle, and acks at the edge. It is a pipeline: batch N+1 is decoded, applied and scored while the
 * outputs of batch N (rows in ClickHouse, offers and DLQ messages in JetStream) are being written, up to
 * `depth` batches applied and not yet committed. When every batch applied so far is durable, the state is
 * committed (it then covers exactly the sequences whose outputs are durable) and the consumer is acked
 * cumulatively (`AckPolicy.All`) up to the last of them, in order: a batch is never acked before an
 * earlier batch's outputs are durable, and never before the store has it. At low rates that is after
 * every batch; under load the worker applies up to `depth` batches while the first ones are written, then
 * waits for them. A restart loads the checkpoint and replays from there; the deterministic ids of every
 * output make the replayed writes idempotent.
 *
 * Batches adapt to the rate: when the pipeline is idle a batch closes once no message arrived for
 * `gapMs` (or after `waitMs`), so a lone event is not held back; while batches are in flight the messages
 * that arrive meanwhile make the next batch, up to `batch`.
 */
import { AckPolicy, DeliverPolicy, type ConsumerMessages, type JetStreamClient, type JetStreamManager, type JsMsg } from '@nats-io/jetstream';
import { nanos } from '@nats-io/transport-node';
import type { CoreMessage } from '../../contracts/events.js';
import { STREAM_TX, partitionFilter } from '../../contracts/subjects.js';
import { newPartitionState, type PartitionState, type Engine, type Pending, type Score } from '../core/mod.js';
import type { CheckpointStore } from './checkpoints.js';
import { ChangeTracker } from './store/changes.js';
import { StoreCorruptError } from './store/layout.js';
import { decodeTx, type Decoded } from './decode.js';
import { erasedHead } from './erased-head.js';
import { eraseMentionsOf, mentionsOf, seedErasures } from './mentions.js';
import { maskPans, type Logger } from '../../platform/mod.js';
import { maskCardNumbers } from '../../ingest/mod.js';
import { messagesOf, type RefusedRow, type Output, type RefusedTableRow, type RowsByTable, type OutboundMessage, type RefusedMessage } from '../../sinks/mod.js';
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
  /** The ClickHouse tables: every row a batch causes. */
  warehouse: Output<RowsByTable, RefusedTableRow>;
  /** JetStream: the batch's offer triggers (`OFFERS`) and DLQ messages. */
  messages: Output<readonly OutboundMessage[], RefusedMessage>;
  store: CheckpointStore;
  scorer?: ChurnScorer;
  logger: Logger;
  instance: string;
  /** Most events in a batch. */
  batch: number;
  /** Longest an idle worker waits for a batch to fill after its first message, ms. */
  waitMs: number;
  /** An idle worker closes a batch once no message arrived for this long, ms. Default 1. */
  gapMs?: number;
  /** Batches applied and not yet committed at most (the pipeline's depth). Default `DEFAULT_PIPELINE_DEPTH`. */
  depth?: number;
  /**
   * Most timers one batch fires. When the watermark crosses a moment many customers' timers share (a
   * bank day's end, when points earned a year before expire), the batch ends before the event that
   * crossed it and that event's timers fire over the next batches, each committed like any other, so the
   * customers one commit holds stay bounded. With a bounded customer cache, also at most the cache's
   * limit divided by `depth` (the batches in flight hold their customers until committed), at least 1.
   * Default `DEFAULT_TIMER_SLICE`.
   */
  timerSlice?: number;
  /** Interval of whole-state saves for stores without incremental commits, ms. */
  checkpointMs: number;
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
  /** Messages the batch covers; 0 for a batch that only fired timers (a timer slice). */
  events: number;
  /** Timers the batch fired (at most `WorkerDeps.timerSlice`). */
  timers: number;
  firstSeq: number;
  lastSeq: number;
  pending: number;
  modelMs: number;
  flushMs: number;
  dlq: number;
  /** Event-time-free latency: wall ms from JetStream's timestamp of each message to its ack. */
  latenciesMs: number[];
  /** Where the batch's time went, wall ms, in order; with `latenciesMs` they give an event's whole path. */
  stagesMs: BatchStages;
}

/** The wall time of one batch's stages, ms (`BatchInfo.stagesMs`). */
export interface BatchStages {
  /** From its last message's JetStream persist time to the start of its apply: delivery, gathering, room in the pipeline. */
  toApply: number;
  /** Decode, apply, the model run and complete (`modelMs` is part of it). */
  apply: number;
  /** Handed to the outputs until every output is durable (the sink's linger and inserts). */
  outputs: number;
  /** Durable until its commit starts: earlier batches not yet durable, a batch being applied, a commit running. */
  settle: number;
  /** The state store's commit (or save). */
  commit: number;
  /** The confirmed cumulative ack. */
  ack: number;
}

/** Batches a worker applies ahead of the first one not yet durable (`WorkerDeps.depth`). */
export const DEFAULT_PIPELINE_DEPTH = 3;

/** Timers one batch fires at most (`WorkerDeps.timerSlice`). */
export const DEFAULT_TIMER_SLICE = 2_000;

/** A delivered message past the delivery checks: decoded, or undefined when it was applied before (a redelivery). */
interface Admitted {
  m: JsMsg;
  decoded: Decoded | undefined;
}

/** A batch applied and handed to the outputs, not yet committed and acked. */
interface Flight {
  partition: number;
  events: number;
  firstSeq: number;
  /** The batch's last message; undefined for a batch that only fired timers (nothing to ack). */
  last: JsMsg | undefined;
  /** JetStream's persist time of each message, epoch ms. */
  persistedAt: number[];
  modelMs: number;
  flushMs: number;
  dlq: number;
  timers: number;
  durable: boolean;
  /** performance.now() at the batch's stages: apply started, handed to the outputs, durable. */
  appliedFrom: number;
  handedAt: number;
  durableAt: number;
}

export function consumerName(partition: number): string {
  return `scorer-p${partition}`;
}

export class PartitionWorker {
  private state: PartitionState;
  private messages: ConsumerMessages | undefined;
  private readonly queue: JsMsg[] = [];
  /** Admitted messages a batch left for the next (it ended at its timer slice), oldest first. */
  private readonly carried: Admitted[] = [];
  private wake: (() => void) | undefined;
  private stopping = false;
  private ended = false;
  private lastCheckpoint = Date.now();
  private running: Promise<void> | undefined;
  /** The worker stopped on a failure or a lost lease: nothing more is committed or acked. */
  private fenced = false;
  private lastDelivery = 0;
  /** Customers changed since the last commit (stores that commit incrementally). */
  private changes: ChangeTracker | undefined;
  /** Batches applied and handed to the outputs, oldest first, until committed and acked. */
  private readonly flights: Flight[] = [];
  /** A batch is being applied (the state is between batch boundaries). */
  private applying = false;
  /** The commit (or save) and ack of the flights that were durable, while it runs. */
  private committing: Promise<void> | undefined;
  /** A whole-state save (stores without incremental commits) is running. */
  private saving = false;
  private readonly depth: number;
  private readonly timerSlice: number;

  constructor(readonly partition: number, private readonly deps: WorkerDeps) {
    this.state = newPartitionState(partition);
    this.depth = deps.depth ?? DEFAULT_PIPELINE_DEPTH;
    if (!(Number.isInteger(this.depth) && this.depth >= 1 && this.depth <= 64)) throw new RangeError(`depth: must be an integer from 1 to 64, got ${this.depth}`);
    this.timerSlice = deps.timerSlice ?? DEFAULT_TIMER_SLICE;
    if (!(Number.isInteger(this.timerSlice) && this.timerSlice >= 1)) throw new RangeError(`timerSlice: must be an integer ≥ 1, got ${this.timerSlice}`);
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
    // Erasures ahead of the state's position apply to every event before them too (runtime/mentions.ts).
    await seedErasures(this.deps.js, this.deps.jsm, this.state);
    await this.deps.jsm.consumers.delete(STREAM_TX, name).catch(() => undefined);
    await this.deps.jsm.consumers.add(STREAM_TX, {
      durable_name: name,
      filter_subject: partitionFilter(this.partition),
      ack_policy: AckPolicy.All,
      ack_wait: nanos(120_000),
      // Un-acked: the batches in the pipeline, the one being gathered and what was pulled meanwhile.
      max_ack_pending: this.deps.batch * (this.depth + 3),
      ...(this.state.seq > 0 ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: this.state.seq + 1 } : { deliver_policy: DeliverPolicy.All }),
    });
    const consumer = await this.deps.js.consumers.get(STREAM_TX, name);
    this.messages = await consumer.consume({ max_messages: this.deps.batch * 2, expires: 5000 });
    const msgs = this.messages;
    void (async () => {
      for await (const m of msgs) {
        this.queue.push(m);
        if (this.queue.length === 1 || this.queue.length >= this.deps.batch) this.wakeUp();
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
    this.deps.logger.info({ partition: this.partition, from_seq: this.state.seq + 1, depth: this.depth }, 'partition worker started');
    this.running = this.loop().catch((err: Error) => this.deps.logger.error({ partition: this.partition, err: err.message }, 'partition worker failed'));
  }

  /**
   * Starting without state is right only for a partition that never processed an event: else the state
   * is rebuilt from the stream's first message (said loudly), or refused when the stream lost some. A
   * stream that starts past seq 1 lost its first messages, unless erasures deleted them: deleted messages
   * inside the stream stay as gaps, and those an erasure deleted at its head are vouched for by the
   * erased-head record (erased-head.ts); a replay skips both, as it skips the customers they were.
   */
  private async checkNothingProcessed(name: string): Promise<void> {
    const consumer = await this.deps.jsm.consumers.info(STREAM_TX, name).catch(() => undefined);
    const acked = consumer?.ack_floor.stream_seq ?? 0;
    if (acked === 0) return;
    const where = this.deps.store.location ?? 'the checkpoint store';
    const stream = await this.deps.jsm.streams.info(STREAM_TX);
    const first = stream.state.first_seq;
    const erased = first > 1 ? await erasedHead(this.deps.js, STREAM_TX) : undefined;
    if (first > 1 && erased !== first) {
      const record = erased === undefined ? 'no erasure deleted them' : `erasures deleted the messages below seq ${erased} only`;
      throw new StateLostError(`partition ${this.partition}: no state in ${where}, its consumer acked up to seq ${acked} and stream ${STREAM_TX} starts at seq ${first} (${record}): restore the state store or a snapshot`);
    }
    this.deps.logger.error({ partition: this.partition, store: where, acked, ...(first > 1 ? { erasedBelowSeq: first } : {}) }, 'no state for this partition although its consumer acked events: rebuilding it by replaying the stream from its first message');
  }

  private wakeUp(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  private sleepUntilWoken(): Promise<void> {
    return new Promise<void>((r) => (this.wake = r));
  }

  /** Timers one batch may fire: the configured slice, within what a bounded cache can hold for `depth` batches. */
  private get slice(): number {
    const limit = this.changes?.limit;
    return limit === undefined ? this.timerSlice : Math.max(1, Math.min(this.timerSlice, Math.floor(limit / this.depth)));
  }

  /** Whether another batch may be applied now (room in the pipeline; a save or a bounded cache's commit holds it). */
  private get roomForBatch(): boolean {
    if (this.flights.length >= this.depth || this.saving) return false;
    // A bounded cache evicts when its commit lands: nothing may be applied in between.
    return !(this.committing && this.changes?.bounded);
  }

  private async loop(): Promise<void> {
    while (!this.fenced) {
      if (this.queue.length === 0 && this.carried.length === 0) {
        if (this.ended || this.stopping) break;
        await this.sleepUntilWoken();
        continue;
      }
      if (!this.roomForBatch) {
        await this.sleepUntilWoken();
        continue;
      }
      try {
        let batch = this.carried.splice(0);
        if (batch.length === 0) {
          if (this.flights.length === 0 && !this.stopping) await this.gather();
          if (this.fenced) break;
          batch = this.admit(this.queue.splice(0, this.deps.batch));
        }
        await this.processBatch(batch);
      } catch (err) {
        this.fail(err);
      }
    }
    // Stopping (or the feed ended): the batches already applied finish (durable, committed, acked).
    while (!this.fenced && (this.flights.length > 0 || this.committing)) await this.sleepUntilWoken();
  }

  /** An idle worker lets a burst arrive: until no message came for `gapMs`, the batch is full, or `waitMs` passed. */
  private async gather(): Promise<void> {
    const gapMs = this.deps.gapMs ?? 1;
    const until = performance.now() + this.deps.waitMs;
    let seen = this.queue.length;
    while (this.queue.length < this.deps.batch && !this.stopping && !this.ended && performance.now() < until) {
      await new Promise((r) => setTimeout(r, gapMs));
      if (this.queue.length === seen) return;
      seen = this.queue.length;
    }
  }

  /**
   * Nothing of the pipeline is acked after a failure. Fenced: another owner has the partition. Anything
   * else: the in-memory state is dropped and the partition restarts from its checkpoint (its replay is
   * idempotent).
   */
  private fail(err: unknown): void {
    if (this.fenced) return;
    const fenced = err instanceof FencedError;
    if (fenced) this.deps.logger.warn({ partition: this.partition }, 'worker fenced: lease lost, stopping without committing');
    else this.deps.logger.error({ partition: this.partition, err: (err as Error).message }, 'batch failed; restarting the partition from its checkpoint');
    this.stopping = true;
    this.fenced = true;
    this.queue.length = 0;
    this.carried.length = 0;
    void this.messages?.close().catch(() => undefined);
    this.wakeUp();
    if (!fenced) this.deps.onEnded?.();
  }

  /**
   * Reads the batch's customers, and those of the timers its events make due, that the store does not
   * hold in memory into the page cache before the core reaches them (a lazily loaded partition:
   * otherwise each cold customer waits on the disk in turn).
   */
  private async prefetch(admitted: readonly Admitted[]): Promise<void> {
    const store = this.deps.store;
    if (!store.prefetch || !this.changes) return;
    const ids: string[] = [];
    const messages: CoreMessage[] = [];
    for (const { decoded } of admitted) {
      if (!decoded?.ok || decoded.partition !== this.partition) continue;
      messages.push(decoded.msg);
      if (decoded.msg.kind !== 'control') ids.push(decoded.msg.body.customer_id);
    }
    // The customers of the timers these events make due too: a storm reads thousands of cold customers.
    for (const id of this.deps.engine.timerCustomersDue(this.state, messages, this.slice)) ids.push(id);
    if (ids.length > 0) await store.prefetch(this.state, ids);
  }

  /**
   * For each `erase_mentions` message of the batch, the customers that name the erased customer
   * (`CoreEvent.mentions`, runtime/mentions.ts), by stream sequence.
   */
  private async mentions(admitted: readonly Admitted[]): Promise<Map<number, string[]>> {
    const found = new Map<number, string[]>();
    const reached: string[] = [];
    for (const { m, decoded } of admitted) {
      if (!decoded?.ok || decoded.partition !== this.partition || m.seq <= this.state.seq) continue;
      const body = eraseMentionsOf(decoded.msg);
      if (body) found.set(m.seq, await mentionsOf(this.state, this.deps.store, body, reached));
      else if (decoded.msg.kind !== 'control') reached.push(decoded.msg.body.customer_id);
    }
    return found;
  }

  /** Checks each delivered message's place in the delivery order and decodes those not applied before. */
  private admit(batch: readonly JsMsg[]): Admitted[] {
    const admitted: Admitted[] = [];
    for (const m of batch) {
      // A delivery the server made but this client never received (lost in transit across a reconnect)
      // shows as a gap in the consumer's delivery sequence. With cumulative acks, acking past it would
      // drop that event: restart the partition from its checkpoint instead (nothing of this batch is acked).
      const delivered = m.info.deliverySequence;
      if (this.lastDelivery > 0 && delivered !== this.lastDelivery + 1) {
        throw new DeliveryGapError(`partition ${this.partition}: delivery ${delivered} after ${this.lastDelivery}`);
      }
      this.lastDelivery = delivered;
      // A redelivery of an event already applied is acked with the batch and not applied again.
      admitted.push({ m, decoded: m.seq <= this.state.seq ? undefined : decodeTx(m.subject, m.data) });
    }
    return admitted;
  }

  private async processBatch(admitted: Admitted[]): Promise<void> {
    const emit = new TracedEmit();
    const pendings: Pending[] = [];
    const dlq: OutboundMessage[] = [];
    let modelMs: number | undefined;
    let batch = admitted;
    let timers = 0;
    const appliedFrom = performance.now();
    // Marked applying already: no commit (and, with a bounded cache, its eviction) starts while the disk is read.
    this.applying = true;
    try {
      await this.prefetch(admitted);
      const mentions = await this.mentions(admitted);
      for (const [i, { m, decoded }] of admitted.entries()) {
        if (decoded === undefined || m.seq <= this.state.seq) continue;
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
          const named = mentions.get(m.seq);
          const event = named ? { seq: m.seq, partition: this.partition, msg: decoded.msg, mentions: named } : { seq: m.seq, partition: this.partition, msg: decoded.msg };
          const room = this.slice - timers;
          const fired = this.deps.engine.fireDue(this.state, event, emit, room);
          timers += fired;
          if (fired === room) {
            // The slice is spent and more timers may be due: this event and the rest wait for the next batch.
            batch = admitted.slice(0, i);
            this.carried.unshift(...admitted.slice(i));
            break;
          }
          const p = this.deps.engine.apply(this.state, event, emit);
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
      modelMs = performance.now() - t0;
      pendings.forEach((p, i) => {
        emit.completing(p.ctx.seq);
        this.deps.engine.complete(this.state, p, scores[i], emit);
      });
    } finally {
      this.applying = false;
    }
    if (this.fenced) return;
    if (this.deps.fence && !this.deps.fence.valid) throw new FencedError(`partition ${this.partition} lease lost`);
    const publishes: OutboundMessage[] = messagesOf(emit).map((p) => ({ subject: p.subject, msgId: p.msgId, data: Buffer.from(JSON.stringify(p.payload)) }));
    for (const d of dlq) publishes.push(d);
    const flight: Flight = {
      partition: this.partition, events: batch.length, firstSeq: batch[0]?.m.seq ?? this.state.seq + 1, last: batch[batch.length - 1]?.m,
      persistedAt: batch.map(({ m }) => m.info.timestampNanos / 1e6), modelMs: modelMs ?? 0, flushMs: 0, dlq: dlq.length, timers, durable: false,
      appliedFrom, handedAt: performance.now(), durableAt: 0,
    };
    this.flights.push(flight);
    this.writeOutputs(emit.tableRows(), publishes, emit).then((dlqMore) => {
      flight.durableAt = performance.now();
      flight.flushMs = flight.durableAt - flight.handedAt;
      flight.dlq += dlqMore;
      flight.durable = true;
      this.settle();
    }, (err: unknown) => this.fail(err));
  }

  /** Writes a batch's rows and messages; resolves once all are durable, with the number of refusals sent to DLQ. */
  private async writeOutputs(rows: RowsByTable, publishes: readonly OutboundMessage[], emit: TracedEmit): Promise<number> {
    const [refusedRows, refusedMessages] = await Promise.all([this.deps.warehouse.write(rows), this.deps.messages.write(publishes)]);
    let toDlq = 0;
    if (refusedRows.length) toDlq += await this.dlqRefused(refusedRows, emit);
    if (refusedMessages.length) toDlq += await this.dlqRefusedMessages(refusedMessages);
    return toDlq;
  }

  /**
   * Commits and acks once every batch applied so far is durable (none is being applied, no commit runs):
   * the state then covers exactly the sequences whose outputs are durable.
   */
  private settle(): void {
    if (this.fenced || this.committing || this.applying || this.flights.length === 0) return;
    if (!this.flights.every((f) => f.durable)) return;
    const done = this.flights.splice(0);
    this.committing = this.commitAndAck(done).then(() => {
      this.committing = undefined;
      this.wakeUp();
      this.settle();
    }, (err: unknown) => {
      this.committing = undefined;
      this.fail(err);
    });
    this.wakeUp();
  }

  private async commitAndAck(done: readonly Flight[]): Promise<void> {
    if (this.deps.fence && !this.deps.fence.valid) throw new FencedError(`partition ${this.partition} lease lost`);
    const last = done.findLast((f) => f.last !== undefined)?.last;
    const commitFrom = performance.now();
    // Incremental stores commit before the ack: an event the consumer acked is always in the store, so a
    // partition found without state after acks was lost, not merely interrupted (checkNothingProcessed).
    // The commit encodes the state before it returns: the next batch may be applied while it is written.
    if (this.changes) await this.checkpoint();
    else if (Date.now() - this.lastCheckpoint >= this.deps.checkpointMs) {
      // A whole-state save reads the state as it writes it: nothing is applied meanwhile.
      this.saving = true;
      try {
        await this.checkpoint();
      } finally {
        this.saving = false;
      }
    }
    const ackFrom = performance.now();
    if (last) await this.ack(last);
    const acked = performance.now();
    const now = Date.now();
    for (const f of done) {
      const lastPersisted = f.persistedAt[f.persistedAt.length - 1];
      const stagesMs: BatchStages = {
        toApply: lastPersisted === undefined ? 0 : Math.max(0, now - (acked - f.appliedFrom) - lastPersisted), apply: f.handedAt - f.appliedFrom,
        outputs: f.durableAt - f.handedAt, settle: commitFrom - f.durableAt, commit: ackFrom - commitFrom, ack: acked - ackFrom,
      };
      this.deps.onBatch?.({
        partition: f.partition, events: f.events, timers: f.timers, firstSeq: f.firstSeq, lastSeq: f.last?.seq ?? f.firstSeq - 1, pending: f.last?.info.pending ?? 0,
        modelMs: f.modelMs, flushMs: f.flushMs, dlq: f.dlq, latenciesMs: f.persistedAt.map((t) => now - t), stagesMs,
      });
    }
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
    await this.writeDlq(msgs);
    const seqs = [...new Set(msgs.map((m) => m.headers['Vafa-Source-Seq']))].slice(0, 20);
    this.deps.logger.warn({ partition: this.partition, rows: msgs.length, tables: [...new Set(refused.map((r) => r.table))], seqs }, 'rows refused by ClickHouse sent to DLQ');
    return msgs.length;
  }

  /**
   * Messages JetStream can never take (larger than `max_payload`): an offer trigger goes to DLQ without
   * its body, the reason and its subject and id in headers; a DLQ message that cannot land is logged.
   */
  private async dlqRefusedMessages(refused: readonly RefusedMessage[]): Promise<number> {
    const msgs: OutboundMessage[] = [];
    for (const r of refused) {
      if (r.message.subject.startsWith('dlq.')) {
        this.deps.logger.error({ partition: this.partition, subject: r.message.subject, msgId: r.message.msgId, reason: r.reason, detail: r.detail }, 'a DLQ message was refused by JetStream and is dropped');
        continue;
      }
      msgs.push({
        subject: `dlq.scorer.${r.reason}`, msgId: `dlq:refused:${r.message.msgId}`, data: new Uint8Array(0),
        headers: { 'Vafa-Reason': r.reason, 'Vafa-Detail': r.detail.slice(0, 1000), 'Vafa-Source-Subject': r.message.subject, 'Vafa-Source-Msg-Id': r.message.msgId },
      });
    }
    if (msgs.length) await this.writeDlq(msgs);
    return msgs.length;
  }

  private async writeDlq(msgs: readonly OutboundMessage[]): Promise<void> {
    const refused = await this.deps.messages.write(msgs);
    for (const r of refused) this.deps.logger.error({ partition: this.partition, subject: r.message.subject, msgId: r.message.msgId, reason: r.reason }, 'a DLQ message was refused by JetStream and is dropped');
  }

  private dlqMessage(m: JsMsg, reason: string, detail: string): OutboundMessage {
    this.deps.logger.warn({ partition: this.partition, seq: m.seq, subject: m.subject, reason }, 'event sent to DLQ');
    // A sender may have put a card number where none belongs, and a parser's message may quote it.
    const h = { 'Vafa-Reason': reason, 'Vafa-Detail': maskPans(detail).slice(0, 1000), 'Vafa-Source-Stream': STREAM_TX, 'Vafa-Source-Subject': m.subject, 'Vafa-Source-Seq': String(m.seq) };
    return { subject: `dlq.scorer.${reason}`, msgId: `dlq:${STREAM_TX}:${m.seq}`, data: maskCardNumbers(m.data), headers: h };
  }

  /**
   * Commits the customers changed since the last commit (incremental stores, when every applied batch is
   * durable, before the ack), else saves the whole state; never once the fence is down (the partition may
   * have a new owner by now).
   */
  async checkpoint(): Promise<void> {
    this.lastCheckpoint = Date.now();
    if (this.deps.fence && !this.deps.fence.valid) return;
    const { commit } = this.deps.store;
    if (this.changes && commit) await commit.call(this.deps.store, this.state, this.changes.take());
    else await this.deps.store.save(this.state);
  }

  /** Stops consuming, finishes the batches already received (durable, committed, acked), checkpoints. */
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
