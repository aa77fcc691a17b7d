// Converter-built models (scikit-learn through onnxmltools / skl2onnx) served through manifests.
import { readFileSync } from 'node:fs';
import ort from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';
import { parseManifest } from '../../models/manifest.js';
import { decodeModel, floatsAttribute, intsAttribute, stringsAttribute } from '../../models/onnx/schema.js';
import { createModel, loadModel, ModelRefusedError, type ChurnModel } from '../../scorer/runtime/model/onnx.js';
import { fixture, maxAbsDiff } from './helpers.js';

interface Golden {
  input_rows: number[][];
  expected_sklearn_proba: number[][];
  expected_onnxruntime_2018_zipmap: Record<string, number>[];
}
const golden = JSON.parse(readFileSync(fixture('sklearn-onnx-2018/golden_io.json'), 'utf8')) as { models: Record<string, Golden> };
const feed = (name: string): number[] => (JSON.parse(readFileSync(fixture(name), 'utf8')) as { input: { data: number[] } }).input.data;

const opened: ChurnModel[] = [];
afterAll(async () => {
  await Promise.all(opened.map((m) => m.close()));
});
async function load(manifest: string): Promise<ChurnModel> {
  const m = await loadModel(fixture(`manifests/${manifest}`));
  opened.push(m);
  return m;
}

/** A manifest for one of the 2018 models, built in memory. */
async function model2018(name: string, positive: number | string, features: number): Promise<ChurnModel> {
  const manifest = parseManifest(JSON.stringify({
    format: 'vafa.model/v1', version: name, onnx: `${name}.model.onnx`, input: { name: 'input', shape: ['N', features] },
    features: Array.from({ length: features }, (_, j) => ({ name: `x${j}` })),
    output: { name: 'probabilities', kind: 'zipmap', positive_class: positive }, threshold: 0.5,
  }), name);
  const m = await createModel(manifest, readFileSync(fixture(`sklearn-onnx-2018/${name}.model.onnx`)), name);
  opened.push(m);
  return m;
}

