/**
 * Probability calibration stored in the manifest (`calibration`) and applied by the model loader to
 * every P(churn) the model returns, so that a served 0.2 means about 20 % of such customers leave.
 *
 * - `{ "method": "platt", "a": 1.1, "b": -0.3 }`: `p' = sigmoid(a · logit(p) + b)` (Platt scaling on the
 *   model's log-odds; `a = 1, b = 0` is the identity).
 * - `{ "method": "isotonic", "x": [...], "y": [...] }`: a non-decreasing step-free curve: `p'` is the linear
 *   interpolation of `y` at `p` between the knots `x` (ascending), constant beyond the ends.
 *
 * Fitting ({@link fitPlatt}, {@link fitIsotonic}) is for the trainer; use rows the model was not fitted
 * on (the trainer holds out a calibration slice of its training rows).
 */

import { item, f64, num } from '../scorer/core/mod.js';

export type Calibration =
  | { method: 'platt'; a: number; b: number }
  | { method: 'isotonic'; x: number[]; y: number[] };

const EPS = 1e-7;
const logit = (p: number): number => {
  const q = Math.min(1 - EPS, Math.max(EPS, p));
  return Math.log(q / (1 - q));
};
const sigmoid = (z: number): number => 1 / (1 + Math.exp(-z));

/** Problems of a calibration (empty when valid or absent). */
export function calibrationProblems(c: Calibration | undefined): string[] {
  if (!c) return [];
  if (c.method === 'platt') {
    return Number.isFinite(c.a) && Number.isFinite(c.b) ? [] : ['calibration: a and b must be finite numbers'];
  }
  const problems: string[] = [];
  if (c.x.length !== c.y.length) problems.push(`calibration: x has ${c.x.length} knots but y ${c.y.length}`);
  for (let i = 1; i < c.x.length; i++) {
    if (!(num(c.x, i) > num(c.x, i - 1))) {
      problems.push(`calibration.x[${i}]: must be greater than x[${i - 1}] (knots ascending)`);
      break;
    }
  }
  for (let i = 1; i < c.y.length; i++) {
    if (num(c.y, i) < num(c.y, i - 1)) {
      problems.push(`calibration.y[${i}]: must not be below y[${i - 1}] (isotonic: non-decreasing)`);
      break;
    }
  }
  return problems;
}

/** A function applying a calibration to one probability. */
export function calibrator(c: Calibration): (p: number) => number {
  if (c.method === 'platt') {
    const { a, b } = c;
    return (p) => (Number.isNaN(p) ? p : sigmoid(a * logit(p) + b));
  }
  const x = Float64Array.from(c.x);
  const y = Float64Array.from(c.y);
  const last = x.length - 1;
  return (p) => {
    if (Number.isNaN(p)) return p;
    if (p <= f64(x, 0)) return f64(y, 0);
    if (p >= f64(x, last)) return f64(y, last);
    let lo = 0;
    let hi = last;
    while (hi - lo > 1) {
      const mid = (lo + hi) >>> 1;
      if (f64(x, mid) <= p) lo = mid;
      else hi = mid;
    }
    const t = (p - f64(x, lo)) / (f64(x, hi) - f64(x, lo));
    return f64(y, lo) + t * (f64(y, hi) - f64(y, lo));
  };
}

/** Applies a calibration to every value, in place. */
export function calibrateInPlace(c: Calibration, p: Float32Array | Float64Array): void {
  const f = calibrator(c);
  p.forEach((v, i) => {
    p[i] = f(v);
  });
}

/**
 * Fits Platt scaling on log-odds by Newton's method (maximum likelihood, with Platt's target
 * smoothing `(N₊ + 1) / (N₊ + 2)` and `1 / (N₋ + 2)` against overfitting a small slice).
 */
