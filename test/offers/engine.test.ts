/**
 * The offers engine through `Engine.apply` / `complete`: triggers and their payload, conversions,
 * holdouts, arbitration, each contact-policy rule, limits and budgets, occasions, branch prompts and
 * lifecycle-timer (win-back) triggers.
 */
import { describe, expect, it } from 'vitest';
import { fnv1a32 } from '../../contracts/subjects.js';
import { shippedPolicy } from '../../config/policy.js';
import { budgetShare, offerHeaders, offerScore } from '../../scorer/core/offers/engine.js';
import { holdoutDraw, inHoldout, offerId } from '../../scorer/core/offers/ids.js';
import { DAY, Driver, HOUR, iso, testCatalogue } from './helpers.js';

/** 2026-01-10 09:30 bank time (+03:30). */
const T0 = Date.parse('2026-01-10T06:00:00Z');

const CONTRACT_FIELDS = [
  'offer_id', 'customer_id', 'offer_code', 'campaign_id', 'channel', 'reason', 'churn_probability', 'lifecycle_stage', 'tier',
  'triggered_by_tx_id', 'created_at', 'expires_at', 'kind',
].sort();

describe('a trigger', () => {
  it('is published on offers.<channel> with the contract payload, a deterministic id as Nats-Msg-Id, and a row in offers', () => {
    const d = new Driver(testCatalogue());
    d.tx({ tx_id: 't1', occurred_at: iso(T0) });
    expect(d.publishes).toHaveLength(1);
    const pub = d.publishes[0]!;
    const id = offerId('c1', 'BILL', 't1');
    expect(pub.subject).toBe('offers.sms');
    expect(pub.msgId).toBe(id);
    expect(Object.keys(pub.payload).sort()).toEqual(CONTRACT_FIELDS);
    expect(pub.payload).toMatchObject({
      offer_id: id, customer_id: 'c1', offer_code: 'BILL', campaign_id: 'onb', channel: 'sms', triggered_by_tx_id: 't1',
      created_at: iso(T0), expires_at: iso(T0 + 7 * DAY),
    });
    expect(d.offers).toHaveLength(1);
    expect(d.offers[0]).toMatchObject({ offer_id: id, holdout: 0, kind: 'offer', stream_seq: 1, created_at: iso(T0) });
  });

  it('has the same id when the same events are replayed', () => {
    const run = (): string[] => {
      const d = new Driver(testCatalogue());
      for (let i = 0; i < 20; i++) d.tx({ tx_id: `t${i}`, customer_id: `c${i % 3}`, occurred_at: iso(T0 + i * 9 * HOUR) });
      return d.publishes.map((p) => p.msgId);
    };
    const a = run();
    expect(a.length).toBeGreaterThan(3);
    expect(run()).toEqual(a);
  });

  it('converts on the goal behaviour within the window, once, and not on the triggering event', () => {
    const d = new Driver(testCatalogue());
    d.tx({ tx_id: 't1', occurred_at: iso(T0) });
    d.tx({ tx_id: 't2', occurred_at: iso(T0 + DAY), channel: 'pos' });
    expect(d.conversions).toHaveLength(0);
    d.tx({ tx_id: 't3', occurred_at: iso(T0 + 2 * DAY), channel: 'bill_pay', amount_minor: 5000 });
    d.tx({ tx_id: 't4', occurred_at: iso(T0 + 3 * DAY), channel: 'bill_pay', amount_minor: 5000 });
    expect(d.conversions).toHaveLength(1);
    expect(d.conversions[0]).toMatchObject({
      offer_id: offerId('c1', 'BILL', 't1'), goal: 'first_bill', tx_id: 't3', holdout: 0, value_minor: 5000,
      offered_at: iso(T0), converted_at: iso(T0 + 2 * DAY),
    });
  });

  it('does not convert after the goal window', () => {
    const d = new Driver(testCatalogue());
    d.tx({ tx_id: 't1', occurred_at: iso(T0) });
    d.tx({ tx_id: 't2', occurred_at: iso(T0 + 11 * DAY), channel: 'bill_pay' });
    expect(d.conversions).toHaveLength(0);
  });

  it('is not decided for a late event (behind the watermark)', () => {
    const d = new Driver(testCatalogue());
    d.tx({ tx_id: 'x', customer_id: 'other', occurred_at: iso(T0 + 10 * DAY) });
    const before = d.offers.length;
    d.tx({ tx_id: 'late', occurred_at: iso(T0) });
    expect(d.offers.length).toBe(before);
  });
});

