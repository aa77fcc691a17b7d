/**
 * Every route of the API declares its scope (api/auth.ts), and each scope lets through what docs/security.md
 * says and nothing else. Built with `app.inject()` on stubs: no engine is reached (the warehouse client
 * points at a closed port, so an allowed read answers 503, a refused one 401/403).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../api/app.js';
import { ROUTE_SCOPES, keyFileLine, routeTable, type Scope } from '../../api/auth.js';
import { apiMetrics, createRegistry } from '../../api/metrics.js';
import { registerDashboard } from '../../dashboards/builtin/routes.js';
import { createWarehouseClient } from '../../sinks/clickhouse/client.js';
import { createLogger } from '../../platform/log.js';
import type { IngestService } from '../../ingest/service.js';

const ALL_KEY = 'all-scopes-key-000000000001';
const KEYS: Record<string, { key: string; scopes: Scope[] }> = {
  switch: { key: 'switch-key-0000000000000001', scopes: ['ingest'] },
  analyst: { key: 'analyst-key-000000000000001', scopes: ['read'] },
  operator: { key: 'operator-key-00000000000001', scopes: ['admin'] },
};

const ingestStub = {
  available: true,
  ingest: async (_kind: string, items: unknown[]) => ({
    accepted: items.length, duplicates: 0, failed: 0, unavailable: false, results: items.map((_, index) => ({ index, status: 'accepted', id: `x${index}`, seq: index + 1 })),
  }),
} as unknown as IngestService;

async function makeApp(opts: { apiKeys?: string[]; keyFile?: string; log?: string[]; proxyUserHeader?: string } = {}): Promise<FastifyInstance> {
  const registry = createRegistry();
  const warehouse = createWarehouseClient({ url: 'http://127.0.0.1:9', user: 'default', password: '', database: 'vafa' }, { requestTimeoutMs: 2000 });
  const app = await buildApp({
    ingest: ingestStub, warehouse, database: 'vafa', registry, metrics: apiMetrics(registry), host: '127.0.0.1',
    logger: opts.log ? createLogger({ level: 'info', format: 'json', destination: new Writable({ write(c, _e, cb) { opts.log!.push(String(c)); cb(); } }) }) : createLogger({ level: 'silent' }),
    apiKeys: opts.apiKeys ?? [], auth: { keyFile: opts.keyFile, auditFlushMs: 60_000, proxyUserHeader: opts.proxyUserHeader, trustedProxies: ['10.9.0.1'] },
    dashboard: (a) => registerDashboard(a, { warehouse, database: 'vafa' }),
  });
  app.addHook('onClose', async () => warehouse.close());
  return app;
}

let dir: string;
let keyFile: string;
let app: FastifyInstance;
beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'vafa-scopes-'));
  keyFile = path.join(dir, 'keys');
  writeFileSync(keyFile, `# test keys\n${Object.entries(KEYS).map(([id, k]) => keyFileLine(id, k.scopes, k.key)).join('\n')}\n`);
  app = await makeApp({ apiKeys: [ALL_KEY], keyFile });
  await app.ready();
});
afterAll(async () => {
  await app?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** What each kind of caller may do; `public` routes answer anyone. */
const EXPECTED: Record<string, string> = {
  'POST /v1/transactions': 'ingest', 'POST /v1/customers': 'ingest', 'POST /v1/feedback': 'ingest', 'POST /v1/redemptions': 'ingest',
  'GET /v1/customers/:id': 'read', 'GET /v1/customers/:id/ledger': 'read', 'GET /v1/leaderboard': 'read',
  'GET /': 'read', 'GET /index.html': 'read', 'GET /api/dashboard': 'read', 'GET /api/dashboard/:uid': 'read', 'GET /api/dashboard/:uid/variables': 'read', 'GET /api/session': 'read',
  'GET /api/admin/dashboard/:uid': 'admin', 'GET /api/admin/dashboard/:uid/variables': 'admin',
  'GET /metrics': 'admin', 'GET /v1/admin/keys': 'admin', 'POST /v1/admin/keys/reload': 'admin', 'GET /v1/admin/audit': 'admin',
  'GET /healthz': 'public', 'GET /readyz': 'public', 'GET /login': 'public', 'POST /login': 'public', 'POST /logout': 'public',
  'GET /app.js': 'public', 'GET /style.css': 'public', 'GET /vendor/echarts.min.js': 'public', 'GET /docs/json': 'public',
};

