// The scorer's churn model: catalogue check, one onnxruntime run per micro-batch, ZipMap models,
// hot swap on a manifest change, a bad new model refused while the running one stays.
import { copyFile, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../platform/log.js';
import { loadChurnScorer, type ChurnScorerHandle } from '../../scorer/runtime/model/churn.js';
import { FEATURE_NAMES } from '../../contracts/features.js';
import { trainChurnModel, writeChurnModel } from '../../training/train.js';
import type { ChurnDataset } from '../../training/data.js';
import { createRng } from '../../training/random.js';

const fixture = (rel: string): string => fileURLToPath(new URL(`../fixtures/onnx/${rel}`, import.meta.url));

const logs: Record<string, unknown>[] = [];
const logger = createLogger({
  level: 'info',
  destination: new Writable({ write(chunk: Buffer, _e, cb) { logs.push(JSON.parse(chunk.toString()) as Record<string, unknown>); cb(); } }),
});

/** A small labelled set over catalogue features (churn odds rise with recency, fall with activity). */
function catalogueData(features: string[], n: number, seed: number): ChurnDataset {
  const rng = createRng(seed);
  const nf = features.length;
  const x = new Float32Array(n * nf);
  const y = new Uint8Array(n);
  const time = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < nf; j++) x[i * nf + j] = Math.floor(rng.next() * 60);
    const z = -2 + 0.08 * x[i * nf]! - 0.05 * x[i * nf + 1]!;
    y[i] = rng.next() < 1 / (1 + Math.exp(-z)) ? 1 : 0;
    time[i] = Date.UTC(2025, 0, 1) + i * 3_600_000;
  }
  return { features, x, y, time };
}

let dir: string;
const opened: ChurnScorerHandle[] = [];
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'vafa-churn-'));
});
afterAll(async () => {
  await Promise.all(opened.map((s) => s.close()));
  await rm(dir, { recursive: true, force: true });
});

/** Replaces a file atomically (write, then rename), as a deployment does. */
async function replace(file: string, content: string | Buffer): Promise<void> {
  await writeFile(`${file}.tmp`, content);
  await rename(`${file}.tmp`, file);
}

async function open(manifest: string, watchIntervalMs = 0): Promise<ChurnScorerHandle> {
  const s = await loadChurnScorer(manifest, logger, { watchIntervalMs });
  opened.push(s);
  return s;
}

