/**
 * The compact body of codec version 3 (scorer/runtime/store/compact.ts): exact round trips of any plain
 * data (property-tested), each encoding rule on its own, and bytes that are not an encoding (truncated,
 * random, hostile counts) refused with CompactFormatError, never another error or a huge allocation.
 */
import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compactDecode, compactEncode, CompactFormatError, MAX_DEPTH } from '../../scorer/runtime/store/compact.js';

/** Plain data as the state holds it: undefined object properties are absent. */
const withoutUndefinedProperties = (v: unknown): unknown => {
  if (Array.isArray(v)) return v.map(withoutUndefinedProperties);
  if (v && typeof v === 'object') {
    const o: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) if (x !== undefined) Object.defineProperty(o, k, { value: withoutUndefinedProperties(x), enumerable: true, writable: true, configurable: true });
    return o;
  }
  return v;
};

const roundTrip = (v: unknown): unknown => compactDecode(compactEncode(v));
const expectExact = (v: unknown): void => {
  const back = roundTrip(v);
  expect(isDeepStrictEqual(back, withoutUndefinedProperties(v)), `${JSON.stringify(v)?.slice(0, 200)} came back as ${JSON.stringify(back)?.slice(0, 200)}`).toBe(true);
};

const number = fc.oneof(
  fc.integer(), fc.integer({ min: 0, max: 200 }), fc.maxSafeInteger(), fc.double(), fc.float(),
  fc.constantFrom(0, -0, NaN, Infinity, -Infinity, Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER, 2 ** 53, 1e300, 5e-324),
);
const string = fc.oneof(fc.string(), fc.string({ unit: 'grapheme' }), fc.constantFrom('', '__proto__', 'constructor', 'T1db78fc5-348336', 'AAAAAAAAAAAA', '😀x', 'a😀'), fc.stringMatching(/^[A-Za-z0-9_-]{4,24}$/));
const primitive = fc.oneof(number, string, fc.boolean(), fc.constant(null), fc.constant(undefined));
const { value } = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: 'small' }, primitive, tie('array'), tie('object'), tie('table'), tie('ints'), tie('repeat')),
  array: fc.array(tie('value'), { maxLength: 8 }),
  object: fc.dictionary(string, tie('value'), { maxKeys: 6 }),
  table: fc.array(fc.record({ id: string, at: fc.integer(), pts: fc.option(fc.integer({ min: 0, max: 1000 }), { nil: undefined }), tier: fc.constantFrom('bronze', 'silver') }, { requiredKeys: ['id', 'at'] }), { minLength: 2, maxLength: 12 }),
  ints: fc.array(fc.oneof(fc.integer(), fc.maxSafeInteger()), { minLength: 2, maxLength: 20 }),
  repeat: fc.tuple(primitive, fc.integer({ min: 2, max: 40 })).map(([x, n]) => new Array<unknown>(n).fill(x)),
}));

