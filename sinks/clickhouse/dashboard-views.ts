/**
 * What the dashboards read (Grafana's and the built-in one): time-ordered copies of the fact tables kept
 * by materialized views, a small table of filter values, and a narrow view of the customer snapshot.
 *
 * Why copies and not pre-aggregates. Every contract table is a ReplacingMergeTree keyed by a deterministic
 * id, and the scorer re-inserts rows when it replays (after a restart, from its last checkpoint). A
 * materialized view sees insert blocks, not merged rows, so a SummingMergeTree / AggregatingMergeTree
 * `sum` or `count` behind it would count every replayed row again. ClickHouse's insert de-duplication
 * does not save it: it only drops byte-identical blocks, and the sink coalesces rows differently on each
 * attempt. The only aggregate states that stay right under replay are idempotent ones (uniqExact, min,
 * max, any, argMax), and for sums they would have to keep every id: no saving.
 *
 * So each materialized view writes a narrow copy of its table into a ReplacingMergeTree with the same
 * deterministic id and version column, but sorted by time first (`toStartOfHour(t), …, id`). A replayed row
 * lands on the same sorting key and is replaced exactly as in the source table, and panels read the copy
 * with FINAL, so totals never change. What the copy buys: the source tables are sorted by customer (for
 * look-ups) and FINAL stops ClickHouse from pruning their partitions by a time filter (26.x defers
 * partition pruning until after FINAL), so a "last 6 hours" panel on them reads every row ever written;
 * on the copy the time prefix of the primary key selects just the granules of the range, FINAL or not.
 * Granules are 1,024 rows (not 8,192) because the copies are narrow and dashboard ranges are short.
 *
 * The copies assume what the scorer guarantees: a row's time column and the other sorting-key columns
 * (branch, channel, campaign) never change for a given id, so a replay lands on the same key.
 *
 * The customer snapshot (`customer_state`, one live row per customer) cannot be maintained incrementally
 * by a materialized view at all: a customer moving from one stage to another would have to leave the old
 * group, which an insert-only view cannot express. Snapshot panels read `dash_customers`, a plain view over
 * `customer_state FINAL` with the columns they need (the churn reasons as text among them: columns a panel
 * does not select are not computed); reading every customer is what a snapshot needs. `dash_customer_reasons`
 * has one row per reason of the latest score, parsed from `churn_reasons` in the view, not in the panels.
 *
 * Names carry a version (`_v1`): a changed definition gets a new name, the old copy is dropped by hand.
 * `migrateDashboardViews` creates everything idempotently and back-fills a copy from its source when its
 * materialized view is first created (rows that arrive while it runs land twice and are replaced: harmless).
 */
import type { ClickHouseClient } from '@clickhouse/client';
import { TABLES, type ClusterOptions } from './schema.js';
import type { ViewDef } from './views.js';

export interface DashboardViewDef extends ViewDef {
  kind: 'table' | 'materialized' | 'view';
  /** The source table a copy, materialized view or view reads. */
  source?: string;
  /** The time column a copy is sorted by (what dashboard time filters use); absent for snapshots. */
  timeColumn?: string;
  /** For a materialized view: the statement that back-fills its target from the source (run once). */
  backfill?: (db: string) => string;
  /** The clustered form (ReplicatedReplacingMergeTree `<name>_local` + Distributed `<name>`, ON CLUSTER). */
  clusterSql?: (db: string, cluster: ClusterOptions) => string[];
}

/** Type of a contract column, so the copies follow schema.ts. */
function typeOf(table: string, column: string): string {
  const def = TABLES.find((t) => t.name === table);
  const col = def?.columns.find((c) => c.name === column);
  if (!col) throw new Error(`dashboard views: ${table}.${column} is not in schema.ts`);
  return col.type;
}

const q = (s: string): string => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
const zoo = (db: string, c: ClusterOptions, local: string): string => `${(c.zooPath ?? '/clickhouse/tables/{shard}/{database}').replace('{database}', db)}/${local}`;

interface TableShape {
  name: string;
  comment: string;
  columns: string[];
  version?: string;
  partitionBy?: string;
  orderBy: string;
  ttl?: string;
  granularity?: number;
  /** Sharding key of the Distributed table in the clustered form (the sources' own: the customer). */
  shardKey: string;
}

