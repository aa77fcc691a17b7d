/**
 * Codec version 9 (scorer/runtime/store/fields.ts): a customer's fields outside its sections written by a
 * layout of the core's state. It gives back exactly what the generic codec (compact.ts, versions 3–8)
 * gives back — values, keys and key order — for the core's customers and for anything else in their
 * place (keys the layout does not know, values not of their field's kind, any order); its layout is
 * pinned; damaged records are refused with CodecError only.
 */
import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CODEC_VERSION, decodeRecord, encodeRecord } from '../../scorer/runtime/store/codec.js';
import { compactDecode, compactEncode } from '../../scorer/runtime/store/compact.js';
import { CUSTOMER_LAYOUT, decodeCustomerFields, encodeCustomerFields, LAYOUT } from '../../scorer/runtime/store/fields.js';
import { expectRefusesDamage, simulatedCustomers } from '../support/customers.js';

const roundTrip = (v: unknown, version = 9): unknown => decodeRecord('customer', encodeRecord('customer', v, version), 'test');

const definedKeys = (o: object): string => Object.entries(o).filter(([, x]) => x !== undefined).map(([k]) => k).join(',');

/**
 * Objects of `back` whose keys are neither in the order of the value encoded nor in the order the generic
 * codec gives back for it alone or as part of any value holding it (its tables put the keys of a list's
 * objects in one order), by path. `back` holds the values of `original` (checked apart: isDeepStrictEqual
 * does not compare key order).
 */
function misordered(back: unknown, original: unknown, enclosing: readonly unknown[] = [], path = '', out: string[] = []): string[] {
  if (typeof back !== 'object' || back === null || typeof original !== 'object' || original === null) return out;
  const references = [...enclosing, compactDecode(compactEncode(original))];
  const own = definedKeys(back);
  if (!Array.isArray(back) && own !== definedKeys(original) && !references.some((r) => own === definedKeys(r as object))) out.push(`${path || '.'}: ${own}`);
  for (const k of Object.keys(back)) {
    const child = (x: unknown): unknown => (typeof x === 'object' && x !== null ? (x as Record<string, unknown>)[k] : undefined);
    misordered(child(back), child(original), references.map(child).filter((x) => typeof x === 'object' && x !== null), `${path}.${k}`, out);
  }
  return out;
}

/** `v` read back by this codec: the values the generic codec reads back, each object's keys in `v`'s order or the generic codec's. */
function expectAsGeneric(v: unknown): void {
  const back = decodeCustomerFields(encodeCustomerFields(v).slice());
  const reference = compactDecode(compactEncode(v));
  expect(isDeepStrictEqual(back, reference), `${String(JSON.stringify(v)).slice(0, 400)} came back as ${String(JSON.stringify(back)).slice(0, 400)}`).toBe(true);
  expect(misordered(back, v)).toEqual([]);
}

/** An object with these entries in this order, as own properties even for `__proto__`. */
function objectOf(entries: readonly (readonly [string, unknown])[]): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  for (const [k, v] of entries) Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
  return o;
}

const weirdText = fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.constantFrom('', '\ud800', 'a\udc00b', 'é', '0', '07', '123', '4294967295', '__proto__', 'constructor', 'x'.repeat(200)));
const anyNumber = fc.oneof(fc.integer(), fc.double(), fc.constantFrom(-0, NaN, Infinity, -Infinity, 2 ** 51, -(2 ** 51), 2 ** 53 - 1, -(2 ** 53) + 1, 2 ** 60, 0.1));
const leaf = fc.oneof(anyNumber, weirdText, fc.boolean(), fc.constant(null), fc.constant(undefined));
const anyValue = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: 'small', withCrossShrink: true }, leaf, tie('array'), tie('object')),
  array: fc.array(tie('value'), { maxLength: 4 }),
  object: fc.array(fc.tuple(weirdText, tie('value')), { maxLength: 4 }).map(objectOf),
})).value;