describe('known answers through the loader', () => {
  it('GradientBoosting, ZipMap over string labels: [0,1] → A 0.75463, [1,1] → B 0.51765', async () => {
    const m = await load('sklearn-gb-zipmap-strings.manifest.json');
    expect(m.notes).toContain('ZipMap "probabilities" removed; reading float tensor "probability_tensor"');
    expect(m.notes.some((n) => n.startsWith('batch dimension fixed at 1 made symbolic'))).toBe(true);
    const [pB01, pB11] = await m.scoreBatch(Float32Array.of(...feed('feed_gb.json'), 1, 1), 2);
    expect(1 - pB01!).toBeCloseTo(0.75463, 5);
    expect(pB11).toBeCloseTo(0.51765, 5);
    expect(m.stats.runs).toBe(1);
    const a = await model2018('SklearnBinGradientBoostingClassifier', 'A', 2);
    expect((await a.scoreBatch(Float32Array.of(0, 1), 1))[0]).toBeCloseTo(0.75463, 5);
  });

  it('LogisticRegression, ZipMap over int64 labels: [5.1,3.5,1.4] → 0 with p0 0.98233', async () => {
    const m = await load('sklearn-logreg-zipmap-int64.manifest.json');
    const p1 = (await m.scoreBatch(Float32Array.from(feed('feed_lr.json')), 1))[0]!;
    expect(1 - p1).toBeCloseTo(0.98233, 5);
    expect(p1 < m.threshold).toBe(true);
    const p0 = await model2018('SklearnLogitisticRegressionBinary', 0, 3);
    expect((await p0.scoreBatch(Float32Array.from(feed('feed_lr.json')), 1))[0]).toBeCloseTo(0.98233, 5);
  });

  it.each([
    ['SklearnBinGradientBoostingClassifier', 'B', 2],
    ['SklearnBinRandomForestClassifier', 'B', 2],
    ['SklearnBinDecisionTreeClassifier', 'B', 2],
    ['SklearnBinExtraTreesClassifier', 'B', 2],
    ['SklearnLogitisticRegressionBinary', 1, 3],
  ] as const)('%s: every golden row in one run matches onnxruntime (2018) and scikit-learn', async (name, positive, width) => {
    const g = golden.models[name]!;
    const m = await model2018(name, positive, width);
    const n = g.input_rows.length;
    const p = await m.scoreBatch(Float32Array.from(g.input_rows.flat()), n);
    expect(m.stats).toEqual({ runs: 1, rows: n });
    expect(maxAbsDiff(p, g.expected_onnxruntime_2018_zipmap.map((z) => z[String(positive)]!))).toBeLessThan(1e-6);
    expect(maxAbsDiff(p, g.expected_sklearn_proba.map((r) => r[1]!))).toBeLessThan(1e-5);
  });

  it('treecl2, probability tensor [N,2]: equals onnxruntime on the file and a reading of its trees', async () => {
    const m = await load('treecl2.manifest.json');
    const x = Float32Array.from(feed('feed_treecl2.json'));
    const p = await m.scoreBatch(x, 3);

    const session = await ort.InferenceSession.create(fixture('sklearn-onnx-tests/treecl2.onnx'));
    const out = await session.run({ input: new ort.Tensor('float32', x, [3, 20]) });
    const proba = out.proba_2!.data as Float32Array;
    expect(maxAbsDiff(p, [proba[1]!, proba[3]!, proba[5]!])).toBe(0);
    await session.release();

    // Independent reading: binary TreeEnsembleClassifier, weights on class 0 = margin of class 1.
    const node = decodeModel(readFileSync(fixture('sklearn-onnx-tests/treecl2.onnx'))).graph!.node[0]!;
    const [tree, id, feat, thr, yes, no] = ['nodes_treeids', 'nodes_nodeids', 'nodes_featureids', 'nodes_values', 'nodes_truenodeids', 'nodes_falsenodeids']
      .map((a) => (a === 'nodes_values' ? floatsAttribute(node, a) : intsAttribute(node, a)));
    const modes = stringsAttribute(node, 'nodes_modes');
    const key = (t: number, k: number): string => `${t}/${k}`;
    const at = new Map(tree!.map((t, i) => [key(t, id![i]!), i]));
    const weight = new Map<string, number>();
    intsAttribute(node, 'class_treeids').forEach((t, i) => {
      const k = key(t, intsAttribute(node, 'class_nodeids')[i]!);
      weight.set(k, (weight.get(k) ?? 0) + floatsAttribute(node, 'class_weights')[i]!);
    });
    const expected = [0, 1, 2].map((r) => {
      let margin = floatsAttribute(node, 'base_values')[0]!;
      for (const t of new Set(tree)) {
        let i = at.get(key(t, 0))!;
        while (modes[i] !== 'LEAF') i = at.get(key(t, x[r * 20 + feat![i]!]! <= thr![i]! ? yes![i]! : no![i]!))!;
        margin += weight.get(key(t, id![i]!)) ?? 0;
      }
      return 1 / (1 + Math.exp(-margin));
    });
    expect(maxAbsDiff(p, expected)).toBeLessThan(1e-6);
  });

  it('refuses the Titanic pipeline (one input per column) without input.per_column, and says why', async () => {
    const err = await loadModel(fixture('manifests/titanic.manifest.json')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ModelRefusedError);
    expect((err as Error).message).toMatch(/the model has 5 inputs \(pclass \(string\[\?,1\]\), sex/);
    expect((err as Error).message).toMatch(/feeds a single float tensor \[batch, features\] unless input.per_column is set/);
  });

  it('the Titanic fixture itself gives its known answer 0.8855 in onnxruntime', async () => {
    const feeds = JSON.parse(readFileSync(fixture('feed_titanic_nozip.json'), 'utf8')) as Record<string, { type: string; dims: number[]; data: (number | string)[] }>;
    const session = await ort.InferenceSession.create(fixture('sklearn-onnx-docs/pipeline_titanic_nozipmap.onnx'));
    const tensors = Object.fromEntries(Object.entries(feeds).map(([k, v]) => [k, v.type === 'string'
      ? new ort.Tensor('string', v.data as string[], v.dims)
      : v.type === 'int64' ? new ort.Tensor('int64', BigInt64Array.from(v.data as number[], BigInt), v.dims)
        : new ort.Tensor('float32', Float32Array.from(v.data as number[]), v.dims)]));
    const out = await session.run(tensors);
    expect((out.probabilities!.data as Float32Array)[1]).toBeCloseTo(0.8855, 4);
    await session.release();
  });
});
