/**
 * Replay: rebuild ClickHouse from stream `TX`. State is rebuilt from the first message (the core is a
 * function of the whole ordered stream), and the rows caused by events at or after `from` are written.
 * Outputs carry the same deterministic ids as the live scorer's, so replaying over existing rows
 * replaces them; nothing is published (downstream systems already had the triggers).
 */
import { DeliverPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { ClickHouseClient } from '@clickhouse/client';
import { STREAM_TX } from '../../contracts/subjects.js';
import { Engine, type Pending, newPartitionState, type PartitionState, Emit, parseTime, eraseMentions } from '../core/mod.js';
import type { EngineConfig } from '../../config/schema/mod.js';
import { ClickHouseSink, TABLES, tableRows } from '../../sinks/mod.js';
import type { ChurnScorer } from './worker.js';
import { decodeTx } from './decode.js';
import { erasuresInStream } from './mentions.js';
import type { Logger } from '../../platform/mod.js';
import { defaultEngineConfig, UsageError } from '../../config/mod.js';

export type ReplayFrom = { seq: number } | { time: string };

export interface ReplayOptions {
  nc: NatsConnection;
  warehouse: ClickHouseClient;
  database: string;
  from: ReplayFrom;
  scorer?: ChurnScorer;
  engineConfig?: EngineConfig;
  /** Delete the rows of every table first (a clean rebuild). Only with `from: { seq: 1 }`-equivalent starts. */
  truncate?: boolean;
  batch?: number;
  logger: Logger;
  onProgress?: (p: { seq: number; lastSeq: number; written: number }) => void;
}

export interface ReplaySummary {
  events: number;
  written: number;
  rejected: number;
  /** Rows ClickHouse refused for their data (the live scorer sent them to DLQ; a replay publishes nothing). */
  refused: number;
  lastSeq: number;
  seconds: number;
}

/** Parses `--from`: a stream sequence (digits) or an RFC 3339 time. */
export function parseReplayFrom(raw: string): ReplayFrom {
  if (/^\d+$/.test(raw)) return { seq: Math.max(1, Number(raw)) };
  const t = Date.parse(raw);
  if (Number.isNaN(t)) throw new UsageError(`--from must be a stream sequence or an RFC 3339 time, got "${raw}"`);
  return { time: new Date(t).toISOString() };
}

export async function replay(opts: ReplayOptions): Promise<ReplaySummary> {
  const started = performance.now();
  const jsm = await jetstreamManager(opts.nc);
  const info = await jsm.streams.info(STREAM_TX);
  const lastSeq = info.state.last_seq;
  const summary: ReplaySummary = { events: 0, written: 0, rejected: 0, refused: 0, lastSeq, seconds: 0 };
  if (opts.truncate) {
    for (const t of TABLES) await opts.warehouse.command({ query: `TRUNCATE TABLE IF EXISTS ${opts.database}.${t.name}` });
  }
  if (lastSeq === 0 || info.state.messages === 0) return summary;
  const fromTime = 'time' in opts.from ? parseTime(opts.from.time) : undefined;
  const fromSeq = 'seq' in opts.from ? opts.from.seq : undefined;
  const keep = (seq: number, at: number): boolean => (fromSeq !== undefined ? seq >= fromSeq : at >= (fromTime ?? 0));

  const engine = new Engine(opts.engineConfig ?? defaultEngineConfig());
  const states = new Map<number, PartitionState>();
  const sink = new ClickHouseSink(opts.warehouse, { database: opts.database, logger: opts.logger, maxRows: 50_000, lingerMs: 50 });
  // Erasures apply to every event before them too (runtime/mentions.ts): each state starts knowing its partition's.
  const erasures = await erasuresInStream(jetstream(opts.nc), jsm, '*');
  const consumer = await jetstream(opts.nc).consumers.get(STREAM_TX, { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: info.state.first_seq });
  const messages = await consumer.consume({ max_messages: 2000 });
  const batchSize = opts.batch ?? 1000;
  let buffer: { seq: number; subject: string; data: Uint8Array }[] = [];

  const flush = async (): Promise<void> => {
    const kept = new Emit();
    const dropped = new Emit();
    const pendings: { p: Pending; state: PartitionState; emit: Emit }[] = [];
    for (const m of buffer) {
      const d = decodeTx(m.subject, m.data);
      if (!d.ok) {
        summary.rejected++;
        continue;
      }
      let state = states.get(d.partition);
      if (!state) {
        states.set(d.partition, (state = newPartitionState(d.partition)));
        for (const e of erasures) if (e.partition === d.partition) eraseMentions(state, e.body, []);
      }
      const at = d.msg.kind === 'control' ? state.maxEventTime : d.msg.kind === 'profile' ? parseTime(d.msg.body.opened_at) : parseTime(d.msg.body.occurred_at);
      const emit = keep(m.seq, at) ? kept : dropped;
      try {
        const p = engine.apply(state, { seq: m.seq, partition: d.partition, msg: d.msg }, emit);
        if (p) pendings.push({ p, state, emit });
      } catch {
        summary.rejected++;
      }
      summary.events++;
    }
    const scores = opts.scorer && pendings.length ? await opts.scorer.scoreBatch(pendings.map((x) => x.p.features)) : [];
    pendings.forEach((x, i) => engine.complete(x.state, x.p, scores[i], x.emit));
    const rows = tableRows(kept);
    for (const l of rows.values()) summary.written += l.length;
    const refused = await sink.write(rows);
    if (refused.length) {
      summary.refused += refused.length;
      summary.written -= refused.length;
      opts.logger.warn({ rows: refused.length, tables: [...new Set(refused.map((r) => r.table))] }, 'replay: rows refused by ClickHouse were not written');
    }
    opts.onProgress?.({ seq: buffer[buffer.length - 1]?.seq ?? 0, lastSeq, written: summary.written });
    buffer = [];
  };

  try {
    for await (const m of messages) {
      buffer.push({ seq: m.seq, subject: m.subject, data: m.data });
      if (buffer.length >= batchSize || m.seq >= lastSeq) await flush();
      if (m.seq >= lastSeq) break;
    }
  } finally {
    await messages.close().catch(() => undefined);
    await sink.close();
  }
  summary.seconds = (performance.now() - started) / 1000;
  return summary;
}
