/**
 * Erasure of one customer from the warehouse (right to erasure, docs/security.md "Erasure").
 *
 * What happens to each table with a `customer_id` column:
 * - **pseudonymised** (`ERASURE_POLICY`): the rows the bank must keep or that reports add up — the points
 *   ledger (the record behind the points liability: accounting law keeps it), transactions, offers,
 *   conversions, stage and tier changes, feedback scores, the access audit — are copied under a random
 *   erasure id (`erased-<24 hex>`, drawn per erasure, derived from nothing, stored nowhere with the
 *   customer id once the erasure ends) with their identifying fields blanked, then the originals are
 *   deleted. Totals, the liability and every aggregate stay exact; nothing leads back to the person.
 * - **deleted**: the customer snapshot (`customer_state`, the profile itself) and every other table with a
 *   `customer_id` column — the dashboard copies (their materialized views refill them with the
 *   pseudonymised rows) and any table added later (erased by default, not forgotten).
 *
 * Deletes are mutations (`ALTER TABLE … DELETE`, waited for by polling `system.mutations`, at most
 * `MUTATION_DEADLINE_MS`): the parts holding the customer are rewritten without them, not merely masked as
 * a lightweight `DELETE` would. The old parts stay on disk until ClickHouse drops inactive parts
 * (`old_parts_lifetime`, 8 minutes by default on a server); the embedded engine (chDB) never does, so the
 * erasure removes those the engine left past their lifetime itself (`settleOldParts`).
 *
 * Resumable: while it runs, `erasure_pending` holds the customer id and its erasure id, so a retry after a
 * failure reuses the same erasure id (the copies replace, not add: same sorting key and version); the row
 * is deleted last. One erasure of a customer at a time (callers serialize).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, rmSync } from 'node:fs';
import type { ClickHouseClient } from '@clickhouse/client';
import { sleep } from '../../platform/mod.js';

/** The erasure id that replaces the customer id in kept rows. */
export const ERASURE_ID_PATTERN = /^erased-[0-9a-f]{24}$/;

/**
 * How an id column derived from the customer id is re-derived from the erasure id: `customer-prefix` for
 * ids that start with `<customer id>:` (stage and tier changes), `offer` for an offer id (a hash of the
 * customer id, its code and the triggering event: re-hashed under the erasure id, the same way in every
 * table so offers, conversions and survey answers still join), `offer-prefix` for `<offer id>:…`.
 */
export type IdRewrite = 'customer-prefix' | 'offer' | 'offer-prefix';

export interface TablePolicy {
  /** String columns emptied in the kept copy (identifiers and free text). */
  blank?: readonly string[];
  /** Id columns derived from the customer id, re-derived from the erasure id. */
  rewrite?: Readonly<Record<string, IdRewrite>>;
  /** Why the rows are kept (docs). */
  why: string;
}

/** The access audit's rows are evidence: a read logged after the erasure began is kept too (`eraseCustomer`). */
const ACCESS_AUDIT_POLICY: TablePolicy = { why: 'who read the customer stays provable (the audit is evidence); the id in the URL is replaced too' };

/** Tables whose rows are kept under the erasure id; every other table with `customer_id` is deleted from. */
export const ERASURE_POLICY: Readonly<Record<string, TablePolicy>> = {
  points_ledger: { why: 'the record behind the points liability: accounting records are kept (config/retention.ts)' },
  scored_transactions: { blank: ['card_token', 'merchant_id', 'terminal_id', 'biller_id'], why: 'amounts by day, channel and branch stay in the reports; card token and merchant go' },
  offers: { rewrite: { offer_id: 'offer' }, why: 'campaign reports, budgets and holdout comparisons stay exact' },
  offer_conversions: { rewrite: { offer_id: 'offer', conversion_id: 'offer-prefix' }, why: 'conversion rates stay exact' },
  lifecycle_transitions: { rewrite: { transition_id: 'customer-prefix' }, why: 'stage-flow reports stay exact' },
  tier_changes: { rewrite: { change_id: 'customer-prefix' }, why: 'tier reports stay exact' },
  feedback: { blank: ['text'], rewrite: { offer_id: 'offer' }, why: 'CSAT, NPS and complaint counts stay exact; the free text goes' },
  access_audit: ACCESS_AUDIT_POLICY,
};


