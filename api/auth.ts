/**
 * Access control of the HTTP API (docs/security.md): scoped credentials, dashboard sessions, an optional
 * trusted reverse-proxy header, and the scope every route declares.
 *
 * Scopes: `ingest` (post events), `read` (customer look-ups, leaderboard, the built-in dashboard), `admin`
 * (key listing and reload, the access audit, metrics). A route declares `config: { scope }`, one of those or
 * `public`; a route that declares none is refused at request time (fail closed) and a test lists them.
 *
 * Keys come from `VAFA_API_KEYS` (plain, every scope) and/or `VAFA_API_KEY_FILE` (one line a key:
 * `<id> <scope[,scope…]> sha256:<hex of the key's SHA-256>`; `vafa keys new` writes one). The file is
 * re-read when it changes (polled), so keys rotate without a restart; a file that does not parse is
 * refused with the line named and the keys in force stay. No key configured at all: every route is open
 * (the loopback demo), and the API says so once at start.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from 'fastify';
import type { Logger } from '../platform/mod.js';

export const SCOPES = ['ingest', 'read', 'admin'] as const;
export type Scope = (typeof SCOPES)[number];
export type RouteScope = Scope | 'public';
export const ROUTE_SCOPES: readonly RouteScope[] = [...SCOPES, 'public'];

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Who may call the route (docs/security.md). Every route declares one. */
    scope?: RouteScope;
    /** The access-audit action recorded for each call (api/audit.ts); none: not audited. */
    audit?: string;
  }
  interface FastifyRequest {
    principal?: Principal;
    /** The audit action of this request when it differs from the route's (a failed sign-in). */
    auditAction?: string;
  }
}

export interface Credential {
  /** Shown in logs and the audit, never the key. */
  id: string;
  scopes: ReadonlySet<Scope>;
  source: 'env' | 'file';
  /** `sha256:<hex>` of the key. */
  hash: string;
}

export interface Principal {
  id: string;
  scopes: ReadonlySet<Scope>;
  via: 'bearer' | 'session' | 'proxy' | 'open';
}

export const hashKey = (key: string): string => `sha256:${createHash('sha256').update(key, 'utf8').digest('hex')}`;

/** The id of a `VAFA_API_KEYS` key: a short fingerprint (32 bits of its SHA-256), never the key. */
export const envKeyId = (key: string): string => `env-${hashKey(key).slice(7, 15)}`;

/** A fresh random key: 32 bytes, base64url, prefixed so that it is recognisable in a secret scanner. */
export const newKey = (): string => `vafa_${randomBytes(32).toString('base64url')}`;

const ID = /^[A-Za-z0-9_.@-]{1,64}$/;
export const MIN_KEY_LENGTH = 16;

/** One line of a key file for `key`. */
export function keyFileLine(id: string, scopes: readonly Scope[], key: string): string {
  if (!ID.test(id)) throw new Error(`key id ${JSON.stringify(id)}: letters, digits and _ . @ - only, at most 64`);
  if (key.length < MIN_KEY_LENGTH) throw new Error(`a key has at least ${MIN_KEY_LENGTH} characters`);
  if (scopes.length === 0) throw new Error('a key needs at least one scope');
  return `${id} ${[...new Set(scopes)].join(',')} ${hashKey(key)}`;
}

export class KeyFileError extends Error {
  override readonly name = 'KeyFileError';
  constructor(readonly file: string, readonly line: number, reason: string) {
    super(`${file}:${line}: ${reason}`);
  }
}

export function parseScopes(text: string): Scope[] | string {
  const out: Scope[] = [];
  for (const s of text.split(',').map((x) => x.trim()).filter(Boolean)) {
    if (!(SCOPES as readonly string[]).includes(s)) return `unknown scope ${JSON.stringify(s)} (expected ${SCOPES.join(', ')})`;
    out.push(s as Scope);
  }
  return out.length ? out : 'no scope';
}

