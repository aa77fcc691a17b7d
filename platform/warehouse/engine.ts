import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { Session, drainPending, type ChdbResult, type RawInsertFormat } from 'chdb';
import { sqlIdent, sqlString } from './sql.js';

/** Formats chDB's raw (zero-copy) insert accepts. */
export const RAW_INSERT_FORMATS: ReadonlySet<string> = new Set<RawInsertFormat>([
  'JSONEachRow', 'JSONCompactEachRow', 'CSV', 'CSVWithNames', 'TSV', 'TabSeparated', 'TSVWithNames', 'TabSeparatedWithNames',
]);

/**
 * Binary formats an `INSERT … FORMAT` body may be in that go to the engine as they are, without a
 * temporary file: chDB's raw insert takes any bytes, but its public `insert()` names only text formats.
 */
export const BINARY_INSERT_FORMATS: ReadonlySet<string> = new Set(['RowBinary', 'RowBinaryWithNames', 'RowBinaryWithNamesAndTypes']);

interface RawNativeSummary {
  rowsWritten: number;
  bytesWritten: number;
  elapsed: number;
}

type NativeRawInsert = (connection: unknown, prefix: string, data: Buffer, countLines: boolean) => Promise<RawNativeSummary>;

/**
 * chDB's native raw-insert entry (`InsertRawAsyncConnection`), which `Session.insert` calls after
 * checking the format against its text-only list. Undefined when this chDB build lacks it: binary
 * bodies then take the INFILE path.
 */
const nativeRawInsert: NativeRawInsert | undefined = (() => {
  try {
    const require = createRequire(import.meta.url);
    const loader = require(path.join(path.dirname(require.resolve('chdb')), 'dist', 'loader.js')) as { loadNative(): Record<string, unknown> };
    const native = loader.loadNative();
    const fn = native.InsertRawAsyncConnection;
    return typeof fn === 'function' ? (fn.bind(native) as NativeRawInsert) : undefined;
  } catch {
    return undefined;
  }
})();

/** True when binary INSERT bodies go straight to the engine (else through a temporary file). */
export const BINARY_INSERT_DIRECT = nativeRawInsert !== undefined;

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** True when `columns` can be named in a direct binary insert's statement as they are. */
export function plainColumns(columns: readonly string[] | undefined): boolean {
  return columns === undefined || columns.every((c) => IDENT.test(c));
}

/**
 * One chDB connection. Every `Session` on the same data directory shares the engine and its
 * data but has its own settings, current database and temporary tables, and runs one query
 * at a time; the pool hands each connection to one request at a time.
 */
export class EngineConnection {
  session: Session;
  /** Current database as far as we know; undefined when a statement may have changed it. */
  database: string | undefined = 'default';
  /** State could not be restored after a request: recycle before reuse. */
  broken = false;

  constructor(readonly dataDir: string) {
    this.session = new Session(dataDir);
  }

  /** Replaces the session with a fresh one (drops SETs, USE, temporary tables). */
  recycle(): void {
    this.session.close();
    this.session = new Session(this.dataDir);
    this.database = 'default';
    this.broken = false;
  }

  close(): void {
    this.session.close();
  }
}

/** What to run for one request. */
export type ExecPlan =
  | { kind: 'query'; sql: string; format: string }
  | { kind: 'rawInsert'; table: string; columns?: string[]; format: RawInsertFormat; data: Buffer }
  /** A binary body ({@link BINARY_INSERT_FORMATS}), only when {@link BINARY_INSERT_DIRECT}; columns are plain identifiers. */
  | { kind: 'binaryInsert'; table: string; columns?: string[]; format: string; data: Buffer }
  | { kind: 'fileInsert'; head: string; tail: string; data: Buffer };

/** Per-request context applied around the plan. */
export interface ExecContext {
  /** Database for this request only (ClickHouse's `database` parameter). */
  database?: string;
  /** Settings for this request only. */
  settings: ReadonlyArray<readonly [string, string]>;
  /** Query parameters, already converted for `queryBindAsync`. */
  params?: Record<string, string | null>;
  /** The connection belongs to an HTTP session: restore previous values, not defaults. */
  dedicated: boolean;
}

/** Engine-side outcome of a plan. */
export interface ExecOutcome {
  body: Uint8Array;
  resultRows: number;
  resultBytes: number;
  writtenRows: number;
  writtenBytes: number;
  elapsedNs: number;
}

const SETTING_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Thrown for request errors detected before the engine runs; carries a ClickHouse code. */
export class WarehouseError extends Error {
  constructor(readonly code: number, readonly type: string, message: string) {
    super(message);
  }
}

function assertSettingNames(settings: ExecContext['settings']): void {
  for (const [k] of settings) {
    if (!SETTING_NAME.test(k)) throw new WarehouseError(115, 'UNKNOWN_SETTING', `Unknown setting '${k}'`);
  }
}

