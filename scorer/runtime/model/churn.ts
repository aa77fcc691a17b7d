/**
 * The scorer's churn model: a `ChurnScorer` over `loadModel` + `ModelRegistry`.
 *
 * - One onnxruntime `run()` per micro-batch: the batch's feature vectors become one row-major
 *   Float32Array in the pinned model's feature order. A core vector (`Pending.features`) is read by number
 *   (its catalogue-ordered values, at the model's column indices resolved once per model); a plain
 *   name-keyed object by name (a missing name is NaN).
 * - Any model, mapped: each model input is computed from the catalogue vector as its manifest says (a
 *   feature by name or rename, an expression, a constant, with imputation and one-hot / ordinal
 *   encodings: `models/mapping.ts`), compiled once per model into one row writer. A model whose inputs
 *   cannot be fed (an unknown feature, a bad expression) is refused at load with a message naming the
 *   input and why; on a hot swap the running model stays.
 * - The manifest's `calibration` is applied by the loader to every probability (`models/calibration.ts`).
 * - Reasons with every score: a model with an `explain` sidecar (or occlusion reference values) gets each
 *   score's top reasons as bounded JSON text in `Score.reasons`, which the core stores in `churn_reasons`;
 *   how many and for which scores is the manifest's `reasons`, overridden by `ChurnScorerOptions.reasons`
 *   (`reasons.ts`, docs/models.md "Reasons").
 * - Hot swap: the manifest file is polled (`fs.watchFile`); when it changes, the new model is loaded and
 *   checked, then swapped in. A bad new model is refused with a log line and the running one stays.
 *   A batch in flight finishes on the model it started on, and every score carries the version of the
 *   model that produced it.
 */
import { unwatchFile, watchFile, type Stats } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { EXPLAIN_FORMAT, explain, type Explainer, type Reason } from '../../../training/mod.js';
import type { Logger } from '../../../platform/mod.js';
import { FEATURE_NAMES } from '../../../contracts/features.js';
import { compileMapping, type CompiledMapping } from '../../../models/mod.js';
import { f64, FEATURE_INDEX, FEATURE_VALUES, i32, item, num, type FeatureVector, type Score } from '../../core/mod.js';
import { loadModel, ModelRefusedError, ModelRegistry, type ChurnModel, type LoadOptions } from './onnx.js';
import { compilePath, explanationJson, occlusionJson, pathReasonsJson, reasonsPlan, ReasonsOptionError, type CompiledPath, type ReasonsOptions, type ReasonsPlan } from './reasons.js';
import type { ChurnScorer } from '../worker.js';

export interface ChurnScorerHandle extends ChurnScorer {
  /** Version of the model new batches use. */
  readonly version: string;
  /** The model new batches use. */
  readonly current: ChurnModel;
  /** Loads the manifest again now (what the file watcher does); resolves with the outcome. */
  reload(): Promise<ReloadOutcome>;
  /**
   * The top `k` reasons of each vector's score on the current model (signed contributions to its
   * log-odds, `training/reasons.ts`), or undefined per row when the model has no reasons sidecar
   * and no `explain.reference`. `path` attribution costs a few µs a row, exact `treeshap` about 100 µs
   * for 60 trees; a model with `explain: { reference }` gets occlusion reasons (one extra scored row per
   * reference feature): see docs/models.md. `scoreBatch` stores the same reasons with each score (`Score.reasons`).
   */
  explain(features: readonly Record<string, number>[], k?: number, method?: 'path' | 'treeshap'): Promise<(Reason[] | undefined)[]>;
  /** Stops watching and closes the model once its calls have drained. */
  close(): Promise<void>;
}

export type ReloadOutcome =
  | { status: 'swapped'; from: string; to: string }
  | { status: 'unchanged'; version: string }
  | { status: 'refused'; error: string };

export interface ChurnScorerOptions extends LoadOptions {
  /** Poll interval of the manifest watch, ms. Default 2000; 0 disables watching. */
  watchIntervalMs?: number;
  /**
   * The reasons stored with each score, over the manifest's `reasons` (field by field). Defaults: the top 3,
   * path attribution, for the scores at or above the model's threshold. `{ top: 0 }` turns them off.
   */
  reasons?: ReasonsOptions;
}

const catalogueIndex = (name: string): number | undefined => (Object.hasOwn(FEATURE_INDEX, name) ? FEATURE_INDEX[name] : undefined);

/** The compiled input mapping of each model, built once at load (`models/mapping.ts`). */
const mappings = new WeakMap<ChurnModel, CompiledMapping>();

/**
 * Checks that every input of the model can be fed from the feature catalogue (by name, rename,
 * expression or constant) and compiles the mapping once.
 * @throws ModelRefusedError naming each input that cannot be fed, and why.
 */
