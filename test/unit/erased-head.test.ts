/**
 * The erased-head record's rule (scorer/runtime/erased-head.ts): a moved head is vouched for only from a
 * head already vouched for, and only over messages deleted before the erasure or by it.
 */
import { describe, expect, it } from 'vitest';
import { vouchedHead, type HeadBefore } from '../../scorer/runtime/erased-head.js';

const before = (firstSeq: number, deleted: number[] = []): HeadBefore => ({ firstSeq, deleted: new Set(deleted), replicas: 1 });

describe('vouchedHead', () => {
  it('vouches for a head moved by the erasure\'s own deletes from seq 1', () => {
    expect(vouchedHead(1, before(1), new Set([1, 2, 3, 9]), 4)).toBe(4);
  });

  it('counts gaps deleted before the erasure (an earlier erasure inside the stream)', () => {
    expect(vouchedHead(1, before(1, [2, 3]), new Set([1]), 4)).toBe(4);
  });

  it('extends an earlier record from the head it vouched for', () => {
    expect(vouchedHead(10, before(10), new Set([10, 11]), 12)).toBe(12);
  });

  it('refuses a head that was lost before the erasure (the stream started past the record)', () => {
    expect(vouchedHead(1, before(5), new Set([5, 6]), 7)).toBeUndefined();
  });

  it('refuses a head moved over a message neither deleted before nor by the erasure', () => {
    expect(vouchedHead(1, before(1), new Set([1, 3]), 4)).toBeUndefined();
  });

  it('records nothing when the head did not move', () => {
    expect(vouchedHead(1, before(1), new Set([5]), 1)).toBeUndefined();
  });
});
