/**
 * Backfill into a deployment, and the cut-over to the live stream.
 *
 * The live stream takes over without a gap or a double count:
 * 1. Backfill runs before the scorer, while stream `TX` holds no message (a new deployment; ingest may run
 *    only once backfill is done, or the switch holds its feed). It refuses a `TX` with messages in it.
 * 2. The history's events get the sequences they would have had on `TX` (`last_seq + 1` …); every
 *    partition's state is committed with the last of them, `position`; then `TX` is advanced (purged up to
 *    `position + 1`, which on an empty stream only moves its first sequence) so the first live event is
 *    `position + 1`: live rows always version above the history's, and the scorer resumes exactly there.
 * 3. A live event as of the history (at or before the cut-over) is recognised as a duplicate:
 *    - a transaction by its tx id: the core remembers ids for `dedupHorizonMs` (120 days, at least the reversal window) of event time,
 *      and the backfill filled that memory as streaming would (an id older than that is applied as new);
 *    - a redemption by its id (the loyalty state remembers redemption ids);
 *    - a feedback by time: each partition keeps its cut-over (`PartitionState.cutover`, the history's clock
 *      at its end, or `--cutover`), and a live feedback at or before it is counted a duplicate;
 *    - a profile is an upsert: applying it again changes nothing it has not already said.
 *    An event after the cut-over that is also in the history files is left out of the backfill
 *    (`afterCutover`): the live stream owns it.
 * 4. No offer or survey is decided as of a time at or before the cut-over, live or not.
 */
import path from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import type { ClickHouseClient } from '@clickhouse/client';
import { STREAM_TX } from '../../../contracts/subjects.js';
import type { EngineConfig } from '../../../config/schema/mod.js';
import { ensureStreams, natsJsm, type Logger } from '../../../platform/mod.js';
import { ClickHouseSink } from '../../../sinks/mod.js';
import { NatsCardDirectory } from '../../../ingest/mod.js';
import { LmdbStateStore } from '../store/lmdb-store.js';
import type { ChurnScorer } from '../worker.js';
import { backfill, BackfillError, type BackfillProgress, type BackfillSummary, type RecordSource, type StatementRecord } from './backfill.js';
import type { BackfillWorkers } from './threads.js';
import type { PolicyFiles } from '../../../config/mod.js';

export interface DeploymentBackfillOptions {
  paths: readonly string[];
  /** History made in the process instead of files (see `BackfillOptions.source`). */
  source?: RecordSource;
  nc: NatsConnection;
  warehouse: ClickHouseClient;
  /** ClickHouse database (`VAFA_CLICKHOUSE_DATABASE`), migrated by the caller. */
  database: string;
  /** The data directory: the state store is `<dataDir>/state`, the one the live scorer opens. */
  dataDir: string;
  engineConfig: EngineConfig;
  partitions: number;
  tokenKey: string;
  streamReplicas: number;
  duplicateWindowS: number;
  scorer?: ChurnScorer;
  /** Cut-over, epoch ms (see {@link BackfillOptions.cutover}). */
  cutover?: number;
  strict?: boolean;
  batch?: number;
  /** Customers of a partition kept decoded in memory while backfilling (the rest in the store). Default 20,000. */
  cacheCustomers?: number;
  logger: Logger;
  onProgress?: (p: BackfillProgress) => void;
  /** The audit of consent and membership statements (see {@link BackfillOptions.onStatements}). */
  onStatements?: (statements: StatementRecord[]) => Promise<void>;
  /**
   * Worker threads for the partitions (threads.ts), capped by `partitions`. Default 1: every partition in
   * this thread, with `scorer`, the store and a sink on `warehouse`. With more, each worker opens the
   * store, a sink and the model that `threads` names, and `scorer` is not used.
   */
  workers?: number;
  /** What each worker builds its core, sink and model from (required when `workers` > 1). */
  threads?: {
    engine: PolicyFiles;
    /** The ClickHouse server of `warehouse` and its credentials. */
    warehouse: { url: string; user: string; password: string };
    modelPath?: string;
    logLevel?: string;
  };
}

