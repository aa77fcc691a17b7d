// Remembered tx ids as fixed-size hashes: lookups, the horizon, and older layouts converted on first touch.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { forgetBefore, HASH_CHARS, idHash, remember, seenDay, seenIds, newSeenIds, writeIdHash, type SeenIds } from '../../scorer/core/seen.js';
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
