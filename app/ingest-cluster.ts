/**
 * Ingest on every core: `VAFA_INGEST_WORKERS` processes (node:cluster) serve the HTTP API and the ISO
 * 8583 listener behind one port each; this process, the primary, hands each new connection to the next
 * worker (round robin) and does no ingest itself. What must stay right across the workers goes through
 * the primary over IPC:
 * - `/metrics`: the primary collects every worker's values, adds its own registry's and sums them
 *   (api/metrics.ts `aggregateMetrics`), so a counter is the total whichever worker answers the scrape;
 * - rate limits: every worker counts a key's requests in the primary (api/rate-limit-store.ts), so a
 *   key's limit holds across the workers;
 * - readiness: the primary's checks (the scorer in the all-in-one) join each worker's own;
 * - dashboard sign-in sessions: a worker's new or ended session is relayed to the others (api/shared-sessions.ts).
 * Stopping asks every worker to stop its inputs (in-flight requests are finished and answered, so
 * nothing acknowledged is lost) within the deadline; a worker still running then is killed. A worker
 * that dies is replaced (at most `MAX_RESTARTS_PER_MIN` a minute).
 */
import cluster, { type Worker } from 'node:cluster';
import path from 'node:path';
import type { Registry } from 'prom-client';
import type { Settings } from '../config/mod.js';
import { freePort, NODE_FLAGS, type Logger } from '../platform/mod.js';
import { aggregateMetrics, type ProcessMetrics, FixedWindowCounters, type SessionEvent } from '../api/mod.js';

const ENTRY = path.resolve(import.meta.dirname, 'ingest-worker.js');
const MAX_RESTARTS_PER_MIN = 5;
/** How long the primary waits for a worker's metrics before leaving it out of a scrape. */
const COLLECT_TIMEOUT_MS = 2000;

/** What a worker needs to start: its settings (secrets included: they travel over the IPC pipe, never the environment) and the engines. */
export interface WorkerStart {
  t: 'start';
  index: number;
  settings: Settings;
  natsUrl: string;
  clickhouseUrl: string;
  /** Connect to NATS with the settings' credentials (false for the all-in-one's local nats-server). */
  natsCredentials: boolean;
  port: number;
  iso8583Port?: number;
}

/** Primary → worker. */
export type ToWorker =
  | WorkerStart
  | { t: 'stop'; deadlineMs: number }
  | { t: 'collect'; id: number }
  | { t: 'session'; event: SessionEvent }
  | { t: 'reply'; id: number; ok: true; value: unknown }
  | { t: 'reply'; id: number; ok: false; error: string };

/** Worker → primary. */
export type FromWorker =
  | { t: 'listening' }
  | { t: 'ready'; port: number; iso8583Port?: number }
  | { t: 'failed'; error: string }
  | { t: 'collected'; id: number; metrics: ProcessMetrics }
  | { t: 'metrics'; id: number }
  | { t: 'rate'; id: number; namespace: string; key: string; timeWindowMs: number }
  | { t: 'readiness'; id: number }
  | { t: 'session'; event: SessionEvent };

export interface IngestClusterOptions {
  settings: Settings;
  natsUrl: string;
  clickhouseUrl: string;
  natsCredentials: boolean;
  workers: number;
  iso8583: boolean;
  logger: Logger;
  /** The primary's own registry: its values join the workers' on `/metrics`. */
  registry: Registry;
  readiness?: () => Promise<Record<string, boolean>>;
}

export interface IngestCluster {
  workers: number;
  port: number;
  iso8583Port?: number;
  /** Process ids of the running workers (the bench reads their CPU). */
  pids(): number[];
  /** The whole cluster's metrics, as `/metrics` serves them. */
  metrics(): Promise<string>;
  /** Each running worker's own metric values (a worker that does not answer within 2 s is left out). */
  workerMetrics(): Promise<ProcessMetrics[]>;
  /** Stops every worker's inputs within `deadlineMs`, then kills what still runs. */
  stop(deadlineMs: number): Promise<void>;
}

export class IngestWorkerError extends Error {
  override readonly name = 'IngestWorkerError';
}

