/**
 * The survey responder: decisions (pure, deterministic, realistic by channel) and the closed loop with a
 * real nats-server: triggers published on stream OFFERS come back as survey answers posted to
 * /v1/feedback, merged into the feed in event time.
 */
import { jetstream } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FeedbackV1 } from '../../contracts/events.js';
import { IngestService } from '../../ingest/service.js';
import type { Publisher } from '../../platform/publisher.js';
import {
  createBank, decideSurveyAnswer, FeederError, parseSurveyTrigger, runFeeder, SURVEY_ANSWER_WINDOW_MS, SURVEY_RESPONSE_RATE, type SurveyTrigger,
} from '../../simulator/mod.js';
import { SurveyAnswerQueue } from '../../simulator/responder.js';
import { startFeederHarness, type FeederHarness } from './feeder-harness.js';

const HOUR = 3_600_000;
const ingest = new IngestService({ publisher: {} as Publisher, partitions: 8, tokenKey: 'test-key' });

function trigger(id: string, extra: Partial<SurveyTrigger> & Record<string, unknown> = {}): SurveyTrigger & Record<string, unknown> {
  return {
    offer_id: id, customer_id: 'C000001', offer_code: 'SURVEY-TEST', campaign_id: 'satisfaction-test', channel: 'sms', reason: 'test',
    churn_probability: 0.1, lifecycle_stage: 'account_management', tier: 'silver', triggered_by_tx_id: 'tx-1',
    created_at: '2025-05-10T08:00:00.000Z', expires_at: '2025-05-17T08:00:00.000Z', kind: 'survey',
    survey: { scale: 'csat5', question: 'How satisfied are you? (1–5)' }, ...extra,
  };
}

