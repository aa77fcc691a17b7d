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
import { item, f64, i32, num } from '../scorer/core/mod.js';
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
export function expectedValues(t: ExplainTree): Float64Array {
  const e = new Float64Array(t.feature.length);
  const visit = (k: number): number => {
    if (num(t.feature, k) < 0) return (e[k] = num(t.value, k));
    const l = visit(num(t.left, k));
    const r = visit(num(t.right, k));
    const cl = num(t.cover, num(t.left, k));
    const cr = num(t.cover, num(t.right, k));
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
function pathContrib(t: ExplainTree, x: Float64Array, phi: Float64Array): void {
  const e = expectedOf(t);
  let k = 0;
  while (num(t.feature, k) >= 0) {
    const f = num(t.feature, k);
    const next = goesLeft(f64(x, f), num(t.threshold, k)) ? num(t.left, k) : num(t.right, k);
    phi[f] = f64(phi, f) + (f64(e, next) - f64(e, k));
    k = next;
  }
}

/**
 * Scratch space of TreeSHAP: one path segment per recursion depth, each a copy of its parent's
 * (the layout of the reference implementation), in typed arrays so a row allocates nothing.
 */
class ShapScratch {
  feat: Int32Array;
  zero: Float64Array;
  one: Float64Array;
  pw: Float64Array;
  constructor(readonly maxDepth: number) {
    const size = ((maxDepth + 2) * (maxDepth + 3)) / 2 + maxDepth + 2;
    this.feat = new Int32Array(size);
    this.zero = new Float64Array(size);
    this.one = new Float64Array(size);
    this.pw = new Float64Array(size);
  }
}

function extendPath(s: ShapScratch, p: number, depth: number, zero: number, one: number, feature: number): void {
  s.feat[p + depth] = feature;
  s.zero[p + depth] = zero;
  s.one[p + depth] = one;
  s.pw[p + depth] = depth === 0 ? 1 : 0;
  for (let i = depth - 1; i >= 0; i--) {
    s.pw[p + i + 1] = f64(s.pw, p + i + 1) + (one * f64(s.pw, p + i) * (i + 1)) / (depth + 1);
    s.pw[p + i] = (zero * f64(s.pw, p + i) * (depth - i)) / (depth + 1);
  }
}

function unwindPath(s: ShapScratch, p: number, depth: number, index: number): void {
  const one = f64(s.one, p + index);
  const zero = f64(s.zero, p + index);
  let next = f64(s.pw, p + depth);
  for (let i = depth - 1; i >= 0; i--) {
    if (one !== 0) {
      const t = f64(s.pw, p + i);
      s.pw[p + i] = (next * (depth + 1)) / ((i + 1) * one);
      next = t - (f64(s.pw, p + i) * zero * (depth - i)) / (depth + 1);
    } else {
      s.pw[p + i] = (f64(s.pw, p + i) * (depth + 1)) / (zero * (depth - i));
    }
  }
  for (let i = index; i < depth; i++) {
    s.feat[p + i] = i32(s.feat, p + i + 1);
    s.zero[p + i] = f64(s.zero, p + i + 1);
    s.one[p + i] = f64(s.one, p + i + 1);
  }
}

function unwoundSum(s: ShapScratch, p: number, depth: number, index: number): number {
  const one = f64(s.one, p + index);
  const zero = f64(s.zero, p + index);
  let next = f64(s.pw, p + depth);
  let total = 0;
  for (let i = depth - 1; i >= 0; i--) {
    if (one !== 0) {
      const t = (next * (depth + 1)) / ((i + 1) * one);
      total += t;
      next = f64(s.pw, p + i) - (t * zero * (depth - i)) / (depth + 1);
    } else {
      total += f64(s.pw, p + i) / zero / ((depth - i) / (depth + 1));
    }
  }
  return total;
}

function depthOf(t: ExplainTree, k = 0): number {
  return num(t.feature, k) < 0 ? 0 : 1 + Math.max(depthOf(t, num(t.left, k)), depthOf(t, num(t.right, k)));
}

const scratchOf = new WeakMap<ExplainTree, ShapScratch>();

/** Exact TreeSHAP of one tree (Lundberg et al. 2018, Algorithm 2), added into `phi`. */
function treeShap(t: ExplainTree, x: Float64Array, phi: Float64Array): void {
  let s = scratchOf.get(t);
  if (!s) scratchOf.set(t, (s = new ShapScratch(depthOf(t))));
  const sc = s;
  const recurse = (j: number, parent: number, depth: number, pz: number, po: number, pi: number): void => {
    const p = parent + depth + 1;
    for (let i = 0; i <= depth; i++) {
      sc.feat[p + i] = i32(sc.feat, parent + i);
      sc.zero[p + i] = f64(sc.zero, parent + i);
      sc.one[p + i] = f64(sc.one, parent + i);
      sc.pw[p + i] = f64(sc.pw, parent + i);
    }
    extendPath(sc, p, depth, pz, po, pi);
    const d = num(t.feature, j);
    if (d < 0) {
      const v = num(t.value, j);
      for (let i = 1; i <= depth; i++) {
        const w = unwoundSum(sc, p, depth, i);
        const f = i32(sc.feat, p + i);
        phi[f] = f64(phi, f) + w * (f64(sc.one, p + i) - f64(sc.zero, p + i)) * v;
      }
      return;
    }
    const left = goesLeft(f64(x, d), num(t.threshold, j));
    const hot = left ? num(t.left, j) : num(t.right, j);
    const cold = left ? num(t.right, j) : num(t.left, j);
    let iz = 1;
    let io = 1;
    let dd = depth;
    for (let k = 1; k <= depth; k++) {
      if (sc.feat[p + k] === d) {
        iz = f64(sc.zero, p + k);
        io = f64(sc.one, p + k);
        unwindPath(sc, p, depth, k);
        dd--;
        break;
      }
    }
    const rj = num(t.cover, j);
    const hz = rj > 0 ? num(t.cover, hot) / rj : 0.5;
    const cz = rj > 0 ? num(t.cover, cold) / rj : 0.5;
    recurse(hot, p, dd + 1, hz * iz, io, d);
    recurse(cold, p, dd + 1, cz * iz, 0, d);
  };
  // As the reference: the root's segment starts at offset 1 and begins with a dummy element (feature -1).
  recurse(0, 0, 0, 1, 1, -1);
}

/**
 * Explains one row: every feature's contribution to the margin, and the top `k` by absolute value.
 * @param values the model's input columns (`explainer.features` order).
 */
export function explain(ex: Explainer, values: ArrayLike<number>, k = 5, method: 'treeshap' | 'path' = 'treeshap'): Explanation {
  const nf = ex.features.length;
  if (values.length < nf) throw new RangeError(`explain: ${nf} features expected, got ${values.length} values`);
  const x = Float64Array.from(values);
  const phi = new Float64Array(nf);
  let bias: number;
  if (ex.kind === 'linear') {
    bias = ex.intercept;
    for (let j = 0; j < nf; j++) phi[j] = (num(ex.coef, j) * (f64(x, j) - num(ex.mean, j))) / num(ex.std, j);
  } else {
    bias = ex.base_score;
    for (const t of ex.trees) {
      bias += f64(expectedOf(t), 0);
      if (method === 'path') pathContrib(t, x, phi);
      else treeShap(t, x, phi);
    }
  }
  let margin = bias;
  for (let j = 0; j < nf; j++) margin += f64(phi, j);
  // Top k by |contribution| (ties: the earlier feature), by selection: k is small.
  const top: Reason[] = [];
  const taken = new Uint8Array(nf);
  for (let q = 0; q < k; q++) {
    let best = -1;
    for (let j = 0; j < nf; j++) if (!taken[j] && phi[j] !== 0 && (best < 0 || Math.abs(f64(phi, j)) > Math.abs(f64(phi, best)))) best = j;
    if (best < 0) break;
    taken[best] = 1;
    top.push({ feature: item(ex.features, best), value: f64(x, best), contribution: f64(phi, best) });
  }
  return { bias, margin, contributions: phi, top };
}

/** The margin the model itself computes for a row (for checks): trees walked, or the linear form. */
export function marginOf(ex: Explainer, values: ArrayLike<number>): number {
  const x = Float64Array.from(values);
  if (ex.kind === 'linear') {
    let m = ex.intercept;
    for (let j = 0; j < ex.features.length; j++) m += (num(ex.coef, j) * (f64(x, j) - num(ex.mean, j))) / num(ex.std, j);
    return m;
  }
  let m = ex.base_score;
  for (const t of ex.trees) {
    let k = 0;
    while (num(t.feature, k) >= 0) k = goesLeft(f64(x, num(t.feature, k)), num(t.threshold, k)) ? num(t.left, k) : num(t.right, k);
    m += num(t.value, k);
  }
  return m;
}
