/**
 * The scorer's half of a customer's erasure, with real parts (nats-server, the scorer, the embedded
 * ClickHouse): `forgetInScorer` publishes the control message on the customer's partition and returns
 * once the scorer has acked past it; the customer's next transaction then starts a new customer (its
 * state row counts one transaction, not the history), another customer is untouched, and a retried
 * erasure publishes the message once.
 */
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { forgetInScorer } from '../../scorer/runtime/erasure.js';
import { makeTx, postJson, queryRows, startTestStack, waitFor, type TestStack } from '../support/stack.js';

let stack: TestStack;
let api: string;

beforeAll(async () => {
  stack = await startTestStack();
  api = stack.apiUrl!;
}, 60_000);
afterAll(async () => {
  await stack?.destroy();
});

const state = async (customer: string): Promise<{ tx_count_30d: number; points_balance: number; version: number } | undefined> =>
  (await queryRows<{ tx_count_30d: number; points_balance: number; version: number }>(stack, `SELECT tx_count_30d, points_balance, version FROM vafa.customer_state FINAL WHERE customer_id = '${customer}'`))[0];

describe('erasing a customer in the scorer', () => {
  it('forgets the history before the warehouse is erased; a later transaction starts a new customer', async () => {
    const at = (i: number): string => new Date(Date.now() - (10 - i) * 3_600_000).toISOString();
    const history = [1, 2, 3].map((i) => makeTx(900 + i, 'ERASE-ME', { occurred_at: at(i), amount_minor: 2_000_000 }));
    const other = makeTx(950, 'KEEP-ME', { occurred_at: at(1), amount_minor: 2_000_000 });
    expect((await postJson(`${api}/v1/transactions`, [...history, other])).status).toBe(202);
    await waitFor(async () => Number((await state('ERASE-ME'))?.tx_count_30d) === 3 && (await state('KEEP-ME')) !== undefined, 30_000, 'both customers scored');
    const kept = await state('KEEP-ME');

    const erasureId = `erased-${'0123456789ab'.repeat(2)}`;
    const opts = { js: jetstream(stack.nc), jsm: await jetstreamManager(stack.nc), partitions: stack.settings.partitions, customerId: 'ERASE-ME', erasureId, deadlineMs: 30_000 };
    const first = await forgetInScorer(opts);
    expect(first.applied).toBe(true);
    const retried = await forgetInScorer(opts);
    expect(retried.seq, 'a retry publishes the control message once').toBe(first.seq);

    const next = makeTx(999, 'ERASE-ME', { occurred_at: at(5), amount_minor: 2_000_000 });
    expect((await postJson(`${api}/v1/transactions`, next)).status).toBe(202);
    const fresh = await waitFor(async () => {
      const s = await state('ERASE-ME');
      return s && Number(s.version) > 0 && Number(s.tx_count_30d) === 1 ? s : undefined;
    }, 30_000, 'the customer to start again with one transaction');
    // A batch's tables are inserted side by side: its scored row can land after its state row.
    const points = await waitFor(async () => (await queryRows<{ points: number }>(stack, `SELECT points FROM vafa.scored_transactions FINAL WHERE tx_id = '${String(next.tx_id)}'`))[0], 30_000, 'the new transaction\'s scored row');
    expect(Number(fresh.points_balance), 'the balance holds only the new transaction').toBe(Number(points.points));
    expect(await state('KEEP-ME')).toEqual(kept);
  }, 90_000);
});
