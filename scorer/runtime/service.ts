/**
 * The scorer service: owns a set of partitions (one worker and one durable consumer each), shares one
 * ClickHouse sink and one publisher between them, and shuts down in order: stop the input, drain what
 * was received, flush, ack, checkpoint; force only at the deadline.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { ClickHouseClient } from '@clickhouse/client';
import { Engine, iso } from '../core/mod.js';
import type { EngineConfig } from '../../config/schema/mod.js';
import { PartitionWorker, type BatchInfo, type ChurnScorer } from './worker.js';
import { FileCheckpointStore, type CheckpointStore } from './checkpoints.js';
import { PartitionOwnership } from './ownership.js';
import { ClickHouseSink, ClickHouseOutput, JetStreamOutput } from '../../sinks/mod.js';
import { Publisher, natsJsm, withDeadline, type Logger } from '../../platform/mod.js';
import { defaultEngineConfig } from '../../config/mod.js';

export interface ScorerOptions {
  nc: NatsConnection;
  warehouse: ClickHouseClient;
  database: string;
  /** Number of partitions of `tx.>`. */
  totalPartitions: number;
  /**
   * Partitions this instance may own. Undefined: balanced dynamically across the live instances
   * (leases in NATS KV). A list: exactly these (still under a lease, so two owners never overlap).
   */
  partitions?: readonly number[];
  /** Lease lifetime, ms. Default 10,000. */
  leaseMs?: number;
  checkpointDir?: string;
  store?: CheckpointStore;
  scorer?: ChurnScorer;
  engineConfig?: EngineConfig;
  logger: Logger;
  registry?: Registry;
  instance?: string;
  batch?: number;
  waitMs?: number;
  checkpointMs?: number;
  /** Batches each partition worker applies ahead of the first one not yet durable. Default 3 (`DEFAULT_PIPELINE_DEPTH`). */
  depth?: number;
  /** Most timers one batch fires (a storm of due timers is spread over batches). Default 2,000 (`DEFAULT_TIMER_SLICE`). */
  timerSlice?: number;
  /** Least time between two ClickHouse inserts, ms (`SinkOptions.lingerMs`). Default 100. */
  sinkLingerMs?: number;
  /** Linger of a sink idle for `sinkLingerMs`, ms (`SinkOptions.idleLingerMs`). Default 2. */
  sinkIdleLingerMs?: number;
  /** Record one row per micro-batch in `scorer_batches` (operations dashboard). Default true. */
  recordBatches?: boolean;
  onBatch?: (info: BatchInfo) => void;
}

export interface ScorerStats {
  events: number;
  duplicates: number;
  late: number;
  rejected: number;
  seqByPartition: Record<number, number>;
}

export class ScorerService {
  private readonly workers = new Map<number, PartitionWorker>();
  private ownership: PartitionOwnership | undefined;
  private readonly sink: ClickHouseSink;
  private readonly warehouse: ClickHouseOutput;
  private readonly messages: JetStreamOutput;
  readonly instance: string;

  constructor(private readonly opts: ScorerOptions) {
    this.instance = opts.instance ?? `scorer-${process.pid}`;
    const m = opts.registry ? scorerMetrics(opts.registry) : undefined;
    this.sink = new ClickHouseSink(opts.warehouse, {
      database: opts.database, logger: opts.logger, lingerMs: opts.sinkLingerMs ?? 100, idleLingerMs: opts.sinkIdleLingerMs ?? 2,
      onFlush: (f) => {
        m?.flushSeconds.observe(f.ms / 1000);
        m?.degraded.set(0);
      },
      onFailure: (f) => {
        m?.insertFailures.labels(f.table, f.kind, f.reason).inc();
        m?.degraded.set(1);
      },
      onRefused: (rows) => {
        for (const r of rows) m?.rowsRefused.labels(r.table, r.error.reason).inc();
      },
    });
    this.warehouse = new ClickHouseOutput(this.sink);
    this.messages = new JetStreamOutput(new Publisher(opts.nc, { window: 1024 }), { logger: opts.logger, maxPayload: () => opts.nc.info?.max_payload });
    this.metrics = m;
  }

  private readonly metrics: ReturnType<typeof scorerMetrics> | undefined;

  async start(): Promise<void> {
    const jsm = await natsJsm(this.opts.nc);
    const js = jetstream(this.opts.nc);
    const store = this.opts.store ?? new FileCheckpointStore(this.opts.checkpointDir ?? 'data/checkpoints');
    const engine = new Engine(this.opts.engineConfig ?? defaultEngineConfig());
    this.ownership = new PartitionOwnership({
      nc: this.opts.nc, instance: this.instance, partitions: this.opts.totalPartitions, logger: this.opts.logger,
      ...(this.opts.partitions ? { allowed: this.opts.partitions } : {}), ...(this.opts.leaseMs ? { leaseMs: this.opts.leaseMs } : {}),
      acquire: async (p, fence) => {
        const w = new PartitionWorker(p, {
          js, jsm, engine, warehouse: this.warehouse, messages: this.messages, store, logger: this.opts.logger, instance: this.instance, fence,
          ...(this.opts.scorer ? { scorer: this.opts.scorer } : {}),
          batch: this.opts.batch ?? 1000, waitMs: this.opts.waitMs ?? 20, checkpointMs: this.opts.checkpointMs ?? 5000,
          ...(this.opts.depth ? { depth: this.opts.depth } : {}),
          ...(this.opts.timerSlice ? { timerSlice: this.opts.timerSlice } : {}),
          onBatch: (info) => this.onBatch(info),
          onEnded: () => void this.ownership?.restart(p),
        });
        await w.start();
        this.workers.set(p, w);
      },
      release: async (p) => {
        const w = this.workers.get(p);
        this.workers.delete(p);
        await w?.stop();
      },
    });
    await this.ownership.start();
  }

