// Any model, mapped: the expression language, the compiled input mapping (rename, expression, constant,
// imputation, one-hot and ordinal encodings), and real converter models served by the running scorer
// through manifests that map vafa features to their inputs.
import { copyFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Writable } from 'node:stream';
import ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileExpr, exprNames, parseExpr } from '../../models/expr.js';
import { manifestProblems } from '../../models/manifest.js';
import { columnNames, compileMapping, type ManifestFeature } from '../../models/mapping.js';
import { createLogger } from '../../platform/log.js';
import { FEATURE_NAMES } from '../../contracts/features.js';
import { FEATURE_INDEX, namedFeatures } from '../../scorer/core/features/engine.js';
import { loadChurnScorer, type ChurnScorerHandle } from '../../scorer/runtime/model/churn.js';
import { fixture, tempDir } from './helpers.js';

const idx = (n: string): number | undefined => (Object.hasOwn(FEATURE_INDEX, n) ? FEATURE_INDEX[n] : undefined);
const logger = createLogger({ level: 'error', destination: new Writable({ write(_c, _e, cb) { cb(); } }) });

/** A catalogue-ordered vector with the given values (others 0). */
function vector(values: Record<string, number>): number[] {
  const v = new Array<number>(FEATURE_NAMES.length).fill(0);
  for (const [k, x] of Object.entries(values)) v[FEATURE_INDEX[k]!] = x;
  return v;
}

describe('expression language', () => {
  const ev = (src: string, values: Record<string, number> = {}): number => compileExpr(src, idx)(vector(values));

  it('evaluates arithmetic with the usual precedence, comparisons and functions', () => {
    expect(ev('1 + 2 * 3 - 4 / 2')).toBe(5);
    expect(ev('-2 ^ 2')).toBe(-4);
    expect(ev('2 ^ 3 ^ 2')).toBe(512);
    expect(ev('(1 + 2) * 3 % 5')).toBe(4);
    expect(ev('recency_days > 30', { recency_days: 31 })).toBe(1);
    expect(ev('recency_days <= 30', { recency_days: 31 })).toBe(0);
    expect(ev('log1p(spend_30d_minor)', { spend_30d_minor: Math.E - 1 })).toBeCloseTo(1, 12);
    expect(ev('ratio(tx_count_7d, tx_count_30d)', { tx_count_7d: 3, tx_count_30d: 12 })).toBe(0.25);
    expect(ev('ratio(tx_count_7d, tx_count_30d, -1)', { tx_count_7d: 3 })).toBe(-1);
    expect(ev('clamp(recency_days / max(interval_mean_days, 1), 0, 10)', { recency_days: 500, interval_mean_days: 0 })).toBe(10);
    expect(ev('if(tenure_days < 90, 1.5, 0)', { tenure_days: 12 })).toBe(1.5);
    expect(ev('min(3, 1, 2) + max(1, 2) + abs(-1) + sqrt(16) + floor(1.7) + ceil(1.2) + round(2.5) + sign(-3)')).toBe(1 + 2 + 1 + 4 + 1 + 2 + 3 - 1);
    expect(ev('isnan(1 / 0) + isnan(2)')).toBe(1);
    expect(ev('1e3 + .5')).toBe(1000.5);
  });

  it('lists the features it reads', () => {
    expect(exprNames('log1p(spend_30d_minor) - log1p(spend_90d_minor / 3) + spend_30d_minor')).toEqual(['spend_30d_minor', 'spend_90d_minor']);
  });

  it('refuses bad syntax, unknown functions and names with the position, and never evaluates code', () => {
    expect(() => parseExpr('1 +')).toThrow('unexpected end of expression at character 4');
    expect(() => parseExpr('log1p(1, 2)')).toThrow('log1p() takes 1 argument, got 2 at character 1');
    expect(() => parseExpr('process.exit(1)')).toThrow('unexpected character "." at character 8');
    expect(() => parseExpr('constructor(1)')).toThrow(/unknown function "constructor"/);
    expect(() => parseExpr('toString(1)')).toThrow(/unknown function "toString"/);
    expect(() => parseExpr('1 2')).toThrow('unexpected "2" after a complete expression at character 3');
    expect(() => parseExpr('a ; b')).toThrow('unexpected character ";" at character 3');
    expect(() => parseExpr('('.repeat(50) + '1' + ')'.repeat(50))).toThrow(/nested deeper than 40 levels/);
    expect(() => compileExpr('recency_dayz * 2', idx)).toThrow('unknown feature "recency_dayz" at character 1');
  });
});

