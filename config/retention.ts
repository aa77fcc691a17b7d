/**
 * How long each ClickHouse table keeps its rows (docs/security.md, "What is stored where, for how long").
 * `vafa migrate` (and every start) applies these as table TTLs; a time-ordered dashboard copy of a table
 * (`dash_*_v1`) keeps its rows as long as its source. A bank changes them with `VAFA_RETENTION_DAYS`
 * (`table=days,…`, over these defaults); `0` keeps rows for ever (no TTL).
 */

export const RETENTION_DEFAULTS = {
  /** Scored transactions: 400 days (13 months: a year-on-year comparison plus a month to report it). */
  scored_transactions: 400,
  /**
   * Points ledger: 3,650 days (10 years). Points are a liability on the bank's books, and the ledger is the
   * record behind it: commercial and tax law keeps accounting records 6–10 years (10 under the strictest,
   * e.g. Germany's HGB §257). Keep it above the longest life of a point, or expired-by-TTL earnings would
   * leave the liability report short.
   */
  points_ledger: 3650,
  /**
   * The customer snapshot: 0 (kept while the customer is): one row per customer, replaced on every event,
   * read by look-ups and snapshot panels; a dormant customer is a win-back candidate, not data to drop.
   * Erasure removes it.
   */
  customer_state: 0,
  /** Offer and survey decisions, holdouts included: 400 days (a year of campaign reporting plus a month). */
  offers: 400,
  /** Decisions the consent rules held back (never sent): 400 days, like the offers they stand for. */
  offers_held: 400,
  /** Conversions, by the time of their offer: 400 days, like the offers they belong to. */
  offer_conversions: 400,
  /** Lifecycle stage changes: 400 days. */
  lifecycle_transitions: 400,
  /** Tier changes: 730 days (tiers are reviewed yearly: the current and the previous review period). */
  tier_changes: 730,
  /**
   * Feedback, complaints included: 1,095 days (3 years, the complaint-record retention of e.g. the UK FCA's
   * DISP 1.9; the free text with it).
   */
  feedback: 1095,
  /** Scorer micro-batches (operations, no customer data): 30 days. */
  scorer_batches: 30,
  /**
   * The access audit: 2,555 days (7 years). Who read which customer is evidence a bank is asked for in
   * disputes, audits and breach investigations years later; 5–7 years is the usual record-keeping rule.
   */
  access_audit: 2555,
} as const;

export type RetainedTable = keyof typeof RETENTION_DEFAULTS;

/** Days each table keeps its rows; 0 = for ever. */
export type RetentionDays = Readonly<Record<RetainedTable, number>>;

/**
 * Every table keeps its rows (0 everywhere): what `vafa up --simulate` uses unless `VAFA_RETENTION_DAYS` is
 * set, since the synthetic bank's history lies in the past (from 2025-01-01) and a TTL would expire it as it
 * arrives; and what tests use, for the same reason.
 */
export const RETENTION_OFF: RetentionDays = Object.freeze(Object.fromEntries(Object.keys(RETENTION_DEFAULTS).map((t) => [t, 0])) as Record<RetainedTable, number>);

/** Longest retention accepted, days (100 years: past it a typo, not a policy). */
export const MAX_RETENTION_DAYS = 36_500;

export class RetentionSettingError extends Error {
  override readonly name = 'RetentionSettingError';
}

/**
 * Parses `table=days,table=days` over the defaults. Throws `RetentionSettingError` naming the entry for an
 * unknown table, a non-integer or out-of-range number of days, or a table given twice.
 */
export function parseRetention(raw: string | undefined): RetentionDays {
  const out: Record<RetainedTable, number> = { ...RETENTION_DEFAULTS };
  if (raw === undefined || raw.trim() === '') return Object.freeze(out);
  const seen = new Set<string>();
  for (const entry of raw.split(',').map((e) => e.trim()).filter(Boolean)) {
    const m = /^([a-z_]+)\s*=\s*(\d+)$/.exec(entry);
    if (!m) throw new RetentionSettingError(`"${entry}": expected table=days (e.g. scored_transactions=400)`);
    const [, table, days] = m as unknown as [string, string, string];
    if (!(table in RETENTION_DEFAULTS)) throw new RetentionSettingError(`"${entry}": unknown table ${table} (one of ${Object.keys(RETENTION_DEFAULTS).join(', ')})`);
    if (seen.has(table)) throw new RetentionSettingError(`"${entry}": ${table} is given twice`);
    seen.add(table);
    const n = Number(days);
    if (n > MAX_RETENTION_DAYS) throw new RetentionSettingError(`"${entry}": at most ${MAX_RETENTION_DAYS} days (0 keeps rows for ever)`);
    out[table as RetainedTable] = n;
  }
  return Object.freeze(out);
}
