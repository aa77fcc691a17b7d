import { randomUUID, createHash, timingSafeEqual } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import type { Readable } from 'node:stream';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import type { RawInsertFormat } from 'chdb';
import type { Logger } from 'pino';
import { BINARY_INSERT_DIRECT, BINARY_INSERT_FORMATS, EnginePool, RAW_INSERT_FORMATS, WarehouseError, execute, plainColumns, type EngineConnection, type ExecContext, type ExecOutcome, type ExecPlan } from './engine.js';
import { HttpSessions } from './sessions.js';
import { reframeNative, UnsupportedNativeTypeError } from './native.js';
import { analyzeSql, httpParamToBindValue, type InsertWithData, type SqlAnalysis } from './sql.js';

/** Options for {@link startWarehouse}. */
export interface WarehouseOptions {
  /** Interface to listen on. Default `127.0.0.1`. */
  host?: string;
  /** TCP port; `0` picks a free one (read it back from {@link Warehouse.port}). */
  port: number;
  /** Directory holding the embedded ClickHouse (chDB) data; created if missing. */
  dataDir: string;
  /** Logger for request errors and lifecycle events. */
  logger?: Logger;
  /** The one user name accepted. Default `default`. */
  user?: string;
  /**
   * When set, every query must carry this password: HTTP basic auth, the
   * `X-ClickHouse-User`/`X-ClickHouse-Key` headers, or `user`/`password` URL parameters.
   * `/ping` and `/replicas_status` stay open.
   */
  password?: string;
  /** Largest request body accepted, on the wire and after decompression. Default 256 MiB. */
  maxBodyBytes?: number;
  /**
   * Engine connections running queries in parallel (each runs one query at a time; further
   * requests wait their turn). Default 4.
   */
  concurrency?: number;
}

/** A running warehouse: ClickHouse's HTTP interface served by chDB. */
export interface Warehouse {
  /** Base URL, `http://host:port`. */
  url: string;
  /** The port actually bound. */
  port: number;
  /** Stops accepting, waits for in-flight queries, then closes the engine. Idempotent. */
  close(): Promise<void>;
}

const DEFAULT_MAX_BODY = 256 * 1024 * 1024;
const CLOSE_GRACE_MS = 30_000;
const SERVER_NAME = os.hostname();

const RESERVED_PARAMS = new Set([
  'query', 'database', 'default_format', 'compress', 'decompress', 'user', 'password', 'quota_key', 'query_id',
  'stacktrace', 'buffer_size', 'wait_end_of_query', 'session_id', 'session_timeout', 'session_check',
  'client_protocol_version', 'close_session', 'role',
  // Settings that only steer the HTTP layer, which this server implements itself.
  'enable_http_compression', 'http_zlib_compression_level', 'send_progress_in_http_headers',
  'http_headers_progress_interval_ms', 'http_response_buffer_size', 'http_wait_end_of_query',
  'http_native_compression_disable_checksumming_on_decompress', 'cancel_http_readonly_queries_on_client_close',
  'add_http_cors_header', 'http_write_exception_in_output_format', 'http_response_compression_method',
]);

const MODIFYING_KEYWORDS = new Set([
  'INSERT', 'CREATE', 'DROP', 'ALTER', 'TRUNCATE', 'RENAME', 'EXCHANGE', 'OPTIMIZE', 'ATTACH', 'DETACH', 'DELETE', 'UPDATE',
  'UNDROP', 'MOVE', 'GRANT', 'REVOKE', 'KILL', 'SYSTEM', 'BACKUP', 'RESTORE',
]);

const STATUS_BY_CODE = new Map<number, number>([
  [194, 401],
  ...[192, 193, 516].map((c) => [c, 403] as [number, number]),
  ...[36, 427, 6, 25, 26, 38, 41, 72, 441, 675, 676, 27, 376, 15, 44, 37, 123, 8, 167, 168, 223, 62, 117, 53, 321].map((c) => [c, 400] as [number, number]),
  ...[60, 46, 47, 50, 56, 81, 115, 152, 63, 73, 336, 78].map((c) => [c, 404] as [number, number]),
  [229, 413],
  [48, 501],
  [209, 503],
  [76, 503],
  [381, 411],
  [159, 408],
]);

