/**
 * The ids that embed or hash the customer id are re-derived by an erasure (sinks/clickhouse/erasure.ts) on
 * the real embedded ClickHouse: offer ids (a hash of the customer id) are re-hashed the same way in offers,
 * conversions and feedback, so they still join; stage and tier change ids lose their customer prefix; a
 * retry of an interrupted erasure reuses its erasure id and adds nothing; the deletes' commands, which
 * ClickHouse keeps, do not hold the customer id.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { offerId } from '../../scorer/core/offers/ids.js';
import { eraseCustomer, ERASURE_ID_PATTERN, PENDING_TABLE_SQL, type ErasureRequest } from '../../sinks/clickhouse/erasure.js';
import { queryRows, startTestStack, type TestStack } from '../support/stack.js';

let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack({ scorer: false, api: false });
});
afterAll(async () => {
  await stack?.destroy();
});

const now = new Date().toISOString();
const request = (customerId: string): ErasureRequest => ({ customerId, principal: 'test', via: 'cli', method: 'CLI', route: 'test', remoteAddr: 'localhost' });

async function insertCustomer(id: string): Promise<string> {
  const ch = stack.warehouse;
  const offer = offerId(id, 'RET-VALUE', 'T1');
  await ch.insert({ table: 'vafa.offers', values: [{ offer_id: offer, customer_id: id, offer_code: 'RET-VALUE', campaign_id: 'retention', channel: 'app', triggered_by_tx_id: 'T1', created_at: now, expires_at: now, holdout: 0, kind: 'offer', stream_seq: 1 }], format: 'JSONEachRow' });
  await ch.insert({ table: 'vafa.offer_conversions', values: [{ conversion_id: `${offer}:conv`, offer_id: offer, customer_id: id, campaign_id: 'retention', goal: 'purchase', tx_id: 'T2', offered_at: now, converted_at: now, value_minor: 5, holdout: 0, stream_seq: 2 }], format: 'JSONEachRow' });
  await ch.insert({ table: 'vafa.feedback', values: [{ feedback_id: 'F1', customer_id: id, occurred_at: now, kind: 'survey', score: 5, scale: 'csat5', offer_id: offer, text: `I am ${id}`, stream_seq: 3 }], format: 'JSONEachRow' });
  await ch.insert({ table: 'vafa.lifecycle_transitions', values: [{ transition_id: `${id}:4:active:1`, customer_id: id, from_stage: 'new', to_stage: 'active', occurred_at: now, stream_seq: 4 }], format: 'JSONEachRow' });
  await ch.insert({ table: 'vafa.tier_changes', values: [{ change_id: `${id}:5:1:gold`, customer_id: id, from_tier: 'silver', to_tier: 'gold', occurred_at: now, stream_seq: 5 }], format: 'JSONEachRow' });
  return offer;
}

describe('erasure re-derives ids built from the customer id', () => {
  it('offer ids re-hashed consistently, prefixed ids re-prefixed, free text gone', async () => {
    const id = 'IDS-CUSTOMER-1';
    const offer = await insertCustomer(id);
    const r = await eraseCustomer(stack.warehouse, 'vafa', request(id));
    expect(r.erasure_id).toMatch(ERASURE_ID_PATTERN);
    const [o] = await queryRows<{ offer_id: string }>(stack, `SELECT offer_id FROM vafa.offers FINAL WHERE customer_id = '${r.erasure_id}'`);
    expect(o!.offer_id).toMatch(/^of_[0-9a-f]{24}$/);
    expect(o!.offer_id).not.toBe(offer);
    const [joined] = await queryRows<{ n: number }>(stack, `SELECT count() AS n FROM vafa.offer_conversions AS c FINAL
      INNER JOIN vafa.offers AS o FINAL ON o.offer_id = c.offer_id INNER JOIN vafa.feedback AS f FINAL ON f.offer_id = o.offer_id
      WHERE c.customer_id = '${r.erasure_id}' AND c.conversion_id = concat(o.offer_id, ':conv')`);
    expect(joined!.n).toBe(1);
    const [dash] = await queryRows<{ n: number }>(stack, `SELECT count() AS n FROM vafa.dash_conversions_v1 FINAL WHERE offer_id = '${o!.offer_id}' AND customer_id = '${r.erasure_id}'`);
    expect(dash!.n).toBe(1);
    const [t] = await queryRows<{ transition_id: string }>(stack, `SELECT transition_id FROM vafa.lifecycle_transitions FINAL WHERE customer_id = '${r.erasure_id}'`);
    expect(t!.transition_id).toBe(`${r.erasure_id}:4:active:1`);
    const [c] = await queryRows<{ change_id: string }>(stack, `SELECT change_id FROM vafa.tier_changes FINAL WHERE customer_id = '${r.erasure_id}'`);
    expect(c!.change_id).toBe(`${r.erasure_id}:5:1:gold`);
    const [f] = await queryRows<{ text: string; score: number }>(stack, `SELECT text, score FROM vafa.feedback FINAL WHERE customer_id = '${r.erasure_id}'`);
    expect(f).toEqual({ text: '', score: 5 });
    const [left] = await queryRows<{ n: number }>(stack, `SELECT
      (SELECT count() FROM vafa.offers WHERE offer_id = '${offer}') + (SELECT count() FROM vafa.offer_conversions WHERE offer_id = '${offer}')
      + (SELECT count() FROM vafa.feedback WHERE offer_id = '${offer}') + (SELECT count() FROM vafa.dash_offers_v1 WHERE offer_id = '${offer}') AS n`);
    expect(left!.n).toBe(0);
    // ClickHouse keeps a mutation's command after it ran: the deletes name the customer by the erasure id only.
    const mutations = await queryRows<{ command: string }>(stack, "SELECT command FROM system.mutations WHERE database = 'vafa' AND command LIKE '%DELETE%'");
    expect(mutations.some((m) => m.command.includes(r.erasure_id))).toBe(true);
    expect(mutations.filter((m) => m.command.includes(id))).toEqual([]);
  });

  it('a retry of an interrupted erasure reuses its erasure id and adds no rows', async () => {
    const id = 'IDS-CUSTOMER-2';
    await insertCustomer(id);
    // An erasure that stopped after its kept copies: the pending row and the copies are there, the originals too.
    const erasureId = 'erased-0123456789abcdef01234567';
    await stack.warehouse.command({ query: PENDING_TABLE_SQL('vafa') });
    await stack.warehouse.insert({ table: 'vafa.erasure_pending', values: [{ customer_id: id, erasure_id: erasureId, started_at: now }], format: 'JSONEachRow' });
    await stack.warehouse.command({
      query: `INSERT INTO vafa.tier_changes (change_id, customer_id, from_tier, to_tier, occurred_at, stream_seq)
              SELECT concat({e:String}, ':5:1:gold'), {e:String}, from_tier, to_tier, occurred_at, stream_seq FROM vafa.tier_changes FINAL WHERE customer_id = {id:String}`,
      query_params: { e: erasureId, id },
    });
    const r = await eraseCustomer(stack.warehouse, 'vafa', request(id));
    expect(r.erasure_id).toBe(erasureId);
    const [n] = await queryRows<{ n: number }>(stack, `SELECT count() AS n FROM vafa.tier_changes FINAL WHERE customer_id = '${erasureId}'`);
    expect(n!.n).toBe(1);
    const [pending] = await queryRows<{ n: number }>(stack, 'SELECT count() AS n FROM vafa.erasure_pending');
    expect(pending!.n).toBe(0);
  });
});
