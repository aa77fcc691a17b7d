/**
 * Evaluation metrics of a binary churn classifier. Pure functions of labels (0/1) and predicted
 * probabilities of the positive class.
 */

import { f64 } from '../scorer/core/mod.js';

/** Labels and predictions, one per row, as arrays of the same length. */
interface Columns {
  ys: Float64Array;
  ps: Float64Array;
}

function columns(y: ArrayLike<number>, p: ArrayLike<number>): Columns {
  if (y.length !== p.length) throw new RangeError(`metrics: ${y.length} labels but ${p.length} predictions`);
  return { ys: Float64Array.from(y), ps: Float64Array.from(p) };
}

/** The rows in ascending order of prediction; equal predictions keep row order. */
function ordered(y: ArrayLike<number>, p: ArrayLike<number>): Columns {
  const { ys, ps } = columns(y, p);
  const order = Uint32Array.from({ length: ps.length }, (_, i) => i).sort((a, b) => f64(ps, a) - f64(ps, b) || a - b);
  return { ys: Float64Array.from(order, (i) => f64(ys, i)), ps: Float64Array.from(order, (i) => f64(ps, i)) };
}

/**
 * Area under the ROC curve: the probability that a random positive scores above a random negative,
 * ties counted as one half (Mann–Whitney U with mid-ranks). NaN when a class is absent.
 */
export function rocAuc(y: ArrayLike<number>, p: ArrayLike<number>): number {
  const { ys, ps } = ordered(y, p);
  const n = ys.length;
  let pos = 0;
  let rankSum = 0;
  for (let start = 0; start < n;) {
    let end = start;
    while (end + 1 < n && ps[end + 1] === ps[start]) end++;
    const midRank = (start + end) / 2 + 1;
    for (let k = start; k <= end; k++) {
      if (ys[k] === 1) {
        pos++;
        rankSum += midRank;
      }
    }
    start = end + 1;
  }
  const neg = n - pos;
  if (pos === 0 || neg === 0) return NaN;
  return (rankSum - (pos * (pos + 1)) / 2) / (pos * neg);
}

/**
 * Precision among the `ceil(fraction × n)` highest predictions (default: the top decile). Rows tied
 * with the last one taken count in proportion, i.e. the expected precision under a random tie-break.
 */
export function precisionAtTop(y: ArrayLike<number>, p: ArrayLike<number>, fraction = 0.1): number {
  const { ys, ps } = columns(y, p);
  const n = ys.length;
  if (!(fraction > 0 && fraction <= 1)) throw new RangeError(`metrics: fraction must be in (0, 1], got ${fraction}`);
  if (n === 0) return NaN;
  const k = Math.ceil(fraction * n);
  const cut = f64(ordered(ys, ps).ps, n - k);
  let above = 0;
  let hitsAbove = 0;
  let tied = 0;
  let hitsTied = 0;
  for (let i = 0; i < n; i++) {
    const pi = f64(ps, i);
    if (pi > cut) {
      above++;
      hitsAbove += f64(ys, i);
    } else if (pi === cut) {
      tied++;
      hitsTied += f64(ys, i);
    }
  }
  return (hitsAbove + ((k - above) / tied) * hitsTied) / k;
}

/** One bin of a calibration table. */
export interface CalibrationBin {
  /** 0-based bin, in ascending order of prediction. */
  bin: number;
  count: number;
  minPredicted: number;
  maxPredicted: number;
  meanPredicted: number;
  /** Share of positives in the bin. */
  observedRate: number;
}

/**
 * Calibration table: rows sorted by prediction and cut into `bins` groups of (nearly) equal size
 * (deciles by default); each bin compares the mean prediction with the observed positive rate.
 */
export function calibrationTable(y: ArrayLike<number>, p: ArrayLike<number>, bins = 10): CalibrationBin[] {
  const { ys, ps } = ordered(y, p);
  const n = ys.length;
  const out: CalibrationBin[] = [];
  for (let b = 0; b < bins; b++) {
    const lo = Math.floor((b * n) / bins);
    const hi = Math.floor(((b + 1) * n) / bins);
    if (hi <= lo) continue;
    let sumP = 0;
    let sumY = 0;
    for (let k = lo; k < hi; k++) {
      sumP += f64(ps, k);
      sumY += f64(ys, k);
    }
    out.push({
      bin: b, count: hi - lo, minPredicted: f64(ps, lo), maxPredicted: f64(ps, hi - 1),
      meanPredicted: sumP / (hi - lo), observedRate: sumY / (hi - lo),
    });
  }
  return out;
}

/** Expected calibration error: the count-weighted mean |mean predicted − observed rate| over the bins. */
export function calibrationError(table: readonly CalibrationBin[]): number {
  let n = 0;
  let sum = 0;
  for (const b of table) {
    n += b.count;
    sum += b.count * Math.abs(b.meanPredicted - b.observedRate);
  }
  return n === 0 ? NaN : sum / n;
}

/** Brier score: the mean squared difference between prediction and label. */
export function brierScore(y: ArrayLike<number>, p: ArrayLike<number>): number {
  const { ys, ps } = columns(y, p);
  const n = ys.length;
  let s = 0;
  for (let i = 0; i < n; i++) s += (f64(ps, i) - f64(ys, i)) ** 2;
  return n === 0 ? NaN : s / n;
}

/** Mean log loss, with predictions clipped to [1e-15, 1 − 1e-15]. */
export function logLoss(y: ArrayLike<number>, p: ArrayLike<number>): number {
  const { ys, ps } = columns(y, p);
  const n = ys.length;
  let s = 0;
  for (let i = 0; i < n; i++) {
    const q = Math.min(1 - 1e-15, Math.max(1e-15, f64(ps, i)));
    s -= ys[i] === 1 ? Math.log(q) : Math.log(1 - q);
  }
  return n === 0 ? NaN : s / n;
}

/** Every metric of one evaluation set. */
export interface MetricsSummary {
  n: number;
  positives: number;
  baseRate: number;
  rocAuc: number;
  precisionAtTopDecile: number;
  /** Precision at the top decile over the base rate. */
  liftAtTopDecile: number;
  brier: number;
  logLoss: number;
  calibrationError: number;
  calibration: CalibrationBin[];
}

/** Computes {@link MetricsSummary} for labels and predictions. */
export function evaluate(y: ArrayLike<number>, p: ArrayLike<number>): MetricsSummary {
  const { ys } = columns(y, p);
  const n = ys.length;
  let positives = 0;
  for (const label of ys) positives += label;
  const baseRate = positives / n;
  const calibration = calibrationTable(y, p);
  const precision = precisionAtTop(y, p, 0.1);
  return {
    n, positives, baseRate, rocAuc: rocAuc(y, p), precisionAtTopDecile: precision, liftAtTopDecile: precision / baseRate,
    brier: brierScore(y, p), logLoss: logLoss(y, p), calibrationError: calibrationError(calibration), calibration,
  };
}
