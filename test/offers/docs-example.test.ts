/** The worked example of docs/offers.md, run with the shipped catalogue: the ids and rows the doc shows. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { shippedPolicy } from '../../config/policy.js';
import { holdoutDraw } from '../../scorer/core/offers/ids.js';
import { Driver } from './helpers.js';

const DOC = readFileSync(path.resolve(import.meta.dirname, '../../docs/offers.md'), 'utf8');

describe('docs/offers.md worked example', () => {
  it('is what the engine does', () => {
    expect(holdoutDraw('onboarding', 'C-1001')).toBeGreaterThanOrEqual(0.1);
    const d = new Driver(shippedPolicy().offers.catalogue);
    d.profile({ customer_id: 'C-1001', opened_at: '2026-05-02T06:30:00Z', segment: 'retail', branch_id: 'BR-12', products: ['current_account', 'debit_card'] });
    expect(d.publishes).toHaveLength(1);
    const trigger = d.publishes[0]!;
    expect(trigger.subject).toBe('offers.app');
    expect(trigger.payload).toEqual({
      offer_id: 'of_aeff4ad505386d5c64c0cb20', customer_id: 'C-1001', offer_code: 'ONB-BILLPAY', campaign_id: 'onboarding', channel: 'app',
      reason: 'new customer without bill pay', churn_probability: 0, lifecycle_stage: 'welcome', tier: 'bronze', triggered_by_tx_id: 'profile:1',
      created_at: '2026-05-02T06:30:00.000Z', expires_at: '2026-05-16T06:30:00.000Z', kind: 'offer',
    });
    expect(d.offers[0]).toMatchObject({ holdout: 0, cost: 20000, expected_value: 600000, branch_id: 'BR-12' });
    d.tx({ tx_id: 'TX-88121', customer_id: 'C-1001', channel: 'pos', amount_minor: 4_500_000, occurred_at: '2026-05-02T08:10:00Z', mcc: '5411' });
    expect(d.publishes.map((p) => [p.subject, p.msgId])).toEqual([['offers.app', 'of_aeff4ad505386d5c64c0cb20'], ['offers.sms', 'of_6885a6b8a270bde8f734a889']]);
    d.tx({ tx_id: 'TX-88502', customer_id: 'C-1001', channel: 'bill_pay', amount_minor: 1_200_000, occurred_at: '2026-05-05T15:42:00Z', biller_id: 'TAVANIR' });
    const { stream_seq: _seq, ...conversion } = d.conversions[0]!;
    expect(conversion).toEqual({
      conversion_id: 'of_aeff4ad505386d5c64c0cb20:conv', offer_id: 'of_aeff4ad505386d5c64c0cb20', customer_id: 'C-1001', campaign_id: 'onboarding',
      offer_code: 'ONB-BILLPAY', channel: 'app', branch_id: 'BR-12', holdout: 0, goal: 'first_bill_payment', tx_id: 'TX-88502',
      offered_at: '2026-05-02T06:30:00.000Z', converted_at: '2026-05-05T15:42:00.000Z', value_minor: 1200000,
    });
    for (const id of ['of_aeff4ad505386d5c64c0cb20', 'of_6885a6b8a270bde8f734a889']) expect(DOC).toContain(id);
  });
});