export function checkModelFeatures(model: ChurnModel): CompiledMapping {
  const known = mappings.get(model);
  if (known) return known;
  const { mapping, problems } = compileMapping(model.manifest.features, catalogueIndex);
  if (!mapping) {
    throw new ModelRefusedError(model.source, [
      ...problems,
      `(the scorer computes ${FEATURE_NAMES.length} features; see docs/features.md and models/README.md for mapping inputs)`,
    ]);
  }
  if (mapping.width !== model.features.length) {
    throw new ModelRefusedError(model.source, [`features: make ${mapping.width} columns, the model takes ${model.features.length}`]);
  }
  mappings.set(model, mapping);
  return mapping;
}

/** A name-keyed vector in catalogue order (a missing name is NaN). */
function catalogueValues(vector: Readonly<Record<string, number>>, into: Float64Array): Float64Array {
  FEATURE_NAMES.forEach((name, k) => (into[k] = vector[name] ?? NaN));
  return into;
}

/** Writes one vector's row at `offset` through the model's compiled mapping. */
function writeRow(rows: Float32Array, offset: number, vector: Readonly<Record<string, number>>, mapping: CompiledMapping, scratch: Float64Array): void {
  const values = (vector as Partial<FeatureVector>)[FEATURE_VALUES];
  mapping.feed(values ?? catalogueValues(vector, scratch), rows, offset);
}

/** Occlusion reasons of a model without trained parameters: each listed feature set to its reference value. */
interface Occlusion { kind: 'occlusion'; features: string[]; index: Int32Array; reference: Float64Array }

/** The reasons of each model that has them (manifest `explain`), read at load. */
const explainers = new WeakMap<ChurnModel, Explainer | Occlusion>();

async function readExplainer(model: ChurnModel, manifestPath: string): Promise<Explainer | Occlusion | undefined> {
  const rel = model.manifest.explain;
  if (rel === undefined) return undefined;
  if (typeof rel === 'object') {
    const entries = Object.entries(rel.reference);
    const index: number[] = [];
    const unknown: string[] = [];
    for (const [f] of entries) {
      const at = catalogueIndex(f);
      if (at === undefined) unknown.push(`"${f}"`);
      else index.push(at);
    }
    if (unknown.length) throw new ModelRefusedError(model.source, [`explain.reference: the feature catalogue has no ${unknown.join(', ')}`]);
    return {
      kind: 'occlusion', features: entries.map(([f]) => f), index: Int32Array.from(index),
      reference: Float64Array.from(entries, ([, v]) => v),
    };
  }
  const file = path.resolve(path.dirname(manifestPath), rel);
  let ex: Explainer;
  try {
    ex = JSON.parse(await readFile(file, 'utf8')) as Explainer;
  } catch (err) {
    throw new ModelRefusedError(model.source, [`explain: cannot read "${rel}": ${(err as Error).message}`]);
  }
  if (ex?.format !== EXPLAIN_FORMAT || !Array.isArray(ex.features)) {
    throw new ModelRefusedError(model.source, [`explain: "${rel}" is not a ${EXPLAIN_FORMAT} file`]);
  }
  if (ex.features.length !== model.features.length || ex.features.some((f, j) => f !== model.features[j])) {
    throw new ModelRefusedError(model.source, [`explain: "${rel}" explains features [${ex.features.join(', ')}], the model takes [${model.features.join(', ')}]`]);
  }
  return ex;
}

/** What each model stores with its scores (absent: no reasons), resolved at load. */
const plans = new WeakMap<ChurnModel, ReasonsPlan>();
/** Path attribution compiled at load, for a trees sidecar served with method `path`. */
const compiledPaths = new WeakMap<ChurnModel, CompiledPath>();

async function loadChecked(manifestPath: string, opts: LoadOptions, reasons: ReasonsOptions | undefined): Promise<ChurnModel> {
  const model = await loadModel(manifestPath, opts);
  try {
    checkModelFeatures(model);
    const ex = await readExplainer(model, manifestPath);
    if (ex) {
      explainers.set(model, ex);
      const plan = reasonsPlanOf(model, reasons);
      if (plan.top > 0) plans.set(model, plan);
      if (plan.top > 0 && plan.method === 'path' && !('kind' in ex && ex.kind === 'occlusion') && ex.kind === 'trees') compiledPaths.set(model, compilePath(ex));
    }
  } catch (err) {
    await model.close();
    throw err;
  }
  return model;
}

function reasonsPlanOf(model: ChurnModel, reasons: ReasonsOptions | undefined): ReasonsPlan {
  try {
    return reasonsPlan(model.manifest.reasons, reasons, model.threshold);
  } catch (err) {
    if (err instanceof ReasonsOptionError) throw new ModelRefusedError(model.source, [err.message]);
    throw err;
  }
}

