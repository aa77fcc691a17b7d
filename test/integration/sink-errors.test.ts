/**
 * Sink errors on the real engine: rows the embedded ClickHouse really refuses go to DLQ with their source
 * while the rest of the batch lands and the partition goes on; a warehouse outage loses nothing and sends
 * nothing to DLQ.
 */
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jetstreamManager, type JetStreamManager, type StoredMsg } from '@nats-io/jetstream';
import { Registry } from 'prom-client';
import type { ClickHouseClient } from '@clickhouse/client';
import { makeTx, postJson, queryRows, startTestStack, waitFor, type TestStack } from '../support/stack.js';
import { spawnWarehouse } from '../../platform/children.js';
import { withDeadline } from '../../platform/deadline.js';
import { createLogger } from '../../platform/log.js';
import { partitionOf, STREAM_DLQ } from '../../contracts/subjects.js';
import { ScorerService } from '../../scorer/runtime/service.js';
import { ClickHouseSink } from '../../sinks/clickhouse/sink.js';
import type { SinkFailure } from '../../sinks/clickhouse/errors.js';
import { type Row } from '../../sinks/mapping.js';

let stack: TestStack;
let jsm: JetStreamManager;
let scorer: ScorerService | undefined;
const registry = new Registry();
const logLines: { msg: string; [k: string]: unknown }[] = [];

/**
 * Test seam: the warehouse refuses the scored_transactions row of a poisoned tx (a constraint), whatever
 * the insert format. (Rows whose values the RowBinary encoder refuses, which ClickHouse then refuses as
 * JSONEachRow, are tested in test/warehouse/rowbinary.test.ts.)
 */
async function poison(ch: ClickHouseClient, poisoned: Set<string>): Promise<void> {
  const ids = [...poisoned].map((id) => `'${id}'`).join(', ');
  await ch.command({ query: `ALTER TABLE vafa.scored_transactions ADD CONSTRAINT poisoned_tx CHECK tx_id NOT IN (${ids})` });
}

async function dlqMessages(subjectPrefix: string): Promise<StoredMsg[]> {
  const info = await jsm.streams.info(STREAM_DLQ);
  const out: StoredMsg[] = [];
  for (let seq = info.state.first_seq; info.state.messages > 0 && seq <= info.state.last_seq; seq++) {
    const m = await jsm.streams.getMessage(STREAM_DLQ, { seq }).catch(() => null);
    if (m?.subject.startsWith(subjectPrefix)) out.push(m);
  }
  return out;
}

const refusedCount = async (): Promise<number> => {
  const m = await registry.getSingleMetric('vafa_sink_rows_refused_total')?.get();
  return (m?.values ?? []).reduce((n, v) => n + v.value, 0);
};

const count = async (sql: string): Promise<number> => Number((await queryRows<{ n: number }>(stack, sql))[0]?.n ?? 0);

const poisoned = new Set(['SE000003']);

beforeAll(async () => {
  stack = await startTestStack({ scorer: false });
  jsm = await jetstreamManager(stack.nc);
  const logger = createLogger({ level: 'info', format: 'json', destination: new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n')) if (line) logLines.push(JSON.parse(line) as { msg: string });
      done();
    },
  }) });
  await poison(stack.warehouse, poisoned);
  scorer = new ScorerService({
    nc: stack.nc, warehouse: stack.warehouse, database: stack.settings.clickhouseDatabase,
    totalPartitions: stack.settings.partitions, checkpointDir: path.join(stack.dataDir, 'sink-errors-checkpoints'),
    logger, registry, waitMs: 10, checkpointMs: 500, leaseMs: 3000, instance: 'sink-errors',
  });
}, 120_000);

afterAll(async () => {
  await scorer?.stop(5000);
  await stack?.destroy();
}, 60_000);

