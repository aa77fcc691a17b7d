/**
 * The HTTP API (../shared/CONTRACT.md, "HTTP API"; the contract is beside the repository), built here
 * and listened on in app/ingest-role.ts, so tests drive
 * it with `app.inject()`. Write endpoints validate each item against the contract's schemas and answer
 * per item; reads come from ClickHouse.
 */
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import rateLimit, { type FastifyRateLimitStoreCtor } from '@fastify/rate-limit';
import { Type } from '@sinclair/typebox';
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import type { Registry } from 'prom-client';
import type { ClickHouseClient } from '@clickhouse/client';
import { CustomerProfileV1, FeedbackV1, RedemptionV1, TransactionV1, type StreamKind } from '../contracts/events.js';
import type { IngestService } from '../ingest/mod.js';
import type { Logger } from '../platform/mod.js';
import { ERRORS, errorBody, type ErrorCode } from './errors.js';
import { customerView, customerLedger } from './queries.js';
import { leaderboard } from '../sinks/mod.js';
import type { ApiMetrics } from './metrics.js';
import { hashKey, installAuth, KeyRing, Sessions, withDefaultScope, type RouteScope } from './auth.js';
import { AccessAudit, statementAuditEntries, type AuditEntry } from './audit.js';
import { clientAddress, registerAccessRoutes } from './access.js';
import type { ErasedOutsideWarehouse } from '../contracts/erasure.js';

export const MAX_ITEMS = 1000;

export interface AppDeps {
  ingest: IngestService;
  warehouse: ClickHouseClient;
  database: string;
  logger: Logger;
  metrics: ApiMetrics;
  registry: Registry;
  /** Keys holding every scope (`VAFA_API_KEYS`). */
  apiKeys: readonly string[];
  /** Scoped keys, sessions, the proxy header (docs/security.md). */
  auth?: AuthSettings;
  /** The address the API listens on, for the one line that says it is open. */
  host?: string;
  /** Requests per minute per API key (per client address without keys) on write endpoints; 0 = unlimited. */
  rateLimitPerMin?: number;
  /** Where the rate limits count; default this process (several ingest processes share one: api/rate-limit-store.ts). */
  rateLimitStore?: FastifyRateLimitStoreCtor;
  /** Dashboard sign-in sessions; default this process's own (several ingest processes share theirs: api/shared-sessions.ts). */
  sessions?: Sessions;
  /** Max body bytes. Default 10 MiB. */
  bodyLimit?: number;
  /** Extra readiness checks (the scorer in the all-in-one). */
  readiness?: () => Promise<Record<string, boolean>>;
  /**
   * Makes the scorer forget a customer before the warehouse erasure (`POST /v1/admin/erasures`): given by
   * the ingest role (scorer/runtime/erasure.ts over its NATS connection). Absent: the erasure says the
   * scorer state is left (`not_erased`).
   */
  forgetInScorer?: (customerId: string, erasureId: string) => Promise<ErasedOutsideWarehouse>;
  /** Registers the built-in dashboard (kept out of this file). */
  dashboard?: (app: FastifyInstance) => Promise<void>;
}

export interface AuthSettings {
  /** `VAFA_API_KEY_FILE`: hashed, scoped keys, re-read when it changes. */
  keyFile?: string | undefined;
  /** How often the key file is checked, ms. Default 2000. */
  keyFileWatchMs?: number;
  /** Dashboard session lifetime, s. Default 8 h. */
  sessionTtlS?: number;
  /** Trusted reverse-proxy user header (off when unset) and the proxy addresses it is believed from. */
  proxyUserHeader?: string | undefined;
  trustedProxies?: readonly string[];
  /** Access audit batching (tests shorten it). */
  auditFlushMs?: number;
}

function send(reply: FastifyReply, code: ErrorCode, extra: Record<string, unknown> = {}, message?: string): FastifyReply {
  return reply.code(ERRORS[code].status).send(errorBody(code, { request_id: reply.request.id, ...extra }, message));
}

/** NDJSON: one JSON value per line; a line that does not parse becomes a per-item error, not a 400 for all. */
export class NdjsonLineError {
  constructor(readonly line: number, readonly reason: string) {}
}

function parseNdjson(text: string): unknown[] {
  const items: unknown[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (!line) return;
    try {
      items.push(JSON.parse(line));
    } catch (err) {
      items.push(new NdjsonLineError(i + 1, (err as Error).message));
    }
  });
  return items;
}