/**
 * Sets `reasons` on each score at or above the plan's probability. `rows` are the batch's model rows as
 * scored (mapped, before scaling): exact reasons read them in place.
 */
async function attachReasons(
  model: ChurnModel, mapping: CompiledMapping, plan: ReasonsPlan, vectors: readonly Record<string, number>[], rows: Float32Array, out: Score[],
): Promise<void> {
  const ex = explainers.get(model);
  if (!ex) return;
  const w = mapping.width;
  if ('kind' in ex && ex.kind === 'occlusion') {
    const picked = out.flatMap((score, i) => (score.probability >= plan.minProbability ? [i] : []));
    if (!picked.length) return;
    const top = await occlusionReasons(model, mapping, ex, picked.map((i) => item(vectors, i)), plan.top);
    picked.forEach((i, j) => (item(out, i).reasons = occlusionJson(item(top, j), plan.top)));
    return;
  }
  const compiled = compiledPaths.get(model);
  if (compiled) {
    out.forEach((score, i) => {
      if (score.probability >= plan.minProbability) score.reasons = pathReasonsJson(compiled, rows.subarray(i * w, i * w + w), plan.top);
    });
    return;
  }
  const trained = ex as Explainer;
  const method = trained.kind === 'linear' ? 'linear' : plan.method;
  out.forEach((score, i) => {
    if (score.probability >= plan.minProbability) score.reasons = explanationJson(explain(trained, rows.subarray(i * w, i * w + w), plan.top, plan.method), plan.top, method);
  });
}

const logit = (p: number): number => {
  const q = Math.min(1 - 1e-7, Math.max(1e-7, p));
  return Math.log(q / (1 - q));
};

/**
 * Occlusion reasons (an approximation, for models vafa has no parameters of): each reference feature in
 * turn is set to its reference value and the row scored again, all in one run; a feature's contribution
 * is the served log-odds minus the log-odds without it. They do not add up to the margin.
 */
async function occlusionReasons(model: ChurnModel, mapping: CompiledMapping, oc: Occlusion, vectors: readonly Record<string, number>[], k: number): Promise<Reason[][]> {
  const r = oc.features.length;
  const w = mapping.width;
  const n = vectors.length;
  const rows = new Float32Array(n * (r + 1) * w);
  const base = new Float64Array(FEATURE_NAMES.length);
  const values = new Float64Array(FEATURE_NAMES.length);
  vectors.forEach((v, i) => {
    const own = (v as Partial<FeatureVector>)[FEATURE_VALUES];
    if (own) for (let q = 0; q < base.length; q++) base[q] = own[q] ?? NaN;
    else catalogueValues(v, base);
    const at = i * (r + 1) * w;
    mapping.feed(base, rows, at);
    for (let f = 0; f < r; f++) {
      values.set(base);
      values[i32(oc.index, f)] = f64(oc.reference, f);
      mapping.feed(values, rows, at + (f + 1) * w);
    }
  });
  const p = await model.scoreBatch(rows, n * (r + 1));
  return vectors.map((v, i) => {
    const at = i * (r + 1);
    const m = logit(num(p, at));
    const reasons: Reason[] = [];
    for (let f = 0; f < r; f++) {
      const c = m - logit(num(p, at + f + 1));
      const feature = item(oc.features, f);
      if (c !== 0 && Number.isFinite(c)) reasons.push({ feature, value: v[feature] ?? NaN, contribution: c });
    }
    return reasons.sort((a, b) => Math.abs(b.contribution) - Math.abs(a.contribution)).slice(0, k);
  });
}

/**
 * Loads the churn model at `manifestPath` and watches the manifest for changes.
 * @throws ModelRefusedError when the model cannot be served (the message names each problem).
 */
