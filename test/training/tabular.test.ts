// Tabular training: CSV / NDJSON tables with one-hot categoricals, stratified random and k-fold splits,
// `vafa train --csv` end to end to a manifest + ONNX that load and score as the trainer does, and
// calibration that brings held-out probabilities closer to the observed rates.
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { trainCommand } from '../../cli/train.js';
import { calibrator, fitIsotonic, fitPlatt } from '../../models/calibration.js';
import type { Manifest } from '../../models/manifest.js';
import { createLogger } from '../../platform/log.js';
import { loadChurnScorer } from '../../scorer/runtime/model/churn.js';
import { loadModel } from '../../scorer/runtime/model/onnx.js';
import { stratifiedFolds, stratifiedSample, timeSplit } from '../../training/data.js';
import { evaluate } from '../../training/metrics.js';
import { explain, marginOf, type Explainer } from '../../training/reasons.js';
import { syntheticBankCsv, syntheticChurnData } from '../../training/synthetic.js';
import { parseCsv, parseNdjson, tabularDataset } from '../../training/table.js';
import { trainChurnModel } from '../../training/train.js';
import { createRng } from '../../training/random.js';
import { tempDir } from '../models/helpers.js';

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => {
  ({ dir, cleanup } = await tempDir());
});
afterAll(() => cleanup());

/** Runs `vafa train` with its output captured. */
async function vafaTrain(args: string[]): Promise<{ code: number; out: string }> {
  const lines: string[] = [];
  const log = vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void lines.push(a.join(' ')));
  const err = vi.spyOn(console, 'error').mockImplementation((...a: unknown[]) => void lines.push(a.join(' ')));
  try {
    const code = await trainCommand.run(args);
    return { code, out: lines.join('\n') };
  } finally {
    log.mockRestore();
    err.mockRestore();
  }
}