/**
 * Runs `plan` on `conn` with the request's database and settings, restoring the
 * connection's state afterwards. A connection whose state could not be restored is marked
 * `broken`; the caller recycles it.
 */
export async function execute(conn: EngineConnection, plan: ExecPlan, ctx: ExecContext, tmpDir: string): Promise<ExecOutcome> {
  assertSettingNames(ctx.settings);
  const started = process.hrtime.bigint();
  let useDb: string | undefined;
  let restoreDb: string | undefined;
  if (ctx.dedicated) {
    if (ctx.database !== undefined) {
      const current = conn.database ?? (await currentDatabase(conn));
      if (current !== ctx.database) {
        useDb = ctx.database;
        restoreDb = current;
      }
    }
  } else {
    const desired = ctx.database ?? 'default';
    if (conn.database !== desired) useDb = desired;
  }
  const prefix: string[] = [];
  if (useDb !== undefined) prefix.push(`USE ${sqlIdent(useDb)}`);
  let restoreSettings: string | undefined;
  if (ctx.settings.length > 0 && plan.kind !== 'rawInsert' && plan.kind !== 'binaryInsert') {
    restoreSettings = ctx.dedicated
      ? await settingsRestoreStatement(conn, ctx.settings)
      : `SET ${ctx.settings.map(([k]) => `${k} = DEFAULT`).join(', ')}`;
    prefix.push(`SET ${ctx.settings.map(([k, v]) => `${k} = ${sqlString(v)}`).join(', ')}`);
  }
  const lead = prefix.length > 0 ? `${prefix.join('; ')};\n` : '';
  if (useDb !== undefined) conn.database = undefined;
  try {
    const out = await run(conn, plan, ctx, lead, tmpDir);
    if (useDb !== undefined) conn.database = useDb;
    return out.elapsedNs > 0 ? out : { ...out, elapsedNs: Number(process.hrtime.bigint() - started) };
  } finally {
    if (restoreSettings !== undefined || restoreDb !== undefined) {
      const stmts = [restoreDb !== undefined ? `USE ${sqlIdent(restoreDb)}` : '', restoreSettings ?? ''].filter(Boolean);
      try {
        await conn.session.queryAsync(stmts.join('; '));
        if (restoreDb !== undefined) conn.database = restoreDb;
      } catch {
        conn.broken = true;
      }
    }
  }
}

async function currentDatabase(conn: EngineConnection): Promise<string> {
  const r = await conn.session.queryAsync('SELECT currentDatabase()', { format: 'TabSeparatedRaw' });
  conn.database = r.text().trim();
  return conn.database;
}

async function settingsRestoreStatement(conn: EngineConnection, settings: ExecContext['settings']): Promise<string> {
  const names = settings.map(([k]) => sqlString(k)).join(', ');
  const r = await conn.session.queryAsync(`SELECT name, value, changed FROM system.settings WHERE name IN (${names})`, { format: 'JSONCompactEachRow' });
  const rows = r.text().split('\n').filter(Boolean).map((l) => JSON.parse(l) as [string, string, number | boolean]);
  const known = new Map(rows.map(([n, v, changed]) => [n, changed ? sqlString(v) : 'DEFAULT']));
  return `SET ${settings.map(([k]) => `${k} = ${known.get(k) ?? 'DEFAULT'}`).join(', ')}`;
}

function fromResult(r: ChdbResult, written = 0): ExecOutcome {
  return {
    body: r.bytes(),
    resultRows: r.rowsRead,
    resultBytes: r.bytesRead,
    writtenRows: written,
    writtenBytes: 0,
    elapsedNs: Math.round(r.elapsed * 1e9),
  };
}

/** What an insert reports: no body, its written rows and bytes. */
function fromInsert(sum: { rowsWritten: number; bytesWritten: number; elapsed: number }): ExecOutcome {
  return {
    body: new Uint8Array(0),
    resultRows: sum.rowsWritten,
    resultBytes: sum.bytesWritten,
    writtenRows: sum.rowsWritten,
    writtenBytes: sum.bytesWritten,
    elapsedNs: Math.round(sum.elapsed * 1e9),
  };
}

