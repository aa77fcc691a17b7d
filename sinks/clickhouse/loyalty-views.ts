/**
 * Loyalty reporting in ClickHouse: earnings per bank-local day / week / month, top-earner leaderboards
 * (bank-wide and per branch) and the daily movements finance reconciles the points liability with.
 * Every view reads `points_ledger FINAL`, so a replayed event never counts twice.
 *
 * Periods are bank-local: the ledger's UTC `occurred_at` is shifted by the bank's UTC offset (from the
 * rules file) before it is cut into days, weeks (starting on the rules' `week_starts`) and months.
 * "Points earned" in a period = earn + bonus rows of the period, less the reversals booked in it.
 * The branch is the member's branch recorded on each ledger row.
 */
import type { ClickHouseClient } from '@clickhouse/client';
import { bankDay, dayOfWeek, DAY_MS } from '../../scorer/core/mod.js';
import { shippedPolicy } from '../../config/mod.js';
import { view, type ViewDef } from './views.js';

export interface BankCalendar {
  /** Minutes east of UTC (Tehran: 210). */
  offsetMin: number;
  /** First day of the week, 0 = Sunday … 6 = Saturday. */
  weekStart: number;
}

/** The calendar part of loaded rules (`LoyaltyRules` has both fields). */
export const calendarOf = (cal: BankCalendar): BankCalendar => ({ offsetMin: Math.trunc(cal.offsetMin), weekStart: Math.trunc(cal.weekStart) });

/** Same offset and week start. */
export const sameCalendar = (a: BankCalendar, b: BankCalendar): boolean =>
  Math.trunc(a.offsetMin) === Math.trunc(b.offsetMin) && Math.trunc(a.weekStart) === Math.trunc(b.weekStart);

/**
 * The loyalty views for a bank calendar (the rules file's `bank_time_offset` and `week_starts`; `migrate`
 * passes the configured rules). `v_bank_calendar` records the calendar the views were made with, so the
 * leaderboard picks its periods with the same one.
 */
export function loyaltyViews(cal: BankCalendar = shippedPolicy().calendar): ViewDef[] {
  const off = Math.trunc(cal.offsetMin);
  const ws = Math.trunc(cal.weekStart);
  if (ws < 0 || ws > 6) throw new Error(`weekStart must be 0..6, got ${ws}`);
  if (!Number.isFinite(off) || Math.abs(off) > 14 * 60) throw new Error(`offsetMin must be within ±14 hours, got ${cal.offsetMin}`);
  return [
    view('v_bank_calendar', 'the bank calendar the reporting views cut days, weeks and months with: minutes east of UTC, first day of the week (0 = Sunday)', () => `
SELECT toInt32(${off}) AS offset_min, toUInt8(${ws}) AS week_start`),
    view('v_loyalty_earnings', 'points earned per customer, member branch and bank-local day (earn + bonus − reverse − refund)', (db) => `
SELECT
  toDate(addMinutes(occurred_at, ${off})) AS day,
  customer_id,
  branch_id,
  sumIf(points, kind IN ('earn', 'bonus')) AS earned,
  -sumIf(points, kind = 'reverse') AS reversed,
  -sumIf(points, kind = 'refund') AS refunded,
  sum(points) AS net_points
FROM ${db}.points_ledger FINAL
WHERE kind IN ('earn', 'bonus', 'reverse', 'refund')
GROUP BY day, customer_id, branch_id`),
    view('v_loyalty_points_by_period', 'points earned per customer and member branch per bank-local day, week and month', (db) => `
SELECT 'day' AS period, day AS period_start, customer_id, branch_id, sum(net_points) AS points
FROM ${db}.v_loyalty_earnings GROUP BY period_start, customer_id, branch_id
UNION ALL
SELECT 'week' AS period, subtractDays(day, (toDayOfWeek(day) % 7 + ${7 - ws}) % 7) AS period_start, customer_id, branch_id, sum(net_points) AS points
FROM ${db}.v_loyalty_earnings GROUP BY period_start, customer_id, branch_id
UNION ALL
SELECT 'month' AS period, toStartOfMonth(day) AS period_start, customer_id, branch_id, sum(net_points) AS points
FROM ${db}.v_loyalty_earnings GROUP BY period_start, customer_id, branch_id`),
    view('v_loyalty_leaderboard', 'top earners bank-wide per period (rank 1 = most points)', (db) => `
SELECT period, period_start, customer_id, total AS points,
  rank() OVER (PARTITION BY period, period_start ORDER BY total DESC) AS rank
FROM (
  SELECT period, period_start, customer_id, sum(points) AS total
  FROM ${db}.v_loyalty_points_by_period
  GROUP BY period, period_start, customer_id
)
WHERE total > 0`),
    view('v_loyalty_branch_leaderboard', 'top earners per member branch and period (rank 1 = most points)', (db) => `
SELECT period, period_start, branch_id, customer_id, points,
  rank() OVER (PARTITION BY period, period_start, branch_id ORDER BY points DESC) AS rank
FROM ${db}.v_loyalty_points_by_period
WHERE points > 0`),
    view('v_loyalty_movements_daily', 'points movements per bank-local day, kind, rule and branch: the liability finance reconciles', (db) => `
SELECT
  toDate(addMinutes(occurred_at, ${off})) AS day,
  kind,
  rule_id,
  rules_version,
  branch_id,
  count() AS movements,
  sum(points) AS total_points
FROM ${db}.points_ledger FINAL
GROUP BY day, kind, rule_id, rules_version, branch_id`),
  ];
}