describe('holdouts', () => {
  it('are recorded with holdout = 1, not published, cost nothing, and still convert', () => {
    const d = new Driver(testCatalogue({ holdout: 1 }));
    d.tx({ tx_id: 't1', occurred_at: iso(T0) });
    expect(d.publishes).toHaveLength(0);
    expect(d.offers).toHaveLength(1);
    expect(d.offers[0]).toMatchObject({ holdout: 1, cost: 0 });
    d.tx({ tx_id: 't2', occurred_at: iso(T0 + DAY), channel: 'bill_pay' });
    expect(d.conversions[0]).toMatchObject({ holdout: 1, offer_id: offerId('c1', 'BILL', 't1') });
  });

  it('are a stable hash assignment per campaign: fnv1a32("<campaign>:<customer>") / 2^32 < share', () => {
    expect(holdoutDraw('onb', 'c42')).toBe(fnv1a32('onb:c42') / 2 ** 32);
    let n = 0;
    for (let i = 0; i < 20_000; i++) if (inHoldout('onb', `cust-${i}`, 0.1)) n++;
    expect(n / 20_000).toBeGreaterThan(0.09);
    expect(n / 20_000).toBeLessThan(0.11);
    expect(inHoldout('onb', 'c1', 0)).toBe(false);
  });
});

describe('arbitration', () => {
  const offers = `
  - code: LOW
    campaign: onb
    channels: [app]
    valid_days: 7
    expected_value: 1000
    churn_exponent: 0
    goal: { id: g, kind: transaction }
  - code: RISK
    campaign: ret
    channels: [app]
    when: { churn: { min: 0.5 } }
    valid_days: 7
    expected_value: 100
    churn_exponent: 1
    value_exponent: 1
    goal: { id: g, kind: transaction }`;

  it('picks the highest weight × expected_value × max(p, floor)^a × (1 + value_at_risk)^b', () => {
    const cat = testCatalogue({ offers });
    const [low, risk] = [cat.offers[0]!, cat.offers[1]!];
    expect(offerScore(low, 0.9, 50, 0.01)).toBe(1000);
    expect(offerScore(risk, 0.9, 50, 0.01)).toBeCloseTo(100 * 0.9 * 51);
    expect(offerScore(risk, 0, 0, 0.01)).toBeCloseTo(1);
    // no churn score: only LOW is eligible
    const a = new Driver(cat);
    a.tx({ tx_id: 't1', occurred_at: iso(T0), amount_minor: 50_000_000 });
    expect(a.offers.map((o) => o.offer_code)).toEqual(['LOW']);
    // high churn and some value at risk: RISK outranks LOW
    const b = new Driver(cat, { churn: () => 0.9 });
    b.tx({ tx_id: 't1', occurred_at: iso(T0), amount_minor: 500_000_000 });
    expect(b.offers.map((o) => o.offer_code)).toEqual(['RISK']);
  });

  it('breaks ties by offer code', () => {
    const cat = testCatalogue({ offers: offers.replace('code: LOW', 'code: ZED').replace('expected_value: 1000', 'expected_value: 100').replace('when: { churn: { min: 0.5 } }', '').replace('value_exponent: 1', 'value_exponent: 0').replace('churn_exponent: 1', 'churn_exponent: 0') });
    const d = new Driver(cat);
    d.tx({ tx_id: 't1', occurred_at: iso(T0) });
    expect(d.offers.map((o) => o.offer_code)).toEqual(['RISK']);
  });
});

