/**
 * The scorer's churn model: a `ChurnScorer` over `loadModel` + `ModelRegistry`.
 *
 * - One onnxruntime `run()` per micro-batch: the batch's feature vectors become one row-major
 *   Float32Array in the pinned model's feature order. A core vector (`Pending.features`) is read by number
 *   (its catalogue-ordered values, at the model's column indices resolved once per model); a plain
 *   name-keyed object by name (a missing name is NaN).
 * - A model that asks for a feature the catalogue (`scorer/core/features`) does not have is refused at
 *   load, with a message naming it.
 * - Hot swap: the manifest file is polled (`fs.watchFile`); when it changes, the new model is loaded and
 *   checked, then swapped in. A bad new model is refused with a log line and the running one stays.
 *   A batch in flight finishes on the model it started on, and every score carries the version of the
 *   model that produced it.
 */
import { unwatchFile, watchFile, type Stats } from 'node:fs';
import type { Logger } from '../../runtime/log.js';
import { FEATURE_NAMES, isFeature } from '../core/features/catalogue.js';
import { FEATURE_INDEX, FEATURE_VALUES, type FeatureVector } from '../core/features/engine.js';
import type { Score } from '../core/types.js';
import { loadModel, ModelRefusedError, ModelRegistry, type ChurnModel, type LoadOptions } from './model.js';
import type { ChurnScorer } from './worker.js';

export interface ChurnScorerHandle extends ChurnScorer {
  /** Version of the model new batches use. */
  readonly version: string;
  /** The model new batches use. */
  readonly current: ChurnModel;
  /** Loads the manifest again now (what the file watcher does); resolves with the outcome. */
  reload(): Promise<ReloadOutcome>;
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
}

/** Checks that every feature the model asks for is in the catalogue. */
export function checkModelFeatures(model: ChurnModel): void {
  const unknown = model.features.filter((f) => !isFeature(f));
  if (unknown.length) {
    throw new ModelRefusedError(model.source, [
      `features: the feature catalogue has no ${unknown.map((f) => `"${f}"`).join(', ')} `
      + `(the scorer computes ${FEATURE_NAMES.length} features; see docs/features.md)`,
    ]);
  }
}

/** The catalogue index of each of a model's columns, resolved once per model (its features are checked at load). */
const columnsOf = new WeakMap<ChurnModel, Int32Array>();

function modelColumns(model: ChurnModel): Int32Array {
  let columns = columnsOf.get(model);
  if (!columns) {
    columns = Int32Array.from(model.features, (name) => FEATURE_INDEX[name] ?? -1);
    columnsOf.set(model, columns);
  }
  return columns;
}

/** Writes one vector's row at `offset`: by catalogue index when it carries its numbers, else by name. */
function writeRow(rows: Float32Array, offset: number, vector: Readonly<Record<string, number>>, model: ChurnModel): void {
  const values = (vector as Partial<FeatureVector>)[FEATURE_VALUES];
  const names = model.features;
  if (values) {
    const columns = modelColumns(model);
    for (let j = 0; j < columns.length; j++) rows[offset + j] = values[columns[j]!] ?? NaN;
    return;
  }
  for (let j = 0; j < names.length; j++) rows[offset + j] = vector[names[j]!] ?? NaN;
}

async function loadChecked(manifestPath: string, opts: LoadOptions): Promise<ChurnModel> {
  const model = await loadModel(manifestPath, opts);
  try {
    checkModelFeatures(model);
  } catch (err) {
    await model.close();
    throw err;
  }
  return model;
}

/**
 * Loads the churn model at `manifestPath` and watches the manifest for changes.
 * @throws ModelRefusedError when the model cannot be served (the message names each problem).
 */
export async function loadChurnScorer(manifestPath: string, logger: Logger, opts: ChurnScorerOptions = {}): Promise<ChurnScorerHandle> {
  const loadOpts: LoadOptions = opts.intraOpNumThreads !== undefined ? { intraOpNumThreads: opts.intraOpNumThreads } : {};
  const first = await loadChecked(manifestPath, loadOpts);
  const registry = new ModelRegistry(first);
  const log = logger.child({ component: 'churn-model' });
  log.info({ model: first.version, features: first.features.length, manifest: manifestPath, notes: first.notes }, 'churn model loaded');

  let reloading: Promise<ReloadOutcome> | undefined;
  let again = false;
  let closed = false;

  const reloadOnce = async (): Promise<ReloadOutcome> => {
    let next: ChurnModel;
    try {
      next = await loadChecked(manifestPath, loadOpts);
    } catch (err) {
      const error = err instanceof Error ? err.message : String(err);
      log.error({ manifest: manifestPath, running: registry.version, err: error }, 'new churn model refused; the running model stays');
      return { status: 'refused', error };
    }
    const from = registry.version;
    if (closed) {
      await next.close();
      return { status: 'unchanged', version: from };
    }
    // Rows are built per batch from the pinned model's own feature list, so a new feature set is safe.
    void registry.swap(next, { allowFeatureChange: true }).catch((err: Error) => log.warn({ err: err.message }, 'closing the retired churn model failed'));
    log.info({ from, to: next.version, features: next.features.length }, 'churn model swapped');
    return from === next.version ? { status: 'unchanged', version: from } : { status: 'swapped', from, to: next.version };
  };

  const reload = (): Promise<ReloadOutcome> => {
    if (reloading) {
      again = true;
      return reloading;
    }
    reloading = (async () => {
      let out: ReloadOutcome;
      do {
        again = false;
        out = await reloadOnce();
      } while (again && !closed);
      return out;
    })().finally(() => (reloading = undefined));
    return reloading;
  };

  const interval = opts.watchIntervalMs ?? 2000;
  const onChange = (cur: Stats, prev: Stats): void => {
    if (cur.mtimeMs === prev.mtimeMs && cur.size === prev.size && cur.ino === prev.ino) return;
    if (cur.nlink === 0) {
      log.warn({ manifest: manifestPath, running: registry.version }, 'churn model manifest removed; the running model stays');
      return;
    }
    void reload();
  };
  if (interval > 0) watchFile(manifestPath, { interval, persistent: false }, onChange);

  return {
    get version() {
      return registry.version;
    },
    get current() {
      return registry.current;
    },
    reload,
    scoreBatch(features: readonly Record<string, number>[]): Promise<Score[]> {
      return registry.use(async (model) => {
        const w = model.features.length;
        const n = features.length;
        const rows = new Float32Array(n * w);
        for (let i = 0; i < n; i++) writeRow(rows, i * w, features[i]!, model);
        const p = await model.scoreBatch(rows, n);
        const out: Score[] = new Array<Score>(n);
        for (let i = 0; i < n; i++) out[i] = { probability: p[i]!, modelVersion: model.version };
        return out;
      });
    },
    async close() {
      closed = true;
      if (interval > 0) unwatchFile(manifestPath, onChange);
      await reloading?.catch(() => undefined);
      await registry.close();
    },
  };
}
