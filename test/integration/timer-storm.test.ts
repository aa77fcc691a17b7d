/**
 * A timer storm through the real worker: 120 customers earn points in January 2025, then one transaction
 * a partition in 2027 makes every pending timer due at once (points expiring at the end of their bank
 * day, lifecycle checks). With `VAFA_SCORER_TIMER_SLICE` 5 and a state cache of 40 customers in the LMDB
 * store (10 a partition, so 3 timers a batch with 3 batches in flight), the workers end batches before
 * the late transactions, fire the timers over many batches (only timers: nothing to ack), and then apply
 * the late transactions. ClickHouse ends with exactly the ledger and balances the pure core gives over
 * the same events.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postJson, queryRows, startTestStack, waitFor, type TestStack } from '../support/stack.js';
import { Engine } from '../../scorer/core/engine.js';
import { newPartitionState, type PartitionState } from '../../scorer/core/state.js';
import { OutputEmit, type Row } from '../../sinks/mapping.js';
import { partitionOf } from '../../contracts/subjects.js';
import type { TransactionV1 } from '../../contracts/events.js';
import type { BatchInfo } from '../../scorer/runtime/worker.js';
import { buildEngineConfig } from '../../config/policy.js';

const PARTITIONS = 4;
const SLICE = 5;
/** 40 customers cached over 4 partitions: 10 each, so a batch (3 in flight) fires at most 3 timers. */
const CACHE = 40;
const EFFECTIVE_SLICE = 3;
let stack: TestStack;
const batches: BatchInfo[] = [];

beforeAll(async () => {
  stack = await startTestStack({
    overrides: { partitions: PARTITIONS, scorerTimerSlice: SLICE, checkpointStore: 'lmdb', stateCacheCustomers: CACHE, scorerBatch: 50 },
    onBatch: (info) => batches.push(info),
  });
}, 60_000);
afterAll(async () => {
  await stack?.destroy();
});

function traffic(): TransactionV1[] {
  const events: TransactionV1[] = [];
  for (let i = 0; i < 600; i++) {
    events.push({
      tx_id: `S${i}`, customer_id: `ST${i % 120}`, channel: i % 3 === 0 ? 'online' : 'pos', amount_minor: 400_000 + (i * 7919) % 2_000_000, currency: 'IRR',
      occurred_at: new Date(Date.UTC(2025, 0, 2) + i * 3_600_000).toISOString(), status: 'approved',
    });
  }
  // One late transaction a partition, two years on: everything pending is due when it arrives.
  const late = new Set<number>();
  for (let i = 0; late.size < PARTITIONS; i++) {
    const customer = `LATE${i}`;
    const p = partitionOf(customer, PARTITIONS);
    if (late.has(p)) continue;
    late.add(p);
    events.push({ tx_id: `L${i}`, customer_id: customer, channel: 'pos', amount_minor: 1_000_000, currency: 'IRR', occurred_at: '2027-01-15T10:00:00.000Z', status: 'approved' });
  }
  return events;
}

/** The pure core over the same events in the same per-partition order, one event at a time. */
function expected(events: readonly TransactionV1[]): { ledger: Map<string, string>; balances: Map<string, number>; timers: number } {
  const engine = new Engine(buildEngineConfig(stack.settings));
  const states = new Map<number, PartitionState>();
  const ledger = new Map<string, string>();
  let seq = 0;
  let timers = 0;
  for (const tx of events) {
    const p = partitionOf(tx.customer_id, PARTITIONS);
    const state = states.get(p) ?? newPartitionState(p);
    states.set(p, state);
    const emit = new OutputEmit();
    const event = { seq: ++seq, partition: p, msg: { kind: 'transaction' as const, body: tx } };
    timers += engine.fireDue(state, event, emit, Number.MAX_SAFE_INTEGER);
    const pending = engine.apply(state, event, emit);
    if (pending) engine.complete(state, pending, undefined, emit);
    for (const r of emit.rows.get('points_ledger') ?? []) ledger.set(String(r.entry_id), entry(r));
  }
  const balances = new Map<string, number>();
  for (const state of states.values()) for (const c of Object.values(state.customers)) balances.set(c.id, c.loyalty.balance);
  return { ledger, balances, timers };
}

const entry = (r: Row): string => [r.customer_id, r.kind, r.points, r.balance_after, String(r.occurred_at).replace(' ', 'T').replace(/Z?$/, 'Z')].join('|');

describe('a timer storm through the worker', () => {
  it('fires over many small batches and ends with the ledger and balances of the pure core', async () => {
    const events = traffic();
    const want = expected(events);
    expect(want.timers).toBeGreaterThan(SLICE * PARTITIONS * 10);
    expect([...want.ledger.values()].some((e) => e.includes('|expire|'))).toBe(true);
    for (let i = 0; i < events.length; i += 100) {
      const r = await postJson(`${stack.apiUrl!}/v1/transactions`, events.slice(i, i + 100));
      expect(r.status).toBe(202);
    }
    const count = async (sql: string): Promise<number> => Number((await queryRows<{ n: number }>(stack, sql))[0]?.n ?? 0);
    await waitFor(async () => (await count('SELECT count() n FROM vafa.scored_transactions FINAL')) === events.length, 60_000, 'every transaction scored');
    await waitFor(async () => (await count('SELECT count() n FROM vafa.points_ledger FINAL')) >= want.ledger.size, 30_000, 'the whole ledger');
    const rows = await queryRows<Row>(stack, 'SELECT entry_id, customer_id, kind, points, balance_after, toString(occurred_at) AS occurred_at FROM vafa.points_ledger FINAL');
    const got = new Map(rows.map((r) => [String(r.entry_id), entry({ ...r, occurred_at: String(r.occurred_at).replace(' ', 'T') })]));
    expect(got.size).toBe(want.ledger.size);
    for (const [id, e] of want.ledger) expect(got.get(id), id).toBe(e);
    const states = await queryRows<{ customer_id: string; points_balance: number }>(stack, 'SELECT customer_id, points_balance FROM vafa.customer_state FINAL');
    expect(states.length).toBe(want.balances.size);
    for (const s of states) expect(Number(s.points_balance), s.customer_id).toBe(want.balances.get(s.customer_id));
    // The storm was fired in slices: batches of timers only, none over the slice, together all of them
    // (a batch is reported once committed and acked, a moment after its rows are readable).
    const fired = (): number => batches.reduce((n, b) => n + b.timers, 0);
    await waitFor(async () => fired() >= want.timers, 30_000, `${want.timers} timers reported`);
    expect(fired()).toBe(want.timers);
    expect(batches.some((b) => b.events === 0 && b.timers === EFFECTIVE_SLICE)).toBe(true);
    expect(Math.max(...batches.map((b) => b.timers))).toBeLessThanOrEqual(EFFECTIVE_SLICE);
  }, 120_000);
});
