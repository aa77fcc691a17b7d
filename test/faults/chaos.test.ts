/**
 * Issue 8's fault test: three scorer processes share 8 partitions while the simulator feeds at a steady
 * rate; scorers are SIGKILLed and restarted at random, nats-server is restarted once and ClickHouse is
 * unavailable for a while. At the end the tables equal a single clean run over the same events (a
 * replay of the stream into a fresh database), row for row by id and sum for sum.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import { jetstreamManager } from '@nats-io/jetstream';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { queryRows, spawnVafa, startTestStack, type TestStack } from '../support/stack.js';
import { createBank, runFeeder } from '../../simulator/mod.js';
import { startLocalNats } from '../../platform/nats-server.js';
import { spawnWarehouse } from '../../platform/children.js';
import { waitForDrain } from '../../app/drain.js';
import { replay } from '../../scorer/runtime/replay.js';
import { migrate } from '../../sinks/clickhouse/migrate.js';
import { createWarehouseClient } from '../../sinks/clickhouse/client.js';
import { loadSettings } from '../../config/settings.js';
import { buildEngineConfig } from '../../config/policy.js';

let stack: TestStack;
const scorers = new Set<ChildProcess>();

beforeAll(async () => {
  stack = await startTestStack({ scorer: false, overrides: { partitions: 8 } });
});
afterAll(async () => {
  for (const c of scorers) c.kill('SIGKILL');
  await stack?.destroy();
});

/** Columns compared per table: everything but the wall-clock `scored_at`. */
const TABLES: Record<string, { id: string; sum: string; skip: string[] }> = {
  scored_transactions: { id: 'tx_id', sum: 'points', skip: ['scored_at'] },
  points_ledger: { id: 'entry_id', sum: 'points', skip: [] },
  offers: { id: 'offer_id', sum: 'expected_value', skip: [] },
};

async function columns(table: string, skip: string[]): Promise<string[]> {
  const rows = await queryRows<{ name: string }>(stack, `SELECT name FROM system.columns WHERE database = 'vafa' AND table = '${table}' ORDER BY position`);
  return rows.map((r) => r.name).filter((c) => !skip.includes(c));
}

let rng = 12345;
const random = (): number => {
  rng = (Math.imul(rng, 1103515245) + 12345) >>> 0;
  return rng / 2 ** 32;
};
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const t0 = Date.now();
const note = (what: string): void => {
  if (process.env.TEST_VERBOSE) console.log(`[chaos +${((Date.now() - t0) / 1000).toFixed(1)}s] ${what}`);
};

