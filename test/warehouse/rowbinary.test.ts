/**
 * RowBinary through the real embedded engine: one row per table of the schema (values shaped like the
 * core's rows, with the edge cases: unicode, negative points, nulls and non-nulls, milliseconds) goes in
 * through the sink as RowBinary and, in a second database, as JSONEachRow; both read back equal, and equal
 * to what was written. The HTTP interface takes RowBinary bodies (also with names and types) and refuses a
 * truncated one with ClickHouse's error; the sink coalesces concurrent writers into one insert per table.
 */
import fs from 'node:fs';
import os from 'node:os';
import { ClickHouseLogLevel, createClient, type ClickHouseClient } from '@clickhouse/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BINARY_INSERT_DIRECT } from '../../platform/warehouse/engine.js';
import { startWarehouse, type Warehouse } from '../../platform/warehouse/server.js';
import { classifySinkError } from '../../sinks/clickhouse/errors.js';
import { createTableSql, TABLES } from '../../sinks/clickhouse/schema.js';
import { ClickHouseSink, SinkClosedError, type SinkInsertFormat } from '../../sinks/clickhouse/sink.js';
import { type Row } from '../../sinks/mapping.js';

let dir: string;
let wh: Warehouse;
let ch: ClickHouseClient;
/** Statements the sink sent through `exec` (the RowBinary path). */
const execs: string[] = [];
const DB: Record<SinkInsertFormat, string> = { RowBinary: 'rb', JSONEachRow: 'js' };

/** The client, noting each `exec` query (the sink's RowBinary inserts). */
function watched(client: ClickHouseClient): ClickHouseClient {
  return new Proxy(client, {
    get(target, prop, receiver) {
      if (prop !== 'exec') return Reflect.get(target, prop, receiver) as unknown;
      return (params: Parameters<ClickHouseClient['exec']>[0]) => {
        execs.push(params.query);
        return target.exec(params);
      };
    },
  });
}

const now = new Date(Math.floor(Date.now() / 1000) * 1000 - 3_600_000).toISOString().replace('.000Z', '.123Z');

/** One row per table, shaped like the core's (scorer/core) rows. */
const ROWS: Record<string, Row> = {
  scored_transactions: {
    tx_id: 'T-rb-1', customer_id: 'C000042', channel: 'pos', amount_minor: 2 ** 40 + 7, currency: 'IRR', occurred_at: '2026-03-01T09:10:52.793Z',
    status: 'approved', reverses_tx_id: '', kind: 'refund', refund_of_tx_id: 'T-rb-0', mcc: '5814', merchant_id: 'M04-کافه-09', terminal_id: 'T04-5814-09-1', branch_id: 'BR07', biller_id: '',
    due_date: '2026-03-15', card_token: 'tok_9f2c', points: -125, churn_probability: 0.05000000074505806, model_version: 'gbm-2026.02', churn_reasons: '',
    lifecycle_stage: 'win_back', tier: 'bronze', segment: 'mass', rules_version: '2026.07', duplicate_of_seq: 0, partition: 3, stream_seq: 31,
  },
  points_ledger: {
    entry_id: 'T-rb-1:base:earn', customer_id: 'C000042', kind: 'earn', points: -40, rule_id: 'base', rules_version: '2026.07', source_id: 'T-rb-1',
    channel: 'pos', branch_id: 'BR07', tier: 'silver', occurred_at: '2026-03-01T09:10:52.793Z', expires_at: null, balance_after: -12, stream_seq: 31,
  },
  customer_state: {
    customer_id: 'C000042', version: 31, updated_at: '2026-03-01T09:10:52.793Z', segment: 'mass', branch_id: 'BR07', opened_at: '2022-03-17T00:09:44.398Z',
    points_balance: 1_234_567, tier: 'bronze', churn_probability: 0.25, model_version: 'gbm-2026.02', churn_reasons: '{"method":"shap","top":[]}', lifecycle_stage: 'active',
    expected_value: 3255645.580750416, value_at_risk: 813911.395187604, tx_count_30d: 2, spend_30d_minor: 2468000, last_tx_at: null,
    features: '{"recency_days":0,"activity_trend":1.0986122886681096,"note":"é 🙂"}', recent_offers: '[]',
  },
  offers: {
    offer_id: 'O-rb-1', customer_id: 'C000042', offer_code: 'CASHBACK5', campaign_id: 'winback-q1', channel: 'sms', reason: 'churn ≥ 0.2',
    churn_probability: 0.25, lifecycle_stage: 'at_risk', tier: 'bronze', segment: 'mass', branch_id: 'BR07', triggered_by_tx_id: 'T-rb-1',
    created_at: '2026-03-01T09:10:52.793Z', expires_at: '2026-03-08T09:10:52.793Z', holdout: 1, expected_value: 120.5, cost: 3.75, kind: 'survey', survey_scale: 'nps10', stream_seq: 31,
  },
  offer_conversions: {
    conversion_id: 'O-rb-1:conv', offer_id: 'O-rb-1', customer_id: 'C000042', campaign_id: 'winback-q1', offer_code: 'CASHBACK5', channel: 'sms', branch_id: 'BR07',
    holdout: 0, goal: 'answered', tx_id: 'F-1', offered_at: '2026-03-01T09:10:52.793Z', converted_at: '2026-03-02T10:00:00.001Z', value_minor: 0, stream_seq: 40, score: 9, scale: 'nps10',
  },
  lifecycle_transitions: {
    transition_id: 'C000042:31:at_risk:1772356252793', customer_id: 'C000042', from_stage: 'active', to_stage: 'at_risk', occurred_at: '2026-03-01T09:10:52.793Z',
    reason: 'idle 45 d', churn_probability: 0.25, segment: 'mass', branch_id: 'BR07', source_id: 'T-rb-1', stream_seq: 31,
  },
  tier_changes: { change_id: 'C000042:31:silver', customer_id: 'C000042', from_tier: 'bronze', to_tier: 'silver', occurred_at: '2026-03-01T09:10:52.793Z', reason: 'spend', branch_id: 'BR07', stream_seq: 31 },
  offers_held: {
    offer_id: 'O-rb-2', customer_id: 'C000042', offer_code: 'sms-cashback', campaign_id: 'retention', channel: 'sms', reason: 'no_consent:sms',
    kind: 'offer', lifecycle_stage: 'potential_separation', tier: 'bronze', segment: 'mass', branch_id: 'BR07', triggered_by_tx_id: 'T-rb-1',
    held_at: '2026-03-01T09:10:52.793Z', stream_seq: 31,
  },
  feedback: {
    feedback_id: 'F-1', customer_id: 'C000042', occurred_at: '2026-03-02T10:00:00.001Z', kind: 'survey', score: null, scale: 'nps10', resolves_feedback_id: '',
    campaign_id: 'winback-q1', offer_id: 'O-rb-1', branch_id: 'BR07', channel: 'app', text: 'خیلی خوب بود\n"quoted"\t\\', lifecycle_stage: 'active', stream_seq: 40,
  },
  scorer_batches: {
    batch_id: 'scorer-1:3:31', instance: 'scorer-1', partition: 3, flushed_at: now, events: 500, first_seq: 31, last_seq: 530, pending: 0, model_ms: 1.5, flush_ms: 12.25, dlq: 0,
  },
};

