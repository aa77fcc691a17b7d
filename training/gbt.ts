/**
 * Histogram-based gradient-boosted trees for binary classification with log loss, in the manner of
 * LightGBM / XGBoost's `hist` method, grown depth-wise.
 *
 * Rows are a row-major `Float32Array` (`n × nFeatures`), the layout the scorer feeds to ONNX. Each
 * feature is cut into at most `maxBins` bins whose upper edges are values seen in the data, so every
 * split threshold is a float32 the ONNX `BRANCH_LEQ` test (`x <= threshold`) reproduces exactly. A
 * missing value (NaN) always goes to the right (false) branch, as ONNX does with
 * `nodes_missing_value_tracks_true = 0`.
 *
 * Deterministic: the same data, parameters and seed give the same model.
 */
import { item, f32, f64, i32, num, u16, u32, u8 } from '../scorer/core/mod.js';
import { checkTrainingSet } from './data.js';
import { createRng, sampleIndices } from './random.js';

/** Training parameters; every one has a default. */
export interface GbtParams {
  /** Number of trees (boosting rounds). Default 100. */
  nTrees: number;
  /** Maximum depth of a tree (a depth-1 tree is a stump). Default 4. */
  maxDepth: number;
  /** Shrinkage applied to every leaf value. Default 0.1. */
  learningRate: number;
  /** Fewest training rows a leaf may hold. Default 20. */
  minSamplesLeaf: number;
  /** Smallest sum of hessians a leaf may hold. Default 1e-3. */
  minHessianLeaf: number;
  /** L2 penalty on leaf values (XGBoost's `lambda`). Default 1. */
  l2: number;
  /** Smallest loss reduction a split must bring. Default 0. */
  minGain: number;
  /** Fraction of rows drawn, without replacement, for each tree. Default 1. */
  subsample: number;
  /** Most bins per feature (2–65535). Default 64. */
  maxBins: number;
  /** Seed of the PRNG used for subsampling. Default 1. */
  seed: number;
}

/** Defaults of {@link GbtParams}. */
export const defaultGbtParams: GbtParams = {
  nTrees: 100, maxDepth: 4, learningRate: 0.1, minSamplesLeaf: 20, minHessianLeaf: 1e-3, l2: 1, minGain: 0,
  subsample: 1, maxBins: 64, seed: 1,
};

/**
 * One tree in flat arrays; node 0 is the root. An internal node sends a row to `left[i]` when
 * `x[feature[i]] <= threshold[i]` and to `right[i]` otherwise (NaN included). A leaf has
 * `feature[i] = -1` and adds `value[i]` (learning rate already applied) to the margin.
 */
export interface GbtTree {
  feature: Int32Array;
  threshold: Float32Array;
  left: Int32Array;
  right: Int32Array;
  value: Float64Array;
  /** Training rows that reached each node (the ONNX `nodes_hitrates` hint). */
  count: Float64Array;
}

/** A trained ensemble: `P(y = 1 | x) = sigmoid(baseScore + Σ tree leaf values)`. */
export interface GbtModel {
  kind: 'gbt';
  nFeatures: number;
  /** Initial margin: the log-odds of the training base rate. */
  baseScore: number;
  trees: GbtTree[];
  params: GbtParams;
  /** Total loss reduction of the splits on each feature. */
  gainByFeature: Float64Array;
}

interface Binned {
  /** Column-major bin index per row and feature; NaN gets `edges[f].length`. */
  bins: Uint16Array;
  /** Ascending upper bin edges per feature. */
  edges: Float32Array[];
}

function binFeatures(x: Float32Array, n: number, nf: number, maxBins: number): Binned {
  const bins = new Uint16Array(n * nf);
  const edges: Float32Array[] = [];
  for (let f = 0; f < nf; f++) {
    const vals: number[] = [];
    for (let i = 0; i < n; i++) {
      const v = f32(x, i * nf + f);
      if (!Number.isNaN(v)) vals.push(v);
    }
    const sorted = Float32Array.from(vals).sort();
    const unique: number[] = [];
    for (const v of sorted) if (unique.length === 0 || unique[unique.length - 1] !== v) unique.push(v);
    let e: number[];
    if (unique.length <= maxBins) {
      e = unique;
    } else {
      e = [];
      for (let q = 1; q <= maxBins; q++) {
        const v = f32(sorted, Math.max(0, Math.floor((q * sorted.length) / maxBins) - 1));
        if (e.length === 0 || num(e, e.length - 1) < v) e.push(v);
      }
      if (e[e.length - 1] !== unique[unique.length - 1]) e.push(num(unique, unique.length - 1));
    }
    const fe = Float32Array.from(e);
    edges.push(fe);
    for (let i = 0; i < n; i++) bins[f * n + i] = binOf(fe, f32(x, i * nf + f));
  }
  return { bins, edges };
}

