/**
 * The LMDB state store under failure, with real parts: a writer process SIGKILLed in the middle of its
 * commits (reopened: consistent, its position matching its customers, never behind what it reported);
 * a scorer SIGKILLed mid-run resumes from the store and loses or duplicates nothing; a scorer whose store
 * was deleted says so and rebuilds the state from the stream, and one whose store was damaged names it,
 * sets it aside and does the same.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { partitionOf } from '../../contracts/subjects.js';
import type { TransactionV1 } from '../../contracts/events.js';
import { waitForDrain } from '../../app/drain.js';
import { loadSettings } from '../../config/settings.js';
import { Engine } from '../../scorer/core/engine.js';
import { newPartitionState, type CustomerState, type PartitionState } from '../../scorer/core/state.js';
import { OutputEmit } from '../../sinks/mapping.js';
import { LmdbStateStore } from '../../scorer/runtime/store/mod.js';
import { makeTx, postJson, queryRows, spawnVafa, startTestStack, waitFor, type TestStack } from '../support/stack.js';
import { buildEngineConfig } from '../../config/policy.js';

const WRITER = path.resolve(import.meta.dirname, '../fixtures/state-store-writer.ts');
const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) c.kill('SIGKILL');
});

/** Starts the writer on `dir`; resolves with it once it has committed `commits` times after `after`. */
async function writerPast(dir: string, after: number, commits: number): Promise<{ child: ChildProcess; reported: () => number }> {
  const child = spawn(process.execPath, ['--import', 'tsx', WRITER, dir], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let last = after;
  let err = '';
  child.stdout.on('data', (b: Buffer) => {
    const lines = b.toString().trim().split('\n');
    last = Math.max(last, Number(lines[lines.length - 1]));
  });
  child.stderr.on('data', (b: Buffer) => (err += b.toString()));
  await waitFor(async () => last >= after + commits, 30_000, `the writer to commit ${commits} times (${err.slice(0, 500)})`);
  return { child, reported: () => last };
}

describe('a writer killed with SIGKILL in the middle of its commits', () => {
  it('leaves a store whose position matches its customers, at or after the last commit it reported', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'vafa-kill-'));
    try {
      let committed = 0;
      for (let round = 0; round < 6; round++) {
        const { child, reported } = await writerPast(dir, committed, 3 + round * 2);
        // Kill at an arbitrary moment: commits of ~0.5 MB each follow one another without pause.
        await new Promise((r) => setTimeout(r, 7 * round));
        child.kill('SIGKILL');
        await new Promise((r) => child.once('exit', r));
        const store = LmdbStateStore.open({ path: dir, timerPageSize: 256 });
        const state = (await store.load(0))!;
        await store.close();
        expect(state.seq).toBeGreaterThanOrEqual(reported());
        const customers = Object.values(state.customers) as (CustomerState & { count: number })[];
        expect(customers.reduce((n, c) => n + c.count, 0)).toBe(state.budgets.total);
        expect(Math.max(...customers.map((c) => c.lastSeq))).toBe(state.seq);
        expect(state.timers.every((t) => t.due <= state.seq)).toBe(true);
        committed = state.seq;
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});

/** What a clean run gives: the pure core over the same events, in the same per-partition order. */
function expectedTotals(events: TransactionV1[], partitions: number): { rows: number; points: number } {
  const engine = new Engine(buildEngineConfig({ ...loadSettings({}), partitions }));
  const states = new Map<number, PartitionState>();
  let seq = 0;
  let points = 0;
  for (const tx of events) {
    const p = partitionOf(tx.customer_id, partitions);
    const state = states.get(p) ?? newPartitionState(p);
    states.set(p, state);
    const emit = new OutputEmit();
    const pending = engine.apply(state, { seq: ++seq, partition: p, msg: { kind: 'transaction', body: tx } }, emit);
    if (pending) engine.complete(state, pending, undefined, emit);
    for (const r of emit.rows.get('points_ledger') ?? []) points += Number(r.points);
  }
  return { rows: new Set(events.map((e) => e.tx_id)).size, points };
}

describe('a scorer on the LMDB store', () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await startTestStack({ scorer: false });
  });
  afterAll(async () => {
    await stack?.destroy();
  });

  const scored = async (): Promise<number> => Number((await queryRows<{ n: number }>(stack, 'SELECT count() n FROM vafa.scored_transactions FINAL'))[0]?.n ?? 0);
  const ledger = async (): Promise<number> => Number((await queryRows<{ pts: number }>(stack, 'SELECT sum(points) pts FROM vafa.points_ledger FINAL'))[0]?.pts ?? 0);
  /** The scorer, and every line of its log that names the state store (its last lines alone may miss them). */
  const start = (): ChildProcess & { storeLines: string[] } => {
    const c = Object.assign(spawnVafa(['scorer'], stack, { VAFA_SCORER_BATCH: '100', VAFA_CHECKPOINTS: 'lmdb', LOG_LEVEL: 'warn' }), { storeLines: [] as string[] });
    const note = (b: Buffer): void => {
      for (const line of b.toString().split('\n')) if (/state store|no state for this partition/.test(line)) c.storeLines.push(line);
    };
    c.stdout?.on('data', note);
    c.stderr?.on('data', note);
    children.push(c);
    return c;
  };
  const send = async (events: TransactionV1[]): Promise<void> => {
    for (let i = 0; i < events.length; i += 250) expect((await postJson(`${stack.apiUrl}/v1/transactions`, events.slice(i, i + 250))).status).toBe(202);
  };
  const stop = async (c: ChildProcess, signal: NodeJS.Signals): Promise<void> => {
    c.kill(signal);
    await new Promise((r) => c.once('exit', r));
  };

  it('killed mid-run, resumes from its store; without a store, or with a damaged one, says so and rebuilds from the stream', async () => {
    const events = Array.from({ length: 2400 }, (_, i) => makeTx(i, `L${i % 41}`)) as unknown as TransactionV1[];
    const stateDir = path.join(stack.settings.dataDir, 'state');
    let scorer = start();
    await send(events.slice(0, 1200));
    await waitFor(async () => (await scored()) > 300, 30_000, 'the scorer to make progress');
    await stop(scorer, 'SIGKILL');
    expect(existsSync(path.join(stateDir, 'data.mdb'))).toBe(true);
    await send(events.slice(1200, 1800));
    scorer = start();
    expect(await waitForDrain(stack, 60_000)).toBe(true);
    let want = expectedTotals(events.slice(0, 1800), stack.settings.partitions);
    await waitFor(async () => (await scored()) === want.rows, 30_000, `all ${want.rows} rows`);
    expect(await ledger()).toBe(want.points);
    expect(scorer.storeLines.join('\n')).not.toMatch(/no state for this partition/);
    await stop(scorer, 'SIGTERM');

    // The store is gone: the consumers acked events, so each partition says so and replays the stream.
    rmSync(stateDir, { recursive: true, force: true });
    await send(events.slice(1800, 2100));
    scorer = start();
    expect(await waitForDrain(stack, 60_000)).toBe(true);
    want = expectedTotals(events.slice(0, 2100), stack.settings.partitions);
    await waitFor(async () => (await scored()) === want.rows, 30_000, `all ${want.rows} rows`);
    expect(await ledger()).toBe(want.points);
    await waitFor(async () => scorer.storeLines.filter((l) => l.includes('no state for this partition although its consumer acked events')).length === stack.settings.partitions, 10_000, `one error per partition: ${scorer.storeLines.join('\n')}`);
    await stop(scorer, 'SIGTERM');

    // The store is damaged: named, set aside, rebuilt.
    writeFileSync(path.join(stateDir, 'data.mdb'), Buffer.alloc(256 * 1024, 0x5a));
    await send(events.slice(2100));
    scorer = start();
    expect(await waitForDrain(stack, 60_000)).toBe(true);
    want = expectedTotals(events, stack.settings.partitions);
    await waitFor(async () => (await scored()) === want.rows, 30_000, `all ${want.rows} rows`);
    expect(await ledger()).toBe(want.points);
    expect(scorer.storeLines.join('\n')).toContain(`state store ${stateDir}: cannot open`);
    expect(readdirSync(stack.settings.dataDir).some((f) => f.startsWith('state.damaged-'))).toBe(true);
    const [dups] = await queryRows<{ n: number }>(stack, 'SELECT count() n FROM (SELECT tx_id FROM vafa.scored_transactions FINAL GROUP BY tx_id HAVING count() > 1)');
    expect(dups!.n).toBe(0);
    await stop(scorer, 'SIGTERM');
  }, 240_000);
});