/** The loyalty views for the shipped rules' calendar (Tehran, +03:30, weeks from Saturday). */
export const LOYALTY_VIEWS: ViewDef[] = loyaltyViews();

export type LeaderboardPeriod = 'day' | 'week' | 'month';

export interface LeaderboardOptions {
  period: LeaderboardPeriod;
  /** Only members of this branch (the branch on their ledger rows); all branches when absent. */
  branch?: string;
  limit: number;
  /** Any instant inside the wanted period, epoch ms; default: now (the API's clock). */
  at?: number;
  /** Default: the calendar the views were made with (`v_bank_calendar`), i.e. the configured rules'. */
  calendar?: BankCalendar;
}

export interface LeaderboardRow {
  rank: number;
  customer_id: string;
  points: number;
}

export interface Leaderboard {
  period: LeaderboardPeriod;
  /** Bank-local first day of the period, YYYY-MM-DD. */
  period_start: string;
  branch: string | null;
  rows: LeaderboardRow[];
}

/** First bank-local day of the period containing `at`, as YYYY-MM-DD. */
export function periodStart(period: LeaderboardPeriod, at: number, cal: BankCalendar = shippedPolicy().calendar): string {
  let day = bankDay(at, cal.offsetMin);
  if (period === 'week') day -= (dayOfWeek(day) - cal.weekStart + 7) % 7;
  const d = new Date(day * DAY_MS);
  if (period === 'month') d.setUTCDate(1);
  return d.toISOString().slice(0, 10);
}

/** The calendar the loyalty views of `db` were made with (`v_bank_calendar`, written by `migrate`). */
export async function viewsCalendar(ch: ClickHouseClient, db: string): Promise<BankCalendar> {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(db)) throw new Error(`bad database name ${db}`);
  const rs = await ch.query({ query: `SELECT offset_min, week_start FROM ${db}.v_bank_calendar`, format: 'JSONEachRow' });
  const [row] = await rs.json<{ offset_min: number | string; week_start: number | string }>();
  if (!row) throw new Error(`${db}.v_bank_calendar is empty: run migrate`);
  return { offsetMin: Number(row.offset_min), weekStart: Number(row.week_start) };
}

/**
 * Top earners of one period, bank-wide or for one branch: parameters are bound, never interpolated.
 * Ties share a rank (1, 2, 2, 4) and are listed by customer id.
 */
export async function leaderboard(ch: ClickHouseClient, db: string, opts: LeaderboardOptions): Promise<Leaderboard> {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(db)) throw new Error(`bad database name ${db}`);
  if (!['day', 'week', 'month'].includes(opts.period)) throw new Error(`period must be day, week or month, got ${String(opts.period)}`);
  const limit = Math.max(1, Math.min(1000, Math.trunc(opts.limit)));
  const start = periodStart(opts.period, opts.at ?? Date.now(), opts.calendar ?? await viewsCalendar(ch, db));
  const branch = opts.branch !== undefined && opts.branch !== '' ? opts.branch : null;
  const rs = await ch.query({
    query: `SELECT customer_id, total AS points, rank() OVER (ORDER BY total DESC) AS rank
FROM (
  SELECT customer_id, sum(points) AS total
  FROM ${db}.v_loyalty_points_by_period
  WHERE period = {period:String} AND period_start = {start:Date}${branch !== null ? ' AND branch_id = {branch:String}' : ''}
  GROUP BY customer_id
  HAVING total > 0
)
ORDER BY total DESC, customer_id ASC
LIMIT {limit:UInt32}`,
    query_params: { period: opts.period, start, limit, ...(branch !== null ? { branch } : {}) },
    format: 'JSONEachRow',
    clickhouse_settings: { output_format_json_quote_64bit_integers: 0 },
  });
  const rows = await rs.json<{ customer_id: string; points: number | string; rank: number | string }>();
  return {
    period: opts.period, period_start: start, branch,
    rows: rows.map((r) => ({ rank: Number(r.rank), customer_id: r.customer_id, points: Number(r.points) })),
  };
}
