/**
 * Evaluation metrics of a binary churn classifier. Pure functions of labels (0/1) and predicted
 * probabilities of the positive class.
 */

function check(y: ArrayLike<number>, p: ArrayLike<number>): number {
  if (y.length !== p.length) throw new RangeError(`metrics: ${y.length} labels but ${p.length} predictions`);
  return y.length;
}

/** Row indices ordered by ascending prediction; equal predictions keep row order. */
function orderBy(p: ArrayLike<number>): Uint32Array {
  return Uint32Array.from({ length: p.length }, (_, i) => i).sort((a, b) => p[a]! - p[b]! || a - b);
}

/**
 * Area under the ROC curve: the probability that a random positive scores above a random negative,
 * ties counted as one half (Mann–Whitney U with mid-ranks). NaN when a class is absent.
 */
export function rocAuc(y: ArrayLike<number>, p: ArrayLike<number>): number {
  const n = check(y, p);
  const order = orderBy(p);
  let pos = 0;
  let rankSum = 0;
  for (let start = 0; start < n;) {
    let end = start;
    while (end + 1 < n && p[order[end + 1]!] === p[order[start]!]) end++;
    const midRank = (start + end) / 2 + 1;
    for (let k = start; k <= end; k++) {
      if (y[order[k]!] === 1) {
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
  const n = check(y, p);
  if (!(fraction > 0 && fraction <= 1)) throw new RangeError(`metrics: fraction must be in (0, 1], got ${fraction}`);
  if (n === 0) return NaN;
  const k = Math.ceil(fraction * n);
  const cut = p[orderBy(p)[n - k]!]!;
  let above = 0;
  let hitsAbove = 0;
  let tied = 0;
  let hitsTied = 0;
  for (let i = 0; i < n; i++) {
    if (p[i]! > cut) {
      above++;
      hitsAbove += y[i]!;
    } else if (p[i] === cut) {
      tied++;
      hitsTied += y[i]!;
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
  const n = check(y, p);
  const order = orderBy(p);
  const out: CalibrationBin[] = [];
  for (let b = 0; b < bins; b++) {
    const lo = Math.floor((b * n) / bins);
    const hi = Math.floor(((b + 1) * n) / bins);
    if (hi <= lo) continue;
    let sumP = 0;
    let sumY = 0;
    for (let k = lo; k < hi; k++) {
      sumP += p[order[k]!]!;
      sumY += y[order[k]!]!;
    }
    out.push({
      bin: b, count: hi - lo, minPredicted: p[order[lo]!]!, maxPredicted: p[order[hi - 1]!]!,
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
  const n = check(y, p);
  let s = 0;
  for (let i = 0; i < n; i++) s += (p[i]! - y[i]!) ** 2;
  return n === 0 ? NaN : s / n;
}

/** Mean log loss, with predictions clipped to [1e-15, 1 − 1e-15]. */
export function logLoss(y: ArrayLike<number>, p: ArrayLike<number>): number {
  const n = check(y, p);
  let s = 0;
  for (let i = 0; i < n; i++) {
    const q = Math.min(1 - 1e-15, Math.max(1e-15, p[i]!));
    s -= y[i] === 1 ? Math.log(q) : Math.log(1 - q);
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
  const n = check(y, p);
  let positives = 0;
  for (let i = 0; i < n; i++) positives += y[i]!;
  const baseRate = positives / n;
  const calibration = calibrationTable(y, p);
  const precision = precisionAtTop(y, p, 0.1);
  return {
    n, positives, baseRate, rocAuc: rocAuc(y, p), precisionAtTopDecile: precision, liftAtTopDecile: precision / baseRate,
    brier: brierScore(y, p), logLoss: logLoss(y, p), calibrationError: calibrationError(calibration), calibration,
  };
}
