// The simulator's oracle: the churn law that travels with the ground truth reproduces the simulator's
// own churn rates, ranks churners above stayers, and its transcription matches the draw's distribution.
import { describe, expect, it } from 'vitest';
import { createBank } from '../../simulator/mod.js';
import { rocAuc } from '../../training/metrics.js';
import { churnCdf, oracleProbability } from '../../training/oracle.js';

const DAY = 86_400_000;

describe('simulator oracle', () => {
  const bank = createBank({ seed: 9, customers: 6000, days: 540, start: new Date('2025-01-01T00:00:00Z') });
  const truth = bank.truth();

  it('predicts the churn rate of customers still there, observation after observation, and ranks them', () => {
    const start = bank.options.start.getTime();
    for (const offset of [120, 240, 360]) {
      const at = start + offset * DAY;
      const p: number[] = [];
      const y: number[] = [];
      for (const t of truth.values()) {
        const opened = Date.parse(t.opened_at);
        const churn = t.churn_at ? Date.parse(t.churn_at) : Infinity;
        const back = t.reactivated_at ? Date.parse(t.reactivated_at) : Infinity;
        if (opened > at || (churn <= at && !(back <= at))) continue;
        p.push(oracleProbability(t, at, 90 * DAY)!);
        y.push(churn > at && churn <= at + 90 * DAY ? 1 : 0);
      }
      const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
      const observed = mean(y);
      const predicted = mean(p);
      const se = Math.sqrt((observed * (1 - observed)) / y.length);
      expect(Math.abs(predicted - observed), `at day ${offset}: predicted ${predicted}, observed ${observed} of ${y.length}`).toBeLessThan(4 * se + 0.004);
      expect(rocAuc(y, p)).toBeGreaterThan(0.6);
    }
  });

  it('is a distribution function: 0 at opening, non-decreasing, and the first-year part complete after 365 days', () => {
    const h = { first_year: 0.3, early_share: 0.5, annual: 0.1, established_from: '2026-01-01T00:00:00.000Z' };
    const opened = Date.parse('2025-01-01T00:00:00Z');
    expect(churnCdf(h, opened, opened)).toBe(0);
    let last = 0;
    for (let d = 0; d <= 1500; d += 5) {
      const f = churnCdf(h, opened, opened + d * DAY);
      expect(f).toBeGreaterThanOrEqual(last);
      last = f;
    }
    expect(churnCdf(h, opened, opened + 365 * DAY)).toBeCloseTo(0.3, 12);
    expect(churnCdf(h, opened, opened + 730 * DAY)).toBeCloseTo(0.3 + 0.7 * 0.1, 12);
    expect(oracleProbability({ opened_at: '2025-01-01T00:00:00Z', reactivated_at: '2025-06-01T00:00:00Z', hazard: h }, opened + 200 * DAY, 90 * DAY)).toBe(0);
    expect(oracleProbability({ opened_at: '2025-01-01T00:00:00Z' }, opened, 90 * DAY)).toBeUndefined();
  });
});
