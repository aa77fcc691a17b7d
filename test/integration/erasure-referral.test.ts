/**
 * Erasure of a customer another customer referred, on the real stack (nats-server, the scorer, the
 * embedded ClickHouse, the API): the referrer's referral bonus names the referred customer in its ledger
 * ids (`ref:<rules version>:<id>`); after the erasure no `String` column of any table holds the erased id,
 * the referrer's bonus, balance and row counts (ledger and its dashboard copy) are unchanged, and their
 * bonus rows now name the erasure id.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTx, postJson, queryRows, startTestStack, waitFor, type TestStack } from '../support/stack.js';
import { mentions as mentionsIn } from '../support/mentions.js';

const run = Math.random().toString(36).slice(2, 8);
const REFERRER = `REF-BY-${run}`;
const REFERRED = `REF-GONE-${run}`;

let stack: TestStack;

beforeAll(async () => {
  stack = await startTestStack();
}, 120_000);
afterAll(async () => {
  await stack?.destroy();
});

const mentions = (needle: string): Promise<string[]> => mentionsIn(stack, needle);

interface Referrer { bonus: number; rows: number; copyRows: number; balance: number }
async function referrer(): Promise<Referrer> {
  const [r] = await queryRows<Referrer>(stack, `SELECT
      (SELECT sumIf(points, rule_id = 'referral') FROM vafa.points_ledger FINAL WHERE customer_id = '${REFERRER}') AS bonus,
      (SELECT count() FROM vafa.points_ledger FINAL WHERE customer_id = '${REFERRER}') AS rows,
      (SELECT count() FROM vafa.dash_ledger_v1 FINAL WHERE customer_id = '${REFERRER}') AS copyRows,
      (SELECT sum(points) FROM vafa.points_ledger FINAL WHERE customer_id = '${REFERRER}') AS balance`);
  return { bonus: Number(r!.bonus), rows: Number(r!.rows), copyRows: Number(r!.copyRows), balance: Number(r!.balance) };
}

describe('erasing a referred customer', () => {
  it('re-derives the referrer\'s bonus ids from the erasure id; nothing names the erased customer', async () => {
    const opened = new Date(Date.now() - 2 * 86_400_000).toISOString();
    const profiles = [
      { customer_id: REFERRER, opened_at: new Date(Date.now() - 400 * 86_400_000).toISOString(), segment: 'retail' },
      { customer_id: REFERRED, opened_at: opened, segment: 'retail', referred_by: REFERRER },
    ];
    expect((await postJson(`${stack.apiUrl}/v1/customers`, profiles)).status).toBe(202);
    await waitFor(async () => Number((await queryRows<{ n: number }>(stack, `SELECT count() AS n FROM vafa.customer_state FINAL WHERE customer_id = '${REFERRED}'`))[0]?.n) === 1, 30_000, 'the referred customer\'s profile');
    const qualifying = makeTx(9500, REFERRED, { channel: 'pos', amount_minor: 6_000_000, occurred_at: new Date(Date.now() - 86_400_000).toISOString() });
    expect((await postJson(`${stack.apiUrl}/v1/transactions`, qualifying)).status).toBe(202);
    const before = await waitFor(async () => {
      const r = await referrer();
      return r.bonus > 0 && r.copyRows === r.rows ? r : undefined;
    }, 60_000, 'the referrer\'s referral bonus (and its dashboard copy)');
    expect((await mentions(REFERRED)).filter((m) => m.startsWith('points_ledger') || m.startsWith('dash_ledger_v1')).length, 'the bonus names the referred customer').toBeGreaterThan(0);

    const r = await postJson(`${stack.apiUrl}/v1/admin/erasures`, { customer_id: REFERRED });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(Object.keys(r.body.referrals as Record<string, number>).sort(), 'tables whose referral rows were re-derived').toEqual(['dash_ledger_v1', 'points_ledger']);
    expect(await mentions(REFERRED)).toEqual([]);
    expect(await referrer(), 'the referrer\'s bonus, balance and rows').toEqual(before);
    const erasureId = String(r.body.erasure_id);
    const [renamed] = await queryRows<{ n: number }>(stack, `SELECT count() AS n FROM vafa.points_ledger FINAL WHERE customer_id = '${REFERRER}' AND endsWith(source_id, ':${erasureId}')`);
    expect(Number(renamed?.n)).toBeGreaterThan(0);
  }, 180_000);
});