/**
 * Id columns of *other* customers' rows that may embed the erased customer's id: a referral credit names
 * the referred customer (`ref:<rules version>:<id>`, scorer/core/loyalty/referral.ts) in the referrer's
 * ledger rows (`source_id`, and `entry_id` `credit:rd:ref:…` or the lot's later rows) and their dashboard
 * copy. The id in them is re-derived from the erasure id (copy, then delete), like an offer id: the
 * referrer's balance, liability and bonus counts stay exact. The copy goes into the source table only; its
 * materialized view fills the copy.
 */
export const REFERRAL_COLUMNS: Readonly<Record<string, readonly string[]>> = { points_ledger: ['entry_id', 'source_id'], dash_ledger_v1: ['entry_id'] };
/** The tables among `REFERRAL_COLUMNS` whose copies their materialized view fills. */
const REFERRAL_COPIES = new Set(['dash_ledger_v1']);

/** Tables never touched: the erasure's own bookkeeping. */
const EXCLUDED = new Set(['erasure_pending']);

export const PENDING_TABLE_SQL = (db: string): string => `CREATE TABLE IF NOT EXISTS ${db}.erasure_pending (
  customer_id String, erasure_id String, started_at DateTime64(3, 'UTC')
) ENGINE = ReplacingMergeTree ORDER BY customer_id
COMMENT 'erasures under way: a retry reuses the erasure id; a row lives only while its erasure runs'`;

export interface ErasureRequest {
  customerId: string;
  /** Who asked: a key id, `cli:<user>`… (recorded in the audit). */
  principal: string;
  via: string;
  method: string;
  route: string;
  remoteAddr: string;
  userAgent?: string;
  requestId?: string;
  /** The bank's reference for the request (a ticket number), recorded in the audit; never personal data. */
  reference?: string;
  /**
   * Makes the scorer forget the customer (scorer/runtime/erasure.ts `forgetInScorer`), called with the
   * erasure id before any row is touched: rows the scorer writes after it carry nothing of the history, so
   * none comes back after the deletes. A failure fails the erasure (a retry reuses the erasure id).
   */
  forget?: (erasureId: string) => Promise<unknown>;
  /**
   * How long after the deletes the access audit is swept again, ms: the API writes its audit rows in
   * batches (every second, api/audit.ts), so a read of the customer just before the erasure can land
   * after it. Default `LATE_AUDIT_MS`; 0: no second sweep.
   */
  lateAuditMs?: number;
  /** Longest wait for the old parts of the changed tables to leave the disk, ms. Default `OLD_PARTS_WAIT_MS`. */
  oldPartsWaitMs?: number;
}

/** The second sweep of the access audit (`ErasureRequest.lateAuditMs`): 2.5 times the audit's 1 s batches. */
export const LATE_AUDIT_MS = 2_500;

export interface TableErasure {
  table: string;
  action: 'pseudonymised' | 'deleted';
  /** Rows of the customer found (before de-duplication). */
  rows: number;
}

/** The inactive parts the erasure's mutations left (they held the customer's rows before). */
export interface OldParts {
  /** Removed from disk by the erasure: the engine left them past their lifetime (the embedded engine never removes them). */
  removed: number;
  /** Still on disk when the erasure ended: ClickHouse removes them `old_parts_lifetime` after the mutation. */
  left: number;
  /** The longest `old_parts_lifetime` of the tables still holding some, seconds (0 when none is left). */
  lifetime_s: number;
}

export interface ErasureResult {
  erasure_id: string;
  /** Whether any row of the customer was found (the access audit aside). */
  found: boolean;
  tables: TableErasure[];
  /** Rows of other customers (their referral credits) whose ids named the customer, re-derived from the erasure id, per table. */
  referrals: Record<string, number>;
  /** The old parts of the changed tables (and `erasure_pending`): removed, or left for ClickHouse to drop. */
  old_parts: OldParts;
  /** The audit row recording the erasure. */
  audit_id: string;
  ms: number;
}

export class ErasureUnsupportedError extends Error {
  override readonly name = 'ErasureUnsupportedError';
}

export class ErasureInputError extends Error {
  override readonly name = 'ErasureInputError';
}

/** A delete (mutation) failed or did not finish in time; a retry resumes the erasure. */
export class ErasureIncompleteError extends Error {
  override readonly name = 'ErasureIncompleteError';
}

