/**
 * Training sets: row-major float32 features, 0/1 labels and an event time per row, plus the
 * time-based split that keeps the newest period for evaluation.
 */

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

/** Validates the shapes of a training set; labels must be 0 or 1 and both classes present. */
export function checkTrainingSet(x: Float32Array, y: ArrayLike<number>, nFeatures: number, who: string): number {
  if (!Number.isInteger(nFeatures) || nFeatures < 1) throw new RangeError(`${who}: nFeatures must be ≥ 1`);
  const n = y.length;
  if (x.length !== n * nFeatures) {
    throw new RangeError(`${who}: x holds ${x.length} values, expected ${n} rows × ${nFeatures} features = ${n * nFeatures}`);
  }
  let pos = 0;
  for (let i = 0; i < n; i++) {
    if (y[i] !== 0 && y[i] !== 1) throw new RangeError(`${who}: label of row ${i} is ${y[i]}, expected 0 or 1`);
    pos += y[i]!;
  }
  if (pos === 0 || pos === n) throw new RangeError(`${who}: the training set has only one class (${pos} positives of ${n})`);
  return n;
}


/** Rows `idx` of a dataset, in that order. */
export function selectRows(data: ChurnDataset, idx: ArrayLike<number>): ChurnDataset {
  const nf = data.features.length;
  const x = new Float32Array(idx.length * nf);
  const y = new Uint8Array(idx.length);
  const time = new Float64Array(idx.length);
  for (let k = 0; k < idx.length; k++) {
    const i = idx[k]!;
    x.set(data.x.subarray(i * nf, (i + 1) * nf), k * nf);
    y[k] = data.y[i]!;
    time[k] = data.time[i]!;
  }
  return { features: data.features, x, y, time };
}

/** How to hold out the newest rows: from a cutoff time, or the newest fraction of rows. */
export type Holdout = { from: number } | { fraction: number };

/**
 * Splits by time: rows at or after the cutoff form the held-out set, the rest train. With
 * `{ fraction }` the cutoff is the time below which `1 − fraction` of the rows fall.
 */
export function timeSplit(data: ChurnDataset, holdout: Holdout): { train: ChurnDataset; test: ChurnDataset; cutoff: number } {
  const n = data.y.length;
  let cutoff: number;
  if ('from' in holdout) {
    cutoff = holdout.from;
  } else {
    if (!(holdout.fraction > 0 && holdout.fraction < 1)) throw new RangeError(`holdout.fraction must be in (0, 1), got ${holdout.fraction}`);
    const sorted = Float64Array.from(data.time).sort();
    cutoff = sorted[Math.min(n - 1, Math.floor(n * (1 - holdout.fraction)))]!;
  }
  const train: number[] = [];
  const test: number[] = [];
  for (let i = 0; i < n; i++) (data.time[i]! >= cutoff ? test : train).push(i);
  if (train.length === 0 || test.length === 0) {
    throw new RangeError(`time split at ${new Date(cutoff).toISOString()} leaves ${train.length} training and ${test.length} held-out rows`);
  }
  return { train: selectRows(data, train), test: selectRows(data, test), cutoff };
}
