/**
 * Churn-model serving: loads an ONNX model through its `vafa.model/v1` manifest
 * (`models/manifest.ts`), checks the graph against it, and scores micro-batches with one
 * onnxruntime `run()` per batch.
 *
 * Supported models: one float input `[batch, features]`, or with `input.per_column` one input per
 * manifest entry (float, double, int64, int32 or string — string columns through the entry's `strings`
 * labels), and a probability output, either a float tensor or a ZipMap (removed at load; see
 * `plan.ts`). A model with several inputs and no `per_column` is refused with a message saying so.
 *
 * The manifest's per-column `scale` and its `calibration` (`models/calibration.ts`) are applied here, so
 * every probability a model returns is calibrated. Input columns are the manifest's entries with one-hot
 * groups expanded (`models/mapping.ts` `columnNames`); the running scorer fills them through the
 * compiled mapping (`churn.ts`).
 *
 * Hot swap and micro-batching live in `registry.ts` and `batcher.ts`, re-exported here.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import ort from 'onnxruntime-node';
import { ModelRefusedError, parseManifest, type FeatureScale, type Manifest, decodeModel, type ModelProto, calibrator, columnNames, columnScales } from '../../../models/mod.js';
import { planServing, type PlanInput, type ServingPlan } from './plan.js';
import type { ChurnModel } from './types.js';
import { f32, num } from '../../core/mod.js';

export { ModelRefusedError, type Manifest } from '../../../models/mod.js';
export type { ChurnModel } from './types.js';
export { ModelRegistry, type SwapOptions } from './registry.js';
export { createBatcher, type Batcher, type BatcherOptions, type Score } from './batcher.js';

/** Options of {@link loadModel}. */
export interface LoadOptions {
  /** onnxruntime intra-op threads. Default 1: small models gain nothing from more, and the scorer scales by partitions. */
  intraOpNumThreads?: number;
}

/** Per-feature affine transform `(x − offset) · factor`, or undefined when no feature is scaled. */
function scalingOf(features: Manifest['features']): { offset: Float64Array; factor: Float64Array } | undefined {
  const scales = columnScales(features);
  if (!scales.some((s) => s)) return undefined;
  const offset = new Float64Array(scales.length);
  const factor = new Float64Array(scales.length).fill(1);
  scales.forEach((scale, j) => {
    const s: FeatureScale | undefined = scale;
    if (!s) return;
    if ('mean' in s) {
      offset[j] = s.mean;
      factor[j] = 1 / s.std;
    } else {
      offset[j] = s.min;
      factor[j] = 1 / (s.max - s.min);
    }
  });
  return { offset, factor };
}

/** One tensor per input of a per-column model, cut out of the row matrix and typed as the input is. */
function perColumnFeeds(inputs: readonly PlanInput[], data: Float32Array, n: number, w: number): Record<string, ort.Tensor> {
  const feeds: Record<string, ort.Tensor> = {};
  for (const inp of inputs) {
    const dims = inp.rank === 1 ? [n] : [n, inp.width];
    const len = n * inp.width;
    const at = (k: number): number => f32(data, Math.floor(k / inp.width) * w + inp.offset + (k % inp.width));
    if (inp.type === 'string') {
      const labels = inp.labels;
      if (!labels) throw new Error(`model input "${inp.name}": a string input without its labels`);
      const values = new Array<string>(len);
      for (let k = 0; k < len; k++) values[k] = labels.get(at(k)) ?? inp.unknown ?? '';
      feeds[inp.name] = new ort.Tensor('string', values, dims);
    } else if (inp.type === 'int64') {
      const values = new BigInt64Array(len);
      for (let k = 0; k < len; k++) {
        const v = at(k);
        values[k] = Number.isFinite(v) ? BigInt(Math.round(v)) : 0n;
      }
      feeds[inp.name] = new ort.Tensor('int64', values, dims);
    } else if (inp.type === 'int32') {
      const values = new Int32Array(len);
      for (let k = 0; k < len; k++) values[k] = Math.round(at(k));
      feeds[inp.name] = new ort.Tensor('int32', values, dims);
    } else {
      const values = inp.type === 'float64' ? new Float64Array(len) : new Float32Array(len);
      for (let k = 0; k < len; k++) values[k] = at(k);
      feeds[inp.name] = new ort.Tensor(inp.type, values, dims);
    }
  }
  return feeds;
}

