/**
 * The HTTP API under fuzzed requests (test/fuzz/http-fuzz.ts): a few thousand here, in process; the
 * million of issue 17 is the same generator from the command line (see that file).
 */
import { describe, expect, it } from 'vitest';
import { fuzzApp, Rand, randomRequest, runHttpFuzz } from './http-fuzz.js';

describe('HTTP API fuzz', () => {
  it('answers 2,500 random requests (bodies, NDJSON, content types, headers, huge and deep JSON) without a 500, a hang or an unhandled rejection', async () => {
    const report = await runHttpFuzz({ requests: 2500, seed: 17, concurrency: 16, deadlineMs: 10_000 });
    expect(report.failures).toEqual([]);
    expect(report.requests).toBe(2500);
    expect(report.byStatus['202'] ?? 0).toBeGreaterThan(100); // valid items are still accepted
    expect(report.byStatus['400'] ?? 0).toBeGreaterThan(100);
    expect(Object.keys(report.byKind)).toEqual(expect.arrayContaining(['valid', 'mutated', 'ndjson', 'deep', 'too-many', 'big', 'garbage', 'content-type', 'read']));
  }, 120_000);

  it('answers an object nested 5,000 levels deep 400 naming the body (it was a 500: structuredClone overflowed the stack)', async () => {
    const { app } = await fuzzApp();
    try {
      const deep = '{"a":'.repeat(5000) + '1' + '}'.repeat(5000);
      const res = await app.inject({ method: 'POST', url: '/v1/transactions', headers: { 'content-type': 'application/json' }, payload: deep });
      expect(res.statusCode).toBe(400);
      expect(res.body).toContain('nested too deeply');
    } finally {
      await app.close();
    }
  });

  it('is deterministic for a seed', () => {
    const a = new Rand(5);
    const b = new Rand(5);
    for (let i = 0; i < 50; i++) expect(JSON.stringify(randomRequest(a))).toBe(JSON.stringify(randomRequest(b)));
  });
});
