/**
 * Codec version 4 (scorer/runtime/store/shapes.ts, codec.ts): the lots, earning records and remembered ids
 * of a customer written in their shape round-trip exactly (property-tested, and on customers of a simulated
 * history), anything that does not fit a shape is left to the generic codec and still round-trips, and
 * bytes that are not an encoding are refused with CodecError, never another error.
 */
import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { idHash } from '../../scorer/core/seen.js';
import { decodeRecord, encodeRecord } from '../../scorer/runtime/store/codec.js';
import { readEarned, readLots, readSeen, SECTION_SHAPED, ShapeReader } from '../../scorer/runtime/store/shapes.js';
import { expectRefusesDamage, simulatedCustomers } from '../support/customers.js';

/** What a record holds once stored: undefined properties absent. */
const stored = (v: unknown): unknown => JSON.parse(JSON.stringify(v)) as unknown;
const roundTrip = (v: unknown, version = 4): unknown => decodeRecord('customer', encodeRecord('customer', v, version), 'test');
const expectExact = (v: unknown): void => {
  const back = roundTrip(v);
  expect(isDeepStrictEqual(stored(back), stored(v)), `${JSON.stringify(v).slice(0, 300)} came back as ${JSON.stringify(back).slice(0, 300)}`).toBe(true);
};

const day = 86_400_000;
const time = fc.integer({ min: 1_600_000_000_000, max: 1_900_000_000_000 });
const points = fc.integer({ min: -1_000_000, max: 1_000_000 });
const id = fc.oneof(fc.stringMatching(/^T[0-9a-f]{8}-[0-9]{1,7}$/), fc.stringMatching(/^[ -~]{0,40}$/), fc.constantFrom('', '__proto__', 'constructor', '123', '0'));
const tier = fc.constantFrom('bronze', 'silver', 'gold', 'platinum', '');
const lot = fc.record({
  src: fc.constantFrom('tx', 'rd'), id, at: time, seq: fc.nat(), exp: fc.oneof(time.map((t) => Math.floor(t / day) * day + day - 1), time),
  pts: fc.option(points, { nil: undefined }), n: fc.option(fc.integer({ min: 2, max: 400 }), { nil: undefined }), rem: points, tier, ver: fc.constantFrom('2026.07', 'v1'),
}, { requiredKeys: ['src', 'id', 'at', 'seq', 'exp', 'rem', 'tier', 'ver'] });
const award = fc.record({
  rule: fc.option(fc.constantFrom('base', 'friday-grocery'), { nil: undefined }), pts: points,
  caps: fc.option(fc.array(fc.constantFrom('friday-grocery|w2904', 'online|d20300', 'x|m601'), { maxLength: 3 }), { nil: undefined }),
  campaign: fc.option(fc.constantFrom('', 'spring'), { nil: undefined }),
}, { requiredKeys: ['pts'] });
const earnRecord = fc.record({
  at: time, seq: fc.option(fc.nat(), { nil: undefined }), pts: points, x: fc.option(points, { nil: undefined }), ver: fc.constantFrom('2026.07', 'v1'),
  m: fc.integer({ min: 600, max: 700 }), awards: fc.option(fc.array(award, { maxLength: 3 }), { nil: undefined }),
  amt: fc.option(fc.nat(), { nil: undefined }), rf: fc.option(fc.nat(), { nil: undefined }), rp: fc.option(points, { nil: undefined }),
}, { requiredKeys: ['at', 'pts', 'ver', 'm'] });
const seen = fc.array(fc.tuple(fc.integer({ min: 18_000, max: 22_000 }), fc.array(id, { maxLength: 5 })), { maxLength: 12 })
  .map((days) => ({ v: 3, days: days.map(([d]) => d), ids: days.map(([, ids]) => ids.map(idHash).join('')) }));
const customer = fc.record({
  id: fc.constant('C1'),
  loyalty: fc.record({ balance: points, tier, lots: fc.array(lot, { maxLength: 20 }), earned: fc.dictionary(id, earnRecord, { maxKeys: 10 }) }),
  seen, lastSeq: fc.nat(),
});

/** Which sections of a version-4 customer record were written in their shape: lots, earned, seen. */
function shapedSections(record: Uint8Array): boolean[] {
  const reader = new ShapeReader(record.subarray(2), 0);
  const genericLength = reader.varint();
  reader.offset += genericLength;
  const flags: boolean[] = [];
  for (const read of [(r: ShapeReader) => readLots(r, 4), (r: ShapeReader) => readEarned(r, 4), readSeen]) {
    const shaped = reader.byte() === SECTION_SHAPED;
    flags.push(shaped);
    if (shaped) read(reader);
  }
  return flags;
}