/** At most this many characters in a customer id (the API's limit). */
export const MAX_CUSTOMER_ID = 64;
const REFERENCE = /^[\w.:/#-]{1,64}$/;

export function checkErasureInput(customerId: string, reference: string | undefined): void {
  if (customerId.trim() === '' || customerId.length > MAX_CUSTOMER_ID) throw new ErasureInputError(`customer_id: 1 to ${MAX_CUSTOMER_ID} characters`);
  if (customerId !== customerId.trim()) throw new ErasureInputError('customer_id: no leading or trailing spaces');
  if (ERASURE_ID_PATTERN.test(customerId)) throw new ErasureInputError('customer_id: that is an erasure id, already anonymous');
  if (reference !== undefined && !REFERENCE.test(reference)) throw new ErasureInputError('reference: 1 to 64 letters, digits or . : / # - _ (a ticket number, never personal data)');
}

/**
 * Longest an erasure waits for the old parts of the tables it changed to leave the disk, ms: only while
 * one of them reaches its `old_parts_lifetime` within it (a server's default 8 minutes is not waited for).
 */
export const OLD_PARTS_WAIT_MS = 15_000;
const OLD_PARTS_POLL_MS = 500;
/** ClickHouse's default `old_parts_lifetime`, seconds (a table's or the server's own setting wins). */
const DEFAULT_OLD_PARTS_LIFETIME_S = 480;

/** Longest an erasure waits for its deletes (ClickHouse mutations) to finish, ms. */
export const MUTATION_DEADLINE_MS = 600_000;
const MUTATION_POLL_MS = 200;

async function rows<T>(ch: ClickHouseClient, query: string, params: Record<string, unknown>): Promise<T[]> {
  const rs = await ch.query({ query, query_params: params, format: 'JSONEachRow', clickhouse_settings: { output_format_json_quote_64bit_integers: 0 } });
  return await rs.json<T>();
}

/** The tables holding a `customer_id` column, with their insertable columns in order. */
async function customerTables(ch: ClickHouseClient, db: string): Promise<Map<string, string[]>> {
  const engines = await rows<{ name: string; engine: string }>(ch, 'SELECT name, engine FROM system.tables WHERE database = {db:String}', { db });
  const distributed = engines.filter((t) => t.engine === 'Distributed').map((t) => t.name);
  if (distributed.length) throw new ErasureUnsupportedError(`erasure on a clustered warehouse is not built (Distributed tables: ${distributed.slice(0, 3).join(', ')}…)`);
  const mergeTree = new Set(engines.filter((t) => t.engine.endsWith('MergeTree')).map((t) => t.name));
  const cols = await rows<{ table: string; name: string }>(ch,
    `SELECT table, name FROM system.columns WHERE database = {db:String} AND default_kind NOT IN ('MATERIALIZED', 'ALIAS', 'EPHEMERAL')
     ORDER BY table, position`, { db });
  const out = new Map<string, string[]>();
  for (const c of cols) {
    if (!mergeTree.has(c.table) || EXCLUDED.has(c.table)) continue;
    let list = out.get(c.table);
    if (!list) out.set(c.table, (list = []));
    list.push(c.name);
  }
  for (const [t, list] of out) if (!list.includes('customer_id')) out.delete(t);
  return out;
}

async function pendingErasureId(ch: ClickHouseClient, db: string, customerId: string): Promise<string> {
  await ch.command({ query: PENDING_TABLE_SQL(db) });
  const [found] = await rows<{ erasure_id: string }>(ch, `SELECT erasure_id FROM ${db}.erasure_pending FINAL WHERE customer_id = {id:String} LIMIT 1`, { id: customerId });
  if (found) return found.erasure_id;
  const erasureId = `erased-${randomBytes(12).toString('hex')}`;
  await ch.insert({ table: `${db}.erasure_pending`, values: [{ customer_id: customerId, erasure_id: erasureId, started_at: new Date().toISOString() }], format: 'JSONEachRow' });
  return erasureId;
}

/**
 * Deletes are mutations, and ClickHouse keeps a mutation's command (system.mutations, a file beside the
 * table) long after it ran: they name the customer through `erasure_pending` by the erasure id, so the
 * customer id is not written there. Once that row is gone the condition matches nothing.
 */
const ofPending = (db: string): string => `customer_id IN (SELECT customer_id FROM ${db}.erasure_pending WHERE erasure_id = {erasure_id:String})`;

/** Waits until every mutation naming the erasure id is done (not over one HTTP request: it may take minutes). */
async function waitForMutations(ch: ClickHouseClient, db: string, erasureId: string): Promise<void> {
  const deadline = Date.now() + MUTATION_DEADLINE_MS;
  for (;;) {
    const [m] = await rows<{ running: number; failed: string }>(ch,
      `SELECT countIf(NOT is_done) AS running, anyIf(latest_fail_reason, latest_fail_reason != '') AS failed
       FROM system.mutations WHERE database = {db:String} AND position(command, {erasure_id:String}) > 0`, { db, erasure_id: erasureId });
    if (m?.failed) throw new ErasureIncompleteError(`a delete failed: ${m.failed.slice(0, 300)}`);
    if (!m?.running) return;
    if (Date.now() > deadline) throw new ErasureIncompleteError(`the deletes did not finish within ${MUTATION_DEADLINE_MS / 1000} s; they go on in ClickHouse: retry the erasure to resume`);
    await sleep(MUTATION_POLL_MS);
  }
}

const ident = (name: string): string => `\`${name.replace(/`/g, '')}\``;

