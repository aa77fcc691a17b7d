/**
 * The ClickHouse sink. Partition workers hand it each micro-batch's rows and await durability; it
 * coalesces concurrent batches into one insert per table per flush (a MergeTree part per insert is the
 * cost to keep low). Rows are keyed by deterministic ids in ReplacingMergeTree tables, so a retried,
 * split or replayed insert is harmless.
 *
 * Rows of the tables in schema.ts go as RowBinary (rowbinary.ts) by default; a row the encoder refuses
 * (a value its column's type cannot hold exactly) goes on the JSONEachRow path instead, where ClickHouse
 * itself accepts it as before or refuses it with its own error. Tables outside schema.ts go as JSONEachRow.
 *
 * Failures are classified (errors.ts). Transient and operator failures are retried with capped back-off
 * and every writer waits. An insert the server refuses for its data is split (at the row the error
 * names, else in halves) until the refused rows stand alone; the rest lands, and each writer gets back
 * the refused rows it wrote (the same objects), to send to DLQ with their source.
 */
import { Readable } from 'node:stream';
import type { ClickHouseClient } from '@clickhouse/client';
import type { Row, TableName } from '../mapping.js';
import { sleep, FailureEpisode, type Logger } from '../../platform/mod.js';
import { classifySinkError, refusedRowHint, SinkClosedError, type SinkFailure } from './errors.js';
import { RowBinaryTableEncoder, RowBinaryUnsupportedTypeError } from './rowbinary.js';
import { TABLES, type TableDef } from './schema.js';

export { SinkClosedError } from './errors.js';

/** How rows travel to ClickHouse. */
export type SinkInsertFormat = 'RowBinary' | 'JSONEachRow';

export interface SinkOptions {
  database: string;
  /**
   * Insert format for the tables of schema.ts. Default `RowBinary` (measured faster, bench/insert-formats.ts);
   * `JSONEachRow` is kept for a warehouse that refuses binary bodies and for comparison.
   */
  format?: SinkInsertFormat;
  /** Table definitions the RowBinary encoder writes by. Default schema.ts's `TABLES`. */
  tables?: readonly TableDef[];
  /** Flush once this many rows are buffered. Default 20,000. */
  maxRows?: number;
  /** Largest RowBinary body of one insert, bytes; a table's rows past it go in further inserts. Default 32 MiB. */
  maxInsertBytes?: number;
  /**
   * Least time between the starts of two flushes, ms: under load, rows written meanwhile wait for the next
   * flush at most this long and go in one insert per table. Default 100.
   */
  lingerMs?: number;
  /**
   * A sink whose last flush started `lingerMs` ago or more flushes a write after this long instead, ms: the
   * writes of one moment still share an insert, and a quiet stream's rows are not held for the whole
   * linger. The linger thus follows the load: a few ms when idle, `lingerMs` when busy. Default `lingerMs`.
   */
  idleLingerMs?: number;
  /**
   * Rows written with `defer` (operations telemetry) wait this long at least, ms, and then go with the next
   * flush (alone after twice this when no flush comes): a flush costs ClickHouse a part per table (and per materialized view on it), so a table that
   * only telemetry writes gets one insert per `deferMs` instead of one per flush. Default 1,000.
   */
  deferMs?: number;
  /**
   * Flushes storing at once. With 1, rows written during a flush wait for it to end before theirs starts;
   * with 2, theirs starts after the linger even while the previous one is still storing (the linger still
   * bounds how often a flush starts). Tables are ReplacingMergeTree with a version column, so the order two
   * flushes land in does not matter. More than 1 helps a server whose inserts wait on I/O or the network;
   * where they wait on CPU (the embedded engine on a small machine) it adds parts and CPU, not speed
   * (bench/README.md, "Where the time goes at 5,000 events/s"). Default 1.
   */
  maxFlushes?: number;
  /** First back-off after a failed flush attempt, ms (doubling up to `maxRetryMs`). Default 200. */
  retryMs?: number;
  /** Longest back-off between flush attempts, ms. Default 5,000. */
  maxRetryMs?: number;
  /**
   * Inserts one table may spend per flush finding the rows the server refuses. Past it, the rows of a
   * part still refused are all returned as refused (`isolated: false`) instead of being split further.
   * Default 100 (one bad row among 20,000 costs about three).
   */
  maxIsolationInserts?: number;
  /** Least time between two "still failing" log lines of one outage, ms. Default 10,000. */
  logEveryMs?: number;
  logger?: Logger;
  /** Each stored flush: rows, time from first attempt to durable, tables, and insert requests made meanwhile (by every flush storing). */
  onFlush?: (info: { rows: number; ms: number; tables: number; inserts: number }) => void;
  /** Every failed flush attempt (one call per failing table). */
  onFailure?: (failure: SinkFailure & { table: string }) => void;
  /** Rows the server refused in one flush (before they are handed back to their writers). */
  onRefused?: (rows: readonly RefusedRow[]) => void;
}

