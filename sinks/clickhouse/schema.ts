/**
 * The ClickHouse schema (../shared/CONTRACT.md, "ClickHouse tables"), as data. DDL for the single-node form is
 * generated from these definitions; the clustered form (ReplicatedMergeTree + Distributed) is generated
 * from the same ones. Every table is a ReplacingMergeTree keyed by a deterministic id, so re-processing
 * the same events replaces rows instead of adding them: read with FINAL (or through the views) and
 * totals never change.
 */

export interface Column {
  name: string;
  type: string;
  /** SQL default expression, when the column may be omitted on insert. */
  default?: string;
  comment?: string;
}

export interface TableDef {
  name: string;
  comment: string;
  columns: Column[];
  orderBy: string[];
  /** The ReplacingMergeTree version column: the row with the highest value wins. */
  version?: string;
  partitionBy?: string;
  ttl?: string;
}

const s = (name: string, comment?: string): Column => ({ name, type: 'String', default: "''", ...(comment ? { comment } : {}) });
const lc = (name: string, comment?: string): Column => ({ name, type: 'LowCardinality(String)', default: "''", ...(comment ? { comment } : {}) });
const t = (name: string, comment?: string): Column => ({ name, type: "DateTime64(3, 'UTC')", ...(comment ? { comment } : {}) });
/** The churn score's top reasons (docs/models.md, "Reasons"). */
const REASONS = s('churn_reasons', 'JSON: the score\'s top reasons {method, bias, other, top: [{feature, value, contribution}]}; empty: none');