const offerExpr = (x: string): string => `if(${x} = '', '', concat('of_', substring(lower(hex(SHA256(concat({erasure_id:String}, ':', ${x})))), 1, 24)))`;

/** The SQL expression that re-derives `column` from the erasure id. */
export function rewriteExpr(column: string, how: IdRewrite): string {
  const c = ident(column);
  switch (how) {
    case 'customer-prefix':
      return `if(startsWith(${c}, concat({id:String}, ':')), concat({erasure_id:String}, substring(${c}, length({id:String}) + 1)), ${c})`;
    case 'offer':
      return offerExpr(c);
    case 'offer-prefix':
      return `if(position(${c}, ':') = 0, ${offerExpr(c)}, concat(${offerExpr(`substring(${c}, 1, position(${c}, ':') - 1)`)}, substring(${c}, position(${c}, ':'))))`;
  }
}

/** Copies the customer's rows of a kept table under the erasure id, personal fields blanked or re-hashed (the deletes follow). */
async function keepPseudonymised(ch: ClickHouseClient, db: string, table: string, policy: TablePolicy, columns: readonly string[], params: { id: string; erasure_id: string }): Promise<void> {
  const blank = new Set(policy.blank ?? []);
  const rewrite = policy.rewrite ?? {};
  // Positional, without aliases: an alias named like a column would replace it in the WHERE clause.
  const select = columns.map((c) => {
    if (c === 'customer_id') return '{erasure_id:String}';
    if (blank.has(c)) return "''";
    if (rewrite[c]) return rewriteExpr(c, rewrite[c]);
    if (table === 'access_audit' && c === 'detail') return 'replaceAll(detail, {id:String}, {erasure_id:String})';
    return ident(c);
  });
  await ch.command({
    query: `INSERT INTO ${db}.${table} (${columns.map(ident).join(', ')}) SELECT ${select.join(', ')} FROM ${db}.${table} FINAL WHERE customer_id = {id:String}`,
    query_params: params,
  });
}

/** Each table's `old_parts_lifetime`, seconds: its own setting, else the engine's default. */
async function oldPartsLifetimes(ch: ClickHouseClient, db: string, tables: readonly string[]): Promise<Map<string, number>> {
  const [general] = await rows<{ value: string }>(ch, "SELECT value FROM system.merge_tree_settings WHERE name = 'old_parts_lifetime'", {});
  const byDefault = Number(general?.value ?? DEFAULT_OLD_PARTS_LIFETIME_S);
  const engines = await rows<{ name: string; engine_full: string }>(ch, 'SELECT name, engine_full FROM system.tables WHERE database = {db:String} AND name IN {tables:Array(String)}', { db, tables });
  const out = new Map<string, number>();
  for (const t of engines) {
    const own = /\bold_parts_lifetime\s*=\s*(\d+)/.exec(t.engine_full)?.[1];
    out.set(t.name, own === undefined ? byDefault : Number(own));
  }
  return out;
}

/**
 * The inactive parts of `tables` (the parts the mutations replaced: they held the customer) leave the
 * disk: ClickHouse removes each `old_parts_lifetime` after it became inactive. One the engine left past
 * its lifetime (the embedded chDB runs no cleanup: issue chdb-io/chdb#107), whose directory is on this
 * machine and which no query holds (`refcount` 1), is removed here; the engine never reads an inactive part
 * again, and a restart loads only the directories it finds. Waits at most `deadlineMs`, and only while a part
 * reaches its lifetime within it.
 */
