/**
 * The access audit writer: the API records who read which customer's data, every admin action, sign-in
 * and refused request; rows are batched into `access_audit` (sinks/clickhouse/audit.ts) at most every
 * `flushMs` or every `maxBatch` rows. Bounded: at most `maxBuffered` rows wait while ClickHouse is down;
 * past that the oldest are dropped, counted (`vafa_access_audit_dropped_total`) and logged once per
 * episode. An admin action's row is written at once and waited for (`recordDurably`: before its answer).
 * Closing flushes what is left within a deadline (the API's close, before the ClickHouse client closes):
 * a process killed without a close loses at most the rows of the last `flushMs` (plus, while ClickHouse
 * is unreachable, what waits for it).
 */
import { createHash, randomUUID } from 'node:crypto';
import type { ClickHouseClient } from '@clickhouse/client';
import { Counter, type Registry } from 'prom-client';
import { FailureEpisode, withDeadline, type Logger } from '../platform/mod.js';

/** How long `close` tries to write what is buffered, ms: within the API's stop phase (3 s). */
export const AUDIT_CLOSE_DEADLINE_MS = 2000;
/** How long an admin action's answer waits for its audit row (`recordDurably`), ms. */
export const AUDIT_DURABLE_DEADLINE_MS = 5000;

export interface AuditEntry {
  principal: string;
  via: string;
  action: string;
  customer_id?: string;
  method: string;
  route: string;
  status: number;
  remote_addr: string;
  user_agent?: string;
  request_id?: string;
  detail?: string;
}

interface AuditRow extends Required<AuditEntry> {
  at: string;
  audit_id: string;
}

export interface AccessAuditOptions {
  warehouse: ClickHouseClient;
  database: string;
  logger: Logger;
  registry?: Registry;
  /** Longest a recorded row waits before it is written, ms. Default 1000. */
  flushMs?: number;
  /** Most rows a single insert carries. Default 1000. */
  maxBatch?: number;
  /** Most rows waiting (ClickHouse down); older ones are dropped past it. Default 50,000. */
  maxBuffered?: number;
}

export class AccessAudit {
  private buffer: AuditRow[] = [];
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  private closed = false;
  private readonly episode: FailureEpisode;
  private readonly droppedCounter: Counter | undefined;
  dropped = 0;
  written = 0;
  /** Rows of an insert still unanswered when `close` gave up: they may or may not have landed. */
  unconfirmed = 0;
  private inflight = 0;

  constructor(private readonly opts: AccessAuditOptions) {
    this.episode = new FailureEpisode(opts.logger, 'access audit insert');
    const existing = opts.registry?.getSingleMetric('vafa_access_audit_dropped_total') as Counter | undefined;
    this.droppedCounter = existing ?? (opts.registry
      ? new Counter({ name: 'vafa_access_audit_dropped_total', help: 'access audit rows dropped because ClickHouse could not take them in time', registers: [opts.registry] })
      : undefined);
  }

  record(e: AuditEntry): void {
    if (this.closed) return;
    this.buffer.push(auditRow(e));
    this.bound();
    if (this.buffer.length >= (this.opts.maxBatch ?? 1000)) void this.flush();
    else if (!this.timer) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        void this.flush();
      }, this.opts.flushMs ?? 1000);
      this.timer.unref();
    }
  }

  /**
   * Writes `e` now and resolves once ClickHouse holds it (an admin action, before its answer). Returns
   * false when it could not within `deadlineMs`: the row is then buffered like a read's and retried.
   */
  async recordDurably(e: AuditEntry, deadlineMs = AUDIT_DURABLE_DEADLINE_MS): Promise<boolean> {
    const row = auditRow(e);
    try {
      await withDeadline(insertAuditRows(this.opts.warehouse, this.opts.database, [row]), deadlineMs, 'access audit insert');
      this.written++;
      this.episode.ok();
      return true;
    } catch (err) {
      this.episode.fail(err);
      if (this.closed) return false;
      this.buffer.push(row); // the same audit_id: should the timed-out insert land after all, the retry replaces it
      this.bound();
      this.retryLater();
      return false;
    }
  }

  /** Writes what is buffered (one insert per `maxBatch` rows); failed rows stay for the next flush. */
  flush(): Promise<void> {
    this.flushing ??= this.write().finally(() => {
      this.flushing = undefined;
    });
    return this.flushing;
  }

  get pending(): number {
    return this.buffer.length;
  }

  /**
   * Stops recording and writes what is left: one attempt, at most `deadlineMs`. Rows it could not write
   * are counted as dropped and logged.
   */
  async close(deadlineMs = AUDIT_CLOSE_DEADLINE_MS): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    const flushed = (async () => {
      await this.flushing;
      await this.flush();
    })();
    await withDeadline(flushed, deadlineMs, 'access audit flush').catch(() => undefined);
    const lost = this.buffer.length;
    this.unconfirmed = this.inflight;
    if (lost === 0 && this.unconfirmed === 0) return;
    this.buffer = [];
    this.dropped += lost;
    this.droppedCounter?.inc(lost);
    this.opts.logger.error({ rows: lost, unconfirmed: this.unconfirmed, deadlineMs }, 'access audit: rows not written at shutdown (ClickHouse did not take them in time)');
  }

  /** Drops the oldest rows past `maxBuffered`, counting them. */
  private bound(): void {
    const max = this.opts.maxBuffered ?? 50_000;
    if (this.buffer.length <= max) return;
    const n = this.buffer.length - max;
    this.buffer.splice(0, n);
    this.dropped += n;
    this.droppedCounter?.inc(n);
    this.episode.fail(new Error(`buffer full: ${n} row(s) dropped`));
  }

  private async write(): Promise<void> {
    const maxBatch = this.opts.maxBatch ?? 1000;
    while (this.buffer.length > 0) {
      const rows = this.buffer.splice(0, maxBatch);
      this.inflight = rows.length;
      try {
        await insertAuditRows(this.opts.warehouse, this.opts.database, rows);
        this.inflight = 0;
        this.written += rows.length;
        this.episode.ok();
      } catch (err) {
        this.inflight = 0;
        this.buffer.unshift(...rows);
        this.episode.fail(err);
        this.bound();
        this.retryLater();
        return;
      }
    }
  }

  private retryLater(): void {
    if (this.closed || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, Math.max(1000, this.opts.flushMs ?? 1000));
    this.timer.unref();
  }
}