describe('survey answers: decisions', () => {
  it('read triggers as published; a missing kind is an offer, and offers are never answered', () => {
    const { kind: _kind, survey: _survey, ...offer } = trigger('o1');
    expect(parseSurveyTrigger(offer)?.kind).toBe('offer');
    expect(decideSurveyAnswer(parseSurveyTrigger(offer)!, 1, 0.1).answers).toBe(false);
    expect(parseSurveyTrigger(trigger('s1'))?.survey?.scale).toBe('csat5');
    expect(parseSurveyTrigger(trigger('s2', { survey: { scale: 'stars' } as never }))).toBeUndefined();
    expect(parseSurveyTrigger(trigger('s3', { channel: 'fax' as never }))).toBeUndefined();
    expect(parseSurveyTrigger({ offer_id: 'x' })).toBeUndefined();
    expect(parseSurveyTrigger('nonsense')).toBeUndefined();
  });

  it('answer at realistic rates by channel, more often when very unhappy, within the window and before expiry', () => {
    for (const channel of ['sms', 'app', 'email', 'branch'] as const) {
      let answered = 0;
      let unhappy = 0;
      const n = 8000;
      for (let i = 0; i < n; i++) {
        const t = parseSurveyTrigger(trigger(`${channel}-${i}`, { channel, branch_id: 'BR03', expires_at: '2025-05-11T08:00:00.000Z' }))!;
        const d = decideSurveyAnswer(t, 7, 0.7);
        if (decideSurveyAnswer(t, 7, 0.1).answers) unhappy++;
        if (!d.answers) continue;
        answered++;
        const body = d.event!.body;
        const at = Date.parse(body.occurred_at);
        expect(at).toBeGreaterThan(Date.parse(t.created_at));
        expect(at).toBeLessThanOrEqual(Math.min(Date.parse(t.expires_at), Date.parse(t.created_at) + SURVEY_ANSWER_WINDOW_MS));
        expect(body).toMatchObject({ customer_id: 'C000001', kind: 'survey', scale: 'csat5', offer_id: t.offer_id, campaign_id: 'satisfaction-test', branch_id: 'BR03' });
        expect(ingest.prepare('feedback', body, new Date()).ok).toBe(true);
        // The same trigger always gives the same answer; another seed decides differently but keeps the id.
        expect(decideSurveyAnswer(t, 7, 0.7)).toEqual(d);
        expect(decideSurveyAnswer(t, 8, 0.7).event?.body.feedback_id ?? body.feedback_id).toBe(body.feedback_id);
      }
      const rate = answered / n;
      // Answers after the deadline (a day here) do not count: slow channels lose some.
      expect(rate).toBeLessThanOrEqual(SURVEY_RESPONSE_RATE[channel] * 1.1);
      expect(rate).toBeGreaterThan(SURVEY_RESPONSE_RATE[channel] * (channel === 'sms' || channel === 'app' ? 0.85 : 0.5));
      expect(unhappy).toBeGreaterThan(answered * 1.2);
    }
  });

  it('score from satisfaction on the survey\'s scale', () => {
    const mean = (scale: 'csat5' | 'nps10', s: number): number => {
      let sum = 0;
      let n = 0;
      for (let i = 0; i < 3000; i++) {
        const t = parseSurveyTrigger(trigger(`m${i}`, { channel: 'branch', survey: { scale, question: 'q' } }))!;
        const score = decideSurveyAnswer(t, 3, s).event?.body.score;
        if (score === undefined) continue;
        expect(score).toBeGreaterThanOrEqual(scale === 'csat5' ? 1 : 0);
        expect(score).toBeLessThanOrEqual(scale === 'csat5' ? 5 : 10);
        sum += score;
        n++;
      }
      return sum / n;
    };
    expect(mean('csat5', 0.85)).toBeGreaterThan(mean('csat5', 0.4) + 1.5);
    expect(mean('nps10', 0.85)).toBeGreaterThan(mean('nps10', 0.4) + 3);
  });

  it('give an answer the feed has passed at the feed\'s time, drop it past its deadline, and count what is left', () => {
    const q = new SurveyAnswerQueue(7);
    const ids: string[] = [];
    for (let i = 0; ids.length < 3; i++) {
      const t = parseSurveyTrigger(trigger(`q${i}`, { channel: 'app' }))!;
      if (decideSurveyAnswer(t, 7, 0.6).answers) ids.push(t.offer_id);
    }
    for (const id of ids) q.add(trigger(id, { channel: 'app' }));
    q.add({ not: 'a trigger' });
    q.add(trigger(ids[0]!, { channel: 'app' }));
    expect(q.stats).toMatchObject({ triggers: 3, surveys: 3, malformed: 1 });
    const created = Date.parse('2025-05-10T08:00:00.000Z');
    const feedTime = created + SURVEY_ANSWER_WINDOW_MS - HOUR;
    const a = q.take(feedTime, feedTime, () => 0.6);
    expect(a?.body.occurred_at).toBe(new Date(feedTime).toISOString());
    expect(q.stats.late).toBe(1);
    expect(q.take(created + 3 * SURVEY_ANSWER_WINDOW_MS, created + 2 * SURVEY_ANSWER_WINDOW_MS, () => 0.6)).toBeUndefined();
    expect(q.stats).toMatchObject({ answered: 1, missed: 2, pending: 0 });
    q.add(trigger(`later`, { channel: 'branch', created_at: '2025-06-01T08:00:00.000Z', expires_at: '2025-06-10T08:00:00.000Z' }));
    q.close();
    expect(q.stats.pending + q.stats.unanswered).toBe(1);
  });
});