class OrtChurnModel implements ChurnModel {
  readonly version: string;
  readonly features: readonly string[];
  readonly threshold: number;
  readonly stats = { runs: 0, rows: 0 };
  private inFlight = 0;
  private closing: Promise<void> | undefined;
  private drained: (() => void) | undefined;
  private readonly scaling: ReturnType<typeof scalingOf>;
  private readonly calibrate: ((p: number) => number) | undefined;

  constructor(
    readonly manifest: Manifest,
    readonly source: string,
    private readonly session: ort.InferenceSession,
    private readonly plan: ServingPlan,
  ) {
    this.version = manifest.version;
    this.features = Object.freeze(columnNames(manifest.features));
    this.threshold = manifest.threshold;
    this.scaling = scalingOf(manifest.features);
    this.calibrate = manifest.calibration ? calibrator(manifest.calibration) : undefined;
  }

  get notes(): readonly string[] {
    return this.plan.notes;
  }

  async scoreBatch(rows: Float32Array, n: number): Promise<Float32Array> {
    const w = this.plan.width;
    if (!Number.isInteger(n) || n < 0) throw new RangeError(`scoreBatch: n must be a non-negative integer, got ${n}`);
    if (rows.length < n * w) throw new RangeError(`scoreBatch: ${n} rows of ${w} features need ${n * w} values, got ${rows.length}`);
    if (this.closing) throw new Error(`model ${this.version} is closed`);
    if (n === 0) return new Float32Array(0);
    this.inFlight++;
    try {
      return await this.run(rows, n);
    } finally {
      this.inFlight--;
      if (this.inFlight === 0) this.drained?.();
    }
  }

  private async run(rows: Float32Array, n: number): Promise<Float32Array> {
    const w = this.plan.width;
    let data = rows.length === n * w ? rows : rows.subarray(0, n * w);
    if (this.scaling) {
      const { offset, factor } = this.scaling;
      const scaled = new Float32Array(n * w);
      for (let i = 0; i < n * w; i++) {
        const j = i % w;
        scaled[i] = (f32(data, i) - num(offset, j)) * num(factor, j);
      }
      data = scaled;
    }
    const feeds = this.plan.inputs ? perColumnFeeds(this.plan.inputs, data, n, w) : { [this.plan.inputName]: new ort.Tensor('float32', data, [n, w]) };
    const out = await this.session.run(feeds, [this.plan.fetch]);
    this.stats.runs++;
    this.stats.rows += n;
    const t = out[this.plan.fetch];
    if (!t) throw new Error(`model ${this.version}: onnxruntime returned no "${this.plan.fetch}"`);
    const values = t.data as Float32Array | Float64Array;
    const cols = t.dims.length === 1 ? 1 : Number(t.dims[1]);
    if (t.dims[0] !== n || values.length !== n * cols) {
      throw new Error(`model ${this.version}: "${this.plan.fetch}" came back with shape [${t.dims.join(',')}] for ${n} rows`);
    }
    const p = new Float32Array(n);
    const c = this.plan.column;
    for (let i = 0; i < n; i++) p[i] = num(values, i * cols + c);
    const cal = this.calibrate;
    if (cal) p.forEach((probability, i) => (p[i] = cal(probability)));
    return p;
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      if (this.inFlight > 0) await new Promise<void>((resolve) => (this.drained = resolve));
      await this.session.release();
    })();
    return this.closing;
  }
}