export function fitPlatt(y: ArrayLike<number>, p: ArrayLike<number>): Calibration {
  const ys = Float64Array.from(y);
  const ps = Float64Array.from(p);
  const n = ys.length;
  let pos = 0;
  for (const label of ys) pos += label;
  const hiT = (pos + 1) / (pos + 2);
  const loT = 1 / (n - pos + 2);
  const z = Float64Array.from({ length: n }, (_, i) => logit(f64(ps, i)));
  const loss = (a: number, b: number): number => {
    let l = 0;
    for (let i = 0; i < n; i++) {
      const m = a * f64(z, i) + b;
      const t = y[i] ? hiT : loT;
      // −[t·log σ(m) + (1 − t)·log(1 − σ(m))], written without overflow.
      l += (m > 0 ? m + Math.log1p(Math.exp(-m)) : Math.log1p(Math.exp(m))) - t * m;
    }
    return l;
  };
  let a = 1;
  let b = 0;
  let current = loss(a, b);
  for (let it = 0; it < 100; it++) {
    let ga = 0, gb = 0, haa = 0, hab = 0, hbb = 0;
    for (let i = 0; i < n; i++) {
      const zi = f64(z, i);
      const q = sigmoid(a * zi + b);
      const t = y[i] ? hiT : loT;
      const r = q - t;
      const w = Math.max(q * (1 - q), 1e-12);
      ga += r * zi;
      gb += r;
      haa += w * zi * zi;
      hab += w * zi;
      hbb += w;
    }
    haa += 1e-9;
    hbb += 1e-9;
    const det = haa * hbb - hab * hab;
    if (!(Math.abs(det) > 0)) break;
    const da = (hbb * ga - hab * gb) / det;
    const db = (haa * gb - hab * ga) / det;
    // Backtracking: halve the Newton step until the loss does not rise.
    let step = 1;
    let next = loss(a - da, b - db);
    while (next > current && step > 1e-6) {
      step /= 2;
      next = loss(a - step * da, b - step * db);
    }
    if (next > current) break;
    a -= step * da;
    b -= step * db;
    const moved = Math.max(Math.abs(step * da), Math.abs(step * db));
    current = next;
    if (moved < 1e-10) break;
  }
  return { method: 'platt', a, b };
}

/**
 * Fits isotonic regression by pool-adjacent-violators; the knots are the block means of p, the values
 * the block rates (at most `maxKnots` knots, merging neighbours by weight when there are more).
 */
export function fitIsotonic(y: ArrayLike<number>, p: ArrayLike<number>, maxKnots = 200): Calibration {
  const ys = Float64Array.from(y);
  const ps = Float64Array.from(p);
  const order = Array.from({ length: ys.length }, (_, i) => i).sort((i, j) => f64(ps, i) - f64(ps, j));
  const blocks: Block[] = [];
  for (const i of order) {
    let cur: Block = { x: f64(ps, i), y: f64(ys, i), w: 1 };
    for (let prev = blocks.at(-1); prev !== undefined && prev.y >= cur.y; prev = blocks.at(-1)) {
      blocks.pop();
      const w = prev.w + cur.w;
      cur = { x: (prev.x * prev.w + cur.x * cur.w) / w, y: (prev.y * prev.w + cur.y * cur.w) / w, w };
    }
    blocks.push(cur);
  }
  // Merge neighbours until few enough knots (keeps monotonicity: averages of non-decreasing neighbours).
  while (blocks.length > maxKnots) {
    let best = 0;
    const pairWeight = (k: number): number => item(blocks, k).w + item(blocks, k + 1).w;
    for (let k = 1; k < blocks.length - 1; k++) if (pairWeight(k) < pairWeight(best)) best = k;
    const l = item(blocks, best);
    const r = item(blocks, best + 1);
    const w = l.w + r.w;
    blocks.splice(best, 2, { x: (l.x * l.w + r.x * r.w) / w, y: (l.y * l.w + r.y * r.w) / w, w });
  }
  // Knots must ascend strictly: drop a knot equal to the previous one.
  const knots: { x: number; y: number }[] = [];
  for (const b of blocks) {
    const prev = knots.at(-1);
    if (prev && !(b.x > prev.x)) {
      prev.y = Math.max(prev.y, b.y);
      continue;
    }
    knots.push({ x: b.x, y: b.y });
  }
  return { method: 'isotonic', x: knots.map((k) => k.x), y: knots.map((k) => k.y) };
}

/** A block of pool-adjacent-violators: the mean prediction and rate of `w` rows. */
interface Block {
  x: number;
  y: number;
  w: number;
}