const KINDS: { path: string; kind: StreamKind; schema: unknown; summary: string }[] = [
  { path: '/v1/transactions', kind: 'transaction', schema: TransactionV1, summary: 'Ingest transactions: one event, a JSON array (≤ 1,000) or NDJSON' },
  { path: '/v1/customers', kind: 'profile', schema: CustomerProfileV1, summary: 'Upsert customer profiles (card numbers are tokenized on arrival)' },
  { path: '/v1/feedback', kind: 'feedback', schema: FeedbackV1, summary: 'Ingest customer feedback: surveys, complaints, compliments, resolutions' },
  { path: '/v1/redemptions', kind: 'redemption', schema: RedemptionV1, summary: 'Redeem points; applied in stream order, refused when the balance is short' },
];

const ItemResultSchema = Type.Object({
  index: Type.Integer(),
  status: Type.Union([Type.Literal('accepted'), Type.Literal('duplicate'), Type.Literal('invalid'), Type.Literal('failed')]),
  id: Type.Optional(Type.String()),
  seq: Type.Optional(Type.Integer()),
  errors: Type.Optional(Type.Array(Type.Object({ field: Type.String(), message: Type.String() }))),
  error: Type.Optional(Type.String()),
});

/** Consent and membership statements of accepted profiles, into the access audit (api/audit.ts). */
function recordStatements(audit: AccessAudit, req: FastifyRequest, items: readonly unknown[], results: readonly { index: number; status: string }[], proxy: Parameters<typeof clientAddress>[1]): void {
  const request = {
    principal: req.principal?.id ?? '', via: req.principal?.via ?? 'none', method: req.method, route: req.routeOptions.url ?? '',
    remote_addr: clientAddress(req, proxy), user_agent: String(req.headers['user-agent'] ?? '').slice(0, 200), request_id: req.id,
  };
  for (const entry of statementAuditEntries(request, items, results)) audit.record(entry);
}

/** The request's access-audit row, if it is audited: its route's or handler's action, or a refusal. */
function auditEntryOf(req: FastifyRequest, status: number, proxy: Parameters<typeof clientAddress>[1]): AuditEntry | undefined {
  const action = req.auditAction ?? req.routeOptions.config?.audit ?? (status === 401 || status === 403 ? 'auth.denied' : undefined);
  const route = req.routeOptions.url;
  if (!action || route === undefined) return undefined;
  const params = req.params as { id?: unknown } | undefined;
  return {
    principal: req.principal?.id ?? '', via: req.principal?.via ?? 'none', action,
    customer_id: typeof params?.id === 'string' && route.startsWith('/v1/customers/') ? params.id : '',
    method: req.method, route, status, remote_addr: clientAddress(req, proxy),
    user_agent: String(req.headers['user-agent'] ?? '').slice(0, 200), request_id: req.id, detail: req.url.slice(0, 500),
  };
}

/**
 * Builds the HTTP API: authentication and the access audit, the ingest routes, the customer and
 * leaderboard reads, health, metrics, OpenAPI, the access routes and (when given) the built-in dashboard.
 * Not listening: the caller listens (app/ingest-role.ts) or injects requests (tests).
 */
export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const app = createFastify(deps);
  const access = await openAccess(app, deps);
  installRequestHandling(app, deps, access);
  await registerDocs(app);
  if (deps.rateLimitPerMin) await registerRateLimit(app, deps.rateLimitPerMin, deps.rateLimitStore);
  registerIngestRoutes(app, deps, access);
  registerReadRoutes(app, deps);
  registerHealthRoutes(app, deps);
  await registerAccessRoutes(app, { ...access, database: deps.database, warehouse: deps.warehouse, send, ...(deps.forgetInScorer ? { forgetInScorer: deps.forgetInScorer } : {}) });
  if (deps.dashboard) await deps.dashboard(app);
  return app;
}

/** Who may call and what is recorded: the keys, dashboard sessions, the trusted proxy and the access audit. */
interface Access {
  readonly keys: KeyRing;
  readonly sessions: Sessions;
  readonly audit: AccessAudit;
  readonly proxy: Parameters<typeof clientAddress>[1];
}

function createFastify(deps: AppDeps): FastifyInstance {
  return Fastify({
    loggerInstance: deps.logger as unknown as FastifyBaseLogger,
    bodyLimit: deps.bodyLimit ?? 10 * 1024 * 1024,
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && /^[\w.-]{1,64}$/.test(given) ? given : randomUUID();
    },
    requestIdHeader: false,
    logController: new LogController({ disableRequestLogging: true }),
  });
}

