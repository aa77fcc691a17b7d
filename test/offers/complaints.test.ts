/**
 * The contact policy's complaint hold (`hold_marketing_on_open_complaint`): while a customer has an
 * open complaint (feature `open_complaints` > 0) marketing offers are not eligible and only
 * `purpose: recovery` offers are; a resolution naming the complaint releases the hold. Pure engine.
 */
import { describe, expect, it } from 'vitest';
import { shippedPolicy } from '../../config/policy.js';
import { catalogue, Driver, HOUR, iso, testCatalogue } from './helpers.js';

/** 2026-01-10 09:30 bank time (+03:30): outside quiet hours. */
const T0 = Date.parse('2026-01-10T06:00:00Z');

const OFFERS = `  - code: MKT
    campaign: onb
    channels: [app]
    when: { triggers: [transaction, other] }
    valid_days: 7
    expected_value: 100
    churn_exponent: 0
    cooldown_days: 0
    goal: { id: g1, kind: transaction, channels: [bill_pay], within_days: 7 }
  - code: SORRY
    campaign: ret
    purpose: recovery
    channels: [app]
    when: { triggers: [transaction, other], features: { open_complaints: { min: 1 } } }
    valid_days: 7
    expected_value: 1
    churn_exponent: 0
    cooldown_days: 0
    goal: { id: g2, kind: transaction, within_days: 7 }`;

const POLICY = (hold: boolean): string => `  per_channel:
    app: { max: 100, period_days: 7 }
  hold_marketing_on_open_complaint: ${hold}`;

function codes(d: Driver, source: string): string[] {
  return d.offers.filter((o) => o.triggered_by_tx_id === source).map((o) => String(o.offer_code));
}

describe('the complaint hold', () => {
  it('parses purpose (default marketing) and the policy flag (default off)', () => {
    const on = testCatalogue({ offers: OFFERS, policy: POLICY(true) });
    expect(on.policy.holdMarketingOnOpenComplaint).toBe(true);
    expect(on.offers.map((o) => [o.code, o.purpose])).toEqual([['MKT', 'marketing'], ['SORRY', 'recovery']]);
    expect(testCatalogue().policy.holdMarketingOnOpenComplaint).toBe(false);
    expect(() => catalogue(`
version: "t"
bank_time_offset: "+00:00"
contact_policy: {}
campaigns: [{ id: c }]
offers:
  - { code: X, campaign: c, purpose: spam, channels: [sms], valid_days: 1, expected_value: 1, goal: { id: g, kind: transaction } }
`)).toThrow(/offers\[0\]\.purpose/);
  });

  it('holds back marketing while a complaint is open, allows recovery, and releases on the resolution', () => {
    const d = new Driver(testCatalogue({ offers: OFFERS, policy: POLICY(true) }));
    d.tx({ tx_id: 't1', occurred_at: iso(T0) });
    expect(codes(d, 't1')).toEqual(['MKT']);
    // The complaint itself (trigger `other`) prompts the recovery offer.
    d.feedback({ feedback_id: 'f1', kind: 'complaint', occurred_at: iso(T0 + HOUR) });
    expect(codes(d, 'f1')).toEqual(['SORRY']);
    for (let i = 2; i <= 4; i++) d.tx({ tx_id: `t${i}`, occurred_at: iso(T0 + i * HOUR) });
    // SORRY is the only eligible offer while the complaint is open (MKT outranks it otherwise).
    expect(['t2', 't3', 't4'].flatMap((t) => codes(d, t))).toEqual(['SORRY', 'SORRY', 'SORRY']);
    expect(d.customer().lifecycle.stage).toBe('intensive_care');
    d.feedback({ feedback_id: 'r1', kind: 'resolution', resolves_feedback_id: 'f1', occurred_at: iso(T0 + 5 * HOUR) });
    expect(codes(d, 'r1')).toEqual(['MKT']);
    d.tx({ tx_id: 't6', occurred_at: iso(T0 + 6 * HOUR) });
    expect(codes(d, 't6')).toEqual(['MKT']);
  });

  it('keeps the hold while any of several complaints is open', () => {
    const d = new Driver(testCatalogue({ offers: OFFERS, policy: POLICY(true) }));
    d.feedback({ feedback_id: 'f1', kind: 'complaint', occurred_at: iso(T0) });
    d.feedback({ feedback_id: 'f2', kind: 'complaint', occurred_at: iso(T0 + HOUR) });
    d.feedback({ feedback_id: 'r1', kind: 'resolution', resolves_feedback_id: 'f1', occurred_at: iso(T0 + 2 * HOUR) });
    d.tx({ tx_id: 't1', occurred_at: iso(T0 + 3 * HOUR) });
    expect(codes(d, 't1')).toEqual(['SORRY']);
    d.feedback({ feedback_id: 'r2', kind: 'resolution', resolves_feedback_id: 'f2', occurred_at: iso(T0 + 4 * HOUR) });
    d.tx({ tx_id: 't2', occurred_at: iso(T0 + 5 * HOUR) });
    expect(codes(d, 't2')).toEqual(['MKT']);
  });

  it('does not hold marketing when the policy flag is off', () => {
    const d = new Driver(testCatalogue({ offers: OFFERS, policy: POLICY(false) }));
    d.feedback({ feedback_id: 'f1', kind: 'complaint', occurred_at: iso(T0) });
    expect(codes(d, 'f1')).toEqual(['MKT']);
  });

  it('ships on: the default catalogue sends RECOVERY-APOLOGY on a complaint and no marketing until it is resolved', () => {
    const d = new Driver(shippedPolicy().offers.catalogue);
    d.profile({ opened_at: iso(T0), products: ['current_account'] });
    d.feedback({ feedback_id: 'f1', kind: 'complaint', occurred_at: iso(T0 + HOUR) });
    for (let i = 2; i <= 6; i++) d.tx({ tx_id: `t${i}`, occurred_at: iso(T0 + i * HOUR) });
    const held = d.offers.filter((o) => String(o.created_at) > iso(T0));
    expect(held.map((o) => o.offer_code)).toEqual(['RECOVERY-APOLOGY']);
    expect(held[0]).toMatchObject({ triggered_by_tx_id: 'f1', campaign_id: 'service-recovery', holdout: 0, lifecycle_stage: 'intensive_care' });
    d.feedback({ feedback_id: 'r1', kind: 'resolution', resolves_feedback_id: 'f1', occurred_at: iso(T0 + 7 * HOUR) });
    d.tx({ tx_id: 't8', occurred_at: iso(T0 + 8 * HOUR) });
    // Resolved: no more recovery offers (the release of marketing is the tests above; the shipped
    // onboarding offers do not apply in intensive care, which lasts its min_days).
    expect(d.offers.filter((o) => String(o.created_at) >= iso(T0 + 7 * HOUR))).toEqual([]);
    expect(d.customer().features.complaints).toEqual({});
  });
});