/** Raw rows of zeros, ones and minus ones: any classifier maps them to probabilities. */
async function probe(model: OrtChurnModel, plan: ServingPlan): Promise<string[]> {
  const w = plan.width;
  const rows = new Float32Array(3 * w);
  rows.fill(1, w, 2 * w);
  rows.fill(-1, 2 * w);
  let p: Float32Array;
  try {
    p = await model.scoreBatch(rows, 3);
  } catch (err) {
    const relaxed = plan.notes.some((n) => n.startsWith('batch dimension'));
    return [`a probe run of 3 rows failed${relaxed ? ' (the model had a batch size fixed at 1)' : ''}: ${(err as Error).message}`];
  } finally {
    model.stats.runs = 0;
    model.stats.rows = 0;
  }
  const bad = Array.from(p).findIndex((v) => !(v >= -1e-6 && v <= 1 + 1e-6));
  if (bad >= 0) {
    return [`output "${model.manifest.output.name}" column ${plan.column} gave ${p[bad]} for a probe row of ${['zeros', 'ones', 'minus ones'][bad]}: `
      + 'not a probability (a margin or score?)'];
  }
  return [];
}

/**
 * Builds a model from a parsed manifest and the ONNX bytes it names.
 * @param source names the model in messages (the manifest path).
 * @throws ModelRefusedError listing every mismatch between manifest and model.
 */
export async function createModel(manifest: Manifest, onnxBytes: Uint8Array, source: string, opts: LoadOptions = {}): Promise<ChurnModel> {
  let graph: ModelProto;
  try {
    graph = decodeModel(onnxBytes);
  } catch (err) {
    throw new ModelRefusedError(source, [`onnx: "${manifest.onnx}" is not an ONNX model: ${(err as Error).message}`]);
  }
  const { plan, problems } = planServing(graph, manifest);
  if (!plan) throw new ModelRefusedError(source, problems);
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(plan.bytes, {
      intraOpNumThreads: opts.intraOpNumThreads ?? 1, interOpNumThreads: 1, executionMode: 'sequential',
      graphOptimizationLevel: 'all',
    });
  } catch (err) {
    throw new ModelRefusedError(source, [`onnxruntime cannot load "${manifest.onnx}": ${(err as Error).message}`]);
  }
  const model = new OrtChurnModel(manifest, source, session, plan);
  const probeProblems = await probe(model, plan);
  if (probeProblems.length > 0) {
    await model.close();
    throw new ModelRefusedError(source, probeProblems);
  }
  return model;
}

/**
 * Loads the model a manifest describes: reads and validates the manifest, reads the `.onnx` file
 * next to it (checking `sha256` when given), checks the graph against the manifest, and starts an
 * onnxruntime session.
 * @throws ModelRefusedError naming each problem (manifest field, missing input or output, width
 *   mismatch, unknown class, …); nothing is loaded then.
 */
export async function loadModel(manifestPath: string, opts: LoadOptions = {}): Promise<ChurnModel> {
  let text: string;
  try {
    text = await readFile(manifestPath, 'utf8');
  } catch (err) {
    throw new ModelRefusedError(manifestPath, [`cannot read the manifest: ${(err as Error).message}`]);
  }
  const manifest = parseManifest(text, manifestPath);
  const onnxPath = path.resolve(path.dirname(manifestPath), manifest.onnx);
  let bytes: Uint8Array;
  try {
    bytes = await readFile(onnxPath);
  } catch (err) {
    throw new ModelRefusedError(manifestPath, [`onnx: cannot read "${manifest.onnx}": ${(err as Error).message}`]);
  }
  if (manifest.sha256) {
    const digest = createHash('sha256').update(bytes).digest('hex');
    if (digest !== manifest.sha256) {
      throw new ModelRefusedError(manifestPath, [`sha256: "${manifest.onnx}" has digest ${digest}, the manifest says ${manifest.sha256}`]);
    }
  }
  return createModel(manifest, bytes, manifestPath, opts);
}
