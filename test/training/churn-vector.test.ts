// The churn scorer reads a core feature vector by number (catalogue index per model column) and a plain
// object by name: both give the same row, so the same score; hot swap re-resolves the columns.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../platform/log.js';
import { loadChurnScorer } from '../../scorer/runtime/model/churn.js';
import { FEATURE_NAMES } from '../../contracts/features.js';
import { featureRecord, namedFeatures } from '../../scorer/core/features/engine.js';
import { trainChurnModel, writeChurnModel } from '../../training/train.js';
import { createRng } from '../../training/random.js';

const logger = createLogger({ level: 'warn', destination: new Writable({ write(_c, _e, cb) { cb(); } }) });

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'vafa-churn-vector-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('ChurnScorer.scoreBatch', () => {
  it('scores a core vector by catalogue index exactly as its named object', async () => {
    const features = ['tenure_days', 'recency_days', 'tx_count_30d'];
    const rng = createRng(3);
    const n = 300;
    const x = Float32Array.from({ length: n * 3 }, () => Math.floor(rng.next() * 60));
    const y = Uint8Array.from({ length: n }, (_, i) => (x[i * 3 + 1]! > 30 ? 1 : 0));
    const time = Float64Array.from({ length: n }, (_, i) => Date.UTC(2025, 0, 1) + i * 3_600_000);
    const trained = trainChurnModel({ features, x, y, time }, { algorithm: 'gbt', gbt: { nTrees: 5, maxDepth: 3 }, holdout: { fraction: 0.2 }, version: 'vec-1', name: 'vec', trainedAt: '2026-01-01T00:00:00Z' });
    const { manifestPath } = await writeChurnModel(dir, trained);
    const scorer = await loadChurnScorer(manifestPath, logger, { watchIntervalMs: 0 });
    try {
      const vectors = Array.from({ length: 20 }, () => namedFeatures(FEATURE_NAMES.map(() => Math.floor(rng.next() * 60))));
      const byNumber = await scorer.scoreBatch(vectors);
      const byName = await scorer.scoreBatch(vectors.map(featureRecordOf));
      expect(byNumber.map((s) => s.probability)).toEqual(byName.map((s) => s.probability));
      expect(new Set(byNumber.map((s) => s.probability)).size).toBeGreaterThan(1);
    } finally {
      await scorer.close();
    }
  });
});

function featureRecordOf(v: Readonly<Record<string, number>>): Record<string, number> {
  return featureRecord(FEATURE_NAMES.map((name) => v[name]!));
}
