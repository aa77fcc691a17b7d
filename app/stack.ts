/**
 * The composition root: starts what a deployment runs — the local engines when no external ones are
 * configured, the HTTP API, the ISO 8583 listener and the scorer — and stops them in reverse order.
 * `vafa up` runs everything; `vafa ingest` / `vafa scorer` run one role; tests and the bench use it too.
 *
 * Stopping goes by phases, each bounded: the input (API, ISO 8583 listener, rules watcher), then the
 * scorer (drain, flush, ack, checkpoint), then the clients (NATS, ClickHouse), then the local engines.
 */
import os from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Registry } from 'prom-client';
import type { Settings } from '../config/mod.js';
import { checkPortsFree, errorSummary, FailureEpisode, startLocalNats, type LocalNats, spawnWarehouse, type ChildHandle, connectNats, ensureStreams, natsJsm, Publisher, withDeadline, type Logger, type WantedPort } from '../platform/mod.js';
import { createWarehouseClient, type ClickHouseClient, migrate, migrateCalendarViews, calendarOf, sameCalendar, type BankCalendar } from '../sinks/mod.js';
import { STREAM_TX } from '../contracts/subjects.js';
import { createRegistry, insertAuditRows } from '../api/mod.js';
import { ScorerService, watchRulesFile, type BatchInfo, type ChurnScorer } from '../scorer/runtime/mod.js';
import { startIngestRole } from './ingest-role.js';
import { startIngestCluster, type IngestCluster } from './ingest-cluster.js';
import { buildEngineConfig, readPolicyFileSync } from '../config/mod.js';

export interface StackOptions {
  settings: Settings;
  logger: Logger;
  /** Run the HTTP API (and the ISO 8583 listener when `iso8583` is also set). Default true. */
  api?: boolean;
  iso8583?: boolean;
  /** Run the scorer for `settings.scorerPartitions`. Default true. */
  scorer?: boolean;
  /** Churn scorer; default: the model at `settings.modelPath` when it loads. */
  churn?: ChurnScorer | null;
  /** Called after each scorer micro-batch is durable and acked (the bench reads batch sizes and latencies here). */
  onBatch?: (info: BatchInfo) => void;
  /** Ingest processes when `settings.ingestWorkers` is 0 (its default): the number of CPUs for `vafa ingest` and the bench. Default 1. */
  defaultIngestWorkers?: number;
}

export interface Stack {
  settings: Settings;
  natsUrl: string;
  clickhouseUrl: string;
  apiUrl?: string;
  /** Port of the ISO 8583 listener, when it runs. */
  iso8583Port?: number;
  /** The ingest worker processes, when there are several (`app` is then unset: the API runs in them). */
  ingestCluster?: IngestCluster;
  nc: NatsConnection;
  warehouse: ClickHouseClient;
  app?: FastifyInstance;
  scorer?: ScorerService;
  registry: Registry;
  localNats?: LocalNats;
  localWarehouse?: ChildHandle;
  /** Stops the input: the HTTP API, the ISO 8583 listener, the rules watcher. Default deadline 3 s. */
  stopInputs(deadlineMs?: number): Promise<void>;
  /** Drains the scorer (flush, ack, checkpoint) and the offer webhook sink. Default `settings.shutdownMs`. */
  stopScorer(deadlineMs?: number): Promise<void>;
  /** Stops whatever still runs, phase by phase (`StopDeadlines`); safe to call again. */
  stop(deadlines?: Partial<StopDeadlines>): Promise<void>;
}

/** Stop phases, in the order `stop()` runs them. */
export type StopPhase = 'input' | 'scorer' | 'clients' | 'engines';

/** Deadline of each stop phase, ms: past it, what still runs is abandoned (engines are killed). */
export interface StopDeadlines {
  /** API, ISO 8583 listener, rules watcher. Default 3000. */
  input: number;
  /** Scorer drain and checkpoint, offer webhook. Default `settings.shutdownMs`. */
  scorer: number;
  /** NATS drain, ClickHouse client. Default 3000. */
  clients: number;
  /** Local nats-server and warehouse, stopped together: SIGTERM, SIGKILL at the deadline. Default 5000. */
  engines: number;
}

