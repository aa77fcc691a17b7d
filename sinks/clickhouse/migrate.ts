/**
 * Migrations: create the database, the contract's tables and the reporting views. Idempotent; run by
 * `vafa migrate`, and by `vafa up` / the scorer at start.
 */
import type { ClickHouseClient } from '@clickhouse/client';
import { TABLES, createTableSql } from './schema.js';
import { VIEWS } from './views.js';

export async function migrate(ch: ClickHouseClient, database: string): Promise<{ tables: number; views: number }> {
  await ch.command({ query: `CREATE DATABASE IF NOT EXISTS ${database}` });
  for (const def of TABLES) await ch.command({ query: createTableSql(def, database) });
  for (const v of VIEWS) await ch.command({ query: v.sql(database) });
  return { tables: TABLES.length, views: VIEWS.length };
}
