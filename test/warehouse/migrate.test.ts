/**
 * Schema evolution on the real ClickHouse engine: tables created by an older vafa (here: `offers` and
 * `offer_conversions` without the survey columns, `scored_transactions` without the refund columns)
 * get the new columns from `migrate`, in schema.ts order, with their defaults for the rows already
 * there; migrating again changes nothing.
 */
import fs from 'node:fs';
import os from 'node:os';
import { ClickHouseLogLevel, createClient, type ClickHouseClient } from '@clickhouse/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWarehouse, type Warehouse } from '../../platform/warehouse/server.js';
import { migrate } from '../../sinks/clickhouse/migrate.js';
import { addColumnStatements, createTableSql, tableDef, type TableDef } from '../../sinks/clickhouse/schema.js';
import { ClickHouseSink } from '../../sinks/clickhouse/sink.js';

const DB = 'vafa';
let dir: string;
let wh: Warehouse;
let ch: ClickHouseClient;

const without = (name: string, drop: string[]): TableDef => {
  const def = tableDef(name);
  return { ...def, columns: def.columns.filter((c) => !drop.includes(c.name)) };
};

async function columns(table: string): Promise<string[]> {
  const rs = await ch.query({ query: `SELECT name FROM system.columns WHERE database = '${DB}' AND table = '${table}' ORDER BY position`, format: 'JSONEachRow' });
  return (await rs.json<{ name: string }>()).map((r) => r.name);
}