describe('rows the warehouse refuses', () => {
  it('sends the poisoned row to DLQ with reason, table and source position; the rest of the batch lands; the partition goes on', async () => {
    const customer = 'SINKPOISON';
    const p = partitionOf(customer, stack.settings.partitions);
    // Posted before the scorer starts, so the partition reads them as one micro-batch.
    const txs = [1, 2, 3, 4, 5, 6].map((i) => ({ ...makeTx(i, customer), tx_id: `SE${String(i).padStart(6, '0')}` }));
    expect((await postJson(`${stack.apiUrl}/v1/transactions`, txs)).status).toBe(202);
    await scorer!.start();

    await waitFor(async () => (await count(`SELECT count() n FROM vafa.scored_transactions FINAL WHERE customer_id = '${customer}'`)) === 5, 30_000, 'the other five transactions');
    const [dlq] = await waitFor(async () => {
      const m = await dlqMessages('dlq.sink.');
      return m.length === 1 ? m : undefined;
    }, 20_000, 'the refused row in DLQ');
    const row = dlq!.json<Record<string, unknown>>();
    expect(row).toMatchObject({ tx_id: 'SE000003', customer_id: customer });
    expect(dlq!.subject).toBe('dlq.sink.violated_constraint');
    const h = (k: string): string | undefined => dlq!.header.get(k) || undefined;
    expect(h('Vafa-Table')).toBe('scored_transactions');
    expect(h('Vafa-Error-Code')).toBe('469');
    expect(h('Vafa-Error-Name')).toBe('VIOLATED_CONSTRAINT');
    expect(h('Vafa-Detail')).toMatch(/poisoned_tx/);
    expect(h('Vafa-Isolated')).toBe('true');
    expect(h('Vafa-Source-Subject')).toBe(`tx.${p}.transaction`);
    expect(h('Vafa-Source-Seq')).toBe(String(row.stream_seq));
    const source = await jsm.streams.getMessage('TX', { seq: Number(h('Vafa-Source-Seq')) });
    expect(source!.json<{ tx_id: string }>().tx_id).toBe('SE000003');

    // The same event's rows in the other tables landed: only the refused row is missing.
    expect(await count(`SELECT count() n FROM vafa.points_ledger FINAL WHERE source_id = 'SE000003'`)).toBeGreaterThan(0);
    expect(await count(`SELECT count() n FROM vafa.customer_state FINAL WHERE customer_id = '${customer}'`)).toBe(1);
    expect(await refusedCount()).toBe(1);
    expect(logLines.some((l) => l.msg === 'rows refused by ClickHouse sent to DLQ' && l.partition === p && l.rows === 1)).toBe(true);

    // The partition acked and goes on with later events.
    const later = { ...makeTx(7, customer), tx_id: 'SE000007' };
    expect((await postJson(`${stack.apiUrl}/v1/transactions`, [later])).status).toBe(202);
    await waitFor(async () => (await count(`SELECT count() n FROM vafa.scored_transactions FINAL WHERE tx_id = 'SE000007'`)) === 1, 20_000, 'the event after the poisoned batch');
    await waitFor(async () => {
      const c = await jsm.consumers.info('TX', `scorer-p${p}`);
      return c.ack_floor.stream_seq >= Number(h('Vafa-Source-Seq')) + 1;
    }, 10_000, 'the batch to be acked');
    expect((await dlqMessages('dlq.')).length).toBe(1);
  });
});

describe('warehouse unreachable', () => {
  it('holds the batch while ClickHouse is down (degraded, one log line), then stores everything and sends nothing to DLQ', async () => {
    const customer = 'SINKOUTAGE';
    const wh = stack.localWarehouse!;
    const linesBefore = logLines.length;
    const dlqBefore = (await dlqMessages('dlq.')).length;
    await wh.stop();
    const down = Date.now();
    const txs = [1, 2, 3].map((i) => ({ ...makeTx(100 + i, customer), tx_id: `SO${String(i).padStart(6, '0')}` }));
    expect((await postJson(`${stack.apiUrl}/v1/transactions`, txs)).status).toBe(202);
    await waitFor(async () => scorer!.degraded, 20_000, 'the sink to report degraded');
    // Let several retries fail (back-off 200, 400, 800, 1600 ms): they must not each log a line.
    await waitFor(async () => logLines.slice(linesBefore).length > 0 && (await registry.getSingleMetric('vafa_sink_insert_failures_total')!.get()).values.reduce((n, v) => n + v.value, 0) >= 4, 20_000, 'several failed attempts');
    stack.localWarehouse = await spawnWarehouse({ port: stack.settings.localClickhousePort, dataDir: path.join(stack.dataDir, 'clickhouse'), logger: stack.logger });
    await waitFor(async () => (await count(`SELECT count() n FROM vafa.scored_transactions FINAL WHERE customer_id = '${customer}'`)) === 3, 30_000, 'the held transactions to land');
    await waitFor(async () => !scorer!.degraded, 10_000, 'the sink to recover');
    const outage = logLines.slice(linesBefore).filter((l) => String(l.msg).startsWith('clickhouse sink'));
    // One line when it starts, one when it ends, and at most one "still failing" per 10 s in between.
    expect(outage[0]!.msg).toBe('clickhouse sink failing; retrying');
    expect(outage.at(-1)!.msg).toBe('clickhouse sink recovered');
    expect(outage.slice(1, -1).every((l) => l.msg === 'clickhouse sink still failing')).toBe(true);
    expect(outage.length - 2).toBeLessThanOrEqual(Math.floor((Date.now() - down) / 10_000));
    expect(outage[0]).toMatchObject({ kind: 'transient' });
    expect((await dlqMessages('dlq.')).length).toBe(dlqBefore);
  });
});

