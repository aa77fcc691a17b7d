/**
 * Codec version 11 (scorer/runtime/store/shapes.ts, sealed.ts, codec.ts): what a lot or an earning record
 * repeats (a lot's remaining points when they are its points, its tier and rules version when they are the
 * previous lot's, a record's rules version when it is the previous record's) is flagged, not written. The
 * state reads back exactly (property-tested, and on customers of a simulated history), in fewer bytes than
 * version 10; the feature buckets' columns are bit-packed when that is shorter; sealed chunks of either layout are carried by a version-11 record, and a record of an earlier
 * version is written without them; a flag that names nothing to repeat is refused.
 */
import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { CustomerState } from '../../scorer/core/state.js';
import { CODEC_VERSION, customerRecordParts, decodeRecord, encodeRecord } from '../../scorer/runtime/store/codec.js';
import { readEarnedList, readLots, ShapeFormatError, ShapeReader, ShapeWriter } from '../../scorer/runtime/store/shapes.js';
import { expectRefusesDamage, simulatedCustomers } from '../support/customers.js';

/** What a record holds once stored: undefined properties absent. */
const stored = (v: unknown): unknown => JSON.parse(JSON.stringify(v)) as unknown;
const day = 86_400_000;
const time = fc.integer({ min: 1_600_000_000_000, max: 1_900_000_000_000 });
const points = fc.integer({ min: -1_000, max: 1_000_000 });
const id = fc.oneof(fc.stringMatching(/^T[0-9a-f]{8}-[0-9]{1,7}$/), fc.stringMatching(/^[ -~]{0,20}$/));
const tier = fc.constantFrom('bronze', 'gold', '');
const version = fc.constantFrom('2026.07', 'v1');
/** Lots whose remaining points are often their points, and whose tier and version often run on. */
const lot = fc.record({
  src: fc.constantFrom('tx', 'rd'), id, at: time, seq: fc.nat(), exp: time.map((t) => Math.floor(t / day) * day + day - 1),
  pts: fc.option(points, { nil: undefined }), n: fc.option(fc.integer({ min: 2, max: 400 }), { nil: undefined }), rem: points, tier, ver: version,
  spent: fc.boolean(),
}, { requiredKeys: ['src', 'id', 'at', 'seq', 'exp', 'rem', 'tier', 'ver', 'spent'] })
  .map(({ spent, ...l }) => (spent || l.pts === undefined ? l : { ...l, rem: l.pts }));
const earnRecord = fc.record({
  at: time, pts: points, ver: version, m: fc.integer({ min: 600, max: 700 }), amt: fc.option(fc.nat(), { nil: undefined }),
  seq: fc.option(fc.nat(), { nil: undefined }), x: fc.option(points, { nil: undefined }),
}, { requiredKeys: ['at', 'pts', 'ver', 'm'] });
const customer = fc.record({
  id: fc.constant('C1'),
  loyalty: fc.record({ balance: points, tier, lots: fc.array(lot, { maxLength: 30 }), earned: fc.dictionary(id, earnRecord, { maxKeys: 30 }) }),
  lastSeq: fc.nat(),
});

const roundTrip = (v: unknown, codec = CODEC_VERSION): unknown => decodeRecord('customer', encodeRecord('customer', v, codec), 'test');

/** Feature tiers: whole buckets of 8 integers, ascending keys a few apart or not, sums small, large, negative or spread past 2^32. */
const sum = fc.oneof(fc.constant(0), fc.nat({ max: 7 }), fc.nat({ max: 200 }), fc.integer({ min: -5_000_000_000, max: 5_000_000_000 }).map((x) => x * 1000), fc.integer({ min: 0, max: 2 ** 40 }));
const bucketTier = fc.tuple(fc.integer({ min: -5, max: 30_000 }), fc.array(fc.tuple(fc.oneof(fc.integer({ min: 1, max: 3 }), fc.integer({ min: -10, max: 10_000 })), fc.array(sum, { minLength: 7, maxLength: 7 })), { maxLength: 100 }))
  .map(([first, buckets]) => {
    let key = first;
    return buckets.flatMap(([step, sums]) => [(key += step), ...sums]);
  });