describe('the compact codec', () => {
  it('round-trips any plain data exactly (property)', () => {
    fc.assert(fc.property(value, (v) => {
      expectExact(v);
    }), { numRuns: 3000 });
  });

  it('keeps -0, NaN, ±Infinity, float32 and float64 values and the largest safe integers', () => {
    for (const x of [-0, NaN, Infinity, -Infinity, 0.1, 1.5, -2.25, 1e-310, Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER, 2 ** 60, 1.7e12 + 0.5]) {
      expect(Object.is(roundTrip(x), x), String(x)).toBe(true);
      expect(Object.is((roundTrip([x, x + 1, 3]) as number[])[0], x), `[${x}, …]`).toBe(true);
    }
  });

  it('writes time-ordered integers a day apart in about a byte each, and interleaved integers no worse than one by one', () => {
    const days = Array.from({ length: 200 }, (_, i) => 1_767_225_599_999 + i * 86_400_000);
    expect(compactEncode(days).length).toBeLessThan(220);
    expectExact(days);
    const interleaved = Array.from({ length: 100 }, (_, i) => (i % 2 ? 20_000 + i : i % 7));
    expect(compactEncode(interleaved).length).toBeLessThanOrEqual(2 + 1 + interleaved.reduce((n, x) => n + (x < 128 ? 1 : 4), 0));
    expectExact(interleaved);
  });

  it('writes an array of records column by column, keys once, a missing key left out again', () => {
    const lots = Array.from({ length: 50 }, (_, i) => ({ src: 'tx', id: `T1db78fc5-${1000 + i * 37}`, at: 1_735_899_197_450 + i * 3_600_000, exp: 1_767_472_199_999 + i * 86_400_000, rem: i % 9, tier: 'bronze', ver: '2026.07', ...(i % 5 ? { pts: i % 9 } : { n: 2 }) }));
    const bytes = compactEncode(lots);
    expect(bytes.length).toBeLessThan(Buffer.byteLength(JSON.stringify(lots)) / 4);
    const back = roundTrip(lots) as Record<string, unknown>[];
    expect(back).toEqual(lots);
    expect(Object.hasOwn(back[0]!, 'pts')).toBe(false);
    expect(Object.hasOwn(back[1]!, 'n')).toBe(false);
  });

  it('writes a map of records (earnings by tx id) as keys and a table', () => {
    const earned = Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`T1db78fc5-${5000 + i}`, { at: 1_756_299_582_147 + i * 1000, pts: i, ver: '2026.07', m: 24_307 }]));
    expect(compactEncode(earned).length).toBeLessThan(Buffer.byteLength(JSON.stringify(earned)) / 4);
    expectExact(earned);
    expectExact({ a: { x: 1 }, b: { y: [1, 2] } });
  });

  it('keeps strings exact: shared prefixes cut at a surrogate pair, base-64 ids as bytes, __proto__ as a plain key', () => {
    expectExact(['a😀b', 'a😀c', 'a😁', 'a\uD83D', '\uDE00', 'x']);
    const hashes = Array.from({ length: 20 }, (_, i) => `Ab9-_${i.toString(36).padStart(3, 'z')}QwErTy12`);
    expect(compactEncode(hashes).length).toBeLessThan(hashes.join('').length * 0.8);
    expectExact(hashes);
    const o = JSON.parse('{"__proto__": {"polluted": 1}, "k": 2}') as Record<string, unknown>;
    const back = roundTrip(o) as Record<string, unknown>;
    expect(Object.getPrototypeOf(back)).toBe(Object.prototype);
    expect(Object.hasOwn(back, '__proto__')).toBe(true);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('decodes front-coded and base-64 strings into the same strings whatever their characters (one byte, Latin-1, beyond)', () => {
    expectExact(['T1db78fc5-5046', 'T1db78fc5-5047', 'T1db78fc5-5047x', 'café-1', 'café-2', 'cafè', 'ö€x', 'ö€y', 'öx', '\u00ff\u0100', '\u00ff\u00fe', '']);
    const ids = Array.from({ length: 300 }, (_, i) => `tx-2025-01-${String(i).padStart(5, '0')}`);
    expectExact(ids);
    const long = 'Ab9-'.repeat(3000);
    expectExact([long, long.slice(4), `${long}zz`]);
  });

  it('refuses what it cannot write: class instances, functions, nesting deeper than the bound', () => {
    expect(() => compactEncode(new Map())).toThrow(/cannot encode a Map/);
    expect(() => compactEncode({ f: () => 1 })).toThrow(/cannot encode a function/);
    let deep: unknown = 1;
    for (let i = 0; i <= MAX_DEPTH + 1; i++) deep = [deep];
    expect(() => compactEncode(deep)).toThrow(/nested deeper/);
  });

  it('refuses every truncation of a valid encoding, and random bytes, with CompactFormatError only', () => {
    const sample = { lots: [{ id: 'T1-1', at: 1, rem: 2 }, { id: 'T1-2', at: 5, rem: 0 }], seen: { days: [20_000, 20_001], ids: ['AAAAAAAAAAAABBBBBBBBBBBB', 'CCCCCCCCCCCC'] }, f: [0.5, -3, null, true] };
    const bytes = compactEncode(sample);
    for (let cut = 0; cut < bytes.length; cut++) expect(() => compactDecode(bytes.subarray(0, cut)), `cut at ${cut}`).toThrow(CompactFormatError);
    fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), (junk) => {
      try {
        compactDecode(junk);
      } catch (err) {
        if (!(err instanceof CompactFormatError)) throw err;
      }
    }), { numRuns: 20_000 });
    // Counts that the bytes cannot hold are refused before anything is allocated.
    expect(() => compactDecode(Uint8Array.from([0x0b, 0xff, 0xff, 0xff, 0x7f]))).toThrow(/exceeds the bytes left/);
    expect(() => compactDecode(Uint8Array.from([0x0d, 0xff, 0xff, 0xff, 0x7f, 0x80]))).toThrow(/items \(at most/);
  });
});
