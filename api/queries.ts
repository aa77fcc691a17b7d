/** Read-side queries behind the customer endpoints; parameters are bound, never interpolated. */
import type { ClickHouseClient } from '@clickhouse/client';

export interface CustomerView {
  customer_id: string;
  points_balance: number;
  tier: string;
  churn_probability: number;
  model_version: string;
  lifecycle_stage: string;
  expected_value: number;
  value_at_risk: number;
  segment: string;
  branch_id: string;
  updated_at: string;
  last_tx_at: string | null;
  features: Record<string, number>;
  recent_offers: unknown[];
}

export async function customerView(ch: ClickHouseClient, db: string, id: string): Promise<CustomerView | undefined> {
  const rs = await ch.query({
    query: `SELECT customer_id, points_balance, tier, churn_probability, model_version, lifecycle_stage, expected_value, value_at_risk,
              segment, branch_id, updated_at, last_tx_at, features, recent_offers
            FROM ${db}.customer_state FINAL WHERE customer_id = {id:String} LIMIT 1`,
    query_params: { id },
    format: 'JSONEachRow',
    clickhouse_settings: { output_format_json_quote_64bit_integers: 0 },
  });
  const rows = await rs.json<Record<string, unknown>>();
  const r = rows[0];
  if (!r) return undefined;
  return {
    ...(r as unknown as CustomerView),
    churn_probability: Number(r.churn_probability),
    features: JSON.parse(String(r.features || '{}')) as Record<string, number>,
    recent_offers: JSON.parse(String(r.recent_offers || '[]')) as unknown[],
  };
}

export async function customerLedger(ch: ClickHouseClient, db: string, id: string, limit: number): Promise<Record<string, unknown>[]> {
  const rs = await ch.query({
    query: `SELECT entry_id, kind, points, rule_id, rules_version, source_id, channel, branch_id, tier, occurred_at, expires_at, balance_after
            FROM ${db}.points_ledger FINAL WHERE customer_id = {id:String}
            ORDER BY occurred_at DESC, stream_seq DESC, entry_id DESC LIMIT {limit:UInt32}`,
    query_params: { id, limit },
    format: 'JSONEachRow',
    clickhouse_settings: { output_format_json_quote_64bit_integers: 0 },
  });
  return await rs.json<Record<string, unknown>>();
}
