/**
 * Surveys as campaigns (`purpose: survey`): a trigger that asks, its own arbitration slot, the answer as
 * its conversion (with the score), no holdout, the complaint hold, and the non-response rule left alone.
 * Pure engine, events through both phases as the runtime runs them.
 */
import { describe, expect, it } from 'vitest';
import { shippedPolicy } from '../../config/policy.js';
import { offersState } from '../../scorer/core/offers/engine.js';
import { catalogue, DAY, Driver, HOUR, iso, testCatalogue } from './helpers.js';

/** 2026-01-10 09:30 bank time (+03:30): outside quiet hours. */
const T0 = Date.parse('2026-01-10T06:00:00Z');

const MKT = `  - code: MKT
    campaign: onb
    channels: [app]
    when: { triggers: [transaction, other] }
    valid_days: 7
    expected_value: 100
    churn_exponent: 0
    cooldown_days: 0
    goal: { id: g1, kind: transaction, channels: [bill_pay], within_days: 2 }`;

const ASK = `  - code: ASK
    campaign: sat
    purpose: survey
    survey: { scale: csat5, question: "How did we do?" }
    channels: [sms, app]
    when: { tx_channels: [deposit] }
    valid_days: 3
    cooldown_days: 0
    goal: { id: answered, kind: response }`;

const SAT = '  - { id: sat, holdout_share: 0 }';
const POLICY = `  per_channel:
    app: { max: 100, period_days: 7 }
    sms: { max: 100, period_days: 7 }
  non_response: { after: 2, suppress_days: 30 }
  hold_marketing_on_open_complaint: true`;

function surveyDriver(offers = `${MKT}\n${ASK}`, holdout = 0.5): Driver {
  return new Driver(testCatalogue({ offers, campaigns: SAT, policy: POLICY, holdout }));
}

