/**
 * Reporting views the dashboards read (Grafana and the built-in one). Views read the
 * ReplacingMergeTree tables with FINAL so a replayed event never counts twice.
 */
export interface ViewDef {
  name: string;
  comment: string;
  sql(database: string): string;
}

/** A view named `name` over `body` (the SELECT, given the database), created or replaced. */
export const view = (name: string, comment: string, body: (db: string) => string): ViewDef => ({
  name,
  comment,
  sql: (db) => `CREATE OR REPLACE VIEW ${db}.${name} AS\n${body(db)}`,
});

export const VIEWS: readonly ViewDef[] = [
  view('v_transactions', 'scored transactions, de-duplicated', (db) => `SELECT * FROM ${db}.scored_transactions FINAL`),
  view('v_ledger', 'points movements, de-duplicated', (db) => `SELECT * FROM ${db}.points_ledger FINAL`),
  view('v_customers', 'latest state per customer', (db) => `SELECT * FROM ${db}.customer_state FINAL`),
  view('v_offers', 'offer decisions, de-duplicated', (db) => `SELECT * FROM ${db}.offers FINAL`),
  view('v_events_per_minute', 'events scored per minute of event time, by channel and branch', (db) => `
SELECT toStartOfMinute(occurred_at) AS minute, channel, branch_id, count() AS events, sum(amount_minor) AS amount_minor, sum(points) AS points
FROM ${db}.scored_transactions FINAL
GROUP BY minute, channel, branch_id`),
];
