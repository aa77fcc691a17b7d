/**
 * `vafa train`: history → churn model. Replays the history through the scorer's own core
 * (`training/dataset.ts`), trains on the older observations, evaluates on the newest months, compares
 * with a recency-only baseline, and writes the model, its manifest and a metrics report (JSON + HTML).
 *
 * History comes from a folder written by `vafa simulate --out` (or any folder of the same layout:
 * profiles.ndjson, events.ndjson in event-time order, labels.ndjson) or from the simulator directly.
 */
import { existsSync, statSync } from 'node:fs';
import { rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { Command } from './main.js';
import { progressLine } from './progress.js';
import { isFeature, MODEL_FEATURE_NAMES } from '../contracts/features.js';
import type { CustomerProfileV1 } from '../contracts/events.js';
import { buildChurnDataset, historyMessages, type ChurnTruth, type HistoryEvent, selectRows, timeSplit, type ChurnDataset, type Holdout, rocAuc, oracleProbability, trainChurnModel, writeChurnModel, type MetricsReport, calibrationChart, htmlReport, rocChart, rocCurve, readTable, tabularDataset, TableError, type EncodedColumn, type GbtParams } from '../training/mod.js';
import type { Manifest } from '../models/mod.js';
import { DAY_MS, item, f32, f64, num, u8 } from '../scorer/core/mod.js';
import { loadSettings, buildEngineConfig, UsageError } from '../config/mod.js';

/**
 * Features the shipped model leaves out: `late_events` is a diagnostic, and the loyalty balance and
 * tier follow the loyalty rules in force (a rules change would shift them under a trained model).
 */
export const DEFAULT_EXCLUDED = ['late_events', 'points_balance', 'tier_rank'];

interface Source {
  label: string;
  profiles: Iterable<CustomerProfileV1> | AsyncIterable<CustomerProfileV1>;
  events: Iterable<HistoryEvent> | AsyncIterable<HistoryEvent>;
  truth: Map<string, ChurnTruth>;
  start: number;
  end: number;
}

async function openSource(v: Record<string, string | boolean | undefined>): Promise<Source> {
  if (v.history && v.simulate) throw new UsageError('give either --history DIR or --simulate, not both');
  if (v.history) {
    const { readHistory } = await import('../simulator/mod.js');
    const dir = String(v.history);
    if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new UsageError(`--history ${dir}: no such directory (write one with \`vafa simulate --out DIR\`)`);
    const h = await readHistory(dir);
    const truth = new Map<string, ChurnTruth>();
    for await (const l of h.labels()) truth.set(l.customer_id, l);
    if (truth.size === 0) throw new UsageError(`${dir}: labels.ndjson holds no labels`);
    return {
      label: `history ${dir}${h.meta ? ` (seed ${h.meta.seed}, ${h.meta.customers} customers, ${h.meta.days} days)` : ''}`,
      profiles: h.profiles(), events: h.events() as AsyncIterable<HistoryEvent>, truth,
      start: h.meta ? Date.parse(h.meta.start) : NaN, end: h.meta ? Date.parse(h.meta.end) : NaN,
    };
  }
  if (!v.simulate) throw new UsageError('give --history DIR (from `vafa simulate --out DIR`) or --simulate');
  const { createBank } = await import('../simulator/mod.js');
  const num = (k: string): number => {
    const n = Number(v[k]);
    if (!Number.isFinite(n)) throw new UsageError(`--${k} must be a number, got ${String(v[k])}`);
    return n;
  };
  const start = new Date(`${String(v.start)}T00:00:00Z`);
  if (Number.isNaN(start.getTime())) throw new UsageError(`--start must be a date (YYYY-MM-DD), got ${String(v.start)}`);
  const bank = createBank({ seed: num('seed'), customers: num('customers'), days: num('days'), start });
  const truth = new Map<string, ChurnTruth>();
  for (const [id, t] of bank.truth()) truth.set(id, t);
  return {
    label: `simulated bank (seed ${num('seed')}, ${num('customers')} customers, ${num('days')} days from ${String(v.start)})`,
    profiles: bank.profiles(), events: bank.events() as Iterable<HistoryEvent>, truth, start: start.getTime(), end: bank.options.end.getTime(),
  };
}

const pct = (x: number): string => `${(100 * x).toFixed(1)} %`;

/** Report rows on the calibration: held-out Brier score and calibration error before and after it. */
function calibrationRows(r: MetricsReport): [string, string, string][] {
  if (!r.calibration) return [];
  const c = r.calibration;
  return [
    [`calibration (${c.method}, fitted on ${c.rows} training rows held back)`, `Brier ${c.holdout_uncalibrated.brier.toFixed(4)} → ${r.holdout.brier.toFixed(4)}`, ''],
    ['calibration error before → after', `${c.holdout_uncalibrated.calibrationError.toFixed(4)} → ${r.holdout.calibrationError.toFixed(4)}`, ''],
  ];
}
/** Report rows on the held-out rows shared by both reports: precision and lift at the top decile, base rate, Brier score, log loss, calibration. */
function holdoutRows(r: MetricsReport, baseRateLabel: string): [string, string, string][] {
  const h = r.holdout;
  return [
    ['precision at top decile', pct(h.precisionAtTopDecile), ''],
    ['lift at top decile', `${h.liftAtTopDecile.toFixed(2)}×`, ''],
    [baseRateLabel, pct(h.baseRate), ''],
    ['Brier score', h.brier.toFixed(4), ''],
    ['log loss', h.logLoss.toFixed(4), ''],
    ['calibration error (deciles)', h.calibrationError.toFixed(4), ''],
    ...calibrationRows(r),
  ];
}
const f3 = (x: number): string => (Number.isFinite(x) ? x.toFixed(3) : 'n/a');

export const trainCommand: Command = {
  summary: 'Train the churn model from history (replayed through the scorer core) or from a table (CSV / NDJSON), and export it to ONNX with a metrics report.',
  usage: [
    'vafa train (--history DIR | --simulate [--customers 3000] [--days 540] [--seed 42] [--start 2025-01-01])',
    '           [--algorithm gbt|logreg] [--out models/churn] [--holdout-months 3] [--horizon-days 90]',
    '           [--trees 60] [--depth 3] [--learning-rate 0.1] [--min-leaf 100] [--subsample 0.8] [--partitions 8] [--version V] [--trained-at RFC3339] [--zipmap]',
    '           [--calibrate none|platt|isotonic]',
    'vafa train (--csv FILE | --ndjson FILE) --label COLUMN [--positive VALUE] [--id COLUMN] [--time COLUMN] [--split random|time]',
    '           [--holdout-fraction 0.2] [--folds K] [--seed 42] [--categorical A,B] [--exclude A,B] [--max-categories 50] (and the options above)',
    '  --history DIR       a folder written by `vafa simulate --out DIR` (profiles, events, labels)',
    '  --simulate          generate the history with the synthetic bank instead',
    '  --holdout-months N  evaluate on the newest N monthly observation points (training rows whose label window reaches into them are dropped)',
    '  --calibrate M       fit Platt or isotonic calibration on 20 % of the training rows held back from the model; stored in the manifest',
    '  --csv / --ndjson    one row per customer: the label column (1/0, true/false, yes/no, or --positive VALUE), an optional id column (never',
    '                      a feature), numeric columns as they are, text (or --categorical) columns one-hot encoded',
    '  --split             random: stratified by label (default without --time); time: the newest --holdout-fraction by --time',
    '  --folds K           also report K-fold stratified cross-validated ROC AUC',
    'Writes <out>/manifest.json, <out>/<name>.onnx, <out>/<name>.explain.json (reasons), <out>/metrics.json and <out>/report.html, and',
    'prints the held-out metrics next to a baseline: recency alone for history, the best single column for a table.',
  ].join('\n'),
  async run(argv) {
    try {
      return await train(argv);
    } catch (err) {
      const { HistoryFileMissingError } = await import('../simulator/mod.js');
      if (!(err instanceof UsageError) && !(err instanceof TableError) && !(err instanceof HistoryFileMissingError)) throw err;
      console.error(`vafa train: ${err.message}`);
      return 2;
    }
  },
};

/**
 * Writes the model and its manifest into `out` as manifest.json, with the trainer's JSON report as
 * metrics.json (the caller rewrites it with what it adds) and report.html beside them.
 */
async function writeArtefacts(out: string, trained: Parameters<typeof writeChurnModel>[1]): Promise<{ manifestPath: string; metricsPath: string; reportPath: string; onnxPath: string }> {
  const written = await writeChurnModel(out, trained);
  const manifestPath = path.join(out, 'manifest.json');
  const metricsPath = path.join(out, 'metrics.json');
  const reportPath = path.join(out, 'report.html');
  await rename(written.manifestPath, manifestPath);
  await rename(written.reportPath, metricsPath);
  return { manifestPath, metricsPath, reportPath, onnxPath: written.onnxPath };
}

/** The options of `vafa train`, with their defaults (the type is the one parseArgs infers from them). */
function parseTrainArgs(argv: string[]) {
  return parseArgs({
    args: argv,
    options: {
      history: { type: 'string' },
      simulate: { type: 'boolean', default: false },
      customers: { type: 'string', default: '3000' },
      days: { type: 'string', default: '540' },
      seed: { type: 'string', default: '42' },
      start: { type: 'string', default: '2025-01-01' },
      algorithm: { type: 'string', default: 'gbt' },
      out: { type: 'string', default: 'models/churn' },
      'holdout-months': { type: 'string', default: '3' },
      'horizon-days': { type: 'string', default: '90' },
      'warmup-days': { type: 'string', default: '90' },
      trees: { type: 'string', default: '60' },
      depth: { type: 'string', default: '3' },
      'learning-rate': { type: 'string', default: '0.1' },
      'min-leaf': { type: 'string', default: '100' },
      subsample: { type: 'string', default: '0.8' },
      partitions: { type: 'string', default: '8' },
      version: { type: 'string' },
      'trained-at': { type: 'string' },
      zipmap: { type: 'boolean', default: false },
      csv: { type: 'string' },
      ndjson: { type: 'string' },
      label: { type: 'string' },
      positive: { type: 'string' },
      id: { type: 'string' },
      time: { type: 'string' },
      split: { type: 'string' },
      'holdout-fraction': { type: 'string', default: '0.2' },
      folds: { type: 'string', default: '0' },
      categorical: { type: 'string' },
      exclude: { type: 'string' },
      'max-categories': { type: 'string', default: '50' },
      calibrate: { type: 'string', default: 'none' },
    },
  }).values;
}

type TrainValues = ReturnType<typeof parseTrainArgs>;

/** An integer option, at least `min`. */
function intOption(values: TrainValues, k: keyof TrainValues, min: number): number {
  const n = Number(values[k]);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`--${k} must be an integer ≥ ${min}, got ${String(values[k])}`);
  return n;
}

