// Reasons stored with each score: the compiled path attribution gives explain()'s numbers, the stored
// text is bounded and ordered (largest |contribution| first, ties to the earlier feature, zeros left out,
// names cut, missing values null), and adds up to the model's log-odds; which scores carry them (the
// manifest's `reasons`, the scorer's options, the default cut at the model's threshold); the core carries
// them into scored_transactions and customer_state and clears them when a later score has none; the API
// reads the text back.
import { copyFile, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseChurnReasons } from '../../contracts/churn-reasons.js';
import { createLogger } from '../../platform/log.js';
import { Engine, type Pending } from '../../scorer/core/engine.js';
import { FEATURE_NAMES } from '../../contracts/features.js';
import { newPartitionState } from '../../scorer/core/state.js';
import { OutputEmit } from '../../sinks/mapping.js';
import { loadChurnScorer, type ChurnScorerHandle } from '../../scorer/runtime/model/churn.js';
import {
  compilePath, explanationJson, MAX_FEATURE_NAME, MAX_REASONS, occlusionJson, pathReasonsJson, reasonNumber, reasonsPlan, ReasonsOptionError,
} from '../../scorer/runtime/model/reasons.js';
import { explain, marginOf, type Explainer } from '../../training/reasons.js';
import { createRng } from '../../training/random.js';
import { fixture, tempDir } from './helpers.js';
import { defaultEngineConfig } from '../../config/policy.js';

const SHIPPED = path.resolve(import.meta.dirname, '../../models/churn');
type Trees = Extract<Explainer, { kind: 'trees' }>;
interface Stored { method: string; bias?: number; other?: number; top: { feature: string; value: number | null; contribution: number }[] }

const logger = createLogger({ level: 'error', destination: new Writable({ write(_c, _e, cb) { cb(); } }) });
const sigmoid = (z: number): number => 1 / (1 + Math.exp(-z));
const listed = (s: Stored): number => s.top.reduce((a, r) => a + r.contribution, 0);

let shipped: Trees;
beforeAll(async () => {
  shipped = JSON.parse(await readFile(path.join(SHIPPED, 'churn-gbt.explain.json'), 'utf8')) as Trees;
});

/** Rows over the shipped model's columns: values around its split thresholds, one in ten missing. */
function rows(n: number, seed: number): Float32Array[] {
  const rng = createRng(seed);
  const scale = shipped.features.map((_, j) => {
    const th = shipped.trees.flatMap((t) => t.feature.flatMap((f, k) => (f === j ? [t.threshold[k]!] : [])));
    return th.length ? Math.max(...th.map(Math.abs)) * 2 : 1;
  });
  return Array.from({ length: n }, () => Float32Array.from(scale, (s) => (rng.next() < 0.1 ? NaN : rng.next() * s)));
}

