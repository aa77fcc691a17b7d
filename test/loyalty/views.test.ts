/**
 * Leaderboard and reporting views on the real ClickHouse engine (chDB behind the HTTP interface), fed
 * with ledger rows the engine produced; inserting them twice (a replay) changes no total.
 */
import fs from 'node:fs';
import os from 'node:os';
import { ClickHouseLogLevel, createClient, type ClickHouseClient } from '@clickhouse/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWarehouse, type Warehouse } from '../../platform/warehouse/server.js';
import { createTableSql, tableDef } from '../../sinks/clickhouse/schema.js';
import { leaderboard, LOYALTY_VIEWS, periodStart } from '../../sinks/clickhouse/loyalty-views.js';
import { Driver, rules } from './helpers.js';

const DB = 'loyalty_views';
let dir: string;
let wh: Warehouse;
let ch: ClickHouseClient;

beforeAll(async () => {
  dir = fs.mkdtempSync(`${os.tmpdir()}/vafa-loyalty-`);
  wh = await startWarehouse({ port: 0, dataDir: dir });
  ch = createClient({ url: wh.url, log: { level: ClickHouseLogLevel.OFF }, clickhouse_settings: { date_time_input_format: 'best_effort' } });
  await ch.command({ query: `CREATE DATABASE IF NOT EXISTS ${DB}` });
  await ch.command({ query: createTableSql(tableDef('points_ledger'), DB) });
  for (const v of LOYALTY_VIEWS) await ch.command({ query: v.sql(DB) });
});

afterAll(async () => {
  await ch?.close();
  await wh?.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

const P = rules(`
version: "V1"
bank_time_offset: "+03:30"
tiers: { window_months: 12, levels: [{ id: base, min_points: 0, multiplier: 1, expiry_days: 3 }] }
rules: [{ id: pos, when: { channels: [pos] }, award: { per_amount: { points: 1, per_minor: 1 } } }]
`);

describe('loyalty views', () => {
  it('rank top earners per bank-local day, week and month, bank-wide and per branch; replays count once', async () => {
    const d = new Driver(P);
    for (const [id, branch] of [['ali', 'B1'], ['sara', 'B1'], ['reza', 'B2'], ['mina', 'B2']] as const) {
      d.profile({ customer_id: id, opened_at: '2026-01-01T00:00:00Z', branch_id: branch });
    }
    const earn = (tx: string, customer: string, at: string, amount: number): void => void d.tx({ tx_id: tx, customer_id: customer, occurred_at: at, amount_minor: amount });
    // Saturday 2026-06-06 starts a bank week; 23:30 Tehran on Friday the 5th is still the previous week
    earn('a1', 'ali', '2026-06-06T09:00:00+03:30', 50);
    earn('s1', 'sara', '2026-06-06T10:00:00+03:30', 70);
    earn('r1', 'reza', '2026-06-06T11:00:00+03:30', 60);
    earn('m1', 'mina', '2026-06-05T23:30:00+03:30', 500); // 20:00 UTC Friday: Friday in Tehran
    earn('a2', 'ali', '2026-06-06T20:45:00Z', 40); // 00:15 Sunday the 7th in Tehran
    d.tx({ tx_id: 'rs1', customer_id: 'sara', occurred_at: '2026-06-07T12:00:00+03:30', reverses_tx_id: 's1' });
    d.redeem({ customer_id: 'reza', redemption_id: 'x', points: 60, occurred_at: '2026-06-07T13:00:00+03:30' }); // spending does not lower earnings
    const rows = d.ledger;
    await ch.insert({ table: `${DB}.points_ledger`, values: rows, format: 'JSONEachRow' });
    await ch.insert({ table: `${DB}.points_ledger`, values: rows, format: 'JSONEachRow' }); // a replay

    const at = Date.parse('2026-06-07T12:00:00+03:30');
    const board = async (period: 'day' | 'week' | 'month', branch?: string, when = at): Promise<[string, number, number][]> =>
      (await leaderboard(ch, DB, { period, limit: 10, at: when, ...(branch ? { branch } : {}) })).rows.map((r) => [r.customer_id, r.points, r.rank]);

    expect(periodStart('week', at)).toBe('2026-06-06');
    expect(await board('week')).toEqual([['ali', 90, 1], ['reza', 60, 2]]); // sara's points were reversed; mina's are last week
    expect(await board('day')).toEqual([['ali', 40, 1]]);
    expect(await board('day', undefined, Date.parse('2026-06-06T12:00:00+03:30'))).toEqual([['sara', 70, 1], ['reza', 60, 2], ['ali', 50, 3]]);
    expect(await board('month')).toEqual([['mina', 500, 1], ['ali', 90, 2], ['reza', 60, 3]]);
    expect(await board('month', 'B1')).toEqual([['ali', 90, 1]]);
    expect(await board('month', 'B2')).toEqual([['mina', 500, 1], ['reza', 60, 2]]);

    const branchView = await (await ch.query({ query: `SELECT branch_id, customer_id, points, rank FROM ${DB}.v_loyalty_branch_leaderboard WHERE period = 'month' ORDER BY branch_id, rank`, format: 'JSONEachRow' })).json<Record<string, unknown>>();
    expect(branchView.map((r) => [r.branch_id, r.customer_id, Number(r.points), Number(r.rank)])).toEqual([['B1', 'ali', 90, 1], ['B2', 'mina', 500, 1], ['B2', 'reza', 60, 2]]);

    // finance: the movements sum to the outstanding balances
    const liability = await (await ch.query({ query: `SELECT sum(total_points) AS p FROM ${DB}.v_loyalty_movements_daily`, format: 'JSONEachRow' })).json<{ p: number | string }>();
    const balances = Object.values(d.state.customers).reduce((s, c) => s + c.loyalty.balance, 0);
    expect(Number(liability[0]!.p)).toBe(balances);
  });

  it('count refunds against earnings (its own column) and in the leaderboard', async () => {
    const d = new Driver(P);
    d.profile({ customer_id: 'nima', opened_at: '2026-01-01T00:00:00Z', branch_id: 'B3' });
    d.profile({ customer_id: 'leila', opened_at: '2026-01-01T00:00:00Z', branch_id: 'B3' });
    d.tx({ tx_id: 'n1', customer_id: 'nima', occurred_at: '2026-08-03T09:00:00+03:30', amount_minor: 100 });
    d.tx({ tx_id: 'l1', customer_id: 'leila', occurred_at: '2026-08-03T10:00:00+03:30', amount_minor: 80 });
    d.tx({ tx_id: 'nf', customer_id: 'nima', occurred_at: '2026-08-03T11:00:00+03:30', amount_minor: 40, kind: 'refund', refund_of_tx_id: 'n1' });
    await ch.insert({ table: `${DB}.points_ledger`, values: d.ledger, format: 'JSONEachRow' });
    const earnings = await (await ch.query({ query: `SELECT earned, reversed, refunded, net_points FROM ${DB}.v_loyalty_earnings WHERE customer_id = 'nima'`, format: 'JSONEachRow' })).json<Record<string, unknown>>();
    expect(earnings.map((r) => [Number(r.earned), Number(r.reversed), Number(r.refunded), Number(r.net_points)])).toEqual([[100, 0, 40, 60]]);
    const rows = (await leaderboard(ch, DB, { period: 'day', limit: 10, at: Date.parse('2026-08-03T12:00:00+03:30') })).rows;
    expect(rows.map((r) => [r.customer_id, r.points, r.rank])).toEqual([['leila', 80, 1], ['nima', 60, 2]]);
  });
});