/** The trainer's settings common to history and tables (algorithm, calibration, trees) and the held-out months, checked in this order. */
function trainOptions(values: TrainValues): { algorithm: 'gbt' | 'logreg'; calibrate: 'none' | 'platt' | 'isotonic'; gbt: Partial<GbtParams>; holdoutMonths: number } {
  const calibrate = values.calibrate;
  if (calibrate !== 'none' && calibrate !== 'platt' && calibrate !== 'isotonic') throw new UsageError(`--calibrate must be none, platt or isotonic, got ${calibrate}`);
  const algorithm = values.algorithm;
  if (algorithm !== 'gbt' && algorithm !== 'logreg') throw new UsageError(`--algorithm must be gbt or logreg, got ${algorithm}`);
  const holdoutMonths = intOption(values, 'holdout-months', 1);
  const lr = Number(values['learning-rate']);
  const subsample = Number(values.subsample);
  if (!(lr > 0 && lr <= 1)) throw new UsageError(`--learning-rate must be in (0, 1], got ${values['learning-rate']}`);
  if (!(subsample > 0 && subsample <= 1)) throw new UsageError(`--subsample must be in (0, 1], got ${values.subsample}`);
  const gbt = {
    nTrees: intOption(values, 'trees', 1), maxDepth: intOption(values, 'depth', 1), learningRate: lr, minSamplesLeaf: intOption(values, 'min-leaf', 1), subsample, seed: 1,
  };
  return { algorithm, calibrate, gbt, holdoutMonths };
}

