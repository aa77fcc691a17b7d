/** Read-side queries behind the customer endpoints; parameters are bound, never interpolated. */
import type { ClickHouseClient } from '@clickhouse/client';
import { parseChurnReasons, type ChurnReason } from '../contracts/churn-reasons.js';

export interface CustomerView {
  customer_id: string;
  points_balance: number;
  tier: string;
  churn_probability: number;
  model_version: string;
  /** The latest score's top reasons, largest first (contracts/churn-reasons.ts); empty when it has none. */
  churn_reasons: ChurnReason[];
  lifecycle_stage: string;
  expected_value: number;
  value_at_risk: number;
  segment: string;
  branch_id: string;
  updated_at: string;
  last_tx_at: string | null;
  features: Record<string, number>;
  /** The latest offer and survey decisions (newest first, at most RECENT_OFFERS), holdouts included, with their outcome. */
  recent_offers: RecentOffer[];
}

export interface RecentOffer {
  offer_id: string;
  offer_code: string;
  campaign_id: string;
  kind: string;
  channel: string;
  reason: string;
  holdout: number;
  created_at: string;
  expires_at: string;
  converted: boolean;
  converted_at: string | null;
}

/** How many offers `GET /v1/customers/:id` lists. */
export const RECENT_OFFERS = 10;

export async function customerView(ch: ClickHouseClient, db: string, id: string): Promise<CustomerView | undefined> {
  const rs = await ch.query({
    query: `SELECT customer_id, points_balance, tier, churn_probability, model_version, churn_reasons, lifecycle_stage, expected_value, value_at_risk,
              segment, branch_id, updated_at, last_tx_at, features
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
    churn_reasons: parseChurnReasons(r.churn_reasons),
    features: JSON.parse(String(r.features || '{}')) as Record<string, number>,
    recent_offers: await recentOffers(ch, db, id),
  };
}

/** Both tables are sorted by customer first: a look-up reads the customer's granules only. */
async function recentOffers(ch: ClickHouseClient, db: string, id: string): Promise<RecentOffer[]> {
  const rs = await ch.query({
    query: `SELECT o.offer_id AS offer_id, o.offer_code AS offer_code, o.campaign_id AS campaign_id, o.kind AS kind, o.channel AS channel,
              o.reason AS reason, o.holdout AS holdout, o.created_at AS created_at, o.expires_at AS expires_at,
              c.offer_id != '' AS converted, if(converted, c.converted_at, NULL) AS converted_at
            FROM (
              SELECT offer_id, offer_code, campaign_id, kind, channel, reason, holdout, created_at, expires_at
              FROM ${db}.offers FINAL WHERE customer_id = {id:String}
              ORDER BY created_at DESC, offer_id DESC LIMIT {limit:UInt32}
            ) AS o
            LEFT JOIN (SELECT offer_id, converted_at FROM ${db}.offer_conversions FINAL WHERE customer_id = {id:String}) AS c ON c.offer_id = o.offer_id
            ORDER BY o.created_at DESC, o.offer_id DESC`,
    query_params: { id, limit: RECENT_OFFERS },
    format: 'JSONEachRow',
    clickhouse_settings: { output_format_json_quote_64bit_integers: 0 },
  });
  return (await rs.json<RecentOffer & { converted: number | boolean }>()).map((o) => ({ ...o, converted: Boolean(o.converted) }));
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