const gzip = promisify(zlib.gzip);
const deflate = promisify(zlib.deflate);
const brotli = promisify(zlib.brotliCompress);

interface ResponseMeta {
  queryId: string;
  format?: string;
  summary: ExecOutcome | undefined;
}

interface Multipart {
  fields: Map<string, string>;
  files: string[];
}

function summaryHeader(o: ExecOutcome | undefined, isInsert: boolean): string {
  const n = (x: number | undefined): string => String(Math.max(0, Math.round(x ?? 0)));
  if (!o) {
    return JSON.stringify({ read_rows: '0', read_bytes: '0', written_rows: '0', written_bytes: '0', total_rows_to_read: '0', result_rows: '0', result_bytes: '0', elapsed_ns: '0' });
  }
  return JSON.stringify(
    isInsert
      ? { read_rows: n(o.writtenRows), read_bytes: n(o.writtenBytes), written_rows: n(o.writtenRows), written_bytes: n(o.writtenBytes), total_rows_to_read: '0', result_rows: n(o.writtenRows), result_bytes: n(o.writtenBytes), elapsed_ns: n(o.elapsedNs) }
      : { read_rows: n(o.resultRows), read_bytes: n(o.resultBytes), written_rows: n(o.writtenRows), written_bytes: n(o.writtenBytes), total_rows_to_read: n(o.resultRows), result_rows: n(o.resultRows), result_bytes: n(o.resultBytes), elapsed_ns: n(o.elapsedNs) },
  );
}

/** Converts anything thrown into ClickHouse's error text, code and name. */
function toClickHouseError(e: unknown, version: string): { code: number; text: string } {
  const suffix = ` (version ${version})`;
  if (e instanceof WarehouseError) return { code: e.code, text: `Code: ${e.code}. DB::Exception: ${e.message}. (${e.type})${suffix}` };
  if (e instanceof UnsupportedNativeTypeError) return { code: 48, text: `Code: 48. DB::Exception: ${e.message}. (NOT_IMPLEMENTED)${suffix}` };
  const msg = e instanceof Error ? e.message : String(e);
  const m = /^Code:\s*(\d+)\./.exec(msg);
  if (m) {
    const text = msg.includes('(version ') ? msg : `${msg}${suffix}`;
    return { code: Number(m[1]), text };
  }
  const name = e instanceof Error ? e.name : '';
  const ch = (e as { clickhouseCode?: unknown } | null)?.clickhouseCode;
  if (typeof ch === 'number') return { code: ch, text: `Code: ${ch}. DB::Exception: ${msg}. (UNKNOWN_EXCEPTION)${suffix}` };
  if (name === 'ChdbBindError') return { code: 36, text: `Code: 36. DB::Exception: ${msg}. (BAD_ARGUMENTS)${suffix}` };
  return { code: 1001, text: `Code: 1001. DB::Exception: ${msg}. (STD_EXCEPTION)${suffix}` };
}

function safeEqual(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb);
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function decompressorFor(encoding: string): Readable & NodeJS.WritableStream {
  switch (encoding) {
    case 'gzip':
    case 'x-gzip':
      return zlib.createGunzip();
    case 'deflate':
      return zlib.createInflate();
    case 'br':
      return zlib.createBrotliDecompress();
    default: {
      const zstd = (zlib as unknown as { createZstdDecompress?: () => Readable & NodeJS.WritableStream }).createZstdDecompress;
      if (encoding === 'zstd' && zstd) return zstd();
      throw new WarehouseError(89, 'UNKNOWN_COMPRESSION_METHOD', `Unknown compression method '${encoding}' in Content-Encoding`);
    }
  }
}

function tooLarge(size: number, limit: number): WarehouseError {
  return new WarehouseError(229, 'QUERY_IS_TOO_LARGE', `Request body is too large: more than ${size} bytes, the limit is ${limit} bytes`);
}