/**
 * Starts `o.workers` ingest worker processes serving the API (and the ISO 8583 listener) on one port each,
 * and resolves once every one is ready.
 *
 * @throws IngestWorkerError when a worker fails or exits before it is ready (the others are stopped).
 */
export async function startIngestCluster(o: IngestClusterOptions): Promise<IngestCluster> {
  const { settings, logger } = o;
  // Several servers on port 0 in a cluster worker would share one handle (node:cluster keys them by
  // address and port), so the primary picks the ports.
  const port = settings.port || await freePort(settings.host);
  const iso8583Port = o.iso8583 ? settings.iso8583Port || await freePort(settings.host) : undefined;
  const primary = new IngestPrimary(o, port, iso8583Port);
  try {
    const started = Array.from({ length: o.workers }, (_, i) => primary.start(i));
    await Promise.all(started.map((s) => s.ready));
  } catch (err) {
    await primary.stop(2000);
    throw err;
  }
  logger.info({ workers: o.workers, port, ...(iso8583Port !== undefined ? { iso8583Port } : {}) }, 'ingest workers listening');
  return {
    workers: o.workers, port, ...(iso8583Port !== undefined ? { iso8583Port } : {}),
    pids: () => primary.pids(),
    metrics: () => primary.metrics(),
    workerMetrics: () => primary.workerMetrics(),
    stop: (deadlineMs) => primary.stop(deadlineMs),
  };
}

type Ready = FromWorker & { t: 'ready' };

/**
 * The primary's side of the cluster: forks the workers and replaces one that dies (at most
 * {@link MAX_RESTARTS_PER_MIN} a minute), answers their requests (metrics, rate counts, readiness),
 * relays sessions, stops them.
 */
class IngestPrimary {
  private readonly counters = new FixedWindowCounters();
  private readonly live = new Set<Worker>();
  /** When workers were replaced in the last minute. */
  private readonly restarts: number[] = [];
  private readonly collecting = new Map<number, (m: ProcessMetrics) => void>();
  private stopping = false;
  private nextCollect = 0;

  constructor(private readonly o: IngestClusterOptions, private readonly port: number, private readonly iso8583Port: number | undefined) {}

  /** Forks worker `index` and sends it its start once it listens. */
  start(index: number): { worker: Worker; ready: Promise<Ready> } {
    const f = this.fork(index);
    // A message sent before the worker's code listens would be lost: it says when it listens.
    f.worker.on('message', (m: FromWorker) => {
      if (m.t !== 'listening') return;
      send(f.worker, {
        t: 'start', index, settings: this.o.settings, natsUrl: this.o.natsUrl, clickhouseUrl: this.o.clickhouseUrl, natsCredentials: this.o.natsCredentials, port: this.port,
        ...(this.iso8583Port !== undefined ? { iso8583Port: this.iso8583Port } : {}),
      });
    });
    return f;
  }

  pids(): number[] {
    return [...this.live].map((w) => w.process.pid).filter((p): p is number => p !== undefined);
  }

  async workerMetrics(): Promise<ProcessMetrics[]> {
    return (await Promise.all([...this.live].map((w) => this.collectOne(w)))).filter((p): p is ProcessMetrics => p !== undefined);
  }

  async metrics(): Promise<string> {
    return await aggregateMetrics([await this.o.registry.getMetricsAsJSON(), ...await this.workerMetrics()]);
  }