export const TABLES: readonly TableDef[] = [
  {
    name: 'scored_transactions',
    comment: 'one row per transaction: every v1 field plus what the scorer decided',
    columns: [
      s('tx_id'), s('customer_id'), lc('channel'), { name: 'amount_minor', type: 'UInt64' }, lc('currency'),
      t('occurred_at'), lc('status'), s('reverses_tx_id'),
      { name: 'kind', type: 'LowCardinality(String)', default: "'standard'", comment: 'standard | refund (docs/loyalty.md, Refunds); rows written before the column read standard' },
      s('refund_of_tx_id', 'a refund: the tx_id of the purchase it gives money back for, when known; else empty'),
      lc('mcc'), s('merchant_id'), s('terminal_id'),
      lc('branch_id'), s('biller_id'), { name: 'due_date', type: 'Nullable(Date)' }, s('card_token'),
      { name: 'points', type: 'Int64', comment: 'net points this transaction moved (earn + bonus; the negative of a reversal or a refund; what a reversal of a refund gave back)' },
      { name: 'churn_probability', type: 'Float32' }, lc('model_version'), REASONS, lc('lifecycle_stage'), lc('tier'), lc('segment'),
      lc('rules_version'), { name: 'duplicate_of_seq', type: 'UInt64', default: '0' },
      { name: 'partition', type: 'UInt16' }, { name: 'stream_seq', type: 'UInt64' },
      t('scored_at', 'wall-clock time the row was written (latency measurement only)'),
    ],
    orderBy: ['customer_id', 'tx_id'],
    version: 'stream_seq',
    partitionBy: 'toYYYYMM(occurred_at)',
  },
  {
    name: 'points_ledger',
    comment: 'points movements: earn, bonus, redeem, expire, reverse; one row per movement',
    columns: [
      s('entry_id', 'deterministic: source event id + rule + movement'), s('customer_id'), lc('kind'),
      { name: 'points', type: 'Int64', comment: 'signed: earn/bonus > 0, redeem/expire/reverse < 0' },
      lc('rule_id'), lc('rules_version'), s('source_id', 'tx_id, redemption_id or lot id that caused it'),
      lc('channel'), lc('branch_id'), lc('tier'), t('occurred_at'), { name: 'expires_at', type: "Nullable(DateTime64(3, 'UTC'))" },
      { name: 'balance_after', type: 'Int64' }, { name: 'stream_seq', type: 'UInt64' },
    ],
    orderBy: ['customer_id', 'entry_id'],
    version: 'stream_seq',
    partitionBy: 'toYYYYMM(occurred_at)',
  },
  {
    name: 'customer_state',
    comment: 'latest snapshot per customer',
    columns: [
      s('customer_id'), { name: 'version', type: 'UInt64', comment: 'stream sequence of the event that produced it' },
      t('updated_at', 'event time of that event'), lc('segment'), lc('branch_id'), { name: 'opened_at', type: "Nullable(DateTime64(3, 'UTC'))" },
      { name: 'points_balance', type: 'Int64' }, lc('tier'), { name: 'churn_probability', type: 'Float32' }, lc('model_version'), REASONS,
      lc('lifecycle_stage'), { name: 'expected_value', type: 'Float64', comment: 'expected lifetime value, currency major units' },
      { name: 'value_at_risk', type: 'Float64', comment: 'churn_probability × expected_value' },
      { name: 'tx_count_30d', type: 'UInt32' }, { name: 'spend_30d_minor', type: 'UInt64' }, { name: 'last_tx_at', type: "Nullable(DateTime64(3, 'UTC'))" },
      { name: 'features', type: 'String', comment: 'JSON: the feature vector the model saw, by name' },
      { name: 'recent_offers', type: 'String', default: "'[]'", comment: 'JSON: the latest offers decided for the customer' },
    ],
    orderBy: ['customer_id'],
    version: 'version',
  },
  {
    name: 'offers',
    comment: 'every next-best-offer decision, holdouts included',
    columns: [
      s('offer_id'), s('customer_id'), lc('offer_code'), lc('campaign_id'), lc('channel'), s('reason'),
      { name: 'churn_probability', type: 'Float32' }, lc('lifecycle_stage'), lc('tier'), lc('segment'), lc('branch_id'),
      s('triggered_by_tx_id'), t('created_at'), t('expires_at'), { name: 'holdout', type: 'UInt8' },
      { name: 'expected_value', type: 'Float64' }, { name: 'cost', type: 'Float64' }, lc('kind', 'offer | survey'),
      lc('survey_scale', 'csat5 | nps10 for a survey, else empty'),
      { name: 'stream_seq', type: 'UInt64' },
    ],
    orderBy: ['customer_id', 'offer_id'],
    version: 'stream_seq',
    partitionBy: 'toYYYYMM(created_at)',
  },
  {
    name: 'offers_held',
    comment: 'offer and survey decisions the consent rules held back: never published (docs/offers.md, Consent)',
    columns: [
      s('offer_id', 'the id the decision would have had'), s('customer_id'), lc('offer_code'), lc('campaign_id'), lc('channel'),
      lc('reason', 'not_member | no_consent:<channel>'), lc('kind', 'offer | survey'), lc('lifecycle_stage'), lc('tier'), lc('segment'),
      lc('branch_id'), s('triggered_by_tx_id'), t('held_at'), { name: 'stream_seq', type: 'UInt64' },
    ],
    orderBy: ['customer_id', 'offer_id'],
    version: 'stream_seq',
    partitionBy: 'toYYYYMM(held_at)',
  },
  {
    name: 'offer_conversions',
    comment: "an offer's goal behaviour observed within its window",
    columns: [
      s('conversion_id'), s('offer_id'), s('customer_id'), lc('campaign_id'), lc('offer_code'), lc('channel'), lc('branch_id'),
      { name: 'holdout', type: 'UInt8' }, lc('goal'), s('tx_id'), t('offered_at'), t('converted_at'),
      { name: 'value_minor', type: 'UInt64' }, { name: 'stream_seq', type: 'UInt64' },
      { name: 'score', type: 'Nullable(UInt8)', default: 'NULL', comment: 'a survey answer: its score (tx_id is then the feedback_id)' },
      lc('scale', 'a survey answer: csat5 | nps10'),
    ],
    orderBy: ['customer_id', 'conversion_id'],
    version: 'stream_seq',
  },
  {
    name: 'lifecycle_transitions',
    comment: 'every change of lifecycle stage',
    columns: [
      s('transition_id'), s('customer_id'), lc('from_stage'), lc('to_stage'), t('occurred_at'), s('reason'),
      { name: 'churn_probability', type: 'Float32' }, lc('segment'), lc('branch_id'), s('source_id'), { name: 'stream_seq', type: 'UInt64' },
    ],
    orderBy: ['customer_id', 'transition_id'],
    version: 'stream_seq',
    partitionBy: 'toYYYYMM(occurred_at)',
  },
  {
    name: 'tier_changes',
    comment: 'every change of loyalty tier',
    columns: [
      s('change_id'), s('customer_id'), lc('from_tier'), lc('to_tier'), t('occurred_at'), s('reason'), lc('branch_id'),
      { name: 'stream_seq', type: 'UInt64' },
    ],
    orderBy: ['customer_id', 'change_id'],
    version: 'stream_seq',
  },
  {
    name: 'feedback',
    comment: 'surveys, complaints, compliments and resolutions; free text stored as given, never logged',
    columns: [
      s('feedback_id'), s('customer_id'), t('occurred_at'), lc('kind'), { name: 'score', type: 'Nullable(UInt8)' }, lc('scale'),
      s('resolves_feedback_id'), lc('campaign_id'), s('offer_id'), lc('branch_id'), lc('channel'), s('text'), lc('lifecycle_stage'),
      { name: 'stream_seq', type: 'UInt64' },
    ],
    orderBy: ['customer_id', 'feedback_id'],
    version: 'stream_seq',
  },
  {
    name: 'scorer_batches',
    comment: 'operations: one row per scorer micro-batch (throughput, lag, latency)',
    columns: [
      s('batch_id', 'instance:partition:first_seq'), lc('instance'), { name: 'partition', type: 'UInt16' }, t('flushed_at'),
      { name: 'events', type: 'UInt32' }, { name: 'first_seq', type: 'UInt64' }, { name: 'last_seq', type: 'UInt64' },
      { name: 'pending', type: 'UInt64', comment: 'consumer lag after this batch' }, { name: 'model_ms', type: 'Float32' },
      { name: 'flush_ms', type: 'Float32' }, { name: 'dlq', type: 'UInt32' },
    ],
    orderBy: ['partition', 'batch_id'],
    partitionBy: 'toYYYYMMDD(flushed_at)',
    ttl: 'toDateTime(flushed_at) + INTERVAL 30 DAY',
  },
];