function auditRow(e: AuditEntry): AuditRow {
  return { at: new Date().toISOString(), audit_id: randomUUID(), customer_id: '', user_agent: '', request_id: '', detail: '', ...e };
}

/**
 * Inserts audit rows at once and resolves when ClickHouse holds them: for writers that are not the API
 * (`vafa backfill`), whose record must be durable before they report.
 */
export async function insertAuditRows(warehouse: ClickHouseClient, database: string, rows: readonly (AuditEntry | AuditRow)[]): Promise<void> {
  if (rows.length === 0) return;
  const values = rows.map((r) => ('audit_id' in r ? r : auditRow(r)));
  await warehouse.insert({ table: `${database}.access_audit`, values, format: 'JSONEachRow' });
}

/** Who sent a request and from where: the part of an audit row every item of one request shares. */
export type AuditRequest = Omit<AuditEntry, 'action' | 'customer_id' | 'status' | 'detail'>;

/**
 * The access-audit rows of a profile batch's consent and membership statements (docs/security.md,
 * Consent and membership): for each accepted profile that states them, `membership.change` and/or
 * `consent.change` naming the customer, with what was stated and when the customer gave it in `detail`
 * (`sms=withdrawn@2026-11-02T10:00:00Z email=granted@…`). A re-sent identical profile (a duplicate) is not
 * recorded again; a refused one changes nothing and is not recorded either.
 */
export function statementAuditEntries(request: AuditRequest, items: readonly unknown[], results: readonly { index: number; status: string }[]): AuditEntry[] {
  const entries: AuditEntry[] = [];
  for (const result of results) {
    if (result.status !== 'accepted') continue;
    const item = items[result.index] as { customer_id?: unknown; membership?: Statement; consent?: Record<string, Statement | undefined> } | undefined;
    if (!item || typeof item.customer_id !== 'string') continue;
    const base = { ...request, customer_id: item.customer_id, status: 202 };
    if (item.membership) entries.push({ ...base, action: 'membership.change', detail: `membership=${stated(item.membership)}` });
    const consent = Object.entries(item.consent ?? {}).filter((e): e is [string, Statement] => e[1] !== undefined);
    if (consent.length) entries.push({ ...base, action: 'consent.change', detail: consent.map(([channel, s]) => `${channel}=${stated(s)}`).join(' ') });
  }
  return entries;
}

/** A consent or membership statement read from a history file (`vafa backfill`), as applied at `seq`. */
export interface FileStatement {
  file: string;
  line: number;
  seq: number;
  body: Record<string, unknown>;
}

/**
 * The access-audit rows of statements that entered through history files (`vafa backfill`), as the API's
 * for `POST /v1/customers`: `membership.change` / `consent.change` naming the customer, `principal` the
 * operator (`cli:<os user>`), `via` `cli`, `remote_addr` where it came from (`<file>:<line>`), status 202.
 * Each row's `audit_id` is derived from the file, line, stream sequence and action, and ids already in the
 * table are not written again, so a backfill resumed after a failure records each statement once.
 * Resolves once ClickHouse holds them; returns how many were written.
 */
export async function auditFileStatements(warehouse: ClickHouseClient, database: string, principal: string, statements: readonly FileStatement[]): Promise<number> {
  const rows: AuditRow[] = [];
  for (const st of statements) {
    const request: AuditRequest = { principal, via: 'cli', method: 'BACKFILL', route: 'vafa backfill', remote_addr: `${st.file}:${st.line}`.slice(-500), user_agent: '', request_id: `seq:${st.seq}` };
    for (const entry of statementAuditEntries(request, [st.body], [{ index: 0, status: 'accepted' }])) {
      rows.push({ ...auditRow(entry), audit_id: `backfill-${createHash('sha256').update(`${st.file}\n${st.line}\n${st.seq}\n${entry.action}`).digest('hex').slice(0, 32)}` });
    }
  }
  const fresh: AuditRow[] = [];
  for (let i = 0; i < rows.length; i += 10_000) {
    const chunk = rows.slice(i, i + 10_000);
    const rs = await warehouse.query({
      query: `SELECT audit_id FROM ${database}.access_audit WHERE customer_id IN {customers:Array(String)} AND audit_id IN {ids:Array(String)}`,
      query_params: { customers: [...new Set(chunk.map((r) => r.customer_id))], ids: chunk.map((r) => r.audit_id) },
      format: 'JSONEachRow',
    });
    const present = new Set((await rs.json<{ audit_id: string }>()).map((r) => r.audit_id));
    fresh.push(...chunk.filter((r) => !present.has(r.audit_id)));
  }
  for (let i = 0; i < fresh.length; i += 10_000) await insertAuditRows(warehouse, database, fresh.slice(i, i + 10_000));
  return fresh.length;
}

interface Statement { status: string; at: string }

function stated(s: Statement): string {
  return `${s.status}@${s.at}`;
}