  /** Asks every worker to stop its inputs within `deadlineMs`; kills the ones still running then. */
  async stop(deadlineMs: number): Promise<void> {
    this.stopping = true;
    const workers = [...this.live];
    const exited = workers.map((w) => new Promise<void>((resolve) => {
      if (w.isDead()) resolve();
      else w.once('exit', () => resolve());
    }));
    // The workers stop their inputs a little before the deadline, so they can still close their connections.
    for (const w of workers) send(w, { t: 'stop', deadlineMs: Math.max(100, deadlineMs - 500) });
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => {
      timer = setTimeout(() => resolve('late'), deadlineMs);
    });
    if ((await Promise.race([Promise.all(exited), late])) === 'late') {
      const left = workers.filter((w) => !w.isDead());
      this.o.logger.warn({ workers: left.length }, 'ingest workers still running at the deadline: killed');
      for (const w of left) w.process.kill('SIGKILL');
      await Promise.race([Promise.all(exited), new Promise((r) => setTimeout(r, 1000))]);
    }
    clearTimeout(timer);
  }

  private fork(index: number): { worker: Worker; ready: Promise<Ready> } {
    cluster.setupPrimary({ exec: ENTRY, execArgv: [...NODE_FLAGS], args: [] });
    const worker = cluster.fork({ VAFA_INGEST_WORKER_INDEX: String(index) });
    this.live.add(worker);
    const ready = new Promise<Ready>((resolve, reject) => {
      worker.once('exit', (code, signal) => reject(new IngestWorkerError(`ingest worker ${index} exited (${signal ?? code}) before it was ready`)));
      worker.on('message', (m: FromWorker) => {
        if (m.t === 'ready') resolve(m);
        else if (m.t === 'failed') reject(new IngestWorkerError(`ingest worker ${index}: ${m.error}`));
      });
    });
    ready.catch(() => undefined);
    worker.on('message', (m: FromWorker) => this.onMessage(worker, m));
    worker.on('exit', (code, signal) => this.onExit(worker, index, code, signal));
    return { worker, ready };
  }

  private onMessage(worker: Worker, m: FromWorker): void {
    switch (m.t) {
      case 'collected': this.collecting.get(m.id)?.(m.metrics); break;
      case 'metrics': answer(worker, m.id, () => this.metrics()); break;
      case 'rate': answer(worker, m.id, () => this.counters.count(m.namespace, m.key, m.timeWindowMs)); break;
      case 'readiness': answer(worker, m.id, async () => (this.o.readiness ? await this.o.readiness() : {})); break;
      case 'session': for (const other of this.live) if (other !== worker) send(other, { t: 'session', event: m.event }); break;
      default: break;
    }
  }

  /** A worker exited: unless stopping, a new one takes its index a second later, within the restart limit. */
  private onExit(worker: Worker, index: number, code: number, signal: string): void {
    this.live.delete(worker);
    if (this.stopping) return;
    const now = Date.now();
    for (let first = this.restarts[0]; first !== undefined && first < now - 60_000; first = this.restarts[0]) this.restarts.shift();
    if (this.restarts.length >= MAX_RESTARTS_PER_MIN) {
      this.o.logger.error({ worker: index, code, signal }, `ingest worker exited; not replaced (${MAX_RESTARTS_PER_MIN} restarts within a minute)`);
      return;
    }
    this.restarts.push(now);
    this.o.logger.error({ worker: index, code, signal }, 'ingest worker exited; starting a new one');
    setTimeout(() => {
      if (!this.stopping) this.start(index).ready.catch((err: Error) => this.o.logger.error({ err: err.message }, 'ingest worker did not start again'));
    }, 1000).unref();
  }

  /** One worker's metric values, or undefined when it does not answer within {@link COLLECT_TIMEOUT_MS}. */
  private collectOne(w: Worker): Promise<ProcessMetrics | undefined> {
    return new Promise((resolve) => {
      const id = ++this.nextCollect;
      const timer = setTimeout(() => {
        this.collecting.delete(id);
        resolve(undefined);
      }, COLLECT_TIMEOUT_MS);
      this.collecting.set(id, (m) => {
        clearTimeout(timer);
        this.collecting.delete(id);
        resolve(m);
      });
      send(w, { t: 'collect', id });
    });
  }
}

function send(w: Worker, m: ToWorker): void {
  if (w.isConnected()) w.send(m);
}

/** Replies to a worker's request `id` with what `work` gives, or its error. */
function answer(w: Worker, id: number, work: () => Promise<unknown> | unknown): void {
  Promise.resolve().then(work).then(
    (value) => send(w, { t: 'reply', id, ok: true, value }),
    (err: Error) => send(w, { t: 'reply', id, ok: false, error: err.message }),
  );
}