/** Reads the whole request body, undoing Content-Encoding, within `limit` bytes either side. */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(header(req, 'content-length') ?? 'NaN');
  if (Number.isFinite(declared) && declared > limit) return Promise.reject(tooLarge(declared, limit));
  const encoding = (header(req, 'content-encoding') ?? '').trim().toLowerCase();
  let source: Readable = req;
  if (encoding && encoding !== 'identity') {
    try {
      const d = decompressorFor(encoding);
      source = req.pipe(d);
    } catch (e) {
      return Promise.reject(e instanceof Error ? e : new Error(String(e)));
    }
  }
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let wire = 0;
    let done = false;
    const fail = (e: Error): void => {
      if (done) return;
      done = true;
      if (source !== req) {
        req.unpipe();
        source.destroy();
      }
      req.pause();
      reject(e);
    };
    if (source !== req) {
      req.on('data', (c: Buffer) => {
        wire += c.length;
        if (wire > limit) fail(tooLarge(wire, limit));
      });
    }
    source.on('data', (c: Buffer) => {
      if (done) return;
      size += c.length;
      if (size > limit) fail(tooLarge(size, limit));
      else chunks.push(c);
    });
    source.on('end', () => {
      if (done) return;
      done = true;
      resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size));
    });
    source.on('error', (e: Error) => {
      fail(source === req ? e : new WarehouseError(271, 'CANNOT_DECOMPRESS', `Cannot decompress request body (${encoding}): ${e.message}`));
    });
    req.on('error', (e: Error) => fail(e));
    req.on('aborted', () => fail(new Error('client aborted the request')));
  });
}

function parseMultipart(body: Buffer, contentType: string): Multipart {
  const m = /boundary=(?:"([^"]+)"|([^;]+))/i.exec(contentType);
  const boundary = m ? (m[1] ?? m[2] ?? '').trim() : '';
  if (!boundary) throw new WarehouseError(36, 'BAD_ARGUMENTS', 'multipart/form-data request without a boundary');
  const delim = Buffer.from(`--${boundary}`);
  const fields = new Map<string, string>();
  const files: string[] = [];
  let pos = body.indexOf(delim);
  while (pos >= 0) {
    let start = pos + delim.length;
    if (body[start] === 0x2d && body[start + 1] === 0x2d) break;
    if (body[start] === 0x0d) start++;
    if (body[start] === 0x0a) start++;
    const next = body.indexOf(delim, start);
    if (next < 0) break;
    let end = next;
    if (body[end - 1] === 0x0a) end--;
    if (body[end - 1] === 0x0d) end--;
    const part = body.subarray(start, end);
    const split = part.indexOf('\r\n\r\n');
    const headers = (split >= 0 ? part.subarray(0, split) : part).toString('utf8');
    const content = split >= 0 ? part.subarray(split + 4) : Buffer.alloc(0);
    const name = /name="([^"]*)"/i.exec(headers)?.[1];
    if (name !== undefined) {
      if (/filename=/i.test(headers)) files.push(name);
      else fields.set(name, content.toString('utf8'));
    }
    pos = next;
  }
  return { fields, files };
}

function contentTypeFor(format: string, formats: Map<string, string>): string {
  const f = format.toLowerCase();
  const direct = formats.get(f);
  if (direct) return direct;
  if (f.startsWith('tabseparated') || f.startsWith('tsv')) return 'text/tab-separated-values; charset=UTF-8';
  if (f.startsWith('csv')) return 'text/csv; charset=UTF-8; header=absent';
  if (f.startsWith('json')) return 'application/json; charset=UTF-8';
  if (f === 'native' || f.startsWith('rowbinary')) return 'application/octet-stream';
  return 'text/plain; charset=UTF-8';
}

function canonicalRawFormat(format: string): RawInsertFormat | undefined {
  for (const f of RAW_INSERT_FORMATS) if (f.toLowerCase() === format.toLowerCase()) return f as RawInsertFormat;
  return undefined;
}

function canonicalBinaryFormat(format: string): string | undefined {
  for (const f of BINARY_INSERT_FORMATS) if (f.toLowerCase() === format.toLowerCase()) return f;
  return undefined;
}

/**
 * How an INSERT with its data in the body runs: text formats chDB parses from the bytes as they are
 * (`rawInsert`), RowBinary likewise (`binaryInsert`), anything else (Native, Parquet, an INSERT with its
 * own SETTINGS or an odd target) through a temporary file and `FROM INFILE`.
 */
