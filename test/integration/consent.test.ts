/**
 * Consent end to end (docs/security.md, Consent and membership): a customer whose profile withdraws sms
 * consent makes a transaction that would trigger an sms offer; nothing is published on OFFERS for them,
 * the held-back decision is in `offers_held` with its reason and counted by the campaign views, and the
 * statement is in the access audit under the ingest key that sent it. A customer of the same partition
 * without statements, sent afterwards, gets the offer published: the scorer is past the first one.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jetstreamManager } from '@nats-io/jetstream';
import { keyFileLine } from '../../api/auth.js';
import { partitionOf, STREAM_OFFERS } from '../../contracts/subjects.js';
import { postJson, queryRows, startTestStack, waitFor, type TestStack } from '../support/stack.js';

const CATALOGUE = `
version: "consent-test"
bank_time_offset: "+03:30"
contact_policy:
  per_channel:
    sms: { max: 1000, period_days: 1 }
holdout_share: 0
campaigns: [{ id: mkt }]
offers:
  - code: SMS-MKT
    campaign: mkt
    channels: [sms]
    valid_days: 7
    expected_value: 1000
    churn_exponent: 0
    cooldown_days: 0
    goal: { id: g1, kind: transaction, channels: [bill_pay], within_days: 7 }
`;

const KEY = 'consent-crm-ingest-key-000001';
const HOUR = 3_600_000;
const T0 = Date.parse('2026-03-10T06:00:00Z');
const at = (h: number): string => new Date(T0 + h * HOUR).toISOString();
const auth = { authorization: `Bearer ${KEY}` };

let stack: TestStack;
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'vafa-consent-'));
  const offersPath = path.join(dir, 'offers.yaml');
  const keyFile = path.join(dir, 'keys');
  writeFileSync(offersPath, CATALOGUE);
  writeFileSync(keyFile, `${keyFileLine('crm', ['ingest'], KEY)}\n`);
  stack = await startTestStack({ overrides: { offersPath, apiKeyFile: keyFile, tokenKey: 'consent-token-key-0123456789' } });
}, 120_000);
afterAll(async () => {
  await stack?.destroy();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function post(pathname: string, body: unknown): Promise<void> {
  const r = await postJson(`${stack.apiUrl!}${pathname}`, body, auth);
  expect(r.status, JSON.stringify(r.body)).toBe(202);
}

/** A customer id on the same partition as `of` (so its events are applied after `of`'s). */
function samePartition(of: string, prefix: string): string {
  const n = stack.settings.partitions;
  for (let i = 0; ; i++) if (partitionOf(`${prefix}${i}`, n) === partitionOf(of, n)) return `${prefix}${i}`;
}

const tx = (id: string, customer: string): Record<string, unknown> => ({
  tx_id: id, customer_id: customer, channel: 'pos', amount_minor: 500_000, currency: 'IRR', occurred_at: at(0),
});

describe('a customer without sms consent', () => {
  it('gets no sms marketing: held back with its reason, counted in the campaign views, the statement audited', async () => {
    const held = 'CONSENT-NO';
    const open = samePartition(held, 'CONSENT-OPEN-');
    const withdrawnAt = at(-2);
    await post('/v1/customers', { customer_id: held, opened_at: at(-24), consent: { sms: { status: 'withdrawn', at: withdrawnAt }, email: { status: 'granted', at: withdrawnAt } } });
    await post('/v1/transactions', tx('CONSENT-T1', held));
    await post('/v1/customers', { customer_id: open, opened_at: at(-24) });
    await post('/v1/transactions', tx('CONSENT-T2', open));

    const jsm = await jetstreamManager(stack.nc);
    const published = await waitFor(async () => {
      const info = await jsm.streams.info(STREAM_OFFERS);
      const out: Record<string, unknown>[] = [];
      for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
        const m = await jsm.streams.getMessage(STREAM_OFFERS, { seq }).catch(() => null);
        if (m) out.push({ subject: m.subject, ...m.json<Record<string, unknown>>() });
      }
      return out.some((p) => p.customer_id === open) ? out : undefined;
    }, 30_000, 'the offer of the customer without statements on OFFERS');
    expect(published.filter((p) => p.customer_id === open)).toMatchObject([{ subject: 'offers.sms', offer_code: 'SMS-MKT', triggered_by_tx_id: 'CONSENT-T2' }]);
    expect(published.filter((p) => p.customer_id === held)).toEqual([]);

    const heldRows = await waitFor(async () => {
      const r = await queryRows<Record<string, unknown>>(stack, `SELECT offer_code, campaign_id, channel, reason, kind, triggered_by_tx_id FROM vafa.offers_held FINAL WHERE customer_id = '${held}'`);
      return r.length ? r : undefined;
    }, 30_000, 'the held-back row');
    expect(heldRows).toEqual([{ offer_code: 'SMS-MKT', campaign_id: 'mkt', channel: 'sms', reason: 'no_consent:sms', kind: 'offer', triggered_by_tx_id: 'CONSENT-T1' }]);
    expect(await queryRows(stack, `SELECT offer_id FROM vafa.offers FINAL WHERE customer_id = '${held}'`)).toEqual([]);

    const campaign = await waitFor(async () => {
      const r = await queryRows<{ offers_sent: number; held_back: number; customers_held: number }>(stack,
        "SELECT offers_sent, held_back, customers_held FROM vafa.v_offer_campaigns WHERE campaign_id = 'mkt'");
      return r[0]?.offers_sent === 1 ? r[0] : undefined;
    }, 30_000, 'the campaign report');
    expect(campaign).toEqual({ offers_sent: 1, held_back: 1, customers_held: 1 });
    expect(await queryRows(stack, "SELECT channel, reason, held_back, customers_held FROM vafa.v_offers_held WHERE campaign_id = 'mkt'"))
      .toEqual([{ channel: 'sms', reason: 'no_consent:sms', held_back: 1, customers_held: 1 }]);

    const audit = await waitFor(async () => {
      const r = await queryRows<Record<string, unknown>>(stack,
        `SELECT principal, via, action, customer_id, route, status, remote_addr, detail FROM vafa.access_audit FINAL WHERE action IN ('consent.change', 'membership.change')`);
      return r.length ? r : undefined;
    }, 30_000, 'the consent audit row');
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({ principal: 'crm', via: 'bearer', action: 'consent.change', customer_id: held, route: '/v1/customers', status: 202, detail: `sms=withdrawn@${withdrawnAt} email=granted@${withdrawnAt}` });
    expect(String(audit[0]!.remote_addr)).toMatch(/127\.0\.0\.1/);
  });
});