describe('compileMapping', () => {
  const feed = (features: ManifestFeature[], values: Record<string, number> | number[]): number[] => {
    const { mapping, problems } = compileMapping(features, idx);
    expect(problems).toEqual([]);
    const out = new Float32Array(mapping!.width + 2).fill(-99);
    mapping!.feed(Array.isArray(values) ? values : vector(values), out, 1);
    expect(out[0]).toBe(-99);
    expect(out[mapping!.width + 1]).toBe(-99);
    return Array.from(out.subarray(1, mapping!.width + 1));
  };

  it('feeds names, renames, expressions and constants; plain feature lists take the direct path', () => {
    const plain = compileMapping([{ name: 'recency_days' }, { name: 'f1', feature: 'tx_count_30d' }], idx).mapping!;
    expect(plain.direct).toBe(true);
    expect(plain.reads).toEqual(['recency_days', 'tx_count_30d']);
    expect(feed([{ name: 'recency_days' }, { name: 'f1', feature: 'tx_count_30d' }], { recency_days: 4, tx_count_30d: 9 })).toEqual([4, 9]);
    expect(feed([
      { name: 'bias', const: 1 }, { name: 'per_visit', expr: 'ratio(spend_30d_minor, tx_count_30d)' }, { name: 'r', feature: 'recency_days' },
    ], { spend_30d_minor: 100, tx_count_30d: 4, recency_days: 2 })).toEqual([1, 25, 2]);
  });

  it('imputes missing values (NaN, or a non-finite expression) with a constant or a mean, or leaves them to the model', () => {
    const nanVec = vector({});
    nanVec[FEATURE_INDEX.tenure_days!] = NaN;
    expect(feed([
      { name: 'a', feature: 'tenure_days', impute: { value: -1 } },
      { name: 'b', feature: 'tenure_days', impute: { mean: 412.5 } },
      { name: 'c', feature: 'tenure_days', impute: 'model' },
      { name: 'd', feature: 'tenure_days' },
      { name: 'e', expr: '1 / recency_days', impute: { value: 0 } },
    ], nanVec)).toEqual([-1, 412.5, NaN, NaN, 0]);
  });

  it('one-hot encodes with a vocabulary and each unknown-category policy; ordinal encodes by position', () => {
    const onehot = (unknown: 'zeros' | 'column' | 'missing'): ManifestFeature => ({ name: 'tier', feature: 'tier_rank', encode: { onehot: { vocabulary: [0, 1, 2], unknown } } });
    expect(columnNames([onehot('column'), { name: 'x', const: 0 }])).toEqual(['tier=0', 'tier=1', 'tier=2', 'tier=unknown', 'x']);
    expect(feed([onehot('zeros')], { tier_rank: 1 })).toEqual([0, 1, 0]);
    expect(feed([onehot('zeros')], { tier_rank: 7 })).toEqual([0, 0, 0]);
    expect(feed([onehot('column'), { name: 'x', const: 5 }], { tier_rank: 7 })).toEqual([0, 0, 0, 1, 5]);
    expect(feed([onehot('column')], { tier_rank: 2 })).toEqual([0, 0, 1, 0]);
    expect(feed([onehot('missing')], { tier_rank: 7 })).toEqual([NaN, NaN, NaN]);
    const ordinal: ManifestFeature = { name: 'stage', feature: 'sticky_products', encode: { ordinal: { vocabulary: [5, 0, 3] } } };
    expect(feed([ordinal], { sticky_products: 3 })).toEqual([2]);
    expect(feed([ordinal], { sticky_products: 4 })).toEqual([-1]);
    expect(feed([{ ...ordinal, encode: { ordinal: { vocabulary: [5, 0, 3], unknown: 'missing' } } }], { sticky_products: 4 })).toEqual([NaN]);
    // Imputation happens before the encoding: a missing tier becomes 0, then one-hot.
    const v = vector({});
    v[FEATURE_INDEX.tier_rank!] = NaN;
    expect(feed([{ ...onehot('zeros'), impute: { value: 0 } }], v)).toEqual([1, 0, 0]);
  });

  it('refuses an input that cannot be fed, naming the input and why', () => {
    const { mapping, problems } = compileMapping([
      { name: 'ok', feature: 'recency_days' },
      { name: 'x1' },
      { name: 'f2', feature: 'amount_31d' },
      { name: 'f3', expr: 'log1p(spend_31d_minor)' },
      { name: 'f4', expr: 'log1p(' },
      { name: 'f5', feature: 'recency_days', const: 1 },
      { name: 'f6', feature: 'tier_rank', encode: { onehot: { vocabulary: [1, 1] } } },
    ], idx);
    expect(mapping).toBeUndefined();
    expect(problems).toEqual([
      'features[1] "x1": the feature catalogue has no "x1"; map the input to a vafa feature with "feature", "expr" or "const"',
      'features[2] "f2": feature "amount_31d" is not in the feature catalogue (see docs/features.md)',
      'features[3] "f3": expr "log1p(spend_31d_minor)": unknown feature "spend_31d_minor" at character 7 (not in the feature catalogue; see docs/features.md)',
      'features[4] "f4": expr "log1p(": unexpected end of expression at character 7',
      'features[5] "f5": give one of feature, expr or const, not feature and const',
      'features[6] "f6": encode vocabulary lists 1 twice',
    ]);
  });

  it('is checked by manifest validation: syntax, widths with one-hot groups, calibration', () => {
    const base = {
      format: 'vafa.model/v1', version: 'v', onnx: 'm.onnx', input: { name: 'input', shape: ['N', 4] },
      output: { name: 'p', kind: 'probability_tensor', positive_class: 1 }, threshold: 0.5,
    };
    expect(manifestProblems({ ...base, features: [{ name: 't', feature: 'tier_rank', encode: { onehot: { vocabulary: [0, 1, 2], unknown: 'column' } } }] })).toEqual([]);
    expect(manifestProblems({ ...base, features: [{ name: 't', feature: 'tier_rank', encode: { onehot: { vocabulary: [0, 1, 2] } } }] }))
      .toEqual(['input.shape[1]: is 4 but features make 3 columns (1 entries, one-hot groups expanded)']);
    expect(manifestProblems({
      ...base, input: { name: 'input', shape: ['N', 1] }, features: [{ name: 'e', expr: 'a +* b' }],
      calibration: { method: 'isotonic', x: [0.2, 0.1], y: [0.1, 0.2] },
    })).toEqual([
      'features[0] "e": expr "a +* b": unexpected "*" at character 4',
      'calibration.x[1]: must be greater than x[0] (knots ascending)',
    ]);
    expect(manifestProblems({ ...base, input: { name: 'input', shape: ['N', 1] }, features: [{ name: 's', const: 0, strings: { map: { 0: 'S', x: 'X' } } }] })).toEqual([
      'features[0] "s": strings.map key "x" is not a number (the keys are the codes the column holds)',
      'features[0] "s": strings labels feed string inputs of a per-column model; set input.per_column or drop them',
    ]);
    expect(manifestProblems({ ...base, input: { name: 'input', shape: ['N', 1] }, features: [{ name: 'e', encode: { onehot: { vocabulary: [] } } }] }))
      .toEqual(['features[0].encode: must be { "onehot": { "vocabulary": [...], "unknown"?: "zeros" | "column" | "missing" } } or { "ordinal": { "vocabulary": [...], "unknown"?: number | "missing" } } (got {"onehot":{"vocabulary":[]}})']);
  });
});

