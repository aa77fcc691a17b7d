/**
 * The satisfaction views (issue 9) on the real ClickHouse engine (chDB behind the HTTP interface), with
 * hand-made rows in the contract tables: survey triggers (`offers` of kind survey) and their answers
 * (`offer_conversions` with a score), marketing offers beside them, and feedback (surveys, complaints,
 * resolutions). Every row is inserted twice, as a replay does, and each number is checked against what the
 * definitions in docs/dashboards.md give by hand. The schema and views come from `migrate`, as in production.
 * Last, the survey worked example of docs/offers.md, through the engine with the shipped catalogue and into
 * the views.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ClickHouseLogLevel, createClient, type ClickHouseClient } from '@clickhouse/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWarehouse, type Warehouse } from '../../platform/warehouse/server.js';
import { migrate } from '../../sinks/clickhouse/migrate.js';
import { offerViewStatements } from '../../sinks/clickhouse/offer-views.js';
import { SURVEY_VIEWS } from '../../sinks/clickhouse/survey-views.js';
import { FEEDBACK_VIEWS } from '../../sinks/clickhouse/feedback-views.js';
import { shippedPolicy } from '../../config/policy.js';
import { holdoutDraw } from '../../scorer/core/offers/ids.js';
import type { OutputEmit } from '../../sinks/mapping.js';
import { Driver } from '../offers/helpers.js';

const DB = 'vafa';
const HOUR = 3_600_000;
let dir: string;
let wh: Warehouse;
let ch: ClickHouseClient;

type Row = Record<string, unknown>;
let seq = 1;
const iso = (ms: number): string => new Date(ms).toISOString();

/** A survey trigger as the scorer writes it (holdout 0, survey_scale set). */
function survey(id: string, at: string, o: { code: string; campaign: string; scale: 'csat5' | 'nps10'; channel: string; branch: string; stage: string; customer?: string }): Row {
  const created = Date.parse(at);
  return {
    offer_id: id, customer_id: o.customer ?? `cust-${id}`, offer_code: o.code, campaign_id: o.campaign, channel: o.channel, reason: 'survey',
    churn_probability: 0.2, lifecycle_stage: o.stage, tier: 'bronze', segment: 'retail', branch_id: o.branch, triggered_by_tx_id: `tx-${id}`,
    created_at: iso(created), expires_at: iso(created + 14 * 24 * HOUR), holdout: 0, expected_value: 0, cost: 1000, kind: 'survey',
    survey_scale: o.scale, stream_seq: seq++,
  };
}

/** The answer to a survey trigger: an offer_conversions row with goal survey_answered, tx_id = the feedback_id. */
function answer(s: Row, afterHours: number, score: number | null): Row {
  const offered = Date.parse(String(s.created_at));
  return {
    conversion_id: `${String(s.offer_id)}:survey_answered`, offer_id: s.offer_id, customer_id: s.customer_id, campaign_id: s.campaign_id,
    offer_code: s.offer_code, channel: s.channel, branch_id: s.branch_id, holdout: 0, goal: 'survey_answered', tx_id: `fb-${String(s.offer_id)}`,
    offered_at: s.created_at, converted_at: iso(offered + afterHours * HOUR), value_minor: 0, stream_seq: seq++, score, scale: s.survey_scale,
  };
}

const ONB = { code: 'SURVEY-FIRST-MONTH', campaign: 'satisfaction-onboarding', scale: 'csat5', channel: 'app', branch: 'B1', stage: 'getting_acquainted' } as const;
const BRANCH = { code: 'SURVEY-BRANCH-VISIT', campaign: 'satisfaction-branch', scale: 'nps10', channel: 'sms', branch: 'B2', stage: 'account_management' } as const;