describe('tables', () => {
  it('parses CSV with quotes, embedded commas and newlines, CRLF and missing markers', () => {
    const t = parseCsv('id,name,x\r\n1,"Smith, ""J""",2.5\r\n2,"two\nlines",NA\n3,,\n');
    expect(t.columns).toEqual(['id', 'name', 'x']);
    expect(t.rows).toBe(3);
    expect(t.values).toEqual([['1', '2', '3'], ['Smith, "J"', 'two\nlines', null], ['2.5', null, null]]);
    expect(() => parseCsv('a,b\n1\n', 'f.csv')).toThrow('f.csv: line 2 has 1 fields, the header 2');
    expect(() => parseCsv('a\n"1\n', 'f.csv')).toThrow('a quoted field is not closed');
  });

  it('parses NDJSON into the union of keys', () => {
    const t = parseNdjson('{"a":1,"b":"x"}\n\n{"b":null,"c":true}\n');
    expect(t.columns).toEqual(['a', 'b', 'c']);
    expect(t.values).toEqual([['1', null], ['x', null], [null, 'true']]);
    expect(() => parseNdjson('{"a":1}\n[1]\n', 'f.ndjson')).toThrow('f.ndjson: line 2 is not a JSON object');
  });

  it('encodes numbers as is, text as one-hot columns, keeps the id apart and drops identifier-like text', () => {
    const t = parseCsv([
      'cid,churned,age,plan,code,ref',
      'a,yes,30,gold,1,r1', 'b,no,,silver,2,r2', 'c,no,41,gold,1,r3', 'd,yes,52,,3,r4',
    ].join('\n'));
    const d = tabularDataset(t, { label: 'churned', id: 'cid', categorical: ['code'], maxCategories: 3 });
    expect(d.dataset.features).toEqual(['age', 'plan=gold', 'plan=silver', 'code=1', 'code=2', 'code=3']);
    expect(d.notes).toEqual(['column "ref" dropped: 4 distinct text values, none repeated (an identifier?)']);
    expect(d.ids).toEqual(['a', 'b', 'c', 'd']);
    expect(Array.from(d.dataset.y)).toEqual([1, 0, 0, 1]);
    expect(Array.from(d.dataset.x.subarray(6, 12))).toEqual([NaN, 0, 1, 0, 1, 0]);
    expect(Array.from(d.dataset.x.subarray(18, 24))).toEqual([52, 0, 0, 0, 0, 1]);
    expect(() => tabularDataset(t, { label: 'plan' })).toThrow('label column "plan": row 1 is "gold"; give --positive VALUE (the value meaning churn)');
    expect(() => tabularDataset(t, { label: 'plan', positive: 'gold' })).toThrow('label column "plan": row 4 has no value');
    expect(() => tabularDataset(t, { label: 'age', positive: '30' })).toThrow('label column "age": row 2 has no value');
    expect(() => tabularDataset(t, { label: 'Churn' })).toThrow('label column "Churn" is not in the table; its columns are: cid, churned, age, plan, code, ref');
    expect(() => tabularDataset(parseCsv('y,x\nA,1\nB,2\n'), { label: 'y' })).toThrow('give --positive VALUE');
  });

  it('splits at random stratified by label, and into stratified folds', () => {
    const rng = createRng(3);
    const y = Uint8Array.from({ length: 1000 }, () => (rng.next() < 0.2 ? 1 : 0));
    const pos = y.reduce((a, b) => a + b, 0);
    const pick = stratifiedSample(y, 0.25, 9);
    let held = 0;
    let heldPos = 0;
    pick.forEach((p, i) => {
      held += p;
      heldPos += p & y[i]!;
    });
    expect(heldPos).toBe(Math.round(pos * 0.25));
    expect(held - heldPos).toBe(Math.round((1000 - pos) * 0.25));
    const folds = stratifiedFolds(y, 5, 9);
    for (let k = 0; k < 5; k++) {
      const inFold = Array.from(folds.keys()).filter((i) => folds[i] === k);
      expect(Math.abs(inFold.length - 200)).toBeLessThanOrEqual(1);
      expect(Math.abs(inFold.filter((i) => y[i]).length - pos / 5)).toBeLessThanOrEqual(1);
    }
    const data = syntheticChurnData({ n: 500, seed: 1 });
    const s = timeSplit(data, { random: 0.2, seed: 4 });
    expect(s.test.y.length + s.train.y.length).toBe(500);
    expect(Number.isNaN(s.cutoff)).toBe(true);
  });
});

