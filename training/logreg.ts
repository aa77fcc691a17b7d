/**
 * L2-regularised logistic regression on standardised inputs, fitted by Newton's method with a
 * backtracking line search (the objective is strictly convex when `l2 > 0`, so it converges to the
 * unique optimum in a handful of steps).
 *
 * Objective, over standardised features `z = (x − mean) / std` (population std; a constant feature
 * gets std 1 and weight 0):
 *   Σᵢ logloss(yᵢ, sigmoid(b + w·zᵢ)) + (l2 / 2)·‖w‖²     (the intercept b is not penalised)
 * which is scikit-learn's `LogisticRegression(C = 1 / l2)` on standardised data.
 */
import { f32, f64, u8 } from '../scorer/core/mod.js';
import { checkTrainingSet } from './data.js';

/** Training parameters; every one has a default. */
export interface LogregParams {
  /** L2 penalty on the standardised weights. Default 1. */
  l2: number;
  /** Most Newton iterations. Default 100. */
  maxIter: number;
  /** Stop when the largest parameter change is below this. Default 1e-10. */
  tol: number;
}

/** Defaults of {@link LogregParams}. */
export const defaultLogregParams: LogregParams = { l2: 1, maxIter: 100, tol: 1e-10 };

/** A fitted model: `P(y = 1 | x) = sigmoid(intercept + Σⱼ coef[j]·(x[j] − mean[j]) / std[j])`. */
export interface LogregModel {
  kind: 'logreg';
  nFeatures: number;
  mean: Float64Array;
  std: Float64Array;
  /** Weights on the standardised features. */
  coef: Float64Array;
  intercept: number;
  params: LogregParams;
  /** Newton iterations used. */
  iterations: number;
}

const sigmoid = (z: number): number => 1 / (1 + Math.exp(-z));

/** log(1 + e^z) without overflow. */
const softplus = (z: number): number => (z > 0 ? z + Math.log1p(Math.exp(-z)) : Math.log1p(Math.exp(z)));

/** Solves `A·x = b` for a symmetric positive-definite `A` (row-major d×d) by Cholesky. */
export function solveSpd(a: Float64Array, b: Float64Array, d: number): Float64Array {
  const l = new Float64Array(d * d);
  for (let i = 0; i < d; i++) {
    for (let j = 0; j <= i; j++) {
      let s = f64(a, i * d + j);
      for (let k = 0; k < j; k++) s -= f64(l, i * d + k) * f64(l, j * d + k);
      if (i === j) {
        if (!(s > 0)) throw new Error('logreg: Hessian is not positive definite (is l2 0 with separable data?)');
        l[i * d + i] = Math.sqrt(s);
      } else {
        l[i * d + j] = s / f64(l, j * d + j);
      }
    }
  }
  const y = new Float64Array(d);
  for (let i = 0; i < d; i++) {
    let s = f64(b, i);
    for (let k = 0; k < i; k++) s -= f64(l, i * d + k) * f64(y, k);
    y[i] = s / f64(l, i * d + i);
  }
  const x = new Float64Array(d);
  for (let i = d - 1; i >= 0; i--) {
    let s = f64(y, i);
    for (let k = i + 1; k < d; k++) s -= f64(l, k * d + i) * f64(x, k);
    x[i] = s / f64(l, i * d + i);
  }
  return x;
}

/**
 * Fits the model.
 * @param x row-major features, `y.length × nFeatures` values, no NaN (impute first).
 * @param y labels, 0 or 1.
 */
export function trainLogreg(x: Float32Array, y: ArrayLike<number>, nFeatures: number, params: Partial<LogregParams> = {}): LogregModel {
  const p: LogregParams = { ...defaultLogregParams, ...params };
  if (!(p.l2 >= 0)) throw new RangeError(`logreg: l2 must be ≥ 0, got ${p.l2}`);
  const labels = checkTrainingSet(x, y, nFeatures, 'logreg');
  const n = labels.length;
  const nf = nFeatures;
  const { mean, std } = standardisation(x, n, nf);
  const d = nf + 1;
  const z = standardisedDesign(x, n, nf, mean, std);
  const theta = new Float64Array(d);
  const pos = labels.reduce((sum, label) => sum + label, 0);
  theta[nf] = Math.log(pos / (n - pos));

  const objective = (t: Float64Array): number => penalisedLoss(z, labels, t, n, nf, p.l2);

  let iterations = 0;
  let current = objective(theta);
  for (; iterations < p.maxIter; iterations++) {
    const { grad, hess } = newtonSystem(z, labels, theta, n, nf, p.l2);
    const step = solveSpd(hess, grad, d);
    let t = 1;
    let next = theta;
    let value = current;
    for (let tries = 0; tries < 40; tries++) {
      const cand = theta.map((v, j) => v - t * f64(step, j));
      value = objective(cand);
      if (value <= current) {
        next = cand;
        break;
      }
      t /= 2;
    }
    let change = 0;
    for (let j = 0; j < d; j++) change = Math.max(change, Math.abs(f64(next, j) - f64(theta, j)));
    theta.set(next);
    current = value;
    if (change < p.tol) {
      iterations++;
      break;
    }
  }
  return {
    kind: 'logreg', nFeatures: nf, mean, std, coef: theta.slice(0, nf), intercept: f64(theta, nf), params: p, iterations,
  };
}