interface StopStep {
  phase: StopPhase;
  what: string;
  run(deadlineMs: number): Promise<void>;
}

const PHASES: StopPhase[] = ['input', 'scorer', 'clients', 'engines'];

/** Runs registered stop steps by phase; each step runs once, each phase within its deadline. */
class Stopper {
  private readonly steps: StopStep[] = [];

  constructor(private readonly logger: Logger, private readonly defaults: StopDeadlines) {}

  add(phase: StopPhase, what: string, run: (deadlineMs: number) => Promise<void>): void {
    this.steps.push({ phase, what, run });
  }

  async phase(phase: StopPhase, deadlineMs = this.defaults[phase]): Promise<void> {
    const todo = this.steps.filter((s) => s.phase === phase).reverse();
    for (const s of todo) this.steps.splice(this.steps.indexOf(s), 1);
    const deadline = Date.now() + deadlineMs;
    const runOne = async (s: StopStep): Promise<void> => {
      const left = Math.max(100, deadline - Date.now());
      await withDeadline(s.run(left), left + 500, `stopping ${s.what}`)
        .catch((err: Error) => this.logger.warn({ err: err.message }, `error while stopping ${s.what}`));
    };
    if (phase === 'engines') await Promise.all(todo.map(runOne));
    else for (const s of todo) await runOne(s);
  }

  async all(deadlines: Partial<StopDeadlines> = {}): Promise<void> {
    for (const p of PHASES) await this.phase(p, deadlines[p]);
  }
}

/**
 * Starts a deployment: the local engines unless external ones are configured, the NATS and ClickHouse
 * clients (streams ensured, tables migrated), then the scorer and the API as `opts` ask. A failure stops
 * what was started.
 */
export async function startStack(opts: StackOptions): Promise<Stack> {
  const { settings, logger } = opts;
  const stops = new Stopper(logger, { input: 3000, scorer: settings.shutdownMs, clients: 3000, engines: 5000 });
  const stopAll = (deadlines?: Partial<StopDeadlines>): Promise<void> => stops.all(deadlines);
  try {
    await checkPortsFree(portsToListenOn(settings, opts));
    const engines = await startEngines(settings, logger, stops);
    const { natsUrl, clickhouseUrl, localNats, localWarehouse } = engines;
    const nc = await connectNats(natsUrl, 'vafa', logger, localNats ? undefined : settings, { firstConnectMs: settings.startupTimeoutMs });
    stops.add('clients', 'NATS connection', async (ms) => {
      await withDeadline(nc.drain(), ms, 'NATS drain').catch(() => nc.close());
    });
    const jsm = await natsJsm(nc);
    await ensureStreams(jsm, { replicas: settings.streamReplicas, duplicateWindowS: settings.duplicateWindowS });
    const calendar = await migrateWarehouse(settings, clickhouseUrl, logger);
    const warehouse = createWarehouseClient({ ...warehouseConnection(settings, clickhouseUrl), database: settings.clickhouseDatabase });
    stops.add('clients', 'ClickHouse client', () => warehouse.close());
    const registry = createRegistry();

    const stack: Stack = {
      settings, natsUrl, clickhouseUrl, nc, warehouse, registry, stop: stopAll,
      stopInputs: (ms) => stops.phase('input', ms), stopScorer: (ms) => stops.phase('scorer', ms), ...(localNats ? { localNats } : {}), ...(localWarehouse ? { localWarehouse } : {}) };
    if (opts.scorer !== false) await startScorer(stack, opts, stops, calendar);
    if (opts.api !== false) {
      await startApi(stack, opts, stops);
      if (settings.webhookUrl && settings.webhookSecret) await startWebhook(nc, settings.webhookUrl, settings.webhookSecret, logger, stops);
    }
    return stack;
  } catch (err) {
    await stopAll();
    throw err;
  }
}