beforeAll(async () => {
  dir = fs.mkdtempSync(`${os.tmpdir()}/vafa-migrate-`);
  wh = await startWarehouse({ port: 0, dataDir: dir });
  ch = createClient({ url: wh.url, log: { level: ClickHouseLogLevel.OFF }, clickhouse_settings: { date_time_input_format: 'best_effort' } });
  await ch.command({ query: `CREATE DATABASE IF NOT EXISTS ${DB}` });
  await ch.command({ query: createTableSql(without('offers', ['survey_scale']), DB) });
  await ch.command({ query: createTableSql(without('offer_conversions', ['score', 'scale']), DB) });
  await ch.command({ query: createTableSql(without('scored_transactions', ['kind', 'refund_of_tx_id']), DB) });
  await ch.insert({
    table: `${DB}.scored_transactions`, format: 'JSONEachRow',
    values: [{ tx_id: 'old-tx', customer_id: 'c1', channel: 'pos', amount_minor: 1000, currency: 'IRR', occurred_at: '2026-01-01T00:00:00Z', reverses_tx_id: '', points: 105, partition: 0, stream_seq: 1 }],
  });
  await ch.insert({
    table: `${DB}.offers`, format: 'JSONEachRow',
    values: [{ offer_id: 'old-1', customer_id: 'c1', offer_code: 'X', campaign_id: 'k', channel: 'sms', created_at: '2026-01-01T00:00:00Z', expires_at: '2026-01-08T00:00:00Z', kind: 'offer', stream_seq: 1 }],
  });
}, 60_000);
afterAll(async () => {
  await ch?.close();
  await wh?.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe('migrate on tables from an older vafa', () => {
  it('adds the missing columns in schema order, with defaults for existing rows, and is idempotent', async () => {
    expect(await columns('offers')).not.toContain('survey_scale');
    expect(await columns('scored_transactions')).not.toContain('kind');
    await migrate(ch, DB);
    expect(await columns('offers')).toEqual(tableDef('offers').columns.map((c) => c.name));
    expect(await columns('offer_conversions')).toEqual(tableDef('offer_conversions').columns.map((c) => c.name));
    const old = await (await ch.query({ query: `SELECT survey_scale, kind FROM ${DB}.offers WHERE offer_id = 'old-1'`, format: 'JSONEachRow' })).json();
    expect(old).toEqual([{ survey_scale: '', kind: 'offer' }]);
    await ch.insert({
      table: `${DB}.offer_conversions`, format: 'JSONEachRow',
      values: [{ conversion_id: 's:conv', offer_id: 's', customer_id: 'c1', goal: 'answered', tx_id: 'f1', offered_at: '2026-01-01T00:00:00Z', converted_at: '2026-01-01T01:00:00Z', stream_seq: 2, score: 4, scale: 'csat5' }],
    });
    const conv = await (await ch.query({ query: `SELECT score, scale FROM ${DB}.offer_conversions`, format: 'JSONEachRow' })).json();
    expect(conv).toEqual([{ score: 4, scale: 'csat5' }]);
    // Up to date: nothing to add.
    const live = new Set(await columns('offers'));
    expect(addColumnStatements(tableDef('offers'), live, DB)).toEqual([]);
    await migrate(ch, DB);
    expect(await columns('offers')).toEqual(tableDef('offers').columns.map((c) => c.name));
  });

  it('gives scored_transactions of an older vafa the refund columns: old rows read standard, new rows written as RowBinary keep theirs', async () => {
    await migrate(ch, DB); // also when run alone
    const names = await columns('scored_transactions');
    expect(names).toEqual(tableDef('scored_transactions').columns.map((c) => c.name));
    expect(names.slice(names.indexOf('reverses_tx_id'), names.indexOf('reverses_tx_id') + 3)).toEqual(['reverses_tx_id', 'kind', 'refund_of_tx_id']);
    const sink = new ClickHouseSink(ch, { database: DB, format: 'RowBinary', lingerMs: 1 });
    const refund = {
      tx_id: 'new-f', customer_id: 'c1', channel: 'pos', amount_minor: 400, currency: 'IRR', occurred_at: '2026-01-02T00:00:00Z', status: 'approved',
      reverses_tx_id: '', kind: 'refund', refund_of_tx_id: 'old-tx', points: -42, partition: 0, stream_seq: 2,
    };
    expect(await sink.write(new Map([['scored_transactions', [refund]]]))).toEqual([]);
    await sink.close();
    const rows = await (await ch.query({ query: `SELECT tx_id, kind, refund_of_tx_id, points FROM ${DB}.scored_transactions FINAL ORDER BY tx_id`, format: 'JSONEachRow' })).json();
    expect(rows).toEqual([
      { tx_id: 'new-f', kind: 'refund', refund_of_tx_id: 'old-tx', points: -42 },
      { tx_id: 'old-tx', kind: 'standard', refund_of_tx_id: '', points: 105 },
    ]);
    const refunds = await (await ch.query({ query: `SELECT count() AS n FROM ${DB}.scored_transactions WHERE kind = 'refund'`, format: 'JSONEachRow' })).json();
    expect(refunds).toEqual([{ n: 1 }]);
    const view = await (await ch.query({ query: `SELECT tx_id, kind, refund_of_tx_id FROM ${DB}.v_transactions ORDER BY tx_id`, format: 'JSONEachRow' })).json();
    expect(view).toEqual([{ tx_id: 'new-f', kind: 'refund', refund_of_tx_id: 'old-tx' }, { tx_id: 'old-tx', kind: 'standard', refund_of_tx_id: '' }]);
  });

  it('writes the clustered form for the local and the Distributed table', () => {
    const stmts = addColumnStatements(tableDef('offers'), new Set(tableDef('offers').columns.map((c) => c.name).filter((n) => n !== 'survey_scale')), DB, { cluster: 'vafa' });
    expect(stmts).toEqual([
      `ALTER TABLE ${DB}.offers_local ON CLUSTER vafa ADD COLUMN IF NOT EXISTS \`survey_scale\` LowCardinality(String) DEFAULT '' COMMENT 'csat5 | nps10 for a survey, else empty' AFTER \`kind\``,
      `ALTER TABLE ${DB}.offers ON CLUSTER vafa ADD COLUMN IF NOT EXISTS \`survey_scale\` LowCardinality(String) DEFAULT '' COMMENT 'csat5 | nps10 for a survey, else empty' AFTER \`kind\``,
    ]);
  });
});
