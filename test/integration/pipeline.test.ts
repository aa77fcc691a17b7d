import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTx, postJson, queryRows, startTestStack, waitFor, type TestStack } from '../support/stack.js';

let stack: TestStack;
let api: string;

beforeAll(async () => {
  stack = await startTestStack();
  api = stack.apiUrl!;
});
afterAll(async () => {
  await stack?.destroy();
});

const count = async (sql: string): Promise<number> => Number((await queryRows<{ n: number }>(stack, sql))[0]?.n ?? 0);

describe('HTTP → JetStream → scorer → ClickHouse → API', () => {
  it('scores a transaction end to end and answers for the customer', async () => {
    const tx = makeTx(1, 'CUST-A', { channel: 'pos', amount_minor: 2_500_000, mcc: '5411', branch_id: 'BR01' });
    const r = await postJson(`${api}/v1/transactions`, tx);
    expect(r.status).toBe(202);
    expect(r.body).toMatchObject({ accepted: 1, duplicates: 0, results: [{ index: 0, status: 'accepted', id: tx.tx_id }] });
    const row = await waitFor(async () => (await queryRows(stack, `SELECT * FROM vafa.scored_transactions FINAL WHERE tx_id = '${String(tx.tx_id)}'`))[0], 20_000, 'the scored row');
    expect(row).toMatchObject({ customer_id: 'CUST-A', channel: 'pos', amount_minor: 2_500_000, currency: 'IRR', mcc: '5411', branch_id: 'BR01', status: 'approved' });
    expect(Number(row.points)).toBeGreaterThan(0);
    const c = await waitFor(async () => {
      const res = await fetch(`${api}/v1/customers/CUST-A`);
      return res.status === 200 ? ((await res.json()) as Record<string, unknown>) : undefined;
    }, 20_000, 'the customer view');
    expect(c).toMatchObject({ customer_id: 'CUST-A', points_balance: Number(row.points) });
    expect(typeof c.lifecycle_stage).toBe('string');
    expect(c.features).toMatchObject({ tx_count_30d: 1 });
    const ledger = (await (await fetch(`${api}/v1/customers/CUST-A/ledger`)).json()) as { entries: { points: number }[] };
    expect(ledger.entries.reduce((s, e) => s + Number(e.points), 0)).toBe(Number(row.points));
  });

  it('accepts a re-sent tx_id as a duplicate and stores it once', async () => {
    const tx = makeTx(2, 'CUST-B', { channel: 'online', amount_minor: 1_000_000 });
    expect((await postJson(`${api}/v1/transactions`, tx)).status).toBe(202);
    const again = await postJson(`${api}/v1/transactions`, [tx, makeTx(3, 'CUST-B')]);
    expect(again.status).toBe(202);
    expect(again.body).toMatchObject({ accepted: 1, duplicates: 1 });
    expect((again.body.results as { status: string }[]).map((x) => x.status)).toEqual(['duplicate', 'accepted']);
    await waitFor(async () => (await count(`SELECT count() n FROM vafa.scored_transactions FINAL WHERE customer_id = 'CUST-B'`)) === 2, 20_000, 'two rows');
    expect(await count(`SELECT count() n FROM vafa.scored_transactions WHERE tx_id = '${String(tx.tx_id)}'`)).toBe(1);
    // The ledger's rows are a separate insert from the scored row's: wait for them, then compare.
    const scored = await count(`SELECT sum(points) n FROM vafa.scored_transactions FINAL WHERE tx_id = '${String(tx.tx_id)}'`);
    const ledger = (): Promise<number> => count(`SELECT sum(points) n FROM vafa.points_ledger FINAL WHERE source_id = '${String(tx.tx_id)}'`);
    await waitFor(async () => (await ledger()) >= scored, 20_000, 'the ledger rows');
    expect(await ledger()).toBe(scored);
  });

  it('answers 400 naming the index and field of each bad item, and accepts the good ones', async () => {
    const good = makeTx(10, 'CUST-C');
    const r = await postJson(`${api}/v1/transactions`, [
      good,
      { ...makeTx(11, 'CUST-C'), amount_minor: -5 },
      { ...makeTx(12, 'CUST-C'), channel: 'cash' },
      { ...makeTx(13, 'CUST-C'), customer_id: undefined },
      { ...makeTx(14, 'CUST-C'), card_token: '4111 1111 1111 1111' },
      { ...makeTx(15, 'CUST-C'), occurred_at: '2026-02-30T10:00:00Z' },
    ]);
    expect(r.status).toBe(400);
    expect(r.body.error).toBe('VAFA_INVALID_ITEMS');
    expect(r.body.accepted).toBe(1);
    const results = r.body.results as { index: number; status: string; errors?: { field: string; message: string }[] }[];
    expect(results[0]!.status).toBe('accepted');
    const fieldsOf = (i: number): string[] => (results[i]!.errors ?? []).map((e) => e.field);
    expect(fieldsOf(1)).toContain('amount_minor');
    expect(fieldsOf(2)).toContain('channel');
    expect(results[2]!.errors![0]!.message).toMatch(/pos, atm, bill_pay/);
    expect(fieldsOf(3)).toContain('customer_id');
    expect(fieldsOf(4)).toContain('card_token');
    expect(results[4]!.errors![0]!.message).toMatch(/card number/);
    expect(fieldsOf(5)).toContain('occurred_at');
    expect(JSON.stringify(r.body)).not.toContain('4111 1111 1111 1111');
  });

  it('takes NDJSON and names a line that is not JSON', async () => {
    const body = `${JSON.stringify(makeTx(20, 'CUST-D'))}\n{not json\n${JSON.stringify(makeTx(21, 'CUST-D'))}\n`;
    const r = await fetch(`${api}/v1/transactions`, { method: 'POST', headers: { 'content-type': 'application/x-ndjson' }, body });
    const j = (await r.json()) as { accepted: number; results: { status: string; errors?: { field: string }[] }[] };
    expect(r.status).toBe(400);
    expect(j.accepted).toBe(2);
    expect(j.results[1]!.errors![0]!.field).toBe('(line 2)');
  });

  it('refuses a batch over 1,000 items and a body that is not JSON', async () => {
    const big = Array.from({ length: 1001 }, (_, i) => makeTx(100_000 + i));
    const r = await postJson(`${api}/v1/transactions`, big);
    expect(r.status).toBe(413);
    expect(r.body.error).toBe('VAFA_BATCH_TOO_LARGE');
    const bad = await postJson(`${api}/v1/transactions`, '{"tx_id": ');
    expect(bad.status).toBe(400);
    expect(bad.body.error).toBe('VAFA_BAD_BODY');
  });

  it('tokenizes profile card numbers and never stores them', async () => {
    const r = await postJson(`${api}/v1/customers`, { customer_id: 'CUST-E', opened_at: '2025-06-01T09:00:00Z', segment: 'mass', cards: ['6037991234567893'] });
    expect(r.status).toBe(202);
    await waitFor(async () => (await count(`SELECT count() n FROM vafa.customer_state FINAL WHERE customer_id = 'CUST-E'`)) === 1, 20_000, 'profile state');
    const dump = await queryRows(stack, `SELECT * FROM vafa.customer_state FINAL WHERE customer_id = 'CUST-E'`);
    expect(JSON.stringify(dump)).not.toContain('6037991234567893');
  });

  it('serves health, readiness, metrics and the OpenAPI document', async () => {
    expect((await fetch(`${api}/healthz`)).status).toBe(200);
    const ready = await fetch(`${api}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ checks: { nats: true, clickhouse: true } });
    const metrics = await (await fetch(`${api}/metrics`)).text();
    expect(metrics).toMatch(/vafa_ingest_items_total\{kind="transaction",status="accepted",source="http"\} \d+/);
    expect(metrics).toMatch(/vafa_scorer_events_total \d+/);
    const doc = (await (await fetch(`${api}/docs/json`)).json()) as { paths: Record<string, unknown> };
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/v1/transactions', '/v1/customers', '/v1/customers/{id}', '/v1/feedback', '/v1/redemptions']));
  });
});
