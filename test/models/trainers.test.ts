import { describe, expect, it } from 'vitest';
import { timeSplit } from '../../training/data.js';
import { gbtPredict, leafOf, trainGbt } from '../../training/gbt.js';
import { logregPredict, trainLogreg } from '../../training/logreg.js';
import { logLoss } from '../../training/metrics.js';
import { createRng, sampleIndices } from '../../training/random.js';
import { syntheticChurnData } from '../../training/synthetic.js';

const sigmoid = (z: number): number => 1 / (1 + Math.exp(-z));

describe('gradient-boosted trees', () => {
  it('finds the hand-computed stump', () => {
    // x = 0..99, y = 1 from 50 on: base margin log(50/50) = 0, so p = 0.5, g = p − y = ±0.5, h = 0.25.
    // Left: G = 50·0.5 = 25, H = 12.5 → value = −25 / (12.5 + λ=1) · lr=0.1.
    const x = Float32Array.from({ length: 100 }, (_, i) => i);
    const y = Uint8Array.from({ length: 100 }, (_, i) => (i >= 50 ? 1 : 0));
    const m = trainGbt(x, y, 1, { nTrees: 1, maxDepth: 1, minSamplesLeaf: 1, maxBins: 255 });
    const t = m.trees[0]!;
    expect(m.baseScore).toBe(0);
    expect(Array.from(t.feature)).toEqual([0, -1, -1]);
    expect(t.threshold[0]).toBe(49);
    expect(t.value[t.left[0]!]).toBeCloseTo((-25 / 13.5) * 0.1, 12);
    expect(t.value[t.right[0]!]).toBeCloseTo((25 / 13.5) * 0.1, 12);
    expect(gbtPredict(m, Float32Array.of(49.5))[0]).toBeCloseTo(sigmoid((25 / 13.5) * 0.1), 12);
  });

  it('bins into quantiles whose edges are data values', () => {
    const x = Float32Array.from({ length: 1000 }, (_, i) => Math.fround(i * 0.37));
    const y = Uint8Array.from({ length: 1000 }, (_, i) => (i % 7 < 3 ? 1 : 0));
    const m = trainGbt(x, y, 1, { nTrees: 5, maxBins: 16, minSamplesLeaf: 5 });
    const values = new Set(x);
    for (const t of m.trees) for (let k = 0; k < t.feature.length; k++) if (t.feature[k]! >= 0) expect(values.has(t.threshold[k]!)).toBe(true);
  });

  const data = syntheticChurnData({ n: 3000, seed: 11, missing: 0.1 });
  const nf = data.features.length;

  it('is deterministic for a seed and uses the seed when subsampling', () => {
    const a = trainGbt(data.x, data.y, nf, { nTrees: 10, subsample: 0.7, seed: 3 });
    const b = trainGbt(data.x, data.y, nf, { nTrees: 10, subsample: 0.7, seed: 3 });
    const c = trainGbt(data.x, data.y, nf, { nTrees: 10, subsample: 0.7, seed: 4 });
    expect(gbtPredict(a, data.x)).toEqual(gbtPredict(b, data.x));
    expect(gbtPredict(a, data.x)).not.toEqual(gbtPredict(c, data.x));
    expect(a.trees[0]!.count[0]).toBe(2100);
  });

  it('respects depth and leaf size, lowers the training loss, sends NaN right', () => {
    const m = trainGbt(data.x, data.y, nf, { nTrees: 30, maxDepth: 3, minSamplesLeaf: 40 });
    for (const t of m.trees) {
      const depth = (k: number): number => (t.feature[k]! < 0 ? 0 : 1 + Math.max(depth(t.left[k]!), depth(t.right[k]!)));
      expect(depth(0)).toBeLessThanOrEqual(3);
      for (let k = 0; k < t.feature.length; k++) if (t.feature[k]! < 0) expect(t.count[k]).toBeGreaterThanOrEqual(40);
    }
    const base = logLoss(data.y, new Float64Array(data.y.length).fill(sigmoid(m.baseScore)));
    expect(logLoss(data.y, gbtPredict(m, data.x))).toBeLessThan(base - 0.02);
    const nan = new Float32Array(nf).fill(NaN);
    const inf = new Float32Array(nf).fill(Infinity);
    for (const t of m.trees) expect(leafOf(t, nan, 0)).toBe(leafOf(t, inf, 0));
  });

  it('refuses bad parameters and single-class data', () => {
    expect(() => trainGbt(data.x, data.y, nf, { subsample: 0 })).toThrow(/subsample must be in \(0, 1\]/);
    expect(() => trainGbt(data.x, data.y, nf, { maxDepth: 0 })).toThrow(/maxDepth/);
    expect(() => trainGbt(Float32Array.of(1, 2), Uint8Array.of(1, 1), 1)).toThrow(/only one class/);
    expect(() => trainGbt(Float32Array.of(1, 2, 3), Uint8Array.of(0, 1), 1)).toThrow(/x holds 3 values, expected 2 rows/);
  });
});

