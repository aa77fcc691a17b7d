/**
 * A backfill's partitions on worker threads (`vafa backfill --workers N`): worker `i` owns the partitions
 * `p % N === i` and runs the same `PartitionRunner` as the in-process backfill on them (worker-main.ts).
 *
 * Identical to one thread by construction: the feeder (backfill.ts) still cuts the global stream order
 * into the same micro-batches and gives every event its sequence; each batch's events go to the workers
 * owning their partitions, and the batch ends when every worker has answered (a barrier), so the
 * referral credits of a batch are known, merged in the order one thread gives (partitions.ts
 * `CreditOut.order`) and applied at the head of the next batch, as before. A barrier per batch rather
 * than per commit: credits change the next batch's cut and sequences, so a later barrier could not give
 * the same ones.
 *
 * Each worker also validates the events of its partitions (ingest's own `prepare`, prepare.ts) when the
 * feeder has read them, ahead of their batch, and keeps them by record number until the batch that holds
 * them runs: validation runs on every core, and an event crosses threads once.
 *
 * What each worker opens itself, and why:
 * - the state store (the same LMDB environment; lmdb-js lets the threads of one process share it and
 *   serialises their write transactions): a partition's customers never cross threads, and the store's
 *   encoding runs on every core. The calling thread still commits in step (flush, statements, commit).
 * - a ClickHouse sink: rows are built, encoded and sent where they are made; sending them to the calling
 *   thread would copy every row once more on the one thread that cannot be multiplied.
 * - the churn model: one onnxruntime session per worker, one call per micro-batch over its partitions'
 *   events (a score depends only on its own row).
 * - the core's configuration, from the same files (a configuration holds class instances that a
 *   message between threads cannot carry).
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { COMPACT_MARKER } from '../store/layout.js';
import { item } from '../../core/mod.js';
import type { Logger } from '../../../platform/mod.js';
import type { PolicyFiles } from '../../../config/mod.js';
import { BackfillError, type BackfillPartitions, type BatchEvent, type BatchOutcome, type CheckItem, type CheckRefusal, type CommitMark, type PartitionStart } from './partitions.js';

/** Worker threads of a backfill, and what each of them opens. */
export interface BackfillWorkers {
  /** Worker threads; each owns the partitions `p` with `p % count === index`. 1: every partition in the calling thread. */
  count: number;
  /** The core's configuration: built from these files (as the scorer does), or `'default'`: `defaultEngineConfig()`. */
  engine: PolicyFiles | 'default';
  /** The state store every worker opens: the scorer's LMDB environment. `cacheCustomers` as `LmdbStateStoreOptions` (default: unset). */
  store: { path: string; cacheCustomers?: number };
  /** ClickHouse for the rows, one sink per worker (`maxRows` default 50,000, `lingerMs` default 50); undefined: rows built and counted only. */
  warehouse?: { url: string; user: string; password: string; database: string; maxRows?: number; lingerMs?: number };
  /** The churn model's manifest, loaded by every worker (one that fails to load: no scores, logged); undefined: no scores. */
  modelPath?: string;
  /** The workers' log level. Default `info`. */
  logLevel?: string;
}

/** What a worker starts with (`workerData`). */
export interface WorkerSetup {
  index: number;
  owned: number[];
  partitions: number;
  base: number;
  cutover?: number;
  strict?: boolean;
  spec: Omit<BackfillWorkers, 'count'>;
}

/** Calling thread → worker. */
export type ToBackfillWorker =
  | { t: 'open' }
  | { t: 'check'; items: CheckItem[] }
  | { t: 'run'; events: BatchEvent[]; through?: number }
  | { t: 'flush' }
  | { t: 'commit'; position: number; mark: CommitMark; cutover?: number }
  | { t: 'cutover' }
  | { t: 'close' };

/** Worker → calling thread: the answer to each message, in order. */
export type FromBackfillWorker = { ok: true; value: unknown } | { ok: false; name: string; error: string };

const ENTRY = path.resolve(import.meta.dirname, 'worker.js');

/** One worker and its answers awaited, in the order asked. */
class WorkerLink {
  private readonly waiting: { resolve: (v: unknown) => void; reject: (e: Error) => void }[] = [];
  private failed: Error | undefined;
  readonly worker: Worker;

  constructor(readonly index: number, setup: WorkerSetup) {
    this.worker = new Worker(ENTRY, { workerData: setup });
    this.worker.on('message', (m: FromBackfillWorker) => {
      const w = this.waiting.shift();
      if (!w) return;
      if (m.ok) w.resolve(m.value);
      else w.reject(m.name === 'BackfillError' ? new BackfillError(m.error) : new Error(`backfill worker ${index}: ${m.error}`));
    });
    this.worker.on('error', (err) => this.fail(new Error(`backfill worker ${index} failed: ${err.message}`)));
    this.worker.on('exit', (code) => this.fail(new Error(`backfill worker ${index} exited (code ${code})`)));
  }

