/**
 * Trains a churn classifier, evaluates it on a held-out (newest) time period, exports it to ONNX and
 * writes the three artefacts the scorer and its operators use:
 *
 * - `<name>.onnx`: the model (`training/onnx-export.ts`);
 * - `<name>.manifest.json`: its `vafa.model/v1` manifest (`models/manifest.ts`), with the decision
 *   threshold and headline held-out metrics;
 * - `<name>.metrics.json`: the full report ({@link MetricsReport}).
 */
import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { MANIFEST_FORMAT, type Manifest, calibrator, fitIsotonic, fitPlatt, type Calibration } from '../models/mod.js';
import { item, f32, f64 } from '../scorer/core/mod.js';
import { exportGbt, exportLogreg, type ExportedModel, type LogregScaling } from './onnx-export.js';
import { selectRows, stratifiedSample, timeSplit, type ChurnDataset, type Holdout } from './data.js';
import { explainerOf, type Explainer } from './reasons.js';
import { gbtPredict, trainGbt, type GbtModel, type GbtParams } from './gbt.js';
import { logregPredict, trainLogreg, type LogregModel, type LogregParams } from './logreg.js';
import { evaluate, type MetricsSummary } from './metrics.js';

/** Options of {@link trainChurnModel}. */
export interface TrainChurnOptions {
  algorithm: 'gbt' | 'logreg';
  gbt?: Partial<GbtParams>;
  logreg?: Partial<LogregParams>;
  /** The held-out period: rows from a cutoff time, or the newest fraction of rows. */
  holdout: Holdout;
  /** Model version, recorded with every score. */
  version: string;
  /** Recorded training time (RFC 3339). Default: now. */
  trainedAt?: string;
  /** Base name of the artefacts. Default `churn-<algorithm>`. */
  name?: string;
  /** Export a ZipMap probability output (skl2onnx default layout). Default false. */
  zipmap?: boolean;
  /** Logistic regression only: how standardisation reaches the model. Default `nodes`. */
  scaling?: LogregScaling;
  /** Trees only: ONNX form. Default `classifier`. */
  trees?: 'classifier' | 'regressor';
  /**
   * Probability calibration, fitted on a stratified random slice of the training rows that the model is
   * not fitted on (`calibrationFraction`, default 0.2), stored in the manifest and applied by the
   * loader. Default `none`.
   */
  calibration?: 'none' | 'platt' | 'isotonic';
  calibrationFraction?: number;
  /**
   * Decision threshold: a probability, or `{ topFraction }` to flag that share of the held-out
   * period (the score of its last flagged row). Default `{ topFraction: 0.1 }`.
   */
  threshold?: number | { topFraction: number };
}

/** The metrics report written next to the model. */
export interface MetricsReport {
  version: string;
  algorithm: 'gbt' | 'logreg';
  params: GbtParams | LogregParams;
  trained_at: string;
  features: string[];
  split: {
    /** `time` (cutoff, newest rows held out) or `random` (stratified) / `fold`. */
    kind: 'time' | 'random' | 'fold';
    /** Time split only. */
    cutoff: string | null;
    train: { rows: number; from: string; to: string };
    holdout: { rows: number; from: string; to: string };
  };
  threshold: number;
  /** Metrics on the training period. */
  train: MetricsSummary;
  /** Metrics on the held-out period: the ones to judge the model by. */
  holdout: MetricsSummary;
  /** Trees: total split gain per feature. Logistic regression: weight per standardised feature. */
  importance: { feature: string; value: number }[];
  /** The calibration fitted, with held-out metrics before and after it. */
  calibration?: {
    method: 'platt' | 'isotonic';
    rows: number;
    holdout_uncalibrated: MetricsSummary;
  };
  /** Logistic regression: features whose missing values were replaced by their training mean. */
  imputed?: { feature: string; mean: number }[];
}

/** A trained, exported model and its report. */
export interface TrainedChurnModel {
  model: GbtModel | LogregModel;
  /** The trainer's own P(churn) for row-major rows. */
  predict(x: Float32Array, n?: number): Float64Array;
  exported: ExportedModel;
  /** The reasons sidecar (`<name>.explain.json`): the trained parameters `training/reasons.ts` explains scores with. */
  explainer: Explainer;
  /** The trainer's P(churn) before calibration. */
  predictRaw(x: Float32Array, n?: number): Float64Array;
  /** Manifest for `<name>.onnx`. */
  manifest: Manifest;
  report: MetricsReport;
  name: string;
}

const iso = (ms: number): string => new Date(ms).toISOString();

function period(time: Float64Array): { from: string; to: string } {
  if (time.length === 0) return { from: '', to: '' };
  let lo = Infinity;
  let hi = -Infinity;
  for (const t of time) {
    lo = Math.min(lo, t);
    hi = Math.max(hi, t);
  }
  return { from: iso(lo), to: iso(hi) };
}

