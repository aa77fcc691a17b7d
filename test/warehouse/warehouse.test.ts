import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import zlib from 'node:zlib';
import { ClickHouseError, ClickHouseLogLevel, createClient, type ClickHouseClient } from '@clickhouse/client';
import { Session } from 'chdb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWarehouse, type Warehouse } from '../../platform/warehouse/server.js';
import { reframeNative } from '../../platform/warehouse/native.js';
import { analyzeSql, httpParamToBindValue } from '../../platform/warehouse/sql.js';

let dir: string;
let wh: Warehouse;
let client: ClickHouseClient;

const quiet = { log: { level: ClickHouseLogLevel.OFF } };

beforeAll(async () => {
  dir = fs.mkdtempSync(os.tmpdir() + '/vafa-wh-');
  wh = await startWarehouse({ port: 0, dataDir: dir });
  client = createClient({ url: wh.url, ...quiet });
});

afterAll(async () => {
  await client?.close();
  await wh?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

async function raw(path: string, init?: RequestInit): Promise<{ status: number; headers: Headers; body: Buffer }> {
  const r = await fetch(wh.url + path, init);
  return { status: r.status, headers: r.headers, body: Buffer.from(await r.arrayBuffer()) };
}

const q = (sql: string): string => `/?query=${encodeURIComponent(sql)}`;

async function rows<T>(c: ClickHouseClient, query: string, extra: Record<string, unknown> = {}): Promise<T[]> {
  const rs = await c.query({ query, format: 'JSONEachRow', ...extra });
  return rs.json<T>();
}

describe('health endpoints', () => {
  it('answers ping, root and replicas_status with Ok.', async () => {
    expect(await client.ping()).toEqual({ success: true });
    expect(await client.ping({ select: true })).toEqual({ success: true });
    for (const p of ['/', '/ping', '/replicas_status']) {
      const r = await raw(p);
      expect(r.status).toBe(200);
      expect(r.body.toString()).toBe('Ok.\n');
    }
    expect((await raw('/nope')).status).toBe(404);
  });
});

describe('queries through @clickhouse/client', () => {
  it('runs DDL, a 10,000-row JSONEachRow insert into ReplacingMergeTree and a FINAL count', async () => {
    await client.command({ query: 'CREATE DATABASE IF NOT EXISTS wh' });
    await client.command({
      query: 'CREATE TABLE wh.events (id UInt64, customer String, amount Int64, ver UInt32) ENGINE = ReplacingMergeTree(ver) ORDER BY id',
    });
    const values = Array.from({ length: 10_000 }, (_, i) => ({ id: i % 4_000, customer: `c${i % 97}`, amount: i * 3, ver: i }));
    const ins = await client.insert({ table: 'wh.events', values, format: 'JSONEachRow' });
    expect(ins.summary?.written_rows).toBe('10000');
    const [final] = await rows<{ n: string; s: string }>(client, 'SELECT count() AS n, sum(amount) AS s FROM wh.events FINAL');
    expect(Number(final?.n)).toBe(4_000);
    // The latest version of each id survives: ids 0..3999 keep versions 6000..9999.
    expect(Number(final?.s)).toBe(Array.from({ length: 4_000 }, (_, i) => (6_000 + i) * 3).reduce((a, b) => a + b, 0));
  });

  it('returns every requested format and labels it', async () => {
    const json = await client.query({ query: 'SELECT number AS n FROM numbers(3)', format: 'JSON' });
    expect((await json.json<{ n: string }>()).data.map((r) => Number(r.n))).toEqual([0, 1, 2]);
    const compact = await client.query({ query: 'SELECT number AS n, toString(number) AS s FROM numbers(2)', format: 'JSONCompactEachRow' });
    expect((await compact.json<[unknown, string]>()).map(([n, s]) => [Number(n), s])).toEqual([[0, '0'], [1, '1']]);
    const tsv = await client.query({ query: 'SELECT 1 AS a, 2 AS b', format: 'TabSeparatedWithNames' });
    expect(await tsv.text()).toBe('a\tb\n1\t2\n');
    expect(tsv.response_headers['x-clickhouse-format']).toBe('TabSeparatedWithNames');
    const ex = await client.exec({ query: 'SELECT 42' });
    let text = '';
    for await (const chunk of ex.stream) text += String(chunk);
    expect(text).toBe('42\n');
    expect(ex.response_headers['x-clickhouse-format']).toBe('TabSeparated');
    expect(ex.response_headers['x-clickhouse-timezone']).toBe('UTC');
    const csv = await raw(q('SELECT 1, 2'), { headers: { 'X-ClickHouse-Format': 'CSV' } });
    expect(csv.body.toString()).toBe('1,2\n');
    expect(csv.headers.get('content-type')).toContain('text/csv');
  });

  it('binds {name:Type} query parameters like the ClickHouse server', async () => {
    const [r] = await rows<Record<string, unknown>>(
      client,
      'SELECT {s:String} AS s, {n:UInt32} + 1 AS n, {a:Array(String)} AS a, {x:Nullable(String)} AS x, {m:Map(String, UInt8)} AS m, {d:DateTime} AS d',
      { query_params: { s: "it's\ta \\ test\n", n: 41, a: ["it's", 'b\\c', ''], x: null, m: { "k'1": 1 }, d: new Date(Date.UTC(2024, 0, 2, 3, 4, 5)) } },
    );
    expect(r).toEqual({ s: "it's\ta \\ test\n", n: 42, a: ["it's", 'b\\c', ''], x: null, m: { "k'1": 1 }, d: '2024-01-02 03:04:05' });
    const [t] = await rows<{ n: string }>(client, 'SELECT count() AS n FROM {db:Identifier}.{t:Identifier} WHERE customer = {c:String}', {
      query_params: { db: 'wh', t: 'events', c: 'c5' },
    });
    expect(Number(t?.n)).toBeGreaterThan(0);
  });

  it('applies settings per query only', async () => {
    const [one] = await rows<{ m: string }>(client, "SELECT getSetting('max_threads') AS m", { clickhouse_settings: { max_threads: 1 } });
    expect(String(one?.m)).toBe('1');
    const [again] = await rows<{ m: string }>(client, "SELECT getSetting('max_threads') AS m");
    expect(String(again?.m)).not.toBe('1');
    const transportOnly = { wait_end_of_query: 1, send_progress_in_http_headers: 1, http_headers_progress_interval_ms: '1000' } as const;
    expect(await rows(client, 'SELECT 1 AS one', { clickhouse_settings: transportOnly })).toEqual([{ one: 1 }]);
    const quoted = await client.query({ query: 'SELECT toUInt64(1) AS v', format: 'JSONEachRow', clickhouse_settings: { output_format_json_quote_64bit_integers: 0 } });
    expect(await quoted.text()).toBe('{"v":1}\n');
  });

  it('uses the database, query_id and session_id the client sends', async () => {
    const whClient = createClient({ url: wh.url, database: 'wh', ...quiet });
    const [db] = await rows<{ d: string }>(whClient, 'SELECT currentDatabase() AS d, count() AS n FROM events');
    expect(db?.d).toBe('wh');
    const rs = await whClient.query({ query: 'SELECT 1', format: 'JSONEachRow', query_id: 'my-query-1' });
    await rs.json();
    expect(rs.query_id).toBe('my-query-1');
    expect(rs.response_headers['x-clickhouse-query-id']).toBe('my-query-1');
    await whClient.close();
    const [dflt] = await rows<{ d: string }>(client, 'SELECT currentDatabase() AS d');
    expect(dflt?.d).toBe('default');

    const sess = createClient({ url: wh.url, session_id: 'test-session', ...quiet });
    await sess.command({ query: 'SET max_threads = 1' });
    await sess.command({ query: 'CREATE TEMPORARY TABLE tmp (x UInt8)' });
    await sess.insert({ table: 'tmp', values: [{ x: 1 }, { x: 2 }], format: 'JSONEachRow' });
    const [inSession] = await rows<{ m: string; s: string }>(sess, "SELECT getSetting('max_threads') AS m, sum(x) AS s FROM tmp");
    expect({ m: String(inSession?.m), s: Number(inSession?.s) }).toEqual({ m: '1', s: 3 });
    const [outside] = await rows<{ m: string }>(client, "SELECT getSetting('max_threads') AS m");
    expect(String(outside?.m)).not.toBe('1');
    await sess.close();
  });

  it('reports X-ClickHouse-Summary', async () => {
    const rs = await client.query({ query: 'SELECT number FROM numbers(5)', format: 'JSONEachRow' });
    await rs.json();
    const summary = JSON.parse(String(rs.response_headers['x-clickhouse-summary'])) as Record<string, string>;
    expect(summary).toMatchObject({ read_rows: '5', result_rows: '5', written_rows: '0' });
    expect(Object.keys(summary)).toEqual(expect.arrayContaining(['read_bytes', 'written_bytes', 'total_rows_to_read', 'elapsed_ns']));
    expect(Number(summary.elapsed_ns)).toBeGreaterThan(0);
  });
});

describe('errors', () => {
  it('are ClickHouse-formatted and parsed by the client into ClickHouseError', async () => {
    const cases: Array<[string, string, string, number]> = [
      ['SELECT * FROM no_such_table', '60', 'UNKNOWN_TABLE', 404],
      ['SELEC 1', '62', 'SYNTAX_ERROR', 400],
      ['SELECT * FROM no_db.t', '81', 'UNKNOWN_DATABASE', 404],
      ['SELECT throwIf(1)', '395', 'FUNCTION_THROW_IF_VALUE_IS_NON_ZERO', 500],
    ];
    for (const [sql, code, type, status] of cases) {
      const err = await client.query({ query: sql, format: 'JSONEachRow' }).then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(ClickHouseError);
      expect(err).toMatchObject({ code, type });
      const r = await raw(q(sql));
      expect(r.status).toBe(status);
      expect(r.headers.get('x-clickhouse-exception-code')).toBe(code);
      expect(r.body.toString()).toMatch(new RegExp(`^Code: ${code}\\. DB::Exception: .*\\(${type}\\) \\(version \\d+\\.`, 's'));
    }
    const unknownSetting = await client.query({ query: 'SELECT 1', clickhouse_settings: { no_such_setting: 1 } as never }).then(() => undefined, (e: unknown) => e);
    expect(unknownSetting).toMatchObject({ code: '115', type: 'UNKNOWN_SETTING' });
    const get = await raw(q('CREATE TABLE nope (a UInt8) ENGINE = Memory'));
    expect(get.headers.get('x-clickhouse-exception-code')).toBe('164');
    expect((await raw(q('SELECT 1'))).status).toBe(200);
  });
});

describe('HTTP details', () => {
  it('takes the query from the URL, the body, or both', async () => {
    expect((await raw('/', { method: 'POST', body: 'SELECT 1 FORMAT CSV' })).body.toString()).toBe('1\n');
    const both = await raw(q('SELECT number FROM numbers(10) WHERE number >'), { method: 'POST', body: '7' });
    expect(both.body.toString()).toBe('8\n9\n');
    expect((await raw('/', { method: 'POST' })).headers.get('x-clickhouse-exception-code')).toBe('62');
  });

  it('routes INSERT … FORMAT bodies: raw formats, other formats, VALUES and inline data', async () => {
    await client.command({ query: 'CREATE TABLE wh.kv (k UInt32, v String) ENGINE = MergeTree ORDER BY k' });
    const csv = await raw(q('INSERT INTO wh.kv FORMAT CSV'), { method: 'POST', body: '1,a\n2,b\n' });
    expect(JSON.parse(csv.headers.get('x-clickhouse-summary') ?? '{}')).toMatchObject({ written_rows: '2' });
    await raw('/', { method: 'POST', body: 'INSERT INTO wh.kv FORMAT JSONEachRow\n{"k":3,"v":"c"}\n' });
    await raw(q('INSERT INTO wh.kv VALUES'), { method: 'POST', body: "(4,'d')" });
    const rowBinary = Buffer.from([5, 0, 0, 0, 1, 0x65, 6, 0, 0, 0, 2, 0x66, 0x00]);
    expect((await raw(q('INSERT INTO wh.kv FORMAT RowBinary'), { method: 'POST', body: rowBinary })).status).toBe(200);
    expect((await raw(q('INSERT INTO wh.kv (k, v) FORMAT CSVWithNamesAndTypes'), { method: 'POST', body: 'k,v\nUInt32,String\n7,g\n' })).status).toBe(200);
    const all = await rows<{ k: number; v: string }>(client, 'SELECT k, v FROM wh.kv ORDER BY k');
    expect(all).toEqual([
      { k: 1, v: 'a' }, { k: 2, v: 'b' }, { k: 3, v: 'c' }, { k: 4, v: 'd' }, { k: 5, v: 'e' }, { k: 6, v: 'f\u0000' }, { k: 7, v: 'g' },
    ]);
  });

  it('rejects multi-statements and survives malformed requests', async () => {
    expect((await raw('/', { method: 'POST', body: 'SELECT 1; SELECT 2' })).headers.get('x-clickhouse-exception-code')).toBe('62');
    expect((await raw('/', { method: 'POST', body: "SELECT 'a;b';" })).body.toString()).toBe('a;b\n');
    const garbage = ['GARBAGE\r\n\r\n', 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n', 'POST /?query=SELECT%201 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nZZZ\r\n'];
    for (const g of garbage) {
      const reply = await new Promise<string>((resolve) => {
        const sock = net.connect(wh.port, '127.0.0.1', () => sock.write(g));
        let data = '';
        sock.on('data', (d) => (data += String(d)));
        sock.on('close', () => resolve(data));
        sock.on('error', () => resolve(data));
      });
      expect(reply).toMatch(/^HTTP\/1\.1 400/);
    }
    const half = net.connect(wh.port, '127.0.0.1', () => half.write('POST /?query=SELECT%201 HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc'));
    half.on('error', () => undefined);
    await new Promise((r) => setTimeout(r, 100));
    half.destroy();
    expect((await raw(q('SELECT 1'))).body.toString()).toBe('1\n');
  });

  it('takes parameters from multipart/form-data bodies', async () => {
    const mp = createClient({ url: wh.url, use_multipart_params: true, ...quiet });
    const [r] = await rows<{ v: string; a: string[] }>(mp, 'SELECT {v:String} AS v, {a:Array(String)} AS a', { query_params: { v: "o'k", a: ["x'y"] } });
    expect(r).toEqual({ v: "o'k", a: ["x'y"] });
    await mp.close();
  });

  it('compresses both ways with gzip', async () => {
    const gz = createClient({ url: wh.url, compression: { request: true, response: true }, ...quiet });
    await gz.command({ query: 'CREATE TABLE wh.gz (n UInt32) ENGINE = MergeTree ORDER BY n' });
    await gz.insert({ table: 'wh.gz', values: Array.from({ length: 1000 }, (_, n) => ({ n })), format: 'JSONEachRow' });
    const [r] = await rows<{ c: string }>(gz, 'SELECT count() AS c FROM wh.gz');
    expect(Number(r?.c)).toBe(1000);
    await gz.close();
    const resp = await raw(`${q('SELECT number FROM numbers(1000)')}&enable_http_compression=1`, { headers: { 'Accept-Encoding': 'gzip' } });
    expect(resp.headers.get('content-encoding')).toBe('gzip');
    const plain = await raw(q('INSERT INTO wh.gz FORMAT CSV'), { method: 'POST', body: zlib.gzipSync('5000\n'), headers: { 'Content-Encoding': 'gzip' } });
    expect(plain.status).toBe(200);
    const bad = await raw('/', { method: 'POST', body: 'not gzip', headers: { 'Content-Encoding': 'gzip' } });
    expect(bad.headers.get('x-clickhouse-exception-code')).toBe('271');
  });

  it('serves Native re-framed for client_protocol_version, as clickhouse-go reads it', async () => {
    const hello = await raw('/?default_format=Native&client_protocol_version=54460', { method: 'POST', body: 'SELECT displayName(), version(), revision(), timezone()' });
    const [block] = decodeNativeLikeClickhouseGo(hello.body, 54460);
    expect(block?.columns.map((c) => c.type)).toEqual(['String', 'String', 'UInt32', 'String']);
    const revision = Number(block?.columns[2]?.values[0]);
    expect(revision).toBeGreaterThanOrEqual(54454);
    const sql = "SELECT number AS n, toString(number) AS s, if(number % 2 = 0, NULL, number) AS nn, range(number) AS arr, toLowCardinality(toString(number % 2)) AS lc FROM numbers(5) SETTINGS max_block_size = 2";
    const native = await raw(`/?default_format=Native&client_protocol_version=${revision}`, { method: 'POST', body: sql });
    const blocks = decodeNativeLikeClickhouseGo(native.body, revision);
    expect(blocks.length).toBeGreaterThan(1);
    const decoded = blocks.flatMap((b) => Array.from({ length: b.rows }, (_, i) => Object.fromEntries(b.columns.map((c) => [c.name, c.values[i]]))));
    const expected = (await rows<Record<string, unknown>>(client, sql, { clickhouse_settings: { output_format_json_quote_64bit_integers: 0 } })).map((r) => ({
      ...r,
      nn: r.nn === null ? null : Number(r.nn),
    }));
    expect(decoded).toEqual(expected);
    const empty = await raw('/?default_format=Native&client_protocol_version=54460', { method: 'POST', body: 'SELECT 1 WHERE 0' });
    expect(empty.body.length).toBe(0);
  });

  it('accepts a Native batch insert the way clickhouse-go sends one', async () => {
    const cgo = '/?default_format=Native&client_protocol_version=54460';
    expect((await raw(cgo, { method: 'POST', body: 'CREATE TABLE wh.cgo (a UInt32, s String, lc LowCardinality(String)) ENGINE = MergeTree ORDER BY a' })).status).toBe(200);
    // clickhouse-go encodes insert blocks at revision 0, which is what chDB itself writes.
    const block = await raw('/?default_format=Native', { method: 'POST', body: "SELECT toUInt32(number) AS a, toString(number) AS s, toLowCardinality('x') AS lc FROM numbers(3)" });
    const ins = await raw(`${cgo}&query=${encodeURIComponent('INSERT INTO wh.cgo (a, s, lc) FORMAT Native')}`, {
      method: 'POST',
      body: zlib.gzipSync(block.body),
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Encoding': 'gzip' },
    });
    expect(ins.status).toBe(200);
    expect(await rows(client, 'SELECT a, s, lc FROM wh.cgo ORDER BY a')).toEqual([0, 1, 2].map((a) => ({ a, s: String(a), lc: 'x' })));
  });

  it('re-frames every Native layout the walker knows without losing sync', async () => {
    const s = new Session(dir);
    try {
      const sql = `SELECT
        toLowCardinality(toNullable(if(number % 3 = 0, NULL, toString(number)))) AS lcn, [[toString(number)], []] AS aa,
        map('k', range(number % 3)) AS m, CAST((number, 'x') AS Tuple(a UInt8, b String)) AS t, NULL AS nothing,
        toDecimal64(number, 4) AS d, CAST(if(number % 2 = 0, 'a', 'b,c') AS Enum8('a' = 1, 'b,c' = 2)) AS e, toFixedString('ab', 2) AS fs,
        toDateTime64(number, 3, 'UTC') AS dt, generateUUIDv4() AS u, toIPv6('::1') AS ip, [toLowCardinality('x')] AS alc,
        CAST([] AS Array(LowCardinality(String))) AS elc, (1.5, 2.5)::Point AS p, toDecimal256(1, 2) AS d256
        FROM numbers(7) SETTINGS max_block_size = 3`;
      const r = await s.queryAsync(sql, { format: 'Native' });
      const src = Buffer.from(r.bytes());
      expect(reframeNative(src, 0)).toEqual(src);
      const up = reframeNative(src, 54460);
      const blocks = 3;
      expect(up.length).toBe(src.length + blocks * 8 + blocks * 15);
    } finally {
      s.close();
    }
  });
});

describe('concurrency', () => {
  it('concurrent queryAsync calls on one chDB Session return the right results', async () => {
    const s = new Session(dir);
    try {
      const results = await Promise.all(Array.from({ length: 64 }, (_, i) => s.queryAsync(`SELECT ${i} AS v, sum(number) FROM numbers(${1000 + i})`, { format: 'CSV' })));
      results.forEach((r, i) => expect(r.text()).toBe(`${i},${((1000 + i) * (999 + i)) / 2}\n`));
    } finally {
      s.close();
    }
  });

  it('serves concurrent HTTP queries, each with its own parameters and settings', async () => {
    const c = createClient({ url: wh.url, max_open_connections: 32, ...quiet });
    const out = await Promise.all(
      Array.from({ length: 48 }, (_, i) =>
        rows<{ i: number; m: string }>(c, "SELECT {i:UInt32} AS i, getSetting('max_threads') AS m, sum(number) AS s FROM numbers(20000)", {
          query_params: { i },
          clickhouse_settings: { max_threads: (i % 3) + 1 },
        }),
      ),
    );
    out.forEach((r, i) => expect({ i: r[0]?.i, m: String(r[0]?.m) }).toEqual({ i, m: String((i % 3) + 1) }));
    await c.close();
  });
});

describe('auth, limits and shutdown', () => {
  it('requires the password when one is set, limits bodies, and drains on close', async () => {
    const locked = await startWarehouse({ port: 0, dataDir: dir, password: 's3cret', maxBodyBytes: 64 * 1024 });
    try {
      const ok = createClient({ url: locked.url, password: 's3cret', ...quiet });
      expect(await rows(ok, 'SELECT 1 AS one')).toEqual([{ one: 1 }]);
      await ok.close();
      const wrong = createClient({ url: locked.url, password: 'nope', ...quiet });
      const err = await wrong.query({ query: 'SELECT 1' }).then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(ClickHouseError);
      expect(err).toMatchObject({ code: '516', type: 'AUTHENTICATION_FAILED' });
      await wrong.close();
      expect((await fetch(`${locked.url}/?query=SELECT+1`)).status).toBe(401);
      expect((await fetch(`${locked.url}/?query=SELECT+1`, { headers: { 'X-ClickHouse-User': 'default', 'X-ClickHouse-Key': 'nope' } })).status).toBe(403);
      expect((await fetch(`${locked.url}/?query=SELECT+1`, { headers: { 'X-ClickHouse-User': 'default', 'X-ClickHouse-Key': 's3cret' } })).status).toBe(200);
      expect((await fetch(`${locked.url}/?user=default&password=s3cret&query=SELECT+1`)).status).toBe(200);
      expect((await fetch(`${locked.url}/ping`)).status).toBe(200);

      const big = await fetch(`${locked.url}/?password=s3cret`, { method: 'POST', body: Buffer.alloc(100 * 1024, 0x20) });
      expect(big.status).toBe(413);
      expect(big.headers.get('x-clickhouse-exception-code')).toBe('229');
      const bomb = await fetch(`${locked.url}/?password=s3cret`, { method: 'POST', body: zlib.gzipSync(Buffer.alloc(1 << 20, 0x20)), headers: { 'Content-Encoding': 'gzip' } });
      expect(bomb.status).toBe(413);

      const slow = fetch(`${locked.url}/?password=s3cret&query=${encodeURIComponent('SELECT sleep(0.8) FORMAT CSV')}`).then(async (r) => [r.status, await r.text()]);
      // Sent after the slow one on another connection: once it is answered, the slow one is in flight.
      await new Promise((r) => setTimeout(r, 50));
      expect((await fetch(`${locked.url}/?password=s3cret&query=SELECT+1`)).status).toBe(200);
      const t0 = Date.now();
      await locked.close();
      expect(await slow).toEqual([200, '0\n']);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(100);
      await expect(fetch(`${locked.url}/ping`)).rejects.toThrow();
    } finally {
      await locked.close();
    }
    expect(await client.ping()).toEqual({ success: true });
  });
});

describe('SQL helpers', () => {
  it('finds the output format, INSERT data boundaries and session-changing statements', () => {
    expect(analyzeSql('SELECT 1 FORMAT JSON').outputFormat).toBe('JSON');
    expect(analyzeSql("SELECT format FROM t WHERE x = 'FORMAT CSV'").outputFormat).toBeUndefined();
    const ins = analyzeSql('INSERT INTO db.t (a, b) SETTINGS x=1 FORMAT CSV\n1,2;\n');
    expect(ins.insert).toMatchObject({ table: 'db.t', columns: ['a', 'b'], format: 'CSV', hasSettings: true, head: 'INSERT INTO db.t (a, b)', tail: 'SETTINGS x=1 FORMAT CSV' });
    expect(ins.insert?.dataStart).toBe('INSERT INTO db.t (a, b) SETTINGS x=1 FORMAT CSV\n'.length);
    expect(analyzeSql('INSERT INTO t SELECT 1').insert).toBeUndefined();
    expect(analyzeSql('/* c */ SET max_threads = 1').mutatesSession).toBe(true);
    expect(analyzeSql("SELECT 'SET x = 1'").mutatesSession).toBe(false);
    expect(analyzeSql('SELECT {a:Array(String)}, {b: DateTime64(3, \'UTC\')}').paramTypes).toEqual(new Map([['a', 'Array(String)'], ['b', "DateTime64(3, 'UTC')"]]));
    expect(httpParamToBindValue('\\N', 'Nullable(String)')).toBeNull();
    expect(httpParamToBindValue("it\\'s\\t", 'String')).toBe("it's\t");
    expect(httpParamToBindValue("['it\\'s','a\\\\b']", 'Array(String)')).toBe("['it''s','a\\b']");
  });
});

interface DecodedColumn {
  name: string;
  type: string;
  values: unknown[];
}

/** A small Native decoder following clickhouse-go's Block.Decode (lib/proto/block.go). */
function decodeNativeLikeClickhouseGo(buf: Buffer, revision: number): Array<{ rows: number; columns: DecodedColumn[] }> {
  let pos = 0;
  const varint = (): number => {
    let v = 0;
    let mul = 1;
    for (;;) {
      const b = buf[pos++] as number;
      v += (b & 0x7f) * mul;
      if (!(b & 0x80)) return v;
      mul *= 128;
    }
  };
  const str = (): string => {
    const n = varint();
    const s = buf.subarray(pos, pos + n).toString('utf8');
    pos += n;
    return s;
  };
  const u64 = (): number => {
    const v = Number(buf.readBigUInt64LE(pos));
    pos += 8;
    return v;
  };
  const read = (type: string, n: number, lcPrefixDone = false): unknown[] => {
    const inner = /^\w+\((.*)\)$/.exec(type)?.[1] ?? '';
    if (type === 'UInt64') return Array.from({ length: n }, () => u64());
    if (type === 'UInt32') return Array.from({ length: n }, () => ((pos += 4), buf.readUInt32LE(pos - 4)));
    if (type === 'UInt8') return Array.from({ length: n }, () => buf[pos++]);
    if (type === 'String') return Array.from({ length: n }, () => str());
    if (type.startsWith('Nullable(')) {
      const nulls = Array.from({ length: n }, () => buf[pos++]);
      return read(inner, n).map((v, i) => (nulls[i] ? null : v));
    }
    if (type.startsWith('Array(')) {
      const offsets = Array.from({ length: n }, () => u64());
      const flat = read(inner, offsets[n - 1] ?? 0);
      return offsets.map((end, i) => flat.slice(i === 0 ? 0 : offsets[i - 1], end));
    }
    if (type.startsWith('LowCardinality(')) {
      if (!lcPrefixDone) expect(u64()).toBe(1);
      const flags = u64();
      const keys = read(inner, u64());
      const count = u64();
      const width = 1 << (flags & 0xff);
      return Array.from({ length: count }, () => {
        const k = width === 1 ? (buf[pos] as number) : buf.readUIntLE(pos, width);
        pos += width;
        return keys[k];
      });
    }
    throw new Error(`test decoder does not know ${type}`);
  };
  const blocks: Array<{ rows: number; columns: DecodedColumn[] }> = [];
  while (pos < buf.length) {
    if (revision > 0) {
      expect([varint(), buf[pos++], varint(), buf.readInt32LE(pos), (pos += 4) && varint()]).toEqual([1, 0, 2, -1, 0]);
    }
    const ncols = varint();
    const nrows = varint();
    const columns: DecodedColumn[] = [];
    for (let c = 0; c < ncols; c++) {
      const name = str();
      const type = str();
      if (revision >= 54454) expect(buf[pos++]).toBe(0);
      columns.push({ name, type, values: nrows ? read(type, nrows) : [] });
    }
    blocks.push({ rows: nrows, columns });
  }
  return blocks;
}