describe('contact policy', () => {
  const one = (extra = '') => `
  - code: A
    campaign: onb
    channels: [sms]
    valid_days: 1
    expected_value: 10
    cooldown_days: 0
    goal: { id: g, kind: transaction, channels: [deposit] }${extra}`;

  it('caps offers per channel in any sliding window', () => {
    const d = new Driver(testCatalogue({ offers: one() }));
    for (let i = 0; i < 10; i++) d.tx({ tx_id: `t${i}`, occurred_at: iso(T0 + i * DAY) }); // sms: at most 2 in any 7 days
    const days = d.offers.map((o) => (Date.parse(String(o.created_at)) - T0) / DAY);
    expect(days).toEqual([0, 1, 7, 8]);
  });

  it('keeps the cool-down between two decisions of the same offer', () => {
    const cat = testCatalogue({ offers: one().replace('cooldown_days: 0', 'cooldown_days: 2'), policy: '  cooldown_days: 5' });
    const d = new Driver(cat);
    for (let i = 0; i < 12; i++) d.tx({ tx_id: `t${i}`, occurred_at: iso(T0 + i * 12 * HOUR) });
    const times = d.offers.map((o) => Date.parse(String(o.created_at)));
    expect(times).toEqual([T0, T0 + 2 * DAY, T0 + 4 * DAY]);
  });

  it('skips quiet channels in quiet hours (bank time) and falls back to the next channel', () => {
    const night = Date.parse('2026-01-10T18:00:00Z'); // 21:30 bank time
    const quiet = new Driver(testCatalogue({ offers: one() }));
    quiet.tx({ tx_id: 't1', occurred_at: iso(night) });
    expect(quiet.offers).toHaveLength(0);
    const fallback = new Driver(testCatalogue({ offers: one().replace('channels: [sms]', 'channels: [sms, app]') }));
    fallback.tx({ tx_id: 't1', occurred_at: iso(night) });
    expect(fallback.offers.map((o) => o.channel)).toEqual(['app']);
    const morning = new Driver(testCatalogue({ offers: one() }));
    morning.tx({ tx_id: 't1', occurred_at: '2026-01-10T04:30:00Z' }); // 08:00 bank time: quiet hours are over
    expect(morning.offers).toHaveLength(1);
  });

  it('suppresses a customer after repeated non-response', () => {
    const cat = testCatalogue({
      offers: one().replace('channels: [sms]', 'channels: [app]'),
      policy: '  non_response: { after: 2, suppress_days: 30 }\n  per_channel: { app: { max: 1, period_days: 2 } }',
    });
    const d = new Driver(cat);
    for (let i = 0; i < 20; i++) d.tx({ tx_id: `t${i}`, occurred_at: iso(T0 + i * 3 * DAY) });
    const times = d.offers.map((o) => (Date.parse(String(o.created_at)) - T0) / DAY);
    // decided at day 0 and 3; both windows (1 day) close unanswered: silence until day 4 + 30.
    expect(times.slice(0, 3)).toEqual([0, 3, 36]);
  });

  it('honours per-customer counts and the partition share of a total budget', () => {
    expect([0, 1, 2].map((p) => budgetShare(7, p, 3))).toEqual([3, 2, 2]);
    const perCustomer = new Driver(testCatalogue({ offers: one().replace('channels: [sms]', 'channels: [app]') + '\n    limit: { per_customer: 2 }', policy: '  cooldown_days: 0' }));
    for (let i = 0; i < 10; i++) perCustomer.tx({ tx_id: `t${i}`, occurred_at: iso(T0 + i * 10 * DAY) });
    expect(perCustomer.offers).toHaveLength(2);
    const budget = (partition: number): number => {
      const d = new Driver(testCatalogue({ offers: one().replace('channels: [sms]', 'channels: [app]') + '\n    limit: { total: 5 }' }), { partitions: 2, partition });
      for (let i = 0; i < 10; i++) d.tx({ tx_id: `t${i}`, customer_id: `c${i}`, occurred_at: iso(T0 + i * HOUR) });
      return d.publishes.length;
    };
    expect([budget(0), budget(1)]).toEqual([3, 2]);
  });
});