export async function settleOldParts(ch: ClickHouseClient, db: string, tables: readonly string[], deadlineMs = OLD_PARTS_WAIT_MS): Promise<OldParts> {
  const lifetimes = await oldPartsLifetimes(ch, db, tables);
  const [active] = await rows<{ path: string }>(ch, 'SELECT any(path) AS path FROM system.parts WHERE database = {db:String} AND table IN {tables:Array(String)} AND active', { db, tables });
  // The engine's files are on this machine (the embedded engine): a part whose directory is gone was removed.
  const local = active?.path ? existsSync(active.path) : false;
  const removedPaths = new Set<string>();
  const until = Date.now() + deadlineMs;
  for (;;) {
    const parts = await rows<{ table: string; path: string; refcount: number; age_s: number }>(ch,
      `SELECT table, path, refcount, dateDiff('second', remove_time, now()) AS age_s FROM system.parts
       WHERE database = {db:String} AND table IN {tables:Array(String)} AND NOT active`, { db, tables });
    const left: typeof parts = [];
    for (const p of parts) {
      if (removedPaths.has(p.path) || (local && !existsSync(p.path))) continue;
      const lifetime = lifetimes.get(p.table) ?? DEFAULT_OLD_PARTS_LIFETIME_S;
      if (local && p.age_s >= lifetime && p.refcount <= 1) {
        rmSync(p.path, { recursive: true, force: true });
        removedPaths.add(p.path);
      } else {
        left.push(p);
      }
    }
    const soonest = Math.min(...left.map((p) => (lifetimes.get(p.table) ?? DEFAULT_OLD_PARTS_LIFETIME_S) - p.age_s));
    if (left.length === 0 || Date.now() + soonest * 1000 > until) {
      return { removed: removedPaths.size, left: left.length, lifetime_s: left.length ? Math.max(...left.map((p) => lifetimes.get(p.table) ?? DEFAULT_OLD_PARTS_LIFETIME_S)) : 0 };
    }
    await sleep(OLD_PARTS_POLL_MS);
  }
}

/** `column` ends with `ref:<version>:<who>` (after `:` or at its start); `who` is an SQL expression. */
function namesReferred(column: string, who: string): string {
  const c = ident(column);
  return `(endsWith(${c}, concat(':', ${who})) AND match(substring(${c}, 1, length(${c}) - length(${who}) - 1), '(^|:)ref:[^:]+$'))`;
}

/**
 * Re-derives, under the erasure id, the ids of other customers' rows that name the customer as the one
 * they referred (`REFERRAL_COLUMNS`): copies into the source table, then deletes of the originals (the
 * mutations name the customer through `erasure_pending`). Returns the rows found per table.
 */
async function rederiveReferrals(ch: ClickHouseClient, db: string, tables: Map<string, string[]>, params: { id: string; erasure_id: string }): Promise<Map<string, number>> {
  const found = new Map<string, number>();
  const pending = `(SELECT any(customer_id) FROM ${db}.erasure_pending WHERE erasure_id = {erasure_id:String})`;
  for (const [table, idColumns] of Object.entries(REFERRAL_COLUMNS)) {
    const columns = tables.get(table);
    if (!columns || !idColumns.every((c) => columns.includes(c))) continue;
    const naming = (who: string): string => `customer_id != ${who} AND (${idColumns.map((c) => namesReferred(c, who)).join(' OR ')})`;
    const [c] = await rows<{ n: number }>(ch, `SELECT count() AS n FROM ${db}.${table} WHERE ${naming('{id:String}')}`, params);
    const n = c?.n ?? 0;
    if (n === 0) continue;
    found.set(table, n);
    if (!REFERRAL_COPIES.has(table)) {
      const select = columns.map((col) => (idColumns.includes(col)
        ? `if(${namesReferred(col, '{id:String}')}, concat(substring(${ident(col)}, 1, length(${ident(col)}) - length({id:String})), {erasure_id:String}), ${ident(col)})`
        : ident(col)));
      await ch.command({
        query: `INSERT INTO ${db}.${table} (${columns.map(ident).join(', ')}) SELECT ${select.join(', ')} FROM ${db}.${table} FINAL WHERE ${naming('{id:String}')}`,
        query_params: params,
      });
    }
  }
  for (const [table, idColumns] of Object.entries(REFERRAL_COLUMNS)) {
    if (!found.has(table)) continue;
    await ch.command({ query: `ALTER TABLE ${db}.${table} DELETE WHERE ${`customer_id != ${pending} AND (${idColumns.map((c) => namesReferred(c, pending)).join(' OR ')})`}`, query_params: params });
  }
  return found;
}

