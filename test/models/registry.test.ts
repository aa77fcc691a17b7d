// Hot swap and micro-batching over real onnxruntime sessions.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBatcher, loadModel, ModelRegistry, type ChurnModel } from '../../scorer/runtime/model/onnx.js';
import { syntheticChurnData } from '../../training/synthetic.js';
import { trainChurnModel, writeChurnModel } from '../../training/train.js';
import { maxAbsDiff, tempDir } from './helpers.js';

const data = syntheticChurnData({ n: 1500, seed: 31 });
const nf = data.features.length;
const row = (i: number): Float32Array => data.x.slice(i * nf, (i + 1) * nf);

let dir: string;
let cleanup: () => Promise<void>;
const paths: Record<string, string> = {};
beforeAll(async () => {
  ({ dir, cleanup } = await tempDir());
  const base = { holdout: { fraction: 0.2 }, trainedAt: '2024-07-01T00:00:00Z' } as const;
  paths.v1 = (await writeChurnModel(dir, trainChurnModel(data, { ...base, algorithm: 'logreg', version: 'v1', name: 'v1' }))).manifestPath;
  paths.v2 = (await writeChurnModel(dir, trainChurnModel(data, { ...base, algorithm: 'gbt', version: 'v2', name: 'v2', gbt: { nTrees: 20 } }))).manifestPath;
  const fewer = { ...data, features: data.features.slice(0, 3), x: Float32Array.from({ length: 1500 * 3 }, (_, k) => data.x[Math.floor(k / 3) * nf + (k % 3)]!) };
  paths.v3 = (await writeChurnModel(dir, trainChurnModel(fewer, { ...base, algorithm: 'logreg', version: 'v3', name: 'v3' }))).manifestPath;
});
afterAll(() => cleanup());

/** Wraps a model so its next scoreBatch waits until `open()` is called. */
function gated(model: ChurnModel): { model: ChurnModel; open: () => void; started: Promise<void> } {
  let open!: () => void;
  let started!: () => void;
  const gate = new Promise<void>((r) => (open = r));
  const startedP = new Promise<void>((r) => (started = r));
  const wrapper: ChurnModel = Object.create(model, {
    scoreBatch: {
      value: async (rows: Float32Array, n: number) => {
        started();
        await gate;
        return model.scoreBatch(rows, n);
      },
    },
    close: { value: () => model.close() },
  }) as ChurnModel;
  return { model: wrapper, open, started: startedP };
}

describe('ModelRegistry', () => {
  it('swaps without a restart; the batch in flight finishes on the old model', async () => {
    const v1 = await loadModel(paths.v1!);
    const v2 = await loadModel(paths.v2!);
    const g = gated(v1);
    const registry = new ModelRegistry(g.model);
    const x = data.x.subarray(0, 10 * nf);
    const expectedV1 = await v1.scoreBatch(x, 10);

    const inFlight = registry.scoreBatch(x, 10);
    await g.started;
    let swapped = false;
    const swap = registry.swap(v2).then((old) => {
      swapped = true;
      return old;
    });
    expect(registry.version).toBe('v2');
    const after = await registry.scoreBatch(x, 10);
    expect(after.version).toBe('v2');
    expect(maxAbsDiff(after.probabilities, await v2.scoreBatch(x, 10))).toBe(0);
    expect(swapped).toBe(false);

    g.open();
    const before = await inFlight;
    expect(before.version).toBe('v1');
    expect(maxAbsDiff(before.probabilities, expectedV1)).toBe(0);
    expect(await swap).toBe(g.model);
    await expect(v1.scoreBatch(x, 1)).rejects.toThrow(/model v1 is closed/);
    await registry.close();
  });

  it('refuses a model with other features unless told, and keeps the current one', async () => {
    const registry = new ModelRegistry(await loadModel(paths.v1!));
    const v3 = await loadModel(paths.v3!);
    await expect(registry.swap(v3)).rejects.toThrow(/model v3 expects features \[recency_days, tx_count_30d, amount_30d\]/);
    expect(registry.version).toBe('v1');
    await expect(loadModel(`${dir}/missing.manifest.json`).then((m) => registry.swap(m))).rejects.toThrow(/cannot read the manifest/);
    expect(registry.version).toBe('v1');
    await registry.swap(v3, { allowFeatureChange: true });
    expect(registry.current.features).toHaveLength(3);
    await registry.close();
  });
});

describe('createBatcher', () => {
  it('groups concurrent calls into one run and records the version', async () => {
    const model = await loadModel(paths.v2!);
    const batcher = createBatcher({ model, maxBatch: 512, maxWaitMs: 5 });
    const n = 300;
    const scores = await Promise.all(Array.from({ length: n }, (_, i) => batcher.score(row(i))));
    expect(model.stats.runs).toBe(1);
    const direct = await model.scoreBatch(data.x, n);
    expect(maxAbsDiff(scores.map((s) => s.p), direct)).toBe(0);
    expect(new Set(scores.map((s) => s.version))).toEqual(new Set(['v2']));
    await batcher.close();
    await model.close();
  });

  it('sends a full batch at once and the rest after maxWaitMs', async () => {
    const model = await loadModel(paths.v1!);
    const batcher = createBatcher({ model, maxBatch: 100, maxWaitMs: 20 });
    const all = Array.from({ length: 250 }, (_, i) => batcher.score(row(i)));
    expect(batcher.pending).toBe(50);
    await Promise.all(all.slice(0, 200));
    expect(model.stats.runs).toBe(2);
    await Promise.all(all);
    expect(model.stats).toEqual({ runs: 3, rows: 250 });
    await expect(batcher.score(row(0).subarray(1))).rejects.toThrow(/row has 6 values, model v1 takes 7 features/);
    await batcher.close();
    await expect(batcher.score(row(0))).rejects.toThrow(/closed/);
    await model.close();
  });

  it('follows a registry across a swap', async () => {
    const registry = new ModelRegistry(await loadModel(paths.v1!));
    const batcher = createBatcher({ model: registry, maxBatch: 64, maxWaitMs: 1 });
    const first = await Promise.all([0, 1, 2].map((i) => batcher.score(row(i))));
    await registry.swap(await loadModel(paths.v2!));
    const second = await Promise.all([0, 1, 2].map((i) => batcher.score(row(i))));
    expect(first.map((s) => s.version)).toEqual(['v1', 'v1', 'v1']);
    expect(second.map((s) => s.version)).toEqual(['v2', 'v2', 'v2']);
    await batcher.close();
    await registry.close();
  });
});