async function train(argv: string[]): Promise<number> {
  const values = parseTrainArgs(argv);
  const int = (k: keyof TrainValues, min: number): number => intOption(values, k, min);
  const { algorithm, calibrate, gbt: gbtParams, holdoutMonths } = trainOptions(values);
  if (values.csv !== undefined || values.ndjson !== undefined) {
    return trainTabular(argv, values, { algorithm, gbt: gbtParams, calibrate, folds: int('folds', 0), seed: int('seed', 0), maxCategories: int('max-categories', 1) });
  }
  for (const k of ['label', 'positive', 'id', 'time', 'split', 'categorical', 'exclude'] as const) {
    if (values[k] !== undefined) throw new UsageError(`--${k} is for tabular training: give --csv FILE or --ndjson FILE`);
  }
  const horizonDays = int('horizon-days', 1);
  const src = await openSource(values);
  console.log(`vafa train: ${src.label}`);
  const built = await replayHistory(src, { partitions: int('partitions', 1), horizonDays, warmupDays: int('warmup-days', 0) });
  if (built.observations.length < holdoutMonths + 2) {
    throw new UsageError(`only ${built.observations.length} observation points: give more --days (at least ${holdoutMonths + 2} month boundaries after the ${values['warmup-days']}-day warm-up)`);
  }
  const split = holdoutSplit(built, holdoutMonths, horizonDays * DAY_MS);
  const { data, cutoff } = split;

  // Train, evaluate, export.
  const version = values.version ?? `churn-${algorithm}-${new Date(split.lastObservation).toISOString().slice(0, 10)}`;
  const t0 = Date.now();
  const trained = trainChurnModel(data, {
    algorithm, holdout: { from: cutoff }, version, name: `churn-${algorithm}`, zipmap: values.zipmap, calibration: calibrate,
    ...(values['trained-at'] ? { trainedAt: values['trained-at'] } : {}),
    gbt: gbtParams,
  });
  const trainS = (Date.now() - t0) / 1000;
  const heldOut = compareOnHoldout(trained, split, built, src.truth, horizonDays * DAY_MS);

  const written = await writeArtefacts(path.resolve(values.out), trained);
  const command = `vafa train ${argv.join(' ')}`.trim();
  const run: HistoryRun = { command, src, built, split, trained, heldOut, horizonDays, holdoutMonths, version };
  await writeFile(written.metricsPath, `${JSON.stringify(historyMetrics(run), null, 2)}\n`);
  await writeFile(written.reportPath, historyReport(run));
  printHistoryReport(run, { algorithm, trainS, features: data.features.length });
  console.log(`\nwrote ${written.manifestPath}\n      ${written.onnxPath}\n      ${written.metricsPath}\n      ${written.reportPath}`);
  return 0;
}

