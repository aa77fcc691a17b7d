// The simulator's oracle: the churn process that travels with the ground truth reproduces the simulator's
// own churn rates, ranks churners above stayers, and reads nothing that happens after the cut-off.
import { describe, expect, it } from 'vitest';
import { createBank } from '../../simulator/mod.js';
import { rocAuc } from '../../training/metrics.js';
import { DRIFT_DAYS, type ShockKind } from '../../simulator/mod.js';
import { oracleProbability, type ChurnHazard } from '../../training/oracle.js';

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
      expect(rocAuc(y, p)).toBeGreaterThan(0.85);
    }
  });

  it('reads only what had happened by the cut-off: later shocks and a later drift change nothing', () => {
    const opened = '2024-01-01T00:00:00.000Z';
    const at = Date.parse('2025-06-01T00:00:00Z');
    const iso = (days: number): string => new Date(at + days * DAY).toISOString();
    const law = (shocks: { kind: ShockKind; at: string; size: number; days: number }[], driftAt?: string): ChurnHazard => ({
      law: 'vafa.churn/v2', base: 0.02, fee_exposure: 1, shocks, ...(driftAt ? { drift_at: driftAt } : {}),
    });
    const quiet = oracleProbability({ opened_at: opened, hazard: law([]) }, at, 90 * DAY)!;
    expect(quiet).toBeGreaterThan(0);
    expect(quiet).toBeLessThan(0.05);
    const future = law([{ kind: 'incident', at: iso(10), size: 80, days: 60 }], iso(20));
    expect(oracleProbability({ opened_at: opened, hazard: future }, at, 90 * DAY)).toBe(quiet);
    const shocked = oracleProbability({ opened_at: opened, hazard: law([{ kind: 'incident', at: iso(-5), size: 80, days: 60 }]) }, at, 90 * DAY)!;
    expect(shocked).toBeGreaterThan(5 * quiet);
    // Drifting for 100 days: every drift of a settled customer ends within 150 days, so within the horizon.
    expect(oracleProbability({ opened_at: opened, hazard: law([], iso(-100)) }, at, 90 * DAY)).toBe(1);
    const justBegun = oracleProbability({ opened_at: opened, hazard: law([], iso(0)) }, at, 90 * DAY)!;
    expect(justBegun).toBeCloseTo((90 - DRIFT_DAYS[0]) / (DRIFT_DAYS[1] - DRIFT_DAYS[0]), 6);
    expect(oracleProbability({ opened_at: opened, reactivated_at: iso(-1), hazard: law([], iso(-100)) }, at, 90 * DAY)).toBe(0);
    expect(oracleProbability({ opened_at: opened }, at, 90 * DAY)).toBeUndefined();
  });
});