export interface DeploymentBackfillSummary extends BackfillSummary {
  /** The first sequence `TX` will give a live event. */
  liveFromSeq: number;
}

export async function backfillDeployment(opts: DeploymentBackfillOptions): Promise<DeploymentBackfillSummary> {
  const jsm = await natsJsm(opts.nc);
  await ensureStreams(jsm, { replicas: opts.streamReplicas, duplicateWindowS: opts.duplicateWindowS });
  const before = await jsm.streams.info(STREAM_TX);
  if (before.state.messages > 0) {
    throw new BackfillError(`stream ${STREAM_TX} already holds ${before.state.messages} messages (seq ${before.state.first_seq}–${before.state.last_seq}): backfill runs before live traffic; start ingest after it`);
  }
  const base = before.state.last_seq;
  // Opened here first even with workers: a compaction pending on the environment runs before any worker opens it.
  const store = LmdbStateStore.open({ path: path.join(opts.dataDir, 'state'), cacheCustomers: opts.cacheCustomers ?? 20_000, logger: opts.logger });
  const cards = await NatsCardDirectory.open(opts.nc, opts.streamReplicas);
  const sink = new ClickHouseSink(opts.warehouse, { database: opts.database, logger: opts.logger, maxRows: 50_000, lingerMs: 50 });
  const workers = Math.min(opts.workers ?? 1, opts.partitions);
  if (workers > 1 && !opts.threads) throw new Error('backfillDeployment: workers > 1 needs `threads` (what each worker opens)');
  const threaded: BackfillWorkers | undefined = workers > 1 && opts.threads ? {
    count: workers, engine: opts.threads.engine, store: { path: path.join(opts.dataDir, 'state'), cacheCustomers: opts.cacheCustomers ?? 20_000 },
    warehouse: { ...opts.threads.warehouse, database: opts.database, maxRows: 50_000, lingerMs: 50 },
    ...(opts.threads.modelPath ? { modelPath: opts.threads.modelPath } : {}), ...(opts.threads.logLevel ? { logLevel: opts.threads.logLevel } : {}),
  } : undefined;
  let summary: BackfillSummary;
  try {
    summary = await backfill({
      ...(threaded ? { workers: threaded } : {}),
      paths: opts.paths, ...(opts.source ? { source: opts.source } : {}), engineConfig: opts.engineConfig, partitions: opts.partitions, tokenKey: opts.tokenKey, store, sink, base, cards,
      logger: opts.logger, ...(opts.scorer ? { scorer: opts.scorer } : {}), ...(opts.cutover !== undefined ? { cutover: opts.cutover } : {}),
      ...(opts.strict ? { strict: true } : {}), ...(opts.batch ? { batch: opts.batch } : {}), ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
      ...(opts.onStatements ? { onStatements: opts.onStatements } : {}),
    });
  } finally {
    await sink.close();
    await store.close();
  }
  // The first live event gets position + 1 (purging an empty stream up to a sequence moves its first sequence).
  const now = await jsm.streams.info(STREAM_TX);
  if (now.state.messages > 0) {
    throw new BackfillError(`stream ${STREAM_TX} received ${now.state.messages} messages during the backfill: stop ingest, purge ${STREAM_TX} and run the backfill again (it resumes)`);
  }
  if (now.state.last_seq < summary.position) await jsm.streams.purge(STREAM_TX, { seq: summary.position + 1 });
  const after = await jsm.streams.info(STREAM_TX);
  const liveFromSeq = after.state.last_seq + 1;
  if (liveFromSeq !== summary.position + 1) {
    throw new BackfillError(`stream ${STREAM_TX} would give the next live event seq ${liveFromSeq}, not ${summary.position + 1}: the history's rows would outrank live ones`);
  }
  return { ...summary, liveFromSeq };
}