/** Parses a key file: `<id> <scopes> sha256:<hex>` a line; `#` comments and blank lines are skipped. */
export function parseKeyFile(text: string, file = 'key file'): Credential[] {
  const out: Credential[] = [];
  const ids = new Set<string>();
  const hashes = new Set<string>();
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/#.*$/, '').trim();
    if (!line) return;
    const fail = (reason: string): never => {
      throw new KeyFileError(file, i + 1, reason);
    };
    const parts = line.split(/\s+/);
    if (parts.length !== 3) fail('expected "<id> <scope[,scope…]> sha256:<64 hex digits>"');
    const [id, scopeText, hash] = parts as [string, string, string];
    if (!ID.test(id)) fail(`key id ${JSON.stringify(id)}: letters, digits and _ . @ - only, at most 64`);
    const scopes = parseScopes(scopeText);
    if (typeof scopes === 'string') fail(scopes);
    if (!/^sha256:[0-9a-f]{64}$/.test(hash)) fail('the hash must be sha256: and 64 lower-case hex digits (vafa keys hash prints one)');
    if (ids.has(id)) fail(`key id ${id} appears twice`);
    if (hashes.has(hash)) fail('the same key appears twice');
    ids.add(id);
    hashes.add(hash);
    out.push({ id, scopes: new Set(scopes as Scope[]), source: 'file', hash });
  });
  return out;
}

export interface KeyRingOptions {
  envKeys: readonly string[];
  file?: string | undefined;
  /** How often the key file is checked for a change, ms. Default 2000. */
  watchMs?: number;
  logger: Logger;
}

/** The keys in force: the environment's and the key file's, looked up by the hash of a presented key. */
export class KeyRing {
  private readonly env: Credential[];
  private fileKeys: Credential[] = [];
  private byHash = new Map<string, Credential>();
  private fileStamp = '';
  private timer: NodeJS.Timeout | undefined;
  private checking = false;
  /** Successful reloads of the key file since start (tests and the admin API read it). */
  reloads = 0;
  /** Called after the watcher re-read a changed key file (kept or refused): the API audits it. */
  onFileChange: ((result: { ok: true; keys: number } | { ok: false; error: string }) => void) | undefined;

  private constructor(private readonly opts: KeyRingOptions) {
    this.env = opts.envKeys.map((k) => ({ id: envKeyId(k), scopes: new Set(SCOPES), source: 'env' as const, hash: hashKey(k) }));
    this.rebuild();
  }

  /** Reads the key file (a missing or bad one at start is an error) and starts watching it. */
  static async open(opts: KeyRingOptions): Promise<KeyRing> {
    const ring = new KeyRing(opts);
    if (opts.file) {
      await ring.load();
      const ms = opts.watchMs ?? 2000;
      ring.timer = setInterval(() => void ring.check(), ms);
      ring.timer.unref();
    }
    return ring;
  }

  /** Any key configured (or a key file named, even empty): requests must authenticate. */
  get enabled(): boolean {
    return this.env.length > 0 || this.opts.file !== undefined;
  }

  lookup(key: string): Credential | undefined {
    // Keyed by the key's SHA-256: the lookup never compares the key itself.
    return key ? this.byHash.get(hashKey(key)) : undefined;
  }

  /** The credential with this hash, if it is still in force (sessions check their key on every request). */
  current(hash: string): Credential | undefined {
    return this.byHash.get(hash);
  }

  list(): { id: string; scopes: Scope[]; source: 'env' | 'file' }[] {
    return [...this.byHash.values()].map((c) => ({ id: c.id, scopes: [...c.scopes], source: c.source }));
  }

  /** Re-reads the key file now; a file that does not parse leaves the keys in force. */
  async reload(): Promise<{ ok: true; keys: number } | { ok: false; error: string }> {
    try {
      await this.load();
      return { ok: true, keys: this.byHash.size };
    } catch (err) {
      const error = (err as Error).message;
      this.opts.logger.error({ err: error, file: this.opts.file }, 'API key file refused; the keys in force stay');
      return { ok: false, error };
    }
  }

  close(): void {
    clearInterval(this.timer);
  }