  /** Partitions this instance owns right now. */
  get owned(): number[] {
    return this.ownership?.owned ?? [];
  }

  private onBatch(info: BatchInfo): void {
    this.metrics?.timers.inc(info.timers);
    // A batch that only fired timers (a slice of a timer storm) is not a micro-batch of events.
    if (info.events > 0) this.recordBatch(info);
    this.opts.onBatch?.(info);
  }

  private recordBatch(info: BatchInfo): void {
    const m = this.metrics;
    if (m) {
      m.events.inc(info.events);
      m.batchSize.observe(info.events);
      m.modelSeconds.observe(info.modelMs / 1000);
      m.lag.labels(String(info.partition)).set(info.pending);
      for (const l of info.latenciesMs) m.latency.observe(l / 1000);
    }
    if (this.opts.recordBatches !== false) {
      // Operations telemetry: deferred to a flush about once a second (one insert into scorer_batches and its
      // view a second, not one a flush); losing it on a crash loses no business data.
      this.sink.defer(new Map([['scorer_batches', [{
        batch_id: `${this.instance}:${info.partition}:${info.firstSeq}`, instance: this.instance, partition: info.partition,
        flushed_at: iso(Date.now()), events: info.events, first_seq: info.firstSeq, last_seq: info.lastSeq, pending: info.pending,
        model_ms: info.modelMs, flush_ms: info.flushMs, dlq: info.dlq,
      }]]])).catch(() => undefined);
    }
  }

  stats(): ScorerStats {
    const s: ScorerStats = { events: 0, duplicates: 0, late: 0, rejected: 0, seqByPartition: {} };
    for (const w of this.workers.values()) {
      s.events += w.stats.events;
      s.duplicates += w.stats.duplicates;
      s.late += w.stats.late;
      s.rejected += w.stats.rejected;
      s.seqByPartition[w.partition] = w.seq;
    }
    return s;
  }

  get degraded(): boolean {
    return this.sink.degraded;
  }

  /** Graceful stop: drain, flush, ack, checkpoint; at `deadlineMs` abort what is still waiting. */
  async stop(deadlineMs = 15_000): Promise<void> {
    const started = Date.now();
    const timer = setTimeout(() => {
      this.sink.abort();
      void this.warehouse.close(0);
      void this.messages.close(0);
    }, deadlineMs);
    try {
      // Ownership bounds each of its own waits (up to two callback deadlines in the worst case); the
      // service's deadline bounds the whole, so a caller's shutdown budget is never overrun here.
      await withDeadline(this.ownership?.stop() ?? Promise.resolve(), deadlineMs, 'stopping the partition workers')
        .catch((err: Error) => this.opts.logger.warn({ err: err.message }, 'partition workers not stopped by the deadline; un-acked events will be redelivered'));
      const left = Math.max(0, deadlineMs - (Date.now() - started));
      await Promise.all([this.warehouse.close(left), this.messages.close(left)]);
    } finally {
      clearTimeout(timer);
    }
  }
}

function scorerMetrics(registry: Registry) {
  const get = <T>(name: string, make: () => T): T => (registry.getSingleMetric(name) as T | undefined) ?? make();
  return {
    events: get('vafa_scorer_events_total', () => new Counter({ name: 'vafa_scorer_events_total', help: 'events scored', registers: [registry] })),
    timers: get('vafa_scorer_timers_fired_total', () => new Counter({ name: 'vafa_scorer_timers_fired_total', help: 'event-time timers fired (points expiring, lifecycle checks)', registers: [registry] })),
    batchSize: get('vafa_scorer_batch_size', () => new Histogram({ name: 'vafa_scorer_batch_size', help: 'events per micro-batch', buckets: [1, 4, 16, 64, 256, 1000, 4000], registers: [registry] })),
    modelSeconds: get('vafa_scorer_model_seconds', () => new Histogram({ name: 'vafa_scorer_model_seconds', help: 'model call per micro-batch', buckets: [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1], registers: [registry] })),
    flushSeconds: get('vafa_sink_flush_seconds', () => new Histogram({ name: 'vafa_sink_flush_seconds', help: 'ClickHouse flush duration', buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5], registers: [registry] })),
    latency: get('vafa_event_to_score_seconds', () => new Histogram({ name: 'vafa_event_to_score_seconds', help: 'from JetStream persist to durable score', buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5], registers: [registry] })),
    rowsRefused: get('vafa_sink_rows_refused_total', () => new Counter({ name: 'vafa_sink_rows_refused_total', help: 'rows ClickHouse refused for their data, sent to DLQ', labelNames: ['table', 'reason'], registers: [registry] })),
    insertFailures: get('vafa_sink_insert_failures_total', () => new Counter({ name: 'vafa_sink_insert_failures_total', help: 'failed ClickHouse insert attempts that are retried, by kind (transient | operator)', labelNames: ['table', 'kind', 'reason'], registers: [registry] })),
    degraded: get('vafa_sink_degraded', () => new Gauge({ name: 'vafa_sink_degraded', help: '1 while ClickHouse inserts are failing and being retried', registers: [registry] })),
    lag: get('vafa_consumer_pending', () => new Gauge({ name: 'vafa_consumer_pending', help: 'messages not yet delivered, per partition', labelNames: ['partition'], registers: [registry] })),
  };
}