/** A value for a field of this layout: mostly of its kind (what the core keeps), sometimes anything. */
function fieldValue(layoutName: string, field: string): fc.Arbitrary<unknown> {
  const nested = (LAYOUT as Record<string, { names: readonly string[] }>)[field === 'contacts' ? 'contact' : field === 'open' ? 'openOffer' : field === 'membership' ? 'consentStatement' : field];
  const typical: fc.Arbitrary<unknown> = nested && layoutName !== field
    ? structOf(nested.names, field === 'contacts' || field === 'open' ? 'array' : 'object', field)
    : fc.oneof(anyNumber, fc.integer({ min: -1e15, max: 1e15 }), weirdText, fc.boolean(), fc.array(anyNumber, { maxLength: 9 }), fc.array(weirdText, { maxLength: 4 }),
      fc.array(fc.tuple(weirdText, fc.integer()), { maxLength: 5 }).map(objectOf), fc.array(fc.tuple(fc.nat(30_000).map(String), fc.integer()), { maxLength: 13 }).map(objectOf),
      fc.array(fc.tuple(weirdText, weirdText), { maxLength: 3 }).map(objectOf), fc.constantFrom({}, [], null));
  return fc.oneof({ weight: 5, arbitrary: typical }, { weight: 1, arbitrary: anyValue });
}

/** Objects holding some of `names` (and sometimes other keys) in any order. */
function structOf(names: readonly string[], as: 'object' | 'array', layoutName: string): fc.Arbitrary<unknown> {
  const one = fc.tuple(
    fc.shuffledSubarray([...names]).chain((keys) => fc.tuple(...keys.map((k) => fieldValue(layoutName, k).map((v) => [k, v] as const)))),
    fc.array(fc.tuple(weirdText, anyValue), { maxLength: 2 }),
    fc.boolean(),
  ).map(([known, extra, extraFirst]) => objectOf(extraFirst ? [...extra, ...known] : [...known, ...extra]));
  return as === 'array' ? fc.array(one, { maxLength: 3 }) : one;
}

const customerArb = structOf(CUSTOMER_LAYOUT.names, 'object', 'customer');