function insertPlanFor(ins: InsertWithData, data: Buffer, stmtText: string): ExecPlan {
  if (ins.format === undefined) return { kind: 'query', sql: `${stmtText} ${data.toString('utf8')}`, format: 'TabSeparated' };
  const table = ins.table;
  const plainTarget = table !== undefined && /^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)?$/.test(table) && !ins.hasSettings;
  const raw = canonicalRawFormat(ins.format);
  if (raw && plainTarget) {
    return { kind: 'rawInsert', table, format: raw, data, ...(ins.columns ? { columns: ins.columns } : {}) };
  }
  const binary = canonicalBinaryFormat(ins.format);
  if (binary && plainTarget && BINARY_INSERT_DIRECT && plainColumns(ins.columns)) {
    return { kind: 'binaryInsert', table, format: binary, data, ...(ins.columns ? { columns: ins.columns } : {}) };
  }
  return { kind: 'fileInsert', head: ins.head, tail: ins.tail, data };
}

/**
 * Starts ClickHouse's HTTP interface in front of an embedded chDB engine on `dataDir`.
 * Supports what `@clickhouse/client` and clickhouse-go's HTTP transport use: queries in the
 * URL and/or body (GET and POST), `param_*` query parameters (also as multipart fields),
 * per-query settings, `database`, `default_format`, `query_id`, sessions (`session_id`),
 * gzip/deflate/br request and response compression, `INSERT … FORMAT` with the data in the
 * body, `/ping`, `/replicas_status`, ClickHouse-style errors and `X-ClickHouse-*` headers.
 *
 * @throws when the engine cannot open `dataDir` (chDB allows one data directory per
 *   process) or the port cannot be bound.
 */
export async function startWarehouse(opts: WarehouseOptions): Promise<Warehouse> {
  const host = opts.host ?? '127.0.0.1';
  const log = opts.logger?.child({ module: 'http' });
  mkdirSync(opts.dataDir, { recursive: true });
  const pool = await EnginePool.open(opts.dataDir, opts.concurrency ?? 4);
  let engine: EngineInfo;
  try {
    engine = await readEngineInfo(pool);
  } catch (e) {
    await pool.close();
    throw e;
  }
  const w: Served = {
    pool,
    version: engine.version,
    formats: engine.formats,
    limit: opts.maxBodyBytes ?? DEFAULT_MAX_BODY,
    log,
    expectedUser: opts.user ?? 'default',
    password: opts.password,
    sessions: new HttpSessions(pool),
    inflight: new Set<Promise<void>>(),
    closing: undefined,
  };
  const server = createServer(w);
  try {
    await listen(server, opts.port, host);
  } catch (e) {
    await pool.close();
    throw e;
  }
  server.on('error', (e) => log?.error({ err: e }, 'warehouse server error'));
  const port = (server.address() as AddressInfo).port;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  log?.debug({ url, dataDir: opts.dataDir, engine: w.version }, 'warehouse listening');
  return {
    url,
    port,
    close(): Promise<void> {
      w.closing ??= closeServed(w, server, url);
      return w.closing;
    },
  };
}

/** What the engine says about itself: its version and the content type of each output format. */
interface EngineInfo {
  readonly version: string;
  /** Output format (lower case) → its content type. */
  readonly formats: Map<string, string>;
}

/** A running warehouse's state, shared by its request handlers. */
interface Served {
  readonly pool: EnginePool;
  readonly version: string;
  readonly formats: Map<string, string>;
  /** The largest request body, on the wire and decompressed. */
  readonly limit: number;
  readonly log: Logger | undefined;
  readonly expectedUser: string;
  readonly password: string | undefined;
  readonly sessions: HttpSessions;
  /** The requests being handled; close() waits for them. */
  readonly inflight: Set<Promise<void>>;
  /** Set once close() is called: new requests are refused. */
  closing: Promise<void> | undefined;
}