describe('occasions', () => {
  const bday = `
  - code: BDAY
    campaign: occ
    channels: [app]
    when: { triggers: [transaction], occasion: { kind: birthday, within_days: 3 } }
    valid_days: 7
    expected_value: 10
    goal: { id: g, kind: transaction }`;

  it('a birthday fires once per year, from its bank-local day for within_days', () => {
    const d = new Driver(testCatalogue({ offers: bday }));
    d.profile({ opened_at: '2020-01-01T00:00:00Z', birth_date: '1990-03-15' });
    const at = (s: string, id: string): void => void d.tx({ tx_id: id, occurred_at: s });
    at('2026-03-14T12:00:00Z', 'a'); // the day before
    at('2026-03-14T21:00:00Z', 'b'); // 00:30 on the 15th, bank time
    at('2026-03-16T10:00:00Z', 'c'); // the same birthday again
    at('2026-03-18T21:00:00Z', 'd'); // past 3 days
    at('2027-03-15T10:00:00Z', 'e'); // next year
    expect(d.offers.map((o) => o.triggered_by_tx_id)).toEqual(['b', 'e']);
    expect(String(d.offers[0]!.reason)).toContain('birthday:2026');
  });

  it('29 February is celebrated on 28 February in other years', () => {
    const d = new Driver(testCatalogue({ offers: bday }));
    d.profile({ opened_at: '2020-01-01T00:00:00Z', birth_date: '2000-02-29' });
    d.tx({ tx_id: 'a', occurred_at: '2027-02-28T10:00:00Z' });
    expect(d.offers).toHaveLength(1);
  });

  it('an opening anniversary fires from the first anniversary on', () => {
    const d = new Driver(testCatalogue({ offers: bday.replace('birthday', 'opening_anniversary') }));
    d.profile({ opened_at: '2025-05-01T08:00:00Z' });
    d.tx({ tx_id: 'a', occurred_at: '2025-05-01T10:00:00Z' });
    d.tx({ tx_id: 'b', occurred_at: '2026-05-02T10:00:00Z' });
    expect(d.offers.map((o) => o.triggered_by_tx_id)).toEqual(['b']);
  });

  it('a tier upgrade (from the loyalty engine) prompts a congratulation, once', () => {
    const d = new Driver(testCatalogue({ offers: bday.replace('birthday, within_days: 3', 'tier_upgrade, within_days: 3').replace('code: BDAY', 'code: UP') }));
    for (let i = 0; i < 6; i++) d.tx({ tx_id: `p${i}`, occurred_at: iso(T0 + i * HOUR), channel: 'pos', amount_minor: 500_000_000 });
    const c = d.customer();
    expect(c.loyalty.tier).not.toBe('bronze');
    expect(d.offers).toHaveLength(1);
    expect(String(d.offers[0]!.reason)).toContain(`tier_upgrade:${c.loyalty.tier}`);
    d.tx({ tx_id: 'later', occurred_at: iso(T0 + DAY) });
    expect(d.offers).toHaveLength(1);
  });
});