function tableSql(db: string, t: TableShape, cluster?: ClusterOptions): [create: string, ...distributed: string[]] {
  const name = cluster ? `${t.name}_local` : t.name;
  const engine = cluster
    ? `ReplicatedReplacingMergeTree(${q(zoo(db, cluster, name))}, '{replica}'${t.version ? `, ${t.version}` : ''})`
    : `ReplacingMergeTree(${t.version ?? ''})`;
  const create = [
    `CREATE TABLE IF NOT EXISTS ${db}.${name}${cluster ? ` ON CLUSTER ${cluster.cluster}` : ''} (`,
    t.columns.join(',\n'),
    `) ENGINE = ${engine}`,
    t.partitionBy ? `PARTITION BY ${t.partitionBy}` : '',
    `ORDER BY ${t.orderBy}`,
    t.ttl ? `TTL ${t.ttl}` : '',
    t.granularity ? `SETTINGS index_granularity = ${t.granularity}` : '',
    `COMMENT ${q(t.comment)}`,
  ].filter(Boolean).join('\n');
  if (!cluster) return [create];
  return [create, `CREATE TABLE IF NOT EXISTS ${db}.${t.name} ON CLUSTER ${cluster.cluster} AS ${db}.${name}\nENGINE = Distributed(${cluster.cluster}, ${db}, ${name}, ${t.shardKey})`];
}

interface CopySpec {
  name: string;
  source: string;
  comment: string;
  /** Columns copied as they are (the time column first). */
  columns: string[];
  /** Extra computed columns: name → [type, expression over the source row]. */
  computed?: Record<string, [string, string]>;
  timeColumn: string;
  /** Sorting key after `toStartOfHour(time)`; must end with the row's deterministic id. */
  keyAfterTime: string[];
  version?: string;
  partitionBy: string;
  ttl?: string;
  /**
   * Keeps only some rows (a condition on the source row). Only on columns that never change for an id,
   * so a replayed row is kept or dropped exactly as the first time.
   */
  where?: string;
}

function materialized(name: string, target: string, source: string, comment: string, select: (db: string, from: string) => string): DashboardViewDef {
  return {
    kind: 'materialized', name, source, comment,
    sql: (db) => `CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.${name} TO ${db}.${target} AS\n${select(db, `${db}.${source}`)}`,
    backfill: (db) => `INSERT INTO ${db}.${target} ${select(db, `${db}.${source}`)}`,
    // On a cluster the view watches each replica's local source table and writes the local copy, so a row
    // and its copy live on the same shard (both are sharded by customer).
    clusterSql: (db, c) => [`CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.${name} ON CLUSTER ${c.cluster} TO ${db}.${target}_local AS\n${select(db, `${db}.${source}_local`)}`],
  };
}

function copyDefs(spec: CopySpec): DashboardViewDef[] {
  const columns = spec.columns.map((c) => `  \`${c}\` ${typeOf(spec.source, c)}`);
  for (const [name, [type]] of Object.entries(spec.computed ?? {})) columns.push(`  \`${name}\` ${type}`);
  const selectList = [...spec.columns.map((c) => `\`${c}\``), ...Object.entries(spec.computed ?? {}).map(([name, [, expr]]) => `${expr} AS \`${name}\``)].join(', ');
  const shape: TableShape = {
    name: spec.name, comment: spec.comment, columns, partitionBy: spec.partitionBy, ttl: spec.ttl, granularity: 1024,
    orderBy: `(toStartOfHour(${spec.timeColumn}), ${spec.keyAfterTime.join(', ')})`,
    shardKey: spec.columns.includes('customer_id') ? 'cityHash64(customer_id)' : 'rand()',
    ...(spec.version ? { version: spec.version } : {}),
  };
  return [
    {
      kind: 'table', name: spec.name, comment: spec.comment, source: spec.source, timeColumn: spec.timeColumn,
      sql: (db) => tableSql(db, shape)[0],
      clusterSql: (db, c) => tableSql(db, shape, c),
    },
    materialized(`${spec.name}_mv`, spec.name, spec.source, `keeps ${spec.name} in step with ${spec.source}`, (_db, from) => `SELECT ${selectList}\nFROM ${from}${spec.where ? `\nWHERE ${spec.where}` : ''}`),
  ];
}

