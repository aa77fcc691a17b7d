/**
 * Codec version 12 (scorer/runtime/store/shapes.ts `ShapeWriter.idCoded`, sealed.ts, codec.ts): the ids of
 * lots and earning records are coded by the numbers in them, so an id that differs from the one before inside
 * a number of as many digits (a running count, an ISO 8583 STAN or time) is written as the difference of the
 * numbers. Ids read back exactly (property-tested, any ASCII), never in more bytes than front coding; a
 * version-12 record writes the sealed chunks of an older record again in its layout once, and a version-11
 * record opens version-12 chunks; damaged steps are refused. An earning record's cap counters are written
 * against its bank month, and a single award of its points with one cap as that cap alone.
 */
import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { CustomerState } from '../../scorer/core/state.js';
import { CODEC_VERSION, CodecError, customerRecordParts, decodeRecord, encodeRecord } from '../../scorer/runtime/store/codec.js';
import { ShapeFormatError, ShapeReader, ShapeWriter } from '../../scorer/runtime/store/shapes.js';
import { expectRefusesDamage, simulatedCustomers } from '../support/customers.js';

/** What a record holds once stored: undefined properties absent. */
const stored = (v: unknown): unknown => JSON.parse(JSON.stringify(v)) as unknown;

/** Ids with numbers in them: a running count, the ISO 8583 mapping's, digits with leading zeros, runs longer than 15 digits, or any ASCII. */
const digits = (max: number): fc.Arbitrary<string> => fc.stringMatching(new RegExp(`^[0-9]{1,${max}}$`));
const id = fc.oneof(
  fc.tuple(fc.constantFrom('T1db78fc5-', 'R1db78fc5-', 'T', ''), fc.nat({ max: 2_000_000 })).map(([prefix, n]) => `${prefix}${n}`),
  fc.tuple(digits(6), digits(6), fc.integer({ min: 20_250_101_000_000, max: 20_271_231_235_959 })).map(([acquirer, stan, at]) => `iso:${acquirer}:${stan.padStart(6, '0')}:${at}`),
  fc.tuple(digits(20), fc.constantFrom('', ':rev', '-9')).map(([number, tail]) => number + tail),
  fc.stringMatching(/^[ -~]{0,24}$/),
);

/** `ids` each coded against the one before, and the bytes front coding would take. */
function coded(ids: readonly string[]): { bytes: Uint8Array; frontCoded: number } {
  const w = new ShapeWriter();
  const front = new ShapeWriter();
  let previous = '';
  for (const s of ids) {
    w.idCoded(s, previous);
    previous = front.frontCoded(s, previous);
  }
  return { bytes: w.bytes.slice(0, w.length), frontCoded: front.length };
}

function readIds(bytes: Uint8Array, count: number, previous = ''): string[] {
  const reader = new ShapeReader(bytes, 0);
  reader.rememberPrevious(previous);
  const ids: string[] = [];
  for (let i = 0; i < count; i++) ids.push(reader.idCoded());
  expect(reader.offset).toBe(bytes.length);
  return ids;
}

const lot = fc.record({
  src: fc.constantFrom('tx', 'rd'), id, at: fc.integer({ min: 1_600_000_000_000, max: 1_900_000_000_000 }), seq: fc.nat(),
  exp: fc.integer({ min: 18_000, max: 22_000 }).map((d) => d * 86_400_000 + 86_399_999), pts: fc.nat({ max: 5_000 }), rem: fc.nat({ max: 5_000 }),
  tier: fc.constantFrom('bronze', 'gold'), ver: fc.constant('2026.07'),
});
const earnRecord = fc.record({ at: fc.integer({ min: 1_600_000_000_000, max: 1_900_000_000_000 }), pts: fc.nat({ max: 5_000 }), ver: fc.constant('2026.07'), m: fc.integer({ min: 600, max: 700 }) });
/** Cap counters as loyalty/engine.ts names them, and keys it never makes (no number, a leading zero, a long number). */
const cap = fc.oneof(
  fc.tuple(fc.constantFrom('online-purchase', 'fuel', ''), fc.constantFrom('|d', '|w', '|m'), fc.integer({ min: 0, max: 30_000 })).map(([rule, period, n]) => `${rule}${period}${n}`),
  fc.constantFrom('rule|m007', 'no-number', '', '12345678901234567890', 'x|m-5'),
);
/** Awards in the key order the codec reads them in (the engine's: `pts` first). */
const award = fc.record({ pts: fc.integer({ min: -5, max: 5_000 }), rule: fc.constantFrom('base', 'bonus'), caps: fc.array(cap, { maxLength: 3 }), campaign: fc.constantFrom('spring', 'autumn') }, { requiredKeys: ['pts'] });
/** Records as the engine keeps them (one award of the record's points with one cap, most of the time) and as it may not. */
const awardedRecord = fc.tuple(earnRecord, fc.oneof(cap.map((c) => [c]), fc.array(award, { maxLength: 3 }))).map(([record, awards]) =>
  typeof awards[0] === 'string' ? { ...record, amt: 100, awards: [{ pts: record.pts, caps: awards as string[] }] } : { ...record, amt: 100, awards });