describe('the running scorer serves converter models through mapped manifests', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  const opened: ChurnScorerHandle[] = [];
  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir());
    for (const f of ['sklearn-onnx-2018/SklearnBinGradientBoostingClassifier.model.onnx', 'sklearn-onnx-2018/SklearnLogitisticRegressionBinary.model.onnx', 'sklearn-onnx-tests/treecl2.onnx']) {
      await copyFile(fixture(f), path.join(dir, path.basename(f)));
    }
  });
  afterAll(async () => {
    await Promise.all(opened.map((s) => s.close()));
    await cleanup();
  });
  const write = async (name: string, m: Record<string, unknown>): Promise<string> => {
    const p = path.join(dir, `${name}.manifest.json`);
    await writeFile(p, JSON.stringify({ format: 'vafa.model/v1', version: name, threshold: 0.5, ...m }));
    return p;
  };
  const open = async (p: string): Promise<ChurnScorerHandle> => {
    const s = await loadChurnScorer(p, logger, { watchIntervalMs: 0 });
    opened.push(s);
    return s;
  };

  it('GradientBoosting (ZipMap, string labels): inputs x0, x1 from a renamed feature and an expression', async () => {
    const s = await open(await write('gb-mapped', {
      onnx: 'SklearnBinGradientBoostingClassifier.model.onnx', input: { name: 'input', shape: ['N', 2] },
      features: [{ name: 'x0', feature: 'recency_days' }, { name: 'x1', expr: 'ratio(tx_count_30d, 10)' }],
      output: { name: 'probabilities', kind: 'zipmap', positive_class: 'B' },
    }));
    // Known answers: [0, 1] → P(A) 0.75463; [1, 1] → P(B) 0.51765. Core vectors and named objects alike.
    const scores = await s.scoreBatch([namedFeatures(vector({ recency_days: 0, tx_count_30d: 10 })), { recency_days: 1, tx_count_30d: 10 }]);
    expect(scores[0]!.probability).toBeCloseTo(1 - 0.75463, 5);
    expect(scores[1]!.probability).toBeCloseTo(0.51765, 5);
    expect(scores[0]!.modelVersion).toBe('gb-mapped');
    // A foreign model has no reasons sidecar: no reasons.
    expect(await s.explain([{ recency_days: 1, tx_count_30d: 10 }])).toEqual([undefined]);
  });

  it('LogisticRegression (ZipMap, int64 labels): a constant, a scaled expression and an imputed feature', async () => {
    const s = await open(await write('lr-mapped', {
      onnx: 'SklearnLogitisticRegressionBinary.model.onnx', input: { name: 'input', shape: ['N', 3] },
      features: [{ name: 'sepal_length', const: 5.1 }, { name: 'sepal_width', expr: 'age_years / 10' }, { name: 'petal_length', feature: 'tenure_days', impute: { value: 1.4 } }],
      output: { name: 'probabilities', kind: 'zipmap', positive_class: 0 },
    }));
    // Known answer: [5.1, 3.5, 1.4] → class 0 with p0 = 0.98233; tenure_days is missing from the named vector.
    const [score] = await s.scoreBatch([{ age_years: 35 }]);
    expect(score!.probability).toBeCloseTo(0.98233, 5);
  });

  it('treecl2 (20 inputs, probability tensor): one-hot, ordinal, expressions, constants; equals onnxruntime on the same row', async () => {
    const features: ManifestFeature[] = [
      { name: 'tier', feature: 'tier_rank', encode: { onehot: { vocabulary: [0, 1, 2], unknown: 'column' } } }, // 4 columns
      { name: 'sticky', feature: 'sticky_products', encode: { ordinal: { vocabulary: [0, 1, 2, 3, 4, 5] } } },
      { name: 'log_spend', expr: 'log1p(spend_30d_minor) - 10' },
      { name: 'overdue', expr: 'clamp(recency_days / max(interval_mean_days, 1), 0, 5) - 1' },
      { name: 'activity_trend' },
      { name: 'new', expr: 'if(tenure_days < 90, 1, -1)' },
      { name: 'z_recency', feature: 'recency_days', scale: { mean: 10, std: 5 } },
      ...Array.from({ length: 10 }, (_, k): ManifestFeature => ({ name: `c${k}`, const: (k % 5) * 0.4 - 0.8 })),
    ];
    expect(columnNames(features)).toHaveLength(20);
    const s = await open(await write('treecl2-mapped', {
      onnx: 'treecl2.onnx', input: { name: 'input', shape: ['N', 20] }, features,
      output: { name: 'proba_2', kind: 'probability_tensor', positive_class: 1 },
    }));
    const customers = [
      { tier_rank: 2, sticky_products: 3, spend_30d_minor: 50_000, recency_days: 12, interval_mean_days: 4, activity_trend: -0.7, tenure_days: 40 },
      { tier_rank: 9, sticky_products: 7, spend_30d_minor: 0, recency_days: 700, interval_mean_days: 0, activity_trend: 1.2, tenure_days: 900 },
      { tier_rank: 0, sticky_products: 0, spend_30d_minor: 1e7, recency_days: 0, interval_mean_days: 90, activity_trend: 0, tenure_days: 89 },
    ];
    const scores = await s.scoreBatch(customers.map((c) => namedFeatures(vector(c))));
    // The same rows written out by hand, fed to onnxruntime directly.
    const rows = customers.flatMap((c) => [
      ...[0, 1, 2].map((t) => (c.tier_rank === t ? 1 : 0)), [0, 1, 2].includes(c.tier_rank) ? 0 : 1,
      c.sticky_products <= 5 ? c.sticky_products : -1,
      Math.log1p(c.spend_30d_minor) - 10,
      Math.min(5, Math.max(0, c.recency_days / Math.max(c.interval_mean_days, 1))) - 1,
      c.activity_trend,
      c.tenure_days < 90 ? 1 : -1,
      (c.recency_days - 10) / 5,
      ...Array.from({ length: 10 }, (_, k) => (k % 5) * 0.4 - 0.8),
    ]);
    const session = await ort.InferenceSession.create(fixture('sklearn-onnx-tests/treecl2.onnx'));
    const out = await session.run({ input: new ort.Tensor('float32', Float32Array.from(rows), [3, 20]) });
    const proba = out.proba_2!.data as Float32Array;
    await session.release();
    expect(scores.map((x) => x.probability)).toEqual([proba[1], proba[3], proba[5]]);
  });

  it('refuses a bad mapping naming the input; a hot swap to it keeps the running model', async () => {
    const good = {
      onnx: 'SklearnBinGradientBoostingClassifier.model.onnx', input: { name: 'input', shape: ['N', 2] },
      features: [{ name: 'x0', feature: 'recency_days' }, { name: 'x1', feature: 'tx_count_30d' }],
      output: { name: 'probabilities', kind: 'zipmap', positive_class: 'B' },
    };
    const bad = { ...good, version: 'gb-bad', features: [{ name: 'x0', feature: 'recency_days' }, { name: 'x1', expr: 'log1p(tx_count_31d)' }] };
    const badPath = await write('gb-bad', bad);
    await expect(loadChurnScorer(badPath, logger, { watchIntervalMs: 0 }))
      .rejects.toThrow('features[1] "x1": expr "log1p(tx_count_31d)": unknown feature "tx_count_31d" at character 7');

    const p = await write('gb-swap', good);
    const s = await open(p);
    await write('gb-swap', bad);
    const out = await s.reload();
    expect(out.status).toBe('refused');
    expect(out.status === 'refused' && out.error).toMatch(/features\[1\] "x1": expr .*unknown feature "tx_count_31d"/);
    expect(s.version).toBe('gb-swap');
    const [score] = await s.scoreBatch([{ recency_days: 1, tx_count_30d: 1 }]);
    expect(score!.probability).toBeCloseTo(0.51765, 5);

    // A width that does not match the model names the count.
    await write('gb-swap', { ...good, version: 'gb-wide', input: { name: 'input', shape: ['N', 3] }, features: [...good.features, { name: 'x2', const: 1 }] });
    const wide = await s.reload();
    expect(wide.status === 'refused' && wide.error).toMatch(/the model takes 2 features, the manifest lists 3 \(x0, x1, x2\): 1 too many/);
    expect(s.version).toBe('gb-swap');
    // A good mapped model of another width swaps in; rows follow the new model's mapping.
    await write('gb-swap', {
      version: 'lr-swapped', onnx: 'SklearnLogitisticRegressionBinary.model.onnx', input: { name: 'input', shape: ['N', 3] },
      features: [{ name: 'a', const: 5.1 }, { name: 'b', expr: 'age_years / 10' }, { name: 'c', feature: 'tenure_days', impute: { value: 1.4 } }],
      output: { name: 'probabilities', kind: 'zipmap', positive_class: 0 },
    });
    expect(await s.reload()).toEqual({ status: 'swapped', from: 'gb-swap', to: 'lr-swapped' });
    const [lr] = await s.scoreBatch([{ age_years: 35 }]);
    expect(lr).toEqual({ probability: expect.closeTo(0.98233, 5) as number, modelVersion: 'lr-swapped' });
  });

  it('serves a scikit-learn pipeline with one input per column (Titanic: int64, string and float inputs) from vafa features', async () => {
    for (const f of ['pipeline_titanic_nozipmap.onnx', 'pipeline_titanic.onnx']) await copyFile(fixture(`sklearn-onnx-docs/${f}`), path.join(dir, f));
    const features: ManifestFeature[] = [
      { name: 'pclass', expr: 'clamp(3 - tier_rank, 1, 3)' },
      { name: 'sex', feature: 'has_debit_card', strings: { map: { 0: 'male', 1: 'female' } } },
      { name: 'age', feature: 'age_years' },
      { name: 'fare', expr: 'spend_30d_minor / 1000' },
      { name: 'embarked', const: 0, strings: { map: { 0: 'S' } } },
    ];
    const s = await open(await write('titanic-mapped', {
      onnx: 'pipeline_titanic_nozipmap.onnx', input: { name: 'columns', shape: ['N', 5], per_column: true }, features,
      output: { name: 'probabilities', kind: 'probability_tensor', positive_class: 1 },
    }));
    // Known answer: a 1st-class female, 29, fare 211.34, embarked S → class 1 with p = 0.8855.
    const customer = { tier_rank: 2, has_debit_card: 1, age_years: 29, spend_30d_minor: 211_337.5 };
    const [score, other] = await s.scoreBatch([namedFeatures(vector(customer)), { ...customer, tier_rank: 0, has_debit_card: 0 }]);
    expect(score!.probability).toBeCloseTo(0.8855, 4);
    const session = await ort.InferenceSession.create(fixture('sklearn-onnx-docs/pipeline_titanic_nozipmap.onnx'));
    const t = (type: 'int64' | 'string' | 'float32', v: unknown[]): ort.Tensor => new ort.Tensor(type, type === 'int64' ? BigInt64Array.from(v as bigint[]) : type === 'float32' ? Float32Array.from(v as number[]) : (v as string[]), [v.length, 1]);
    const out = await session.run({ pclass: t('int64', [1n, 3n]), sex: t('string', ['female', 'male']), age: t('float32', [29, 29]), fare: t('float32', [211.3375, 211.3375]), embarked: t('string', ['S', 'S']) });
    const p = out.probabilities!.data as Float32Array;
    await session.release();
    expect([score!.probability, other!.probability]).toEqual([p[1], p[3]]);

    // The ZipMap export takes pclass as a string: the same mapping with labels for it.
    const z = await open(await write('titanic-zipmap-mapped', {
      onnx: 'pipeline_titanic.onnx', input: { name: 'columns', shape: ['N', 5], per_column: true },
      features: [{ ...features[0]!, strings: { map: { 1: '1', 2: '2', 3: '3' } } }, ...features.slice(1)],
      output: { name: 'output_probability', kind: 'zipmap', positive_class: 1 },
    }));
    // (another fit of the pipeline: no published answer, so only its direction is checked)
    const [zs, zo] = await z.scoreBatch([customer, { ...customer, tier_rank: 0, has_debit_card: 0 }]);
    expect(zs!.probability).toBeGreaterThan(0.8);
    expect(zo!.probability).toBeLessThan(0.2);

    // A string input without labels, and an input nobody feeds, are refused naming them.
    const bad = await write('titanic-bad', {
      onnx: 'pipeline_titanic_nozipmap.onnx', input: { name: 'columns', shape: ['N', 4], per_column: true },
      features: [features[0], { name: 'sex', feature: 'has_debit_card' }, features[2], features[3]],
      output: { name: 'probabilities', kind: 'probability_tensor', positive_class: 1 },
    });
    const err = (await loadChurnScorer(bad, logger, { watchIntervalMs: 0 }).catch((e: unknown) => e)) as Error;
    expect(err.message).toContain('features[1] "sex": input "sex" is string[?,1]: give "strings" (the label of each numeric code) to feed it');
    expect(err.message).toContain('input "embarked" (string[?,1]) of the model is fed by no features entry');
  });

  it('gives occlusion reasons for a foreign model with explain.reference, in one run', async () => {
    const s = await open(await write('gb-occlusion', {
      onnx: 'SklearnBinGradientBoostingClassifier.model.onnx', input: { name: 'input', shape: ['N', 2] },
      features: [{ name: 'x0', feature: 'recency_days' }, { name: 'x1', expr: 'ratio(tx_count_30d, 10)' }],
      output: { name: 'probabilities', kind: 'zipmap', positive_class: 'B' },
      explain: { reference: { recency_days: 0, tx_count_30d: 10 } },
    }));
    const runs = s.current.stats.runs;
    const [reasons] = await s.explain([namedFeatures(vector({ recency_days: 1, tx_count_30d: 10 }))]);
    expect(s.current.stats.runs).toBe(runs + 1);
    // Known answers: P(B | [1, 1]) = 0.51765, P(B | [0, 1]) = 1 − 0.75463; tx_count_30d is at its reference.
    const logit = (p: number): number => Math.log(p / (1 - p));
    expect(reasons).toHaveLength(1);
    expect(reasons![0]).toMatchObject({ feature: 'recency_days', value: 1 });
    expect(reasons![0]!.contribution).toBeCloseTo(logit(0.51765) - logit(1 - 0.75463), 4);
    await expect(loadChurnScorer(await write('gb-occlusion-bad', {
      onnx: 'SklearnBinGradientBoostingClassifier.model.onnx', input: { name: 'input', shape: ['N', 2] },
      features: [{ name: 'x0', feature: 'recency_days' }, { name: 'x1', feature: 'tx_count_30d' }],
      output: { name: 'probabilities', kind: 'zipmap', positive_class: 'B' },
      explain: { reference: { recency_dayz: 0 } },
    }), logger, { watchIntervalMs: 0 })).rejects.toThrow('explain.reference: the feature catalogue has no "recency_dayz"');
  });

  it('applies the manifest calibration to every probability', async () => {
    const s = await open(await write('gb-platt', {
      onnx: 'SklearnBinGradientBoostingClassifier.model.onnx', input: { name: 'input', shape: ['N', 2] },
      features: [{ name: 'x0', feature: 'recency_days' }, { name: 'x1', feature: 'tx_count_30d' }],
      output: { name: 'probabilities', kind: 'zipmap', positive_class: 'B' },
      calibration: { method: 'platt', a: 2, b: 0.5 },
    }));
    const [score] = await s.scoreBatch([{ recency_days: 1, tx_count_30d: 1 }]);
    const z = Math.log(0.51765 / (1 - 0.51765));
    expect(score!.probability).toBeCloseTo(1 / (1 + Math.exp(-(2 * z + 0.5))), 5);
  });
});
