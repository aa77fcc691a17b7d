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
import type { Settings } from '../config/settings.js';
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

export async function startIngestCluster(o: IngestClusterOptions): Promise<IngestCluster> {
  const { settings, logger } = o;
  // Several servers on port 0 in a cluster worker would share one handle (node:cluster keys them by
  // address and port), so the primary picks the ports.
  const port = settings.port || await freePort(settings.host);
  const iso8583Port = o.iso8583 ? settings.iso8583Port || await freePort(settings.host) : undefined;
  const counters = new FixedWindowCounters();
  const live = new Set<Worker>();
  const restarts: number[] = [];
  let stopping = false;
  let nextCollect = 0;
  const collecting = new Map<number, (m: ProcessMetrics) => void>();

  const send = (w: Worker, m: ToWorker): void => {
    if (w.isConnected()) w.send(m);
  };
  const collectOne = (w: Worker): Promise<ProcessMetrics | undefined> => new Promise((resolve) => {
    const id = ++nextCollect;
    const timer = setTimeout(() => {
      collecting.delete(id);
      resolve(undefined);
    }, COLLECT_TIMEOUT_MS);
    collecting.set(id, (m) => {
      clearTimeout(timer);
      collecting.delete(id);
      resolve(m);
    });
    send(w, { t: 'collect', id });
  });
  const workerMetrics = async (): Promise<ProcessMetrics[]> => (await Promise.all([...live].map(collectOne))).filter((p): p is ProcessMetrics => p !== undefined);
  const metrics = async (): Promise<string> => await aggregateMetrics([await o.registry.getMetricsAsJSON(), ...await workerMetrics()]);

  const answer = (w: Worker, id: number, work: () => Promise<unknown> | unknown): void => {
    Promise.resolve().then(work).then(
      (value) => send(w, { t: 'reply', id, ok: true, value }),
      (err: Error) => send(w, { t: 'reply', id, ok: false, error: err.message }),
    );
  };

  const fork = (index: number): { worker: Worker; ready: Promise<FromWorker & { t: 'ready' }> } => {
    cluster.setupPrimary({ exec: ENTRY, execArgv: [...NODE_FLAGS], args: [] });
    const worker = cluster.fork({ VAFA_INGEST_WORKER_INDEX: String(index) });
    live.add(worker);
    const ready = new Promise<FromWorker & { t: 'ready' }>((resolve, reject) => {
      worker.once('exit', (code, signal) => reject(new IngestWorkerError(`ingest worker ${index} exited (${signal ?? code}) before it was ready`)));
      worker.on('message', (m: FromWorker) => {
        if (m.t === 'ready') resolve(m);
        else if (m.t === 'failed') reject(new IngestWorkerError(`ingest worker ${index}: ${m.error}`));
      });
    });
    ready.catch(() => undefined);
    worker.on('message', (m: FromWorker) => {
      switch (m.t) {
        case 'collected': collecting.get(m.id)?.(m.metrics); break;
        case 'metrics': answer(worker, m.id, metrics); break;
        case 'rate': answer(worker, m.id, () => counters.count(m.namespace, m.key, m.timeWindowMs)); break;
        case 'readiness': answer(worker, m.id, async () => (o.readiness ? await o.readiness() : {})); break;
        case 'session': for (const other of live) if (other !== worker) send(other, { t: 'session', event: m.event }); break;
        default: break;
      }
    });
    worker.on('exit', (code, signal) => {
      live.delete(worker);
      if (stopping) return;
      const now = Date.now();
      while (restarts.length && restarts[0]! < now - 60_000) restarts.shift();
      if (restarts.length >= MAX_RESTARTS_PER_MIN) {
        logger.error({ worker: index, code, signal }, `ingest worker exited; not replaced (${MAX_RESTARTS_PER_MIN} restarts within a minute)`);
        return;
      }
      restarts.push(now);
      logger.error({ worker: index, code, signal }, 'ingest worker exited; starting a new one');
      setTimeout(() => {
        if (!stopping) start(index).ready.catch((err: Error) => logger.error({ err: err.message }, 'ingest worker did not start again'));
      }, 1000).unref();
    });
    return { worker, ready };
  };

  const start = (index: number): { worker: Worker; ready: Promise<FromWorker & { t: 'ready' }> } => {
    const f = fork(index);
    // A message sent before the worker's code listens would be lost: it says when it listens.
    f.worker.on('message', (m: FromWorker) => {
      if (m.t !== 'listening') return;
      send(f.worker, {
        t: 'start', index, settings, natsUrl: o.natsUrl, clickhouseUrl: o.clickhouseUrl, natsCredentials: o.natsCredentials, port,
        ...(iso8583Port !== undefined ? { iso8583Port } : {}),
      });
    });
    return f;
  };

  const stop = async (deadlineMs: number): Promise<void> => {
    stopping = true;
    const workers = [...live];
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
      logger.warn({ workers: left.length }, 'ingest workers still running at the deadline: killed');
      for (const w of left) w.process.kill('SIGKILL');
      await Promise.race([Promise.all(exited), new Promise((r) => setTimeout(r, 1000))]);
    }
    clearTimeout(timer);
  };

  try {
    const started = Array.from({ length: o.workers }, (_, i) => start(i));
    await Promise.all(started.map((s) => s.ready));
  } catch (err) {
    await stop(2000);
    throw err;
  }
  logger.info({ workers: o.workers, port, ...(iso8583Port !== undefined ? { iso8583Port } : {}) }, 'ingest workers listening');
  return {
    workers: o.workers, port, ...(iso8583Port !== undefined ? { iso8583Port } : {}),
    pids: () => [...live].map((w) => w.process.pid).filter((p): p is number => p !== undefined),
    metrics, workerMetrics, stop,
  };
}
