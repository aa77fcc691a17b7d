/**
 * Measures what a micro-batch saves: the per-row cost of `ChurnModel.scoreBatch` at several batch
 * sizes, for a trained gradient-boosted model and a logistic regression on synthetic data.
 *
 *   npx tsx bench/model-scoring.ts [--threads 1]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createBatcher, loadModel } from '../scorer/runtime/model/mod.js';
import { syntheticChurnData, trainChurnModel, writeChurnModel } from '../training/mod.js';

const threads = Number(process.argv[process.argv.indexOf('--threads') + 1] ?? 1) || 1;
const data = syntheticChurnData({ n: 20_000, seed: 1 });
const nf = data.features.length;
const dir = await mkdtemp(path.join(tmpdir(), 'vafa-bench-'));
const results: Record<string, unknown>[] = [];
try {
  for (const algorithm of ['gbt', 'logreg'] as const) {
    const trained = trainChurnModel(data, {
      algorithm, version: `bench-${algorithm}`, name: algorithm, holdout: { fraction: 0.2 }, gbt: { nTrees: 100, maxDepth: 4 },
    });
    const { manifestPath } = await writeChurnModel(dir, trained);
    const model = await loadModel(manifestPath, { intraOpNumThreads: threads });
    for (const batch of [1, 8, 64, 512, 4096]) {
      const rows = data.x.subarray(0, batch * nf);
      const calls = Math.max(20, Math.round(200_000 / (batch + 30)));
      for (let i = 0; i < Math.min(200, calls); i++) await model.scoreBatch(rows, batch);
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < calls; i++) await model.scoreBatch(rows, batch);
      const us = Number(process.hrtime.bigint() - t0) / 1000 / calls;
      results.push({ model: algorithm, batch, us_per_call: +us.toFixed(2), us_per_row: +(us / batch).toFixed(3) });
    }
    const batcher = createBatcher({ model, maxBatch: 512, maxWaitMs: 1 });
    const rows = Array.from({ length: 512 }, (_, i) => data.x.subarray(i * nf, (i + 1) * nf));
    for (let i = 0; i < 20; i++) await Promise.all(rows.map((r) => batcher.score(r)));
    const t0 = process.hrtime.bigint();
    const rounds = 200;
    for (let i = 0; i < rounds; i++) await Promise.all(rows.map((r) => batcher.score(r)));
    const us = Number(process.hrtime.bigint() - t0) / 1000 / (rounds * 512);
    results.push({ model: algorithm, batch: 'batcher(512 concurrent score())', us_per_call: null, us_per_row: +us.toFixed(3) });
    await batcher.close();
    await model.close();
  }
} finally {
  await rm(dir, { recursive: true, force: true });
}
console.table(results);
