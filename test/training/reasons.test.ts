// Reasons: per-feature contributions from the trained parameters sum to the margin (trees: TreeSHAP and
// path attribution; linear: coefficient × standardised deviation), TreeSHAP equals brute-force Shapley
// values of the path-dependent expectation, and the top-k are the largest by absolute value.
import { describe, expect, it } from 'vitest';
import { gbtMargins, trainGbt } from '../../training/gbt.js';
import { logregMargins, trainLogreg } from '../../training/logreg.js';
import { explain, explainerOf, marginOf, type ExplainTree } from '../../training/reasons.js';
import { syntheticChurnData, syntheticFeatures } from '../../training/synthetic.js';

const data = syntheticChurnData({ n: 1500, seed: 7, missing: 0.1 });
const nf = syntheticFeatures.length;
const row = (i: number): Float32Array => data.x.subarray(i * nf, (i + 1) * nf);

/** E[f(x) | x_S] under the training cover (Lundberg et al., Algorithm 1). */
function expValue(t: ExplainTree, x: ArrayLike<number>, s: Set<number>): number {
  const g = (j: number): number => {
    const d = t.feature[j]!;
    if (d < 0) return t.value[j]!;
    if (s.has(d)) return x[d]! <= t.threshold[j]! ? g(t.left[j]!) : g(t.right[j]!);
    const l = t.left[j]!;
    const r = t.right[j]!;
    return (g(l) * t.cover[l]! + g(r) * t.cover[r]!) / t.cover[j]!;
  };
  return g(0);
}

/** Exact Shapley values of one tree by enumerating every coalition. */
function bruteShapley(t: ExplainTree, x: ArrayLike<number>, m: number): number[] {
  const fact = (k: number): number => (k <= 1 ? 1 : k * fact(k - 1));
  const phi = new Array<number>(m).fill(0);
  for (let mask = 0; mask < 1 << m; mask++) {
    const s = new Set<number>();
    for (let j = 0; j < m; j++) if (mask & (1 << j)) s.add(j);
    const base = expValue(t, x, s);
    for (let j = 0; j < m; j++) {
      if (s.has(j)) continue;
      const w = (fact(s.size) * fact(m - s.size - 1)) / fact(m);
      phi[j]! += w * (expValue(t, x, new Set([...s, j])) - base);
    }
  }
  return phi;
}

describe('reasons', () => {
  const gbt = trainGbt(data.x, data.y, nf, { nTrees: 20, maxDepth: 4, minSamplesLeaf: 10, subsample: 0.8 });
  const ex = explainerOf(gbt, syntheticFeatures);
  const margins = gbtMargins(gbt, data.x);

  it('trees: TreeSHAP and path contributions sum to the model margin on every row (missing values included)', () => {
    for (let i = 0; i < 300; i++) {
      const x = row(i);
      expect(marginOf(ex, x)).toBeCloseTo(margins[i]!, 9);
      for (const method of ['treeshap', 'path'] as const) {
        const e = explain(ex, x, 3, method);
        expect(e.margin).toBeCloseTo(margins[i]!, 9);
        let sum = e.bias;
        for (const c of e.contributions) sum += c;
        expect(sum).toBeCloseTo(margins[i]!, 9);
      }
    }
  });

  it('trees: TreeSHAP equals brute-force Shapley values of the path-dependent expectation', () => {
    for (const i of [0, 5, 17, 42]) {
      const x = row(i);
      const expected = new Array<number>(nf).fill(0);
      for (const t of ex.kind === 'trees' ? ex.trees : []) bruteShapley(t, x, nf).forEach((v, j) => (expected[j]! += v));
      const got = explain(ex, x, nf).contributions;
      for (let j = 0; j < nf; j++) expect(got[j]!).toBeCloseTo(expected[j]!, 9);
    }
  });

  it('linear: coefficient × standardised deviation, summing to the margin; top-k by absolute value, signed', () => {
    const imputed = Float32Array.from(data.x, (v) => (Number.isNaN(v) ? 0 : v));
    const lr = trainLogreg(imputed, data.y, nf);
    const lex = explainerOf(lr, syntheticFeatures);
    const lm = logregMargins(lr, imputed);
    for (let i = 0; i < 100; i++) {
      const x = imputed.subarray(i * nf, (i + 1) * nf);
      const e = explain(lex, x, 3);
      expect(e.margin).toBeCloseTo(lm[i]!, 9);
      expect(e.top).toHaveLength(3);
      const abs = Array.from(e.contributions, Math.abs).sort((a, b) => b - a);
      expect(e.top.map((r) => Math.abs(r.contribution))).toEqual(abs.slice(0, 3));
      const j = syntheticFeatures.indexOf(e.top[0]!.feature as (typeof syntheticFeatures)[number]);
      expect(e.top[0]!.value).toBe(x[j]);
      expect(e.top[0]!.contribution).toBeCloseTo((lr.coef[j]! * (x[j]! - lr.mean[j]!)) / lr.std[j]!, 12);
    }
  });

  it('a recent, inactive customer is explained by recency pushing churn up', () => {
    const x = Float32Array.from([60, 0, 0, 1000, 0, 0.5, 0.02]);
    const e = explain(ex, x, 3);
    const rec = e.top.find((r) => r.feature === 'recency_days');
    expect(rec?.contribution).toBeGreaterThan(0);
  });
});
