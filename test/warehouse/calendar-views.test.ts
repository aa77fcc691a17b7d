/**
 * The reporting views cut days, weeks and months with the configured bank calendar, not the shipped
 * one: `migrate` receives the rules' `bank_time_offset` and `week_starts`, the leaderboard reads the
 * calendar the views were made with, a reload with another calendar re-creates the views, and a
 * `migrate` that is not given a calendar keeps the one the views record.
 * On the real ClickHouse engine (chDB behind the HTTP interface).
 */
import fs from 'node:fs';
import os from 'node:os';
import { ClickHouseLogLevel, createClient, type ClickHouseClient } from '@clickhouse/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWarehouse, type Warehouse } from '../../platform/warehouse/server.js';
import { migrate, migrateCalendarViews } from '../../sinks/clickhouse/migrate.js';
import { leaderboard } from '../../sinks/clickhouse/loyalty-views.js';
import { parseRules } from '../../config/schema/loyalty-rules.js';

const DB = 'vafa_calendar';
let dir: string;
let wh: Warehouse;
let ch: ClickHouseClient;

/** A bank five hours west of UTC whose weeks start on Monday (the shipped rules: +03:30, Saturday). */
const RULES = parseRules(`
version: "NY-1"
bank_time_offset: "-05:00"
week_starts: mon
tiers: { window_months: 12, levels: [{ id: base, min_points: 0, multiplier: 1, expiry_days: 30 }] }
rules: [{ id: pos, when: { channels: [pos] }, award: { per_amount: { points: 1, per_minor: 1 } } }]
`, 'ny-rules.yaml');

// 03:30 UTC on Monday 2026-06-01 is 22:30 on Sunday 31 May in the bank (-05:00): the last day of May and
// of the week that began on Monday 25 May. (With the shipped calendar it is 07:00 on Monday 1 June, in
// the week that began on Saturday 30 May.) 05:30 UTC is 00:30 on Monday 1 June: a new day, week and month.
const LATE_SUNDAY = '2026-06-01T03:30:00Z';
const EARLY_MONDAY = '2026-06-01T05:30:00Z';

const ledgerRow = (id: string, customer: string, at: string, points: number, seq: number): Record<string, unknown> => ({
  entry_id: `${id}:pos:earn`, customer_id: customer, kind: 'earn', points, rule_id: 'pos', rules_version: 'NY-1', source_id: id,
  channel: 'pos', branch_id: 'B1', tier: 'base', occurred_at: at, expires_at: null, balance_after: points, stream_seq: seq,
});

async function rows<T>(query: string): Promise<T[]> {
  return (await ch.query({ query, format: 'JSONEachRow', clickhouse_settings: { output_format_json_quote_64bit_integers: 0 } })).json<T>();
}

async function periods(customer: string): Promise<Record<string, number>> {
  const r = await rows<{ period: string; period_start: string; points: number }>(
    `SELECT period, toString(period_start) AS period_start, points FROM ${DB}.v_loyalty_points_by_period WHERE customer_id = '${customer}' ORDER BY period, period_start`);
  return Object.fromEntries(r.map((x) => [`${x.period} ${x.period_start}`, x.points]));
}

/** The bank-local days of the offer decision and the held-back offer, from the campaign views. */
async function offerDays(): Promise<{ daily: string[]; held: string[] }> {
  const days = async (table: string): Promise<string[]> =>
    (await rows<{ day: string }>(`SELECT toString(day) AS day FROM ${DB}.${table} WHERE campaign_id = 'm' ORDER BY day`)).map((r) => r.day);
  return { daily: await days('v_offer_daily'), held: await days('v_offers_held') };
}

beforeAll(async () => {
  dir = fs.mkdtempSync(`${os.tmpdir()}/vafa-calendar-`);
  wh = await startWarehouse({ port: 0, dataDir: dir });
  ch = createClient({ url: wh.url, log: { level: ClickHouseLogLevel.OFF }, clickhouse_settings: { date_time_input_format: 'best_effort' } });
  await migrate(ch, DB, { calendar: RULES });
  await ch.insert({ table: `${DB}.points_ledger`, format: 'JSONEachRow', values: [ledgerRow('t1', 'ana', LATE_SUNDAY, 10, 1), ledgerRow('t2', 'ana', EARLY_MONDAY, 20, 2)] });
  await ch.insert({
    table: `${DB}.feedback`, format: 'JSONEachRow',
    values: [{ feedback_id: 'f1', customer_id: 'ana', occurred_at: LATE_SUNDAY, kind: 'survey', score: 5, scale: 'csat5', stream_seq: 3 }],
  });
  await ch.insert({
    table: `${DB}.offers`, format: 'JSONEachRow',
    values: [
      { offer_id: 's1', customer_id: 'ana', offer_code: 'ASK', campaign_id: 'k', channel: 'sms', created_at: LATE_SUNDAY, expires_at: '2026-06-08T00:00:00Z', kind: 'survey', survey_scale: 'csat5', stream_seq: 4 },
      { offer_id: 'o1', customer_id: 'ana', offer_code: 'GIFT', campaign_id: 'm', channel: 'sms', created_at: LATE_SUNDAY, expires_at: '2026-06-08T00:00:00Z', kind: 'offer', stream_seq: 5 },
    ],
  });
  await ch.insert({
    table: `${DB}.offers_held`, format: 'JSONEachRow',
    values: [{ offer_id: 'h1', customer_id: 'ana', offer_code: 'GIFT', campaign_id: 'm', channel: 'sms', reason: 'no_consent:sms', kind: 'offer', held_at: LATE_SUNDAY, stream_seq: 6 }],
  });
}, 60_000);