function topFractionThreshold(p: Float64Array, fraction: number): number {
  if (!(fraction > 0 && fraction <= 1)) throw new RangeError(`threshold.topFraction must be in (0, 1], got ${fraction}`);
  const sorted = Float64Array.from(p).sort().reverse();
  return f64(sorted, Math.max(0, Math.ceil(fraction * sorted.length) - 1));
}

/** Trains, evaluates on the held-out period and exports; writes nothing. */
export function trainChurnModel(data: ChurnDataset, opts: TrainChurnOptions): TrainedChurnModel {
  const split = timeSplit(data, opts.holdout);
  const { test, cutoff } = split;
  const nf = data.features.length;
  const trainedAt = opts.trainedAt ?? new Date().toISOString();
  const name = opts.name ?? `churn-${opts.algorithm}`;
  const kind: MetricsReport['split']['kind'] = 'random' in opts.holdout ? 'random' : 'folds' in opts.holdout ? 'fold' : 'time';

  // Logistic regression cannot take NaN: impute the training mean (the manifest says so, the scorer does it).
  const imputation = opts.algorithm === 'logreg' && split.train.x.some((v) => Number.isNaN(v)) ? trainingMeans(split.train, data.features) : undefined;
  const fill = imputer(imputation?.means, nf);
  // Calibration slice: carved out of the training rows, never seen by the model.
  const calMethod = opts.calibration ?? 'none';
  const { train, calRows } = calMethod !== 'none' ? carveCalibration(split.train, opts.calibrationFraction ?? 0.2) : { train: split.train, calRows: undefined };
  const { model, predictRaw, importance } = fitModel(opts, train, data.features, fill);
  const { calibration, predict } = calRows && calMethod !== 'none' ? calibrate(predictRaw, calRows, calMethod) : { calibration: undefined, predict: predictRaw };

  const pTrain = predict(train.x);
  const pTest = predict(test.x);
  const holdout = evaluate(test.y, pTest);
  const t = opts.threshold ?? { topFraction: 0.1 };
  const threshold = typeof t === 'number' ? t : topFractionThreshold(pTest, t.topFraction);
  const headline = {
    roc_auc: holdout.rocAuc, precision_at_top_decile: holdout.precisionAtTopDecile, brier: holdout.brier,
    calibration_error: holdout.calibrationError, holdout_rows: holdout.n,
    ...(Number.isNaN(cutoff) ? { holdout_split: kind } : { holdout_from: iso(cutoff) }),
  };
  const common = { version: opts.version, features: data.features, trainedAt, metrics: headline, zipmap: opts.zipmap ?? false };
  const exported = model.kind === 'gbt'
    ? exportGbt(model, { ...common, trees: opts.trees ?? 'classifier' })
    : exportLogreg(model, { ...common, scaling: opts.scaling ?? 'nodes' });
  const manifest = manifestOf({ version: opts.version, name, features: data.features, exported, imputed: imputation?.imputed, threshold, calibration, trainedAt, headline });
  const report: MetricsReport = {
    version: opts.version, algorithm: opts.algorithm, params: model.params, trained_at: trainedAt, features: data.features,
    split: {
      kind,
      cutoff: Number.isNaN(cutoff) ? null : iso(cutoff),
      train: { rows: train.y.length, ...period(train.time) },
      holdout: { rows: test.y.length, ...period(test.time) },
    },
    threshold, train: evaluate(train.y, pTrain), holdout, importance,
    ...(calibration && calRows ? {
      calibration: { method: calibration.method, rows: calRows.y.length, holdout_uncalibrated: evaluate(test.y, predictRaw(test.x)) },
    } : {}),
    ...(imputation ? { imputed: imputation.imputed } : {}),
  };
  const explainer = explainerOf(model, data.features);
  return { model, predict, predictRaw, exported, explainer, manifest, report, name };
}

type Predict = (x: Float32Array, n?: number) => Float64Array;

/** The training mean of every feature, and the features that had missing values (the ones imputed). */
function trainingMeans(train: ChurnDataset, features: readonly string[]): { means: Float64Array; imputed: { feature: string; mean: number }[] } {
  const nf = features.length;
  const sum = new Float64Array(nf);
  const cnt = new Float64Array(nf);
  const missing = new Uint8Array(nf);
  for (let i = 0; i < train.y.length; i++) {
    for (let f = 0; f < nf; f++) {
      const v = f32(train.x, i * nf + f);
      if (Number.isNaN(v)) missing[f] = 1;
      else {
        sum[f] = f64(sum, f) + v;
        cnt[f] = f64(cnt, f) + 1;
      }
    }
  }
  const means = sum.map((v, f) => (f64(cnt, f) > 0 ? v / f64(cnt, f) : 0));
  const imputed: { feature: string; mean: number }[] = [];
  for (const [f, feature] of features.entries()) if (missing[f]) imputed.push({ feature, mean: f64(means, f) });
  return { means, imputed };
}

/** Rows with each missing value replaced by its feature's mean; without means, the rows as they are. */
function imputer(means: Float64Array | undefined, nf: number): (x: Float32Array) => Float32Array {
  return (x) => {
    if (!means) return x;
    return x.map((v, i) => (Number.isNaN(v) ? f64(means, i % nf) : v));
  };
}