describe('codec version 4: shaped sections', () => {
  it('round-trips lots, earning records and remembered ids exactly, and re-encodes to the same bytes (property)', () => {
    fc.assert(fc.property(customer, (c) => {
      expectExact(c);
      if (c.loyalty.lots.every((l) => /^[ -~]*$/.test(l.id))) expect(shapedSections(encodeRecord('customer', c, 4))[0]).toBe(true);
      const once = encodeRecord('customer', c, 4);
      expect(Buffer.compare(encodeRecord('customer', decodeRecord('customer', once, 'x'), 4), once)).toBe(0);
    }), { numRuns: 2000 });
  });

  it('gives the same customers as version 3 for a simulated history, in fewer bytes than JSON', () => {
    const customers = simulatedCustomers();
    expect(customers.length).toBeGreaterThan(20);
    for (const c of customers) {
      expect(stored(roundTrip(c, 4))).toEqual(stored(roundTrip(c, 3)));
      expect(stored(roundTrip(c, 4))).toEqual(stored(c));
      expect(encodeRecord('customer', c, 4).length).toBeLessThan(JSON.stringify(c).length);
      expect(shapedSections(encodeRecord('customer', c, 4))).toEqual([true, true, true]);
    }
  });

  it('leaves what does not fit a shape to the generic codec, exactly', () => {
    const base = { id: 'C1', loyalty: { balance: 3, lots: [{ src: 'tx', id: 'T1', at: 1, seq: 1, exp: 2, rem: 3, tier: 'b', ver: 'v' }], earned: { T1: { at: 1, pts: 3, ver: 'v', m: 1 } } }, seen: { v: 3, days: [1], ids: ['AAAAAAAAAAAA'] } };
    const variants: unknown[] = [
      { ...base, loyalty: { ...base.loyalty, lots: [{ ...base.loyalty.lots[0], extra: 'a field the core added later' }] } },
      { ...base, loyalty: { ...base.loyalty, lots: [{ ...base.loyalty.lots[0], rem: 1.5 }] } },
      { ...base, loyalty: { ...base.loyalty, lots: [{ ...base.loyalty.lots[0], rem: -0 }] } },
      { ...base, loyalty: { ...base.loyalty, lots: [{ ...base.loyalty.lots[0], id: 'Tä😀' }] } },
      { ...base, loyalty: { ...base.loyalty, lots: [{ ...base.loyalty.lots[0], src: 'other' }] } },
      { ...base, loyalty: { ...base.loyalty, lots: 'not an array' } },
      { ...base, loyalty: { ...base.loyalty, earned: { 'Tä': { at: 1, pts: 3, ver: 'v', m: 1 } } } },
      { ...base, loyalty: { ...base.loyalty, earned: { T1: { at: 1, pts: 3, ver: 'v', m: 1, awards: [{ pts: 1, caps: ['é'] }] } } } },
      { ...base, loyalty: { ...base.loyalty, earned: { T1: { at: 1, pts: 3, ver: 'v', m: 1, awards: [{ pts: 1, other: 1 }] } } } },
      { ...base, seen: { v: 2, days: [1], ids: [['T1']] } },
      { ...base, seen: { v: 3, days: [1], ids: ['short'] } },
      { ...base, seen: { v: 3, days: [1], ids: ['AAAAAAAAAAA!'] } },
      // Node's base-64 decoder would take these (or skip them): the shape must not.
      { ...base, seen: { v: 3, days: [1], ids: ['AAAAAAAAAAA+'] } },
      { ...base, seen: { v: 3, days: [1], ids: ['AAAAAAAAAA/A'] } },
      { ...base, seen: { v: 3, days: [1], ids: ['AAAAAAAAAA=='] } },
      { ...base, seen: { v: 3, days: [1], ids: ['AAAA AAAAAAA'] } },
      { ...base, seen: { v: 3, days: [1], ids: ['AAAAAAAAAAA\n'] } },
      { ...base, seen: { v: 3, days: [1], ids: ['AAAAAAAAAAAé'] } },
      { ...base, seen: { v: 3, days: [1, 2], ids: ['AAAAAAAAAAAA'] } },
      { ...base, loyalty: undefined },
      { id: 'no loyalty, no seen' },
      [1, 2, 3],
      'a string',
    ];
    for (const v of variants) expectExact(v);
    expect(decodeRecord('customer', encodeRecord('customer', base, 4), 'x')).toEqual(base);
  });

  it('refuses every truncation and corruption of a record with CodecError only', () => {
    const [c] = simulatedCustomers().sort((a, b) => b.loyalty.lots.length - a.loyalty.lots.length);
    expectRefusesDamage(c, 4);
  });
});