async function select(database: string, table: string): Promise<Record<string, unknown>[]> {
  const rs = await ch.query({ query: `SELECT * FROM ${database}.${table} ORDER BY tuple()`, format: 'JSONEachRow', clickhouse_settings: { output_format_json_quote_64bit_integers: 0 } });
  return await rs.json<Record<string, unknown>>();
}

/** What the row reads back as: times as ClickHouse prints them, omitted columns at their defaults. */
function expected(table: string, row: Row): Record<string, unknown> {
  const def = TABLES.find((d) => d.name === table)!;
  const out: Record<string, unknown> = {};
  for (const c of def.columns) {
    const v = row[c.name];
    if (typeof v === 'string' && /DateTime64|^Nullable\(DateTime64/.test(c.type)) out[c.name] = v.replace('T', ' ').replace('Z', '');
    else if (v === undefined) out[c.name] = c.type.startsWith('DateTime64') ? '1970-01-01 00:00:00.000' : c.default === 'NULL' || c.type.startsWith('Nullable') ? null : c.default === "'[]'" ? '[]' : c.type.includes('String') ? '' : 0;
    else out[c.name] = v;
  }
  return out;
}

beforeAll(async () => {
  dir = fs.mkdtempSync(`${os.tmpdir()}/vafa-rowbinary-`);
  wh = await startWarehouse({ port: 0, dataDir: dir });
  ch = createClient({ url: wh.url, log: { level: ClickHouseLogLevel.OFF }, clickhouse_settings: { date_time_input_format: 'best_effort' } });
  for (const db of Object.values(DB)) {
    await ch.command({ query: `CREATE DATABASE IF NOT EXISTS ${db}` });
    for (const def of TABLES) await ch.command({ query: createTableSql(def, db) });
  }
}, 60_000);

afterAll(async () => {
  await ch?.close();
  await wh?.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe('RowBinary into the embedded engine', () => {
  it('stores one row of every table equal to what was written and to the JSONEachRow path', async () => {
    const rows = new Map(Object.entries(ROWS).map(([t, r]) => [t, [r]]));
    for (const format of ['RowBinary', 'JSONEachRow'] as const) {
      const sink = new ClickHouseSink(watched(ch), { database: DB[format], format, lingerMs: 1 });
      expect(await sink.write(rows)).toEqual([]);
      await sink.close();
    }
    expect(execs.filter((q) => q.startsWith('INSERT INTO rb.') && q.endsWith('FORMAT RowBinary'))).toHaveLength(TABLES.length);
    expect(execs.some((q) => q.includes('js.'))).toBe(false);
    for (const def of TABLES) {
      const binary = await select(DB.RowBinary, def.name);
      const want = expected(def.name, ROWS[def.name]!);
      if ('churn_probability' in want) {
        // Float32: the stored value is the nearest float32, printed shortest.
        expect(binary[0]!.churn_probability, def.name).toBeCloseTo(want.churn_probability as number, 7);
        want.churn_probability = binary[0]!.churn_probability;
      }
      expect(binary, def.name).toEqual([want]);
      expect(binary, def.name).toEqual(await select(DB.JSONEachRow, def.name));
    }
  });

  it('lingers by the load: an idle sink flushes a write at once, a busy one waits for the linger since its last flush', async () => {
    const starts: number[] = [];
    const timed = new Proxy(ch, {
      get(target, prop, receiver) {
        if (prop !== 'exec') return Reflect.get(target, prop, receiver) as unknown;
        return (params: Parameters<ClickHouseClient['exec']>[0]) => {
          starts.push(performance.now());
          return target.exec(params);
        };
      },
    });
    const one = (i: number): Map<string, Row[]> => new Map([['scored_transactions', [{ ...ROWS.scored_transactions, tx_id: `T-linger-${i}`, stream_seq: 9000 + i }]]]);
    const LINGER = 1000;
    const sink = new ClickHouseSink(timed, { database: DB.RowBinary, lingerMs: LINGER, idleLingerMs: 1 });
    const written = performance.now();
    expect(await sink.write(one(1))).toEqual([]);
    expect(await sink.write(one(2))).toEqual([]);
    await sink.close();
    expect(starts).toHaveLength(2);
    expect(starts[0]! - written).toBeLessThan(LINGER / 2);
    // The linger counts from the first flush's start, which is after `written` and before its insert is
    // sent (the body is built in between: tens of ms on a loaded machine), so bound it from `written`.
    expect(starts[1]! - written).toBeGreaterThanOrEqual(LINGER - 5);
    expect(starts[1]! - starts[0]!).toBeGreaterThan(LINGER / 2);
    // Without an idle linger, a write waits the whole linger, as before the option existed.
    const steady = new ClickHouseSink(timed, { database: DB.RowBinary, lingerMs: 300 });
    const before = performance.now();
    expect(await steady.write(one(3))).toEqual([]);
    await steady.close();
    expect(starts[2]! - before).toBeGreaterThanOrEqual(295);
  });

  it('coalesces concurrent writers into one insert per table and splits an insert past maxInsertBytes', async () => {
    const flushes: { rows: number; inserts: number; tables: number }[] = [];
    const sink = new ClickHouseSink(ch, { database: DB.RowBinary, lingerMs: 50, onFlush: (f) => flushes.push(f) });
    const tx = (w: number, i: number): Row => ({ ...ROWS.scored_transactions, tx_id: `T-co-${w}-${i}`, stream_seq: w * 1000 + i });
    const writes = Array.from({ length: 8 }, (_, w) => sink.write(new Map([
      ['scored_transactions', Array.from({ length: 100 }, (_, i) => tx(w, i))],
      ['customer_state', [{ ...ROWS.customer_state, customer_id: `C-co-${w}` }]],
    ])));
    expect(await Promise.all(writes)).toEqual(Array.from({ length: 8 }, () => []));
    expect(flushes).toEqual([{ rows: 808, inserts: 2, tables: 2, ms: expect.any(Number) as number }]);
    await sink.close();

    const small = new ClickHouseSink(ch, { database: DB.RowBinary, lingerMs: 1, maxInsertBytes: 4096, onFlush: (f) => flushes.push(f) });
    expect(await small.write(new Map([['scored_transactions', Array.from({ length: 100 }, (_, i) => tx(9, i))]]))).toEqual([]);
    expect(flushes.at(-1)!.inserts).toBeGreaterThan(3);
    await small.close();
    const rs = await ch.query({ query: `SELECT count() AS n FROM ${DB.RowBinary}.scored_transactions WHERE tx_id LIKE 'T-co-%'`, format: 'JSONEachRow' });
    expect(await rs.json()).toEqual([{ n: 900 }]);
  });

  it('sends a row the encoder refuses as JSONEachRow: ClickHouse refuses it with its own error, the rest is stored', async () => {
    const sink = new ClickHouseSink(ch, { database: DB.RowBinary, lingerMs: 1 });
    const rows = Array.from({ length: 5 }, (_, i): Row => ({ ...ROWS.points_ledger, entry_id: `E-ref-${i}`, balance_after: i === 2 ? 'lots' : i }));
    const refused = await sink.write(new Map([['points_ledger', rows]]));
    expect(refused).toHaveLength(1);
    expect(refused[0]).toMatchObject({ table: 'points_ledger', row: rows[2], isolated: true, error: { kind: 'data' } });
    expect(refused[0]!.error.message).toMatch(/balance_after/);
    const rs = await ch.query({ query: `SELECT entry_id FROM ${DB.RowBinary}.points_ledger WHERE entry_id LIKE 'E-ref-%' ORDER BY entry_id`, format: 'JSONEachRow' });
    expect(await rs.json()).toEqual([0, 1, 3, 4].map((i) => ({ entry_id: `E-ref-${i}` })));
    await sink.close();
  });
});

describe('a flush that is given up', () => {
  it('rejects every writer in it with the same SinkClosedError, caused by the classified failure', async () => {
    const failures: string[] = [];
    const sink = new ClickHouseSink(ch, { database: DB.RowBinary, lingerMs: 20, retryMs: 20, maxRetryMs: 50, tables: [{ ...TABLES[0]!, name: 'not_there' }], onFailure: (f) => failures.push(f.reason) });
    const rows = new Map([['not_there', [ROWS.scored_transactions!]]]);
    const writes = [sink.write(rows), sink.write(rows)].map((p) => p.then(() => undefined, (e: unknown) => e));
    const deadline = Date.now() + 10_000;
    while (failures.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(failures.slice(0, 2)).toEqual(['UNKNOWN_TABLE', 'UNKNOWN_TABLE']);
    sink.abort();
    const [a, b] = await Promise.all(writes);
    expect(a).toBeInstanceOf(SinkClosedError);
    expect(b).toBe(a);
    expect((a as Error).cause).toMatchObject({ kind: 'operator', reason: 'UNKNOWN_TABLE', table: 'not_there' });
  });
});

describe('the HTTP interface with a RowBinary body', () => {
  const post = async (query: string, body: Buffer): Promise<Response> => await fetch(`${wh.url}/?query=${encodeURIComponent(query)}`, { method: 'POST', body });
  const str = (s: string): Buffer => Buffer.concat([Buffer.from([Buffer.byteLength(s)]), Buffer.from(s)]);

  it('inserts RowBinary and RowBinaryWithNamesAndTypes, with settings and a column list', async () => {
    // Straight to the engine, not through a temporary file (a chDB without the raw entry would fall back).
    expect(BINARY_INSERT_DIRECT).toBe(true);
    await ch.command({ query: 'CREATE TABLE rb.http (a String, b UInt32, c Nullable(Int64)) ENGINE = MergeTree ORDER BY a' });
    const row1 = Buffer.concat([str('x\u0000y'), Buffer.from([7, 0, 0, 0]), Buffer.from([1])]);
    expect((await post('INSERT INTO rb.http (a, b, c) SETTINGS max_partitions_per_insert_block = 1000 FORMAT RowBinary', row1)).status).toBe(200);
    const header = Buffer.concat([Buffer.from([2]), str('c'), str('a'), str('Nullable(Int64)'), str('String')]);
    const row2 = Buffer.concat([Buffer.from([0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), str('é')]);
    const res = await fetch(`${wh.url}/?query=${encodeURIComponent('INSERT INTO rb.http (c, a) FORMAT RowBinaryWithNamesAndTypes')}&max_partitions_per_insert_block=1000`, { method: 'POST', body: Buffer.concat([header, row2]) });
    expect(res.status).toBe(200);
    expect(JSON.parse(res.headers.get('x-clickhouse-summary')!)).toMatchObject({ written_rows: '1' });
    const rs = await ch.query({ query: 'SELECT a, b, c FROM rb.http ORDER BY b', format: 'JSONEachRow', clickhouse_settings: { output_format_json_quote_64bit_integers: 0 } });
    expect(await rs.json()).toEqual([{ a: 'é', b: 0, c: -1 }, { a: 'x\u0000y', b: 7, c: null }]);
  });

  it('refuses a truncated body with CANNOT_READ_ALL_DATA, which the sink classifies as the data’s fault', async () => {
    const res = await post('INSERT INTO rb.http FORMAT RowBinary', Buffer.concat([str('z'), Buffer.from([1, 0])]));
    expect(res.status).toBe(500);
    expect(res.headers.get('x-clickhouse-exception-code')).toBe('33');
    const err = await ch.exec({ query: 'INSERT INTO rb.http FORMAT RowBinary', values: (await import('node:stream')).Readable.from([Buffer.from([1, 122, 1])]) }).catch((e: unknown) => e);
    expect(classifySinkError(err)).toMatchObject({ kind: 'data', reason: 'CANNOT_READ_ALL_DATA', code: '33' });
  });
});