describe('the sink alone on the engine', () => {
  it('returns to each writer only its own refused rows and stores all the others', async () => {
    const sink = new ClickHouseSink(stack.warehouse, { database: stack.settings.clickhouseDatabase, lingerMs: 20 });
    const row = (w: string, i: number, bad = false): Row => ({
      tx_id: `SK-${w}-${i}`, customer_id: `SK-${w}`, channel: 'pos', amount_minor: bad ? 'oops' : i, currency: 'IRR',
      // A year of months (one insert spans many partitions), all within the retention of scored_transactions.
      occurred_at: new Date(Date.now() - (i % 12) * 30 * 86_400_000).toISOString(), points: 0, churn_probability: 0, partition: 0, stream_seq: i, scored_at: '2026-01-01T00:00:00Z',
    });
    const a = Array.from({ length: 500 }, (_, i) => row('A', i, i === 17 || i === 400));
    const b = Array.from({ length: 500 }, (_, i) => row('B', i, i === 250));
    const ledger = [{ entry_id: 'SK-L', customer_id: 'SK-A', kind: 'earn', points: -1, occurred_at: '2026-01-01T00:00:00Z', balance_after: 'x', stream_seq: 1 }];
    const [ra, rb] = await Promise.all([
      sink.write(new Map([['scored_transactions', a], ['points_ledger', ledger]])),
      sink.write(new Map([['scored_transactions', b]])),
    ]);
    expect(ra.map((r) => r.row)).toEqual(expect.arrayContaining([a[17], a[400], ledger[0]]));
    expect(ra).toHaveLength(3);
    expect(ra.every((r) => r.isolated && r.error.kind === 'data')).toBe(true);
    expect(rb.map((r) => r.row)).toEqual([b[250]]);
    expect(await count(`SELECT count() n FROM vafa.scored_transactions FINAL WHERE tx_id LIKE 'SK-%'`)).toBe(997);
    await sink.close();
  });

  it('stops splitting at the isolation budget and returns the rest of a refused part unisolated', async () => {
    const sink = new ClickHouseSink(stack.warehouse, { database: stack.settings.clickhouseDatabase, lingerMs: 1, maxIsolationInserts: 4 });
    const rows: Row[] = Array.from({ length: 64 }, (_, i) => ({ entry_id: `SKB-${i}`, customer_id: 'SKB', kind: 'earn', points: 'bad', occurred_at: '2026-01-01T00:00:00Z', balance_after: 0, stream_seq: i }));
    const refused = await sink.write(new Map([['points_ledger', rows]]));
    expect(refused).toHaveLength(64);
    expect(refused.filter((r) => r.isolated).length).toBeGreaterThan(0);
    expect(refused.filter((r) => !r.isolated).length).toBeGreaterThan(0);
    expect(await count(`SELECT count() n FROM vafa.points_ledger WHERE customer_id = 'SKB'`)).toBe(0);
    await sink.close();
  });

  it('waits out a missing table (no row is at fault: nothing refused) and stores the rows once it exists', async () => {
    const failures: SinkFailure[] = [];
    const sink = new ClickHouseSink(stack.warehouse, { database: stack.settings.clickhouseDatabase, lingerMs: 1, retryMs: 50, maxRetryMs: 200, onFailure: (f) => failures.push(f) });
    const table = 'sink_errors_late';
    const done = sink.write(new Map([[table, [{ id: 'late-1' }, { id: 'late-2' }]]]));
    await waitFor(async () => sink.degraded && failures.length >= 3, 10_000, 'the sink to wait for the table');
    expect(failures[0]).toMatchObject({ kind: 'operator', reason: 'UNKNOWN_TABLE', code: '60' });
    await stack.warehouse.command({ query: `CREATE TABLE vafa.${table} (id String) ENGINE = MergeTree ORDER BY id` });
    expect(await withDeadline(done, 15_000, 'the held write')).toEqual([]);
    expect(sink.degraded).toBe(false);
    expect(await count(`SELECT count() n FROM vafa.${table}`)).toBe(2);
    await sink.close();
  });
});