export const DATABASE = 'vafa';

function columnSql(c: Column): string {
  const def = c.default !== undefined ? ` DEFAULT ${c.default}` : '';
  const comment = c.comment ? ` COMMENT '${c.comment.replace(/'/g, "\\'")}'` : '';
  return `  \`${c.name}\` ${c.type}${def}${comment}`;
}

/** Single-node DDL (`CREATE TABLE IF NOT EXISTS`), one statement per table. */
export function createTableSql(def: TableDef, database = DATABASE): string {
  const engine = `ReplacingMergeTree(${def.version ?? ''})`;
  return [
    `CREATE TABLE IF NOT EXISTS ${database}.${def.name} (`,
    def.columns.map(columnSql).join(',\n'),
    `) ENGINE = ${engine}`,
    def.partitionBy ? `PARTITION BY ${def.partitionBy}` : '',
    `ORDER BY (${def.orderBy.join(', ')})`,
    def.ttl ? `TTL ${def.ttl}` : '',
    `COMMENT '${def.comment.replace(/'/g, "\\'")}'`,
  ].filter(Boolean).join('\n');
}

export function tableDef(name: string): TableDef {
  const def = TABLES.find((d) => d.name === name);
  if (!def) throw new Error(`unknown table ${name}`);
  return def;
}