const COPIES: CopySpec[] = [
  {
    name: 'dash_tx_v1', source: 'scored_transactions', comment: 'scored transactions sorted by event time (dashboards)',
    columns: ['occurred_at', 'tx_id', 'customer_id', 'channel', 'branch_id', 'segment', 'status', 'amount_minor', 'points', 'churn_probability',
      'lifecycle_stage', 'tier', 'stream_seq'],
    computed: { is_reversal: ['UInt8', "reverses_tx_id != ''"] },
    timeColumn: 'occurred_at', keyAfterTime: ['branch_id', 'channel', 'customer_id', 'tx_id'], version: 'stream_seq',
    partitionBy: 'toYYYYMM(occurred_at)',
  },
  {
    name: 'dash_ledger_v1', source: 'points_ledger', comment: 'points movements sorted by event time (dashboards)',
    columns: ['occurred_at', 'entry_id', 'customer_id', 'kind', 'points', 'rule_id', 'channel', 'branch_id', 'tier', 'balance_after', 'stream_seq'],
    timeColumn: 'occurred_at', keyAfterTime: ['branch_id', 'channel', 'customer_id', 'entry_id'], version: 'stream_seq',
    partitionBy: 'toYYYYMM(occurred_at)',
  },
  {
    name: 'dash_transitions_v1', source: 'lifecycle_transitions', comment: 'lifecycle stage changes sorted by event time (dashboards)',
    columns: ['occurred_at', 'transition_id', 'customer_id', 'from_stage', 'to_stage', 'churn_probability', 'segment', 'branch_id', 'stream_seq'],
    timeColumn: 'occurred_at', keyAfterTime: ['branch_id', 'customer_id', 'transition_id'], version: 'stream_seq',
    partitionBy: 'toYYYYMM(occurred_at)',
  },
  {
    name: 'dash_offers_v1', source: 'offers', comment: 'offer decisions (holdouts included) sorted by decision time (dashboards)',
    columns: ['created_at', 'offer_id', 'customer_id', 'offer_code', 'campaign_id', 'channel', 'kind', 'holdout', 'cost', 'expected_value',
      'churn_probability', 'lifecycle_stage', 'tier', 'segment', 'branch_id', 'stream_seq'],
    timeColumn: 'created_at', keyAfterTime: ['campaign_id', 'customer_id', 'offer_id'], version: 'stream_seq',
    partitionBy: 'toYYYYMM(created_at)',
  },
  {
    // Sorted by the time of the offer, not of the conversion: campaign panels count the conversions of the
    // offers made in the range (a funnel), so both sides are pruned by the same time filter.
    name: 'dash_conversions_v1', source: 'offer_conversions', comment: 'offer conversions sorted by the time of the offer (dashboards)',
    columns: ['offered_at', 'converted_at', 'conversion_id', 'offer_id', 'customer_id', 'campaign_id', 'offer_code', 'channel', 'branch_id',
      'holdout', 'goal', 'value_minor', 'stream_seq'],
    timeColumn: 'offered_at', keyAfterTime: ['campaign_id', 'customer_id', 'conversion_id'], version: 'stream_seq',
    partitionBy: 'toYYYYMM(offered_at)',
  },
  {
    // Satisfaction (issue 9): surveys, complaints, compliments and resolutions; the free text is not copied.
    name: 'dash_feedback_v1', source: 'feedback', comment: 'customer feedback sorted by event time, without the free text (dashboards)',
    columns: ['occurred_at', 'feedback_id', 'customer_id', 'kind', 'score', 'scale', 'resolves_feedback_id', 'campaign_id', 'offer_id', 'branch_id',
      'channel', 'lifecycle_stage', 'stream_seq'],
    timeColumn: 'occurred_at', keyAfterTime: ['kind', 'branch_id', 'customer_id', 'feedback_id'], version: 'stream_seq',
    partitionBy: 'toYYYYMM(occurred_at)',
  },
  {
    // Survey triggers only (a trigger's kind never changes): the survey panels' funnel, with the scale.
    name: 'dash_surveys_v1', source: 'offers', comment: 'survey triggers (offers of kind survey) sorted by the time they were sent (dashboards)',
    columns: ['created_at', 'offer_id', 'customer_id', 'offer_code', 'campaign_id', 'channel', 'survey_scale', 'cost', 'lifecycle_stage', 'tier', 'segment',
      'branch_id', 'stream_seq'],
    timeColumn: 'created_at', keyAfterTime: ['campaign_id', 'customer_id', 'offer_id'], version: 'stream_seq',
    partitionBy: 'toYYYYMM(created_at)', where: "kind = 'survey'",
  },
  {
    // Survey answers only (the conversions that carry a scale), sorted by the time of the survey like the
    // offer conversions, so a panel counts the answers to the surveys sent in its range.
    name: 'dash_survey_answers_v1', source: 'offer_conversions', comment: 'answers to surveys (conversions with a scale) sorted by the time the survey was sent (dashboards)',
    columns: ['offered_at', 'converted_at', 'conversion_id', 'offer_id', 'customer_id', 'campaign_id', 'offer_code', 'channel', 'branch_id', 'score', 'scale',
      'tx_id', 'stream_seq'],
    timeColumn: 'offered_at', keyAfterTime: ['campaign_id', 'customer_id', 'conversion_id'], version: 'stream_seq',
    partitionBy: 'toYYYYMM(offered_at)', where: "scale != ''",
  },
  {
    // Decisions the consent rules held back (docs/offers.md, Consent): the campaigns dashboard's held-back panel.
    name: 'dash_held_v1', source: 'offers_held', comment: 'offer and survey decisions held back for consent or membership, sorted by the time they were held (dashboards)',
    columns: ['held_at', 'offer_id', 'customer_id', 'offer_code', 'campaign_id', 'channel', 'reason', 'kind', 'lifecycle_stage', 'tier', 'segment', 'branch_id', 'stream_seq'],
    timeColumn: 'held_at', keyAfterTime: ['campaign_id', 'customer_id', 'offer_id'], version: 'stream_seq',
    partitionBy: 'toYYYYMM(held_at)',
  },
  {
    name: 'dash_batches_v1', source: 'scorer_batches', comment: 'scorer micro-batches sorted by flush time (operations dashboard)',
    columns: ['flushed_at', 'batch_id', 'instance', 'partition', 'events', 'first_seq', 'last_seq', 'pending', 'model_ms', 'flush_ms', 'dlq'],
    timeColumn: 'flushed_at', keyAfterTime: ['instance', 'partition', 'batch_id'],
    partitionBy: 'toYYYYMMDD(flushed_at)', ttl: 'toDateTime(flushed_at) + INTERVAL 30 DAY',
  },
];

