import { describe, expect, it } from 'vitest';
import {
  brierScore, calibrationError, calibrationTable, evaluate, logLoss, precisionAtTop, rocAuc,
} from '../../training/metrics.js';

describe('rocAuc', () => {
  it('matches the hand count of ordered pairs', () => {
    // Pairs (pos, neg): (0.35, 0.1) ✓ (0.35, 0.4) ✗ (0.8, 0.1) ✓ (0.8, 0.4) ✓ → 3/4.
    expect(rocAuc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])).toBeCloseTo(0.75, 12);
  });

  it('counts ties as one half', () => {
    // Pairs: (0.5, 0.5) ½, (0.5, 0.2) 1, (0.9, 0.5) 1, (0.9, 0.2) 1 → 3.5/4.
    expect(rocAuc([0, 1, 0, 1], [0.5, 0.5, 0.2, 0.9])).toBeCloseTo(0.875, 12);
    expect(rocAuc([0, 1, 1, 0, 1], [0.3, 0.3, 0.3, 0.3, 0.3])).toBeCloseTo(0.5, 12);
  });

  it('is 1 for a perfect ranking, 0 for a reversed one, NaN with one class', () => {
    expect(rocAuc([0, 0, 1], [0.1, 0.2, 0.3])).toBe(1);
    expect(rocAuc([1, 1, 0], [0.1, 0.2, 0.3])).toBe(0);
    expect(rocAuc([1, 1], [0.1, 0.2])).toBeNaN();
  });
});

describe('precisionAtTop', () => {
  it('takes ceil(10 %) of the rows', () => {
    const p = Array.from({ length: 20 }, (_, i) => i / 20);
    const y = Array.from({ length: 20 }, (_, i) => (i === 19 ? 1 : 0));
    expect(precisionAtTop(y, p)).toBe(0.5); // k = 2: rows 19 (hit) and 18 (miss)
    expect(precisionAtTop(y, p, 0.05)).toBe(1); // k = 1
    expect(precisionAtTop([1, 0, 0], [0.9, 0.1, 0.2])).toBe(1); // k = ceil(0.3) = 1
  });

  it('counts rows tied at the cut in proportion', () => {
    // k = 2: 0.9 (hit) is above the cut; one more of the three 0.8 rows, of which one is a hit.
    const p = [0.9, 0.8, 0.8, 0.8, ...Array<number>(16).fill(0.1)];
    const y = [1, 1, 0, 0, ...Array<number>(16).fill(0)];
    expect(precisionAtTop(y, p)).toBeCloseTo((1 + 1 / 3) / 2, 12);
  });
});

describe('calibration and scores', () => {
  const y = [0, 1, 1, 1];
  const p = [0.1, 0.2, 0.7, 0.9];

  it('cuts sorted predictions into equal bins', () => {
    const t = calibrationTable(y, p, 2);
    expect(t).toHaveLength(2);
    expect(t[0]).toMatchObject({ bin: 0, count: 2, minPredicted: 0.1, maxPredicted: 0.2, observedRate: 0.5 });
    expect(t[0]!.meanPredicted).toBeCloseTo(0.15, 12);
    expect(t[1]).toMatchObject({ bin: 1, count: 2, minPredicted: 0.7, maxPredicted: 0.9, observedRate: 1 });
    expect(t[1]!.meanPredicted).toBeCloseTo(0.8, 12);
    expect(calibrationError(t)).toBeCloseTo(0.5 * 0.35 + 0.5 * 0.2, 12);
  });

  it('makes deciles and skips empty bins', () => {
    const n = 95;
    const pp = Array.from({ length: n }, (_, i) => (i + 0.5) / n);
    const t = calibrationTable(pp.map((v) => (v > 0.5 ? 1 : 0)), pp);
    expect(t.map((b) => b.count).reduce((a, b) => a + b, 0)).toBe(n);
    expect(t).toHaveLength(10);
    expect(calibrationTable([1, 0], [0.2, 0.8])).toHaveLength(2);
  });

  it('computes Brier score and log loss', () => {
    expect(brierScore(y, p)).toBeCloseTo((0.01 + 0.64 + 0.09 + 0.01) / 4, 12);
    expect(logLoss(y, p)).toBeCloseTo(-(Math.log(0.9) + Math.log(0.2) + Math.log(0.7) + Math.log(0.9)) / 4, 12);
    expect(Number.isFinite(logLoss([1], [0]))).toBe(true);
  });

  it('summarises everything', () => {
    const s = evaluate(y, p);
    expect(s).toMatchObject({ n: 4, positives: 3, baseRate: 0.75, rocAuc: 1, precisionAtTopDecile: 1 });
    expect(s.liftAtTopDecile).toBeCloseTo(1 / 0.75, 12);
    expect(s.calibration).toHaveLength(4);
    expect(() => evaluate([1], [0.1, 0.2])).toThrow(/1 labels but 2 predictions/);
  });
});