describe('stored reasons: selection, order, bounds', () => {
  it('compiled path attribution gives explain()\'s reasons, and bias + other + Σ top is the margin', () => {
    const c = compilePath(shipped);
    for (const row of rows(400, 3)) {
      for (const k of [1, 3, MAX_REASONS]) {
        const got = JSON.parse(pathReasonsJson(c, row, k)) as Stored;
        const want = explain(shipped, row, k, 'path');
        expect(got.method).toBe('path');
        expect(got.top.map((r) => r.feature)).toEqual(want.top.map((r) => r.feature));
        got.top.forEach((r, i) => {
          expect(r.contribution).toBeCloseTo(want.top[i]!.contribution, 6);
          const v = want.top[i]!.value;
          if (Number.isNaN(v)) expect(r.value).toBeNull();
          else expect(r.value).toBeCloseTo(v, 5);
        });
        expect(got.top.length).toBeLessThanOrEqual(k);
        for (let i = 1; i < got.top.length; i++) expect(Math.abs(got.top[i - 1]!.contribution)).toBeGreaterThanOrEqual(Math.abs(got.top[i]!.contribution));
        expect(got.bias! + got.other! + listed(got)).toBeCloseTo(marginOf(shipped, row), 5);
        // The same text as the general path through explain().
        expect(JSON.parse(explanationJson(want, k, 'path'))).toEqual(got);
      }
    }
  });

  it('leaves zero contributions out, breaks ties toward the earlier feature, cuts long names, writes a missing value as null', () => {
    const long = `x${'y'.repeat(100)}`;
    // Four stumps: features 0 and 1 move the margin by ±0.5 alike, feature 2 by 0.25, feature 3 sends every training row and the rows below left: no change.
    const stump = (f: number, d: number, th = 0): Trees['trees'][number] => ({ feature: [f, -1, -1], threshold: [th, 0, 0], left: [1, -1, -1], right: [2, -1, -1], value: [0, -d, d], cover: [2, 1, 1] });
    const ex: Trees = { format: 'vafa.explain/v1', kind: 'trees', features: ['a', long, 'c', 'd'], base_score: -1, trees: [stump(0, 0.5), stump(1, 0.5), stump(2, 0.25), { ...stump(3, 1, 5), cover: [2, 2, 0] }] };
    const c = compilePath(ex);
    const got = JSON.parse(pathReasonsJson(c, [1, 1, NaN, 1], 10)) as Stored;
    expect(got.top.map((r) => r.feature)).toEqual(['a', long.slice(0, MAX_FEATURE_NAME), 'c']);
    expect(got.top.map((r) => r.contribution)).toEqual([0.5, 0.5, 0.25]);
    expect(got.top[2]!.value).toBeNull();
    expect(got.bias).toBe(-2); // the base score and the d-tree's expected value
    expect(got.other).toBe(0);
    expect(JSON.parse(pathReasonsJson(c, [-1, 1, 1, 1], 1)).top).toEqual([{ feature: 'a', value: -1, contribution: -0.5 }]);
    // Twelve features that all contribute: at most MAX_REASONS are written, whatever k asks.
    const wide: Trees = { ...ex, features: Array.from({ length: 12 }, (_, j) => `f${j}`), trees: Array.from({ length: 12 }, (_, j) => stump(j, (j + 1) / 10)) };
    const many = JSON.parse(pathReasonsJson(compilePath(wide), new Array<number>(12).fill(1), 50)) as Stored;
    expect(many.top.map((r) => r.feature)).toEqual(['f11', 'f10', 'f9', 'f8', 'f7', 'f6', 'f5', 'f4', 'f3', 'f2']);
    expect(many.other).toBeCloseTo(0.1 + 0.2, 6);
  });

  it('writes linear and occlusion reasons, and numbers rounded to 6 decimals', () => {
    const ex: Explainer = { format: 'vafa.explain/v1', kind: 'linear', features: ['a', 'b', 'c'], intercept: -2, coef: [1, -3, 0.5], mean: [0, 1, 0], std: [1, 2, 4] };
    const x = [2, 5, 1];
    const s = JSON.parse(explanationJson(explain(ex, x, 2), 2, 'linear')) as Stored;
    expect(s).toEqual({ method: 'linear', bias: -2, other: 0.125, top: [{ feature: 'b', value: 5, contribution: -6 }, { feature: 'a', value: 2, contribution: 2 }] });
    expect(s.bias! + s.other! + listed(s)).toBeCloseTo(marginOf(ex, x), 12);
    expect(JSON.parse(occlusionJson([{ feature: 'a', value: 1, contribution: 0.3 }, { feature: 'b', value: 2, contribution: -0.1 }], 1))).toEqual({ method: 'occlusion', top: [{ feature: 'a', value: 1, contribution: 0.3 }] });
    expect([reasonNumber(1 / 3), reasonNumber(-2e-7), reasonNumber(12345678), reasonNumber(NaN), reasonNumber(-Infinity)]).toEqual(['0.333333', '0', '12345678', 'null', 'null']);
  });

  it('resolves the options: the scorer\'s over the manifest\'s over the defaults, bad ones named', () => {
    expect(reasonsPlan(undefined, undefined, 0.07)).toEqual({ top: 3, minProbability: 0.07, method: 'path' });
    expect(reasonsPlan({ top: 5, min_probability: 0.5, method: 'treeshap' }, undefined, 0.07)).toEqual({ top: 5, minProbability: 0.5, method: 'treeshap' });
    expect(reasonsPlan({ top: 5, min_probability: 0.5 }, { minProbability: 0 }, 0.07)).toEqual({ top: 5, minProbability: 0, method: 'path' });
    expect(() => reasonsPlan(undefined, { top: 11 }, 0.1)).toThrow(new ReasonsOptionError('top', 'must be an integer from 0 to 10 (got 11)'));
    expect(() => reasonsPlan(undefined, { minProbability: 1.5 }, 0.1)).toThrow('reasons.min_probability: must be a probability in [0, 1] (got 1.5)');
    expect(() => reasonsPlan(undefined, { method: 'shap' as 'path' }, 0.1)).toThrow('reasons.method: must be "path" or "treeshap" (got shap)');
  });
});

