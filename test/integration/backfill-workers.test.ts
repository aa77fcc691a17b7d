/**
 * Backfill on worker threads (`--workers N`, scorer/runtime/backfill/threads.ts): a history with referral
 * credits backfilled in one thread and on three workers (the shipped churn model in each) gives the same
 * state, every customer record, and the same rows in every table; a backfill stopped (in one thread, on
 * workers twice, in the middle of a commit) and run again gives what one uninterrupted run in one thread gives.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queryRows, startTestStack, type TestStack } from '../support/stack.js';
import { loadAll, tableRows } from '../support/backfill.js';
import { createBank, writeHistory } from '../../simulator/mod.js';
import { backfill, type BackfillOptions, type BackfillSummary } from '../../scorer/runtime/backfill/backfill.js';
import { LmdbStateStore } from '../../scorer/runtime/store/lmdb-store.js';
import { ClickHouseSink } from '../../sinks/clickhouse/sink.js';
import { createWarehouseClient } from '../../sinks/clickhouse/client.js';
import { migrate } from '../../sinks/clickhouse/migrate.js';
import { TABLES } from '../../sinks/clickhouse/schema.js';
import { loadChurnScorer } from '../../scorer/runtime/model/churn.js';
import { buildEngineConfig } from '../../config/policy.js';

let stack: TestStack;

beforeAll(async () => {
  // No scorer: the backfills write straight to the store and ClickHouse.
  stack = await startTestStack({ api: false, scorer: false });
}, 120_000);

afterAll(async () => {
  await stack?.destroy();
}, 120_000);

describe('vafa backfill --workers', () => {
  let referrals: string;
  beforeAll(async () => {
    referrals = mkdtempSync(path.join(os.tmpdir(), 'vafa-backfill-workers-'));
    await writeHistory(createBank({ seed: 12, customers: 90, start: new Date('2025-01-01T00:00:00Z'), days: 120, feedback: 4 }), referrals);
    // Every customer opened at the start and referred by another: most first transactions earn a referral
    // credit, so batches carry several, published on different workers, whose order sets the sequences.
    const file = path.join(referrals, 'profiles.ndjson');
    const profiles = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const referred = profiles.map((p, i) => ({ ...p, opened_at: '2025-01-01T00:00:00Z', referred_by: profiles[(i * 7 + 3) % profiles.length]!.customer_id }));
    writeFileSync(file, referred.map((p) => JSON.stringify(p)).join('\n') + '\n');
  }, 60_000);
  afterAll(async () => {
    // Fewer tables for the embedded ClickHouse to merge while the stack stops.
    for (const db of ['vafa_w1', 'vafa_w3', 'vafa_s1', 'vafa_s3', 'vafa_c3']) await stack.warehouse.command({ query: `DROP DATABASE IF EXISTS ${db}` });
    if (referrals) rmSync(referrals, { recursive: true, force: true });
  }, 60_000);

  /** Every column but the wall clock's, every table, in key order. */
  async function everyTable(database: string): Promise<Record<string, unknown[]>> {
    return Object.fromEntries(await Promise.all(TABLES.map(async (t) => [t.name, await tableRows(stack, database, t.name)] as const)));
  }

  type Store = Pick<LmdbStateStore, 'load' | 'commit' | 'track'>;
  /** Backfills `from` into a new database and store: in this thread (`workers` 1) or on worker threads. */
  async function run(from: string, name: string, workers: number, extra: Partial<BackfillOptions> = {}, wrap: (s: Store) => Store = (s) => s): Promise<{ summary: BackfillSummary; store: string }> {
    const settings = stack.settings;
    const admin = createWarehouseClient({ url: stack.clickhouseUrl, user: settings.clickhouseUser, password: settings.clickhousePassword, database: 'default' });
    await migrate(admin, name);
    await admin.close();
    const where = path.join(from, `${name}-state`);
    const store = LmdbStateStore.open({ path: where, cacheCustomers: 25 });
    const sink = new ClickHouseSink(stack.warehouse, { database: name, maxRows: 5000, lingerMs: 20 });
    const scorer = workers === 1 ? await loadChurnScorer(settings.modelPath, stack.logger, { watchIntervalMs: 0 }) : undefined;
    try {
      const summary = await backfill({
        paths: [from], engineConfig: buildEngineConfig(settings), partitions: settings.partitions, tokenKey: settings.tokenKey, store: wrap(store), sink, base: 0,
        batch: 333, commitEvery: 2000, commitCustomers: 40, ...(scorer ? { scorer } : {}),
        ...(workers > 1 ? {
          workers: {
            count: workers, engine: settings, store: { path: where, cacheCustomers: 25 }, modelPath: settings.modelPath, logLevel: 'warn',
            warehouse: { url: stack.clickhouseUrl, user: settings.clickhouseUser, password: settings.clickhousePassword, database: name, maxRows: 5000, lingerMs: 20 },
          },
        } : {}),
        ...extra,
      });
      return { summary, store: where };
    } finally {
      await scorer?.close();
      await sink.close();
      await store.close();
    }
  }

  const same = (s: BackfillSummary): unknown => ({ ...s, seconds: 0, eventsPerSecond: 0 });
  /** The history with referral credits backfilled in one thread, uninterrupted (into vafa_w1): what every other run must give. */
  let reference: Promise<{ summary: BackfillSummary; store: string }> | undefined;
  const uninterrupted = (): Promise<{ summary: BackfillSummary; store: string }> => (reference ??= run(referrals, 'vafa_w1', 1));
  /** Throws from the progress callback (after a batch, so after any commit it made) once more than `events` were applied. */
  const stopAfter = (events: number): Partial<BackfillOptions> => ({
    onProgress: (p) => {
      if (p.events > events) throw new Error(`stopped after ${events}`);
    },
  });

  /** The resumed run's summary, rows in every table and partition states (every customer record) are the uninterrupted run's. */
  async function expectUninterrupted(resumed: { summary: BackfillSummary; store: string }, database: string): Promise<void> {
    const whole = await uninterrupted();
    expect(resumed.summary.bad).toBe(0);
    expect(resumed.summary.resumed).toBeGreaterThan(0);
    expect(resumed.summary.resumed + resumed.summary.events).toBe(whole.summary.events);
    expect(resumed.summary.position).toBe(whole.summary.position);
    expect(resumed.summary.cutover).toBe(whole.summary.cutover);
    const [a, b] = [await everyTable('vafa_w1'), await everyTable(database)];
    for (const t of TABLES) expect(b[t.name], t.name).toEqual(a[t.name]);
    const [sa, sb] = [await loadAll(whole.store, stack.settings.partitions), await loadAll(resumed.store, stack.settings.partitions)];
    for (let p = 0; p < stack.settings.partitions; p++) expect(sb[p], `partition ${p}`).toEqual(sa[p]);
  }

  it('gives one thread\'s state, every customer record, and rows in every table, referral credits and churn scores included', async () => {
    const one = await uninterrupted();
    const three = await run(referrals, 'vafa_w3', 3);
    expect(one.summary.bad).toBe(0);
    expect(same(three.summary)).toEqual(same(one.summary));
    const [a, b] = [await everyTable('vafa_w1'), await everyTable('vafa_w3')];
    for (const t of TABLES) expect(b[t.name], t.name).toEqual(a[t.name]);
    // The history has referral credits (a redemption the core published, applied in the next batch) and scores.
    expect((await queryRows<{ n: number }>(stack, "SELECT count() n FROM vafa_w1.points_ledger FINAL WHERE kind = 'bonus' AND rule_id = 'referral'")).at(0)!.n).toBeGreaterThan(20);
    expect((await queryRows<{ n: number }>(stack, 'SELECT count() n FROM vafa_w1.scored_transactions FINAL WHERE churn_probability > 0')).at(0)!.n).toBeGreaterThan(0);
    const [sa, sb] = [await loadAll(one.store, stack.settings.partitions), await loadAll(three.store, stack.settings.partitions)];
    for (let p = 0; p < stack.settings.partitions; p++) {
      expect(Object.keys(sb[p]!.customers).length).toBeGreaterThan(5);
      expect(sb[p], `partition ${p}`).toEqual(sa[p]);
    }
  }, 180_000);

  // Referral credits move later events' sequences and the last batch's credits wait for the next batch: a
  // resumed run starts where the commit left the files, with the credits committed with it.
  it('resumes a backfill stopped after referral credits were published, in one thread, to what one uninterrupted run gives', async () => {
    expect((await uninterrupted()).summary.events).toBeGreaterThan(9000);
    await expect(run(referrals, 'vafa_s1', 1, stopAfter(6000))).rejects.toThrow('stopped after 6000');
    await expectUninterrupted(await run(referrals, 'vafa_s1', 1), 'vafa_s1');
  }, 360_000);

  it('resumes a backfill on workers stopped twice (after 3,000 events, then 5,000 more) to what one uninterrupted run gives', async () => {
    await expect(run(referrals, 'vafa_s3', 3, stopAfter(3000))).rejects.toThrow('stopped after 3000');
    await expect(run(referrals, 'vafa_s3', 3, stopAfter(5000))).rejects.toThrow('stopped after 5000');
    await expectUninterrupted(await run(referrals, 'vafa_s3', 3), 'vafa_s3');
  }, 360_000);

  it('resumes a backfill stopped in the middle of a commit (odd partitions committed, even ones not) to what one uninterrupted run gives', async () => {
    let rounds = 0;
    const failing = (s: Store): Store => ({
      load: s.load.bind(s), track: s.track.bind(s),
      commit: (state, changes) => {
        if (state.partition === 0) rounds++;
        // The third commit of the even partitions never happens, as if the process died while the others committed.
        return rounds === 3 && state.partition % 2 === 0 ? Promise.reject(new Error('died during a commit')) : s.commit(state, changes);
      },
    });
    await expect(run(referrals, 'vafa_c3', 1, {}, failing)).rejects.toThrow('died during a commit');
    await expectUninterrupted(await run(referrals, 'vafa_c3', 3), 'vafa_c3');
  }, 360_000);
});
