/**
 * Remembered ids sealed by the state store's codec (version 8, scorer/runtime/store/seen-section.ts) give
 * the same answers as the same ids kept in memory: random operations applied to both, the sealed copy
 * restored from its record or resealed by a commit's encoding at random points in between, with horizons
 * given out of order, ids remembered again after they were forgotten, and days far apart (the table's
 * day width grows, its base moves).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { forgetBefore, MAX_SEEN_DAYS, newSeenIds, oldestSeenDay, openedSeen, remember, sealedSeen, seenDay, type SeenIds } from '../../scorer/core/seen.js';
import { DAY_MS } from '../../scorer/core/types.js';
import { CODEC_VERSION, CodecError, decodeRecord, encodeRecord } from '../../scorer/runtime/store/codec.js';

type Op =
  | { op: 'remember'; id: number; day: number }
  | { op: 'burst'; from: number; count: number; day: number }
  | { op: 'forget'; day: number }
  | { op: 'restore' }
  | { op: 'reseal' }
  | { op: 'whole' };

const opArb = (dayMax: number): fc.Arbitrary<Op> => fc.oneof(
  { weight: 8, arbitrary: fc.record({ op: fc.constant('remember' as const), id: fc.nat(300), day: fc.integer({ min: -20, max: dayMax }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('burst' as const), from: fc.nat(3000), count: fc.integer({ min: 1, max: 60 }), day: fc.integer({ min: -20, max: dayMax }) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('forget' as const), day: fc.integer({ min: -20, max: dayMax }) }) },
  { weight: 2, arbitrary: fc.constant({ op: 'restore' as const }) },
  { weight: 2, arbitrary: fc.constant({ op: 'reseal' as const }) },
  { weight: 1, arbitrary: fc.constant({ op: 'whole' as const }) },
);

interface Holder {
  id: string;
  seen: SeenIds;
}

const sealedRestore = (h: Holder): Holder => decodeRecord<Holder>('customer', encodeRecord('customer', h), 'test', { sealed: true });
const wholeRestore = (h: Holder): Holder => decodeRecord<Holder>('customer', encodeRecord('customer', h), 'test');

function run(ops: readonly Op[]): void {
  const plain: Holder = { id: 'c', seen: newSeenIds() };
  let sealed: Holder = { id: 'c', seen: newSeenIds() };
  const both = (id: string, day: number): void => {
    const at = day * DAY_MS + 1000;
    remember(plain.seen, id, at);
    remember(sealed.seen, id, at);
  };
  for (const o of ops) {
    if (o.op === 'remember') both(`tx-${o.id}`, o.day);
    else if (o.op === 'burst') for (let i = 0; i < o.count; i++) both(`tx-${o.from + i}`, o.day);
    else if (o.op === 'forget') {
      forgetBefore(plain.seen, o.day * DAY_MS);
      forgetBefore(sealed.seen, o.day * DAY_MS);
    } else if (o.op === 'restore') sealed = sealedRestore(sealed);
    else if (o.op === 'reseal') encodeRecord('customer', sealed, CODEC_VERSION, { reseal: true });
    else sealed = wholeRestore(sealed);
    for (let probe = 0; probe < 12; probe++) {
      const id = `tx-${(probe * 251 + ops.length * 7) % 3100}`;
      expect(seenDay(sealed.seen, id), id).toBe(seenDay(plain.seen, id));
    }
    expect(oldestSeenDay(sealed.seen)).toBe(oldestSeenDay(plain.seen));
  }
  for (let id = 0; id < 3100; id += 7) expect(seenDay(sealed.seen, `tx-${id}`)).toBe(seenDay(plain.seen, `tx-${id}`));
  expect(openedSeen(sealed.seen)).toEqual(plain.seen);
  expect(wholeRestore(sealed)).toEqual(plain);
}

describe('remembered ids sealed by the codec', () => {
  it('answer as the same ids kept in memory, restored and resealed at random points (property)', () => {
    fc.assert(fc.property(fc.array(opArb(60), { maxLength: 60 }), run), { numRuns: 300 });
  });

  it('do so with days far apart: the table\'s day width grows and its base moves (property)', () => {
    fc.assert(fc.property(fc.array(opArb(70_000), { maxLength: 40 }), run), { numRuns: 150 });
  });

  it('are written back byte for byte by a commit that remembered and forgot nothing', () => {
    const h: Holder = { id: 'c', seen: newSeenIds() };
    for (let i = 0; i < 300; i++) remember(h.seen, `tx-${i}`, (i % 40) * DAY_MS);
    const record = encodeRecord('customer', h);
    const restored = sealedRestore(h);
    expect(restored.seen.days).toEqual([]);
    expect(sealedSeen(restored.seen)?.sealed.count).toBe(300);
    expect(seenDay(restored.seen, 'tx-299')).toBe(299 % 40);
    expect(Buffer.compare(encodeRecord('customer', restored, CODEC_VERSION, { reseal: true }), record)).toBe(0);
    forgetBefore(restored.seen, 10 * DAY_MS);
    const fewer = encodeRecord('customer', restored, CODEC_VERSION, { reseal: true });
    expect(fewer.length).toBeLessThan(record.length);
    expect(seenDay(restored.seen, 'tx-9')).toBeUndefined();
    expect(seenDay(sealedRestore(restored).seen, 'tx-9')).toBeUndefined();
    expect(seenDay(sealedRestore(restored).seen, 'tx-10')).toBe(10);
  });

  it('are written back as the table read and the ids remembered since, restored sealed together, merged once 16 are new or no longer count (version 13)', () => {
    const h: Holder = { id: 'c', seen: newSeenIds() };
    for (let i = 0; i < 300; i++) remember(h.seen, `tx-${i}`, (10 + (i % 40)) * DAY_MS);
    const record = encodeRecord('customer', h);
    const tableEnd = record.length - 3; // then the first counting day (0), an empty tail, the buckets section's flag
    let restored = sealedRestore(h);
    for (let i = 0; i < 15; i++) remember(restored.seen, `new-${i}`, (50 + (i % 3)) * DAY_MS);
    const withTail = encodeRecord('customer', restored, CODEC_VERSION, { reseal: true });
    expect(Buffer.compare(withTail.subarray(0, tableEnd), record.subarray(0, tableEnd))).toBe(0); // the table copied as it is
    expect(sealedSeen(restored.seen)?.sealed.count).toBe(300); // nothing merged, the state as it was
    const withTailRestored = sealedRestore(restored);
    expect(withTailRestored.seen.days).toEqual([]); // a restored customer holds every id it read sealed, as from one table
    expect(sealedSeen(withTailRestored.seen)?.sealed.count).toBe(315);
    expect(withTailRestored).toEqual(sealedRestore({ id: 'c', seen: openedSeen(restored.seen) })); // what the commits wrote does not show
    expect(Buffer.compare(encodeRecord('customer', withTailRestored, CODEC_VERSION, { reseal: true }), withTail)).toBe(0); // and it is written back as it was read
    restored = withTailRestored;
    expect(seenDay(restored.seen, 'new-14')).toBe(52);
    expect(seenDay(restored.seen, 'tx-299')).toBe(10 + (299 % 40));

    forgetBefore(restored.seen, 11 * DAY_MS); // day 10's 8 ids no longer count: 15 + 8 ≥ 16, so the commit merges
    encodeRecord('customer', restored, CODEC_VERSION, { reseal: true });
    expect(sealedSeen(restored.seen)?.sealed.count).toBe(300 - 8 + 15);
    expect(restored.seen.days).toEqual([]);

    forgetBefore(restored.seen, 12 * DAY_MS); // 7 or 8 more no longer count: fewer than 16, kept in the table with the day they count from
    const stale = sealedRestore(restored);
    expect(sealedSeen(stale.seen)?.sealed.count).toBe(300 - 8 + 15);
    expect(seenDay(stale.seen, 'tx-1')).toBeUndefined();
    expect(seenDay(stale.seen, 'tx-2')).toBe(12);
    expect(oldestSeenDay(stale.seen)).toBe(12);
    expect(wholeRestore(stale).seen).toEqual(openedSeen(restored.seen));
    expect(wholeRestore(stale).seen.days[0]).toBe(12);
  });

  it('answer for an id remembered again after its day stopped counting, from the tail, not the table that still holds it (version 13)', () => {
    const h: Holder = { id: 'c', seen: newSeenIds() };
    for (let i = 0; i < 40; i++) remember(h.seen, `tx-${i}`, (5 + (i % 4)) * DAY_MS);
    const restored = sealedRestore(h);
    forgetBefore(restored.seen, 6 * DAY_MS); // tx-0, tx-4, … (day 5) no longer count: 10 in the table
    expect(seenDay(restored.seen, 'tx-0')).toBeUndefined();
    remember(restored.seen, 'tx-0', 20 * DAY_MS); // the same id again, as new
    const again = sealedRestore(restored); // written as the table (tx-0 on day 5, no longer counting) and a tail (tx-0 on day 20)
    expect(sealedSeen(again.seen)?.sealed.count).toBe(41);
    expect(seenDay(again.seen, 'tx-0')).toBe(20);
    expect(seenDay(again.seen, 'tx-4')).toBeUndefined();
    expect(openedSeen(again.seen)).toEqual(openedSeen(restored.seen));
  });

  it('are opened when the day bound may apply, and then keep it exactly as plain buckets do', () => {
    const plain = newSeenIds();
    const h: Holder = { id: 'c', seen: newSeenIds() };
    for (let day = 0; day < MAX_SEEN_DAYS - 10; day++) remember(h.seen, `old-${day}`, day * DAY_MS);
    const sealed = sealedRestore(h).seen;
    for (let day = 0; day < MAX_SEEN_DAYS - 10; day++) remember(plain, `old-${day}`, day * DAY_MS);
    for (let day = MAX_SEEN_DAYS - 10; day < MAX_SEEN_DAYS + 30; day++) {
      remember(plain, `new-${day}`, day * DAY_MS);
      remember(sealed, `new-${day}`, day * DAY_MS);
      forgetBefore(plain, 0);
      forgetBefore(sealed, 0);
    }
    expect(sealedSeen(sealed)).toBeUndefined();
    expect(sealed).toEqual(plain);
    expect(plain.days.length).toBe(MAX_SEEN_DAYS);
    expect(seenDay(sealed, 'old-29')).toBeUndefined();
    expect(seenDay(sealed, 'old-30')).toBe(30);
  });

  it('refuses a record whose table does not match its checksum, and an older codec version for a sealed customer', () => {
    const h: Holder = { id: 'c', seen: newSeenIds() };
    for (let i = 0; i < 50; i++) remember(h.seen, `tx-${i}`, (i % 5) * DAY_MS);
    const record = encodeRecord('customer', h);
    const damaged = Buffer.from(record);
    const inTable = damaged.length - 50; // the table's 50 entries of 10 bytes end 3 bytes before the record (first counting day, tail, buckets flag)
    damaged[inTable] = (damaged[inTable] as number) ^ 0x10;
    expect(() => decodeRecord('customer', damaged, 'c/x', { sealed: true })).toThrow(/c\/x.*checksum/);
    expect(() => encodeRecord('customer', sealedRestore(h), 7)).toThrow(CodecError);
  });
});
