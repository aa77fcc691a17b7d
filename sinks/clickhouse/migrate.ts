/**
 * Migrations: create the database, the contract's tables and the reporting views. Idempotent; run by
 * `vafa migrate`, and by `vafa up` / the scorer at start.
 */
import type { ClickHouseClient } from '@clickhouse/client';
import { TABLES, schemaStatements, type ClusterOptions } from './schema.js';
import { VIEWS } from './views.js';
import { LOYALTY_VIEWS } from './loyalty-views.js';
import { FEEDBACK_VIEWS } from './feedback-views.js';
import { migrateDashboardViews } from './dashboard-views.js';

export async function migrate(ch: ClickHouseClient, database: string, cluster?: ClusterOptions): Promise<{ tables: number; views: number }> {
  for (const query of schemaStatements(database, cluster)) await ch.command({ query });
  const views = [...VIEWS, ...LOYALTY_VIEWS, ...FEEDBACK_VIEWS];
  for (const v of views) {
    const sql = v.sql(database);
    await ch.command({ query: cluster ? sql.replace(`VIEW ${database}.${v.name} AS`, `VIEW ${database}.${v.name} ON CLUSTER ${cluster.cluster} AS`) : sql });
  }
  const dash = await migrateDashboardViews(ch, database, cluster);
  return { tables: TABLES.length, views: views.length + dash.views };
}
