/**
 * Reasons with every score: signed per-feature contributions to a model's margin (log-odds), from the
 * trained parameters that `vafa train` writes next to the model (`<name>.explain.json`, named by the
 * manifest's `explain`).
 *
 * - Tree ensembles: exact TreeSHAP (Lundberg, Erion & Lee 2018, Algorithm 2, path-dependent: the
 *   training cover of each node weighs the branches a feature outside the coalition may take), or the
 *   cheaper path attribution (`method: 'path'`, Saabas: each split on the row's path credits its
 *   feature with the change of the expected value). Both are exact decompositions:
 *   `bias + Σ contributions = margin`, with `bias = base score + Σ trees' expected value`.
 * - Linear (logistic regression): `coef_j · (x_j − mean_j) / std_j`, `bias = intercept`.
 *
 * Contributions are in the model's units (log-odds of churn, before any calibration), for the model's
 * input columns as the scorer feeds them (after the manifest's mapping, before its scaling). A missing
 * value (NaN) takes the branch the model sends it to (the right, "false" branch).
 */
import type { GbtModel } from './gbt.js';
import type { LogregModel } from './logreg.js';

/** Format tag of the sidecar. */
export const EXPLAIN_FORMAT = 'vafa.explain/v1';

export interface ExplainTree {
  /** Split feature per node; -1 at a leaf. */
  feature: number[];
  threshold: number[];
  left: number[];
  right: number[];
  /** Leaf values (margin units); 0 at internal nodes. */
  value: number[];
  /** Training rows that reached each node. */
  cover: number[];
}

/** The sidecar: what a pure function needs to explain a score. */
export type Explainer =
  | { format: typeof EXPLAIN_FORMAT; kind: 'trees'; features: string[]; base_score: number; trees: ExplainTree[] }
  | { format: typeof EXPLAIN_FORMAT; kind: 'linear'; features: string[]; intercept: number; coef: number[]; mean: number[]; std: number[] };

/** One reason: a feature, its value and its signed contribution to the margin. */
export interface Reason {
  feature: string;
  value: number;
  contribution: number;
}

export interface Explanation {
  /** The expected margin (what every row starts from). */
  bias: number;
  /** The row's margin: `bias + Σ contributions` over all features. */
  margin: number;
  /** Every feature's contribution, in feature order. */
  contributions: Float64Array;
  /** The `k` largest by absolute value, largest first. */
  top: Reason[];
}

/** Builds the sidecar of a model the trainers made. */
export function explainerOf(model: GbtModel | LogregModel, features: readonly string[]): Explainer {
  if (model.kind === 'logreg') {
    return {
      format: EXPLAIN_FORMAT, kind: 'linear', features: [...features], intercept: model.intercept,
      coef: Array.from(model.coef), mean: Array.from(model.mean), std: Array.from(model.std),
    };
  }
  return {
    format: EXPLAIN_FORMAT, kind: 'trees', features: [...features], base_score: model.baseScore,
    trees: model.trees.map((t) => ({
      feature: Array.from(t.feature), threshold: Array.from(t.threshold), left: Array.from(t.left), right: Array.from(t.right),
      value: Array.from(t.value), cover: Array.from(t.count),
    })),
  };
}

/** Expected value of every node under the training cover (leaves: their value). */
function expectedValues(t: ExplainTree): Float64Array {
  const e = new Float64Array(t.feature.length);
  const visit = (k: number): number => {
    if (t.feature[k]! < 0) return (e[k] = t.value[k]!);
    const l = visit(t.left[k]!);
    const r = visit(t.right[k]!);
    const cl = t.cover[t.left[k]!]!;
    const cr = t.cover[t.right[k]!]!;
    return (e[k] = cl + cr > 0 ? (cl * l + cr * r) / (cl + cr) : (l + r) / 2);
  };
  visit(0);
  return e;
}

const expectedCache = new WeakMap<ExplainTree, Float64Array>();
function expectedOf(t: ExplainTree): Float64Array {
  let e = expectedCache.get(t);
  if (!e) expectedCache.set(t, (e = expectedValues(t)));
  return e;
}

const goesLeft = (x: number, threshold: number): boolean => x <= threshold; // NaN: false → right

/** Path attribution of one tree, added into `phi`. */
function pathContrib(t: ExplainTree, x: ArrayLike<number>, phi: Float64Array): void {
  const e = expectedOf(t);
  let k = 0;
  while (t.feature[k]! >= 0) {
    const f = t.feature[k]!;
    const next = goesLeft(x[f]!, t.threshold[k]!) ? t.left[k]! : t.right[k]!;
    phi[f]! += e[next]! - e[k]!;
    k = next;
  }
}

interface PathEl { d: number; z: number; o: number; w: number }

