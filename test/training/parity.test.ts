// Online features = offline features: the real stack (nats-server, embedded ClickHouse, API, scorer)
// scores a simulated history posted through the API; the trainer's dataset builder replays the same
// history through the same core; every customer's `customer_state.features` must match.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CustomerProfileV1, TxMessage } from '../../contracts/events.js';
import { createBank } from '../../simulator/mod.js';
import { buildChurnDataset, historyMessages, type HistoryEvent } from '../../training/dataset.js';
import { waitForDrain } from '../../app/drain.js';
import { postJson, queryRows, startTestStack, type TestStack } from '../support/stack.js';
import { buildEngineConfig } from '../../config/policy.js';
import { customerRow } from '../../sinks/mapping.js';

const PARTITIONS = 4;
let stack: TestStack;

beforeAll(async () => {
  stack = await startTestStack({ overrides: { partitions: PARTITIONS, shutdownMs: 3000, leaseMs: 30_000 } });
});
afterAll(async () => {
  const t = Date.now();
  await stack?.destroy();
  if (process.env.PARITY_TIMING) console.log({ destroy_ms: Date.now() - t });
});

const PATHS: Record<TxMessage['kind'], string> = {
  profile: '/v1/customers', transaction: '/v1/transactions', redemption: '/v1/redemptions', feedback: '/v1/feedback',
};

/**
 * Posts the messages in order: runs of one kind, ≤ 1000 a request, one request at a time. After a message
 * in `drainAfter` it waits until the scorer has drained, so the referral credit that message makes the
 * scorer publish lands in the referrer's partition right after it, where the offline builder applies it.
 * (Without the wait the credit lands wherever the scorer's lag puts it: behind the referrer's later
 * events it is a late event, whose row keeps the credit's time with the features as of the watermark.)
 */
async function postInOrder(api: string, msgs: TxMessage[], profiles: Map<string, CustomerProfileV1>, drainAfter: ReadonlySet<TxMessage>): Promise<number> {
  let accepted = 0;
  for (let i = 0; i < msgs.length;) {
    const kind = msgs[i]!.kind;
    const items: unknown[] = [];
    let drain = false;
    while (!drain && i < msgs.length && msgs[i]!.kind === kind && items.length < 1000) {
      const m = msgs[i++]!;
      items.push(m.kind === 'profile' ? profiles.get(m.body.customer_id) : m.body);
      drain = drainAfter.has(m);
    }
    const r = await postJson(`${api}${PATHS[kind]}`, items);
    expect(r.status, JSON.stringify(r.body).slice(0, 300)).toBe(202);
    accepted += Number(r.body.accepted ?? 0);
    if (drain) expect(await waitForDrain(stack, 60_000), 'drained after a referral').toBe(true);
  }
  return accepted;
}

function closeEnough(a: number, b: number): boolean {
  return a === b || Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(a), Math.abs(b));
}

describe('online features equal offline features', () => {
  it('for every customer of a simulated history (150 customers × 120 days)', async () => {
    const bank = createBank({ seed: 7, customers: 150, start: new Date('2025-03-01T00:00:00Z'), days: 120 });
    const profiles = new Map(bank.profiles().map((p) => [p.customer_id, p]));
    const t0 = Date.now();
    const msgs: TxMessage[] = [];
    for await (const m of historyMessages(bank.profiles(), bank.events() as Iterable<HistoryEvent>)) msgs.push(m);

    // Offline: the trainer's builder, same partitioning and engine configuration (the same files) as the
    // running scorer; every customer_state row it emits, by customer and event time.
    const offline = new Map<string, Map<string, string>>();
    const referrals = new Set<TxMessage>();
    const built = await buildChurnDataset(msgs, bank.truth(), {
      partitions: PARTITIONS,
      engine: buildEngineConfig(stack.settings),
      onEmit: (emit, msg) => {
        if (emit.events.some((e) => e.type === 'referral_qualified')) referrals.add(msg);
        for (const [id, snapshot] of emit.customers) {
          const row = customerRow(snapshot);
          let m = offline.get(id);
          if (!m) offline.set(id, (m = new Map()));
          m.set(String(row.updated_at), String(row.features));
        }
      },
    });
    expect(built.events).toBe(msgs.length);
    expect(referrals.size, 'the history has referrals (their credits cross partitions)').toBeGreaterThan(0);

    const t1 = Date.now();
    if (process.env.PARITY_TIMING) console.log({ offline_ms: t1 - t0, events: msgs.length });
    // Online: through the API and the running scorer.
    const accepted = await postInOrder(stack.apiUrl!, msgs, profiles, referrals);
    expect(accepted).toBe(msgs.length);
    const t2 = Date.now();
    if (process.env.PARITY_TIMING) console.log({ post_ms: t2 - t1, stats: stack.scorer?.stats() });
    expect(await waitForDrain(stack, 100_000)).toBe(true);
    if (process.env.PARITY_TIMING) console.log({ offline_ms: t1 - t0, post_ms: t2 - t1, drain_ms: Date.now() - t2, events: msgs.length });
    const rows = await queryRows<{ customer_id: string; updated_at: string; features: string }>(stack,
      `SELECT customer_id, formatDateTime(updated_at, '%Y-%m-%dT%H:%i:%S.%fZ', 'UTC') AS updated_at, features FROM vafa.customer_state FINAL ORDER BY customer_id`);

    expect(rows.length).toBe(offline.size);
    let compared = 0;
    for (const row of rows) {
      const at = `${row.updated_at.slice(0, 23)}Z`; // ClickHouse prints 6 fraction digits for %f
      const want = offline.get(row.customer_id)?.get(at);
      expect(want, `offline has no customer_state for ${row.customer_id} at ${at}`).toBeDefined();
      const got = JSON.parse(row.features) as Record<string, number>;
      const exp = JSON.parse(want!) as Record<string, number>;
      expect(Object.keys(got)).toEqual(Object.keys(exp));
      for (const k of Object.keys(exp)) {
        if (!closeEnough(got[k]!, exp[k]!)) expect.fail(`${row.customer_id} ${k}: online ${got[k]} offline ${exp[k]}`);
      }
      compared++;
    }
    expect(compared).toBeGreaterThan(100);
  }, 120_000);
});