/** Each feature's mean and standard deviation (1 for a constant feature); a NaN is refused. */
function standardisation(x: Float32Array, n: number, nf: number): { mean: Float64Array; std: Float64Array } {
  const mean = new Float64Array(nf);
  const std = new Float64Array(nf);
  for (let i = 0; i < n; i++) {
    for (let f = 0; f < nf; f++) {
      const v = f32(x, i * nf + f);
      if (Number.isNaN(v)) throw new RangeError(`logreg: row ${i}, feature ${f} is NaN; impute missing values before training`);
      mean[f] = f64(mean, f) + v;
    }
  }
  for (let f = 0; f < nf; f++) mean[f] = f64(mean, f) / n;
  for (let i = 0; i < n; i++) for (let f = 0; f < nf; f++) std[f] = f64(std, f) + ((f32(x, i * nf + f) - f64(mean, f)) ** 2);
  for (let f = 0; f < nf; f++) {
    const s = Math.sqrt(f64(std, f) / n);
    std[f] = s > 1e-12 ? s : 1;
  }
  return { mean, std };
}

/** The standardised design, row-major, `nf + 1` columns: the intercept is the last. */
function standardisedDesign(x: Float32Array, n: number, nf: number, mean: Float64Array, std: Float64Array): Float64Array {
  const d = nf + 1;
  const z = new Float64Array(n * d);
  for (let i = 0; i < n; i++) {
    for (let f = 0; f < nf; f++) z[i * d + f] = (f32(x, i * nf + f) - f64(mean, f)) / f64(std, f);
    z[i * d + nf] = 1;
  }
  return z;
}

/** Log loss of the coefficients `t` plus the L2 penalty on all but the intercept. */
function penalisedLoss(z: Float64Array, labels: Uint8Array, t: Float64Array, n: number, nf: number, l2: number): number {
  const d = nf + 1;
  let loss = 0;
  for (let i = 0; i < n; i++) {
    let m = 0;
    for (let j = 0; j < d; j++) m += f64(z, i * d + j) * f64(t, j);
    loss += softplus(m) - u8(labels, i) * m;
  }
  let pen = 0;
  for (let j = 0; j < nf; j++) pen += f64(t, j) * f64(t, j);
  return loss + 0.5 * l2 * pen;
}

/** Gradient and Hessian of the penalised loss at `theta` (the Hessian full, symmetric, `d × d`). */
function newtonSystem(z: Float64Array, labels: Uint8Array, theta: Float64Array, n: number, nf: number, l2: number): { grad: Float64Array; hess: Float64Array } {
  const d = nf + 1;
  const grad = new Float64Array(d);
  const hess = new Float64Array(d * d);
  for (let i = 0; i < n; i++) {
    let m = 0;
    for (let j = 0; j < d; j++) m += f64(z, i * d + j) * f64(theta, j);
    const pr = sigmoid(m);
    const r = pr - u8(labels, i);
    const w = Math.max(pr * (1 - pr), 1e-12);
    for (let j = 0; j < d; j++) {
      const zj = f64(z, i * d + j);
      grad[j] = f64(grad, j) + (r * zj);
      for (let k = 0; k <= j; k++) hess[j * d + k] = f64(hess, j * d + k) + (w * zj * f64(z, i * d + k));
    }
  }
  for (let j = 0; j < d; j++) for (let k = 0; k < j; k++) hess[k * d + j] = f64(hess, j * d + k);
  for (let j = 0; j < nf; j++) {
    grad[j] = f64(grad, j) + (l2 * f64(theta, j));
    hess[j * d + j] = f64(hess, j * d + j) + l2;
  }
  return { grad, hess };
}

/** Raw margins (log-odds) of `n` row-major rows. */
export function logregMargins(model: LogregModel, x: Float32Array, n = x.length / model.nFeatures): Float64Array {
  const nf = model.nFeatures;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let m = model.intercept;
    for (let f = 0; f < nf; f++) m += (f64(model.coef, f) * (f32(x, i * nf + f) - f64(model.mean, f))) / f64(model.std, f);
    out[i] = m;
  }
  return out;
}

/** `P(y = 1)` for `n` row-major rows. */
export function logregPredict(model: LogregModel, x: Float32Array, n = x.length / model.nFeatures): Float64Array {
  return logregMargins(model, x, n).map(sigmoid);
}