/** A customer whose lots and remembered ids repeat its earning records, as inside the reversal window. */
const linkedCustomer = fc.record({ earned: fc.dictionary(id, earnRecord, { maxKeys: 12 }), lots: fc.array(lot, { maxLength: 8 }), picks: fc.array(fc.tuple(fc.nat(), fc.nat({ max: 3 })), { maxLength: 16 }), extraIds: fc.array(id, { maxLength: 6 }), shuffle: fc.nat() })
  .map(({ earned, lots, picks, extraIds, shuffle }) => {
    const keys = Object.keys(earned);
    const linked = keys.length === 0 ? [] : picks.map(([k, how]) => {
      const key = keys[k % keys.length]!;
      const rec = earned[key]!;
      // how: 0 the record's points, 1 no points, 2 other points (not linked), 3 another time (not linked)
      return { src: 'tx', id: key, at: how === 3 ? rec.at + 1 : rec.at, seq: k, exp: rec.at + 365 * day, ...(how === 0 ? { pts: rec.pts } : how === 2 ? { pts: rec.pts + 1 } : {}), rem: rec.pts, tier: 'bronze', ver: rec.ver };
    });
    const all = [...lots, ...linked];
    const rotate = all.length === 0 ? 0 : shuffle % all.length;
    const ids = [...keys, ...extraIds].map(idHash);
    const byDay = [ids.slice(0, Math.ceil(ids.length / 2)), ids.slice(Math.ceil(ids.length / 2))].filter((d) => d.length > 0);
    return {
      id: 'C1', loyalty: { balance: 1, tier: 'bronze', lots: [...all.slice(rotate), ...all.slice(0, rotate)], earned },
      seen: { v: 3, days: byDay.map((_, i) => 20_000 + i), ids: byDay.map((d) => (shuffle % 2 === 0 ? d : [...d].reverse()).join('')) }, lastSeq: 1,
    };
  });

describe('codec version 5: lots and remembered ids point into the earning records', () => {
  const roundTrip5 = (v: unknown): unknown => decodeRecord('customer', encodeRecord('customer', v, 5), 'test');

  it('round-trips exactly and re-encodes to the same bytes, linked or not (property)', () => {
    fc.assert(fc.property(fc.oneof(linkedCustomer, customer), (c) => {
      expect(stored(roundTrip5(c))).toEqual(stored(c));
      const once = encodeRecord('customer', c, 5);
      expect(Buffer.compare(encodeRecord('customer', decodeRecord('customer', once, 'x'), 5), once)).toBe(0);
    }), { numRuns: 2000 });
  });

  it('gives the same customers as version 4 for a simulated history, in fewer bytes', () => {
    const customers = simulatedCustomers();
    let v4 = 0;
    let v5 = 0;
    for (const c of customers) {
      expect(stored(roundTrip5(c))).toEqual(stored(roundTrip(c, 4)));
      expect(stored(roundTrip5(c))).toEqual(stored(c));
      v4 += encodeRecord('customer', c, 4).length;
      v5 += encodeRecord('customer', c, 5).length;
    }
    expect(v5).toBeLessThan(v4 * 0.95);
  });

  it('leaves what does not fit a shape to the generic codec, exactly', () => {
    const base = { id: 'C1', loyalty: { balance: 3, lots: [{ src: 'tx', id: 'T1', at: 1, seq: 1, exp: 2, pts: 3, rem: 3, tier: 'b', ver: 'v' }], earned: { T1: { at: 1, pts: 3, ver: 'v', m: 1 } } }, seen: { v: 3, days: [1], ids: [idHash('T1')] } };
    const variants: unknown[] = [
      base,
      { ...base, loyalty: { ...base.loyalty, earned: { T1: { at: 1, pts: 3, ver: 'v', m: 1, other: 1 } } } },
      { ...base, loyalty: { ...base.loyalty, earned: { '__proto__': { at: 1, pts: 3, ver: 'v', m: 1 } } } },
      { ...base, loyalty: { ...base.loyalty, lots: [{ ...base.loyalty.lots[0], rem: 1.5 }] } },
      { ...base, loyalty: { ...base.loyalty, lots: [{ ...base.loyalty.lots[0], src: 'rd' }] } },
      { ...base, seen: { v: 3, days: [1], ids: [`${idHash('T1')}${idHash('T1')}`] } },
      { ...base, loyalty: undefined },
    ];
    for (const v of variants) expect(stored(roundTrip5(v))).toEqual(stored(v));
  });

  it('refuses every truncation and corruption of a record with CodecError only', () => {
    const [c] = simulatedCustomers().sort((a, b) => b.loyalty.lots.length - a.loyalty.lots.length);
    expectRefusesDamage(c, 5);
  });
});