type BuiltDataset = Awaited<ReturnType<typeof buildChurnDataset>>;
type TrainedModel = ReturnType<typeof trainChurnModel>;

/** Replays the history through the core and snapshots the features at month boundaries. */
async function replayHistory(src: Source, o: { partitions: number; horizonDays: number; warmupDays: number }): Promise<BuiltDataset> {
  const started = Date.now();
  const progress = progressLine('replay');
  const span = src.end - src.start;
  const features = MODEL_FEATURE_NAMES.filter((f) => !DEFAULT_EXCLUDED.includes(f));
  // The scorer's own configuration files (VAFA_RULES, VAFA_LIFECYCLE, VAFA_OFFERS), as the running scorer loads them.
  const engine = buildEngineConfig({ ...loadSettings(), partitions: o.partitions });
  const built = await buildChurnDataset(historyMessages(src.profiles, src.events), src.truth, {
    partitions: o.partitions, engine, features, horizonDays: o.horizonDays, warmupDays: o.warmupDays,
    onProgress: (p) => progress.update(
      `${p.events.toLocaleString('en-US')} events · event time ${new Date(p.at).toISOString().slice(0, 10)} · ${p.rows.toLocaleString('en-US')} rows`,
      span > 0 ? Math.min(1, (p.at - src.start) / span) : undefined,
    ),
  });
  progress.done(`${built.events.toLocaleString('en-US')} events replayed through the scorer core in ${((Date.now() - started) / 1000).toFixed(1)} s; `
    + `${built.dataset.y.length.toLocaleString('en-US')} observations at ${built.observations.length} month boundaries`);
  return built;
}

/** The training rows and the held-out period (the newest observation months). */
interface HoldoutSplit {
  /** The rows kept: the training rows whose label window overlaps the held-out period are purged. */
  data: ChurnDataset;
  /** Index in the built dataset of each row of `data`. */
  keep: number[];
  purged: number;
  /** The first held-out observation time. */
  cutoff: number;
  lastObservation: number;
}

function holdoutSplit(built: BuiltDataset, holdoutMonths: number, horizon: number): HoldoutSplit {
  const obs = [...built.observations].sort((a, b) => a - b);
  const cutoff = obs[obs.length - holdoutMonths];
  const lastObservation = obs[obs.length - 1];
  if (cutoff === undefined || lastObservation === undefined) throw new Error(`holdoutSplit: ${obs.length} observations, ${holdoutMonths} held out`);
  const keep: number[] = [];
  let purged = 0;
  for (const [i, t] of built.dataset.time.entries()) {
    if (t < cutoff && t + horizon > cutoff) purged++;
    else keep.push(i);
  }
  return { data: selectRows(built.dataset, keep), keep, purged, cutoff, lastObservation };
}

/** The model against the recency-only baseline and the simulator's oracle, on the held-out rows. */
interface HeldOut {
  yTest: number[];
  recency: number[];
  rocModel: ReturnType<typeof rocCurve>;
  rocBase: ReturnType<typeof rocCurve>;
  aucModel: number;
  aucBaseline: number;
  /** NaN when the truth does not carry the simulator's hazard. */
  aucOracle: number;
}

function compareOnHoldout(trained: TrainedModel, split: HoldoutSplit, built: BuiltDataset, truth: Map<string, ChurnTruth>, horizon: number): HeldOut {
  const { data, cutoff, keep } = split;
  const nf = data.features.length;
  const rec = data.features.indexOf('recency_days');
  const test: number[] = [];
  for (const [i, t] of data.time.entries()) if (t >= cutoff) test.push(i);
  const yTest = test.map((i) => u8(data.y, i));
  const recency = test.map((i) => f32(data.x, i * nf + rec));
  const pTest = trained.predict(selectRows(data, test).x);
  // The simulator's oracle: the simulator's own hazard at each observation.
  const oracleP = test.map((i) => {
    const customer = item(built.customers, num(keep, i));
    const customerTruth = truth.get(customer);
    if (!customerTruth) throw new Error(`vafa train: the history's labels have no truth for customer ${customer}`);
    return oracleProbability(customerTruth, f64(data.time, i), horizon);
  });
  const aucOracle = oracleP.every((p) => p !== undefined) ? rocAuc(yTest, oracleP as number[]) : NaN;
  return { yTest, recency, rocModel: rocCurve(yTest, pTest), rocBase: rocCurve(yTest, recency), aucModel: trained.report.holdout.rocAuc, aucBaseline: rocAuc(yTest, recency), aucOracle };
}