/** A row the server refused for its data; `row` is the very object the writer passed in. */
export interface RefusedRow {
  table: string;
  row: Row;
  error: SinkFailure;
  /** False when the isolation budget ran out: the row was refused within a part of `partRows` rows. */
  isolated: boolean;
  partRows: number;
}

type Rows = ReadonlyMap<TableName | string, readonly Row[]>;

interface Waiter {
  rows: Rows;
  resolve: (refused: RefusedRow[]) => void;
  reject: (e: Error) => void;
}

/** A failed data insert, kept with its rows while they are split. */
interface RefusedPart {
  rows: readonly Row[];
  err: unknown;
}

/** `binary`: RowBinary through the table's encoder; `json`: JSONEachRow. */
type Wire = 'binary' | 'json';

export class ClickHouseSink {
  private buffer = new Map<string, Row[]>();
  private buffered = 0;
  private waiters: Waiter[] = [];
  /** Rows written with `defer`, their waiters, and performance.now() of the oldest of them. */
  private deferred = new Map<string, Row[]>();
  private deferredRows = 0;
  private deferredWaiters: Waiter[] = [];
  private deferredSince = 0;
  private deferTimer: NodeJS.Timeout | undefined;
  /** The deferred rows waited `deferMs` (their timer fired). */
  private deferredRipe = false;
  private timer: NodeJS.Timeout | undefined;
  /** performance.now() when `timer` fires. */
  private timerDue = 0;
  /** The flushes storing now (at most `maxFlushes`). */
  private readonly flushing = new Set<Promise<void>>();
  /** Flushes whose last attempt failed. */
  private failing = 0;
  private closed = false;
  private readonly aborted = new AbortController();
  private readonly episode: FailureEpisode | undefined;
  /** Per table: its RowBinary encoder, or null when the table goes as JSONEachRow. */
  private readonly encoders = new Map<string, RowBinaryTableEncoder | null>();
  private readonly defs: ReadonlyMap<string, TableDef>;
  private inserts = 0;
  /** performance.now() when the last flush started. */
  private lastFlushStarted = Number.NEGATIVE_INFINITY;
  /** The classified failure of the last failed attempt: the `cause` of the SinkClosedError every waiter of a flush gets when it is given up. */
  private lastFailure: (SinkFailure & { table: string }) | undefined;
  /** True while a flush's last attempt failed (the warehouse is unavailable). */
  get degraded(): boolean {
    return this.failing > 0;
  }

  constructor(private readonly ch: ClickHouseClient, private readonly opts: SinkOptions) {
    this.episode = opts.logger ? new FailureEpisode(opts.logger, 'clickhouse sink', { repeatMs: opts.logEveryMs ?? 10_000 }) : undefined;
    this.defs = new Map((opts.tables ?? TABLES).map((d) => [d.name, d]));
  }

  /** The insert format in use for the tables of the schema. */
  get format(): SinkInsertFormat {
    return this.opts.format ?? 'RowBinary';
  }

  private encoderFor(table: string): RowBinaryTableEncoder | null {
    let enc = this.encoders.get(table);
    if (enc !== undefined) return enc;
    enc = null;
    const def = this.defs.get(table);
    if (def && this.format === 'RowBinary') {
      try {
        enc = new RowBinaryTableEncoder(def);
      } catch (e) {
        if (!(e instanceof RowBinaryUnsupportedTypeError)) throw e;
        this.opts.logger?.warn({ table, column: e.column, type: e.type }, 'clickhouse sink writes this table as JSONEachRow: a column has no RowBinary encoder');
      }
    }
    this.encoders.set(table, enc);
    return enc;
  }