const withBuckets = fc.record({ id: fc.constant('C1'), features: fc.record({ v: fc.constant(3), days: bucketTier, weeks: bucketTier, late: fc.nat() }) });
/** The bytes of a customer's buckets section (its flag byte included). */
const bucketBytes = (c: unknown, codec: number): number => customerRecordParts(encodeRecord('customer', c, codec)).bucketsSection;

describe('codec version 11: repeats flagged, not written', () => {
  it('is in the current version (12 keeps its flags)', () => {
    expect(CODEC_VERSION).toBeGreaterThanOrEqual(11);
  });

  it('round-trips lots and earning records exactly, and re-encodes to the same bytes (property)', () => {
    fc.assert(fc.property(customer, (c) => {
      const once = encodeRecord('customer', c, 11);
      const back = decodeRecord('customer', once, 'test');
      expect(isDeepStrictEqual(stored(back), stored(c))).toBe(true);
      expect(Buffer.compare(encodeRecord('customer', back, 11), once)).toBe(0);
      expect(isDeepStrictEqual(stored(roundTrip(c, 10)), stored(back))).toBe(true);
    }), { numRuns: 1500 });
  });

  it('gives the customers of a simulated history back as version 10 does, in fewer bytes of lots and records', () => {
    const customers = simulatedCustomers();
    let lots10 = 0;
    let lots11 = 0;
    let earned10 = 0;
    let earned11 = 0;
    for (const c of customers) {
      const eleven = encodeRecord('customer', c, 11);
      const ten = encodeRecord('customer', c, 10);
      expect(JSON.stringify(decodeRecord('customer', eleven, 'v11'))).toBe(JSON.stringify(c));
      expect(JSON.stringify(decodeRecord('customer', ten, 'v10'))).toBe(JSON.stringify(c));
      lots10 += customerRecordParts(ten).lotsSection;
      lots11 += customerRecordParts(eleven).lotsSection;
      earned10 += customerRecordParts(ten).earnedSection;
      earned11 += customerRecordParts(eleven).earnedSection;
    }
    expect(customers.length).toBeGreaterThan(30);
    expect(lots11).toBeLessThan(lots10 * 0.95);
    expect(earned11).toBeLessThan(earned10);
  });

  it('carries sealed chunks of version 10 in a version-11 record, and opens sealed chunks into a record of version 10', () => {
    const customers = simulatedCustomers().filter((c) => c.loyalty.lots.length > 3 && Object.keys(c.loyalty.earned).length > 3);
    expect(customers.length).toBeGreaterThan(5);
    for (const c of customers) {
      const want = JSON.stringify(c);
      const fromTen = decodeRecord<CustomerState>('customer', encodeRecord('customer', c, 10), 'v10', { sealed: true });
      const eleven = encodeRecord('customer', fromTen, 11);
      expect(JSON.stringify(decodeRecord('customer', eleven, 'v11'))).toBe(want);
      expect(customerRecordParts(eleven).lotsSection).toBeGreaterThan(1);

      const fromEleven = decodeRecord<CustomerState>('customer', encodeRecord('customer', c, 11), 'v11', { sealed: true });
      const ten = encodeRecord('customer', fromEleven, 10);
      // the generic codec writes a table's columns in the order their keys first appear (compact.ts): values equal, key order may not be
      expect(isDeepStrictEqual(stored(decodeRecord('customer', ten, 'v10')), stored(c))).toBe(true);
      // the sections' places hold one byte each: the lots and records went to the generic part, opened
      expect(customerRecordParts(ten).lotsSection).toBe(1);
      expect(customerRecordParts(ten).earnedSection).toBe(1);
    }
  });

  it('round-trips feature buckets exactly, packed or not, and re-encodes to the same bytes, never longer than version 10 by more than a byte a column (property)', () => {
    fc.assert(fc.property(withBuckets, (c) => {
      const once = encodeRecord('customer', c, 11);
      const back = decodeRecord('customer', once, 'test');
      expect(isDeepStrictEqual(stored(back), stored(c))).toBe(true);
      expect(Buffer.compare(encodeRecord('customer', back, 11), once)).toBe(0);
      expect(bucketBytes(c, 11)).toBeLessThanOrEqual(bucketBytes(c, 10) + 2 * 8);
    }), { numRuns: 3000 });
  });

  it('writes the simulated customers\' feature buckets in under two thirds of version 10\'s bytes', () => {
    const customers = simulatedCustomers();
    let ten = 0;
    let eleven = 0;
    for (const c of customers) {
      ten += bucketBytes(c, 10);
      eleven += bucketBytes(c, 11);
    }
    expect(eleven).toBeLessThan((ten * 2) / 3);
  });

  it('leaves feature buckets that do not fit to the generic codec, exactly', () => {
    const features = { v: 3, days: [20_000, 1, 1, 1, 5000, 0, 0, 0], weeks: [], late: 0 };
    for (const days of [[20_000, 1, 1, 1, 50.5, 0, 0, 0], [20_000, 1, 1, 1, -0, 0, 0, 0], [20_000, 1, 1], [2 ** 53, 1, 1, 1, 1, 0, 0, 0]]) {
      const c = { id: 'C1', features: { ...features, days } };
      expect(stored(roundTrip(c))).toEqual(stored(c));
      expect(bucketBytes(c, 11)).toBe(1);
    }
    expect(Object.is((roundTrip({ id: 'C1', features: { ...features, days: [20_000, 1, 1, 1, -0, 0, 0, 0] } }) as { features: { days: number[] } }).features.days[4], -0)).toBe(true);
  });

  it('refuses a flag that names nothing to repeat, and flags it does not know', () => {
    const lotWith = (flags: number): Uint8Array => {
      const w = new ShapeWriter();
      w.varint(1);
      w.byte(flags);
      w.frontCoded('T1', '');
      for (const n of [1_700_000_000_000, 7, 2, 5]) w.zigzag(n); // at, seq, expiry delta, rem
      if ((flags & 32) === 0) {
        w.dictionaryString('bronze');
        w.dictionaryString('v1');
      }
      return w.bytes.slice(0, w.length);
    };
    expect(readLots(new ShapeReader(lotWith(0), 0), 11)[0]).toMatchObject({ id: 'T1', rem: 5, tier: 'bronze' });
    expect(() => readLots(new ShapeReader(lotWith(32), 0), 11)).toThrow(ShapeFormatError);
    expect(() => readLots(new ShapeReader(lotWith(64), 0), 11)).toThrow(ShapeFormatError);
    const recordWith = (flags: number): Uint8Array => {
      const w = new ShapeWriter();
      w.varint(1);
      w.frontCoded('T1', '');
      w.byte(flags);
      for (const n of [1_700_000_000_000, 600, 5]) w.zigzag(n); // at, bank month, points
      if ((flags & 64) === 0) w.dictionaryString('v1');
      return w.bytes.slice(0, w.length);
    };
    const read = { ids: [] as string[], records: [] as never[] };
    readEarnedList(new ShapeReader(recordWith(0), 0), read, 11);
    expect(read.records[0]).toEqual({ at: 1_700_000_000_000, pts: 5, ver: 'v1', m: 600 });
    expect(() => readEarnedList(new ShapeReader(recordWith(64), 0), { ids: [], records: [] }, 11)).toThrow(ShapeFormatError);
    expect(() => readEarnedList(new ShapeReader(recordWith(128), 0), { ids: [], records: [] }, 11)).toThrow(ShapeFormatError);
  });

  it('refuses damaged records with CodecError', () => {
    const [c] = simulatedCustomers().sort((a, b) => b.loyalty.lots.length - a.loyalty.lots.length);
    expect(() => expectRefusesDamage(c, 11)).not.toThrow();
  });
});
