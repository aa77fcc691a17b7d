/**
 * The campaign-measurement views on the real ClickHouse engine (chDB behind the HTTP interface): rows
 * from the pure core with the responder model are inserted (twice — a replay must not change a total),
 * and the views' counts, uplift and intervals equal what the pure functions compute from the same rows.
 */
import fs from 'node:fs';
import os from 'node:os';
import { ClickHouseLogLevel, createClient, type ClickHouseClient } from '@clickhouse/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWarehouse, type Warehouse } from '../../platform/warehouse/server.js';
import { schemaStatements } from '../../sinks/clickhouse/schema.js';
import { OFFER_VIEWS, offerViewStatements } from '../../sinks/clickhouse/offer-views.js';
import { uplift } from '../../scorer/core/offers/uplift.js';
import { campaignCounts, runResponders, type ResponderRun } from './responders.js';

let dir: string;
let wh: Warehouse;
let ch: ClickHouseClient;
let run: ResponderRun;

beforeAll(async () => {
  dir = fs.mkdtempSync(os.tmpdir() + '/vafa-offer-views-');
  wh = await startWarehouse({ port: 0, dataDir: dir });
  ch = createClient({ url: wh.url, log: { level: ClickHouseLogLevel.OFF }, clickhouse_settings: { date_time_input_format: 'best_effort' } });
  for (const q of schemaStatements('vafa')) await ch.command({ query: q });
  for (const q of offerViewStatements('vafa')) await ch.command({ query: q });
  run = runResponders({ seed: 11, customers: 600, qTreated: 0.4, qHoldout: 0.2 });
  for (let i = 0; i < 2; i++) {
    await ch.insert({ table: 'vafa.offers', values: run.offers, format: 'JSONEachRow' });
    await ch.insert({ table: 'vafa.offer_conversions', values: run.conversions, format: 'JSONEachRow' });
  }
}, 60_000);

afterAll(async () => {
  await ch?.close();
  await wh?.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

async function rows<T>(query: string): Promise<T[]> {
  const rs = await ch.query({ query, format: 'JSONEachRow', clickhouse_settings: { output_format_json_quote_64bit_integers: 0 } });
  return await rs.json<T>();
}

describe('offer views', () => {
  it('are all created', async () => {
    const names = (await rows<{ name: string }>("SELECT name FROM system.tables WHERE database = 'vafa' AND name LIKE 'v_offer%' ORDER BY name")).map((r) => r.name);
    expect(names).toEqual(OFFER_VIEWS.map((v) => v.name).sort());
  });

  it('count notified customers, conversions and cost per campaign, replay-safe', async () => {
    const [c] = await rows<Record<string, number>>("SELECT * FROM vafa.v_offer_campaigns WHERE campaign_id = 'onboarding'");
    const { treated, holdout } = campaignCounts(run, 'onboarding');
    const treatedRows = run.offers.filter((o) => o.holdout === 0);
    expect(c).toMatchObject({
      offers_sent: treated.n, holdout_decisions: holdout.n, conversions: treated.x, holdout_conversions: holdout.x,
      customers_notified: new Set(treatedRows.map((o) => o.customer_id)).size,
    });
    const cost = treatedRows.reduce((s, o) => s + Number(o.cost), 0);
    expect(c!.cost).toBeCloseTo(cost, 6);
    expect(c!.cost_per_conversion).toBeCloseTo(cost / treated.x, 6);
    const u = uplift(treated, holdout)!;
    expect(c!.cost_per_incremental_conversion).toBeCloseTo(cost / (u.uplift * treated.n), 6);
  });

  it('compute uplift and both intervals exactly as the pure function', async () => {
    const [v] = await rows<Record<string, number>>("SELECT * FROM vafa.v_offer_uplift WHERE campaign_id = 'onboarding'");
    const counts = campaignCounts(run, 'onboarding');
    const u = uplift(counts.treated, counts.holdout)!;
    expect(v).toMatchObject({ n_treated: counts.treated.n, x_treated: counts.treated.x, n_holdout: counts.holdout.n, x_holdout: counts.holdout.x });
    expect(v!.uplift).toBeCloseTo(u.uplift, 9);
    expect(v!.newcombe_lo).toBeCloseTo(u.newcombe.lo, 9);
    expect(v!.newcombe_hi).toBeCloseTo(u.newcombe.hi, 9);
    expect(v!.wald_lo).toBeCloseTo(u.wald.lo, 9);
    expect(v!.wald_hi).toBeCloseTo(u.wald.hi, 9);
    const [byOffer] = await rows<Record<string, number>>("SELECT * FROM vafa.v_offer_uplift_by_offer WHERE offer_code = 'ONB-BILLPAY'");
    expect(byOffer!.newcombe_lo).toBeCloseTo(u.newcombe.lo, 9);
  });

  it('report time to convert and the channel / branch breakdown', async () => {
    const offered = new Map(run.offers.map((o) => [String(o.offer_id), Date.parse(String(o.created_at))]));
    const hours = run.conversions.filter((c) => c.holdout === 0).map((c) => (Date.parse(String(c.converted_at)) - offered.get(String(c.offer_id))!) / 3_600_000);
    const [t] = await rows<Record<string, number>>("SELECT * FROM vafa.v_offer_time_to_convert WHERE campaign_id = 'onboarding' AND holdout = 0");
    expect(t!.conversions).toBe(hours.length);
    expect(t!.mean_hours).toBeCloseTo(hours.reduce((a, b) => a + b, 0) / hours.length, 3);
    const br = await rows<Record<string, number | string>>('SELECT * FROM vafa.v_offer_by_channel_branch');
    expect(br.reduce((s, r) => s + Number(r.offers_sent), 0)).toBe(run.offers.filter((o) => o.holdout === 0).length);
    const daily = await rows<Record<string, number>>('SELECT sum(conversions) AS c FROM vafa.v_offer_daily');
    expect(daily[0]!.c).toBe(run.conversions.filter((c) => c.holdout === 0).length);
  });
});