// Bank time is UTC+03:30 (the shipped rules): 20:30 UTC is already the next bank-local day.
const S1 = survey('S1', '2026-04-01T10:00:00Z', ONB);
const S2 = survey('S2', '2026-04-01T12:00:00Z', ONB);
const S3 = survey('S3', '2026-04-01T13:00:00Z', ONB);
const S4 = survey('S4', '2026-04-01T14:00:00Z', ONB);
const S5 = survey('S5', '2026-04-02T19:00:00Z', BRANCH);
const S6 = survey('S6', '2026-04-02T19:30:00Z', BRANCH);
const S7 = survey('S7', '2026-04-02T20:00:00Z', BRANCH);
const S8 = survey('S8', '2026-04-02T20:15:00Z', BRANCH);
const S9 = survey('S9', '2026-04-02T20:40:00Z', BRANCH);
const S10 = survey('S10', '2026-04-05T08:00:00Z', { ...ONB, stage: 'welcome' });
const SURVEYS = [S1, S2, S3, S4, S5, S6, S7, S8, S9, S10];
const ANSWERS = [
  answer(S1, 2, 5), answer(S2, 5, 3), answer(S4, 1, 4), // S3 unanswered
  answer(S5, 3, 10), answer(S6, 24, 6), answer(S7, 0.5, 8), answer(S9, 2, 9), // S8 unanswered
  answer(S10, 6, null), // answered without a score
];

/** Marketing offers on the same days, one converted: never part of the survey views. */
const OFFERS: Row[] = [1, 2].map((i) => ({
  offer_id: `M${i}`, customer_id: 'cust-S1', offer_code: 'ONB-BILLPAY', campaign_id: 'onboarding', channel: 'app', reason: 'x', churn_probability: 0.2,
  lifecycle_stage: 'welcome', tier: 'bronze', segment: 'retail', branch_id: 'B1', triggered_by_tx_id: `tx-M${i}`, created_at: '2026-04-01T11:00:00.000Z',
  expires_at: '2026-04-15T11:00:00.000Z', holdout: i - 1, expected_value: 600000, cost: i === 1 ? 20000 : 0, kind: 'offer', survey_scale: '', stream_seq: seq++,
}));
const OFFER_CONVERSIONS: Row[] = [{
  conversion_id: 'M1:first_bill_payment', offer_id: 'M1', customer_id: 'cust-S1', campaign_id: 'onboarding', offer_code: 'ONB-BILLPAY', channel: 'app', branch_id: 'B1',
  holdout: 0, goal: 'first_bill_payment', tx_id: 'tx-bill', offered_at: '2026-04-01T11:00:00.000Z', converted_at: '2026-04-03T11:00:00.000Z', value_minor: 900, stream_seq: seq++,
}];

/** Feedback: scored answers (two scales), complaints with resolutions, a compliment. */
function fb(id: string, customer: string, at: string, kind: string, extra: Row = {}): Row {
  return { feedback_id: id, customer_id: customer, occurred_at: at, kind, score: null, scale: '', resolves_feedback_id: '', campaign_id: '', offer_id: '', branch_id: 'B1', channel: 'pos', text: '', lifecycle_stage: 'account_management', stream_seq: seq++, ...extra };
}
const csat = (id: string, score: number): Row => fb(id, 'alice', '2026-04-01T09:00:00Z', 'survey', { scale: 'csat5', score, campaign_id: 'satisfaction-onboarding', channel: 'online' });
const nps = (id: string, score: number): Row => fb(id, 'bob', '2026-04-01T09:00:00Z', 'survey', { scale: 'nps10', score, campaign_id: 'satisfaction-branch', branch_id: 'B2' });
const FEEDBACK: Row[] = [
  csat('F1', 5), csat('F2', 2), csat('F3', 4),
  nps('N1', 10), nps('N2', 9), nps('N3', 9), nps('N4', 7), nps('N5', 3),
  fb('K1', 'carol', '2026-04-01T06:00:00Z', 'complaint', { text: 'card swallowed' }),
  fb('K1-R1', 'carol', '2026-04-01T10:00:00Z', 'resolution', { resolves_feedback_id: 'K1' }),
  fb('K1-R2', 'carol', '2026-04-01T12:00:00Z', 'resolution', { resolves_feedback_id: 'K1' }), // a later one: the earliest counts
  fb('K1-X', 'dave', '2026-04-01T07:00:00Z', 'resolution', { resolves_feedback_id: 'K1' }), // another customer's: not K1's
  fb('K2', 'carol', '2026-04-01T08:00:00Z', 'complaint'), // still open
  fb('K3', 'dave', '2026-04-01T07:00:00Z', 'complaint', { branch_id: 'B2' }),
  fb('K3-R', 'dave', '2026-04-01T17:00:00Z', 'resolution', { resolves_feedback_id: 'K3' }),
  fb('P1', 'erin', '2026-04-01T07:00:00Z', 'compliment'),
];
const ACTIVE = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'gina', 'hank'];
const TRANSACTIONS: Row[] = ACTIVE.map((c) => ({ tx_id: `T-${c}`, customer_id: c, channel: 'pos', amount_minor: 1000, currency: 'IRR', occurred_at: '2026-04-01T08:00:00Z', status: 'approved', stream_seq: seq++, scored_at: '2026-04-01T08:00:01Z' }));
const STAGES: Record<string, string> = { alice: 'account_management', bob: 'account_management', carol: 'separation', dave: 'intensive_care', erin: 'potential_separation', frank: 'separation', gina: 'account_management', hank: 'welcome' };
const STATE: Row[] = ACTIVE.map((c) => ({ customer_id: c, version: seq++, updated_at: '2026-04-02T00:00:00Z', lifecycle_stage: STAGES[c], features: '{}' }));

