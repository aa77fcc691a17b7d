/**
 * The HTTP API under fuzzed requests (test/fuzz/http-fuzz.ts): a few thousand here, in process; the
 * million of issue 17 is the same generator from the command line (see that file).
 */
import { describe, expect, it } from 'vitest';
import { fuzzApp, INVALID_REFUNDS, Rand, randomRequest, runHttpFuzz } from './http-fuzz.js';

describe('HTTP API fuzz', () => {
  it('answers 2,500 random requests (bodies, NDJSON, content types, headers, huge and deep JSON) without a 500, a hang or an unhandled rejection', async () => {
    const report = await runHttpFuzz({ requests: 2500, seed: 17, concurrency: 16, deadlineMs: 10_000 });
    expect(report.failures).toEqual([]);
    expect(report.requests).toBe(2500);
    expect(report.byStatus['202'] ?? 0).toBeGreaterThan(100); // valid items are still accepted
    expect(report.byStatus['400'] ?? 0).toBeGreaterThan(100);
    expect(Object.keys(report.byKind)).toEqual(expect.arrayContaining(['valid', 'mutated', 'ndjson', 'deep', 'too-many', 'big', 'garbage', 'content-type', 'read', 'invalid-refund']));
  }, 120_000);

  it('makes refunds (linked and not) and invalid refund combinations; each invalid one is a 400 naming its field, the valid ones beside it accepted', async () => {
    const r = new Rand(3);
    const bodies = Array.from({ length: 3000 }, () => randomRequest(r)).filter((q) => q.url === '/v1/transactions' && typeof q.payload === 'string');
    const refunds = bodies.flatMap((q) => [...(q.payload as string).matchAll(/"kind":"refund"(,"refund_of_tx_id")?/g)].map((m) => (m[1] ? 'linked' : 'unlinked')));
    expect(refunds).toEqual(expect.arrayContaining(['linked', 'unlinked']));
    expect(bodies.some((q) => q.expectField !== undefined)).toBe(true);
    const { app } = await fuzzApp();
    try {
      const valid = { tx_id: 'ok-1', customer_id: 'c-1', channel: 'pos', amount_minor: 100, currency: 'USD', occurred_at: '2026-04-20T05:08:05Z' };
      for (const [i, bad] of INVALID_REFUNDS.entries()) {
        const item = bad.make({ ...valid, tx_id: `bad-${i}` });
        const res = await app.inject({ method: 'POST', url: '/v1/transactions', headers: { 'content-type': 'application/json' }, payload: JSON.stringify([{ ...valid, tx_id: `ok-${i}`, kind: 'refund', refund_of_tx_id: 'p-1' }, item]) });
        expect(res.statusCode, JSON.stringify(item)).toBe(400);
        const answer = res.json() as { accepted: number; results: { status: string; errors?: { field: string }[] }[] };
        expect(answer.accepted).toBe(1);
        expect(answer.results[1]!.errors!.map((e) => e.field)).toContain(bad.field);
      }
    } finally {
      await app.close();
    }
  });

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