describe('the churn scorer stores reasons with its scores', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  const opened: ChurnScorerHandle[] = [];
  const open = async (manifest: string, opts: Parameters<typeof loadChurnScorer>[2] = {}): Promise<ChurnScorerHandle> => {
    const s = await loadChurnScorer(manifest, logger, { watchIntervalMs: 0, ...opts });
    opened.push(s);
    return s;
  };
  /** Catalogue vectors that give a spread of probabilities on the shipped model. */
  const vectors = (n: number): Record<string, number>[] => {
    const rng = createRng(5);
    return Array.from({ length: n }, () => {
      const v: Record<string, number> = {};
      for (const f of FEATURE_NAMES) v[f] = Math.floor(rng.next() * 40);
      v.tenure_days = Math.floor(rng.next() * 3000);
      v.recency_days = Math.floor(rng.next() * 120);
      v.activity_trend = rng.next() * 2 - 1;
      return v;
    });
  };
  beforeAll(async () => {
    ({ dir, cleanup } = await tempDir());
    for (const f of ['churn-gbt.onnx', 'churn-gbt.explain.json']) await copyFile(path.join(SHIPPED, f), path.join(dir, f));
  });
  afterAll(async () => {
    await Promise.all(opened.map((s) => s.close()));
    await cleanup();
  });
  const withManifest = async (name: string, change: Record<string, unknown>): Promise<string> => {
    const m = JSON.parse(await readFile(path.join(SHIPPED, 'manifest.json'), 'utf8')) as Record<string, unknown>;
    const p = path.join(dir, `${name}.json`);
    await writeFile(p, JSON.stringify({ ...m, ...change }));
    return p;
  };

  it('every score when asked: reasons that add up to the probability the model returned', async () => {
    const s = await open(path.join(SHIPPED, 'manifest.json'), { reasons: { minProbability: 0 } });
    const scores = await s.scoreBatch(vectors(300));
    for (const score of scores) {
      const r = JSON.parse(score.reasons!) as Stored;
      expect(r.top).toHaveLength(3);
      expect(sigmoid(r.bias! + r.other! + listed(r))).toBeCloseTo(score.probability, 5);
    }
    expect(new Set(scores.map((x) => (JSON.parse(x.reasons!) as Stored).top[0]!.feature)).size).toBeGreaterThan(1);
  });

  it('by default only the scores at or above the model\'s threshold; none with top 0; the manifest\'s reasons honoured', async () => {
    const batch = vectors(300);
    const scores = await (await open(path.join(SHIPPED, 'manifest.json'))).scoreBatch(batch);
    const threshold = (await open(path.join(SHIPPED, 'manifest.json'))).current.threshold;
    const above = scores.filter((x) => x.probability >= threshold);
    expect(above.length).toBeGreaterThan(0);
    expect(above.length).toBeLessThan(scores.length);
    for (const x of scores) expect(x.reasons !== undefined).toBe(x.probability >= threshold);

    expect((await (await open(path.join(SHIPPED, 'manifest.json'), { reasons: { top: 0 } })).scoreBatch(batch)).some((x) => x.reasons)).toBe(false);

    const one = await open(await withManifest('one-reason', { reasons: { top: 1, min_probability: 0, method: 'treeshap' } }));
    const treeshap = await one.scoreBatch(batch.slice(0, 20));
    for (const x of treeshap) {
      const r = JSON.parse(x.reasons!) as Stored;
      expect(r.method).toBe('treeshap');
      expect(r.top).toHaveLength(1);
      expect(sigmoid(r.bias! + r.other! + listed(r))).toBeCloseTo(x.probability, 5);
    }
  });

  it('a foreign model with occlusion references: the same reasons as explain(), one extra run per batch', async () => {
    await copyFile(fixture('sklearn-onnx-2018/SklearnBinGradientBoostingClassifier.model.onnx'), path.join(dir, 'gb.onnx'));
    const manifest = path.join(dir, 'gb-occlusion.json');
    await writeFile(manifest, JSON.stringify({
      format: 'vafa.model/v1', version: 'gb-occlusion', onnx: 'gb.onnx', input: { name: 'input', shape: ['N', 2] },
      features: [{ name: 'x0', feature: 'recency_days' }, { name: 'x1', expr: 'ratio(tx_count_30d, 10)' }],
      output: { name: 'probabilities', kind: 'zipmap', positive_class: 'B' }, threshold: 0.5,
      explain: { reference: { recency_days: 0, tx_count_30d: 10 } }, reasons: { min_probability: 0 },
    }));
    const s = await open(manifest);
    const batch = [{ recency_days: 1, tx_count_30d: 10 }, { recency_days: 0, tx_count_30d: 10 }];
    const runs = s.current.stats.runs;
    const scores = await s.scoreBatch(batch);
    expect(s.current.stats.runs).toBe(runs + 2);
    const want = await s.explain(batch);
    scores.forEach((x, i) => expect(JSON.parse(x.reasons!)).toEqual({ method: 'occlusion', top: want[i]!.map((r) => ({ ...r, contribution: Number(reasonNumber(r.contribution)) })) }));
    expect((JSON.parse(scores[0]!.reasons!) as Stored).top.map((r) => r.feature)).toEqual(['recency_days']);
    expect((JSON.parse(scores[1]!.reasons!) as Stored).top).toEqual([]);
  });

  it('refuses a manifest whose reasons are out of bounds, naming the field', async () => {
    await expect(loadChurnScorer(await withManifest('bad-reasons', { reasons: { top: 20 } }), logger, { watchIntervalMs: 0 }))
      .rejects.toThrow('reasons.top: must be an integer from 0 (off) to 10 (got 20)');
  });
});