/** A feature state's tiers: whole buckets of 8 integers (day or week number, then seven sums), as the core keeps them. */
const bucketTier = fc.array(fc.tuple(fc.integer({ min: 0, max: 30_000 }), fc.array(fc.oneof(fc.constant(0), fc.nat({ max: 50 }), fc.integer({ min: -5_000_000_000, max: 5_000_000_000 }).map((x) => x * 1000)), { minLength: 7, maxLength: 7 })), { maxLength: 100 })
  .map((buckets) => buckets.flatMap(([key, sums]) => [key, ...sums]));
const featureState = fc.record({
  v: fc.constant(3), firstAt: time, lastAt: time, lastBy: fc.array(time, { minLength: 8, maxLength: 8 }), days: bucketTier, weeks: bucketTier, rolled: fc.nat({ max: 30_000 }),
  mix: fc.array(fc.double({ min: 0, max: 50, noNaN: true }), { minLength: 8, maxLength: 8 }), complaints: fc.dictionary(id, time, { maxKeys: 3 }), late: fc.nat(),
});
const withFeatures = fc.tuple(fc.oneof(linkedCustomer, customer), featureState).map(([c, features]) => ({ ...c, features }));

describe('codec version 6: feature buckets by column, remembered ids not linked', () => {
  const roundTrip6 = (v: unknown): unknown => decodeRecord('customer', encodeRecord('customer', v, 6), 'test');

  it('round-trips exactly and re-encodes to the same bytes (property)', () => {
    fc.assert(fc.property(fc.oneof(withFeatures, linkedCustomer, customer), (c) => {
      expect(stored(roundTrip6(c))).toEqual(stored(c));
      const once = encodeRecord('customer', c, 6);
      expect(Buffer.compare(encodeRecord('customer', decodeRecord('customer', once, 'x'), 6), once)).toBe(0);
    }), { numRuns: 2000 });
  });

  it('gives the same customers as version 5 for a simulated history, in the core\'s key order, its feature buckets in fewer bytes', () => {
    const customers = simulatedCustomers();
    let features5 = 0;
    let features6 = 0;
    for (const c of customers) {
      expect(stored(roundTrip6(c))).toEqual(stored(decodeRecord('customer', encodeRecord('customer', c, 5), 'v5')));
      expect(JSON.stringify(roundTrip6(c))).toBe(JSON.stringify(stored(c)));
      const bare = { ...c, features: { ...c.features, days: [], weeks: [] } };
      features5 += encodeRecord('customer', c, 5).length - encodeRecord('customer', bare, 5).length;
      features6 += encodeRecord('customer', c, 6).length - encodeRecord('customer', bare, 6).length;
    }
    expect(features5).toBeGreaterThan(0);
    expect(features6).toBeLessThan(features5 * 0.7);
  });

  it('leaves feature buckets that do not fit to the generic codec, exactly', () => {
    const features = { v: 3, days: [20_000, 1, 1, 1, 5000, 0, 0, 0], weeks: [], late: 0 };
    const variants: unknown[] = [
      { id: 'C1', features },
      { id: 'C1', features: { ...features, days: [20_000, 1, 1, 1, 50.5, 0, 0, 0] } },
      { id: 'C1', features: { ...features, days: [20_000, 1, 1, 1, -0, 0, 0, 0] } },
      { id: 'C1', features: { ...features, days: [20_000, 1, 1] } },
      { id: 'C1', features: { ...features, weeks: 'none' } },
      { id: 'C1', features: { ...features, days: [2 ** 53, 1, 1, 1, 1, 0, 0, 0] } },
      { id: 'C1', features: [1, 2] },
      { id: 'C1', features: null },
    ];
    for (const v of variants) expect(stored(roundTrip6(v))).toEqual(stored(v));
    expect(Object.is((roundTrip6(variants[2]) as { features: { days: number[] } }).features.days[4], -0)).toBe(true);
  });

  it('writes each remembered id as the 9 bytes its 12 base-64 characters stand for (property)', () => {
    const hashBytes = fc.array(fc.uint8Array({ minLength: 9, maxLength: 9 }), { minLength: 1, maxLength: 8 });
    fc.assert(fc.property(hashBytes, (hashes) => {
      const raw = Buffer.concat(hashes);
      const ids = raw.toString('base64url');
      const record = encodeRecord('customer', { id: 'C1', seen: { v: 3, days: [20_000], ids: [ids] } }, 6);
      expect(record.includes(raw)).toBe(true);
      expect((decodeRecord('customer', record, 'x') as { seen: { ids: string[] } }).seen.ids).toEqual([ids]);
    }), { numRuns: 500 });
  });

  it('refuses every truncation and corruption of a record with CodecError only', () => {
    const [c] = simulatedCustomers().sort((a, b) => b.features.days.length - a.features.days.length);
    expectRefusesDamage(c, 6);
  });
});