async function insertAll(): Promise<void> {
  await ch.insert({ table: `${DB}.offers`, values: [...SURVEYS, ...OFFERS], format: 'JSONEachRow' });
  await ch.insert({ table: `${DB}.offer_conversions`, values: [...ANSWERS, ...OFFER_CONVERSIONS], format: 'JSONEachRow' });
  await ch.insert({ table: `${DB}.feedback`, values: FEEDBACK, format: 'JSONEachRow' });
  await ch.insert({ table: `${DB}.scored_transactions`, values: TRANSACTIONS, format: 'JSONEachRow' });
  await ch.insert({ table: `${DB}.customer_state`, values: STATE, format: 'JSONEachRow' });
}

beforeAll(async () => {
  dir = fs.mkdtempSync(`${os.tmpdir()}/vafa-satisfaction-`);
  wh = await startWarehouse({ port: 0, dataDir: dir });
  ch = createClient({ url: wh.url, log: { level: ClickHouseLogLevel.OFF }, clickhouse_settings: { date_time_input_format: 'best_effort' } });
  await migrate(ch, DB);
  for (const q of offerViewStatements(DB)) await ch.command({ query: q });
  // The first insert, then the same rows again in new parts (a scorer replay): FINAL must count each once.
  await insertAll();
  await insertAll();
}, 60_000);