function binOf(edges: Float32Array, v: number): number {
  if (Number.isNaN(v)) return edges.length;
  let lo = 0;
  let hi = edges.length - 1;
  if (edges.length === 0 || v > f32(edges, hi)) return edges.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (v <= f32(edges, mid)) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

const sigmoid = (z: number): number => 1 / (1 + Math.exp(-z));

interface Split { feature: number; bin: number; gain: number }

interface GrowState {
  binned: Binned;
  n: number;
  nf: number;
  grad: Float64Array;
  hess: Float64Array;
  p: GbtParams;
  gainByFeature: Float64Array;
  nodes: { feature: number[]; bin: number[]; threshold: number[]; left: number[]; right: number[]; value: number[]; count: number[] };
}

function findSplit(s: GrowState, idx: Uint32Array, gSum: number, hSum: number): Split | undefined {
  const { binned, n, grad, hess, p } = s;
  const parentScore = (gSum * gSum) / (hSum + p.l2);
  let best: Split | undefined;
  for (let f = 0; f < binned.edges.length; f++) {
    const nb = item(binned.edges, f).length;
    if (nb === 0) continue;
    const hg = new Float64Array(nb + 1);
    const hh = new Float64Array(nb + 1);
    const hc = new Uint32Array(nb + 1);
    const base = f * n;
    for (const i of idx) {
      const b = u16(binned.bins, base + i);
      hg[b] = f64(hg, b) + f64(grad, i);
      hh[b] = f64(hh, b) + f64(hess, i);
      hc[b] = u32(hc, b) + 1;
    }
    let gl = 0;
    let hl = 0;
    let cl = 0;
    for (let b = 0; b < nb; b++) {
      gl += f64(hg, b);
      hl += f64(hh, b);
      cl += u32(hc, b);
      const cr = idx.length - cl;
      if (cl < p.minSamplesLeaf) continue;
      if (cr < p.minSamplesLeaf) break;
      const hr = hSum - hl;
      if (hl < p.minHessianLeaf || hr < p.minHessianLeaf) continue;
      const gr = gSum - gl;
      const gain = (gl * gl) / (hl + p.l2) + (gr * gr) / (hr + p.l2) - parentScore;
      if (gain > p.minGain && (!best || gain > best.gain)) best = { feature: f, bin: b, gain };
    }
  }
  return best;
}

function grow(s: GrowState, idx: Uint32Array, depth: number): number {
  const { nodes, grad, hess, p, binned, n } = s;
  let gSum = 0;
  let hSum = 0;
  for (const i of idx) {
    gSum += f64(grad, i);
    hSum += f64(hess, i);
  }
  const id = nodes.feature.length;
  nodes.feature.push(-1);
  nodes.bin.push(-1);
  nodes.threshold.push(0);
  nodes.left.push(-1);
  nodes.right.push(-1);
  nodes.value.push((-gSum / (hSum + p.l2)) * p.learningRate);
  nodes.count.push(idx.length);
  if (depth >= p.maxDepth || idx.length < 2 * p.minSamplesLeaf) return id;
  const split = findSplit(s, idx, gSum, hSum);
  if (!split) return id;
  const base = split.feature * n;
  let nl = 0;
  for (const i of idx) if (u16(binned.bins, base + i) <= split.bin) nl++;
  const li = new Uint32Array(nl);
  const ri = new Uint32Array(idx.length - nl);
  let a = 0;
  let b = 0;
  for (const i of idx) {
    if (u16(binned.bins, base + i) <= split.bin) li[a++] = i;
    else ri[b++] = i;
  }
  s.gainByFeature[split.feature] = f64(s.gainByFeature, split.feature) + split.gain;
  nodes.feature[id] = split.feature;
  nodes.bin[id] = split.bin;
  nodes.threshold[id] = f32(item(binned.edges, split.feature), split.bin);
  nodes.value[id] = 0;
  nodes.left[id] = grow(s, li, depth + 1);
  nodes.right[id] = grow(s, ri, depth + 1);
  return id;
}

function checkParams(p: GbtParams): void {
  const bad = (cond: boolean, msg: string): void => {
    if (cond) throw new RangeError(`gbt: ${msg}`);
  };
  bad(!Number.isInteger(p.nTrees) || p.nTrees < 1, `nTrees must be an integer ≥ 1, got ${p.nTrees}`);
  bad(!Number.isInteger(p.maxDepth) || p.maxDepth < 1, `maxDepth must be an integer ≥ 1, got ${p.maxDepth}`);
  bad(!(p.learningRate > 0), `learningRate must be > 0, got ${p.learningRate}`);
  bad(!Number.isInteger(p.minSamplesLeaf) || p.minSamplesLeaf < 1, `minSamplesLeaf must be an integer ≥ 1, got ${p.minSamplesLeaf}`);
  bad(!(p.l2 >= 0), `l2 must be ≥ 0, got ${p.l2}`);
  bad(!(p.subsample > 0 && p.subsample <= 1), `subsample must be in (0, 1], got ${p.subsample}`);
  bad(!Number.isInteger(p.maxBins) || p.maxBins < 2 || p.maxBins > 65535, `maxBins must be an integer in 2..65535, got ${p.maxBins}`);
}

/**
 * Trains a binary classifier.
 * @param x row-major features, `y.length × nFeatures` values; NaN marks a missing value.
 * @param y labels, 0 or 1.
 */
export function trainGbt(x: Float32Array, y: ArrayLike<number>, nFeatures: number, params: Partial<GbtParams> = {}): GbtModel {
  const p: GbtParams = { ...defaultGbtParams, ...params };
  checkParams(p);
  const labels = checkTrainingSet(x, y, nFeatures, 'gbt');
  const n = labels.length;
  const binned = binFeatures(x, n, nFeatures, p.maxBins);
  let pos = 0;
  for (let i = 0; i < n; i++) pos += u8(labels, i);
  const baseScore = Math.log(pos / (n - pos));
  const margin = new Float64Array(n).fill(baseScore);
  const grad = new Float64Array(n);
  const hess = new Float64Array(n);
  const rng = createRng(p.seed);
  const all = Uint32Array.from({ length: n }, (_, i) => i);
  const take = Math.max(1, Math.round(n * p.subsample));
  const trees: GbtTree[] = [];
  const gainByFeature = new Float64Array(nFeatures);
  for (let t = 0; t < p.nTrees; t++) {
    for (let i = 0; i < n; i++) {
      const pr = sigmoid(f64(margin, i));
      grad[i] = pr - u8(labels, i);
      hess[i] = Math.max(pr * (1 - pr), 1e-16);
    }
    const idx = take < n ? sampleIndices(n, take, rng) : all;
    const nodes: GrowState['nodes'] = { feature: [], bin: [], threshold: [], left: [], right: [], value: [], count: [] };
    grow({ binned, n, nf: nFeatures, grad, hess, p, nodes, gainByFeature }, idx, 0);
    const tree: GbtTree = {
      feature: Int32Array.from(nodes.feature), threshold: Float32Array.from(nodes.threshold),
      left: Int32Array.from(nodes.left), right: Int32Array.from(nodes.right),
      value: Float64Array.from(nodes.value), count: Float64Array.from(nodes.count),
    };
    trees.push(tree);
    for (let i = 0; i < n; i++) {
      let k = 0;
      while (i32(tree.feature, k) >= 0) {
        k = u16(binned.bins, i32(tree.feature, k) * n + i) <= num(nodes.bin, k) ? i32(tree.left, k) : i32(tree.right, k);
      }
      margin[i] = f64(margin, i) + f64(tree.value, k);
    }
  }
  return { kind: 'gbt', nFeatures, baseScore, trees, params: p, gainByFeature };
}

/** The leaf a row reaches in a tree. */
export function leafOf(tree: GbtTree, x: Float32Array, offset: number): number {
  let k = 0;
  while (i32(tree.feature, k) >= 0) {
    k = f32(x, offset + i32(tree.feature, k)) <= f32(tree.threshold, k) ? i32(tree.left, k) : i32(tree.right, k);
  }
  return k;
}

/** Raw margins (log-odds) of `n` row-major rows. */
export function gbtMargins(model: GbtModel, x: Float32Array, n = x.length / model.nFeatures): Float64Array {
  const out = new Float64Array(n).fill(model.baseScore);
  for (const tree of model.trees) {
    for (let i = 0; i < n; i++) out[i] = f64(out, i) + f64(tree.value, leafOf(tree, x, i * model.nFeatures));
  }
  return out;
}

/** `P(y = 1)` for `n` row-major rows. */
export function gbtPredict(model: GbtModel, x: Float32Array, n = x.length / model.nFeatures): Float64Array {
  return gbtMargins(model, x, n).map(sigmoid);
}
