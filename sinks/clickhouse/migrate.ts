/**
 * Migrations: create the database, the contract's tables and the reporting views. Idempotent; run by
 * `vafa migrate`, and by `vafa up` / the scorer at start.
 */
import type { ClickHouseClient } from '@clickhouse/client';
import { TABLES, addColumnStatements, schemaStatements, type ClusterOptions } from './schema.js';
import { VIEWS } from './views.js';
import { LOYALTY_VIEWS } from './loyalty-views.js';
import { FEEDBACK_VIEWS } from './feedback-views.js';
import { SURVEY_VIEWS } from './survey-views.js';
import { OFFER_VIEWS } from './offer-views.js';
import { migrateDashboardViews } from './dashboard-views.js';
import { migrateAudit } from './audit.js';

export async function migrate(ch: ClickHouseClient, database: string, cluster?: ClusterOptions): Promise<{ tables: number; views: number }> {
  for (const query of schemaStatements(database, cluster)) await ch.command({ query });
  await addMissingColumns(ch, database, cluster);
  const views = [...VIEWS, ...LOYALTY_VIEWS, ...OFFER_VIEWS, ...FEEDBACK_VIEWS, ...SURVEY_VIEWS];
  for (const v of views) {
    const sql = v.sql(database);
    await ch.command({ query: cluster ? sql.replace(`VIEW ${database}.${v.name} AS`, `VIEW ${database}.${v.name} ON CLUSTER ${cluster.cluster} AS`) : sql });
  }
  const dash = await migrateDashboardViews(ch, database, cluster);
  const auditViews = await migrateAudit(ch, database, cluster);
  return { tables: TABLES.length + 1, views: views.length + dash.views + auditViews };
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