/** Opens the key ring, sessions and access audit, closes them with the app, and installs authentication. */
async function openAccess(app: FastifyInstance, deps: AppDeps): Promise<Access> {
  const keys = await KeyRing.open({ envKeys: deps.apiKeys, file: deps.auth?.keyFile, logger: deps.logger, ...(deps.auth?.keyFileWatchMs ? { watchMs: deps.auth.keyFileWatchMs } : {}) });
  const sessions = deps.sessions ?? new Sessions((deps.auth?.sessionTtlS ?? 8 * 3600) * 1000);
  const proxy = deps.auth?.proxyUserHeader ? { header: deps.auth.proxyUserHeader.toLowerCase(), trusted: deps.auth.trustedProxies ?? ['127.0.0.1', '::1'] } : undefined;
  const audit = new AccessAudit({ warehouse: deps.warehouse, database: deps.database, logger: deps.logger.child({ module: 'audit' }), registry: deps.registry, ...(deps.auth?.auditFlushMs ? { flushMs: deps.auth.auditFlushMs } : {}) });
  app.decorate('vafaAccess', { keys, sessions, audit });
  // A key file changed on disk is a key change like POST /v1/admin/keys/reload: audited at once, not batched.
  keys.onFileChange = (r) => void audit.recordDurably({
    principal: `file:${os.userInfo().username}`, via: 'file', action: 'admin.keys.reload', method: 'WATCH', route: deps.auth?.keyFile ?? '',
    status: r.ok ? 200 : 422, remote_addr: os.hostname(), detail: r.ok ? `keys=${r.keys}` : r.error.slice(0, 500),
  });
  app.addHook('onClose', async () => {
    keys.close();
    await audit.close();
  });
  installAuth(app, { keys, sessions, proxy }, (reply, status, detail) => send(reply, status === 401 ? 'VAFA_UNAUTHORIZED' : 'VAFA_FORBIDDEN', detail));
  if (!keys.enabled) {
    deps.logger.warn({ host: deps.host }, 'no API key configured (VAFA_API_KEYS, VAFA_API_KEY_FILE): every route, customer data included, is open to whoever reaches the API; keep HOST on loopback');
  }
  return { keys, sessions, audit, proxy };
}

/** NDJSON bodies, the request id header, audit rows and metrics of every answer, errors as the catalogue's. */
function installRequestHandling(app: FastifyInstance, deps: AppDeps, { audit, proxy }: Access): void {
  app.addContentTypeParser(['application/x-ndjson', 'application/jsonl', 'application/x-jsonlines'], { parseAs: 'string' }, (_req, body, done) => {
    done(null, parseNdjson(body as string));
  });
  // An admin action's audit row is in ClickHouse before its answer leaves (docs/security.md, Access audit).
  const writtenBeforeAnswer = new WeakSet<FastifyRequest>();
  app.addHook('onSend', async (req, reply) => {
    reply.header('x-request-id', req.id);
    const entry = auditEntryOf(req, reply.statusCode, proxy);
    if (!entry?.action.startsWith('admin.') || writtenBeforeAnswer.has(req)) return;
    writtenBeforeAnswer.add(req);
    if (!(await audit.recordDurably(entry))) reply.header('x-vafa-audit', 'pending');
  });
  app.addHook('onResponse', async (req, reply) => {
    deps.metrics.httpDuration.labels(req.routeOptions.url ?? 'unknown', req.method, String(reply.statusCode)).observe(reply.elapsedTime / 1000);
    if (reply.statusCode >= 500) req.log.warn({ url: req.url, status: reply.statusCode }, 'request failed');
    const entry = writtenBeforeAnswer.has(req) ? undefined : auditEntryOf(req, reply.statusCode, proxy);
    if (entry) audit.record(entry);
  });
  app.setErrorHandler((err: Error & { statusCode?: number; code?: string }, req, reply) => {
    if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return send(reply, 'VAFA_BODY_TOO_LARGE');
    if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return send(reply, 'VAFA_UNSUPPORTED_MEDIA_TYPE');
    if (err.statusCode === 429) return send(reply, 'VAFA_RATE_LIMITED', { retry_after_s: Number(reply.getHeader('retry-after') ?? 60) });
    if (err.statusCode === 400 || err.code === 'FST_ERR_CTP_EMPTY_JSON_BODY') return send(reply, 'VAFA_BAD_BODY', {}, `${ERRORS.VAFA_BAD_BODY.message} ${err.message}`);
    req.log.error({ err }, 'unhandled error');
    return send(reply, 'VAFA_INTERNAL');
  });
  app.setNotFoundHandler((_req, reply) => send(reply, 'VAFA_NOT_FOUND'));
}