export async function loadChurnScorer(manifestPath: string, logger: Logger, opts: ChurnScorerOptions = {}): Promise<ChurnScorerHandle> {
  const loadOpts: LoadOptions = opts.intraOpNumThreads !== undefined ? { intraOpNumThreads: opts.intraOpNumThreads } : {};
  const first = await loadChecked(manifestPath, loadOpts, opts.reasons);
  const registry = new ModelRegistry(first);
  const log = logger.child({ component: 'churn-model' });
  log.info({ model: first.version, features: first.features.length, manifest: manifestPath, notes: first.notes, reasons: plans.get(first) ?? 'none' }, 'churn model loaded');
  const reloader = new Reloader(registry, () => loadChecked(manifestPath, loadOpts, opts.reasons), manifestPath, log);

  const interval = opts.watchIntervalMs ?? 2000;
  const onChange = (cur: Stats, prev: Stats): void => {
    if (cur.mtimeMs === prev.mtimeMs && cur.size === prev.size && cur.ino === prev.ino) return;
    if (cur.nlink === 0) {
      log.warn({ manifest: manifestPath, running: registry.version }, 'churn model manifest removed; the running model stays');
      return;
    }
    void reloader.reload();
  };
  if (interval > 0) watchFile(manifestPath, { interval, persistent: false }, onChange);

  return {
    get version() {
      return registry.version;
    },
    get current() {
      return registry.current;
    },
    reload: () => reloader.reload(),
    scoreBatch(features: readonly Record<string, number>[]): Promise<Score[]> {
      return registry.use((model) => scoreWith(model, features));
    },
    explain(features, k = 3, method = 'path') {
      return registry.use((model) => explainWith(model, features, k, method));
    },
    async close() {
      reloader.closed = true;
      if (interval > 0) unwatchFile(manifestPath, onChange);
      await reloader.settled();
      await registry.close();
    },
  };
}

/**
 * Reloads of the manifest, one at a time: a reload asked for while one runs makes it run once more, so
 * the last change is always loaded. A model refused leaves the running one.
 */
class Reloader {
  /** Set by close(): a model loaded after it is closed, not swapped in. */
  closed = false;
  private reloading: Promise<ReloadOutcome> | undefined;
  private again = false;

  constructor(
    private readonly registry: ModelRegistry,
    private readonly load: () => Promise<ChurnModel>,
    private readonly manifestPath: string,
    private readonly log: Logger,
  ) {}

  reload(): Promise<ReloadOutcome> {
    if (this.reloading) {
      this.again = true;
      return this.reloading;
    }
    this.reloading = (async () => {
      let out: ReloadOutcome;
      do {
        this.again = false;
        out = await this.reloadOnce();
      } while (this.again && !this.closed);
      return out;
    })().finally(() => (this.reloading = undefined));
    return this.reloading;
  }

  /** Resolves once the reload running (if any) is over. */
  async settled(): Promise<void> {
    await this.reloading?.catch(() => undefined);
  }

  private async reloadOnce(): Promise<ReloadOutcome> {
    let next: ChurnModel;
    try {
      next = await this.load();
    } catch (err) {
      const error = err instanceof Error ? err.message : String(err);
      this.log.error({ manifest: this.manifestPath, running: this.registry.version, err: error }, 'new churn model refused; the running model stays');
      return { status: 'refused', error };
    }
    const from = this.registry.version;
    if (this.closed) {
      await next.close();
      return { status: 'unchanged', version: from };
    }
    // Rows are built per batch from the pinned model's own feature list, so a new feature set is safe.
    void this.registry.swap(next, { allowFeatureChange: true }).catch((err: Error) => this.log.warn({ err: err.message }, 'closing the retired churn model failed'));
    this.log.info({ from, to: next.version, features: next.features.length, reasons: plans.get(next) ?? 'none' }, 'churn model swapped');
    return from === next.version ? { status: 'unchanged', version: from } : { status: 'swapped', from, to: next.version };
  }
}

/** One batch scored on `model`: a probability per vector, with reasons when the model's plan asks for them. */
async function scoreWith(model: ChurnModel, features: readonly Record<string, number>[]): Promise<Score[]> {
  const mapping = checkModelFeatures(model);
  const w = mapping.width;
  const n = features.length;
  const rows = new Float32Array(n * w);
  const scratch = new Float64Array(FEATURE_NAMES.length);
  features.forEach((vector, i) => writeRow(rows, i * w, vector, mapping, scratch));
  const p = await model.scoreBatch(rows, n);
  const out: Score[] = new Array<Score>(n);
  for (let i = 0; i < n; i++) out[i] = { probability: num(p, i), modelVersion: model.version };
  const plan = plans.get(model);
  if (plan) await attachReasons(model, mapping, plan, features, rows, out);
  return out;
}

/** The top `k` reasons of each vector's score on `model` (undefined per row without an explainer). */
async function explainWith(model: ChurnModel, features: readonly Record<string, number>[], k: number, method: 'path' | 'treeshap'): Promise<(Reason[] | undefined)[]> {
  const ex = explainers.get(model);
  if (!ex) return features.map(() => undefined);
  const mapping = checkModelFeatures(model);
  if ('kind' in ex && ex.kind === 'occlusion') return occlusionReasons(model, mapping, ex, features, k);
  const row = new Float32Array(mapping.width);
  const scratch = new Float64Array(FEATURE_NAMES.length);
  const trained = ex as Explainer;
  return features.map((v) => {
    writeRow(row, 0, v, mapping, scratch);
    return explain(trained, row, k, method).top;
  });
}