describe('loadChurnScorer', () => {
  it('refuses a model that asks for a feature the catalogue does not have, naming it', async () => {
    await expect(loadChurnScorer(fixture('manifests/sklearn-gb-zipmap-strings.manifest.json'), logger, { watchIntervalMs: 0 }))
      .rejects.toThrow(/features\[0\] "x0": the feature catalogue has no "x0"[^]*features\[1\] "x1": the feature catalogue has no "x1"/);
  });

  it('serves an skl2onnx-layout ZipMap model (onnxmltools GradientBoosting, string labels) through a manifest', async () => {
    const manifest = path.join(dir, 'gb.manifest.json');
    await writeFile(manifest, JSON.stringify({
      format: 'vafa.model/v1', version: 'sklearn-gb-zipmap',
      onnx: path.relative(dir, fixture('sklearn-onnx-2018/SklearnBinGradientBoostingClassifier.model.onnx')),
      input: { name: 'input', shape: ['N', 2] }, features: [{ name: 'recency_days' }, { name: 'tx_count_30d' }],
      output: { name: 'probabilities', kind: 'zipmap', positive_class: 'B' }, threshold: 0.5,
    }));
    const s = await open(manifest);
    // Known answers of the fixture: [0, 1] → P(A) 0.75463; [1, 1] → P(B) 0.51765. Other features are ignored.
    const scores = await s.scoreBatch([{ recency_days: 0, tx_count_30d: 1, spend_30d_minor: 9 }, { tx_count_30d: 1, recency_days: 1 }]);
    expect(scores[0]!.probability).toBeCloseTo(1 - 0.75463, 5);
    expect(scores[1]!.probability).toBeCloseTo(0.51765, 5);
    expect(scores.every((x) => x.modelVersion === 'sklearn-gb-zipmap')).toBe(true);
    expect(s.current.stats.runs).toBe(1);
  });

  it('serves our own exporter\'s ZipMap layout and matches the trainer to 1e-5, one run per batch', async () => {
    const features = ['recency_days', 'tx_count_30d', 'spend_30d_minor'];
    const data = catalogueData(features, 600, 5);
    const trained = trainChurnModel(data, { algorithm: 'gbt', gbt: { nTrees: 10, maxDepth: 3 }, holdout: { fraction: 0.2 }, version: 'zip-1', name: 'zip', zipmap: true, trainedAt: '2026-01-01T00:00:00Z' });
    expect(trained.manifest.output.kind).toBe('zipmap');
    const { manifestPath } = await writeChurnModel(dir, trained);
    const s = await open(manifestPath);
    const rows = Array.from({ length: 50 }, (_, i) => Object.fromEntries(features.map((f, j) => [f, data.x[i * 3 + j]!])));
    const scores = await s.scoreBatch(rows);
    const want = trained.predict(data.x.subarray(0, 150));
    scores.forEach((sc, i) => expect(Math.abs(sc.probability - want[i]!)).toBeLessThan(1e-5));
    expect(s.current.stats).toMatchObject({ runs: 1, rows: 50 });
  });

  it('hot-swaps when the manifest changes; a bad new model is refused with a log line and the running one stays', async () => {
    const features = ['recency_days', 'tx_count_30d'];
    const data = catalogueData(features, 400, 9);
    const base = { holdout: { fraction: 0.2 }, trainedAt: '2026-01-01T00:00:00Z' } as const;
    const sub = path.join(dir, 'swap');
    const v1 = await writeChurnModel(sub, trainChurnModel(data, { ...base, algorithm: 'logreg', version: 'v1', name: 'v1' }));
    const v2 = await writeChurnModel(sub, trainChurnModel(catalogueData(['recency_days', 'tx_count_30d', 'tenure_days'], 400, 10), { ...base, algorithm: 'gbt', gbt: { nTrees: 5 }, version: 'v2', name: 'v2' }));
    const live = path.join(sub, 'manifest.json');
    await copyFile(v1.manifestPath, live);
    const s = await open(live, 20);
    expect((await s.scoreBatch([{ recency_days: 3, tx_count_30d: 2 }]))[0]!.modelVersion).toBe('v1');

    await replace(live, await readFile(v2.manifestPath)); // a new model with another feature list
    await expect.poll(() => s.version, { timeout: 10_000, interval: 25 }).toBe('v2');
    const after = await s.scoreBatch([{ recency_days: 3, tx_count_30d: 2, tenure_days: 100 }]);
    expect(after[0]!.modelVersion).toBe('v2');

    const bad = JSON.parse(await readFile(v1.manifestPath, 'utf8')) as { features: { name: string }[]; version: string };
    bad.version = 'v3-bad';
    bad.features[1] = { name: 'amount_30d' };
    logs.length = 0;
    await replace(live, JSON.stringify(bad));
    await expect.poll(() => logs.some((l) => l.msg === 'new churn model refused; the running model stays'), { timeout: 10_000, interval: 25 }).toBe(true);
    const line = logs.find((l) => l.msg === 'new churn model refused; the running model stays')!;
    expect(String(line.err)).toContain('"amount_30d"');
    expect(line.running).toBe('v2');
    expect(s.version).toBe('v2');
    expect((await s.scoreBatch([{ recency_days: 1, tx_count_30d: 1, tenure_days: 1 }]))[0]!.modelVersion).toBe('v2');
  });

  it('feeds NaN for a feature missing from a vector (trees route it as trained)', async () => {
    const features = ['recency_days', 'tx_count_30d'];
    const trained = trainChurnModel(catalogueData(features, 300, 3), { algorithm: 'gbt', gbt: { nTrees: 5 }, holdout: { fraction: 0.2 }, version: 'nan-1', name: 'nan', trainedAt: '2026-01-01T00:00:00Z' });
    const { manifestPath } = await writeChurnModel(path.join(dir, 'nan'), trained);
    const s = await open(manifestPath);
    const [p] = await s.scoreBatch([{ recency_days: 5 }]);
    expect(p!.probability).toBeCloseTo(trained.predict(Float32Array.of(5, NaN))[0]!, 5);
    expect(FEATURE_NAMES).toContain('tx_count_30d');
  });
});

describe('the shipped default model (models/churn)', () => {
  it('loads through the scorer, uses catalogue features only, and beat the recency-only baseline on its held-out period', async () => {
    const manifest = fileURLToPath(new URL('../../models/churn/manifest.json', import.meta.url));
    const s = await open(manifest);
    expect(s.current.features.every((f) => FEATURE_NAMES.includes(f))).toBe(true);
    const [p] = await s.scoreBatch([Object.fromEntries(FEATURE_NAMES.map((f) => [f, 0]))]);
    expect(p!.probability).toBeGreaterThan(0);
    expect(p!.probability).toBeLessThan(1);
    expect(p!.modelVersion).toBe(s.version);
    const metrics = JSON.parse(await readFile(fileURLToPath(new URL('../../models/churn/metrics.json', import.meta.url)), 'utf8')) as {
      holdout: { rocAuc: number }; baseline: { holdout_roc_auc: number };
    };
    expect(metrics.holdout.rocAuc).toBeGreaterThan(metrics.baseline.holdout_roc_auc + 0.05);
  });
});