async function readEngineInfo(pool: EnginePool): Promise<EngineInfo> {
  const any = pool.any.session;
  const version = (await any.queryAsync('SELECT version()', { format: 'TabSeparatedRaw' })).text().trim();
  const rows = (await any.queryAsync('SELECT name, content_type FROM system.formats WHERE is_output', { format: 'JSONCompactEachRow' })).text();
  const formats = new Map<string, string>();
  for (const line of rows.split('\n')) {
    if (!line) continue;
    const [name, ct] = JSON.parse(line) as [string, string];
    if (ct) formats.set(name.toLowerCase(), ct);
  }
  const tsv = formats.get('tsv');
  if (tsv !== undefined && !formats.has('tabseparated')) formats.set('tabseparated', tsv);
  return { version, formats };
}

function createServer(w: Served): http.Server {
  const server = http.createServer({ maxHeaderSize: 1024 * 1024 }, (req, res) => {
    res.on('error', (e) => w.log?.debug({ err: e }, 'response error'));
    const p = handle(w, req, res).catch((e: unknown) => {
      w.log?.error({ err: e }, 'unhandled request failure');
      res.destroy();
    });
    w.inflight.add(p);
    void p.finally(() => w.inflight.delete(p));
  });
  server.keepAliveTimeout = 10_000;
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    if (socket.writable && !socket.destroyed) {
      const status = err.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : '400 Bad Request';
      socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    }
    socket.destroy();
  });
  return server;
}