/** OpenAPI, and its UI at /docs (public). */
async function registerDocs(app: FastifyInstance): Promise<void> {
  await app.register(swagger, {
    openapi: {
      info: { title: 'vafa API', version: '1', description: 'Real-time transaction scoring: ingest, customer state, health. See CONTRACT.md.' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    },
  });
  await withDefaultScope(app, () => 'public', async (sub) => {
    await sub.register(swaggerUi, { routePrefix: '/docs' });
  });
}

/** The rate limit of write routes (each opts in): per API key, or per client address without one. */
async function registerRateLimit(app: FastifyInstance, perMin: number, store: FastifyRateLimitStoreCtor | undefined): Promise<void> {
  await app.register(rateLimit, {
    global: false,
    ...(store ? { store } : {}),
    max: perMin,
    timeWindow: 60_000,
    keyGenerator: (req) => {
      const auth = req.headers.authorization ?? '';
      return auth.startsWith('Bearer ') ? `key:${hashKey(auth.slice(7).trim()).slice(7, 23)}` : `ip:${req.ip}`;
    },
    errorResponseBuilder: (_req, ctx) => Object.assign(new Error(ERRORS.VAFA_RATE_LIMITED.message), { statusCode: ctx.statusCode }),
  });
}

function scoped(scope: RouteScope, audit?: string): { scope: RouteScope; audit?: string } {
  return audit ? { scope, audit } : { scope };
}

/** POST /v1/transactions, /v1/customers, /v1/feedback, /v1/redemptions. */
function registerIngestRoutes(app: FastifyInstance, deps: AppDeps, access: Access): void {
  for (const k of KINDS) {
    app.post(k.path, {
      schema: {
        summary: k.summary,
        tags: ['ingest'],
        security: [{ bearer: [] }],
        body: Type.Union([k.schema as never, Type.Array(k.schema as never, { maxItems: MAX_ITEMS })]),
        response: { 202: Type.Object({ accepted: Type.Integer(), duplicates: Type.Integer(), results: Type.Array(ItemResultSchema) }) },
      },
      // Items are validated one by one (ingest/validation.ts) so a bad item is reported by index
      // while the good ones of the same batch go through; the schema above documents the shape.
      validatorCompiler: () => () => true,
      serializerCompiler: () => (data) => JSON.stringify(data),
      config: { ...scoped('ingest'), ...(deps.rateLimitPerMin ? { rateLimit: { max: deps.rateLimitPerMin, timeWindow: 60_000 } } : {}) },
    }, async (req, reply) => await ingestItems(deps, access, k.kind, req, reply));
  }
}

/** One ingest request: the items of its body ingested one by one, answered per item. */
async function ingestItems(deps: AppDeps, { audit, proxy }: Access, kind: StreamKind, req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
  const body = req.body as unknown;
  if (body === undefined || body === null || (typeof body !== 'object')) return send(reply, 'VAFA_BAD_BODY');
  const items = Array.isArray(body) ? body : [body];
  if (items.length === 0) return send(reply, 'VAFA_BAD_BODY', {}, 'The request holds no items.');
  if (items.length > MAX_ITEMS) return send(reply, 'VAFA_BATCH_TOO_LARGE', { items: items.length, max_items: MAX_ITEMS });
  const lineErrors = new Map<number, NdjsonLineError>();
  const toIngest = items.map((it, i) => {
    if (it instanceof NdjsonLineError) {
      lineErrors.set(i, it);
      return undefined;
    }
    return it;
  });
  const outcome = await deps.ingest.ingest(kind, toIngest);
  if (kind === 'profile') recordStatements(audit, req, toIngest, outcome.results, proxy);
  for (const [i, le] of lineErrors) {
    outcome.results[i] = { index: i, status: 'invalid', errors: [{ field: `(line ${le.line})`, message: `invalid JSON: ${le.reason}` }] };
  }
  const invalid = outcome.results.filter((r) => r.status === 'invalid').length;
  // One increment a status, not one an item: a label lookup costs ~0.4 µs (prom-client), 500 of them a full batch.
  const byStatus = [['accepted', outcome.accepted], ['duplicate', outcome.duplicates], ['invalid', invalid], ['failed', outcome.failed]] as const;
  for (const [status, n] of byStatus) if (n > 0) deps.metrics.ingestItems.labels(kind, status, 'http').inc(n);
  const summary = { accepted: outcome.accepted, duplicates: outcome.duplicates, invalid, failed: outcome.failed, results: outcome.results };
  if (outcome.unavailable) {
    reply.header('retry-after', '2');
    return send(reply, 'VAFA_JETSTREAM_UNAVAILABLE', summary);
  }
  if (invalid > 0) {
    const valid = outcome.accepted + outcome.duplicates;
    return send(reply, 'VAFA_INVALID_ITEMS', summary, `${invalid} of ${items.length} items are invalid${valid ? `; the ${valid} valid ones were accepted` : ''}. See results[].errors.`);
  }
  if (outcome.failed > 0) return send(reply, 'VAFA_INTERNAL', summary);
  return reply.code(202).send({ accepted: outcome.accepted, duplicates: outcome.duplicates, results: outcome.results });
}

/** GET /v1/customers/:id, /v1/customers/:id/ledger and /v1/leaderboard, read from the warehouse. */
function registerReadRoutes(app: FastifyInstance, deps: AppDeps): void {
  const IdParam = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) });
  app.get('/v1/customers/:id', { config: scoped('read', 'customer.view'), schema: { tags: ['customers'], security: [{ bearer: [] }], params: IdParam, summary: 'Customer state: points, tier, churn probability, lifecycle stage, features, recent offers' } }, async (req, reply) => {
    const { id } = req.params as { id: string };
    try {
      const view = await customerView(deps.warehouse, deps.database, id);
      if (!view) return send(reply, 'VAFA_NOT_FOUND', {}, `No customer ${id} has been scored yet.`);
      return view;
    } catch (err) {
      req.log.warn({ err: (err as Error).message }, 'warehouse query failed');
      return send(reply, 'VAFA_WAREHOUSE_UNAVAILABLE');
    }
  });
  app.get('/v1/customers/:id/ledger', { config: scoped('read', 'customer.ledger'), schema: { tags: ['customers'], security: [{ bearer: [] }], params: IdParam, querystring: Type.Object({ limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })) }), summary: 'The points ledger, newest first' } }, async (req, reply) => {
    const { id } = req.params as { id: string };
    const { limit } = req.query as { limit?: number };
    try {
      return { customer_id: id, entries: await customerLedger(deps.warehouse, deps.database, id, limit ?? 100) };
    } catch (err) {
      req.log.warn({ err: (err as Error).message }, 'warehouse query failed');
      return send(reply, 'VAFA_WAREHOUSE_UNAVAILABLE');
    }
  });
  app.get('/v1/leaderboard', {
    config: scoped('read', 'leaderboard.view'),
    schema: {
      tags: ['loyalty'], security: [{ bearer: [] }], summary: 'Top earners of a period, bank-wide or for one branch (points earned net of reversals, bank-local periods)',
      querystring: Type.Object({
        period: Type.Union([Type.Literal('day'), Type.Literal('week'), Type.Literal('month')], { default: 'month' }),
        branch: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
        limit: Type.Integer({ minimum: 1, maximum: 1000, default: 10 }),
        at: Type.Optional(Type.String({ format: 'date-time', description: 'any instant in the wanted period; default now' })),
      }),
    },
  }, async (req, reply) => {
    const q = req.query as { period: 'day' | 'week' | 'month'; branch?: string; limit: number; at?: string };
    try {
      return await leaderboard(deps.warehouse, deps.database, { period: q.period, limit: q.limit, ...(q.branch ? { branch: q.branch } : {}), ...(q.at ? { at: Date.parse(q.at) } : {}) });
    } catch (err) {
      req.log.warn({ err: (err as Error).message }, 'warehouse query failed');
      return send(reply, 'VAFA_WAREHOUSE_UNAVAILABLE');
    }
  });
}

/** GET /healthz, /readyz (NATS, ClickHouse, and the extra checks) and /metrics. */
function registerHealthRoutes(app: FastifyInstance, deps: AppDeps): void {
  app.get('/healthz', { config: scoped('public'), schema: { hide: true } }, async () => ({ status: 'ok' }));
  app.get('/readyz', { config: scoped('public'), schema: { hide: true } }, async (_req, reply) => {
    const checks: Record<string, boolean> = { nats: deps.ingest.available };
    checks.clickhouse = await deps.warehouse.ping().then((r) => r.success, () => false);
    if (deps.readiness) Object.assign(checks, await deps.readiness());
    const ready = Object.values(checks).every(Boolean);
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not ready', checks });
  });
  app.get('/metrics', { config: scoped('admin'), schema: { hide: true } }, async (_req, reply) => {
    reply.header('content-type', deps.registry.contentType);
    return await deps.registry.metrics();
  });
}
