/**
 * Routes of access itself: the dashboard sign-in (`GET/POST /login`, `POST /logout`, `GET /api/session`)
 * and the admin API (`/v1/admin/keys`, `/v1/admin/keys/reload`, `/v1/admin/audit`, `/v1/admin/erasures`). See docs/security.md.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { ClickHouseClient } from '@clickhouse/client';
import { cookieValue, fromTrustedProxy, SESSION_COOKIE, type KeyRing, type ProxyAuth, type Sessions } from './auth.js';
import type { AccessAudit } from './audit.js';
import type { ErrorCode } from './errors.js';
import { registerErasureRoutes } from './erasure.js';
import type { ErasedOutsideWarehouse } from '../contracts/erasure.js';

declare module 'fastify' {
  interface FastifyInstance {
    vafaAccess: { keys: KeyRing; sessions: Sessions; audit: AccessAudit };
  }
}

export interface AccessRouteDeps {
  keys: KeyRing;
  sessions: Sessions;
  audit: AccessAudit;
  proxy: ProxyAuth | undefined;
  warehouse: ClickHouseClient;
  database: string;
  send: (reply: FastifyReply, code: ErrorCode, extra?: Record<string, unknown>, message?: string) => FastifyReply;
  /** Makes the scorer forget a customer before the warehouse erasure (AppDeps.forgetInScorer). */
  forgetInScorer?: (customerId: string, erasureId: string) => Promise<ErasedOutsideWarehouse>;
}

/** Where the request came from: the socket's address, or the first forwarded one from the trusted proxy. */
export function clientAddress(req: FastifyRequest, proxy: ProxyAuth | undefined): string {
  const socket = (req.socket.remoteAddress ?? '').replace(/^::ffff:/, '');
  const fwd = req.headers['x-forwarded-for'];
  if (typeof fwd === 'string' && fromTrustedProxy(req, proxy)) {
    const [first = ''] = fwd.split(',');
    return first.trim().slice(0, 64) || socket;
  }
  return socket;
}

const escapeHtml = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const INVALID = 'That key is not valid.';
const MESSAGES: Record<string, string> = {
  invalid: INVALID,
  scope: 'That key has no read scope: the dashboard needs one.',
  expired: 'Your session ended; sign in again.',
};

function loginPage(error: string | undefined, next: string): string {
  const msg = error ? MESSAGES[error] ?? INVALID : '';
  return `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>vafa · sign in</title>
  <link rel="icon" href="data:,">
  <link rel="stylesheet" href="/style.css">
</head>
<body class="signin">
  <header><div class="brand">vafa</div></header>
  <main>
    <form id="signin" class="lookup signin-form" method="post" action="/login">
      <h1>Sign in</h1>
      <p>Paste an API key with the <code>read</code> scope. It is checked once; the browser keeps only a session cookie.</p>
      <label for="key">API key</label>
      <input id="key" name="key" type="password" autocomplete="off" required>
      <input type="hidden" name="next" value="${escapeHtml(next)}">
      <button type="submit">Sign in</button>
      ${msg ? `<p id="signin-error" class="error" role="alert">${escapeHtml(msg)}</p>` : ''}
    </form>
  </main>
</body>
</html>
`;
}

/** Only a local path may follow a sign-in (no open redirect). */
const safeNext = (next: unknown): string => (typeof next === 'string' && /^\/(?![/\\])[^\s]*$/.test(next) && !next.startsWith('/login') ? next : '/');

/**
 * The access routes: dashboard sign-in and sign-out, the caller's session, the admin API over the keys
 * and the access audit, and the erasures (api/erasure.ts).
 */
export async function registerAccessRoutes(app: FastifyInstance, deps: AccessRouteDeps): Promise<void> {
  await app.register(async (sub) => registerSignIn(sub, deps));
  app.get('/api/session', { config: { scope: 'read' }, schema: { hide: true } }, async (req) => ({
    id: req.principal?.id ?? 'anonymous', via: req.principal?.via ?? 'open', scopes: [...(req.principal?.scopes ?? [])], auth: deps.keys.enabled,
  }));
  registerKeyRoutes(app, deps);
  registerAuditRoute(app, deps);
  registerErasureRoutes(app, { warehouse: deps.warehouse, database: deps.database, audit: deps.audit, clientAddress: (req) => clientAddress(req, deps.proxy), send: deps.send, ...(deps.forgetInScorer ? { forgetInScorer: deps.forgetInScorer } : {}) });
}

/** `; Secure` on a cookie sent over HTTPS (directly, or behind the trusted proxy). */
function secureFlag(req: FastifyRequest, proxy: ProxyAuth | undefined): string {
  return req.protocol === 'https' || (fromTrustedProxy(req, proxy) && req.headers['x-forwarded-proto'] === 'https') ? '; Secure' : '';
}

