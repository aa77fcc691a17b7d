// The customer_state row's `features` text: every catalogue name, in order, with its number or null.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FEATURE_COUNT, FEATURE_NAMES, featuresJson } from '../../scorer/core/features/engine.js';

describe('featuresJson', () => {
  it('writes each feature once, in catalogue order, as JSON numbers (non-finite as null, -0 as 0)', () => {
    const value = fc.oneof(fc.double(), fc.integer({ min: 0, max: 2_000 }), fc.constantFrom(0, -0, Number.NaN, Infinity, -Infinity, 1e21, 5e-324));
    fc.assert(fc.property(fc.array(value, { minLength: FEATURE_COUNT, maxLength: FEATURE_COUNT }), (values) => {
      const text = featuresJson(values);
      const parsed = JSON.parse(text) as Record<string, number | null>;
      expect(Object.keys(parsed)).toEqual([...FEATURE_NAMES]);
      FEATURE_NAMES.forEach((name, i) => {
        const x = values[i]!;
        expect(parsed[name]).toBe(Number.isFinite(x) ? (x === 0 ? 0 : x) : null);
      });
      expect(text).not.toContain('-0,');
      expect(text).not.toMatch(/[\s]/);
    }), { numRuns: 2_000 });
  });
});