describe('branch teller prompts', () => {
  const prompt = `
  - code: TELLER
    campaign: onb
    channels: [branch]
    when: { not_held: [online_banking] }
    valid_days: 1
    expected_value: 10
    goal: { id: g, kind: product, products: [online_banking] }`;

  it('go to offers.branch only for a transaction at a branch, with the branch in the payload and headers', () => {
    const d = new Driver(testCatalogue({ offers: prompt }));
    d.tx({ tx_id: 'away', occurred_at: iso(T0) });
    expect(d.publishes).toHaveLength(0);
    d.tx({ tx_id: 'counter', occurred_at: iso(T0 + HOUR), branch_id: 'BR-17', channel: 'deposit' });
    expect(d.publishes).toHaveLength(1);
    const p = d.publishes[0]!;
    expect(p.subject).toBe('offers.branch');
    expect(p.payload).toMatchObject({ branch_id: 'BR-17', customer_id: 'c1', channel: 'branch' });
    expect(offerHeaders(p.payload)).toEqual({ 'Vafa-Branch': 'BR-17', 'Vafa-Customer': 'c1', 'Vafa-Offer': 'TELLER' });
    expect(d.offers[0]).toMatchObject({ branch_id: 'BR-17' });
  });

  it('convert when the product is adopted (the profile lists it), seen at the next event', () => {
    const d = new Driver(testCatalogue({ offers: prompt }));
    d.profile({ opened_at: iso(T0 - 400 * DAY), products: ['current_account'] });
    d.tx({ tx_id: 'counter', occurred_at: iso(T0), branch_id: 'BR-17' });
    expect(d.offers).toHaveLength(1);
    d.profile({ opened_at: iso(T0 - 400 * DAY), products: ['current_account', 'online_banking'] });
    d.tx({ tx_id: 'next', occurred_at: iso(T0 + 2 * HOUR) });
    expect(d.conversions).toHaveLength(1);
    expect(d.conversions[0]).toMatchObject({ goal: 'g', branch_id: 'BR-17', value_minor: 0 });
  });
});

describe('win-back on a lifecycle timer', () => {
  it('is triggered when a timer moves a silent customer to potential separation, and converts on their return', () => {
    const d = new Driver(shippedPolicy().offers.catalogue, { churn: (id) => (id === 'sleepy' ? 0.6 : 0.05) });
    d.tx({ tx_id: 'o0', customer_id: 'other', occurred_at: iso(T0) });
    // An established customer's profile (its event time, opened_at, is long past), then a transaction.
    d.profile({ customer_id: 'sleepy', opened_at: iso(T0 - 400 * DAY), products: ['bill_pay', 'online_banking', 'debit_card'] });
    d.tx({ tx_id: 's1', customer_id: 'sleepy', occurred_at: iso(T0 + HOUR) });
    // Somebody else keeps the partition's watermark moving for 60 days.
    for (let i = 1; i <= 60; i++) d.tx({ tx_id: `o${i}`, customer_id: 'other', occurred_at: iso(T0 + i * DAY) });
    const winback = d.offers.filter((o) => o.offer_code === 'WINBACK');
    expect(winback).toHaveLength(1);
    expect(String(winback[0]!.triggered_by_tx_id)).toMatch(/^timer:lifecycle:\d+$/);
    expect(winback[0]!.lifecycle_stage).toBe('potential_separation');
    d.tx({ tx_id: 'back', customer_id: 'sleepy', occurred_at: iso(T0 + 61 * DAY) });
    expect(d.conversions.filter((c) => c.offer_code === 'WINBACK')).toHaveLength(1);
  });
});

describe('the default catalogue', () => {
  it('onboards a new customer onto a sticky service', () => {
    const d = new Driver(shippedPolicy().offers.catalogue);
    d.profile({ opened_at: iso(T0), products: ['current_account'] });
    d.tx({ tx_id: 't1', occurred_at: iso(T0 + 2 * HOUR) });
    // One offer per event; the next onboarding offer goes out on another channel at the next event.
    expect(d.offers.map((o) => [o.offer_code, o.channel, o.triggered_by_tx_id])).toEqual([['ONB-BILLPAY', 'app', 'profile:1'], ['ONB-ONLINE', 'sms', 't1']]);
  });
});