  /**
   * Buffers rows and resolves once they are durable in ClickHouse, with the rows of this call the server
   * refused for their data (usually none). Rejects only when the sink is closed or aborted first.
   */
  async write(rows: Rows): Promise<RefusedRow[]> {
    if (this.closed) throw new SinkClosedError('sink is closed');
    const n = append(this.buffer, rows);
    if (n === 0) return [];
    this.buffered += n;
    const done = new Promise<RefusedRow[]>((resolve, reject) => this.waiters.push({ rows, resolve, reject }));
    if (this.buffered >= (this.opts.maxRows ?? 20_000)) this.kick(0);
    else this.kick(this.lingerDelay());
    return await done;
  }

  /**
   * Like `write`, for rows nobody waits on soon (operations telemetry): they start no flush of their own
   * and go with the first flush at least `deferMs` after the oldest of them, or alone after `2 × deferMs`
   * when no other write came (or at `close`).
   */
  async defer(rows: Rows): Promise<RefusedRow[]> {
    if (this.closed) throw new SinkClosedError('sink is closed');
    const n = append(this.deferred, rows);
    if (n === 0) return [];
    if (this.deferredRows === 0) this.deferredSince = performance.now();
    this.deferredRows += n;
    const done = new Promise<RefusedRow[]>((resolve, reject) => this.deferredWaiters.push({ rows, resolve, reject }));
    // Ripe after deferMs: they go with the next flush, or alone after another deferMs when none comes.
    const deferMs = this.opts.deferMs ?? 1000;
    this.deferTimer ??= setTimeout(() => {
      this.deferredRipe = true;
      this.deferTimer = setTimeout(() => {
        this.deferTimer = undefined;
        this.kick(this.lingerDelay());
      }, deferMs);
    }, deferMs);
    return await done;
  }

  /** How long rows written now wait for their flush: the rest of the linger, or the idle linger when the sink is idle. */
  private lingerDelay(): number {
    const linger = this.opts.lingerMs ?? 100;
    const sinceLastFlush = performance.now() - this.lastFlushStarted;
    if (sinceLastFlush >= linger) return Math.max(1, this.opts.idleLingerMs ?? linger);
    return Math.max(1, linger - sinceLastFlush);
  }