/** Where the engines are: the configured ones, or a local nats-server and warehouse started here. */
interface Engines {
  natsUrl: string;
  clickhouseUrl: string;
  localNats?: LocalNats;
  localWarehouse?: ChildHandle;
}

/** The ports this stack will listen on: the API's and the ISO 8583 listener's when asked, the local engines' when it starts them. */
export function portsToListenOn(settings: Settings, opts: Pick<StackOptions, 'api' | 'iso8583'>): WantedPort[] {
  const api = opts.api !== false;
  return [
    ...(api ? [{ setting: 'PORT', host: settings.host, port: settings.port }] : []),
    ...(api && opts.iso8583 === true ? [{ setting: 'ISO8583_PORT', host: settings.host, port: settings.iso8583Port }] : []),
    ...(settings.natsUrl ? [] : [{ setting: 'VAFA_NATS_PORT', host: '127.0.0.1', port: settings.localNatsPort }]),
    ...(settings.clickhouseUrl ? [] : [{ setting: 'VAFA_CLICKHOUSE_PORT', host: '127.0.0.1', port: settings.localClickhousePort }]),
  ];
}

/** Starts a local nats-server and warehouse for the engines not configured (`VAFA_NATS_URL`, `VAFA_CLICKHOUSE_URL`). */
async function startEngines(settings: Settings, logger: Logger, stops: Stopper): Promise<Engines> {
  let natsUrl = settings.natsUrl;
  let localNats: LocalNats | undefined;
  if (!natsUrl) {
    const nats = await startLocalNats({ port: settings.localNatsPort, storeDir: path.join(settings.dataDir, 'nats'), logger });
    localNats = nats;
    natsUrl = nats.url;
    logger.info({ url: natsUrl }, 'local nats-server with JetStream ready');
    stops.add('engines', 'nats-server', (ms) => nats.stop(Math.max(100, ms - 1000)));
  }
  let clickhouseUrl = settings.clickhouseUrl;
  let localWarehouse: ChildHandle | undefined;
  if (!clickhouseUrl) {
    const wh = await spawnWarehouse({ port: settings.localClickhousePort, dataDir: path.join(settings.dataDir, 'clickhouse'), logger, logLevel: settings.logLevel });
    localWarehouse = wh;
    clickhouseUrl = wh.url;
    stops.add('engines', 'warehouse', (ms) => wh.stop(Math.max(100, ms - 1000)));
  }
  return { natsUrl, clickhouseUrl, ...(localNats ? { localNats } : {}), ...(localWarehouse ? { localWarehouse } : {}) };
}

function warehouseConnection(settings: Settings, clickhouseUrl: string): { url: string; user: string; password: string } {
  return { url: clickhouseUrl, user: settings.clickhouseUser, password: settings.clickhousePassword };
}

/**
 * Migrates the tables and views, waiting for ClickHouse if it is not up yet; returns the bank calendar the
 * reporting views cut days, weeks and months with (the configured rules').
 */
async function migrateWarehouse(settings: Settings, clickhouseUrl: string, logger: Logger): Promise<BankCalendar> {
  const admin = createWarehouseClient({ ...warehouseConnection(settings, clickhouseUrl), database: 'default' });
  const calendar = calendarOf(readPolicyFileSync('rules', settings.rulesPath));
  try {
    // A process may start before (or while) ClickHouse is down: wait for it instead of exiting.
    await untilOk(() => migrate(admin, settings.clickhouseDatabase, { calendar, retention: settings.retentionDays }), 'ClickHouse migration', logger, settings.startupTimeoutMs);
  } finally {
    await admin.close();
  }
  return calendar;
}

