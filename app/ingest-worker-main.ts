/**
 * One ingest cluster worker (app/ingest-cluster.ts): waits for its settings from the primary, connects
 * to NATS and ClickHouse, runs the ingest inputs (app/ingest-role.ts) on the shared ports and stops
 * them when the primary says so, or when it is gone (the IPC channel closes), or on SIGTERM/SIGINT
 * (systemd and a terminal signal the whole group): in-flight requests are finished and answered first.
 */
import { connectNats, createLogger, type Logger, withDeadline } from '../platform/mod.js';
import { createWarehouseClient } from '../sinks/mod.js';
import { createRegistry, sharedRateLimitStore, type WindowCount, SharedSessions } from '../api/mod.js';
import { startIngestRole, type IngestRole } from './ingest-role.js';
import type { FromWorker, ToWorker, WorkerStart } from './ingest-cluster.js';

/** Most requests to the primary awaiting an answer; past it a request fails at once. */
const MAX_PENDING = 10_000;
const REQUEST_TIMEOUT_MS = 5000;
const ORPHAN_STOP_MS = 3000;

class PrimaryUnavailableError extends Error {
  override readonly name = 'PrimaryUnavailableError';
}

const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
let nextId = 0;

function tell(m: FromWorker): void {
  if (process.connected && process.send) process.send(m);
}

function ask<T>(m: (id: number) => FromWorker): Promise<T> {
  if (!process.connected) return Promise.reject(new PrimaryUnavailableError('the primary ingest process is gone'));
  if (pending.size >= MAX_PENDING) return Promise.reject(new PrimaryUnavailableError(`${MAX_PENDING} requests to the primary are already waiting`));
  const id = ++nextId;
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      pending.delete(id);
      reject(new PrimaryUnavailableError(`the primary did not answer within ${REQUEST_TIMEOUT_MS} ms`));
    }, REQUEST_TIMEOUT_MS);
    pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer });
    tell(m(id));
  });
}

let role: IngestRole | undefined;
let stopped: Promise<void> | undefined;
let closeClients: (() => Promise<void>) | undefined;
let log: Logger = createLogger({ level: 'info', name: 'ingest-worker' });

function stop(deadlineMs: number, why: string): Promise<void> {
  stopped ??= (async () => {
    log.info({ why }, 'ingest worker stopping');
    const deadline = Date.now() + deadlineMs;
    for (const s of role?.stops ?? []) {
      const left = Math.max(100, deadline - Date.now());
      await withDeadline(s.run(left), left, `stopping ${s.what}`).catch((err: Error) => log.warn({ err: err.message }, `error while stopping ${s.what}`));
    }
    await closeClients?.().catch(() => undefined);
    process.exit(0);
  })();
  return stopped;
}

async function begin(m: WorkerStart): Promise<void> {
  const { settings } = m;
  log = createLogger({ level: settings.logLevel, name: `ingest-${m.index}` });
  const nc = await connectNats(m.natsUrl, `vafa-ingest-${m.index}`, log, m.natsCredentials ? settings : undefined, { firstConnectMs: settings.startupTimeoutMs });
  const warehouse = createWarehouseClient({ url: m.clickhouseUrl, user: settings.clickhouseUser, password: settings.clickhousePassword, database: settings.clickhouseDatabase });
  closeClients = async () => {
    await withDeadline(nc.drain(), 1500, 'NATS drain').catch(() => nc.close());
    await warehouse.close();
  };
  const registry = createRegistry(() => ask<string>((id) => ({ t: 'metrics', id })));
  const sessions = new SharedSessions(settings.sessionTtlS * 1000, (event) => tell({ t: 'session', event }));
  role = await startIngestRole({
    settings, nc, warehouse, registry, logger: log, iso8583: m.iso8583Port !== undefined, port: m.port,
    ...(m.iso8583Port !== undefined ? { iso8583Port: m.iso8583Port } : {}),
    readiness: () => ask<Record<string, boolean>>((id) => ({ t: 'readiness', id })),
    sessions,
    rateLimitStore: sharedRateLimitStore((namespace, key, timeWindowMs) => ask<WindowCount>((id) => ({ t: 'rate', id, namespace, key, timeWindowMs }))),
  });
  tell({ t: 'ready', port: role.port, ...(role.iso8583Port !== undefined ? { iso8583Port: role.iso8583Port } : {}) });
  process.on('message', (msg: ToWorker) => {
    if (msg.t === 'collect') void registry.getMetricsAsJSON().then((metrics) => tell({ t: 'collected', id: msg.id, metrics }));
    else if (msg.t === 'session') sessions.apply(msg.event);
  });
}

process.on('message', (m: ToWorker) => {
  switch (m.t) {
    case 'start':
      begin(m).catch((err: Error) => {
        tell({ t: 'failed', error: err.message });
        void stop(1000, 'start failed');
      });
      break;
    case 'stop': void stop(m.deadlineMs, 'asked by the primary'); break;
    case 'reply': {
      const p = pending.get(m.id);
      if (!p) break;
      pending.delete(m.id);
      clearTimeout(p.timer);
      if (m.ok) p.resolve(m.value);
      else p.reject(new PrimaryUnavailableError(m.error));
      break;
    }
    default: break;
  }
});
process.on('disconnect', () => void stop(ORPHAN_STOP_MS, 'the primary is gone'));
tell({ t: 'listening' });
for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => void stop(ORPHAN_STOP_MS, signal));