/** Splits the training rows into the ones the model fits and a stratified calibration slice. */
function carveCalibration(train: ChurnDataset, fraction: number): { train: ChurnDataset; calRows: ChurnDataset } {
  const pick = stratifiedSample(train.y, fraction, 7);
  const fit: number[] = [];
  const cal: number[] = [];
  for (let i = 0; i < train.y.length; i++) (pick[i] ? cal : fit).push(i);
  return { calRows: selectRows(train, cal), train: selectRows(train, fit) };
}

/** Fits the model the options name; its raw prediction and its features by importance (largest first). */
function fitModel(
  opts: TrainChurnOptions,
  train: ChurnDataset,
  features: readonly string[],
  fill: (x: Float32Array) => Float32Array,
): { model: GbtModel | LogregModel; predictRaw: Predict; importance: { feature: string; value: number }[] } {
  const nf = features.length;
  let model: GbtModel | LogregModel;
  let predictRaw: Predict;
  let importance: { feature: string; value: number }[];
  if (opts.algorithm === 'gbt') {
    const m = trainGbt(train.x, train.y, nf, opts.gbt);
    model = m;
    predictRaw = (x, n) => gbtPredict(m, x, n);
    importance = features.map((feature, j) => ({ feature, value: f64(m.gainByFeature, j) }));
  } else {
    const m = trainLogreg(fill(train.x), train.y, nf, opts.logreg);
    model = m;
    predictRaw = (x, n) => logregPredict(m, fill(x), n);
    importance = features.map((feature, j) => ({ feature, value: f64(m.coef, j) }));
  }
  importance.sort((a, b) => Math.abs(b.value) - Math.abs(a.value));
  return { model, predictRaw, importance };
}

/** Fits Platt or isotonic calibration on the slice held back; the calibrated prediction. */
function calibrate(predictRaw: Predict, calRows: ChurnDataset, method: 'platt' | 'isotonic'): { calibration: Calibration; predict: Predict } {
  const pCal = predictRaw(calRows.x);
  const calibration = method === 'platt' ? fitPlatt(calRows.y, pCal) : fitIsotonic(calRows.y, pCal);
  const f = calibrator(calibration);
  return { calibration, predict: (x, n) => predictRaw(x, n).map((p) => Math.fround(f(Math.fround(p)))) };
}

/** The model's manifest (`vafa.model/v1`): its ONNX input and output, imputation, scaling, threshold, calibration. */
function manifestOf(o: {
  version: string;
  name: string;
  features: readonly string[];
  exported: ReturnType<typeof exportGbt>;
  imputed: { feature: string; mean: number }[] | undefined;
  threshold: number;
  calibration: Calibration | undefined;
  trainedAt: string;
  headline: Manifest['metrics'];
}): Manifest {
  const { exported, calibration } = o;
  const imputeOf = new Map((o.imputed ?? []).map((x) => [x.feature, x.mean]));
  return {
    format: MANIFEST_FORMAT,
    version: o.version,
    onnx: `${o.name}.onnx`,
    input: { name: exported.input.name, shape: exported.input.shape },
    features: o.features.map((f, j) => {
      const mean = imputeOf.get(f);
      return {
        name: f,
        ...(mean !== undefined ? { impute: { mean } } : {}),
        ...(exported.scales ? { scale: item(exported.scales, j) } : {}),
      };
    }),
    output: {
      name: exported.output.name, kind: exported.output.kind, positive_class: exported.output.positiveClass,
      column: exported.output.column,
    },
    threshold: o.threshold,
    ...(calibration ? { calibration } : {}),
    explain: `${o.name}.explain.json`,
    trained_at: o.trainedAt,
    metrics: o.headline,
  };
}

/**
 * Writes `<name>.onnx`, `<name>.manifest.json` (with the ONNX file's sha256) and
 * `<name>.metrics.json` into `dir`.
 */
export async function writeChurnModel(dir: string, trained: TrainedChurnModel): Promise<{ manifestPath: string; onnxPath: string; reportPath: string }> {
  await mkdir(dir, { recursive: true });
  const onnxPath = path.join(dir, trained.manifest.onnx);
  const manifestPath = path.join(dir, `${trained.name}.manifest.json`);
  const reportPath = path.join(dir, `${trained.name}.metrics.json`);
  await writeFile(path.join(dir, `${trained.name}.explain.json`), `${JSON.stringify(trained.explainer)}\n`);
  const sha256 = createHash('sha256').update(trained.exported.bytes).digest('hex');
  await writeFile(onnxPath, trained.exported.bytes);
  await writeFile(manifestPath, `${JSON.stringify({ ...trained.manifest, sha256 }, null, 2)}\n`);
  await writeFile(reportPath, `${JSON.stringify(trained.report, null, 2)}\n`);
  return { manifestPath, onnxPath, reportPath };
}