describe('the API reads the stored text', () => {
  it('returns the top list as stored, and [] for no reasons or text it does not recognise', () => {
    const text = pathReasonsJson(compilePath(shipped), rows(1, 9)[0]!, 3);
    expect(parseChurnReasons(text)).toEqual((JSON.parse(text) as Stored).top);
    for (const bad of ['', 'not json', 'null', '{"top":"x"}', 42, null, undefined]) expect(parseChurnReasons(bad)).toEqual([]);
    expect(parseChurnReasons('{"top":[{"feature":"a","value":null,"contribution":1},{"feature":2},{"feature":"b","value":1,"contribution":"x"}]}'))
      .toEqual([{ feature: 'a', value: null, contribution: 1 }]);
  });
});

describe('the core carries the reasons into the rows', () => {
  it('scored_transactions and customer_state get the score\'s reasons; a later score without reasons clears them', () => {
    const engine = new Engine(defaultEngineConfig());
    const state = newPartitionState(0);
    const at = Date.parse('2026-03-01T08:00:00Z');
    const tx = (i: number) => ({ kind: 'transaction' as const, body: { tx_id: `r${i}`, customer_id: 'R1', channel: 'pos' as const, amount_minor: 1_000_000, currency: 'IRR', occurred_at: new Date(at + i * 60_000).toISOString(), status: 'approved' as const } });
    const reasons = '{"method":"path","bias":-3,"other":0.1,"top":[{"feature":"recency_days","value":40,"contribution":1.2}]}';
    const run = (i: number, withReasons: boolean): OutputEmit => {
      const emit = new OutputEmit();
      const p = engine.apply(state, { seq: i + 1, partition: 0, msg: tx(i) }, emit) as Pending;
      engine.complete(state, p, { probability: 0.4, modelVersion: 'm', ...(withReasons ? { reasons } : {}) }, emit);
      return emit;
    };
    const first = run(0, true);
    expect(first.rows.get('scored_transactions')![0]!.churn_reasons).toBe(reasons);
    expect(first.customerRows.get('R1')!.churn_reasons).toBe(reasons);
    const second = run(1, false);
    expect(second.rows.get('scored_transactions')![0]!.churn_reasons).toBe('');
    expect(second.customerRows.get('R1')!.churn_reasons).toBe('');
  });
});