describe('codec versions 9 and 10: a customer\'s fields by the layout of the core\'s state', () => {
  it('is the layout of the current version (10: 9 with the loyalty state\'s `merged` in the layout; 11 to 13 write the generic part as 10)', () => {
    expect(CODEC_VERSION).toBe(13);
  });

  it('writes `merged` in version 10 by its index and in version 9 as an escaped entry, and reads both as the same customer', () => {
    const customers = simulatedCustomers().filter((c) => c.loyalty.merged !== undefined);
    expect(customers.length, 'customers the weekly merge reached').toBeGreaterThan(10);
    for (const c of customers.slice(0, 10)) {
      const ten = encodeRecord('customer', c, 10);
      const nine = encodeRecord('customer', c, 9);
      expect(ten.includes('merged')).toBe(false);
      expect(nine.includes('merged')).toBe(true);
      expect(nine.length).toBeGreaterThan(ten.length);
      expect(JSON.stringify(decodeRecord('customer', nine, 'v9'))).toBe(JSON.stringify(c));
      expect(JSON.stringify(decodeRecord('customer', ten, 'v10'))).toBe(JSON.stringify(c));
    }
  });

  it('gives the customers of a simulated history back exactly, in the core\'s key order, as version 8 does, in fewer bytes', () => {
    const customers = simulatedCustomers();
    let bytes8 = 0;
    let bytes9 = 0;
    for (const c of customers) {
      const nine = roundTrip(c);
      expect(JSON.stringify(nine)).toBe(JSON.stringify(c));
      expect(isDeepStrictEqual(nine, roundTrip(c, 8))).toBe(true);
      const once = encodeRecord('customer', c, 9);
      expect(Buffer.compare(encodeRecord('customer', decodeRecord('customer', once, 'x'), 9), once)).toBe(0);
      bytes8 += encodeRecord('customer', c, 8).length;
      bytes9 += once.length;
    }
    expect(customers.length).toBeGreaterThan(30);
    expect(bytes9).toBeLessThan(bytes8);
  });

  it('gives back what the generic codec gives back for any value in a customer\'s place: unknown keys, values of other kinds, any order (property)', () => {
    fc.assert(fc.property(customerArb, (c) => expectAsGeneric(c)), { numRuns: 3000 });
    fc.assert(fc.property(anyValue, (v) => expectAsGeneric(v)), { numRuns: 500 });
  });

  it('writes the layout\'s fields without their names, and escapes what does not fit', () => {
    const fits = encodeCustomerFields({ id: 'C1', lifecycle: { stage: 'retention', since: 1_767_000_000_000 } });
    expect(Buffer.from(fits).includes('stage')).toBe(false);
    const unknown = encodeCustomerFields({ id: 'C1', lifecycle: { stage: 'retention', mood: 'calm' } });
    expect(Buffer.from(unknown).includes('mood')).toBe(true);
    expect(decodeCustomerFields(unknown)).toEqual({ id: 'C1', lifecycle: { stage: 'retention', mood: 'calm' } });
    for (const odd of [{ lastSeq: 1.5 }, { lastSeq: -0 }, { lastSeq: 2 ** 53 }, { id: 7 }, { id: 'a\ud800' }, { lifecycle: [1] }, { loyalty: { months: { 'x': 1 } } }, { loyalty: { months: { '01': 1 } } }]) {
      expect(isDeepStrictEqual(decodeCustomerFields(encodeCustomerFields(odd).slice()), odd)).toBe(true);
    }
  });

  it('writes maps of 127, 128 and 300 entries (a count of one byte and of two) by the layout and reads them back', () => {
    for (const n of [127, 128, 300]) {
      const entries = Array.from({ length: n }, (_, i) => i);
      const loyalty = {
        caps: Object.fromEntries(entries.map((i) => [`rule-${i}|m${24_000 + i}`, i])),
        months: Object.fromEntries(entries.map((i) => [String(24_000 + 2 * i), i * 10])),
      };
      const offers = { occasions: Object.fromEntries(entries.map((i) => [`occasion-${i}`, `code-${i % 7}`])) };
      const customer = { id: 'C1', loyalty, offers };
      const bytes = encodeCustomerFields(customer).slice();
      expect(Buffer.from(bytes).includes('caps')).toBe(false); // each map by its layout, not escaped
      expect(decodeCustomerFields(bytes)).toEqual(customer);
      expectAsGeneric(customer);
    }
  });

  it('keeps its layout: fields are only ever appended (a changed layout is a new codec version)', () => {
    const names = Object.fromEntries([CUSTOMER_LAYOUT, ...Object.values(LAYOUT)].map((l) => [l.name, l.names.join(' ')]));
    expect(names).toEqual({
      customer: 'id loyalty features lifecycle churn seen lastSeq offers profile',
      profile: 'customer_id opened_at birth_date segment branch_id products closed_at referred_by card_tokens membership consent',
      loyalty: 'balance tier tierSince debt lots earned pending caps months reviewAt expiryAt redemptions referral pruned refunds pastRefunds held merged',
      features: 'v firstAt lastAt lastBy days weeks rolled mix mixAt sticky complaints late complaintAt scores refunds',
      lifecycle: 'stage since known timer inflight deferred',
      churn: 'p version at reasons',
      offers: 'v contacts open counts ignored suppressedUntil tier tierRank tierUpAt occasions held',
      contact: 'at code channel',
      'open offer': 'id code campaign channel branch holdout at until survey',
      consent: 'sms app email push branch',
      'consent statement': 'status at',
    });
  });

  it('reads a version-8 record of the same customer as the same customer', () => {
    for (const c of simulatedCustomers().slice(0, 10)) {
      expect(isDeepStrictEqual(decodeRecord('customer', encodeRecord('customer', c, 8), 'v8'), roundTrip(c))).toBe(true);
    }
  });

  it('refuses every truncation and corruption of a record with CodecError only', () => {
    const [c] = simulatedCustomers().sort((a, b) => JSON.stringify(b.offers).length - JSON.stringify(a.offers).length);
    expectRefusesDamage(c, 9);
    expectRefusesDamage(c, 10);
  });
});
