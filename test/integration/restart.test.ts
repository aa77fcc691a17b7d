import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import { makeTx, postJson, queryRows, spawnVafa, startTestStack, waitFor, type TestStack } from '../support/stack.js';
import { Engine } from '../../scorer/core/engine.js';
import { newPartitionState, type PartitionState } from '../../scorer/core/state.js';
import { OutputEmit } from '../../sinks/mapping.js';
import { partitionOf } from '../../contracts/subjects.js';
import type { TransactionV1 } from '../../contracts/events.js';
import { waitForDrain } from '../../app/drain.js';
import { loadSettings } from '../../config/settings.js';
import { buildEngineConfig } from '../../config/policy.js';

let stack: TestStack;
const children: ChildProcess[] = [];

beforeAll(async () => {
  stack = await startTestStack({ scorer: false });
});
afterAll(async () => {
  for (const c of children) c.kill('SIGKILL');
  await stack?.destroy();
});

async function scored(): Promise<number> {
  return Number((await queryRows<{ n: number }>(stack, 'SELECT count() n FROM vafa.scored_transactions FINAL'))[0]?.n ?? 0);
}

/** What a clean run gives: the pure core over the same events, in the same per-partition order. */
function expectedTotals(events: TransactionV1[], partitions: number): { rows: number; points: number; ledgerRows: number } {
  const engine = new Engine(buildEngineConfig({ ...loadSettings({}), partitions }));
  const states = new Map<number, PartitionState>();
  let seq = 0;
  let points = 0;
  let ledgerRows = 0;
  const ids = new Set<string>();
  for (const tx of events) {
    const p = partitionOf(tx.customer_id, partitions);
    const state = states.get(p) ?? newPartitionState(p);
    states.set(p, state);
    const emit = new OutputEmit();
    const pending = engine.apply(state, { seq: ++seq, partition: p, msg: { kind: 'transaction', body: tx } }, emit);
    if (pending) engine.complete(state, pending, undefined, emit);
    for (const r of emit.rows.get('points_ledger') ?? []) {
      points += Number(r.points);
      ledgerRows++;
    }
    ids.add(tx.tx_id);
  }
  return { rows: ids.size, points, ledgerRows };
}

describe('scorer killed mid-run and restarted', () => {
  it('loses nothing and duplicates nothing', async () => {
    const events = Array.from({ length: 3000 }, (_, i) => makeTx(i, `K${i % 37}`)) as unknown as TransactionV1[];
    // a few reversals of earlier purchases
    for (let i = 0; i < 30; i++) {
      const orig = events[i * 50]!;
      events.push({ ...orig, tx_id: `R${i}`, reverses_tx_id: orig.tx_id, occurred_at: new Date(Date.parse(orig.occurred_at) + 3_600_000 * 60).toISOString() });
    }
    const start = (): ChildProcess => {
      const c = spawnVafa(['scorer'], stack, { VAFA_SCORER_BATCH: '100' });
      children.push(c);
      return c;
    };
    let scorer = start();
    const send = async (from: number, to: number): Promise<void> => {
      for (let i = from; i < to; i += 250) {
        const r = await postJson(`${stack.apiUrl}/v1/transactions`, events.slice(i, Math.min(to, i + 250)));
        expect(r.status).toBe(202);
      }
    };
    await send(0, 1500);
    await waitFor(async () => (await scored()) > 300, 30_000, 'the scorer to make progress');
    scorer.kill('SIGKILL');
    await new Promise((r) => scorer.once('exit', r));
    const atKill = await scored();
    expect(atKill).toBeLessThan(events.length);
    await send(1500, events.length);
    scorer = start();
    expect(await waitForDrain(stack, 60_000)).toBe(true);
    const want = expectedTotals(events, stack.settings.partitions);
    await waitFor(async () => (await scored()) === want.rows, 30_000, `all ${want.rows} rows`);
    const [ledger] = await queryRows<{ n: number; pts: number }>(stack, 'SELECT count() n, sum(points) pts FROM vafa.points_ledger FINAL');
    expect(ledger).toEqual({ n: want.ledgerRows, pts: want.points });
    const [dups] = await queryRows<{ n: number }>(stack, 'SELECT count() n FROM (SELECT tx_id FROM vafa.scored_transactions FINAL GROUP BY tx_id HAVING count() > 1)');
    expect(dups!.n).toBe(0);
    scorer.kill('SIGTERM');
  }, 180_000);
});
