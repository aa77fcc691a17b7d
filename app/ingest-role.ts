/**
 * The ingest inputs of one process: the HTTP API (with the built-in dashboard) and, when asked, the ISO
 * 8583 listener, both over one ingest service and publisher. `app/stack.ts` runs it in the vafa
 * process; each worker of an ingest cluster (app/ingest-cluster.ts) runs it in its own.
 */
import { scorerEraser } from '../scorer/runtime/mod.js';
import { createHash } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Registry } from 'prom-client';
import type { Settings } from '../config/mod.js';
import { Publisher, type Logger } from '../platform/mod.js';
import type { ClickHouseClient } from '../sinks/mod.js';
import { IngestService, NatsCardDirectory } from '../ingest/mod.js';
import { STREAM_DLQ, STREAM_TX, dlqSubject } from '../contracts/subjects.js';
import { buildApp, type AppDeps, apiMetrics } from '../api/mod.js';
import { registerDashboard } from '../dashboards/mod.js';

export interface IngestRoleOptions {
  settings: Settings;
  nc: NatsConnection;
  warehouse: ClickHouseClient;
  registry: Registry;
  logger: Logger;
  /** Also run the ISO 8583 listener. */
  iso8583: boolean;
  /** Ports to listen on; default the settings' (`PORT`, `ISO8583_PORT`). */
  port?: number;
  iso8583Port?: number;
  readiness?: AppDeps['readiness'];
  rateLimitStore?: AppDeps['rateLimitStore'];
  sessions?: AppDeps['sessions'];
}

export interface IngestRole {
  app: FastifyInstance;
  /** The port the API listens on and the ISO 8583 listener's, when it runs. */
  port: number;
  iso8583Port?: number;
  /** What stops the inputs, in the order to run them (the listener, then the API: each finishes its in-flight requests). */
  stops: { what: string; run(deadlineMs: number): Promise<void> }[];
}

export async function startIngestRole(o: IngestRoleOptions): Promise<IngestRole> {
  const { settings, nc, warehouse, registry, logger } = o;
  const publisher = new Publisher(nc, { expectStream: STREAM_TX });
  const cards = await NatsCardDirectory.open(nc, settings.streamReplicas);
  const ingest = new IngestService({ publisher, partitions: settings.partitions, tokenKey: settings.tokenKey, cards });
  const app = await buildApp({
    ingest, warehouse, database: settings.clickhouseDatabase, logger: logger.child({ module: 'api' }), registry,
    metrics: apiMetrics(registry), apiKeys: settings.apiKeys, rateLimitPerMin: settings.rateLimitPerMin, host: settings.host,
    auth: { keyFile: settings.apiKeyFile, sessionTtlS: settings.sessionTtlS, proxyUserHeader: settings.proxyUserHeader, trustedProxies: settings.trustedProxies },
    ...(o.readiness ? { readiness: o.readiness } : {}),
    ...(o.rateLimitStore ? { rateLimitStore: o.rateLimitStore } : {}),
    ...(o.sessions ? { sessions: o.sessions } : {}),
    dashboard: (a) => registerDashboard(a, { warehouse, database: settings.clickhouseDatabase }),
    forgetInScorer: scorerEraser(nc, settings.partitions, { logger: logger.child({ module: 'erasure' }) }),
  });
  const stops: IngestRole['stops'] = [];
  try {
    await app.listen({ port: o.port ?? settings.port, host: settings.host });
    const addr = app.server.address();
    const port = typeof addr === 'object' && addr ? addr.port : (o.port ?? settings.port);
    stops.push({ what: 'HTTP API', run: () => app.close() });
    const role: IngestRole = { app, port, stops };
    if (o.iso8583) {
      const { startIso8583Listener, loadSpecFile, NatsCompletionIds } = await import('../ingest/iso8583/mod.js');
      const spec = settings.iso8583Spec ? await loadSpecFile(settings.iso8583Spec) : undefined;
      const completions = await NatsCompletionIds.open(nc, settings.streamReplicas);
      const dlqPublisher = new Publisher(nc, { expectStream: STREAM_DLQ });
      const listener = await startIso8583Listener({
        port: o.iso8583Port ?? settings.iso8583Port, host: settings.host, ingest, cards, completions, tokenKey: settings.tokenKey, logger: logger.child({ module: 'iso8583' }),
        registry, ...(spec ? { spec: spec.spec, options: spec.options, tables: spec.tables } : {}),
        dlq: async (reason, detail, raw) => {
          const [r] = await dlqPublisher.publishAll([{
            subject: dlqSubject('iso8583', reason), msgId: `dlq:iso8583:${createHash('sha256').update(raw).digest('hex').slice(0, 32)}`, data: raw,
            headers: { 'Vafa-Reason': reason, 'Vafa-Detail': JSON.stringify(detail).slice(0, 1000), 'Vafa-Source-Stream': 'iso8583' },
          }]);
          if (!r?.ok) throw new Error(`DLQ publish failed: ${r && !r.ok ? r.error : 'unknown'}`);
        },
      });
      role.iso8583Port = listener.port;
      stops.unshift({ what: 'ISO 8583 listener', run: () => listener.close() });
    }
    return role;
  } catch (err) {
    for (const s of stops) await s.run(1000).catch(() => undefined);
    await app.close().catch(() => undefined);
    throw err;
  }
}