function extend(m: PathEl[], pz: number, po: number, pi: number): PathEl[] {
  const l = m.length;
  const out = m.map((e) => ({ ...e }));
  out.push({ d: pi, z: pz, o: po, w: l === 0 ? 1 : 0 });
  for (let i = l - 1; i >= 0; i--) {
    out[i + 1]!.w += (po * out[i]!.w * (i + 1)) / (l + 1);
    out[i]!.w = (pz * out[i]!.w * (l - i)) / (l + 1);
  }
  return out;
}

function unwind(m: PathEl[], i: number): PathEl[] {
  const l = m.length - 1;
  const out = m.map((e) => ({ ...e }));
  let n = out[l]!.w;
  const { o, z } = out[i]!;
  for (let j = l - 1; j >= 0; j--) {
    if (o !== 0) {
      const t = out[j]!.w;
      out[j]!.w = (n * (l + 1)) / ((j + 1) * o);
      n = t - (out[j]!.w * z * (l - j)) / (l + 1);
    } else {
      out[j]!.w = (out[j]!.w * (l + 1)) / (z * (l - j));
    }
  }
  for (let j = i; j < l; j++) {
    out[j]!.d = out[j + 1]!.d;
    out[j]!.z = out[j + 1]!.z;
    out[j]!.o = out[j + 1]!.o;
  }
  out.pop();
  return out;
}

/** Exact TreeSHAP of one tree, added into `phi`. */
function treeShap(t: ExplainTree, x: ArrayLike<number>, phi: Float64Array): void {
  const recurse = (j: number, m0: PathEl[], pz: number, po: number, pi: number): void => {
    const m = extend(m0, pz, po, pi);
    const d = t.feature[j]!;
    if (d < 0) {
      for (let i = 1; i < m.length; i++) {
        const u = unwind(m, i);
        let w = 0;
        for (const e of u) w += e.w;
        phi[m[i]!.d]! += w * (m[i]!.o - m[i]!.z) * t.value[j]!;
      }
      return;
    }
    const left = goesLeft(x[d]!, t.threshold[j]!);
    const hot = left ? t.left[j]! : t.right[j]!;
    const cold = left ? t.right[j]! : t.left[j]!;
    let iz = 1;
    let io = 1;
    let path = m;
    const k = m.findIndex((e, q) => q > 0 && e.d === d);
    if (k > 0) {
      iz = m[k]!.z;
      io = m[k]!.o;
      path = unwind(m, k);
    }
    const rj = t.cover[j]!;
    const frac = (c: number): number => (rj > 0 ? t.cover[c]! / rj : 0.5);
    recurse(hot, path, iz * frac(hot), io, d);
    recurse(cold, path, iz * frac(cold), 0, d);
  };
  recurse(0, [], 1, 1, -1);
}

/**
 * Explains one row: every feature's contribution to the margin, and the top `k` by absolute value.
 * @param x the model's input columns (`explainer.features` order).
 */
export function explain(ex: Explainer, x: ArrayLike<number>, k = 5, method: 'treeshap' | 'path' = 'treeshap'): Explanation {
  const nf = ex.features.length;
  if (x.length < nf) throw new RangeError(`explain: ${nf} features expected, got ${x.length} values`);
  const phi = new Float64Array(nf);
  let bias: number;
  if (ex.kind === 'linear') {
    bias = ex.intercept;
    for (let j = 0; j < nf; j++) phi[j] = (ex.coef[j]! * (x[j]! - ex.mean[j]!)) / ex.std[j]!;
  } else {
    bias = ex.base_score;
    for (const t of ex.trees) {
      bias += expectedOf(t)[0]!;
      if (method === 'path') pathContrib(t, x, phi);
      else treeShap(t, x, phi);
    }
  }
  let margin = bias;
  for (let j = 0; j < nf; j++) margin += phi[j]!;
  const order = Array.from({ length: nf }, (_, j) => j).sort((a, b) => Math.abs(phi[b]!) - Math.abs(phi[a]!) || a - b);
  const top = order.slice(0, Math.max(0, k)).filter((j) => phi[j] !== 0)
    .map((j) => ({ feature: ex.features[j]!, value: x[j]!, contribution: phi[j]! }));
  return { bias, margin, contributions: phi, top };
}

/** The margin the model itself computes for a row (for checks): trees walked, or the linear form. */
export function marginOf(ex: Explainer, x: ArrayLike<number>): number {
  if (ex.kind === 'linear') {
    let m = ex.intercept;
    for (let j = 0; j < ex.features.length; j++) m += (ex.coef[j]! * (x[j]! - ex.mean[j]!)) / ex.std[j]!;
    return m;
  }
  let m = ex.base_score;
  for (const t of ex.trees) {
    let k = 0;
    while (t.feature[k]! >= 0) k = goesLeft(x[t.feature[k]!]!, t.threshold[k]!) ? t.left[k]! : t.right[k]!;
    m += t.value[k]!;
  }
  return m;
}