/**
 * Erases `customerId` from every table of `db` (see the file comment) and records an `admin.erase` row in
 * `access_audit` whose `customer_id` is the erasure id. Returns per table what was done.
 */
export async function eraseCustomer(ch: ClickHouseClient, db: string, req: ErasureRequest): Promise<ErasureResult> {
  checkErasureInput(req.customerId, req.reference);
  const t0 = performance.now();
  const tables = await customerTables(ch, db);
  const erasureId = await pendingErasureId(ch, db, req.customerId);
  await req.forget?.(erasureId);
  const params = { id: req.customerId, erasure_id: erasureId };
  const counts = new Map<string, number>();
  for (const table of tables.keys()) {
    const [c] = await rows<{ n: number }>(ch, `SELECT count() AS n FROM ${db}.${table} WHERE customer_id = {id:String}`, params);
    counts.set(table, c?.n ?? 0);
  }
  // Kept copies first (their materialized views refill the dashboard copies), then every delete.
  for (const [table, columns] of tables) {
    const policy = ERASURE_POLICY[table];
    if (policy && (counts.get(table) ?? 0) > 0) await keepPseudonymised(ch, db, table, policy, columns, params);
  }
  const referrals = await rederiveReferrals(ch, db, tables, params);
  for (const table of tables.keys()) {
    if ((counts.get(table) ?? 0) === 0) continue;
    await ch.command({ query: `ALTER TABLE ${db}.${table} DELETE WHERE ${ofPending(db)}`, query_params: params });
  }
  await waitForMutations(ch, db, erasureId);
  const audit = tables.get('access_audit');
  const lateAuditMs = req.lateAuditMs ?? LATE_AUDIT_MS;
  if (audit && lateAuditMs > 0) {
    await sleep(lateAuditMs);
    const [late] = await rows<{ n: number }>(ch, `SELECT count() AS n FROM ${db}.access_audit WHERE customer_id = {id:String}`, params);
    if ((late?.n ?? 0) > 0) {
      await keepPseudonymised(ch, db, 'access_audit', ACCESS_AUDIT_POLICY, audit, params);
      await ch.command({ query: `ALTER TABLE ${db}.access_audit DELETE WHERE ${ofPending(db)}`, query_params: params });
      await waitForMutations(ch, db, erasureId);
      counts.set('access_audit', (counts.get('access_audit') ?? 0) + (late?.n ?? 0));
    }
  }
  const result: TableErasure[] = [...tables.keys()].sort().map((table) => ({ table, action: ERASURE_POLICY[table] ? 'pseudonymised' : 'deleted', rows: counts.get(table) ?? 0 }));
  // The audit alone is not the customer's data: a look-up of an erased id is audited like any other.
  const found = result.some((r) => r.rows > 0 && r.table !== 'access_audit');
  const auditId = randomUUID();
  const detail = JSON.stringify({ found, ...(req.reference ? { reference: req.reference } : {}), tables: Object.fromEntries(result.filter((r) => r.rows > 0).map((r) => [r.table, `${r.action} ${r.rows}`])) });
  await ch.insert({
    table: `${db}.access_audit`,
    values: [{
      at: new Date().toISOString(), audit_id: auditId, principal: req.principal, via: req.via, action: 'admin.erase', customer_id: erasureId,
      method: req.method, route: req.route, status: 200, remote_addr: req.remoteAddr, user_agent: (req.userAgent ?? '').slice(0, 200), request_id: req.requestId ?? '',
      detail: detail.slice(0, 2000),
    }],
    format: 'JSONEachRow',
  });
  await ch.command({ query: `ALTER TABLE ${db}.erasure_pending DELETE WHERE erasure_id = {erasure_id:String}`, query_params: params });
  await waitForMutations(ch, db, erasureId);
  const changed = [...new Set([...result.filter((r) => r.rows > 0).map((r) => r.table), ...referrals.keys()])];
  const oldParts = await settleOldParts(ch, db, [...changed, 'erasure_pending'], req.oldPartsWaitMs);
  return { erasure_id: erasureId, found, tables: result, referrals: Object.fromEntries(referrals), old_parts: oldParts, audit_id: auditId, ms: Math.round(performance.now() - t0) };
}