describe('a survey campaign', () => {
  it('is published as kind survey with its question, besides the offer the same event decides, with no holdout', () => {
    // holdout 0.5 for marketing: a survey never has a control group, whoever the customer is.
    for (const customer of ['c1', 'c2', 'c3', 'c4', 'c5', 'c6']) {
      const d = surveyDriver();
      d.tx({ tx_id: `${customer}-t1`, customer_id: customer, channel: 'deposit', branch_id: 'BR-7', occurred_at: iso(T0) });
      const rows = d.offers.map((o) => [o.offer_code, o.kind, o.holdout, o.survey_scale]);
      expect(rows).toContainEqual(['ASK', 'survey', 0, 'csat5']);
      expect(rows.map((r) => r[0]).sort()).toEqual(['ASK', 'MKT']);
      const ask = d.publishes.find((p) => p.payload.offer_code === 'ASK')!;
      expect(ask.subject).toBe('offers.sms');
      expect(ask.payload).toMatchObject({ kind: 'survey', survey: { scale: 'csat5', question: 'How did we do?' }, campaign_id: 'sat' });
      for (const p of d.publishes.filter((x) => x.payload.offer_code === 'MKT')) expect(p.payload.kind).toBe('offer');
    }
  });

  it('converts when answered (naming its offer_id) within the window, once, with the score; the feedback row gets the campaign', () => {
    const d = surveyDriver();
    d.tx({ tx_id: 't1', channel: 'deposit', occurred_at: iso(T0) });
    const id = String(d.offers.find((o) => o.offer_code === 'ASK')!.offer_id);
    const emit = d.feedback({ feedback_id: 'f1', occurred_at: iso(T0 + 2 * HOUR), scale: 'csat5', score: 4, offer_id: id });
    expect(d.conversions).toEqual([expect.objectContaining({
      conversion_id: `${id}:conv`, offer_id: id, offer_code: 'ASK', campaign_id: 'sat', goal: 'answered', tx_id: 'f1', score: 4, scale: 'csat5',
      holdout: 0, value_minor: 0, offered_at: iso(T0), converted_at: iso(T0 + 2 * HOUR),
    })]);
    expect(emit.rows.get('feedback')).toEqual([expect.objectContaining({ feedback_id: 'f1', campaign_id: 'sat', offer_id: id, score: 4 })]);
    d.feedback({ feedback_id: 'f2', occurred_at: iso(T0 + 3 * HOUR), scale: 'csat5', score: 1, offer_id: id });
    expect(d.conversions).toHaveLength(1);
  });

  it('takes an answer that names only the campaign and scale; another scale, a late answer or a complaint does not convert', () => {
    const d = surveyDriver();
    d.tx({ tx_id: 't1', channel: 'deposit', occurred_at: iso(T0) });
    d.feedback({ feedback_id: 'nps', occurred_at: iso(T0 + HOUR), scale: 'nps10', score: 9, campaign_id: 'sat' });
    d.feedback({ feedback_id: 'cmp', kind: 'complaint', occurred_at: iso(T0 + HOUR), campaign_id: 'sat' });
    expect(d.conversions).toHaveLength(0);
    d.feedback({ feedback_id: 'ok', occurred_at: iso(T0 + 2 * HOUR), scale: 'csat5', score: 5, campaign_id: 'sat' });
    expect(d.conversions.map((c) => [c.tx_id, c.score])).toEqual([['ok', 5]]);

    const late = surveyDriver();
    late.tx({ tx_id: 't1', channel: 'deposit', occurred_at: iso(T0) });
    const id = String(late.offers.find((o) => o.offer_code === 'ASK')!.offer_id);
    late.feedback({ feedback_id: 'late', occurred_at: iso(T0 + 3 * DAY + HOUR), scale: 'csat5', score: 3, offer_id: id });
    expect(late.conversions).toHaveLength(0);
  });

  it('is held while a complaint is open, like marketing', () => {
    const d = surveyDriver();
    d.feedback({ feedback_id: 'c1', kind: 'complaint', occurred_at: iso(T0) });
    d.tx({ tx_id: 't1', channel: 'deposit', occurred_at: iso(T0 + HOUR) });
    expect(d.offers.filter((o) => o.triggered_by_tx_id === 't1')).toEqual([]);
    d.feedback({ feedback_id: 'r1', kind: 'resolution', resolves_feedback_id: 'c1', occurred_at: iso(T0 + 2 * HOUR) });
    d.tx({ tx_id: 't2', channel: 'deposit', occurred_at: iso(T0 + 3 * HOUR) });
    expect(d.offers.filter((o) => o.triggered_by_tx_id === 't2').map((o) => o.offer_code).sort()).toEqual(['ASK', 'MKT']);
  });

  it('left unanswered, is no non-response for the suppression rule', () => {
    // Only surveys: two unanswered windows would suppress the customer if they counted.
    const d = surveyDriver(ASK);
    for (let i = 0; i < 4; i++) d.tx({ tx_id: `t${i}`, channel: 'deposit', occurred_at: iso(T0 + i * 4 * DAY) });
    expect(d.offers.map((o) => o.triggered_by_tx_id)).toEqual(['t0', 't1', 't2', 't3']);
    expect(offersState(d.customer()).ignored).toBe(0);
    expect(offersState(d.customer()).suppressedUntil).toBe(0);
    // ... while two unanswered marketing offers do suppress.
    const m = surveyDriver(MKT);
    for (let i = 0; i < 4; i++) m.tx({ tx_id: `t${i}`, occurred_at: iso(T0 + i * 3 * DAY) });
    expect(offersState(m.customer()).suppressedUntil).toBeGreaterThan(0);
  });

  it('decides the same in one micro-batch as one event at a time (the answer right behind its survey)', () => {
    const msgs = (id: string) => [
      { kind: 'transaction' as const, body: { tx_id: 't1', customer_id: 'c1', channel: 'deposit' as const, amount_minor: 5, currency: 'IRR', occurred_at: iso(T0) } },
      { kind: 'feedback' as const, body: { feedback_id: 'f1', customer_id: 'c1', kind: 'survey' as const, scale: 'csat5' as const, score: 2, offer_id: id, occurred_at: iso(T0 + HOUR) } },
    ];
    const one = surveyDriver();
    const rowsOne = [one.send(msgs('x')[0]!)];
    const id = String(one.offers.find((o) => o.offer_code === 'ASK')!.offer_id);
    rowsOne.push(one.send(msgs(id)[1]!));
    const batch = surveyDriver();
    const rowsBatch = batch.batch(msgs(id));
    expect(batch.conversions).toEqual(one.conversions);
    expect(rowsBatch.rows.get('feedback')).toEqual(rowsOne[1]!.rows.get('feedback'));
    expect(rowsBatch.rows.get('feedback')![0]).toMatchObject({ campaign_id: 'sat' });
  });
});