afterAll(async () => {
  await ch?.close();
  await wh?.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

async function rows<T = Row>(query: string): Promise<T[]> {
  const rs = await ch.query({ query, format: 'JSONEachRow', clickhouse_settings: { output_format_json_quote_64bit_integers: 0 } });
  return await rs.json<T>();
}

describe('survey views', () => {
  it('are created by migrate', async () => {
    const names = (await rows<{ name: string }>(`SELECT name FROM system.tables WHERE database = '${DB}' AND name LIKE 'v_survey%' ORDER BY name`)).map((r) => r.name);
    expect(names).toEqual(SURVEY_VIEWS.map((v) => v.name).sort());
  });

  it('the physical tables hold every row twice: the replay is there for FINAL to collapse', async () => {
    const [n] = await rows<{ n: number }>(`SELECT count() AS n FROM ${DB}.offers WHERE kind = 'survey'`);
    expect(n!.n).toBe(2 * SURVEYS.length);
  });

  it('v_survey_outcomes: one row per survey sent, with its answer, score and hours to respond; marketing offers excluded', async () => {
    const out = await rows<Row>(`SELECT * FROM ${DB}.v_survey_outcomes ORDER BY created_at`);
    expect(out.map((r) => r.offer_id)).toEqual(SURVEYS.map((s) => s.offer_id));
    const by = (id: string): Row => out.find((r) => r.offer_id === id)!;
    expect(by('S1')).toMatchObject({
      customer_id: 'cust-S1', offer_code: 'SURVEY-FIRST-MONTH', campaign_id: 'satisfaction-onboarding', channel: 'app', branch_id: 'B1',
      segment: 'retail', tier: 'bronze', lifecycle_stage: 'getting_acquainted', scale: 'csat5', day: '2026-04-01', responded: 1,
      responded_at: '2026-04-01 12:00:00.000', score: 5, hours_to_respond: 2, feedback_id: 'fb-S1', cost: 1000,
    });
    expect(by('S3')).toMatchObject({ responded: 0, responded_at: null, score: null, hours_to_respond: null, feedback_id: '' });
    expect(by('S6')).toMatchObject({ scale: 'nps10', score: 6, hours_to_respond: 24 });
    expect(by('S7')).toMatchObject({ hours_to_respond: 0.5 });
    // 20:40 UTC is 00:10 the next day in the bank's time zone.
    expect(by('S8').day).toBe('2026-04-02');
    expect(by('S9').day).toBe('2026-04-03');
    expect(by('S10')).toMatchObject({ responded: 1, score: null, hours_to_respond: 6 });
  });

  it('v_survey_campaigns: sent, asked, response rate, mean score, CSAT, median hours and cost per sending day', async () => {
    const out = await rows<Row>(`SELECT * FROM ${DB}.v_survey_campaigns ORDER BY day, campaign_id`);
    expect(out.map((r) => [r.day, r.campaign_id])).toEqual([
      ['2026-04-01', 'satisfaction-onboarding'], ['2026-04-02', 'satisfaction-branch'], ['2026-04-03', 'satisfaction-branch'], ['2026-04-05', 'satisfaction-onboarding'],
    ]);
    const [onb, branch, late, unscored] = out;
    // S1..S4: three answers (5, 3, 4) of four → 75 %; CSAT = 2 of 3 scored 4–5; median of 2, 5, 1 hours.
    expect(onb).toMatchObject({
      offer_code: 'SURVEY-FIRST-MONTH', channel: 'app', branch_id: 'B1', scale: 'csat5',
      surveys_sent: 4, customers_asked: 4, responses: 3, response_rate: 0.75, scored_responses: 3, mean_score: 4, satisfied: 2, nps: null,
      median_hours_to_respond: 2, cost: 4000,
    });
    expect(onb!.csat).toBeCloseTo(200 / 3, 9);
    expect(onb!.cost_per_response).toBeCloseTo(4000 / 3, 9);
    // S5..S8 (bank-local 04-02): 10, 6, 8 of four sent → promoters 1, detractors 1 → NPS 0; median of 3, 24, 0.5 hours.
    expect(branch).toMatchObject({
      scale: 'nps10', channel: 'sms', branch_id: 'B2', surveys_sent: 4, responses: 3, response_rate: 0.75, mean_score: 8, promoters: 1, detractors: 1,
      nps: 0, csat: null, median_hours_to_respond: 3,
    });
    expect(late).toMatchObject({ surveys_sent: 1, responses: 1, response_rate: 1, promoters: 1, nps: 100 });
    // An answer without a score is a response, but no score: no mean, no CSAT.
    expect(unscored).toMatchObject({ surveys_sent: 1, responses: 1, scored_responses: 0, mean_score: null, csat: null, median_hours_to_respond: 6 });
  });

  it('v_survey_by_stage: the same measures per lifecycle stage at sending, all days together', async () => {
    const out = await rows<Row>(`SELECT * FROM ${DB}.v_survey_by_stage ORDER BY campaign_id, lifecycle_stage`);
    expect(out.map((r) => [r.campaign_id, r.lifecycle_stage, r.surveys_sent, r.responses])).toEqual([
      ['satisfaction-branch', 'account_management', 5, 4],
      ['satisfaction-onboarding', 'getting_acquainted', 4, 3],
      ['satisfaction-onboarding', 'welcome', 1, 1],
    ]);
    // 10, 6, 8, 9: promoters 2, detractors 1 of 4 → NPS 25.
    expect(out[0]).toMatchObject({ promoters: 2, detractors: 1, nps: 25, mean_score: 8.25 });
  });

  it('v_offer_outcomes and v_offer_campaigns count marketing offers only, never surveys', async () => {
    const out = await rows<{ offer_id: string; converted: number }>(`SELECT offer_id, converted FROM ${DB}.v_offer_outcomes ORDER BY offer_id`);
    expect(out).toEqual([{ offer_id: 'M1', converted: 1 }, { offer_id: 'M2', converted: 0 }]);
    const campaigns = await rows<{ campaign_id: string; offers_sent: number; conversions: number }>(`SELECT campaign_id, offers_sent, conversions FROM ${DB}.v_offer_campaigns`);
    expect(campaigns).toEqual([{ campaign_id: 'onboarding', offers_sent: 1, conversions: 1 }]);
  });
});

describe('feedback views', () => {
  it('are created by migrate', async () => {
    const names = new Set((await rows<{ name: string }>(`SELECT name FROM system.tables WHERE database = '${DB}'`)).map((r) => r.name));
    for (const v of FEEDBACK_VIEWS) expect(names.has(v.name), v.name).toBe(true);
  });

  it('v_feedback_csat and v_feedback_nps: CSAT = % scoring 4–5, NPS = % 9–10 − % 0–6, each response once', async () => {
    const [c] = await rows<Row>(`SELECT * FROM ${DB}.v_feedback_csat`);
    expect(c).toMatchObject({ day: '2026-04-01', branch_id: 'B1', channel: 'online', campaign_id: 'satisfaction-onboarding', lifecycle_stage: 'account_management', responses: 3, satisfied: 2 });
    expect(c!.csat).toBeCloseTo(200 / 3, 9);
    expect(c!.mean_score).toBeCloseTo(11 / 3, 9);
    const [n] = await rows<Row>(`SELECT * FROM ${DB}.v_feedback_nps`);
    expect(n).toMatchObject({ branch_id: 'B2', campaign_id: 'satisfaction-branch', responses: 5, promoters: 3, passives: 1, detractors: 1, nps: 40 });
  });

  it('v_complaint_resolutions and v_complaints: the earliest resolution of the same customer closes a complaint', async () => {
    const res = await rows<Row>(`SELECT feedback_id, resolved, hours_to_resolve FROM ${DB}.v_complaint_resolutions ORDER BY feedback_id`);
    expect(res).toEqual([
      { feedback_id: 'K1', resolved: 1, hours_to_resolve: 4 },
      { feedback_id: 'K2', resolved: 0, hours_to_resolve: null },
      { feedback_id: 'K3', resolved: 1, hours_to_resolve: 10 },
    ]);
    const per = await rows<Row>(`SELECT branch_id, complaints, complainers, resolved_complaints, open_complaints, median_hours_to_resolve FROM ${DB}.v_complaints ORDER BY branch_id`);
    expect(per).toEqual([
      { branch_id: 'B1', complaints: 2, complainers: 1, resolved_complaints: 1, open_complaints: 1, median_hours_to_resolve: 4 },
      { branch_id: 'B2', complaints: 1, complainers: 1, resolved_complaints: 1, open_complaints: 0, median_hours_to_resolve: 10 },
    ]);
  });

  it('v_complaint_rate: complaints per 1,000 customers who transacted that day', async () => {
    const [r] = await rows<Row>(`SELECT * FROM ${DB}.v_complaint_rate WHERE day = '2026-04-01'`);
    expect(r).toMatchObject({ active_customers: 8, complaints: 3, complainers: 2, complaints_per_1000_active: 375 });
  });

  it('v_churn_by_complaint: separation or potential separation, complainers against the others', async () => {
    const out = await rows<Row>(`SELECT complained, customers, churned, churn_rate FROM ${DB}.v_churn_by_complaint ORDER BY complained`);
    // complainers carol (separation) and dave (intensive care); others: erin, frank churned of six
    expect(out).toEqual([
      { complained: 0, customers: 6, churned: 2, churn_rate: 2 / 6 },
      { complained: 1, customers: 2, churned: 1, churn_rate: 0.5 },
    ]);
  });
});

describe('docs/offers.md survey worked example', () => {
  const DOC = fs.readFileSync(path.resolve(import.meta.dirname, '../../docs/offers.md'), 'utf8');
  const C = 'C-2002';

  it('is what the engine decides and what the views report', async () => {
    const d = new Driver(shippedPolicy().offers.catalogue);
    const feedbackRows: Row[] = [];
    const keep = (e: OutputEmit): OutputEmit => {
      feedbackRows.push(...(e.rows.get('feedback') ?? []));
      return e;
    };
    const decided = (from: number): string[][] => d.offers.slice(from).map((o) => [String(o.offer_code), String(o.offer_id)]);
    d.profile({ customer_id: C, opened_at: '2025-01-15T06:30:00Z', segment: 'retail', branch_id: 'BR-12', products: ['current_account', 'debit_card', 'bill_pay'] });
    let i = 0;
    for (let t = Date.parse('2025-01-16T08:00:00Z'); t < Date.parse('2026-06-09T08:00:00Z'); t += 3 * 24 * HOUR) {
      d.tx({ tx_id: `H-${i++}`, customer_id: C, channel: 'pos', amount_minor: 4_500_000, occurred_at: iso(t), mcc: '5411' });
    }
    expect(d.customer(C).lifecycle.stage).toBe('account_management');
    expect(holdoutDraw('branch-prompts', C)).toBeGreaterThanOrEqual(0.1);

    // 1. the deposit at the counter: the teller prompt in the offers slot, the NPS survey in the survey slot
    let from = d.offers.length;
    const published = d.publishes.length;
    d.tx({ tx_id: 'TX-77310', customer_id: C, channel: 'deposit', amount_minor: 50_000_000, occurred_at: '2026-06-10T06:45:00Z', branch_id: 'BR-07' });
    expect(decided(from)).toEqual([['BR-ONLINE-PROMPT', 'of_5d6f040c8f3ec954e1136221'], ['SURVEY-BRANCH-VISIT', 'of_6e810f6f5cc2bc5a9227f6b8']]);
    const trigger = d.publishes.slice(published).find((p) => p.subject === 'offers.sms')!;
    expect(trigger.payload).toEqual({
      offer_id: 'of_6e810f6f5cc2bc5a9227f6b8', customer_id: C, offer_code: 'SURVEY-BRANCH-VISIT', campaign_id: 'satisfaction-branch', channel: 'sms',
      reason: 'visit to a branch counter', churn_probability: 0, lifecycle_stage: 'account_management', tier: 'bronze', triggered_by_tx_id: 'TX-77310',
      created_at: '2026-06-10T06:45:00.000Z', expires_at: '2026-06-13T06:45:00.000Z', kind: 'survey',
      survey: { scale: 'nps10', question: 'How likely are you to recommend our branch to a friend or colleague? (0–10)' }, branch_id: 'BR-07',
    });
    expect(d.offers.find((o) => o.offer_id === 'of_6e810f6f5cc2bc5a9227f6b8')).toMatchObject({ kind: 'survey', survey_scale: 'nps10', holdout: 0, cost: 500, branch_id: 'BR-07' });

    // 2. the answer
    keep(d.feedback({ feedback_id: 'FB-5531', customer_id: C, occurred_at: '2026-06-10T09:20:00Z', kind: 'survey', scale: 'nps10', score: 9, offer_id: 'of_6e810f6f5cc2bc5a9227f6b8', branch_id: 'BR-07' }));
    expect(d.conversions.filter((c) => c.offer_id === 'of_6e810f6f5cc2bc5a9227f6b8')).toEqual([expect.objectContaining({
      conversion_id: 'of_6e810f6f5cc2bc5a9227f6b8:conv', goal: 'survey_answered', tx_id: 'FB-5531', score: 9, scale: 'nps10', converted_at: '2026-06-10T09:20:00.000Z',
    })]);
    expect(feedbackRows.find((f) => f.feedback_id === 'FB-5531')).toMatchObject({ campaign_id: 'satisfaction-branch' });

    // 3. the complaint: intensive care, the apology
    from = d.offers.length;
    keep(d.feedback({ feedback_id: 'FB-5600', customer_id: C, occurred_at: '2026-06-15T07:00:00Z', kind: 'complaint', branch_id: 'BR-07', channel: 'atm', text: 'the ATM kept my card' }));
    expect(d.customer(C).lifecycle.stage).toBe('intensive_care');
    expect(decided(from)).toEqual([['RECOVERY-APOLOGY', 'of_773357d675d5a7bf4761d18d']]);
    expect(d.offers.at(-1)).toMatchObject({ channel: 'app', holdout: 0 });

    // 4. a deposit while the complaint is open: nothing
    from = d.offers.length;
    d.tx({ tx_id: 'TX-77400', customer_id: C, channel: 'deposit', amount_minor: 10_000_000, occurred_at: '2026-06-18T07:00:00Z', branch_id: 'BR-07' });
    expect(decided(from)).toEqual([]);

    // 5. the resolution releases the hold: the teller prompt again, no survey (cool-down)
    keep(d.feedback({ feedback_id: 'FB-5611', customer_id: C, occurred_at: '2026-06-19T07:00:00Z', kind: 'resolution', resolves_feedback_id: 'FB-5600' }));
    from = d.offers.length;
    d.tx({ tx_id: 'TX-77450', customer_id: C, channel: 'deposit', amount_minor: 10_000_000, occurred_at: '2026-06-20T07:00:00Z', branch_id: 'BR-07' });
    expect(decided(from)).toEqual([['BR-ONLINE-PROMPT', 'of_b744eceff3eb6a39c582580c']]);
    expect(d.customer(C).lifecycle.stage).toBe('intensive_care');

    for (const id of ['of_5d6f040c8f3ec954e1136221', 'of_6e810f6f5cc2bc5a9227f6b8', 'of_773357d675d5a7bf4761d18d', 'of_b744eceff3eb6a39c582580c']) expect(DOC).toContain(id);

    // The engine's rows through the views, in a database of their own.
    const db = 'vafa_doc';
    await migrate(ch, db);
    await ch.insert({ table: `${db}.offers`, values: d.offers, format: 'JSONEachRow' });
    await ch.insert({ table: `${db}.offer_conversions`, values: d.conversions, format: 'JSONEachRow' });
    await ch.insert({ table: `${db}.feedback`, values: feedbackRows, format: 'JSONEachRow' });
    const [outcome] = await rows<Row>(`SELECT responded, score, round(hours_to_respond, 2) AS hours FROM ${db}.v_survey_outcomes WHERE offer_id = 'of_6e810f6f5cc2bc5a9227f6b8'`);
    expect(outcome).toEqual({ responded: 1, score: 9, hours: 2.58 });
    const [day] = await rows<Row>(`SELECT surveys_sent, responses, promoters, nps FROM ${db}.v_survey_campaigns WHERE campaign_id = 'satisfaction-branch' AND day = '2026-06-10'`);
    expect(day).toEqual({ surveys_sent: 1, responses: 1, promoters: 1, nps: 100 });
    const [nps] = await rows<Row>(`SELECT branch_id, campaign_id, promoters FROM ${db}.v_feedback_nps`);
    expect(nps).toEqual({ branch_id: 'BR-07', campaign_id: 'satisfaction-branch', promoters: 1 });
    const [resolution] = await rows<Row>(`SELECT feedback_id, resolved, hours_to_resolve FROM ${db}.v_complaint_resolutions`);
    expect(resolution).toEqual({ feedback_id: 'FB-5600', resolved: 1, hours_to_resolve: 96 });
  });
});
