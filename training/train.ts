/**
 * Trains a churn classifier, evaluates it on a held-out (newest) time period, exports it to ONNX and
 * writes the three artefacts the scorer and its operators use:
 *
 * - `<name>.onnx`: the model (`models/onnx/export.ts`);
 * - `<name>.manifest.json`: its `vafa.model/v1` manifest (`models/manifest.ts`), with the decision
 *   threshold and headline held-out metrics;
 * - `<name>.metrics.json`: the full report ({@link MetricsReport}).
 */
import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { MANIFEST_FORMAT, type Manifest } from '../models/manifest.js';
import { exportGbt, exportLogreg, type ExportedModel, type LogregScaling } from '../models/onnx/export.js';
import { timeSplit, type ChurnDataset, type Holdout } from './data.js';
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
    cutoff: string;
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
}

/** A trained, exported model and its report. */
export interface TrainedChurnModel {
  model: GbtModel | LogregModel;
  /** The trainer's own P(churn) for row-major rows. */
  predict(x: Float32Array, n?: number): Float64Array;
  exported: ExportedModel;
  /** Manifest for `<name>.onnx`. */
  manifest: Manifest;
  report: MetricsReport;
  name: string;
}

const iso = (ms: number): string => new Date(ms).toISOString();

function period(time: Float64Array): { from: string; to: string } {
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
  return sorted[Math.max(0, Math.ceil(fraction * sorted.length) - 1)]!;
}

/** Trains, evaluates on the held-out period and exports; writes nothing. */
export function trainChurnModel(data: ChurnDataset, opts: TrainChurnOptions): TrainedChurnModel {
  const { train, test, cutoff } = timeSplit(data, opts.holdout);
  const nf = data.features.length;
  const trainedAt = opts.trainedAt ?? new Date().toISOString();
  const name = opts.name ?? `churn-${opts.algorithm}`;
  let model: GbtModel | LogregModel;
  let predict: (x: Float32Array, n?: number) => Float64Array;
  let importance: { feature: string; value: number }[];
  if (opts.algorithm === 'gbt') {
    const m = trainGbt(train.x, train.y, nf, opts.gbt);
    model = m;
    predict = (x, n) => gbtPredict(m, x, n);
    importance = data.features.map((feature, j) => ({ feature, value: m.gainByFeature[j]! }));
  } else {
    const m = trainLogreg(train.x, train.y, nf, opts.logreg);
    model = m;
    predict = (x, n) => logregPredict(m, x, n);
    importance = data.features.map((feature, j) => ({ feature, value: m.coef[j]! }));
  }
  importance.sort((a, b) => Math.abs(b.value) - Math.abs(a.value));
  const pTrain = predict(train.x);
  const pTest = predict(test.x);
  const holdout = evaluate(test.y, pTest);
  const t = opts.threshold ?? { topFraction: 0.1 };
  const threshold = typeof t === 'number' ? t : topFractionThreshold(pTest, t.topFraction);
  const headline = {
    roc_auc: holdout.rocAuc, precision_at_top_decile: holdout.precisionAtTopDecile, brier: holdout.brier,
    calibration_error: holdout.calibrationError, holdout_rows: holdout.n, holdout_from: iso(cutoff),
  };
  const common = { version: opts.version, features: data.features, trainedAt, metrics: headline, zipmap: opts.zipmap ?? false };
  const exported = model.kind === 'gbt'
    ? exportGbt(model, { ...common, trees: opts.trees ?? 'classifier' })
    : exportLogreg(model, { ...common, scaling: opts.scaling ?? 'nodes' });
  const manifest: Manifest = {
    format: MANIFEST_FORMAT,
    version: opts.version,
    onnx: `${name}.onnx`,
    input: { name: exported.input.name, shape: exported.input.shape },
    features: data.features.map((f, j) => (exported.scales ? { name: f, scale: exported.scales[j]! } : { name: f })),
    output: {
      name: exported.output.name, kind: exported.output.kind, positive_class: exported.output.positiveClass,
      column: exported.output.column,
    },
    threshold,
    trained_at: trainedAt,
    metrics: headline,
  };
  const report: MetricsReport = {
    version: opts.version, algorithm: opts.algorithm, params: model.params, trained_at: trainedAt, features: data.features,
    split: {
      cutoff: iso(cutoff),
      train: { rows: train.y.length, ...period(train.time) },
      holdout: { rows: test.y.length, ...period(test.time) },
    },
    threshold, train: evaluate(train.y, pTrain), holdout, importance,
  };
  return { model, predict, exported, manifest, report, name };
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
  const sha256 = createHash('sha256').update(trained.exported.bytes).digest('hex');
  await writeFile(onnxPath, trained.exported.bytes);
  await writeFile(manifestPath, `${JSON.stringify({ ...trained.manifest, sha256 }, null, 2)}\n`);
  await writeFile(reportPath, `${JSON.stringify(trained.report, null, 2)}\n`);
  return { manifestPath, onnxPath, reportPath };
}