describe('the survey catalogue rules', () => {
  const base = (offer: string, campaigns = '  - { id: s }'): string => `
version: "t"
bank_time_offset: "+00:00"
contact_policy: {}
campaigns:
${campaigns}
offers:
${offer}
`;
  const refused = (text: string): string => {
    try {
      catalogue(text);
    } catch (err) {
      return (err as Error).message;
    }
    throw new Error('expected a refusal');
  };

  it('needs a question and a response goal, and refuses a survey without them or an offer with them', () => {
    expect(refused(base('  - { code: X, campaign: s, purpose: survey, channels: [sms], valid_days: 1, goal: { id: g, kind: response } }')))
      .toMatch(/offers\[0\]\.survey: a survey names its scale and question/);
    expect(refused(base('  - { code: X, campaign: s, purpose: survey, survey: { scale: csat5, question: q }, channels: [sms], valid_days: 1, goal: { id: g, kind: transaction } }')))
      .toMatch(/offers\[0\]\.goal\.kind: a survey converts when it is answered/);
    expect(refused(base('  - { code: X, campaign: s, channels: [sms], valid_days: 1, expected_value: 1, goal: { id: g, kind: response } }')))
      .toMatch(/offers\[0\]\.goal\.kind: kind: response is the goal of a survey/);
    expect(refused(base('  - { code: X, campaign: s, channels: [sms], valid_days: 1, goal: { id: g, kind: transaction } }')))
      .toMatch(/offers\[0\]\.expected_value: required for marketing and recovery offers/);
    expect(refused(base('  - { code: X, campaign: s, purpose: survey, survey: { scale: stars, question: q }, channels: [sms], valid_days: 1, goal: { id: g, kind: response } }')))
      .toMatch(/offers\[0\]\.survey\.scale/);
  });

  it('refuses a control group for a survey campaign and a teller channel for a survey', () => {
    const survey = '  - { code: X, campaign: s, purpose: survey, survey: { scale: nps10, question: q }, channels: [sms], valid_days: 1, goal: { id: g, kind: response } }';
    expect(refused(base(survey, '  - { id: s, holdout_share: 0.1 }'))).toMatch(/a survey has no control group/);
    expect(refused(base(survey.replace('[sms]', '[branch]')))).toMatch(/a survey goes to the customer/);
    const ok = catalogue(base(survey));
    expect(ok.offers[0]).toMatchObject({ purpose: 'survey', survey: { scale: 'nps10', question: 'q' }, holdoutShare: 0, expectedValue: 1 });
  });
});

describe('the shipped surveys', () => {
  it('ask a new customer about the first month when the welcome stage ends, and a counter visitor about the branch', () => {
    const d = new Driver(shippedPolicy().offers.catalogue);
    const opened = Date.parse('2026-03-01T07:00:00Z');
    d.profile({ customer_id: 'c1', opened_at: iso(opened), branch_id: 'BR-1', products: ['current_account', 'debit_card', 'bill_pay', 'online_banking'] });
    // Activity through the first month; the lifecycle timer at day 30 ends the welcome stage.
    for (let day = 1; day <= 31; day += 3) d.tx({ tx_id: `p${day}`, occurred_at: iso(opened + day * DAY + 2 * HOUR) });
    d.tx({ tx_id: 'after', occurred_at: iso(opened + 32 * DAY + 4 * HOUR) });
    const first = d.offers.filter((o) => o.offer_code === 'SURVEY-FIRST-MONTH');
    expect(first).toHaveLength(1);
    expect(first[0]).toMatchObject({ kind: 'survey', survey_scale: 'csat5', lifecycle_stage: 'getting_acquainted', holdout: 0 });

    d.tx({ tx_id: 'dep', channel: 'deposit', branch_id: 'BR-9', occurred_at: iso(opened + 40 * DAY + 3 * HOUR) });
    const visit = d.offers.filter((o) => o.offer_code === 'SURVEY-BRANCH-VISIT');
    expect(visit.map((o) => [o.triggered_by_tx_id, o.branch_id, o.channel, o.survey_scale])).toEqual([['dep', 'BR-9', 'sms', 'nps10']]);
    expect(d.publishes.find((p) => p.payload.offer_code === 'SURVEY-BRANCH-VISIT')!.payload).toMatchObject({ branch_id: 'BR-9', kind: 'survey' });
    // 90 days of cool-down: the next visit is not asked again.
    d.tx({ tx_id: 'dep2', channel: 'deposit', branch_id: 'BR-9', occurred_at: iso(opened + 50 * DAY + 3 * HOUR) });
    expect(d.offers.filter((o) => o.offer_code === 'SURVEY-BRANCH-VISIT')).toHaveLength(1);
  });

  it('are not sent for the history of a profile loaded long after the account opened', () => {
    const d = new Driver(shippedPolicy().offers.catalogue);
    // Opened in 2016; the bank's feed starts in 2026: the welcome-stage timer (2016-01-31) fires on the first
    // transaction's watermark. The stage changes as of then, but a survey that expired in 2016 is not sent.
    d.profile({ customer_id: 'c1', opened_at: '2016-01-01T07:00:00Z', products: ['current_account', 'debit_card', 'bill_pay', 'online_banking'] });
    d.tx({ tx_id: 'first', occurred_at: '2026-03-01T08:00:00Z' });
    d.tx({ tx_id: 'second', occurred_at: '2026-03-01T12:00:00Z' });
    expect(d.transitions.map((t) => t.to_stage)).toContain('getting_acquainted');
    expect(d.offers.filter((o) => o.offer_code === 'SURVEY-FIRST-MONTH')).toEqual([]);
    expect(d.offers.every((o) => Date.parse(String(o.created_at)) >= Date.parse('2026-02-01T00:00:00Z'))).toBe(true);
  });
});