describe('vafa train --csv', () => {
  it('trains the bank-card churn table (synthetic, public layout) to a manifest + ONNX that load and score as the trainer does', async () => {
    const csv = path.join(dir, 'bank.csv');
    await writeFile(csv, syntheticBankCsv({ rows: 3000, seed: 5 }));
    const out = path.join(dir, 'bank-model');
    const r = await vafaTrain(['--csv', csv, '--label', 'Attrition_Flag', '--positive', 'Attrited Customer', '--id', 'CLIENTNUM',
      '--folds', '3', '--calibrate', 'platt', '--trees', '30', '--min-leaf', '20', '--out', out, '--trained-at', '2026-01-01T00:00:00Z']);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/3,000 rows, \d+ positive .* 35 features \(5 categorical columns one-hot encoded\)/);
    expect(r.out).toMatch(/3-fold stratified cross-validation: ROC AUC 0\.\d+ ± 0\.\d+/);
    const metrics = JSON.parse(await readFile(path.join(out, 'metrics.json'), 'utf8')) as {
      split: { kind: string }; holdout: { rocAuc: number }; baseline: { holdout_roc_auc: number }; cross_validation: { roc_auc: number[] };
      calibration: { method: string }; features: string[];
    };
    expect(metrics.split.kind).toBe('random');
    expect(metrics.holdout.rocAuc).toBeGreaterThan(0.75);
    expect(metrics.holdout.rocAuc).toBeGreaterThan(metrics.baseline.holdout_roc_auc);
    expect(metrics.cross_validation.roc_auc).toHaveLength(3);
    expect(metrics.calibration.method).toBe('platt');
    expect(metrics.features).not.toContain('CLIENTNUM');
    expect(await readFile(path.join(out, 'report.html'), 'utf8')).toContain('Reliability (calibration by decile)');

    // The model loads through the model loader, and serves the trainer's own (calibrated) probabilities.
    const model = await loadModel(path.join(out, 'manifest.json'));
    const table = tabularDataset(parseCsv(await readFile(csv, 'utf8')), { label: 'Attrition_Flag', positive: 'Attrited Customer', id: 'CLIENTNUM' });
    const n = 200;
    const x = table.dataset.x.subarray(0, n * table.dataset.features.length);
    const served = await model.scoreBatch(x, n);
    const manifest = JSON.parse(await readFile(path.join(out, 'manifest.json'), 'utf8')) as Manifest;
    expect(manifest.calibration?.method).toBe('platt');
    const explainer = JSON.parse(await readFile(path.join(out, manifest.explain as string), 'utf8')) as Explainer;
    const f = calibrator(manifest.calibration!);
    for (let i = 0; i < n; i++) {
      const row = x.subarray(i * model.features.length, (i + 1) * model.features.length);
      const margin = marginOf(explainer, row);
      expect(served[i]!).toBeCloseTo(f(1 / (1 + Math.exp(-margin))), 4);
      expect(explain(explainer, row).margin).toBeCloseTo(margin, 9);
    }
    await model.close();
    // Its columns are not vafa features: the running scorer refuses it, naming the inputs to map.
    await expect(loadChurnScorer(path.join(out, 'manifest.json'), createLogger({ level: 'error', destination: new Writable({ write(_c, _e, cb) { cb(); } }) }), { watchIntervalMs: 0 }))
      .rejects.toThrow(/features\[0\] "Customer_Age": the feature catalogue has no "Customer_Age"/);
  });

  it('serves a table whose columns are vafa features in the running scorer, from NDJSON with a time split', async () => {
    const rng = createRng(11);
    const lines: string[] = [];
    for (let i = 0; i < 1200; i++) {
      const recency = Math.floor(rng.next() * 120);
      const count = Math.floor(rng.next() * 40);
      const z = -2 + 0.04 * recency - 0.08 * count;
      lines.push(JSON.stringify({
        customer_id: `c${i}`, observed_at: new Date(Date.UTC(2025, 0, 1) + i * 3_600_000).toISOString(),
        recency_days: recency, tx_count_30d: count, tier_rank: i % 3, left: rng.next() < 1 / (1 + Math.exp(-z)),
      }));
    }
    const file = path.join(dir, 'rows.ndjson');
    await writeFile(file, `${lines.join('\n')}\n`);
    const out = path.join(dir, 'ndjson-model');
    const r = await vafaTrain(['--ndjson', file, '--label', 'left', '--id', 'customer_id', '--time', 'observed_at', '--algorithm', 'logreg',
      '--categorical', 'tier_rank', '--out', out]);
    expect(r.code, r.out).toBe(0);
    expect(r.out).toContain('newest 20.0 % by observed_at');
    expect(r.out).not.toContain('serving:');
    // The categorical vafa feature is served as a one-hot entry the scorer encodes.
    const served = JSON.parse(await readFile(path.join(out, 'manifest.json'), 'utf8')) as Manifest;
    expect(served.features).toEqual([
      { name: 'recency_days' }, { name: 'tx_count_30d' }, { name: 'tier_rank', encode: { onehot: { vocabulary: [0, 1, 2], unknown: 'zeros' } } },
    ]);
    const s = await loadChurnScorer(path.join(out, 'manifest.json'), createLogger({ level: 'error', destination: new Writable({ write(_c, _e, cb) { cb(); } }) }), { watchIntervalMs: 0 });
    const [hi, lo] = await s.scoreBatch([{ recency_days: 110, tx_count_30d: 0 }, { recency_days: 1, tx_count_30d: 35 }]);
    expect(hi!.probability).toBeGreaterThan(0.8);
    expect(lo!.probability).toBeLessThan(0.1);
    // Reasons from the sidecar, through the same mapping: recency pushes the first up, activity the second down.
    const [r1, r2] = await s.explain([{ recency_days: 110, tx_count_30d: 0 }, { recency_days: 1, tx_count_30d: 35 }], 2);
    expect(r1![0]).toMatchObject({ feature: 'recency_days', value: 110 });
    expect(r1![0]!.contribution).toBeGreaterThan(0);
    expect(r2!.every((r) => r.contribution < 0)).toBe(true);
    // A manifest naming a sidecar that is not there is refused, naming it; the running model stays.
    const mp = path.join(out, 'manifest.json');
    const m = JSON.parse(await readFile(mp, 'utf8')) as Manifest;
    await writeFile(mp, JSON.stringify({ ...m, version: 'v2', explain: 'nope.explain.json' }));
    const outcome = await s.reload();
    expect(outcome.status === 'refused' && outcome.error).toMatch(/explain: cannot read "nope\.explain\.json"/);
    expect(s.version).toBe(m.version);
    await s.close();
  });

  it('says what is wrong with the command line', async () => {
    expect((await vafaTrain(['--csv', 'x.csv'])).out).toContain('--label COLUMN is required with --csv / --ndjson');
    expect((await vafaTrain(['--csv', 'x.csv', '--label', 'y', '--split', 'time'])).out).toContain('--split time needs --time COLUMN');
    expect((await vafaTrain(['--simulate', '--label', 'y'])).out).toContain('--label is for tabular training');
  });
});