afterAll(async () => {
  await ch?.close();
  await wh?.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe('reporting views on a configured bank calendar', () => {
  it('put an event near midnight in the bank day, week and month of the configured offset and week start', async () => {
    expect(await periods('ana')).toEqual({
      'day 2026-05-31': 10, 'day 2026-06-01': 20,
      'month 2026-05-01': 10, 'month 2026-06-01': 20,
      'week 2026-05-25': 10, 'week 2026-06-01': 20,
    });
    const movements = await rows<{ day: string; total: number }>(`SELECT toString(day) AS day, sum(total_points) AS total FROM ${DB}.v_loyalty_movements_daily GROUP BY day ORDER BY day`);
    expect(movements).toEqual([{ day: '2026-05-31', total: 10 }, { day: '2026-06-01', total: 20 }]);
    expect(await rows(`SELECT toString(day) AS day FROM ${DB}.v_feedback_csat`)).toEqual([{ day: '2026-05-31' }]);
    expect(await rows(`SELECT toString(day) AS day FROM ${DB}.v_survey_outcomes`)).toEqual([{ day: '2026-05-31' }]);
    expect(await offerDays()).toEqual({ daily: ['2026-05-31'], held: ['2026-05-31'] });
  });

  it('answers /v1/leaderboard for the period of the configured calendar without being told the calendar', async () => {
    const at = Date.parse(LATE_SUNDAY);
    const board = async (period: 'day' | 'week' | 'month'): Promise<[string, string, number][]> => {
      const b = await leaderboard(ch, DB, { period, limit: 10, at });
      return b.rows.map((r) => [b.period_start, r.customer_id, r.points]);
    };
    expect(await board('day')).toEqual([['2026-05-31', 'ana', 10]]);
    expect(await board('week')).toEqual([['2026-05-25', 'ana', 10]]);
    expect(await board('month')).toEqual([['2026-05-01', 'ana', 10]]);
  });

  it('re-cuts the periods when reloaded rules bring another calendar', async () => {
    // +01:00, weeks from Sunday: 03:30 and 05:30 UTC are both Monday 1 June, in the week of Sunday 31 May.
    const reloaded = { offsetMin: 60, weekStart: 0 };
    expect(await migrateCalendarViews(ch, DB, reloaded)).toBeGreaterThan(0);
    expect(await periods('ana')).toEqual({ 'day 2026-06-01': 30, 'month 2026-06-01': 30, 'week 2026-05-31': 30 });
    const b = await leaderboard(ch, DB, { period: 'week', limit: 10, at: Date.parse(LATE_SUNDAY) });
    expect([b.period_start, b.rows]).toEqual(['2026-05-31', [{ rank: 1, customer_id: 'ana', points: 30 }]]);
    expect(await rows(`SELECT toString(day) AS day FROM ${DB}.v_feedback_csat`)).toEqual([{ day: '2026-06-01' }]);
    expect(await offerDays()).toEqual({ daily: ['2026-06-01'], held: ['2026-06-01'] });
  });

  it('keeps the recorded calendar when migrate is not given one (a tool that does not read the rules)', async () => {
    const before = await periods('ana');
    await migrate(ch, DB);
    expect(await rows(`SELECT offset_min, week_start FROM ${DB}.v_bank_calendar`)).toEqual([{ offset_min: 60, week_start: 0 }]);
    expect(await periods('ana')).toEqual(before);
    expect(await offerDays()).toEqual({ daily: ['2026-06-01'], held: ['2026-06-01'] });
    await migrate(ch, `${DB}_new`);
    expect(await rows(`SELECT offset_min, week_start FROM ${DB}_new.v_bank_calendar`)).toEqual([{ offset_min: 210, week_start: 6 }]);
  });
});