/** What the report of a history run is made of. */
interface HistoryRun {
  command: string;
  src: Source;
  built: BuiltDataset;
  split: HoldoutSplit;
  trained: TrainedModel;
  heldOut: HeldOut;
  horizonDays: number;
  holdoutMonths: number;
  version: string;
}

/** metrics.json: the trainer's report with the dataset, the baseline and the oracle. */
function historyMetrics(r: HistoryRun): MetricsReport & Record<string, unknown> {
  const { built, heldOut } = r;
  return {
    ...r.trained.report,
    command: r.command,
    source: r.src.label,
    dataset: {
      events: built.events, late_events: built.late, observations: built.observations.map((o) => new Date(o).toISOString()),
      rows: built.dataset.y.length, purged_training_rows: r.split.purged, horizon_days: r.horizonDays, holdout_months: r.holdoutMonths,
    },
    baseline: { name: 'recency only (days since the last transaction)', feature: 'recency_days', holdout_roc_auc: heldOut.aucBaseline },
    ...(Number.isFinite(heldOut.aucOracle) ? {
      oracle: {
        name: "the simulator's churn process (training/oracle.ts): P(churn within the horizon | still there), from the hazard and drift state the simulator held at the observation",
        holdout_roc_auc: heldOut.aucOracle, model_to_oracle: heldOut.aucModel / heldOut.aucOracle,
      },
    } : {}),
  };
}

/** report.html: the metrics table, ROC against the baseline, calibration, importance. */
function historyReport(r: HistoryRun): string {
  const { trained, heldOut } = r;
  const { aucModel, aucBaseline, aucOracle } = heldOut;
  const h = trained.report.holdout;
  const rows: [string, string, string][] = [
    ['ROC AUC', f3(aucModel), f3(aucBaseline)],
    ...(Number.isFinite(aucOracle) ? [["the simulator's oracle ROC AUC (its own hazard)", `${f3(aucOracle)} (model ${f3(aucModel / aucOracle)} × oracle)`, ''] as [string, string, string]] : []),
    ...holdoutRows(trained.report, 'base rate (churn within the horizon)'),
    ['held-out rows (positives)', `${h.n} (${h.positives})`, ''],
    ['held-out period', `${trained.report.split.holdout.from.slice(0, 10)} … ${trained.report.split.holdout.to.slice(0, 10)}`, ''],
    ['training rows', `${trained.report.split.train.rows} (${r.split.purged} purged at the boundary)`, ''],
  ];
  return htmlReport({
    title: `Churn model ${r.version}`, command: r.command, rows, roc: { model: heldOut.rocModel, baseline: heldOut.rocBase, aucModel, aucBaseline },
    calibration: h.calibration, importance: trained.report.importance,
    ...(trained.report.calibration ? { calibrationBefore: trained.report.calibration.holdout_uncalibrated.calibration } : {}),
  });
}

/** The terminal report of a history run. */
function printHistoryReport(r: HistoryRun, o: { algorithm: string; trainS: number; features: number }): void {
  const { trained, heldOut } = r;
  const { aucModel, aucBaseline, aucOracle } = heldOut;
  const h = trained.report.holdout;
  console.log(`\ntrained ${o.algorithm} on ${trained.report.split.train.rows.toLocaleString('en-US')} rows × ${o.features} features in ${o.trainS.toFixed(1)} s`);
  console.log(`held-out period ${trained.report.split.holdout.from.slice(0, 10)} … ${trained.report.split.holdout.to.slice(0, 10)}: `
    + `${h.n.toLocaleString('en-US')} rows, ${h.positives} churn within ${r.horizonDays} days (${pct(h.baseRate)})\n`);
  console.log(`  ${'held-out ROC AUC'.padEnd(28)} model ${f3(aucModel)}   recency-only baseline ${f3(aucBaseline)}   ${aucModel > aucBaseline ? 'model better' : 'BASELINE BETTER'}`);
  if (Number.isFinite(aucOracle)) {
    console.log(`  ${"simulator's oracle AUC".padEnd(28)} ${f3(aucOracle)} (its own hazard; the model is ${f3(aucModel / aucOracle)} × the oracle)`);
  }
  console.log(`  ${'precision at top decile'.padEnd(28)} ${pct(h.precisionAtTopDecile)} (lift ${h.liftAtTopDecile.toFixed(2)}×)`);
  console.log(`  ${'Brier / log loss'.padEnd(28)} ${h.brier.toFixed(4)} / ${h.logLoss.toFixed(4)}`);
  console.log(`  ${'calibration error'.padEnd(28)} ${h.calibrationError.toFixed(4)}`);
  for (const [k, a] of calibrationRows(trained.report)) console.log(`  ${k}: ${a}`);
  console.log(`  ${'threshold (top 10 %)'.padEnd(28)} ${trained.report.threshold.toFixed(4)}\n`);
  console.log('ROC, held-out period   ● model   ○ recency only   · chance');
  for (const l of rocChart(heldOut.rocModel, heldOut.rocBase)) console.log(l);
  console.log('');
  for (const l of calibrationChart(h.calibration)) console.log(l);
  console.log(`\ntop features: ${trained.report.importance.slice(0, 8).map((i) => i.feature).join(', ')}`);
}