describe('route scopes', () => {
  it('every registered route declares a scope, and the known ones the expected scope', () => {
    const routes = routeTable(app);
    if (process.env.ROUTES_DEBUG) console.log(routes.map((r) => `${r.method} ${r.url} ${r.scope}`).join('\n'));
    expect(routes.length).toBeGreaterThan(25);
    const missing = routes.filter((r) => !r.scope || !ROUTE_SCOPES.includes(r.scope)).map((r) => `${r.method} ${r.url}`);
    expect(missing, 'routes without a scope').toEqual([]);
    const byRoute = new Map(routes.map((r) => [`${r.method} ${r.url}`, r.scope]));
    for (const [route, scope] of Object.entries(EXPECTED)) expect(byRoute.get(route), route).toBe(scope);
    // Nothing that reads customer data is public.
    for (const r of routes) if (/customers|leaderboard|dashboard|admin|metrics/.test(r.url) && r.method !== 'HEAD') expect(r.scope, `${r.method} ${r.url}`).not.toBe('public');
  });

  it('a route added without a scope is listed as such and refused at request time', async () => {
    const extra = await makeApp();
    extra.get('/v1/forgotten', async () => ({ secret: true }));
    await extra.ready();
    try {
      expect(routeTable(extra).find((r) => r.url === '/v1/forgotten')?.scope).toBeUndefined();
      const r = await extra.inject({ url: '/v1/forgotten' });
      expect(r.statusCode).toBe(403);
      expect(r.json().error).toBe('VAFA_FORBIDDEN');
    } finally {
      await extra.close();
    }
  });

  it('each key reaches the routes of its scopes only', async () => {
    const tx = { tx_id: 'T1', customer_id: 'C1', channel: 'pos', amount_minor: 1, currency: 'IRR', occurred_at: '2026-01-01T00:00:00Z' };
    const calls: { name: string; method: 'GET' | 'POST'; url: string; scope: Scope | 'public'; body?: unknown }[] = [
      { name: 'ingest', method: 'POST', url: '/v1/transactions', scope: 'ingest', body: tx },
      { name: 'customer', method: 'GET', url: '/v1/customers/C1', scope: 'read' },
      { name: 'ledger', method: 'GET', url: '/v1/customers/C1/ledger', scope: 'read' },
      { name: 'leaderboard', method: 'GET', url: '/v1/leaderboard', scope: 'read' },
      { name: 'dashboard meta', method: 'GET', url: '/api/dashboard', scope: 'read' },
      { name: 'page', method: 'GET', url: '/', scope: 'read' },
      { name: 'audit dashboard', method: 'GET', url: '/api/admin/dashboard/vafa-access-audit/variables', scope: 'admin' },
      { name: 'metrics', method: 'GET', url: '/metrics', scope: 'admin' },
      { name: 'keys', method: 'GET', url: '/v1/admin/keys', scope: 'admin' },
      { name: 'health', method: 'GET', url: '/healthz', scope: 'public' },
    ];
    const callers: Record<string, { auth?: string; scopes: (Scope | 'public')[] }> = {
      nobody: { scopes: ['public'] },
      wrong: { auth: 'not-a-key-not-a-key', scopes: ['public'] },
      all: { auth: ALL_KEY, scopes: ['public', 'ingest', 'read', 'admin'] },
      ...Object.fromEntries(Object.values(KEYS).map((k, i) => [Object.keys(KEYS)[i]!, { auth: k.key, scopes: ['public', ...k.scopes] }])),
    };
    const got: string[] = [];
    const want: string[] = [];
    for (const [who, c] of Object.entries(callers)) {
      for (const call of calls) {
        const r = await app.inject({
          method: call.method, url: call.url, headers: { ...(c.auth ? { authorization: `Bearer ${c.auth}` } : {}), ...(call.body ? { 'content-type': 'application/json' } : {}) },
          ...(call.body ? { payload: JSON.stringify(call.body) } : {}),
        });
        const allowed = c.scopes.includes(call.scope);
        got.push(`${who} ${call.name}: ${r.statusCode === 401 ? '401' : r.statusCode === 403 ? '403' : 'allowed'}`);
        want.push(`${who} ${call.name}: ${allowed ? 'allowed' : c.auth && who !== 'wrong' ? '403' : '401'}`);
        if (r.statusCode === 403) expect(r.json().required_scope).toBe(call.scope);
        if (r.statusCode === 401) expect(r.headers['www-authenticate']).toMatch(/Bearer/);
      }
    }
    expect(got).toEqual(want);
    // an unknown route is not found, whoever asks (no credential needed to learn that)
    expect((await app.inject({ url: '/v1/nope' })).statusCode).toBe(404);
  });

  it('a browser without a session asking for the page is sent to the sign-in page', async () => {
    const r = await app.inject({ url: '/', headers: { accept: 'text/html,application/xhtml+xml' } });
    expect(r.statusCode).toBe(303);
    expect(r.headers.location).toBe('/login?next=%2F');
    const login = await app.inject({ url: '/login' });
    expect(login.statusCode).toBe(200);
    expect(login.body).toContain('name="key"');
  });

  it('believes the proxy user header from a trusted proxy only, with the read scope', async () => {
    const proxied = await makeApp({ apiKeys: [ALL_KEY], proxyUserHeader: 'X-Forwarded-User' });
    try {
      const h = { 'x-forwarded-user': 'alice@bank', 'x-forwarded-for': '192.168.7.20' };
      const fromProxy = await proxied.inject({ url: '/api/session', headers: h, remoteAddress: '10.9.0.1' });
      expect(fromProxy.statusCode).toBe(200);
      expect(fromProxy.json()).toMatchObject({ id: 'proxy:alice@bank', via: 'proxy', scopes: ['read'] });
      expect((await proxied.inject({ url: '/v1/admin/keys', headers: h, remoteAddress: '10.9.0.1' })).statusCode).toBe(403);
      expect((await proxied.inject({ url: '/api/session', headers: h, remoteAddress: '10.9.0.2' })).statusCode).toBe(401);
      expect((await proxied.inject({ url: '/api/session', headers: { 'x-forwarded-user': 'bad user!' }, remoteAddress: '10.9.0.1' })).statusCode).toBe(401);
      const { audit } = proxied.vafaAccess;
      await proxied.inject({ url: '/v1/customers/C9', headers: h, remoteAddress: '10.9.0.1' });
      const rows = (audit as unknown as { buffer: { principal: string; remote_addr: string; customer_id: string }[] }).buffer.filter((r) => r.customer_id === 'C9');
      expect(rows.map((r) => [r.principal, r.remote_addr])).toEqual([['proxy:alice@bank', '192.168.7.20']]);
    } finally {
      await proxied.close();
    }
    // without the setting the header means nothing
    expect((await app.inject({ url: '/api/session', headers: { 'x-forwarded-user': 'alice' }, remoteAddress: '127.0.0.1' })).statusCode).toBe(401);
  });

  it('without any key configured every route is open, and the API says so once at start', async () => {
    const log: string[] = [];
    const open = await makeApp({ log });
    try {
      await open.ready();
      for (let i = 0; i < 3; i++) await open.inject({ url: '/healthz' });
      const said = log.filter((l) => /no API key configured/.test(l));
      expect(said).toHaveLength(1);
      expect(JSON.parse(said[0]!)).toMatchObject({ level: 'warn', host: '127.0.0.1' });
      const keyed: string[] = [];
      await (await makeApp({ apiKeys: [ALL_KEY], log: keyed })).close();
      expect(keyed.filter((l) => /no API key configured/.test(l))).toEqual([]);
      for (const url of ['/v1/admin/keys', '/api/dashboard', '/metrics']) expect((await open.inject({ url })).statusCode, url).toBe(200);
      expect((await open.inject({ url: '/api/session' })).json()).toMatchObject({ id: 'anonymous', via: 'open', auth: false });
    } finally {
      await open.close();
    }
  });
});