describe('calibration', () => {
  it('brings held-out probabilities closer to the observed rates (lower Brier score and calibration error)', () => {
    const data = syntheticChurnData({ n: 8000, seed: 21 });
    // An overfitted ensemble: deep trees, full learning rate, tiny leaves — overconfident probabilities.
    const gbt = { nTrees: 40, maxDepth: 6, learningRate: 0.6, minSamplesLeaf: 2 };
    const holdout = { random: 0.25, seed: 2 } as const;
    const raw = trainChurnModel(data, { algorithm: 'gbt', gbt, holdout, version: 'raw', calibration: 'none' });
    for (const method of ['platt', 'isotonic'] as const) {
      const cal = trainChurnModel(data, { algorithm: 'gbt', gbt, holdout, version: method, calibration: method });
      const before = cal.report.calibration!.holdout_uncalibrated;
      const after = cal.report.holdout;
      expect(after.brier).toBeLessThan(before.brier);
      expect(after.calibrationError).toBeLessThan(before.calibrationError);
      expect(after.brier).toBeLessThan(raw.report.holdout.brier);
      expect(cal.manifest.calibration?.method).toBe(method);
    }
  });

  it('fits Platt scaling and isotonic regression that recover a known distortion', () => {
    const rng = createRng(5);
    const n = 20000;
    const y = new Uint8Array(n);
    const p = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const truth = rng.next();
      y[i] = rng.next() < truth ? 1 : 0;
      const z = Math.log(truth / (1 - truth));
      p[i] = 1 / (1 + Math.exp(-3 * z)); // overconfident: log-odds tripled
    }
    const platt = fitPlatt(y, p);
    expect(platt.method === 'platt' && platt.a).toBeCloseTo(1 / 3, 1);
    const iso = fitIsotonic(y, p);
    for (const c of [platt, iso]) {
      const f = calibrator(c);
      const q = p.map(f);
      expect(evaluate(y, q).calibrationError).toBeLessThan(evaluate(y, p).calibrationError / 3);
    }
  });
});