  private async load(): Promise<void> {
    const file = this.opts.file;
    if (file === undefined) throw new Error('no API key file is configured: there is nothing to reload');
    const st = await stat(file);
    const text = await readFile(file, 'utf8');
    const keys = parseKeyFile(text, file);
    const duplicate = keys.find((k) => this.env.some((e) => e.hash === k.hash));
    if (duplicate) throw new KeyFileError(file, 0, `key ${duplicate.id} is also in VAFA_API_KEYS`);
    this.fileKeys = keys;
    this.fileStamp = `${st.ino}:${st.size}:${st.mtimeMs}`;
    this.rebuild();
    this.reloads++;
  }

  private async check(): Promise<void> {
    if (this.checking) return;
    this.checking = true;
    try {
      const file = this.opts.file;
      if (file === undefined) return;
      const st = await stat(file).catch(() => undefined);
      if (!st) return;
      const stamp = `${st.ino}:${st.size}:${st.mtimeMs}`;
      if (stamp === this.fileStamp) return;
      this.fileStamp = stamp;
      const r = await this.reload();
      if (r.ok) this.opts.logger.info({ file: this.opts.file, keys: r.keys }, 'API key file reloaded');
      this.onFileChange?.(r);
    } finally {
      this.checking = false;
    }
  }

  private rebuild(): void {
    this.byHash = new Map([...this.env, ...this.fileKeys].map((c) => [c.hash, c]));
  }
}

interface Session {
  credHash: string;
  expiresAt: number;
}

/** The entry under `key` unless it has expired by `now`; an expired one is dropped from `map`. */
export function liveEntry<T extends { expiresAt: number }>(map: Map<string, T>, key: string, now: number): T | undefined {
  const entry = map.get(key);
  if (entry && entry.expiresAt <= now) {
    map.delete(key);
    return undefined;
  }
  return entry;
}

/**
 * Dashboard sessions: an opaque random token in an HttpOnly, SameSite=Strict cookie, kept server-side
 * (by its hash) with an absolute lifetime, bounded in number (the oldest go first). A session reads only
 * (`sessionScopes`), and ends when the key leaves the ring.
 */
export class Sessions {
  private readonly map = new Map<string, Session>();

  constructor(readonly ttlMs: number, private readonly max = 10_000, private readonly now: () => number = Date.now) {}

  create(cred: Credential): { token: string; expiresAt: number } {
    const t = this.now();
    for (const [k, s] of this.map) if (s.expiresAt <= t) this.map.delete(k);
    for (const oldest of this.map.keys()) {
      if (this.map.size < this.max) break;
      this.map.delete(oldest);
    }
    const token = randomBytes(32).toString('base64url');
    const expiresAt = t + this.ttlMs;
    this.map.set(hashKey(token), { credHash: cred.hash, expiresAt });
    return { token, expiresAt };
  }

  get(token: string): Session | undefined {
    return liveEntry(this.map, hashKey(token), this.now());
  }

  delete(token: string): void {
    this.map.delete(hashKey(token));
  }

  get size(): number {
    return this.map.size;
  }
}

export const SESSION_COOKIE = 'vafa_session';