/** GET and POST /login, POST /logout, in their own scope: only they accept the sign-in form's body. */
function registerSignIn(sub: FastifyInstance, deps: AccessRouteDeps): void {
  const { sessions } = deps;
  // The sign-in form posts application/x-www-form-urlencoded; only these routes accept it.
  sub.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 4096 }, (_req, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(body as string)));
  });

  sub.get('/login', { config: { scope: 'public' }, schema: { hide: true } }, async (req, reply) => {
    const q = req.query as { error?: string; next?: string };
    return reply.type('text/html; charset=utf-8').header('cache-control', 'no-store').send(loginPage(q.error, safeNext(q.next)));
  });

  sub.post('/login', {
    config: { scope: 'public' }, bodyLimit: 4096,
    schema: { tags: ['access'], summary: 'Dashboard sign-in: a key with the read scope in, an HttpOnly SameSite=Strict session cookie out' },
  }, async (req, reply) => await signIn(deps, req, reply));

  sub.post('/logout', { config: { scope: 'public', audit: 'auth.logout' }, schema: { tags: ['access'], summary: 'Ends the dashboard session' } }, async (req, reply) => {
    const token = cookieValue(req, SESSION_COOKIE);
    if (token) sessions.delete(token);
    reply.header('set-cookie', `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0${secureFlag(req, deps.proxy)}`);
    if (req.headers['content-type']?.startsWith('application/x-www-form-urlencoded')) return reply.redirect('/login', 303);
    return reply.code(204).send();
  });
}

/** POST /login: a key with the `read` scope opens a session (cookie); a form is redirected, JSON answered. */
async function signIn(deps: AccessRouteDeps, req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
  const { keys, sessions, send } = deps;
  const form = req.headers['content-type']?.startsWith('application/x-www-form-urlencoded') ?? false;
  const body = (req.body ?? {}) as { key?: unknown; next?: unknown };
  const next = safeNext(body.next);
  const cred = typeof body.key === 'string' ? keys.lookup(body.key.trim()) : undefined;
  const fail = (why: 'invalid' | 'scope'): FastifyReply => {
    if (cred) req.principal = { id: cred.id, scopes: cred.scopes, via: 'bearer' };
    req.auditAction = 'auth.login_failed';
    if (form) return reply.redirect(`/login?error=${why}&next=${encodeURIComponent(next)}`, 303);
    return why === 'invalid' ? send(reply, 'VAFA_UNAUTHORIZED') : send(reply, 'VAFA_FORBIDDEN', { required_scope: 'read' });
  };
  if (!cred) return fail('invalid');
  if (!cred.scopes.has('read')) return fail('scope');
  const s = sessions.create(cred);
  req.principal = { id: cred.id, scopes: new Set(['read']), via: 'session' };
  req.auditAction = 'auth.login';
  const maxAge = Math.floor(sessions.ttlMs / 1000);
  reply.header('set-cookie', `${SESSION_COOKIE}=${s.token}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAge}${secureFlag(req, deps.proxy)}`).header('cache-control', 'no-store');
  if (form) return reply.redirect(next, 303);
  return reply.send({ id: cred.id, scopes: ['read'], expires_at: new Date(s.expiresAt).toISOString() });
}

/** GET /v1/admin/keys and POST /v1/admin/keys/reload. */
function registerKeyRoutes(app: FastifyInstance, { keys, send }: AccessRouteDeps): void {
  app.get('/v1/admin/keys', {
    config: { scope: 'admin', audit: 'admin.keys.list' },
    schema: { tags: ['admin'], summary: 'The keys in force: id, scopes and source (never a key or its hash)', security: [{ bearer: [] }] },
  }, async () => ({ keys: keys.list(), reloads: keys.reloads }));

  app.post('/v1/admin/keys/reload', {
    config: { scope: 'admin', audit: 'admin.keys.reload' },
    schema: { tags: ['admin'], summary: 'Re-reads VAFA_API_KEY_FILE now (it is also re-read when it changes)', security: [{ bearer: [] }] },
  }, async (_req, reply) => {
    const r = await keys.reload();
    return r.ok ? { reloaded: true, keys: r.keys } : send(reply, 'VAFA_KEY_FILE_REFUSED', {}, `The key file was refused; the keys in force stay. ${r.error}`);
  });
}

/** GET /v1/admin/audit: the access audit, newest first, by customer, principal or action. */
function registerAuditRoute(app: FastifyInstance, deps: AccessRouteDeps): void {
  app.get('/v1/admin/audit', {
    config: { scope: 'admin', audit: 'admin.audit.read' },
    schema: {
      tags: ['admin'], summary: 'The access audit, newest first', security: [{ bearer: [] }],
      querystring: Type.Object({
        customer_id: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
        principal: Type.Optional(Type.String({ minLength: 1, maxLength: 140 })),
        action: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
        limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }),
      }),
    },
  }, async (req, reply) => {
    const q = req.query as { customer_id?: string; principal?: string; action?: string; limit: number };
    const where = [q.customer_id && 'customer_id = {customer_id:String}', q.principal && 'principal = {principal:String}', q.action && 'action = {action:String}'].filter(Boolean);
    try {
      const rs = await deps.warehouse.query({
        query: `SELECT at, principal, via, action, customer_id, method, route, status, remote_addr, user_agent, request_id, detail
                FROM ${deps.database}.access_audit FINAL ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
                ORDER BY at DESC, audit_id DESC LIMIT {limit:UInt32}`,
        query_params: { ...q },
        format: 'JSONEachRow',
      });
      return { entries: await rs.json() };
    } catch (err) {
      req.log.warn({ err: (err as Error).message }, 'warehouse query failed');
      return deps.send(reply, 'VAFA_WAREHOUSE_UNAVAILABLE');
    }
  });
}