  /** Flushes after `delay` ms, or sooner when a flush is already due sooner. */
  private kick(delay: number): void {
    if (delay === 0) {
      if (this.timer) clearTimeout(this.timer);
      this.timer = undefined;
      void this.flush();
      return;
    }
    const due = performance.now() + delay;
    if (this.timer && this.timerDue <= due) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerDue = due;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, delay);
  }

  /** Whether the deferred rows go with a flush starting now. */
  private deferredDue(all: boolean): boolean {
    return this.deferredRows > 0 && (all || this.deferredRipe || performance.now() - this.deferredSince >= (this.opts.deferMs ?? 1000));
  }

  /**
   * Flushes everything buffered now (and the deferred rows when due, or all of them with `all`) once fewer
   * than `maxFlushes` are storing; resolves when this flush has stored (or given up).
   */
  async flush(all = false): Promise<void> {
    while (this.flushing.size >= Math.max(1, this.opts.maxFlushes ?? 1)) await Promise.race(this.flushing);
    const withDeferred = this.deferredDue(all);
    if (this.buffered === 0 && !withDeferred) return;
    const batch = this.buffer;
    const waiters = this.waiters;
    let rows = this.buffered;
    this.lastFlushStarted = performance.now();
    this.buffer = new Map();
    this.waiters = [];
    this.buffered = 0;
    if (withDeferred) {
      append(batch, this.deferred);
      waiters.push(...this.deferredWaiters);
      rows += this.deferredRows;
      this.deferred = new Map();
      this.deferredWaiters = [];
      this.deferredRows = 0;
      this.deferredRipe = false;
      if (this.deferTimer) clearTimeout(this.deferTimer);
      this.deferTimer = undefined;
    }
    const storing: Promise<void> = this.store(batch, rows).then(
      (refused) => settle(waiters, refused),
      (err: Error) => waiters.forEach((w) => w.reject(err)),
    ).finally(() => {
      this.flushing.delete(storing);
    });
    this.flushing.add(storing);
    await storing;
  }

  /** Inserts every table's rows, retrying the tables that failed until each has landed or been refused. */
  private async store(batch: Map<string, Row[]>, rows: number): Promise<RefusedRow[]> {
    let todo = [...batch];
    const refused: RefusedRow[] = [];
    let delay = this.opts.retryMs ?? 200;
    const started = performance.now();
    const insertsBefore = this.inserts;
    let failing = false;
    for (let attempt = 1; ; attempt++) {
      const outcomes = await Promise.all(todo.map((part) => this.insertTable(part[0], part[1]).then(
        (value) => ({ part, ok: true as const, value }),
        (reason: unknown) => ({ part, ok: false as const, reason }),
      )));
      const failed: [string, Row[]][] = [];
      for (const outcome of outcomes) {
        if (outcome.ok) refused.push(...outcome.value);
        else {
          failed.push(outcome.part);
          this.failed(outcome.part[0], outcome.reason, outcome.part[1].length);
        }
      }
      if (failed.length === 0) break;
      if (!failing) this.failing++;
      failing = true;
      try {
        if (this.closed) throw new SinkClosedError(`sink closed with ${rows} rows not stored`, { cause: this.lastFailure });
        todo = failed;
        await sleep(delay, this.aborted.signal);
        if (this.closed) throw new SinkClosedError(`sink aborted with ${rows} rows not stored`, { cause: this.lastFailure });
      } catch (e) {
        this.failing--;
        throw e;
      }
      delay = Math.min(delay * 2, this.opts.maxRetryMs ?? 5000);
    }
    if (failing) this.failing--;
    if (this.failing === 0) {
      this.lastFailure = undefined;
      this.episode?.ok();
    }
    if (refused.length) this.refused(refused);
    this.opts.onFlush?.({ rows, ms: performance.now() - started, tables: batch.size, inserts: this.inserts - insertsBefore });
    return refused;
  }

  private failed(table: string, err: unknown, rows: number): void {
    const f = classifySinkError(err);
    this.lastFailure = { ...f, table };
    this.opts.onFailure?.({ ...f, table });
    const hint = f.kind === 'operator' ? 'needs an operator (no row is at fault; nothing goes to DLQ)' : 'transient';
    this.episode?.fail(err, { table, rows, kind: f.kind, reason: f.reason, hint });
  }

  private refused(refused: RefusedRow[]): void {
    this.opts.onRefused?.(refused);
    const groups = new Map<string, { table: string; reason: string; code?: string; message: string; rows: number; unisolated: number }>();
    for (const r of refused) {
      const key = `${r.table}\0${r.error.reason}`;
      const g = groups.get(key) ?? { table: r.table, reason: r.error.reason, ...(r.error.code ? { code: r.error.code } : {}), message: r.error.message, rows: 0, unisolated: 0 };
      g.rows++;
      if (!r.isolated) g.unisolated++;
      groups.set(key, g);
    }
    for (const g of groups.values()) this.opts.logger?.warn(g, 'clickhouse refused rows for their data; the rest of the batch is stored, the refused rows go to DLQ');
  }

  /**
   * One table's rows: RowBinary in inserts of at most `maxInsertBytes`, the rows the encoder refuses as
   * JSONEachRow. A data failure is split down to the refused rows, anything else is thrown.
   */
  private async insertTable(table: string, rows: readonly Row[]): Promise<RefusedRow[]> {
    const enc = this.encoderFor(table);
    if (!enc) return await this.insertPart(table, rows, 'json');
    const { chunks, refused } = enc.encode(rows, this.opts.maxInsertBytes ?? 32 * 1024 * 1024);
    const out: RefusedRow[] = [];
    for (const chunk of chunks) {
      out.push(...(await this.insertPart(table, chunk.rows, 'binary', chunk.data)));
    }
    const [first] = refused;
    if (first) {
      this.opts.logger?.debug({ table, rows: refused.length, column: first.error.column, reason: first.error.reason }, 'rows the RowBinary encoder refused go as JSONEachRow');
      out.push(...(await this.insertPart(table, refused.map((r) => r.row), 'json')));
    }
    return out;
  }

  private async insertPart(table: string, rows: readonly Row[], wire: Wire, encoded?: Buffer): Promise<RefusedRow[]> {
    try {
      await this.insert(table, rows, wire, encoded);
      return [];
    } catch (err) {
      if (classifySinkError(err).kind !== 'data') throw err;
      return await this.isolate(table, { rows, err }, wire);
    }
  }

  private async isolate(table: string, first: RefusedPart, wire: Wire): Promise<RefusedRow[]> {
    const refused: RefusedRow[] = [];
    const work: RefusedPart[] = [first];
    let budget = this.opts.maxIsolationInserts ?? 100;
    for (let part = work.pop(); part; part = work.pop()) {
      if (part.rows.length === 1 || budget <= 0) {
        const isolated = part.rows.length === 1;
        for (const row of part.rows) refused.push({ table, row, error: classifySinkError(part.err), isolated, partRows: part.rows.length });
        continue;
      }
      for (const rows of split(part)) {
        budget--;
        try {
          await this.insert(table, rows, wire);
        } catch (err) {
          if (classifySinkError(err).kind !== 'data') throw err;
          work.push({ rows, err });
        }
      }
    }
    return refused;
  }

  private async insert(table: string, values: readonly Row[], wire: Wire, encoded?: Buffer): Promise<void> {
    this.inserts++;
    // A batch may span many months of event time (a replay, a profile opened years ago): the
    // default limit of 100 partitions per insert would refuse it forever.
    const clickhouse_settings = { max_partitions_per_insert_block: '1000' };
    const enc = wire === 'binary' ? this.encoderFor(table) : null;
    let data = encoded;
    if (enc && !data) {
      // A piece of a part being split: its rows were encodable before (if one no longer is, the
      // piece goes as JSONEachRow and ClickHouse judges it).
      const { chunks, refused } = enc.encode(values);
      const [only, ...more] = chunks;
      if (refused.length === 0) data = only && more.length === 0 ? only.data : Buffer.concat(chunks.map((c) => c.data));
    }
    if (!enc || !data) {
      await this.ch.insert({ table: `${this.opts.database}.${table}`, values: values as Row[], format: 'JSONEachRow', clickhouse_settings });
      return;
    }
    const columns = enc.columns.map((c) => `\`${c}\``).join(', ');
    const result = await this.ch.exec({
      query: `INSERT INTO ${this.opts.database}.${table} (${columns}) FORMAT RowBinary`,
      values: Readable.from([data]),
      clickhouse_settings,
    });
    // The answer of an INSERT is empty; reading it to the end frees the socket for the next request.
    for await (const _chunk of result.stream) { /* nothing */ }
  }

  /** Flushes what is buffered (retrying until `abort()`), then refuses new writes. */
  async close(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.flush(true);
    await Promise.allSettled([...this.flushing]);
    this.closed = true;
  }

  /** Stops retrying: pending waiters are rejected (used at the shutdown deadline). */
  abort(): void {
    this.closed = true;
    this.aborted.abort();
    const err = new SinkClosedError('sink aborted', { cause: this.lastFailure });
    if (this.deferTimer) clearTimeout(this.deferTimer);
    this.deferTimer = undefined;
    for (const w of [...this.waiters, ...this.deferredWaiters]) w.reject(err);
    this.waiters = [];
    this.deferredWaiters = [];
  }
}

