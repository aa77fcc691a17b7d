/**
 * The bank calendar of the configured rules file reaches the reporting views and `/v1/leaderboard`
 * through the running stack (not the shipped Tehran calendar), and a reload with another
 * `bank_time_offset` / `week_starts` re-creates the views.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { makeTx, postJson, queryRows, startTestStack, waitFor, type TestStack } from '../support/stack.js';

const SHIPPED = readFileSync(path.resolve(import.meta.dirname, '../../config/loyalty-rules.yaml'), 'utf8');
/** The shipped policy with another calendar. */
const withCalendar = (version: string, offset: string, weekStarts: string): string => {
  const text = SHIPPED.replace('version: "2026.07"', `version: "${version}"`)
    .replace('bank_time_offset: "+03:30"', `bank_time_offset: "${offset}"`)
    .replace('week_starts: sat', `week_starts: ${weekStarts}`);
  if (!text.includes(`bank_time_offset: "${offset}"`) || !text.includes(`week_starts: ${weekStarts}`)) throw new Error('the shipped rules file changed shape: update this test');
  return text;
};

// 03:30 UTC on Monday 1 June 2026 is 22:30 on Sunday 31 May at -05:00 (07:00 on Monday in Tehran).
const LATE_SUNDAY = '2026-06-01T03:30:00Z';
let stack: TestStack;
let rulesPath: string;

beforeAll(async () => {
  rulesPath = path.join(mkdtempSync(path.join(os.tmpdir(), 'vafa-calendar-')), 'rules.yaml');
  writeFileSync(rulesPath, withCalendar('cal-1', '-05:00', 'mon'));
  stack = await startTestStack({ overrides: { rulesPath, rulesWatchMs: 200 } });
}, 60_000);
afterAll(async () => {
  await stack?.destroy();
});

interface Board { period_start: string; rows: { customer_id: string; points: number }[] }
const board = async (period: string): Promise<Board> => {
  const r = await fetch(`${stack.apiUrl}/v1/leaderboard?period=${period}&at=${encodeURIComponent(LATE_SUNDAY)}`);
  expect(r.status).toBe(200);
  return await r.json() as Board;
};

describe('the configured bank calendar in the running stack', () => {
  it('cuts the leaderboard periods with the rules file calendar, and follows a reload that changes it', async () => {
    const tx = makeTx(1, 'CAL-1', { channel: 'pos', amount_minor: 5_000_000, occurred_at: LATE_SUNDAY });
    expect((await postJson(`${stack.apiUrl}/v1/transactions`, tx)).status).toBe(202);
    const day = await waitFor(async () => {
      const b = await board('day');
      return b.rows.some((r) => r.customer_id === 'CAL-1' && r.points > 0) ? b : undefined;
    }, 30_000, 'the earning on the leaderboard');
    expect(day.period_start).toBe('2026-05-31');
    expect((await board('week')).period_start).toBe('2026-05-25');
    expect((await board('month')).period_start).toBe('2026-05-01');
    expect((await board('month')).rows.map((r) => r.customer_id)).toContain('CAL-1');
    expect(await queryRows(stack, 'SELECT offset_min, week_start FROM vafa.v_bank_calendar')).toEqual([{ offset_min: -300, week_start: 1 }]);

    // +01:00, weeks from Sunday: the same instant is 04:30 on Monday 1 June, in the week of Sunday 31 May
    writeFileSync(rulesPath, withCalendar('cal-2', '+01:00', 'sun'));
    await waitFor(async () => (await board('week')).period_start === '2026-05-31', 30_000, 'the views re-created for the reloaded calendar');
    expect((await board('week')).rows.map((r) => r.customer_id)).toContain('CAL-1');
    const after = await board('day');
    expect(after.period_start).toBe('2026-06-01');
    expect(after.rows.map((r) => r.customer_id)).toContain('CAL-1');
    expect(await queryRows(stack, 'SELECT offset_min, week_start FROM vafa.v_bank_calendar')).toEqual([{ offset_min: 60, week_start: 0 }]);
  }, 90_000);
});
