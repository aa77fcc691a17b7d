// Remembered tx ids as fixed-size hashes: lookups, the horizon, and older layouts converted on first touch.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { forgetBefore, HASH_CHARS, idHash, MAX_SEEN_DAYS, remember, rememberFirst, seenDay, seenIds, newSeenIds, writeIdHash, type SeenIds } from '../../scorer/core/seen.js';
import { DAY_MS } from '../../scorer/core/types.js';

describe('seen ids', () => {
  it('keeps 12 characters an id whatever its length, and finds each id on its day', () => {
    const s = newSeenIds();
    const ids = Array.from({ length: 500 }, (_, i) => `${'x'.repeat(i % 40)}T${i}`);
    ids.forEach((id, i) => remember(s, id, (i % 10) * DAY_MS + 5));
    expect(s.ids.reduce((n, b) => n + b.length, 0)).toBe(500 * HASH_CHARS);
    ids.forEach((id, i) => expect(seenDay(s, id)).toBe(i % 10));
    expect(seenDay(s, 'never')).toBeUndefined();
    expect(idHash('T1')).toMatch(/^[A-Za-z0-9_-]{12}$/);
  });

  it('forgets whole days past the horizon', () => {
    const s = newSeenIds();
    remember(s, 'a', 0);
    remember(s, 'b', 2 * DAY_MS);
    forgetBefore(s, DAY_MS);
    expect(seenDay(s, 'a')).toBeUndefined();
    expect(seenDay(s, 'b')).toBe(2);
    const restored = JSON.parse(JSON.stringify(s)) as SeenIds;
    expect(seenDay(restored, 'b')).toBe(2);
  });

  it('converts the id-per-day layout (v2) and the id → time layout on first touch', () => {
    const v2 = { seen: { v: 2, days: [3, 4], ids: [['p', 'q'], ['r']] } as unknown as SeenIds };
    const s = seenIds(v2);
    expect(s.v).toBe(3);
    expect([seenDay(s, 'p'), seenDay(s, 'q'), seenDay(s, 'r'), seenDay(s, 's')]).toEqual([3, 3, 4, undefined]);
    const v1 = { seen: { p: 3 * DAY_MS + 1, 'pruned 1': 7 } as unknown as SeenIds };
    expect(seenDay(seenIds(v1), 'p')).toBe(3);
    expect(v1.seen.days).toEqual([3]);
  });

  // The index (an open-addressing table checked against the buckets) answers as a plain map of every id
  // remembered and not forgotten would, through growth, late days, dropped days and restores.
  it('finds exactly the ids remembered and not forgotten, on their days, restored or not (property)', () => {
    type Op = { kind: 'remember'; id: number; day: number } | { kind: 'forget'; day: number } | { kind: 'restore' } | { kind: 'burst'; from: number; count: number; day: number };
    const op: fc.Arbitrary<Op> = fc.oneof(
      { weight: 6, arbitrary: fc.record({ kind: fc.constant('remember' as const), id: fc.nat(400), day: fc.integer({ min: -20, max: 60 }) }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('forget' as const), day: fc.integer({ min: -20, max: 60 }) }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('restore' as const) }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('burst' as const), from: fc.nat(5000), count: fc.integer({ min: 1, max: 120 }), day: fc.integer({ min: -20, max: 60 }) }) },
    );
    fc.assert(fc.property(fc.array(op, { maxLength: 80 }), (ops) => {
      let s = newSeenIds();
      const model = new Map<string, number>();
      // rememberFirst answers as a look-up before it remembers: the day already remembered, or undefined.
      const rememberBoth = (id: string, day: number): void => {
        expect(rememberFirst(s, id, day * DAY_MS + 1000)).toBe(model.get(id));
        if (!model.has(id)) model.set(id, day);
      };
      for (const o of ops) {
        if (o.kind === 'remember') rememberBoth(`tx-${o.id}`, o.day);
        else if (o.kind === 'burst') for (let i = 0; i < o.count; i++) rememberBoth(`tx-${o.from + i}`, o.day);
        else if (o.kind === 'restore') s = JSON.parse(JSON.stringify(s)) as SeenIds;
        else {
          forgetBefore(s, o.day * DAY_MS);
          for (const [id, day] of model) if ((day + 1) * DAY_MS <= o.day * DAY_MS) model.delete(id);
        }
        for (let probe = 0; probe < 20; probe++) {
          const id = `tx-${(probe * 37 + ops.length) % 5200}`;
          expect(seenDay(s, id)).toBe(model.get(id));
        }
      }
      for (const [id, day] of model) expect(seenDay(s, id)).toBe(day);
      expect(s.ids.reduce((n, b) => n + b.length, 0)).toBe(model.size * HASH_CHARS);
      expect(s.days.length).toBeLessThanOrEqual(MAX_SEEN_DAYS);
    }), { numRuns: 300 });
  });

  // 150,000 remembered and 150,000 others: some pairs share the index's 32-bit key (about five expected),
  // so only the check against the bucket's characters keeps an id never remembered from being found.
  it('finds no id it was not given among 150,000 it was', () => {
    const s = newSeenIds();
    for (let i = 0; i < 150_000; i++) remember(s, `in-${i}`, (i % 90) * DAY_MS);
    let found = 0;
    for (let i = 0; i < 150_000; i++) if (seenDay(s, `out-${i}`) !== undefined) found++;
    expect(found).toBe(0);
    expect(seenDay(s, 'in-149999')).toBe(149_999 % 90);
  });

  it('no two of 200,000 distinct ids share a hash', () => {
    const hashes = new Set<string>();
    for (let i = 0; i < 200_000; i++) hashes.add(idHash(`T${(i * 2654435761 >>> 0).toString(16)}-${i}`));
    expect(hashes.size).toBe(200_000);
  });

  it('writes the same characters into bytes as idHash gives (property)', () => {
    const out = new Uint8Array(HASH_CHARS + 3);
    fc.assert(fc.property(fc.string({ maxLength: 60, unit: 'binary' }), (id) => {
      writeIdHash(id, out, 3);
      expect(Buffer.from(out.subarray(3)).toString('latin1')).toBe(idHash(id));
    }), { numRuns: 2000 });
  });
});