/** Distinct filter values for the dashboards' drop-downs (branch, segment, campaign, offer channel). */
const DIMS: TableShape = {
  name: 'dash_dims_v1', comment: 'distinct filter values per dimension (dashboard drop-downs)',
  columns: ['  `dim` LowCardinality(String)', '  `value` String'], orderBy: '(dim, value)', shardKey: 'rand()',
};
const dims = (name: string, source: string, pairs: [string, string][]): DashboardViewDef =>
  materialized(name, DIMS.name, source, `filter values from ${source}`, (_db, from) =>
    `SELECT DISTINCT d.1 AS dim, d.2 AS value\nFROM ${from}\nARRAY JOIN [${pairs.map(([dim, col]) => `('${dim}', toString(${col}))`).join(', ')}] AS d\nWHERE d.2 != ''`);

/**
 * The stored reasons of a score (`churn_reasons`, docs/models.md "Reasons") as an array of named tuples, largest
 * |contribution| first as stored. JSONExtract never throws: an empty or malformed text, or a `top` that is
 * not an array, gives `[]`; an element that is not an object gives an empty feature, which is dropped.
 */
const REASON_TUPLE = 'Tuple(feature String, value Nullable(Float64), contribution Float64)';
const REASONS_ARRAY = `arrayFilter(r -> tupleElement(r, 'feature') != '', JSONExtract(churn_reasons, 'top', 'Array(${REASON_TUPLE})'))`;
/**
 * One reason as people read it: `recency_days 41 (+1.21)`. Values to 2 decimals (`missing` when the model was fed
 * none); contributions to 2 decimals, 4 below 0.01 so a small one never reads 0. `+ 0` turns -0 into 0.
 */
const REASON_TEXT = `concat(tupleElement(r, 'feature'), ' ', if(isNull(tupleElement(r, 'value')), 'missing', toString(round(assumeNotNull(tupleElement(r, 'value')), 2) + 0)),
    ' (', if(tupleElement(r, 'contribution') >= 0, '+', ''),
    toString(if(abs(tupleElement(r, 'contribution')) >= 0.01, round(tupleElement(r, 'contribution'), 2), round(tupleElement(r, 'contribution'), 4)) + 0), ')')`;