  private fail(err: Error): void {
    this.failed ??= err;
    for (const w of this.waiting.splice(0)) w.reject(this.failed);
  }

  ask<T>(message: ToBackfillWorker): Promise<T> {
    if (this.failed) return Promise.reject(this.failed);
    return new Promise<T>((resolve, reject) => {
      this.waiting.push({ resolve: resolve as (v: unknown) => void, reject });
      this.worker.postMessage(message);
    });
  }
}

/** Options of {@link ThreadedPartitions}. */
export interface ThreadedPartitionsOptions extends BackfillWorkers {
  /** Number of partitions of `tx.>`. */
  partitions: number;
  base: number;
  cutover?: number;
  strict?: boolean;
  logger?: Logger;
}

/** The partitions spread over `count` worker threads, each batch a barrier. */
export class ThreadedPartitions implements BackfillPartitions {
  private readonly links: WorkerLink[];
  private closing: Promise<{ refusedRows: number }> | undefined;

  constructor(opts: ThreadedPartitionsOptions) {
    const { count, partitions, base, cutover, strict, logger: _logger, ...spec } = opts;
    // A worker would compact it while other threads have it open (the calling thread compacts at open).
    if (existsSync(path.join(spec.store.path, COMPACT_MARKER))) throw new BackfillError(`${spec.store.path}: the state store's compaction is pending: open it once (vafa backfill with --workers 1, or the scorer) and run again`);
    this.links = Array.from({ length: count }, (_, index) => new WorkerLink(index, {
      index, owned: Array.from({ length: partitions }, (_, p) => p).filter((p) => p % count === index), partitions, base, spec,
      ...(cutover !== undefined ? { cutover } : {}), ...(strict ? { strict } : {}),
    }));
  }

  private all<T>(message: ToBackfillWorker): Promise<T[]> {
    return Promise.all(this.links.map((l) => l.ask<T>(message)));
  }

  async open(): Promise<PartitionStart[]> {
    return (await this.all<PartitionStart[]>({ t: 'open' })).flat();
  }

  /** Each worker validates the records of its partitions (they stay there, for `run`). */
  async check(items: CheckItem[]): Promise<CheckRefusal[]> {
    const shares: CheckItem[][] = this.links.map(() => []);
    for (const checked of items) item(shares, checked.partition % this.links.length).push(checked);
    return (await Promise.all(this.links.map((l, i) => l.ask<CheckRefusal[]>({ t: 'check', items: item(shares, i) })))).flat();
  }

  async run(events: BatchEvent[], through?: number): Promise<BatchOutcome> {
    const shares: BatchEvent[][] = this.links.map(() => []);
    for (const e of events) item(shares, e.partition % this.links.length).push(e);
    const outcomes = await Promise.all(this.links.map((l, i) => l.ask<BatchOutcome>({ t: 'run', events: item(shares, i), ...(through !== undefined ? { through } : {}) })));
    const merged: BatchOutcome = { failures: [], duplicates: 0, credits: [], rows: 0, pendingCustomers: 0 };
    for (const o of outcomes) {
      merged.failures.push(...o.failures);
      merged.duplicates += o.duplicates;
      merged.credits.push(...o.credits);
      merged.rows += o.rows;
      merged.pendingCustomers += o.pendingCustomers;
    }
    merged.failures.sort((a, b) => a.index - b.index);
    return merged; // the feeder puts the credits in order
  }

  async flush(): Promise<void> {
    await this.all({ t: 'flush' });
  }

  async commit(position: number, mark: CommitMark, cutover?: number): Promise<void> {
    await Promise.all(this.links.map((l, i) => l.ask({
      t: 'commit', position, ...(cutover !== undefined ? { cutover } : {}),
      mark: { feeder: mark.feeder, published: mark.published.filter((c) => c.partition % this.links.length === i) },
    })));
  }

  async latestCutover(): Promise<number> {
    return Math.max(0, ...await this.all<number>({ t: 'cutover' }));
  }

  /** Every worker closes what it opened and ends; a worker that cannot is stopped. */
  close(): Promise<{ refusedRows: number }> {
    this.closing ??= (async () => {
      const answers = await Promise.allSettled(this.links.map((l) => l.ask<{ refusedRows: number }>({ t: 'close' })));
      await Promise.all(this.links.map((l) => l.worker.terminate()));
      const failed = answers.find((a) => a.status === 'rejected');
      if (failed) throw (failed as PromiseRejectedResult).reason;
      return { refusedRows: answers.reduce((n, a) => n + (a.status === 'fulfilled' ? a.value.refusedRows : 0), 0) };
    })();
    return this.closing;
  }
}