const customer = fc.record({
  id: fc.constant('C1'),
  loyalty: fc.record({ balance: fc.nat(), tier: fc.constant('bronze'), lots: fc.array(lot, { maxLength: 30 }), earned: fc.dictionary(id, earnRecord, { maxKeys: 30 }) }),
  lastSeq: fc.nat(),
});

describe('codec version 12: ids coded by the numbers in them', () => {
  it('is in the current version', () => {
    expect(CODEC_VERSION).toBeGreaterThanOrEqual(12);
  });

  it('reads any ids back exactly, in no more bytes than front coding (property)', () => {
    fc.assert(fc.property(fc.array(id, { maxLength: 40 }), (ids) => {
      const { bytes, frontCoded } = coded(ids);
      expect(readIds(bytes, ids.length)).toEqual(ids);
      expect(bytes.length).toBeLessThanOrEqual(frontCoded);
    }), { numRuns: 3000 });
  });

  it('writes a running count in 3 bytes and an ISO 8583 id in under half of front coding', () => {
    expect(coded(['T1db78fc5-344344', 'T1db78fc5-344807']).bytes.length - coded(['T1db78fc5-344344']).bytes.length).toBe(3);
    const iso = ['iso:12345:000123:20261207112233', 'iso:12345:000456:20261208093011'];
    const second = coded(iso).bytes.length - coded(iso.slice(0, 1)).bytes.length;
    expect(second).toBeLessThanOrEqual(8);
    expect(second * 2).toBeLessThan(coded(iso).frontCoded - coded(iso.slice(0, 1)).frontCoded);
    // digits kept as written: leading zeros, a number that gains a digit, one of more than 15 digits
    for (const pair of [['A007', 'A010'], ['A99', 'A100'], ['9999999999999999', '9999999999999998'], ['x1y2z3', 'x1y3z3']]) expect(readIds(coded(pair).bytes, 2)).toEqual(pair);
  });

  it('round-trips lots and earning records exactly, and re-encodes to the same bytes, read as version 11 reads them (property)', () => {
    fc.assert(fc.property(customer, (c) => {
      const once = encodeRecord('customer', c, 12);
      const back = decodeRecord('customer', once, 'test');
      expect(isDeepStrictEqual(stored(back), stored(c))).toBe(true);
      expect(Buffer.compare(encodeRecord('customer', back, 12), once)).toBe(0);
      expect(isDeepStrictEqual(stored(decodeRecord('customer', encodeRecord('customer', c, 11), 'v11')), stored(back))).toBe(true);
    }), { numRuns: 1500 });
  });

  it('round-trips earning records\' awards and cap counters exactly, and re-encodes to the same bytes (property)', () => {
    const awarded = fc.record({ id: fc.constant('C1'), loyalty: fc.record({ balance: fc.nat(), lots: fc.constant([]), earned: fc.dictionary(id, awardedRecord, { maxKeys: 20 }) }) });
    fc.assert(fc.property(awarded, (c) => {
      const once = encodeRecord('customer', c, 12);
      expect(customerRecordParts(once).earnedSection).toBeGreaterThan(1); // written in its shape, not left to the generic codec
      const back = decodeRecord('customer', once, 'test');
      expect(JSON.stringify(back)).toBe(JSON.stringify(c));
      expect(Buffer.compare(encodeRecord('customer', back, 12), once)).toBe(0);
    }), { numRuns: 1500 });
  });

  it('gives the customers of a simulated history back as version 11 does, in fewer bytes of lots and records', () => {
    const customers = simulatedCustomers();
    let eleven = 0;
    let twelve = 0;
    for (const c of customers) {
      const v12 = encodeRecord('customer', c, 12);
      const v11 = encodeRecord('customer', c, 11);
      expect(JSON.stringify(decodeRecord('customer', v12, 'v12'))).toBe(JSON.stringify(c));
      eleven += customerRecordParts(v11).lotsSection + customerRecordParts(v11).earnedSection;
      twelve += customerRecordParts(v12).lotsSection + customerRecordParts(v12).earnedSection;
    }
    expect(customers.length).toBeGreaterThan(30);
    expect(twelve).toBeLessThan(eleven * 0.9);
  });

  it('writes a version-11 record\'s sealed chunks again in a version-12 record, once, and opens version-12 chunks into a version-11 record', () => {
    const customers = simulatedCustomers().filter((c) => c.loyalty.lots.length > 3 && Object.keys(c.loyalty.earned).length > 3);
    expect(customers.length).toBeGreaterThan(5);
    for (const c of customers) {
      const want = JSON.stringify(c);
      const fresh = encodeRecord('customer', c, 12);
      const fromEleven = decodeRecord<CustomerState>('customer', encodeRecord('customer', c, 11), 'v11', { sealed: true });
      const twelve = encodeRecord('customer', fromEleven, 12, { reseal: true });
      expect(JSON.stringify(decodeRecord('customer', twelve, 'v12'))).toBe(want);
      expect(customerRecordParts(twelve).lotsSection).toBe(customerRecordParts(fresh).lotsSection);
      expect(customerRecordParts(twelve).earnedSection).toBe(customerRecordParts(fresh).earnedSection);
      // kept sealed on what it wrote: the chunks are version 12's now, so a version-11 record opens them
      const eleven = encodeRecord('customer', fromEleven, 11);
      expect(customerRecordParts(eleven).lotsSection).toBe(1);
      expect(customerRecordParts(eleven).earnedSection).toBe(1);
      expect(isDeepStrictEqual(stored(decodeRecord('customer', eleven, 'v11')), stored(c))).toBe(true);
    }
  });

  it('refuses steps that do not fit the id before', () => {
    const step = (...varints: number[]): Uint8Array => {
      const w = new ShapeWriter();
      for (const v of varints) w.varint(v);
      return w.bytes.slice(0, w.length);
    };
    const read = (bytes: Uint8Array, previous: string): string => {
      const reader = new ShapeReader(bytes, 0);
      reader.rememberPrevious(previous);
      return reader.idCoded();
    };
    expect(read(step(4 * 3 + 2, 14, 0), 'T1-42')).toBe('T1-49'); // a number step (+7), then the end
    expect(() => read(step(4 * 6), 'T1-42')).toThrow(ShapeFormatError); // shares more than the id before has
    expect(() => read(step(4 * 0 + 3, 2), 'T1-42')).toThrow(ShapeFormatError); // no digits where the number starts
    expect(() => read(step(4 * 3 + 3, 116), 'T1-42')).toThrow(ShapeFormatError); // 42 + 58 (zigzag 116) needs a third digit
    expect(() => read(step(4 * 3 + 3, 85), 'T1-42')).toThrow(ShapeFormatError); // 42 − 43 (zigzag 85) is negative
    expect(() => read(step(4 * 0 + 3, 2), '1234567890123456')).toThrow(ShapeFormatError); // more than 15 digits
  });

  it('refuses damaged records with CodecError', () => {
    const [c] = simulatedCustomers().sort((a, b) => b.loyalty.lots.length - a.loyalty.lots.length);
    expect(() => expectRefusesDamage(c, 12)).not.toThrow();
    expect(() => decodeRecord('customer', Buffer.from([13, 1, 0]), 'v13')).toThrow(CodecError);
  });
});