const snapshot = (db: string): string => `SELECT customer_id, segment, branch_id, opened_at, points_balance, tier, churn_probability, model_version, lifecycle_stage,
  expected_value, value_at_risk, tx_count_30d, spend_30d_minor, last_tx_at, updated_at, churn_reasons,
  arrayStringConcat(arrayMap(r -> ${REASON_TEXT}, ${REASONS_ARRAY}), ', ') AS churn_reasons_text
FROM ${db}.customer_state FINAL`;

/** One row per stored reason of each customer's latest score (customers without reasons have none). */
const snapshotReasons = (db: string): string => `SELECT customer_id, segment, branch_id, lifecycle_stage, churn_probability, value_at_risk, model_version,
  reason_rank, tupleElement(reason, 'feature') AS feature, tupleElement(reason, 'value') AS value, tupleElement(reason, 'contribution') AS contribution
FROM (
  SELECT customer_id, segment, branch_id, lifecycle_stage, churn_probability, value_at_risk, model_version, ${REASONS_ARRAY} AS reasons
  FROM ${db}.customer_state FINAL
  WHERE churn_reasons != ''
)
ARRAY JOIN reasons AS reason, arrayEnumerate(reasons) AS reason_rank`;

/** Everything the dashboards read, in creation order (targets before the views that write them). */
export const DASHBOARD_VIEWS: readonly DashboardViewDef[] = [
  ...COPIES.flatMap(copyDefs),
  { kind: 'table', name: DIMS.name, comment: DIMS.comment, sql: (db) => tableSql(db, DIMS)[0], clusterSql: (db, c) => tableSql(db, DIMS, c) },
  dims('dash_dims_customers_mv', 'customer_state', [['branch', 'branch_id'], ['segment', 'segment']]),
  dims('dash_dims_offers_mv', 'offers', [['campaign', 'campaign_id'], ['offer_channel', 'channel']]),
  {
    kind: 'view', name: 'dash_customers', source: 'customer_state', comment: 'the customer snapshot, de-duplicated, without the features and offers JSON; the churn reasons raw and as text',
    sql: (db) => `CREATE OR REPLACE VIEW ${db}.dash_customers AS\n${snapshot(db)}`,
    // FINAL over the Distributed table runs on each shard; the snapshot is sharded by customer, so it is exact.
    clusterSql: (db, c) => [`CREATE OR REPLACE VIEW ${db}.dash_customers ON CLUSTER ${c.cluster} AS\n${snapshot(db)}`],
  },
  {
    kind: 'view', name: 'dash_customer_reasons', source: 'customer_state',
    comment: 'one row per churn reason of each customer\'s latest score (feature, value, signed contribution to the log-odds, rank)',
    sql: (db) => `CREATE OR REPLACE VIEW ${db}.dash_customer_reasons AS\n${snapshotReasons(db)}`,
    clusterSql: (db, c) => [`CREATE OR REPLACE VIEW ${db}.dash_customer_reasons ON CLUSTER ${c.cluster} AS\n${snapshotReasons(db)}`],
  },
];

/** The copy or view a dashboard query names (not the materialized views that feed them). */
export function dashboardRelation(name: string): DashboardViewDef | undefined {
  return DASHBOARD_VIEWS.find((v) => v.name === name && v.kind !== 'materialized');
}

/** The statements for one form: single-node (no `cluster`) or clustered. */
export function dashboardStatements(database: string, cluster?: ClusterOptions): { def: DashboardViewDef; sql: string }[] {
  return DASHBOARD_VIEWS.flatMap((def) => (cluster && def.clusterSql ? def.clusterSql(database, cluster) : [def.sql(database)]).map((sql) => ({ def, sql })));
}

/**
 * Creates the dashboard tables, materialized views and views (idempotent). A materialized view created
 * now (not there before) back-fills its target from the source table.
 */
export async function migrateDashboardViews(ch: ClickHouseClient, database: string, cluster?: ClusterOptions): Promise<{ views: number; backfilled: string[] }> {
  const rs = await ch.query({ query: 'SELECT name FROM system.tables WHERE database = {db:String}', query_params: { db: database }, format: 'JSONEachRow' });
  const existing = new Set((await rs.json<{ name: string }>()).map((r) => r.name));
  const backfilled: string[] = [];
  for (const { def, sql } of dashboardStatements(database, cluster)) {
    await ch.command({ query: sql });
    if (def.kind === 'materialized' && def.backfill && !existing.has(def.name) && !backfilled.includes(def.name)) {
      await ch.command({ query: def.backfill(database) });
      backfilled.push(def.name);
    }
  }
  return { views: DASHBOARD_VIEWS.length, backfilled };
}