describe('survey answers: the closed loop through OFFERS', () => {
  let harness: FeederHarness | undefined;
  let nc: NatsConnection;
  let url: string;
  let natsUrl: string;
  const posted = new Map<string, Record<string, unknown>[]>();
  /** Event times per customer in the order the items arrived (a customer's items all travel in one lane, one request at a time). */
  const arrivals = new Map<string, string[]>();

  beforeAll(async () => {
    harness = await startFeederHarness('responder', (route, items) => {
      const list = posted.get(route) ?? [];
      list.push(...items);
      posted.set(route, list);
      if (route !== '/v1/customers') {
        for (const it of items) arrivals.set(String(it.customer_id), [...(arrivals.get(String(it.customer_id)) ?? []), String(it.occurred_at)]);
      }
    });
    ({ nc, url, natsUrl } = harness);
  });

  afterAll(async () => {
    await harness?.close();
  });

  it('answers the surveys the scorer publishes, in event time with the bank\'s events, and ignores offers', async () => {
    const start = new Date('2025-05-01T00:00:00Z');
    const bank = createBank({ seed: 31, customers: 20, start, days: 10, feedback: 0 });
    const customer = bank.profiles()[0]!.customer_id;
    const created = new Date(start.getTime() + 5 * 24 * HOUR + 9 * HOUR).toISOString();
    const base = { customer_id: customer, created_at: created, expires_at: new Date(Date.parse(created) + 7 * 24 * HOUR).toISOString() };
    const pick = (answers: boolean, extra: Partial<SurveyTrigger>): SurveyTrigger & Record<string, unknown> => {
      for (let i = 0; ; i++) {
        const t = trigger(`loop-${answers}-${extra.channel}-${i}`, { ...base, ...extra });
        const d = decideSurveyAnswer(parseSurveyTrigger(t)!, bank.options.seed, 0.6);
        const never = !decideSurveyAnswer(parseSurveyTrigger(t)!, bank.options.seed, 0).answers;
        if (answers ? d.answers : never) return t;
      }
    };
    const yes = [
      pick(true, { channel: 'sms', branch_id: 'BR07' }),
      pick(true, { channel: 'email', survey: { scale: 'nps10', question: 'Recommend us? (0–10)' }, campaign_id: 'satisfaction-nps' }),
    ];
    const no = pick(false, { channel: 'app' });
    const { kind: _k, survey: _s, ...offer } = trigger('marketing-1', { ...base, channel: 'sms', campaign_id: 'onboarding' });

    const js = jetstream(nc);
    const feeding = runFeeder({ target: url, bank, rate: 60, respond: { natsUrl } });
    for (let i = 0; i < 200 && !posted.has('/v1/customers'); i++) await new Promise((r) => setTimeout(r, 25));
    expect(posted.has('/v1/customers')).toBe(true);
    for (const t of [...yes, no, offer]) await js.publish(`offers.${String(t.channel)}`, JSON.stringify(t), { msgID: String(t.offer_id) });
    await js.publish('offers.sms', '{ not json', { msgID: 'garbage' });
    await js.publish('offers.sms', JSON.stringify(yes[0]), { msgID: 'replayed-copy' });
    const summary = await feeding;

    expect(summary.surveys).toEqual({ triggers: 4, surveys: 3, answered: 2, unanswered: 1, late: 0, missed: 0, pending: 0, malformed: 1 });
    const answers = (posted.get('/v1/feedback') ?? []) as unknown as FeedbackV1[];
    expect(answers).toHaveLength(2);
    expect(summary.feedback).toBe(2);
    expect(summary.sent).toBe(summary.accepted);
    for (const t of yes) {
      const a = answers.find((x) => x.offer_id === t.offer_id)!;
      expect(a).toBeDefined();
      expect(ingest.prepare('feedback', a, new Date()).ok).toBe(true);
      // The score comes from the customer's satisfaction when the answer is given: a fresh pass stopped there sees the same.
      const at = Date.parse(a.occurred_at);
      const stream = bank.events();
      for (const e of stream) if (Date.parse(e.body.occurred_at!) >= at) break;
      const expected = decideSurveyAnswer(parseSurveyTrigger(t)!, bank.options.seed, stream.satisfaction(customer, at)!);
      expect(a).toEqual(expected.event!.body);
      expect(a).toMatchObject({ kind: 'survey', customer_id: customer, campaign_id: t.campaign_id, scale: t.survey!.scale });
      expect(a.branch_id).toBe(t.branch_id);
      expect(a.feedback_id).toMatch(/^S[0-9a-f]{24}$/);
    }
    // In event time: the customer's transactions and answers arrived in order, answers between transactions.
    const mine = arrivals.get(customer)!;
    expect([...mine].sort()).toEqual(mine);
    for (const a of answers) {
      expect(a.occurred_at > created).toBe(true);
      expect(mine.indexOf(a.occurred_at)).toBeGreaterThan(0);
      expect(mine.indexOf(a.occurred_at)).toBeLessThan(mine.length - 1);
    }
  }, 30_000);

  it('refuses to start when NATS cannot be reached', async () => {
    const bank = createBank({ seed: 1, customers: 5, start: new Date('2025-01-01T00:00:00Z'), days: 1 });
    await expect(runFeeder({ target: url, bank, rate: 0, respond: { natsUrl: 'nats://127.0.0.1:1' } })).rejects.toThrow(FeederError);
  });
});