/** Where the clustered form lives: cluster name and the macros each replica defines. */
export interface ClusterOptions {
  /** `remote_servers` cluster name, e.g. `vafa` (2 shards × 2 replicas). */
  cluster: string;
  /** ZooKeeper/Keeper path prefix; `{shard}` and `{replica}` are server macros. Default `/clickhouse/tables/{shard}/{database}`. */
  zooPath?: string;
}

/**
 * Clustered DDL from the same definitions: per table a local `ReplicatedReplacingMergeTree` on every
 * replica (`<name>_local`, `ON CLUSTER`), and a `Distributed` table named like the single-node one,
 * sharded by the customer id hash so one customer's rows stay on one shard (FINAL stays shard-local).
 */
export function createClusterTableSql(def: TableDef, opts: ClusterOptions, database = DATABASE): string[] {
  const zoo = (opts.zooPath ?? '/clickhouse/tables/{shard}/{database}').replace('{database}', database);
  const local = `${def.name}_local`;
  const engine = `ReplicatedReplacingMergeTree('${zoo}/${local}', '{replica}'${def.version ? `, ${def.version}` : ''})`;
  const shardKey = def.columns.some((c) => c.name === 'customer_id') ? 'cityHash64(customer_id)' : 'rand()';
  return [
    [
      `CREATE TABLE IF NOT EXISTS ${database}.${local} ON CLUSTER ${opts.cluster} (`,
      def.columns.map(columnSql).join(',\n'),
      `) ENGINE = ${engine}`,
      def.partitionBy ? `PARTITION BY ${def.partitionBy}` : '',
      `ORDER BY (${def.orderBy.join(', ')})`,
      def.ttl ? `TTL ${def.ttl}` : '',
      `COMMENT '${def.comment.replace(/'/g, "\\'")}'`,
    ].filter(Boolean).join('\n'),
    `CREATE TABLE IF NOT EXISTS ${database}.${def.name} ON CLUSTER ${opts.cluster} AS ${database}.${local}\nENGINE = Distributed(${opts.cluster}, ${database}, ${local}, ${shardKey})`,
  ];
}

/** The whole schema in one form: single-node (no `cluster`) or clustered. */
export function schemaStatements(database = DATABASE, cluster?: ClusterOptions): string[] {
  const create = cluster ? `CREATE DATABASE IF NOT EXISTS ${database} ON CLUSTER ${cluster.cluster}` : `CREATE DATABASE IF NOT EXISTS ${database}`;
  return [create, ...TABLES.flatMap((d) => (cluster ? createClusterTableSql(d, cluster, database) : [createTableSql(d, database)]))];
}

/**
 * Schema evolution: `ALTER TABLE … ADD COLUMN IF NOT EXISTS` for each column of `def` that the live table
 * (`existing`: its column names) lacks, each placed after its predecessor in schema.ts. Columns are only
 * ever added, with a default, so older rows read the default and older writers keep working.
 * Clustered: the local replicated table and the Distributed table, both ON CLUSTER.
 */
export function addColumnStatements(def: TableDef, existing: ReadonlySet<string>, database = DATABASE, cluster?: ClusterOptions): string[] {
  const out: string[] = [];
  def.columns.forEach((c, i, columns) => {
    if (existing.has(c.name)) return;
    const previous = columns[i - 1];
    const after = previous ? ` AFTER \`${previous.name}\`` : ' FIRST';
    const add = `ADD COLUMN IF NOT EXISTS${columnSql(c).replace(/^ +/, ' ')}${after}`;
    if (cluster) {
      out.push(`ALTER TABLE ${database}.${def.name}_local ON CLUSTER ${cluster.cluster} ${add}`);
      out.push(`ALTER TABLE ${database}.${def.name} ON CLUSTER ${cluster.cluster} ${add}`);
    } else {
      out.push(`ALTER TABLE ${database}.${def.name} ${add}`);
    }
  });
  return out;
}