describe('logistic regression', () => {
  it('solves the hand-derived two-point case', () => {
    // z = x (mean 0, std 1); by symmetry b = 0, and ∂/∂w = w − 2·sigmoid(−w) = 0.
    let lo = 0;
    let hi = 2;
    for (let i = 0; i < 100; i++) {
      const mid = (lo + hi) / 2;
      if (mid - 2 * sigmoid(-mid) > 0) hi = mid;
      else lo = mid;
    }
    const m = trainLogreg(Float32Array.of(-1, 1), Uint8Array.of(0, 1), 1, { l2: 1 });
    expect(m.intercept).toBeCloseTo(0, 10);
    expect(m.coef[0]).toBeCloseTo(lo, 10);
  });

  it('gives a constant feature no weight and the intercept the base rate', () => {
    const x = Float32Array.of(5, 5, 5, 5, 5);
    const m = trainLogreg(x, Uint8Array.of(1, 0, 0, 0, 1), 1);
    expect(m.coef[0]).toBe(0);
    expect(logregPredict(m, x)[0]).toBeCloseTo(0.4, 10);
  });

  it('reaches the optimum: the penalised gradient vanishes', () => {
    const data = syntheticChurnData({ n: 2000, seed: 5 });
    const nf = data.features.length;
    const m = trainLogreg(data.x, data.y, nf, { l2: 3 });
    const p = logregPredict(m, data.x);
    const grad = new Float64Array(nf + 1);
    for (let i = 0; i < p.length; i++) {
      const r = p[i]! - data.y[i]!;
      for (let j = 0; j < nf; j++) grad[j]! += (r * (data.x[i * nf + j]! - m.mean[j]!)) / m.std[j]!;
      grad[nf]! += r;
    }
    for (let j = 0; j < nf; j++) grad[j]! += 3 * m.coef[j]!;
    for (const g of grad) expect(Math.abs(g)).toBeLessThan(1e-6);
    expect(m.iterations).toBeLessThan(20);
  });

  it('refuses missing values', () => {
    expect(() => trainLogreg(Float32Array.of(1, NaN), Uint8Array.of(0, 1), 1)).toThrow(/row 1, feature 0 is NaN/);
  });
});

describe('helpers', () => {
  it('samples distinct sorted indices reproducibly', () => {
    const a = sampleIndices(100, 30, createRng(9));
    expect(a).toEqual(sampleIndices(100, 30, createRng(9)));
    expect(new Set(a).size).toBe(30);
    expect(Array.from(a)).toEqual(Array.from(a).sort((u, v) => u - v));
  });

  it('splits by time', () => {
    const data = syntheticChurnData({ n: 1000, seed: 2 });
    const { train, test, cutoff } = timeSplit(data, { fraction: 0.2 });
    expect(train.y.length + test.y.length).toBe(1000);
    expect(Math.max(...train.time)).toBeLessThan(cutoff);
    expect(Math.min(...test.time)).toBeGreaterThanOrEqual(cutoff);
    expect(test.y.length).toBeGreaterThan(150);
  });
});
