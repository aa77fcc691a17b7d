/**
 * The access audit (docs/security.md): one row per read of a customer's data, per admin action, per
 * sign-in and per refused request, written by the API (api/audit.ts). Kept apart from the scorer's tables
 * (`TABLES`): a replay rebuilds those from `TX` and truncates them, never this one. No TTL: how long a bank
 * keeps its access records is its policy (add one with `ALTER TABLE vafa.access_audit MODIFY TTL …`).
 */
import type { ClickHouseClient } from '@clickhouse/client';
import { createClusterTableSql, createTableSql, type ClusterOptions, type TableDef } from './schema.js';
import { view, type ViewDef } from './views.js';

export const AUDIT_TABLE: TableDef = {
  name: 'access_audit',
  comment: 'who read which customer, and every admin action, sign-in and refused request (never a key, only its id)',
  columns: [
    { name: 'at', type: "DateTime64(3, 'UTC')" },
    { name: 'audit_id', type: 'String', comment: 'random, unique: a retried insert replaces instead of adding' },
    { name: 'principal', type: 'String', comment: 'key id, proxy:<user> or anonymous; never the key' },
    { name: 'via', type: 'LowCardinality(String)', comment: 'bearer, session, proxy, open, or none (refused)' },
    { name: 'action', type: 'LowCardinality(String)', comment: 'customer.view, customer.ledger, leaderboard.view, dashboard.view, auth.login, admin.*, auth.denied…' },
    { name: 'customer_id', type: 'String', default: "''" },
    { name: 'method', type: 'LowCardinality(String)' },
    { name: 'route', type: 'LowCardinality(String)' },
    { name: 'status', type: 'UInt16' },
    { name: 'remote_addr', type: 'String', comment: 'the client address (the forwarded one behind a trusted proxy)' },
    { name: 'user_agent', type: 'String', default: "''" },
    { name: 'request_id', type: 'String', default: "''" },
    { name: 'detail', type: 'String', default: "''", comment: 'the query string or what the action changed' },
  ],
  orderBy: ['customer_id', 'at', 'audit_id'],
  partitionBy: 'toYYYYMM(at)',
};

export const AUDIT_VIEWS: readonly ViewDef[] = [
  view('v_access_audit_daily', 'access audit per day, principal and action: requests, customers touched, refusals', (db) => `
SELECT toDate(at) AS day, principal, action, count() AS requests, uniqExactIf(customer_id, customer_id != '') AS customers,
       countIf(status >= 400) AS refused, min(at) AS first_at, max(at) AS last_at
FROM ${db}.access_audit FINAL
GROUP BY day, principal, action`),
];

export function auditStatements(database: string, cluster?: ClusterOptions): string[] {
  const table = cluster ? createClusterTableSql(AUDIT_TABLE, cluster, database) : [createTableSql(AUDIT_TABLE, database)];
  const views = AUDIT_VIEWS.map((v) => {
    const sql = v.sql(database);
    return cluster ? sql.replace(`VIEW ${database}.${v.name} AS`, `VIEW ${database}.${v.name} ON CLUSTER ${cluster.cluster} AS`) : sql;
  });
  return [...table, ...views];
}

export async function migrateAudit(ch: ClickHouseClient, database: string, cluster?: ClusterOptions): Promise<number> {
  for (const query of auditStatements(database, cluster)) await ch.command({ query });
  return AUDIT_VIEWS.length;
}