/** Starts the scorer on its checkpoint store, and the loyalty-rules watcher. */
async function startScorer(stack: Stack, opts: StackOptions, stops: Stopper, calendar: BankCalendar): Promise<void> {
  const { settings, logger } = opts;
  const { nc, warehouse, registry } = stack;
  const churn = opts.churn === undefined ? await loadDefaultChurn(settings, logger) : opts.churn ?? undefined;
  // Loaded here, not at the top: a process without a scorer (the API-only role) does not load LMDB.
  const { openCheckpointStore, partitionCacheBounds } = await import('../scorer/runtime/store/mod.js');
  const { store, close: closeStore } = await openCheckpointStore({
    kind: settings.checkpointStore, dataDir: settings.dataDir, nc, localNats: stack.localNats !== undefined, streamReplicas: settings.streamReplicas,
    checkpointMs: settings.checkpointMs, logger, remapChunks: settings.stateMapChunks,
    ...partitionCacheBounds(settings.stateCacheCustomers, settings.stateCacheMb, settings.partitions),
  });
  // After the scorer phase: the workers' last commits are awaited there, so closing loses nothing.
  stops.add('clients', 'state store', () => closeStore());
  const engineConfig = buildEngineConfig(settings);
  const scorer = new ScorerService({
    engineConfig,
    nc, warehouse, database: settings.clickhouseDatabase, totalPartitions: settings.partitions, store, instance: settings.instance, leaseMs: settings.leaseMs,
    ...(settings.scorerPartitions === 'all' ? {} : { partitions: settings.scorerPartitions }),
    logger: logger.child({ module: 'scorer' }), registry, batch: settings.scorerBatch, waitMs: settings.scorerWaitMs, timerSlice: settings.scorerTimerSlice,
    sinkLingerMs: settings.sinkLingerMs, sinkIdleLingerMs: settings.sinkIdleLingerMs,
    checkpointMs: settings.checkpointMs, ...(churn ? { scorer: churn } : {}), ...(opts.onBatch ? { onBatch: opts.onBatch } : {}),
  });
  await scorer.start();
  stack.scorer = scorer;
  // The scorer aborts its ClickHouse writes a little before the phase deadline, so that it can still ack what is durable.
  stops.add('scorer', 'scorer', (ms) => scorer.stop(Math.max(100, ms - 1000)));
  startRulesWatcher(stack, opts, stops, engineConfig.loyalty.timeline.latest.version, calendar);
}

/** Loyalty-rules hot reload: a changed file is validated and recorded in TX, per partition, and audited. */
function startRulesWatcher(stack: Stack, opts: StackOptions, stops: Stopper, initialVersion: string, initialCalendar: BankCalendar): void {
  const { settings, logger } = opts;
  const { nc, warehouse, registry } = stack;
  let calendar = initialCalendar;
  const rulesPublisher = new Publisher(nc, { expectStream: STREAM_TX });
  const auditRulesReload = (status: number, detail: string): Promise<void> => insertAuditRows(warehouse, settings.clickhouseDatabase, [{
    principal: `file:${os.userInfo().username}`, via: 'file', action: 'admin.rules.reload', method: 'WATCH', route: settings.rulesPath, status,
    remote_addr: os.hostname(), detail,
  }]);
  const stopWatching = watchRulesFile({
    path: settings.rulesPath, publisher: rulesPublisher, partitions: settings.partitions, logger: logger.child({ module: 'rules' }),
    initialVersion, intervalMs: settings.rulesWatchMs, registry,
    // Rules with another bank calendar: the reporting views follow (a failure is logged and retried by the next reload or start).
    onPublished: async (rules) => {
      // The reload is an admin action: recorded in the access audit once published (docs/security.md).
      await auditRulesReload(200, `version=${rules.version} partitions=${settings.partitions}`);
      if (sameCalendar(rules, calendar)) return;
      const views = await migrateCalendarViews(warehouse, settings.clickhouseDatabase, rules);
      calendar = calendarOf(rules);
      logger.info({ version: rules.version, ...calendar, views }, 'reporting views re-created for the reloaded bank calendar');
    },
    // A refused file is an admin action that failed: 422 invalid (the error names file and line), 503 not published.
    onRefused: ({ reason, error }) => auditRulesReload(reason === 'invalid' ? 422 : 503, error),
  });
  stops.add('input', 'rules watcher', async () => { stopWatching(); rulesPublisher.close(); });
}