async function run(conn: EngineConnection, plan: ExecPlan, ctx: ExecContext, lead: string, tmpDir: string): Promise<ExecOutcome> {
  const s = conn.session;
  const bind = ctx.params !== undefined && Object.keys(ctx.params).length > 0 ? ctx.params : undefined;
  switch (plan.kind) {
    case 'query': {
      const sql = lead + plan.sql;
      const r = bind ? await s.queryBindAsync(sql, bind, { format: plan.format }) : await s.queryAsync(sql, { format: plan.format });
      return fromResult(r);
    }
    case 'rawInsert': {
      // The lead (USE) runs first on the same connection, so an unqualified name resolves like
      // it would inline, temporary tables included.
      if (lead) await s.queryAsync(lead);
      const settings = Object.fromEntries(ctx.settings);
      const sum = await s.insert({
        table: plan.table,
        values: plan.data,
        format: plan.format,
        ...(plan.columns ? { columns: plan.columns } : {}),
        ...(ctx.settings.length > 0 ? { settings } : {}),
      });
      return fromInsert(sum);
    }
    case 'binaryInsert': {
      const columns = plan.columns ?? [];
      if (!nativeRawInsert || !columns.every((c) => IDENT.test(c)) || !BINARY_INSERT_FORMATS.has(plan.format)) {
        throw new WarehouseError(48, 'NOT_IMPLEMENTED', `A direct ${plan.format} insert is not available here`);
      }
      if (lead) await s.queryAsync(lead);
      const cols = columns.length > 0 ? ` (${columns.map((c) => `\`${c}\``).join(', ')})` : '';
      const settings = ctx.settings.length > 0 ? ` SETTINGS ${ctx.settings.map(([k, v]) => `${k} = ${sqlString(v)}`).join(', ')}` : '';
      const sum = await nativeRawInsert(s.connection, `INSERT INTO ${plan.table}${cols}${settings} FORMAT ${plan.format}`, plan.data, false);
      return fromInsert(sum);
    }
    case 'fileInsert': {
      const file = path.join(tmpDir, `${randomUUID()}.bin`);
      await writeFile(file, plan.data);
      try {
        const sql = `${lead}${plan.head} FROM INFILE ${sqlString(file)} ${plan.tail}`;
        const r = bind ? await s.queryBindAsync(sql, bind, { format: 'TabSeparated' }) : await s.queryAsync(sql, { format: 'TabSeparated' });
        const out = fromResult(r, r.rowsRead);
        return { ...out, writtenBytes: plan.data.length };
      } finally {
        await rm(file, { force: true });
      }
    }
  }
}

/**
 * A fixed set of connections to one data directory, handed out one request at a time in
 * arrival order, plus dedicated connections for HTTP sessions.
 */
export class EnginePool {
  readonly #idle: EngineConnection[] = [];
  readonly #waiters: Array<{ resolve: (c: EngineConnection) => void; reject: (e: Error) => void }> = [];
  readonly #all = new Set<EngineConnection>();
  #closed = false;

  private constructor(readonly dataDir: string, readonly tmpDir: string, readonly maxQueue: number) {}

  /** Opens `size` connections on `dataDir`. */
  static async open(dataDir: string, size: number, maxQueue = 10_000): Promise<EnginePool> {
    const tmpDir = await mkdtemp(path.join(os.tmpdir(), 'vafa-wh-infile-'));
    const pool = new EnginePool(dataDir, tmpDir, maxQueue);
    try {
      for (let i = 0; i < Math.max(1, size); i++) {
        const c = new EngineConnection(dataDir);
        pool.#all.add(c);
        pool.#idle.push(c);
      }
    } catch (e) {
      for (const c of pool.#all) c.close();
      await rm(tmpDir, { recursive: true, force: true });
      throw e;
    }
    return pool;
  }

  /** Any connection, for server-level queries (version, formats). */
  get any(): EngineConnection {
    const c = this.#all.values().next().value;
    if (!c) throw new Error('engine pool is closed');
    return c;
  }

  /** Waits for an idle pooled connection. */
  acquire(): Promise<EngineConnection> {
    if (this.#closed) return Promise.reject(new WarehouseError(210, 'NETWORK_ERROR', 'The warehouse is shutting down'));
    const c = this.#idle.shift();
    if (c) return Promise.resolve(c);
    if (this.#waiters.length >= this.maxQueue) {
      return Promise.reject(new WarehouseError(202, 'TOO_MANY_SIMULTANEOUS_QUERIES', `Too many simultaneous queries: ${this.#waiters.length} are waiting`));
    }
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
  }

  /** Returns a pooled connection; `dirty` ones are recycled first. */
  release(c: EngineConnection, dirty: boolean): void {
    if (dirty || c.broken) {
      try {
        c.recycle();
      } catch {
        // A failed reopen leaves the pool one connection short rather than handing out a dead one.
        this.#all.delete(c);
        return;
      }
    }
    const w = this.#waiters.shift();
    if (w) w.resolve(c);
    else this.#idle.push(c);
  }

  /** Opens a connection outside the pool (for an HTTP session). */
  openDedicated(): EngineConnection {
    const c = new EngineConnection(this.dataDir);
    this.#all.add(c);
    return c;
  }

  /** Closes a dedicated connection. */
  closeDedicated(c: EngineConnection): void {
    this.#all.delete(c);
    c.close();
  }

  /** Closes every connection once nothing runs on them; callers wait for their requests first. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const w of this.#waiters.splice(0)) w.reject(new WarehouseError(210, 'NETWORK_ERROR', 'The warehouse is shutting down'));
    for (const c of this.#all) c.close();
    this.#all.clear();
    this.#idle.length = 0;
    await drainPending();
    await rm(this.tmpDir, { recursive: true, force: true });
  }
}