function listen(server: http.Server, port: number, host: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

async function closeServed(w: Served, server: http.Server, url: string): Promise<void> {
  const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  // A client stalled mid-upload must not hold shutdown forever; running queries still finish.
  const grace = setTimeout(() => server.closeAllConnections(), CLOSE_GRACE_MS);
  while (w.inflight.size > 0) await Promise.allSettled([...w.inflight]);
  clearTimeout(grace);
  server.closeAllConnections();
  await stopped;
  w.sessions.clear();
  await w.pool.close();
  w.log?.info({ url }, 'warehouse stopped');
}

async function handle(w: Served, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const meta: ResponseMeta = { queryId: '', summary: undefined };
  try {
    if (w.closing) throw new WarehouseError(210, 'NETWORK_ERROR', 'The warehouse is shutting down');
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (answeredWithoutQuery(req, res, url)) return;
    await handleQuery(w, req, res, url, meta);
  } catch (e) {
    if (!meta.queryId) meta.queryId = randomUUID();
    sendError(w, req, res, e, meta);
  }
}

/** Answers health checks, unknown paths and OPTIONS; true when the request is answered. */
function answeredWithoutQuery(req: IncomingMessage, res: ServerResponse, url: URL): boolean {
  const method = req.method ?? 'GET';
  const path = url.pathname;
  if ((path === '/ping' || path === '/replicas_status') && (method === 'GET' || method === 'HEAD')) {
    res.writeHead(200, { 'Content-Type': 'text/html; charset=UTF-8', 'Content-Length': 4 });
    res.end(method === 'HEAD' ? undefined : 'Ok.\n');
    return true;
  }
  if (path !== '/' && path !== '') {
    const text = `There is no handle ${path}\n\nUse / or /ping for health checks.\nOr /replicas_status for more sophisticated health checks.\n\nSend queries from your program with POST method or GET /?query=...\n`;
    res.writeHead(404, { 'Content-Type': 'text/plain; charset=UTF-8', 'Content-Length': Buffer.byteLength(text) });
    res.end(method === 'HEAD' ? undefined : text);
    return true;
  }
  if (method === 'OPTIONS') {
    res.writeHead(204);
    res.end();
    return true;
  }
  if (method !== 'GET' && method !== 'POST' && method !== 'HEAD') {
    throw new WarehouseError(1, 'UNSUPPORTED_METHOD', `Unsupported HTTP method ${method}`);
  }
  if ((method === 'GET' || method === 'HEAD') && url.search === '' && !header(req, 'content-length') && !header(req, 'transfer-encoding')) {
    res.writeHead(200, { 'Content-Type': 'text/html; charset=UTF-8', 'Content-Length': 4 });
    res.end(method === 'HEAD' ? undefined : 'Ok.\n');
    return true;
  }
  return false;
}

function sendError(w: Served, req: IncomingMessage, res: ServerResponse, e: unknown, meta: ResponseMeta): void {
  const { code, text } = toClickHouseError(e, w.version);
  const status = STATUS_BY_CODE.get(code) ?? 500;
  if (code === 1001 || code === 49) w.log?.warn({ err: e, queryId: meta.queryId }, 'query failed unexpectedly');
  else w.log?.debug({ code, status, queryId: meta.queryId }, 'query error');
  if (res.headersSent || res.destroyed) {
    res.destroy();
    return;
  }
  const body = Buffer.from(`${text}\n`);
  res.statusCode = status;
  res.setHeader('Content-Type', 'text/plain; charset=UTF-8');
  res.setHeader('Content-Length', body.length);
  res.setHeader('X-ClickHouse-Server-Display-Name', SERVER_NAME);
  res.setHeader('X-ClickHouse-Query-Id', meta.queryId);
  res.setHeader('X-ClickHouse-Timezone', 'UTC');
  res.setHeader('X-ClickHouse-Exception-Code', String(code));
  res.setHeader('X-ClickHouse-Summary', summaryHeader(undefined, false));
  if (code === 194) res.setHeader('WWW-Authenticate', 'Basic realm="ClickHouse server HTTP API"');
  if (!req.complete) res.setHeader('Connection', 'close');
  res.end(req.method === 'HEAD' ? undefined : body);
}

/** The user and password a request presents: ClickHouse headers, else basic auth, else URL parameters. */
function credentialsOf(req: IncomingMessage, url: URL): { user: string | undefined; password: string | undefined } {
  const hUser = header(req, 'x-clickhouse-user');
  const hKey = header(req, 'x-clickhouse-key');
  if (hUser !== undefined || hKey !== undefined) return { user: hUser, password: hKey };
  const auth = header(req, 'authorization');
  const basic = auth ? /^Basic\s+(.+)$/i.exec(auth) : null;
  if (basic) {
    const decoded = Buffer.from(basic[1] as string, 'base64').toString('utf8');
    const i = decoded.indexOf(':');
    return { user: i >= 0 ? decoded.slice(0, i) : decoded, password: i >= 0 ? decoded.slice(i + 1) : '' };
  }
  return { user: url.searchParams.get('user') ?? undefined, password: url.searchParams.get('password') ?? undefined };
}

function authenticate(w: Served, req: IncomingMessage, url: URL): void {
  const { user, password } = credentialsOf(req, url);
  const who = user || w.expectedUser;
  const failed = `${who}: Authentication failed: password is incorrect, or there is no user with such name`;
  if (who !== w.expectedUser) throw new WarehouseError(516, 'AUTHENTICATION_FAILED', failed);
  if (w.password) {
    if (password === undefined || password === '') {
      if (user === undefined) throw new WarehouseError(194, 'REQUIRED_PASSWORD', `${who}: Authentication failed: password is required`);
      throw new WarehouseError(516, 'AUTHENTICATION_FAILED', failed);
    }
    if (!safeEqual(password, w.password)) throw new WarehouseError(516, 'AUTHENTICATION_FAILED', failed);
  }
}

/** A query request's parameters: from the URL, then the multipart fields the URL does not set. */
interface QueryParams {
  /** Every parameter by name. */
  readonly all: Map<string, string>;
  readonly database: string | undefined;
  readonly defaultFormat: string;
  /** Per-query settings: the parameters that are not reserved and not `param_*`. */
  readonly settings: Array<[string, string]>;
  /** The `param_*` values, by name without the prefix. */
  readonly rawParams: Map<string, string>;
}

function queryParamsOf(req: IncomingMessage, url: URL, multipart: Multipart | undefined): QueryParams {
  const all = new Map<string, string>();
  for (const [k, v] of url.searchParams) all.set(k, v);
  if (multipart) for (const [k, v] of multipart.fields) if (!all.has(k)) all.set(k, v);
  const database = header(req, 'x-clickhouse-database') || all.get('database') || undefined;
  const defaultFormat = header(req, 'x-clickhouse-format') || all.get('default_format') || 'TabSeparated';
  const settings: Array<[string, string]> = [];
  const rawParams = new Map<string, string>();
  for (const [k, v] of all) {
    if (k.startsWith('param_')) rawParams.set(k.slice(6), v);
    else if (!k || RESERVED_PARAMS.has(k)) continue;
    else if (multipart && /_(format|types|structure)$/.test(k)) continue;
    else settings.push([k, v]);
  }
  return { all, database, defaultFormat, settings, rawParams };
}

/**
 * The statement of a request and how it runs: the SQL from the `query` parameter and/or the body, an
 * INSERT's data from the body after its `FORMAT` clause.
 */
function planQuery(queryParam: string, body: Buffer, multipart: boolean, defaultFormat: string): { plan: ExecPlan; analysis: SqlAnalysis } {
  if (multipart || body.length === 0 || queryParam) {
    const head = analyzeSql(queryParam);
    if (!multipart && head.insert && head.insert.dataStart >= queryParam.trimEnd().length) {
      return { analysis: head, plan: insertPlanFor(head.insert, body, queryParam.slice(0, head.insert.dataStart)) };
    }
    const sql = multipart || body.length === 0 ? queryParam : `${queryParam}\n${body.toString('utf8')}`;
    return { analysis: sql === queryParam ? head : analyzeSql(sql), plan: { kind: 'query', sql, format: defaultFormat } };
  }
  const probe = body.subarray(0, 1 << 20).toString('latin1');
  const head = analyzeSql(probe);
  const ins = head.insert;
  if (ins?.format !== undefined && ins.dataStart <= probe.length) {
    const utf = (from: number, to: number): string => body.subarray(from, to).toString('utf8');
    const fixed: InsertWithData = { ...ins, head: utf(0, ins.headEnd), tail: utf(ins.tailStart, ins.tailEnd) };
    return { analysis: head, plan: insertPlanFor(fixed, body.subarray(ins.dataStart), utf(0, ins.dataStart)) };
  }
  const sql = body.toString('utf8');
  return { analysis: analyzeSql(sql), plan: { kind: 'query', sql, format: defaultFormat } };
}

function checkStatement(plan: ExecPlan, analysis: SqlAnalysis, method: string | undefined): void {
  if (plan.kind === 'query' && plan.sql.trim() === '') throw new WarehouseError(62, 'SYNTAX_ERROR', 'Empty query');
  if (analysis.keywords.length > 1) throw new WarehouseError(62, 'SYNTAX_ERROR', 'Multi-statements are not allowed');
  if (method === 'GET' && analysis.keywords.some((k) => MODIFYING_KEYWORDS.has(k))) {
    throw new WarehouseError(164, 'READONLY', 'Cannot execute query in readonly mode. For queries over HTTP, method GET implies readonly. You should use method POST for modifying queries');
  }
}

async function handleQuery(w: Served, req: IncomingMessage, res: ServerResponse, url: URL, meta: ResponseMeta): Promise<void> {
  const sp = url.searchParams;
  meta.queryId = sp.get('query_id') || header(req, 'x-clickhouse-query-id') || randomUUID();
  authenticate(w, req, url);
  if (sp.get('decompress') === '1' || sp.get('compress') === '1') {
    throw new WarehouseError(48, 'NOT_IMPLEMENTED', 'ClickHouse native block compression (compress=1 / decompress=1) is not supported by the embedded warehouse; use HTTP compression (Content-Encoding / enable_http_compression=1)');
  }
  const body = await readBody(req, w.limit);
  const contentType = header(req, 'content-type') ?? '';
  const multipart = contentType.toLowerCase().startsWith('multipart/form-data') ? parseMultipart(body, contentType) : undefined;
  if (multipart && multipart.files.length > 0) {
    throw new WarehouseError(48, 'NOT_IMPLEMENTED', `External tables are not supported by the embedded warehouse (${multipart.files.join(', ')})`);
  }
  const params = queryParamsOf(req, url, multipart);
  const { plan, analysis } = planQuery(params.all.get('query') ?? '', body, multipart !== undefined, params.defaultFormat);
  checkStatement(plan, analysis, req.method);
  const isInsert = plan.kind !== 'query' || analysis.keywords[analysis.keywords.length - 1] === 'INSERT';
  const outputFormat = analysis.outputFormat ?? params.defaultFormat;
  meta.format = isInsert ? undefined : outputFormat;
  const outcome = await runPlan(w, url, plan, analysis, params);
  meta.summary = outcome;
  await sendResult(w, req, res, meta, outcome, { isInsert, outputFormat, params: params.all });
  w.log?.debug({ queryId: meta.queryId, rows: outcome.resultRows, ms: Math.round(outcome.elapsedNs / 1e6) }, 'query');
}

/** Runs a plan on the request's session (`session_id`) or on a pooled connection, and gives it back. */
async function runPlan(w: Served, url: URL, plan: ExecPlan, analysis: SqlAnalysis, params: QueryParams): Promise<ExecOutcome> {
  const bind: Record<string, string | null> = {};
  for (const [k, v] of params.rawParams) bind[k] = httpParamToBindValue(v, analysis.paramTypes.get(k));
  const sessionId = params.all.get('session_id') || undefined;
  const session = sessionId ? w.sessions.acquire(sessionId, url) : undefined;
  let conn: EngineConnection;
  try {
    conn = session ? session.conn : await w.pool.acquire();
  } catch (e) {
    if (session && sessionId) w.sessions.release(sessionId, session, false);
    throw e;
  }
  try {
    const ctx: ExecContext = { settings: params.settings, dedicated: session !== undefined, ...(params.database ? { database: params.database } : {}), ...(params.rawParams.size ? { params: bind } : {}) };
    return await execute(conn, plan, ctx, w.pool.tmpDir);
  } finally {
    if (session && sessionId) {
      if (analysis.mutatesSession) conn.database = undefined;
      w.sessions.release(sessionId, session, params.all.get('close_session') === '1');
    } else {
      w.pool.release(conn, analysis.mutatesSession);
    }
  }
}

async function sendResult(
  w: Served,
  req: IncomingMessage,
  res: ServerResponse,
  meta: ResponseMeta,
  outcome: ExecOutcome,
  result: { isInsert: boolean; outputFormat: string; params: Map<string, string> },
): Promise<void> {
  const { isInsert, outputFormat, params } = result;
  let payload = Buffer.from(outcome.body.buffer, outcome.body.byteOffset, outcome.body.byteLength);
  const revision = Number(params.get('client_protocol_version') ?? '0');
  if (!isInsert && outputFormat.toLowerCase() === 'native' && revision > 0 && payload.length > 0) {
    payload = reframeNative(payload, revision);
  }
  res.statusCode = 200;
  res.setHeader('X-ClickHouse-Server-Display-Name', SERVER_NAME);
  res.setHeader('X-ClickHouse-Query-Id', meta.queryId);
  if (meta.format) res.setHeader('X-ClickHouse-Format', meta.format);
  res.setHeader('X-ClickHouse-Timezone', 'UTC');
  res.setHeader('X-ClickHouse-Summary', summaryHeader(outcome, isInsert));
  res.setHeader('Content-Type', isInsert ? 'text/plain; charset=UTF-8' : contentTypeFor(outputFormat, w.formats));
  const compression = /^(1|true)$/i.test(params.get('enable_http_compression') ?? '') && payload.length > 0 ? chooseEncoding(header(req, 'accept-encoding')) : undefined;
  if (compression) {
    payload = await compress(payload, compression, params.get('http_zlib_compression_level'));
    res.setHeader('Content-Encoding', compression);
  }
  res.setHeader('Content-Length', payload.length);
  res.end(req.method === 'HEAD' ? undefined : payload);
}

/** Compresses a response body; `rawLevel` is `http_zlib_compression_level` (0-9, default 3). */
async function compress(payload: Buffer, encoding: 'gzip' | 'deflate' | 'br', rawLevel: string | undefined): Promise<Buffer> {
  const level = Number(rawLevel ?? '3');
  const zopts = { level: Number.isInteger(level) && level >= 0 && level <= 9 ? level : 3 };
  return encoding === 'gzip' ? await gzip(payload, zopts)
    : encoding === 'deflate' ? await deflate(payload, zopts)
    : await brotli(payload, { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 4 } });
}

function chooseEncoding(accept: string | undefined): 'gzip' | 'deflate' | 'br' | undefined {
  if (!accept) return undefined;
  const offered = accept.toLowerCase().split(',').map((s) => s.split(';')[0]?.trim());
  if (offered.includes('gzip') || offered.includes('x-gzip')) return 'gzip';
  if (offered.includes('deflate')) return 'deflate';
  if (offered.includes('br')) return 'br';
  return undefined;
}
