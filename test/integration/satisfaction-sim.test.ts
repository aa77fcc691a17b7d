/**
 * Issue 9's acceptance on simulator data: the simulator's customers complain, get resolutions, compliment
 * and answer the bank's surveys, and answer vafa's own survey triggers (read from OFFERS) — through the
 * real stack, every satisfaction view returns rows, and the survey campaigns measure response rate and
 * score from the closed loop.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitForDrain } from '../../app/drain.js';
import { FEEDBACK_VIEWS } from '../../sinks/clickhouse/feedback-views.js';
import { SURVEY_VIEWS } from '../../sinks/clickhouse/survey-views.js';
import { createBank, runFeeder, type FeederSummary } from '../../simulator/mod.js';
import { queryRows, startTestStack, type TestStack } from '../support/stack.js';

let stack: TestStack;
let fed: FeederSummary;

beforeAll(async () => {
  stack = await startTestStack();
  // 2025-02-01 start: customers opening in the span pass their first month (the first-month survey).
  const bank = createBank({ seed: 19, customers: 300, start: new Date('2025-02-01T00:00:00Z'), days: 90, feedback: 15 });
  fed = await runFeeder({
    target: stack.apiUrl!, bank, rate: 700, maxEvents: 9000, batchSize: 100, concurrency: 2, respond: { natsUrl: stack.natsUrl },
  });
  expect(await waitForDrain(stack, 60_000)).toBe(true);
}, 180_000);
afterAll(async () => {
  await stack?.destroy();
});

describe('on simulator data', () => {
  it('feedback of every kind is stored, the survey loop closes, and every satisfaction view returns rows', async () => {
    expect(fed.failed).toBe(0);
    expect(fed.invalid).toBe(0);
    const kinds = await queryRows<{ kind: string; n: number }>(stack, 'SELECT kind, count() n FROM vafa.feedback FINAL GROUP BY kind ORDER BY kind');
    expect(kinds.map((k) => k.kind)).toEqual(['complaint', 'compliment', 'resolution', 'survey']);
    for (const k of kinds) expect(Number(k.n), k.kind).toBeGreaterThan(0);

    // vafa asked (surveys on OFFERS), the simulated customers answered, the answers converted.
    expect(fed.surveys?.surveys ?? 0).toBeGreaterThan(0);
    expect(fed.surveys?.answered ?? 0).toBeGreaterThan(0);
    const answered = await queryRows<{ sent: number; responses: number }>(stack,
      'SELECT count() sent, countIf(responded) responses FROM vafa.v_survey_outcomes');
    expect(Number(answered[0]!.sent)).toBeGreaterThan(0);
    expect(Number(answered[0]!.responses)).toBeGreaterThan(0);
    expect(Number(answered[0]!.responses)).toBeLessThan(Number(answered[0]!.sent));

    for (const v of [...FEEDBACK_VIEWS, ...SURVEY_VIEWS]) {
      const rows = await queryRows(stack, `SELECT * FROM vafa.${v.name} LIMIT 5`);
      expect(rows.length, v.name).toBeGreaterThan(0);
    }
    // Complainers against the others: both groups are there.
    const churn = await queryRows<{ complained: number }>(stack, 'SELECT complained FROM vafa.v_churn_by_complaint ORDER BY complained');
    expect(churn.map((r) => Number(r.complained))).toEqual([0, 1]);
    // Complaints moved their customers: someone was in intensive care for an open complaint.
    const cared = await queryRows(stack, `SELECT 1 FROM vafa.lifecycle_transitions FINAL WHERE to_stage = 'intensive_care' LIMIT 1`);
    expect(cared.length).toBe(1);
  });
});
