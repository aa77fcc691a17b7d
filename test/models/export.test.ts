// Trainer → ONNX → loader parity: the served probabilities equal the trainer's own predictions.
import { readFile } from 'node:fs/promises';
import ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseManifest } from '../../models/manifest.js';
import { decodeModel, describeType, intsAttribute, metadataOf } from '../../models/onnx/schema.js';
import { loadModel } from '../../scorer/runtime/model/onnx.js';
import { syntheticChurnData } from '../../training/synthetic.js';
import { trainChurnModel, writeChurnModel, type MetricsReport, type TrainChurnOptions } from '../../training/train.js';
import { maxAbsDiff, tempDir } from './helpers.js';

const withMissing = syntheticChurnData({ n: 4000, seed: 21, missing: 0.05 });
const complete = syntheticChurnData({ n: 4000, seed: 22 });
const nf = withMissing.features.length;

/** Rows the training data never showed: all missing, beyond every threshold, zeros. */
const edgeRows = Float32Array.from([
  ...Array<number>(nf).fill(NaN), ...Array<number>(nf).fill(1e30), ...Array<number>(nf).fill(-1e30), ...Array<number>(nf).fill(0),
]);

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => ({ dir, cleanup } = await tempDir()));
afterAll(() => cleanup());

const base = { holdout: { fraction: 0.25 }, trainedAt: '2024-07-01T00:00:00.000Z', gbt: { nTrees: 60, maxDepth: 4, subsample: 0.8, seed: 5 } } as const;

const cases: [string, TrainChurnOptions][] = [
  ['gbt, TreeEnsembleClassifier, probability tensor', { ...base, algorithm: 'gbt', version: 'gbt-1', name: 'gbt-tensor' }],
  ['gbt, TreeEnsembleClassifier, ZipMap', { ...base, algorithm: 'gbt', version: 'gbt-1', name: 'gbt-zipmap', zipmap: true }],
  ['gbt, TreeEnsembleRegressor + Sigmoid, ZipMap', { ...base, algorithm: 'gbt', version: 'gbt-2', name: 'gbt-reg', zipmap: true, trees: 'regressor' }],
  ['logreg, Sub/Div nodes, probability tensor', { ...base, algorithm: 'logreg', version: 'lr-1', name: 'lr-nodes' }],
  ['logreg, folded scaling, ZipMap', { ...base, algorithm: 'logreg', version: 'lr-2', name: 'lr-fold', zipmap: true, scaling: 'fold' }],
  ['logreg, scaling in the manifest, ZipMap', { ...base, algorithm: 'logreg', version: 'lr-3', name: 'lr-manifest', zipmap: true, scaling: 'manifest' }],
];

describe('exported models score like their trainer', () => {
  it.each(cases)('%s', async (_, opts) => {
    const data = opts.algorithm === 'gbt' ? withMissing : complete;
    const trained = trainChurnModel(data, opts);
    const { manifestPath, reportPath } = await writeChurnModel(dir, trained);
    const model = await loadModel(manifestPath);
    try {
      const n = data.y.length;
      const p = await model.scoreBatch(data.x, n);
      expect(model.stats).toEqual({ runs: 1, rows: n });
      const diff = maxAbsDiff(p, trained.predict(data.x));
      expect(diff).toBeLessThan(1e-5);
      if (opts.algorithm === 'gbt') {
        const edge = await model.scoreBatch(edgeRows, 4);
        expect(maxAbsDiff(edge, trained.predict(edgeRows))).toBeLessThan(1e-5);
      }
      expect(model.version).toBe(opts.version);
      expect(model.features).toEqual(data.features);

      const report = JSON.parse(await readFile(reportPath, 'utf8')) as MetricsReport;
      expect(report.holdout.rocAuc).toBeGreaterThan(0.65);
      expect(report.holdout.calibration).toHaveLength(10);
      expect(report.split.holdout.rows).toBe(1000);
      expect(report.split.train.to < report.split.holdout.from).toBe(true);
      const manifest = parseManifest(await readFile(manifestPath, 'utf8'), manifestPath);
      expect(manifest.threshold).toBe(report.threshold);
      expect(manifest.metrics?.roc_auc).toBe(report.holdout.rocAuc);
      expect(manifest.sha256).toMatch(/^[0-9a-f]{64}$/);
    } finally {
      await model.close();
    }
  });
});

describe('output layouts', () => {
  const trained = (zipmap: boolean) => trainChurnModel(complete, { ...base, algorithm: 'gbt', version: 'layout', zipmap, gbt: { nTrees: 5 } });

  it('zipmap: false is skl2onnx zipmap=False: label int64 [N], probabilities float [N,2]', async () => {
    const t = trained(false);
    const g = decodeModel(t.exported.bytes).graph!;
    expect(g.output.map((o) => `${o.name}:${describeType(o.type)}`)).toEqual(['label:int64[N]', 'probabilities:float[N,2]']);
    expect(g.input.map((o) => `${o.name}:${describeType(o.type)}`)).toEqual([`input:float[N,${nf}]`]);
    const session = await ort.InferenceSession.create(t.exported.bytes);
    const x = complete.x.subarray(0, 50 * nf);
    const out = await session.run({ input: new ort.Tensor('float32', x, [50, nf]) });
    const proba = out.probabilities!.data as Float32Array;
    const labels = out.label!.data as BigInt64Array;
    const p = t.predict(x);
    for (let i = 0; i < 50; i++) {
      expect(proba[2 * i]! + proba[2 * i + 1]!).toBeCloseTo(1, 6);
      expect(proba[2 * i + 1]).toBeCloseTo(p[i]!, 5);
      expect(labels[i]).toBe(p[i]! > 0.5 ? 1n : 0n);
    }
    await session.release();
  });

  it('zipmap: true is the skl2onnx default: output_label int64 [N], output_probability seq(map(int64,float))', async () => {
    const t = trained(true);
    const m = decodeModel(t.exported.bytes);
    const g = m.graph!;
    expect(g.output.map((o) => `${o.name}:${describeType(o.type)}`)).toEqual(['output_label:int64[N]', 'output_probability:seq(map(int64,float))']);
    const zip = g.node.find((n) => n.opType === 'ZipMap')!;
    expect(zip).toMatchObject({ domain: 'ai.onnx.ml', input: ['probabilities'], output: ['output_probability'] });
    expect(intsAttribute(zip, 'classlabels_int64s')).toEqual([0, 1]);
    const meta = metadataOf(m);
    expect(meta['vafa.version']).toBe('layout');
    expect(JSON.parse(meta['vafa.features']!)).toEqual(complete.features);
    expect(JSON.parse(meta['vafa.metrics']!)).toMatchObject({ roc_auc: t.report.holdout.rocAuc });
    expect(m.opsetImport).toEqual([{ domain: '', version: 17 }, { domain: 'ai.onnx.ml', version: 3 }]);
    // Why the loader strips the ZipMap: onnxruntime-node cannot hand back seq(map) values.
    const session = await ort.InferenceSession.create(t.exported.bytes);
    await expect(session.run({ input: new ort.Tensor('float32', complete.x.subarray(0, nf), [1, nf]) })).rejects.toThrow(/Non tensor type/);
    await session.release();
  });
});
