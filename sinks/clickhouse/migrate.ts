/**
 * Migrations: create the database, the contract's tables and the reporting views. Idempotent; run by
 * `vafa migrate`, and by `vafa up` / the scorer at start.
 */
import type { ClickHouseClient } from '@clickhouse/client';
import { TABLES, addColumnStatements, schemaStatements, type ClusterOptions } from './schema.js';
import { VIEWS, type ViewDef } from './views.js';
import { loyaltyViews, viewsCalendar, type BankCalendar } from './loyalty-views.js';
import { feedbackViews } from './feedback-views.js';
import { surveyViews } from './survey-views.js';
import { offerViews } from './offer-views.js';
import { migrateDashboardViews } from './dashboard-views.js';
import { migrateAudit } from './audit.js';
import { shippedPolicy } from '../../config/mod.js';
import { applyRetention, type RetentionChange } from './retention.js';
import type { RetentionDays } from '../../config/mod.js';

export interface MigrateOptions {
  cluster?: ClusterOptions;
  /**
   * The bank calendar of the loyalty rules in force (`bank_time_offset`, `week_starts`): the reporting
   * views cut bank-local days, weeks and months with it. Every deployment passes its configured rules
   * (`VAFA_RULES`). Absent: the calendar the views already record (`v_bank_calendar`), so that a tool
   * that does not read the rules never resets a bank's calendar; on a new database the shipped rules'
   * (Tehran, +03:30, weeks from Saturday), for tests.
   */
  calendar?: BankCalendar;
  /**
   * Days each table keeps its rows (`VAFA_RETENTION_DAYS`, config/retention.ts), applied as TTLs to new
   * and existing tables. Every deployment passes its settings. Absent: the tables' TTLs are left as they
   * are (tests and tools that write fixed historical dates must not see them expire under them).
   */
  retention?: RetentionDays;
}

export async function migrate(ch: ClickHouseClient, database: string, opts: MigrateOptions = {}): Promise<{ tables: number; views: number; retention: RetentionChange[] }> {
  const { cluster, retention } = opts;
  for (const query of schemaStatements(database, cluster)) await ch.command({ query });
  await addMissingColumns(ch, database, cluster);
  const calendar = opts.calendar ?? await recordedCalendar(ch, database) ?? shippedPolicy().calendar;
  const views = [...VIEWS, ...calendarViews(calendar)];
  await createViews(ch, database, views, cluster);
  const dash = await migrateDashboardViews(ch, database, cluster);
  const auditViews = await migrateAudit(ch, database, cluster);
  const changed = retention ? await applyRetention(ch, database, retention, cluster) : [];
  return { tables: TABLES.length + 1, views: views.length + dash.views + auditViews, retention: changed };
}

/**
 * Re-creates the views that depend on the bank calendar (loyalty, offer, feedback and survey reporting), e.g.
 * after a rules reload changed `bank_time_offset` or `week_starts`. The views are computed at query time,
 * so every period, past ones included, is then cut with the new calendar. Returns the number of views.
 */
export async function migrateCalendarViews(ch: ClickHouseClient, database: string, calendar: BankCalendar, cluster?: ClusterOptions): Promise<number> {
  const views = calendarViews(calendar);
  await createViews(ch, database, views, cluster);
  return views.length;
}

/** The calendar-dependent views in creation order (the survey views read the offer views). */
function calendarViews(calendar: BankCalendar): ViewDef[] {
  return [...loyaltyViews(calendar), ...offerViews(calendar.offsetMin), ...feedbackViews(calendar.offsetMin), ...surveyViews(calendar.offsetMin)];
}

/** The calendar `v_bank_calendar` records, or undefined when the database has no such view yet. */
async function recordedCalendar(ch: ClickHouseClient, database: string): Promise<BankCalendar | undefined> {
  const rs = await ch.query({
    query: "SELECT count() AS n FROM system.tables WHERE database = {db:String} AND name = 'v_bank_calendar'",
    query_params: { db: database }, format: 'JSONEachRow',
  });
  const [row] = await rs.json<{ n: number | string }>();
  return Number(row?.n ?? 0) > 0 ? viewsCalendar(ch, database) : undefined;
}

async function createViews(ch: ClickHouseClient, database: string, views: readonly ViewDef[], cluster?: ClusterOptions): Promise<void> {
  for (const v of views) {
    const sql = v.sql(database);
    await ch.command({ query: cluster ? sql.replace(`VIEW ${database}.${v.name} AS`, `VIEW ${database}.${v.name} ON CLUSTER ${cluster.cluster} AS`) : sql });
  }
}

/** Tables created by an older vafa get the columns added since (see `addColumnStatements`). */
async function addMissingColumns(ch: ClickHouseClient, database: string, cluster?: ClusterOptions): Promise<void> {
  const rs = await ch.query({
    query: 'SELECT table, name FROM system.columns WHERE database = {db:String}',
    query_params: { db: database }, format: 'JSONEachRow',
  });
  const live = new Map<string, Set<string>>();
  for (const r of await rs.json<{ table: string; name: string }>()) {
    let cols = live.get(r.table);
    if (!cols) live.set(r.table, (cols = new Set()));
    cols.add(r.name);
  }
  for (const def of TABLES) {
    const cols = live.get(cluster ? `${def.name}_local` : def.name);
    if (!cols) continue;
    for (const query of addColumnStatements(def, cols, database, cluster)) await ch.command({ query });
  }
}
