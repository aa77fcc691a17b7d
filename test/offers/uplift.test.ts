/**
 * Uplift: the pure function against published values, and measured uplift from the pure core with a
 * responder model (customers offered X pay a first bill with probability q_treated, or q_holdout in the
 * holdout) matching the simulated effect within its confidence interval.
 */
import { describe, expect, it } from 'vitest';
import { uplift, wilson } from '../../scorer/core/offers/uplift.js';
import { campaignCounts, runResponders } from './responders.js';

describe('uplift()', () => {
  it("matches Newcombe (1998)'s worked example 56/70 vs 48/80 (hybrid score 0.0524 to 0.3339; Wald 0.0575 to 0.3425)", () => {
    const u = uplift({ n: 70, x: 56 }, { n: 80, x: 48 })!;
    expect(u.uplift).toBeCloseTo(0.2, 10);
    expect(u.newcombe.lo).toBeCloseTo(0.0524, 4);
    expect(u.newcombe.hi).toBeCloseTo(0.3339, 4);
    expect(u.wald.lo).toBeCloseTo(0.0575, 4);
    expect(u.wald.hi).toBeCloseTo(0.3425, 4);
  });

  it('is undefined for an empty group and bounded for extreme rates', () => {
    expect(uplift({ n: 0, x: 0 }, { n: 5, x: 1 })).toBeUndefined();
    const u = uplift({ n: 10, x: 10 }, { n: 10, x: 0 })!;
    expect(u.uplift).toBe(1);
    expect(u.newcombe.hi).toBeLessThanOrEqual(1);
    expect(u.newcombe.lo).toBeGreaterThan(0.5);
    expect(wilson(0, 10).lo).toBe(0);
  });
});

describe('measured uplift with a responder model', () => {
  for (const seed of [1, 2]) {
    it(`recovers the simulated effect within its 95 % interval (seed ${seed})`, () => {
      const run = runResponders({ seed, customers: 2000, qTreated: 0.35, qHoldout: 0.2 });
      const { treated, holdout } = campaignCounts(run, 'onboarding');
      expect(treated.n + holdout.n).toBe(2000); // one decision per new customer
      expect(holdout.n / 2000).toBeGreaterThan(0.25);
      expect(holdout.n / 2000).toBeLessThan(0.35);
      const u = uplift(treated, holdout)!;
      expect(u.newcombe.lo).toBeLessThanOrEqual(0.15);
      expect(u.newcombe.hi).toBeGreaterThanOrEqual(0.15);
      expect(u.newcombe.lo).toBeGreaterThan(0); // and the effect is detected
    });
  }

  it('finds no uplift where there is none (A/A)', () => {
    const run = runResponders({ seed: 3, customers: 2000, qTreated: 0.25, qHoldout: 0.25 });
    const u = uplift(...Object.values(campaignCounts(run, 'onboarding')) as [never, never])!;
    expect(u.newcombe.lo).toBeLessThanOrEqual(0);
    expect(u.newcombe.hi).toBeGreaterThanOrEqual(0);
  });
});