/**
 * The manifest entries of a tabular model: a categorical column that is a vafa feature with numeric
 * categories becomes one one-hot entry over that feature (so the running scorer encodes it), every other
 * column stays as it is.
 */
function servedFeatures(features: Manifest['features'], encoding: readonly EncodedColumn[]): Manifest['features'] {
  const out: Manifest['features'] = [];
  for (let j = 0; j < encoding.length;) {
    const e = item(encoding, j);
    if (e.kind !== 'onehot' || !isFeature(e.source)) {
      out.push(item(features, j));
      j++;
      continue;
    }
    const group: number[] = [];
    let k = j;
    for (; k < encoding.length; k++) {
      const g = item(encoding, k);
      if (g.kind !== 'onehot' || g.source !== e.source) break;
      group.push(Number(g.category));
    }
    if (group.every((v, q) => String(v) === (encoding[j + q] as { category: string }).category)) {
      out.push({ name: e.source, encode: { onehot: { vocabulary: group, unknown: 'zeros' } } });
    } else {
      out.push(...features.slice(j, k));
    }
    j = k;
  }
  return out;
}

interface TabularRun {
  algorithm: 'gbt' | 'logreg';
  gbt: Partial<GbtParams>;
  calibrate: 'none' | 'platt' | 'isotonic';
  folds: number;
  seed: number;
  maxCategories: number;
}

/** The held-out AUC of the best single numeric column (either direction): the baseline of a tabular model. */
function bestSingleColumn(test: ChurnDataset, encoding: readonly EncodedColumn[]): { feature: string; auc: number } {
  const nf = test.features.length;
  let best = { feature: '(none)', auc: NaN };
  encoding.forEach((e, j) => {
    if (e.kind !== 'numeric') return;
    const col = Array.from({ length: test.y.length }, (_, i) => f32(test.x, i * nf + j));
    const lo = col.reduce((m, v) => (Number.isNaN(v) ? m : Math.min(m, v)), Infinity);
    const auc = rocAuc(test.y, col.map((v) => (Number.isNaN(v) ? lo - 1 : v)));
    const a = Math.max(auc, 1 - auc);
    if (Number.isFinite(a) && !(a <= best.auc)) best = { feature: e.name, auc: a };
  });
  return best;
}