/** Starts the HTTP API (and the ISO 8583 listener): in this process, or in a cluster of ingest processes. */
async function startApi(stack: Stack, opts: StackOptions, stops: Stopper): Promise<void> {
  const { settings, logger } = opts;
  const readiness = async (): Promise<Record<string, boolean>> => (stack.scorer ? { scorer: !stack.scorer.degraded } : {});
  const workers = settings.ingestWorkers || opts.defaultIngestWorkers || 1;
  const host = settings.host === '0.0.0.0' ? '127.0.0.1' : settings.host;
  if (workers > 1) {
    const ingestCluster = await startIngestCluster({
      settings, natsUrl: stack.natsUrl, clickhouseUrl: stack.clickhouseUrl, natsCredentials: !stack.localNats, workers, iso8583: opts.iso8583 === true, logger, registry: stack.registry, readiness,
    });
    stack.ingestCluster = ingestCluster;
    stack.apiUrl = `http://${host}:${ingestCluster.port}`;
    if (ingestCluster.iso8583Port !== undefined) stack.iso8583Port = ingestCluster.iso8583Port;
    stops.add('input', 'ingest workers', (ms) => ingestCluster.stop(ms));
  } else {
    const role = await startIngestRole({ settings, nc: stack.nc, warehouse: stack.warehouse, registry: stack.registry, logger, iso8583: opts.iso8583 === true, readiness });
    stack.app = role.app;
    stack.apiUrl = `http://${host}:${role.port}`;
    if (role.iso8583Port !== undefined) stack.iso8583Port = role.iso8583Port;
    for (const s of [...role.stops].reverse()) stops.add('input', s.what, (ms) => s.run(ms));
  }
  logger.info({ url: stack.apiUrl, ...(stack.iso8583Port !== undefined ? { iso8583Port: stack.iso8583Port } : {}), workers }, 'HTTP API listening');
}

/** Starts the offer webhook sink: the triggers of `OFFERS`, signed, POSTed to `url`. */
async function startWebhook(nc: NatsConnection, url: string, secret: string, logger: Logger, stops: Stopper): Promise<void> {
  const { startWebhookSink } = await import('../sinks/mod.js');
  const webhook = await startWebhookSink({ nc, url, secret, logger: logger.child({ module: 'webhook' }) });
  stops.add('scorer', 'offer webhook sink', () => webhook.stop());
  logger.info({ url }, 'offer webhook sink started');
}

export async function loadDefaultChurn(settings: Settings, logger: Logger): Promise<ChurnScorer | undefined> {
  try {
    const { loadChurnScorer } = await import('../scorer/runtime/model/mod.js');
    return await loadChurnScorer(settings.modelPath, logger);
  } catch (err) {
    logger.warn({ err: (err as Error).message, model: settings.modelPath }, 'churn model not loaded: scores will be empty until a model is installed');
    return undefined;
  }
}

/** A start step that kept failing until its deadline (`VAFA_STARTUP_TIMEOUT_MS`); `cause` is its last failure. */
export class StartupTimeoutError extends Error {
  override readonly name = 'StartupTimeoutError';
}

/**
 * Retries `fn` with capped exponential back-off until it succeeds or `timeoutMs` passes; the wait is said in
 * the log when it starts and every 5 s (one failure episode), and its end once it succeeds. At the deadline
 * it throws {@link StartupTimeoutError} naming `what`, the wait and the last failure.
 */
export async function untilOk<T>(fn: () => Promise<T>, what: string, logger: Logger, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  const episode = new FailureEpisode(logger, what, { repeatMs: 5000 });
  let delay = 250;
  for (;;) {
    try {
      const value = await fn();
      episode.ok();
      return value;
    } catch (err) {
      if (Date.now() + delay > deadline) {
        throw new StartupTimeoutError(`${what} did not succeed within ${Math.round(timeoutMs / 1000)} s (VAFA_STARTUP_TIMEOUT_MS): ${errorSummary(err)}`, { cause: err });
      }
      episode.fail(err, { gives_up_in_s: Math.round((deadline - Date.now()) / 1000) });
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 5000);
    }
  }
}
