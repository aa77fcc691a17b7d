/**
 * Migrations: create the database, the contract's tables and the reporting views. Idempotent; run by
 * `vafa migrate`, and by `vafa up` / the scorer at start.
 */
import type { ClickHouseClient } from '@clickhouse/client';
import { TABLES, schemaStatements, type ClusterOptions } from './schema.js';
import { VIEWS } from './views.js';

export async function migrate(ch: ClickHouseClient, database: string, cluster?: ClusterOptions): Promise<{ tables: number; views: number }> {
  for (const query of schemaStatements(database, cluster)) await ch.command({ query });
  for (const v of VIEWS) {
    const sql = v.sql(database);
    await ch.command({ query: cluster ? sql.replace(`VIEW ${database}.${v.name} AS`, `VIEW ${database}.${v.name} ON CLUSTER ${cluster.cluster} AS`) : sql });
  }
  return { tables: TABLES.length, views: VIEWS.length };
}