/** Appends `rows` to `buffer` by table; returns how many rows. */
function append(buffer: Map<string, Row[]>, rows: Rows): number {
  let n = 0;
  for (const [table, list] of rows) {
    if (list.length === 0) continue;
    let buf = buffer.get(table);
    if (!buf) buffer.set(table, (buf = []));
    for (const r of list) buf.push(r);
    n += list.length;
  }
  return n;
}

/**
 * Splits a refused part: around the row the error names (the rows before it parsed, so they should land;
 * the named row alone; the rest), else in halves. Every piece is smaller than the part, so splitting ends.
 */
function split(part: RefusedPart): Row[][] {
  const rows = part.rows;
  const at = refusedRowHint(part.err);
  const pieces = at !== undefined && at >= 1 && at <= rows.length
    ? [rows.slice(0, at - 1), rows.slice(at - 1, at), rows.slice(at)]
    : [rows.slice(0, rows.length >> 1), rows.slice(rows.length >> 1)];
  return pieces.filter((p) => p.length > 0);
}

/** Hands each writer back the refused rows it wrote. */
function settle(waiters: readonly Waiter[], refused: readonly RefusedRow[]): void {
  if (refused.length === 0) {
    for (const w of waiters) w.resolve([]);
    return;
  }
  const byRow = new Map(refused.map((r) => [r.row, r]));
  for (const w of waiters) {
    const mine: RefusedRow[] = [];
    for (const list of w.rows.values()) for (const row of list) {
      const r = byRow.get(row);
      if (r) mine.push(r);
    }
    w.resolve(mine);
  }
}