describe('three scorers, 8 partitions, kills and outages', () => {
  it('ends with exactly what a clean run gives', async () => {
    const start = (): ChildProcess => {
      const c = spawnVafa(['scorer'], stack, { VAFA_SCORER_BATCH: '200' });
      scorers.add(c);
      c.once('exit', () => scorers.delete(c));
      return c;
    };
    for (let i = 0; i < 3; i++) start();
    const bank = createBank({ seed: 8, customers: 400, start: new Date('2025-01-01T00:00:00Z'), days: 150 });
    const feed = runFeeder({ target: stack.apiUrl!, bank, rate: 350, maxEvents: 7000, batchSize: 100, concurrency: 2 });
    let feeding = true;
    void feed.finally(() => { feeding = false; });

    const events: string[] = [];
    const kill = async (): Promise<void> => {
      const list = [...scorers];
      const victim = list[Math.floor(random() * list.length)];
      if (!victim || list.length < 2) {
        while (scorers.size < 3) start();
        return;
      }
      victim.kill('SIGKILL');
      await new Promise((r) => victim.once('exit', r));
      events.push('kill');
      note(`killed scorer ${victim.pid}`);
      await sleep(300 + random() * 1000);
      start();
    };
    await sleep(2500);
    await kill();
    await sleep(1500);
    // nats-server restart
    const nats = stack.localNats!;
    await nats.stop();
    events.push('nats-down');
    note('nats-server stopped');
    await sleep(1000);
    stack.localNats = await startLocalNats({ port: nats.port, storeDir: path.join(stack.dataDir, 'nats') });
    await sleep(2000);
    await kill();
    // ClickHouse unavailable for a while
    const wh = stack.localWarehouse!;
    await wh.stop();
    events.push('clickhouse-down');
    note('clickhouse stopped');
    await sleep(3000);
    stack.localWarehouse = await spawnWarehouse({ port: stack.settings.localClickhousePort, dataDir: path.join(stack.dataDir, 'clickhouse'), logger: stack.logger });
    note('clickhouse restarted');
    while (feeding || events.filter((e) => e === 'kill').length < 4) {
      await sleep(1500 + random() * 2000);
      await kill();
    }
    const fed = await feed;
    note(`feed done: ${JSON.stringify({ accepted: fed.accepted, failed: fed.failed, stoppedBy: fed.stoppedBy })}`);
    expect(fed.failed).toBe(0);
    expect(fed.accepted).toBeGreaterThan(3000);
    while (scorers.size < 3) start();
    const drained = await waitForDrain(stack, 120_000);
    note(`drained: ${drained}`);
    if (!drained) for (const c of scorers) console.error((c as ChildProcess & { output?: string[] }).output?.slice(-20).join('\n'));
    expect(drained).toBe(true);

    // the clean run: the same stream replayed by one process into a fresh database
    const settings = loadSettings({}, { dataDir: stack.dataDir });
    const admin = createWarehouseClient({ url: stack.clickhouseUrl, user: 'default', password: '', database: 'default' });
    await migrate(admin, 'vafa_clean');
    await admin.close();
    let churn;
    if (existsSync(settings.modelPath)) {
      const { loadChurnScorer } = await import('../../scorer/runtime/model/churn.js');
      churn = await loadChurnScorer(settings.modelPath, stack.logger);
    }
    await replay({
      nc: stack.nc, warehouse: stack.warehouse, database: 'vafa_clean', from: { seq: 1 }, logger: stack.logger,
      engineConfig: buildEngineConfig({ ...settings, partitions: 8 }), ...(churn ? { scorer: churn } : {}),
    });

    note('clean replay done');
    for (const [table, t] of Object.entries(TABLES)) {
      const cols = (await columns(table, t.skip)).map((c) => `\`${c}\``).join(', ');
      const [diff] = await queryRows<{ a: number; b: number; na: number; nb: number; sa: number; sb: number }>(stack, `SELECT
        (SELECT count() FROM (SELECT ${cols} FROM vafa.${table} FINAL EXCEPT SELECT ${cols} FROM vafa_clean.${table} FINAL)) AS a,
        (SELECT count() FROM (SELECT ${cols} FROM vafa_clean.${table} FINAL EXCEPT SELECT ${cols} FROM vafa.${table} FINAL)) AS b,
        (SELECT count() FROM vafa.${table} FINAL) AS na, (SELECT count() FROM vafa_clean.${table} FINAL) AS nb,
        (SELECT sum(${t.sum}) FROM vafa.${table} FINAL) AS sa, (SELECT sum(${t.sum}) FROM vafa_clean.${table} FINAL) AS sb`);
      expect({ table, ...diff }).toEqual({ table, a: 0, b: 0, na: diff!.nb, nb: diff!.nb, sa: diff!.sb, sb: diff!.sb });
    }
    // every transaction accepted into TX is scored once (the feed also carries redemptions)
    const info = await (await jetstreamManager(stack.nc)).streams.info('TX', { subjects_filter: 'tx.*.transaction' });
    const transactions = Object.values(info.state.subjects ?? {}).reduce((a, b) => a + b, 0);
    expect(transactions).toBeGreaterThan(0.95 * fed.accepted);
    const [{ n }] = (await queryRows<{ n: number }>(stack, 'SELECT count() n FROM vafa.scored_transactions FINAL')) as [{ n: number }];
    expect(n).toBe(transactions);
  }, 300_000);
});
