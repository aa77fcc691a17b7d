/**
 * Training sets: row-major float32 features, 0/1 labels and an event time per row, plus the
 * time-based split that keeps the newest period for evaluation (or a stratified random split).
 */
import { f64, num, u8 } from '../scorer/core/mod.js';
import { createRng } from './random.js';

/** A labelled training set. Feature names come from the feature catalogue. */
export interface ChurnDataset {
  /** Ordered feature names: column `j` of every row is `features[j]`. */
  features: string[];
  /** Row-major values, `y.length × features.length`; NaN marks a missing value. */
  x: Float32Array;
  /** 1 = churned, 0 = stayed. */
  y: Uint8Array;
  /** The time each row describes (epoch milliseconds): the split is on this. */
  time: Float64Array;
}

/** Validates the shapes of a training set; labels must be 0 or 1 and both classes present. Returns the labels, one per row. */
export function checkTrainingSet(x: Float32Array, y: ArrayLike<number>, nFeatures: number, who: string): Uint8Array {
  if (!Number.isInteger(nFeatures) || nFeatures < 1) throw new RangeError(`${who}: nFeatures must be ≥ 1`);
  const n = y.length;
  if (x.length !== n * nFeatures) {
    throw new RangeError(`${who}: x holds ${x.length} values, expected ${n} rows × ${nFeatures} features = ${n * nFeatures}`);
  }
  const labels = new Uint8Array(n);
  let pos = 0;
  for (let i = 0; i < n; i++) {
    const label = y[i];
    if (label !== 0 && label !== 1) throw new RangeError(`${who}: label of row ${i} is ${label}, expected 0 or 1`);
    labels[i] = label;
    pos += label;
  }
  if (pos === 0 || pos === n) throw new RangeError(`${who}: the training set has only one class (${pos} positives of ${n})`);
  return labels;
}


/** Rows `idx` of a dataset, in that order. */
export function selectRows(data: ChurnDataset, idx: ArrayLike<number>): ChurnDataset {
  const nf = data.features.length;
  const x = new Float32Array(idx.length * nf);
  const y = new Uint8Array(idx.length);
  const time = new Float64Array(idx.length);
  for (const [k, i] of Array.from(idx).entries()) {
    x.set(data.x.subarray(i * nf, (i + 1) * nf), k * nf);
    y[k] = u8(data.y, i);
    time[k] = f64(data.time, i);
  }
  return { features: data.features, x, y, time };
}

/**
 * How to hold out rows for evaluation: by time (from a cutoff time, or the newest fraction of rows), or
 * at random, stratified by label (`{ random: fraction, seed }`), or one fold of a stratified k-fold
 * partition (`{ fold, folds, seed }`, for cross-validation).
 */
export type Holdout =
  | { from: number }
  | { fraction: number }
  | { random: number; seed?: number }
  | { fold: number; folds: number; seed?: number };

/**
 * Stratified fold of every row: rows of each class are shuffled (seeded) and dealt round-robin, so each
 * of the `k` folds holds the same share of positives (± 1 row).
 */
/** The rows of class `cls`, shuffled (Fisher–Yates with `rng`). */
function shuffledRowsOf(y: ArrayLike<number>, cls: number, rng: { next(): number }): number[] {
  const idx: number[] = [];
  for (let i = 0; i < y.length; i++) if (y[i] === cls) idx.push(i);
  for (let i = idx.length - 1; i > 0; i--) {
    const j = Math.floor(rng.next() * (i + 1));
    const a = num(idx, i);
    idx[i] = num(idx, j);
    idx[j] = a;
  }
  return idx;
}

export function stratifiedFolds(y: ArrayLike<number>, k: number, seed = 1): Uint16Array {
  if (!Number.isInteger(k) || k < 2 || k > 1000) throw new RangeError(`folds must be an integer in 2..1000, got ${k}`);
  const rng = createRng(seed);
  const fold = new Uint16Array(y.length);
  for (const cls of [0, 1]) {
    const idx = shuffledRowsOf(y, cls, rng);
    idx.forEach((row, q) => (fold[row] = q % k));
  }
  return fold;
}

/** Stratified random choice of about `fraction` of the rows (per class, rounded). */
export function stratifiedSample(y: ArrayLike<number>, fraction: number, seed = 1): Uint8Array {
  if (!(fraction > 0 && fraction < 1)) throw new RangeError(`holdout fraction must be in (0, 1), got ${fraction}`);
  const rng = createRng(seed);
  const pick = new Uint8Array(y.length);
  for (const cls of [0, 1]) {
    const idx = shuffledRowsOf(y, cls, rng);
    const take = Math.round(idx.length * fraction);
    for (const row of idx.slice(0, take)) pick[row] = 1;
  }
  return pick;
}

/**
 * Splits a dataset into training and held-out rows. By time: rows at or after the cutoff are held out
 * (with `{ fraction }` the cutoff is the time below which `1 − fraction` of the rows fall). At random
 * or by fold: stratified by label; `cutoff` is then NaN.
 */
export function timeSplit(data: ChurnDataset, holdout: Holdout): { train: ChurnDataset; test: ChurnDataset; cutoff: number } {
  const n = data.y.length;
  let cutoff = NaN;
  let held: (i: number) => boolean;
  if ('random' in holdout) {
    const pick = stratifiedSample(data.y, holdout.random, holdout.seed);
    held = (i) => pick[i] === 1;
  } else if ('folds' in holdout) {
    const fold = stratifiedFolds(data.y, holdout.folds, holdout.seed);
    if (!(Number.isInteger(holdout.fold) && holdout.fold >= 0 && holdout.fold < holdout.folds)) throw new RangeError(`fold must be in 0..${holdout.folds - 1}`);
    held = (i) => fold[i] === holdout.fold;
  } else {
    if ('from' in holdout) {
      cutoff = holdout.from;
    } else {
      if (!(holdout.fraction > 0 && holdout.fraction < 1)) throw new RangeError(`holdout.fraction must be in (0, 1), got ${holdout.fraction}`);
      const sorted = Float64Array.from(data.time).sort();
      cutoff = f64(sorted, Math.min(n - 1, Math.floor(n * (1 - holdout.fraction))));
    }
    const c = cutoff;
    held = (i) => f64(data.time, i) >= c;
  }
  const train: number[] = [];
  const test: number[] = [];
  for (let i = 0; i < n; i++) (held(i) ? test : train).push(i);
  if (train.length === 0 || test.length === 0) {
    const how = Number.isNaN(cutoff) ? 'random split' : `time split at ${new Date(cutoff).toISOString()}`;
    throw new RangeError(`${how} leaves ${train.length} training and ${test.length} held-out rows`);
  }
  return { train: selectRows(data, train), test: selectRows(data, test), cutoff };
}
