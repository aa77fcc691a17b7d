import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTx, postJson, queryRows, startTestStack, type TestStack } from '../support/stack.js';
import { waitForDrain } from '../../app/drain.js';
import { replay } from '../../scorer/runtime/replay.js';
import { buildEngineConfig } from '../../config/policy.js';

let stack: TestStack;

beforeAll(async () => {
  stack = await startTestStack();
});
afterAll(async () => {
  await stack?.destroy();
});

type Totals = { scored: number; ledger: number; points: number; balances: number; customers: number };

async function totals(): Promise<Totals> {
  const [r] = await queryRows<Totals>(stack, `SELECT
    (SELECT count() FROM vafa.scored_transactions FINAL) AS scored,
    (SELECT count() FROM vafa.points_ledger FINAL) AS ledger,
    (SELECT sum(points) FROM vafa.points_ledger FINAL) AS points,
    (SELECT sum(points_balance) FROM vafa.customer_state FINAL) AS balances,
    (SELECT count() FROM vafa.customer_state FINAL) AS customers`);
  return r!;
}

describe('vafa replay', () => {
  it('rebuilds every table from the stream with identical totals, and from a time only the later rows', async () => {
    const events = Array.from({ length: 600 }, (_, i) => makeTx(i, `RP${i % 23}`));
    for (let i = 0; i < 20; i++) events.push({ ...events[i * 25]!, tx_id: `RPR${i}`, reverses_tx_id: events[i * 25]!.tx_id as string, occurred_at: new Date(Date.UTC(2026, 0, 2) + i * 1000).toISOString() });
    for (let i = 0; i < events.length; i += 200) expect((await postJson(`${stack.apiUrl}/v1/transactions`, events.slice(i, i + 200))).status).toBe(202);
    expect(await waitForDrain(stack, 60_000)).toBe(true);
    await stack.scorer!.stop();
    const live = await totals();
    expect(live.scored).toBe(events.length);

    const engineConfig = buildEngineConfig(stack.settings);
    const full = await replay({ nc: stack.nc, warehouse: stack.warehouse, database: 'vafa', from: { seq: 1 }, truncate: true, logger: stack.logger, engineConfig });
    expect(full.events).toBe(events.length);
    expect(await totals()).toEqual(live);

    const cut = '2026-01-01T05:00:00.000Z';
    await replay({ nc: stack.nc, warehouse: stack.warehouse, database: 'vafa', from: { time: cut }, truncate: true, logger: stack.logger, engineConfig });
    const [after] = await queryRows<{ n: number; early: number }>(stack, `SELECT count() n, countIf(occurred_at < '${cut}') early FROM vafa.scored_transactions FINAL`);
    expect(after!.early).toBe(0);
    expect(after!.n).toBe(events.filter((e) => String(e.occurred_at) >= cut).length);
  }, 120_000);
});
