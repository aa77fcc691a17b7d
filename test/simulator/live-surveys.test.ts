/**
 * Survey answers in a live stream (simulator/live.ts): the events carry wall-clock stamps while the bank's
 * own time runs faster, so a survey sent now is answered when the bank's time has moved on by the answer's
 * delay, not hours of wall clock later. A real nats-server carries the trigger, as in responder.test.ts.
 */
import { jetstream } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FeedbackV1 } from '../../contracts/events.js';
import { createBank, decideSurveyAnswer, parseSurveyTrigger, runFeeder, splitPass } from '../../simulator/mod.js';
import { startFeederHarness, type FeederHarness } from './feeder-harness.js';

const DAY = 86_400_000;

describe('survey answers in a live stream', () => {
  let harness: FeederHarness | undefined;
  let nc: NatsConnection;
  let url: string;
  let natsUrl: string;
  const arrivals = new Map<string, { path: string; occurred_at: string; body: Record<string, unknown> }[]>();

  beforeAll(async () => {
    harness = await startFeederHarness('live-surveys', (route, items) => {
      for (const it of items) {
        const id = String(it.customer_id);
        arrivals.set(id, [...(arrivals.get(id) ?? []), { path: route, occurred_at: String(it.occurred_at), body: it }]);
      }
    });
    ({ nc, url, natsUrl } = harness);
  });

  afterAll(async () => {
    await harness?.close();
  });

  it('answers a survey sent during the live stream in the bank\'s time, stamped with the wall clock between the customer\'s events', async () => {
    const start = new Date('2025-05-01T00:00:00Z');
    const bank = createBank({ seed: 31, customers: 20, start, days: 10, feedback: 0, continueDays: 12 });
    const cutover = bank.options.end.getTime();
    const pass = splitPass(bank.events(), { cutover });
    for (const _ of pass.history()) {
      // in the state store, in the demo
    }
    const customer = bank.profiles()[0]!.customer_id;
    // ~20 events a simulated day at 20 events/s: the bank's day passes in about a second of wall clock.
    const feeding = runFeeder({
      target: url, bank: { profiles: () => [], events: () => pass.live(), options: bank.options }, sendProfiles: false, timeline: pass.timeline,
      rate: 20, respond: { natsUrl },
    });
    const deadline = Date.now() + 10_000;
    while (!arrivals.get(customer)?.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
    const first = arrivals.get(customer)?.[0];
    expect(first).toBeDefined();
    // A survey for that customer, made as the scorer makes one: at the stamp of the event that triggered it.
    const created = first!.occurred_at;
    let survey: Record<string, unknown> | undefined;
    for (let i = 0; !survey; i++) {
      const t = {
        offer_id: `live-survey-${i}`, customer_id: customer, offer_code: 'SURVEY-TEST', campaign_id: 'satisfaction-test', channel: 'sms', reason: 'test',
        churn_probability: 0.1, lifecycle_stage: 'account_management', tier: 'silver', triggered_by_tx_id: 'tx-1', kind: 'survey',
        created_at: created, expires_at: new Date(Date.parse(created) + 3 * DAY).toISOString(), survey: { scale: 'csat5', question: 'How satisfied are you? (1–5)' },
      };
      const parsed = parseSurveyTrigger(t)!;
      if ([0, 0.25, 0.5, 0.75, 1].every((s) => decideSurveyAnswer(parsed, bank.options.seed, s).answers)) survey = t;
    }
    await jetstream(nc).publish('offers.sms', JSON.stringify(survey), { msgID: String(survey.offer_id) });
    const summary = await feeding;

    expect(summary.stoppedBy).toBe('exhausted');
    expect(summary.seconds).toBeLessThan(60); // 12 simulated days: the answer came within them, not hours of wall clock later
    expect(summary.surveys).toMatchObject({ surveys: 1, answered: 1, pending: 0 });
    const mine = arrivals.get(customer)!;
    const answer = mine.find((a) => a.path === '/v1/feedback')!;
    expect((answer.body as unknown as FeedbackV1).offer_id).toBe(survey.offer_id);
    // Stamped with the wall clock after the survey was sent, and with the customer's events in order around it.
    expect(answer.occurred_at > created).toBe(true);
    expect(Date.parse(answer.occurred_at)).toBeLessThanOrEqual(Date.now());
    const stamps = mine.map((a) => a.occurred_at);
    expect([...stamps].sort()).toEqual(stamps);
    expect(stamps.indexOf(answer.occurred_at)).toBeGreaterThan(0);
  }, 90_000);
});