async function trainTabular(argv: string[], v: Record<string, string | boolean | undefined>, run: TabularRun): Promise<number> {
  const { file, split, fraction } = tabularArgs(v, run);
  const { table, tab, readS } = await readTabular(file, v, run);
  const data = tab.dataset;
  const holdout: Holdout = split === 'time' ? { fraction } : { random: fraction, seed: run.seed };
  const base = path.basename(file).replace(/\.[^.]*$/, '');
  const version = typeof v.version === 'string' ? v.version : `churn-${run.algorithm}-${base}`;
  const name = `churn-${run.algorithm}`;
  const common: TabularCommon = {
    algorithm: run.algorithm, version, name, zipmap: v.zipmap === true, calibration: run.calibrate, gbt: run.gbt,
    ...(typeof v['trained-at'] === 'string' ? { trainedAt: v['trained-at'] } : {}),
  };
  const cv = run.folds >= 2 ? crossValidate(data, common, run) : undefined;

  const t0 = Date.now();
  const trained = trainChurnModel(data, { ...common, holdout });
  const trainS = (Date.now() - t0) / 1000;
  const test = timeSplit(data, holdout).test;
  const pTest = trained.predict(test.x);
  const baseline = bestSingleColumn(test, tab.encoding);

  const out = path.resolve(String(v.out));
  trained.manifest.features = servedFeatures(trained.manifest.features, tab.encoding);
  const written = await writeArtefacts(out, trained);
  const command = `vafa train ${argv.join(' ')}`.trim();
  const unmapped = trained.manifest.features.filter((f) => !isFeature(f.name)).map((f) => f.name);
  await writeFile(written.metricsPath, `${JSON.stringify({
    ...trained.report, command, source: file,
    dataset: {
      rows: table.rows, positives: tab.positives, columns: table.columns.length, features: data.features.length,
      categorical: tab.categorical, notes: tab.notes, split, holdout_fraction: fraction, seconds_to_read: readS,
    },
    baseline: { name: `best single column (${baseline.feature})`, feature: baseline.feature, holdout_roc_auc: baseline.auc },
    ...(cv ? { cross_validation: cv } : {}),
    training_seconds: trainS,
    serving: unmapped.length === 0
      ? 'every column is a vafa feature: the manifest serves as is'
      : `${unmapped.length} columns are not vafa features; map them in the manifest (feature, expr, const) to serve with vafa's features`,
  }, null, 2)}\n`);
  const splitText = split === 'time' ? `newest ${pct(fraction)} by ${String(v.time)}` : `stratified random ${pct(fraction)} (seed ${run.seed})`;
  await writeFile(written.reportPath, tabularReport({ command, version, trained, test, pTest, baseline, cv, splitText, features: data.features }));
  printTabularReport({ trained, baseline, splitText, unmapped, algorithm: run.algorithm, trainS, nf: data.features.length });
  console.log(`\nwrote ${written.manifestPath}\n      ${written.onnxPath}\n      ${written.metricsPath}\n      ${written.reportPath}\n      ${path.join(out, `${name}.explain.json`)}`);
  return 0;
}

type TabularCommon = Omit<Parameters<typeof trainChurnModel>[1], 'holdout'>;
type CrossValidation = { folds: number; roc_auc: number[]; mean: number; sd: number; seconds: number };

/** The table options, checked: the file, the split and the held-out fraction. */
function tabularArgs(v: Record<string, string | boolean | undefined>, run: TabularRun): { file: string; split: 'time' | 'random'; fraction: number } {
  if (v.csv !== undefined && v.ndjson !== undefined) throw new UsageError('give either --csv FILE or --ndjson FILE, not both');
  if (v.history !== undefined || v.simulate) throw new UsageError('--csv/--ndjson trains from a table: leave out --history and --simulate');
  if (typeof v.label !== 'string') throw new UsageError('--label COLUMN is required with --csv / --ndjson');
  const file = String(v.csv ?? v.ndjson);
  const split = v.split === undefined ? (v.time !== undefined ? 'time' : 'random') : String(v.split);
  if (split !== 'time' && split !== 'random') throw new UsageError(`--split must be time or random, got ${split}`);
  if (split === 'time' && v.time === undefined) throw new UsageError('--split time needs --time COLUMN');
  const fraction = Number(v['holdout-fraction']);
  if (!(fraction > 0 && fraction < 1)) throw new UsageError(`--holdout-fraction must be in (0, 1), got ${String(v['holdout-fraction'])}`);
  if (run.folds === 1) throw new UsageError('--folds must be 0 (no cross-validation) or at least 2');
  if (!existsSync(file) || !statSync(file).isFile()) throw new UsageError(`--${v.csv !== undefined ? 'csv' : 'ndjson'} ${file}: no such file`);
  return { file, split, fraction };
}

/** Reads the table and encodes it as a dataset (the label, one-hot categories); says what it read. */
async function readTabular(file: string, v: Record<string, string | boolean | undefined>, run: TabularRun): Promise<{ table: Awaited<ReturnType<typeof readTable>>; tab: ReturnType<typeof tabularDataset>; readS: number }> {
  const started = Date.now();
  const table = await readTable(file, v.csv !== undefined ? 'csv' : 'ndjson');
  const list = (s: string | boolean | undefined): string[] | undefined => (typeof s === 'string' ? s.split(',').map((x) => x.trim()).filter(Boolean) : undefined);
  const opt = <K extends string>(k: K, x: string | boolean | undefined): Partial<Record<K, string>> => (typeof x === 'string' ? { [k]: x } as Record<K, string> : {});
  const categorical = list(v.categorical);
  const exclude = list(v.exclude);
  const tab = tabularDataset(table, {
    label: String(v.label), ...opt('positive', v.positive), ...opt('id', v.id), ...opt('time', v.time),
    ...(categorical ? { categorical } : {}), ...(exclude ? { exclude } : {}), maxCategories: run.maxCategories,
  });
  const readS = (Date.now() - started) / 1000;
  console.log(`vafa train: ${file}: ${table.rows.toLocaleString('en-US')} rows, ${tab.positives.toLocaleString('en-US')} positive (${pct(tab.positives / table.rows)}), `
    + `${tab.dataset.features.length} features (${tab.categorical.length} categorical columns one-hot encoded) in ${readS.toFixed(1)} s`);
  for (const n of tab.notes) console.log(`  note: ${n}`);
  return { table, tab, readS };
}

/** K-fold stratified cross-validated ROC AUC. */
function crossValidate(data: ChurnDataset, common: TabularCommon, run: TabularRun): CrossValidation {
  const t = Date.now();
  const aucs: number[] = [];
  for (let k = 0; k < run.folds; k++) aucs.push(trainChurnModel(data, { ...common, holdout: { fold: k, folds: run.folds, seed: run.seed } }).report.holdout.rocAuc);
  const mean = aucs.reduce((a, b) => a + b, 0) / aucs.length;
  const sd = Math.sqrt(aucs.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(1, aucs.length - 1));
  const cv = { folds: run.folds, roc_auc: aucs, mean, sd, seconds: (Date.now() - t) / 1000 };
  console.log(`${run.folds}-fold stratified cross-validation: ROC AUC ${f3(mean)} ± ${f3(sd)} (${aucs.map(f3).join(', ')}) in ${cv.seconds.toFixed(1)} s`);
  return cv;
}

/** report.html of a table run: the metrics against the best single column, ROC, calibration, importance. */
function tabularReport(r: {
  command: string; version: string; trained: TrainedModel; test: ChurnDataset; pTest: ArrayLike<number>;
  baseline: { feature: string; auc: number }; cv: CrossValidation | undefined; splitText: string; features: readonly string[];
}): string {
  const { trained, test, baseline, cv } = r;
  const h = trained.report.holdout;
  const rocModel = rocCurve(test.y, r.pTest);
  const nf = r.features.length;
  const bj = r.features.indexOf(baseline.feature);
  const bcol = Array.from({ length: test.y.length }, (_, i) => (bj >= 0 ? f32(test.x, i * nf + bj) : 0));
  const rocBase = rocCurve(test.y, rocAuc(test.y, bcol.map((x) => (Number.isNaN(x) ? -1e30 : x))) >= 0.5 ? bcol : bcol.map((x) => -x));
  const rows: [string, string, string][] = [
    ['ROC AUC', f3(h.rocAuc), f3(baseline.auc)],
    ...(cv ? [[`${cv.folds}-fold cross-validated ROC AUC`, `${f3(cv.mean)} ± ${f3(cv.sd)}`, ''] as [string, string, string]] : []),
    ...holdoutRows(trained.report, 'base rate'),
    ['held-out rows (positives)', `${h.n} (${h.positives}), ${r.splitText}`, ''],
    ['training rows', `${trained.report.split.train.rows}`, ''],
  ];
  return htmlReport({
    title: `Churn model ${r.version}`, command: r.command, rows, roc: { model: rocModel, baseline: rocBase, aucModel: h.rocAuc, aucBaseline: baseline.auc },
    calibration: h.calibration, importance: trained.report.importance, baselineLabel: `best single column (${baseline.feature}) baseline`,
    ...(trained.report.calibration ? { calibrationBefore: trained.report.calibration.holdout_uncalibrated.calibration } : {}),
  });
}

/** The terminal report of a table run. */
function printTabularReport(r: {
  trained: TrainedModel; baseline: { feature: string; auc: number }; splitText: string; unmapped: string[]; algorithm: string; trainS: number; nf: number;
}): void {
  const { trained, baseline, unmapped, nf } = r;
  const h = trained.report.holdout;
  console.log(`\ntrained ${r.algorithm} on ${trained.report.split.train.rows.toLocaleString('en-US')} rows × ${nf} features in ${r.trainS.toFixed(1)} s`);
  console.log(`held out: ${h.n.toLocaleString('en-US')} rows (${r.splitText}), ${h.positives} positive (${pct(h.baseRate)})\n`);
  console.log(`  ${'held-out ROC AUC'.padEnd(28)} model ${f3(h.rocAuc)}   best single column (${baseline.feature}) ${f3(baseline.auc)}`);
  console.log(`  ${'precision at top decile'.padEnd(28)} ${pct(h.precisionAtTopDecile)} (lift ${h.liftAtTopDecile.toFixed(2)}×)`);
  console.log(`  ${'Brier / log loss'.padEnd(28)} ${h.brier.toFixed(4)} / ${h.logLoss.toFixed(4)}`);
  console.log(`  ${'calibration error'.padEnd(28)} ${h.calibrationError.toFixed(4)}`);
  for (const [k, a] of calibrationRows(trained.report)) console.log(`  ${k}: ${a}`);
  console.log('');
  for (const l of calibrationChart(h.calibration)) console.log(l);
  console.log(`\ntop features: ${trained.report.importance.slice(0, 8).map((i) => i.feature).join(', ')}`);
  if (unmapped.length > 0) {
    console.log(`\nserving: ${unmapped.length} of ${nf} columns are not vafa feature names (${unmapped.slice(0, 6).join(', ')}${unmapped.length > 6 ? ', …' : ''}):`
      + ' the model loads, and the running scorer needs a mapping of those inputs in the manifest (models/README.md)');
  }
}
