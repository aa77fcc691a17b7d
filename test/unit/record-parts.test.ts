/**
 * `customerRecordParts` (the bench's breakdown of a state record): the parts of a record add up to its
 * length, a section's part is its own (a customer without remembered ids has a one-byte seen part, the
 * absent flag, and the same lots and earning-record parts), and a record of another kind, an older codec
 * version or cut short is refused.
 */
import { describe, expect, it } from 'vitest';
import { CODEC_VERSION, CodecError, customerRecordParts, encodeRecord } from '../../scorer/runtime/store/codec.js';
import type { CustomerState } from '../../scorer/core/mod.js';
import { simulatedCustomers } from '../support/customers.js';

describe('customerRecordParts', () => {
  const customers = simulatedCustomers();

  it('adds up to the record, on every simulated customer', () => {
    expect(customers.length).toBeGreaterThan(10);
    for (const c of customers) {
      const record = encodeRecord('customer', c);
      const p = customerRecordParts(record);
      expect(p.generic + p.earnedSection + p.lotsSection + p.seenSection + p.bucketsSection).toBe(record.length);
      expect(Math.min(p.generic, p.earnedSection, p.lotsSection, p.seenSection, p.bucketsSection)).toBeGreaterThan(0);
    }
  });

  it('gives a section its own bytes: without remembered ids, the seen part is the absent flag and the others are unchanged', () => {
    const c = customers.find((x) => Object.keys((x as unknown as { seen: object }).seen ?? {}).length > 0) as CustomerState;
    const whole = customerRecordParts(encodeRecord('customer', c));
    const { seen: _seen, ...rest } = c as unknown as Record<string, unknown>;
    const record = encodeRecord('customer', rest);
    const without = customerRecordParts(record);
    expect(without.seenSection).toBe(1);
    expect(record.length).toBe(without.generic + whole.earnedSection + whole.lotsSection + 1 + whole.bucketsSection);
    expect(whole.seenSection).toBeGreaterThan(100);
    expect(without.lotsSection).toBe(whole.lotsSection);
    expect(without.earnedSection).toBe(whole.earnedSection);
    expect(without.bucketsSection).toBe(whole.bucketsSection);
  });

  it('refuses what is not a customer record of version 8 or later', () => {
    const c = customers[0] as CustomerState;
    expect(() => customerRecordParts(encodeRecord('customer', c, 7))).toThrow(CodecError);
    expect(() => customerRecordParts(encodeRecord('meta', { a: 1 }, CODEC_VERSION))).toThrow(CodecError);
    const record = encodeRecord('customer', c);
    expect(() => customerRecordParts(record.subarray(0, record.length - 3))).toThrow(CodecError);
  });
});
