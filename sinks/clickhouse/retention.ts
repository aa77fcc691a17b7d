/**
 * Retention per table as ClickHouse TTLs (config/retention.ts, docs/security.md). `migrate` calls
 * `applyRetention`: each table whose TTL differs from its setting gets `ALTER TABLE … MODIFY TTL` (or
 * `REMOVE TTL` for 0), new and existing tables alike; a table already right is left alone, so a start
 * costs one read of `system.tables`. A time-ordered dashboard copy follows its source's setting. A
 * changed TTL is materialized by ClickHouse in the background (rows past it go at once, not at the next
 * merge).
 */
import type { ClickHouseClient } from '@clickhouse/client';
import { RETENTION_DEFAULTS, type RetainedTable, type RetentionDays } from '../../config/mod.js';
import { DASHBOARD_VIEWS } from './dashboard-views.js';
import type { ClusterOptions } from './schema.js';

/** The event-time column each retained table's TTL counts from. */
export const RETENTION_TIME_COLUMN: Readonly<Record<RetainedTable, string>> = {
  scored_transactions: 'occurred_at',
  points_ledger: 'occurred_at',
  customer_state: 'updated_at',
  offers: 'created_at',
  offers_held: 'held_at',
  offer_conversions: 'offered_at',
  lifecycle_transitions: 'occurred_at',
  tier_changes: 'occurred_at',
  feedback: 'occurred_at',
  scorer_batches: 'flushed_at',
  access_audit: 'at',
};

export interface RetentionTarget {
  table: string;
  /** The setting it follows (its own, or its source's for a dashboard copy). */
  setting: RetainedTable;
  timeColumn: string;
  days: number;
}

const isRetained = (t: string): t is RetainedTable => t in RETENTION_DEFAULTS;

/** Every table with a retention: the settings' tables and the dashboard copies of them. */
export function retentionTargets(retention: RetentionDays): RetentionTarget[] {
  const own = (Object.keys(RETENTION_TIME_COLUMN) as RetainedTable[]).map((t) => ({ table: t, setting: t, timeColumn: RETENTION_TIME_COLUMN[t], days: retention[t] }));
  const copies = DASHBOARD_VIEWS.flatMap((v) => (v.kind === 'table' && v.source && v.timeColumn && isRetained(v.source)
    ? [{ table: v.name, setting: v.source, timeColumn: v.timeColumn, days: retention[v.source] }]
    : []));
  return [...own, ...copies];
}

/** The TTL expression as ClickHouse prints it in `engine_full` (so a table already right is recognised). */
export function ttlExpression(timeColumn: string, days: number): string {
  return `toDateTime(${timeColumn}) + toIntervalDay(${days})`;
}

/** The table's TTL in `engine_full`, or '' without one. */
export function currentTtl(engineFull: string): string {
  const ttl = /\sTTL\s(?<ttl>.+?)(?:\sSETTINGS\s.*)?$/s.exec(engineFull)?.groups?.ttl;
  return ttl?.trim() ?? '';
}

export interface RetentionChange {
  table: string;
  from: string;
  to: string;
}

/**
 * Brings every retained table's TTL to its setting; returns what changed. Tables not there yet are skipped
 * (`migrate` creates them first). Clustered: the replicated `<name>_local` tables, `ON CLUSTER`.
 */
export async function applyRetention(ch: ClickHouseClient, database: string, retention: RetentionDays, cluster?: ClusterOptions): Promise<RetentionChange[]> {
  const rs = await ch.query({
    query: 'SELECT name, engine_full FROM system.tables WHERE database = {db:String}',
    query_params: { db: database }, format: 'JSONEachRow',
  });
  const live = new Map((await rs.json<{ name: string; engine_full: string }>()).map((r) => [r.name, r.engine_full]));
  const changes: RetentionChange[] = [];
  for (const target of retentionTargets(retention)) {
    const name = cluster ? `${target.table}_local` : target.table;
    const engineFull = live.get(name);
    if (engineFull === undefined) continue;
    const from = currentTtl(engineFull);
    const to = target.days > 0 ? ttlExpression(target.timeColumn, target.days) : '';
    if (from === to) continue;
    const onCluster = cluster ? ` ON CLUSTER ${cluster.cluster}` : '';
    const alter = to ? `MODIFY TTL toDateTime(${target.timeColumn}) + INTERVAL ${target.days} DAY` : 'REMOVE TTL';
    await ch.command({ query: `ALTER TABLE ${database}.${name}${onCluster} ${alter}` });
    changes.push({ table: target.table, from, to });
  }
  return changes;
}