export function cookieValue(req: FastifyRequest, name: string): string | undefined {
  const header = req.headers.cookie;
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

export interface ProxyAuth {
  /** Request header holding the signed-in user's name, set by the proxy (lower case). */
  header: string;
  /** Addresses the header is believed from (the proxy's); from anyone else it is ignored. */
  trusted: readonly string[];
}

export interface AuthOptions {
  keys: KeyRing;
  sessions: Sessions;
  proxy?: ProxyAuth | undefined;
}

const normalizeAddr = (a: string | undefined): string => (a ?? '').replace(/^::ffff:/, '');

export function fromTrustedProxy(req: FastifyRequest, proxy: ProxyAuth | undefined): boolean {
  return !!proxy && proxy.trusted.includes(normalizeAddr(req.socket.remoteAddress));
}

/**
 * What a dashboard session may do: read (`read`), and, when its key holds `admin`, the admin routes that only
 * read (GET, HEAD: the access-audit dashboard, the audit and key lists). Never `ingest`, never an admin write.
 */
export function sessionScopes(keyScopes: ReadonlySet<Scope>, method: string): Set<Scope> {
  const out = new Set<Scope>();
  if (keyScopes.has('read')) out.add('read');
  if (keyScopes.has('admin') && (method === 'GET' || method === 'HEAD')) out.add('admin');
  return out;
}

/** Who sent the request: a bearer key, a session cookie, the trusted proxy's header; undefined if none. */
export function authenticate(req: FastifyRequest, opts: AuthOptions): Principal | undefined {
  const auth = req.headers.authorization ?? '';
  if (auth.startsWith('Bearer ')) {
    const c = opts.keys.lookup(auth.slice(7).trim());
    return c ? { id: c.id, scopes: c.scopes, via: 'bearer' } : undefined;
  }
  const token = cookieValue(req, SESSION_COOKIE);
  if (token) {
    const s = opts.sessions.get(token);
    const c = s && opts.keys.current(s.credHash);
    if (c) return { id: c.id, scopes: sessionScopes(c.scopes, req.method), via: 'session' };
  }
  if (opts.proxy && fromTrustedProxy(req, opts.proxy)) {
    const user = req.headers[opts.proxy.header];
    if (typeof user === 'string' && /^[\w.@+-]{1,128}$/.test(user)) return { id: `proxy:${user}`, scopes: new Set(['read']), via: 'proxy' };
  }
  return undefined;
}

const OPEN: Principal = { id: 'anonymous', scopes: new Set(SCOPES), via: 'open' };

export interface RouteEntry {
  method: string;
  url: string;
  scope: RouteScope | undefined;
}

const kRoutes = Symbol('vafa.routes');

/** Every route registered on `app` with the scope it declares (read when asked: plugins set theirs late). */
export function routeTable(app: FastifyInstance): RouteEntry[] {
  const routes = (app as unknown as Record<symbol, RouteOptions[] | undefined>)[kRoutes] ?? [];
  return routes.flatMap((r) => (Array.isArray(r.method) ? r.method : [r.method]).map((m) => ({ method: String(m), url: r.url, scope: r.config?.scope })));
}

/** Routes registered inside `fn` get `scope(url)` unless they declare one (for plugins: static files, OpenAPI UI). */
export async function withDefaultScope(app: FastifyInstance, scope: (url: string) => RouteScope, fn: (sub: FastifyInstance) => Promise<void>): Promise<void> {
  await app.register(async (sub) => {
    sub.addHook('onRoute', (r) => {
      if (r.config?.scope === undefined) r.config = { ...r.config, scope: scope(r.url) };
    });
    await fn(sub);
  });
}

export type Denied = (reply: FastifyReply, status: 401 | 403, detail: Record<string, unknown>) => FastifyReply;

/**
 * Installs the route recorder and the check in front of every route (`onRequest`, before the body is read):
 * public routes pass, the others need a principal holding the route's scope. Without any key configured
 * every caller is `anonymous` with every scope.
 */
export function installAuth(app: FastifyInstance, opts: AuthOptions, denied: Denied): void {
  const routes: RouteOptions[] = [];
  (app as unknown as Record<symbol, RouteOptions[]>)[kRoutes] = routes;
  app.decorateRequest('principal', undefined);
  app.decorateRequest('auditAction', undefined);
  app.addHook('onRoute', (r) => {
    routes.push(r);
  });
  app.addHook('onRequest', async (req, reply) => {
    if (req.routeOptions.url === undefined) return; // not found: the 404 handler answers
    const scope = req.routeOptions.config.scope;
    const principal = authenticate(req, opts) ?? (opts.keys.enabled ? undefined : OPEN);
    if (principal) req.principal = principal;
    if (scope === 'public') return;
    if (scope === undefined) {
      req.log.error({ route: req.routeOptions.url }, 'route declares no scope: refused');
      return denied(reply, 403, { required_scope: null });
    }
    if (!principal) {
      if (req.method === 'GET' && /text\/html/.test(req.headers.accept ?? '')) return reply.redirect(`/login?next=${encodeURIComponent(req.url)}`, 303);
      reply.header('www-authenticate', 'Bearer realm="vafa"');
      return denied(reply, 401, {});
    }
    if (!principal.scopes.has(scope)) return denied(reply, 403, { required_scope: scope });
  });
}
