/**
 * The loyalty book gives the same answers on a customer whose lots and earning records are sealed (left
 * encoded by the state store's codec, scorer/runtime/store/sealed.ts) as on the same customer kept in
 * memory: random operations applied to both, the sealed one restored from its record, or resealed by a
 * commit's encoding, at random points in between.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { dueLots, earliestExpiry, earnedRecord, forgetEarned, forgetEarnedBefore, insertLot, keepEarned, mergeLots, ownLot, renameCreditLots, someCreditLot, take } from '../../scorer/core/loyalty/book.js';
import type { EarnRecord, Lot, LoyaltyState } from '../../scorer/core/loyalty/state.js';
import { getCustomer, newPartitionState, type CustomerState } from '../../scorer/core/state.js';
import { sealedEarned, sealedLots } from '../../scorer/core/mod.js';
import { decodeRecord, encodeRecord, CODEC_VERSION } from '../../scorer/runtime/store/codec.js';
import { MAX_CHUNKS } from '../../scorer/runtime/store/sealed.js';
import { ShapeReader } from '../../scorer/runtime/store/shapes.js';

const DAY = 86_400_000;
const T0 = Date.parse('2026-01-01T00:00:00Z');

type Op =
  | { op: 'earn'; id: number; days: number; pts: number; expDays: number; tier: string; credit: boolean; back?: number }
  | { op: 'take'; pts: number; prefer: number | undefined }
  | { op: 'due'; days: number }
  | { op: 'merge'; days: number }
  | { op: 'prune'; days: number }
  | { op: 'own'; id: number }
  | { op: 'record'; id: number }
  | { op: 'forget'; id: number }
  | { op: 'rename'; id: number }
  | { op: 'restore' }
  | { op: 'reseal' };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 8, arbitrary: fc.record({ op: fc.constant('earn' as const), id: fc.nat(60), days: fc.integer({ min: -3, max: 3 }), pts: fc.integer({ min: 1, max: 500 }), expDays: fc.integer({ min: 20, max: 90 }), tier: fc.constantFrom('bronze', 'silver'), credit: fc.boolean(), back: fc.nat(3) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('take' as const), pts: fc.integer({ min: 1, max: 2000 }), prefer: fc.option(fc.nat(60), { nil: undefined }) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('due' as const), days: fc.integer({ min: 0, max: 100 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('merge' as const), days: fc.integer({ min: 0, max: 100 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('prune' as const), days: fc.integer({ min: 0, max: 100 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('own' as const), id: fc.nat(60) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('record' as const), id: fc.nat(60) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('forget' as const), id: fc.nat(60) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('rename' as const), id: fc.nat(60) }) },
  { weight: 3, arbitrary: fc.constant({ op: 'restore' as const }) },
  { weight: 3, arbitrary: fc.constant({ op: 'reseal' as const }) },
);

const txId = (n: number): string => `tx-${String(n).padStart(4, '0')}`;

/** Two copies of one customer: `plain` kept in memory, `sealed` restored or resealed along the way. */
class Pair {
  plain: CustomerState;
  sealed: CustomerState;
  clock = 0;
  seq = 0;

  constructor() {
    this.plain = getCustomer(newPartitionState(0), 'c-1');
    this.sealed = getCustomer(newPartitionState(0), 'c-1');
  }

  /** Applies `f` to both loyalty states and expects the same answer. */
  both<T>(f: (L: LoyaltyState) => T): T {
    const a = f(this.plain.loyalty);
    const b = f(this.sealed.loyalty);
    expect(b).toEqual(a);
    return a;
  }

  run(o: Op): void {
    switch (o.op) {
      case 'earn': {
        this.clock = Math.max(0, this.clock + o.days * DAY);
        this.seq += 1;
        const at = T0 + this.clock;
        const seq = this.seq - (o.back ?? 0); // a transaction of the same time delivered after one later in the stream
        const id = o.credit ? `credit-${o.id}` : txId(o.id);
        const lot = (): Lot => ({ src: o.credit ? 'rd' : 'tx', id, at, seq, exp: at + o.expDays * DAY, pts: o.pts, rem: o.pts, tier: o.tier, ver: 'L1' });
        this.both((L) => insertLot(L, lot()));
        if (!o.credit) {
          const rec = (): EarnRecord => ({ at, pts: o.pts, ver: 'L1', m: Math.floor(at / (30 * DAY)), amt: o.pts * 100 });
          this.both((L) => keepEarned(L, id, rec()));
        }
        return;
      }
      case 'take': return void this.both((L) => take(L, o.pts, o.prefer === undefined ? undefined : txId(o.prefer)));
      case 'due': return void this.both((L) => [...dueLots(L, T0 + o.days * DAY)]);
      case 'merge': {
        this.both((L) => mergeLots(L, T0 + o.days * DAY));
        expectMerged(this.plain, T0 + o.days * DAY);
        expectMerged(this.sealed, T0 + o.days * DAY);
        return;
      }
      case 'prune': return this.both((L) => forgetEarnedBefore(L, T0 + o.days * DAY));
      case 'own': return void this.both((L) => ownLot(L, txId(o.id)));
      case 'record': return void this.both((L) => earnedRecord(L, txId(o.id)));
      case 'forget': return this.both((L) => forgetEarned(L, txId(o.id)));
      case 'rename': {
        this.both((L) => someCreditLot(L, (id) => id === `credit-${o.id}`));
        return this.both((L) => renameCreditLots(L, (id) => (id === `credit-${o.id}` ? `renamed-${o.id}` : undefined)));
      }
      case 'restore':
        this.sealed = decodeRecord<CustomerState>('customer', encodeRecord('customer', this.sealed), 'test', { sealed: true });
        return;
      case 'reseal':
        encodeRecord('customer', this.sealed, CODEC_VERSION, { reseal: true });
        return;
    }
  }

  /** Both copies as the store would hold them, decoded whole. */
  records(): [CustomerState, CustomerState] {
    const whole = (c: CustomerState): CustomerState => decodeRecord<CustomerState>('customer', encodeRecord('customer', c), 'test');
    return [whole(this.plain), whole(this.sealed)];
  }
}

/**
 * A long history: time moves forward by up to a week an earning, and expiry, the merge of lots and pruning
 * run at times behind the clock, as the daily and weekly passes do, on lots and earning records that span
 * many commits' chunks.
 */
type LongOp = { op: 'earn'; id: number; days: number; pts: number; expDays: number } | { op: 'prune'; behind: number } | { op: 'due'; behind: number } | { op: 'merge'; behind: number } | { op: 'record'; id: number } | { op: 'forget'; id: number } | { op: 'restore' } | { op: 'reseal' };

const longOpArb: fc.Arbitrary<LongOp> = fc.oneof(
  { weight: 10, arbitrary: fc.record({ op: fc.constant('earn' as const), id: fc.nat(400), days: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 7 })), pts: fc.integer({ min: 1, max: 500 }), expDays: fc.constantFrom(30, 60, 200) }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('due' as const), behind: fc.integer({ min: 0, max: 30 }) }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('merge' as const), behind: fc.integer({ min: 0, max: 130 }) }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('prune' as const), behind: fc.integer({ min: 0, max: 130 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('record' as const), id: fc.nat(400) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('forget' as const), id: fc.nat(400) }) },
  { weight: 4, arbitrary: fc.constant({ op: 'restore' as const }) },
  { weight: 4, arbitrary: fc.constant({ op: 'reseal' as const }) },
);

/**
 * What mergeLots promises, checked on the whole list whatever it skipped: no two neighbouring lots earned
 * before `horizon` with the same expiry, tier and version are left, on every copy of the customer.
 */
function expectMerged(c: CustomerState, horizon: number): void {
  const lots = decodeRecord<CustomerState>('customer', encodeRecord('customer', c), 'test').loyalty.lots;
  for (let i = 1; i < lots.length; i++) {
    const [a, b] = [lots[i - 1] as Lot, lots[i] as Lot];
    const mergeable = a.at < horizon && b.at < horizon && a.exp === b.exp && a.tier === b.tier && a.ver === b.ver;
    expect(mergeable, `lots ${i - 1} and ${i} of ${lots.length} left unmerged before ${horizon}`).toBe(false);
  }
}

function runLong(pair: Pair, o: LongOp): void {
  switch (o.op) {
    case 'earn': return pair.run({ op: 'earn', id: o.id, days: o.days, pts: o.pts, expDays: o.expDays, tier: 'bronze', credit: false });
    case 'due': return void pair.both((L) => [...dueLots(L, T0 + pair.clock - o.behind * DAY)]);
    case 'merge': {
      const horizon = T0 + pair.clock - o.behind * DAY;
      pair.both((L) => mergeLots(L, horizon));
      expectMerged(pair.plain, horizon);
      expectMerged(pair.sealed, horizon);
      return;
    }
    case 'prune': return pair.both((L) => forgetEarnedBefore(L, T0 + pair.clock - o.behind * DAY));
    default: return pair.run(o);
  }
}

describe('the loyalty book on sealed lots and earning records', () => {
  it('answers every operation as on the customer kept in memory, and ends in the same state (property)', () => {
    let sealedSeen = 0;
    fc.assert(fc.property(fc.array(opArb, { minLength: 1, maxLength: 120 }), (ops) => {
      const pair = new Pair();
      for (const o of ops) {
        pair.run(o);
        if (sealedLots(pair.sealed.loyalty) !== undefined || sealedEarned(pair.sealed.loyalty) !== undefined) sealedSeen++;
        expect(earliestExpiry(pair.sealed.loyalty)).toBe(earliestExpiry(pair.plain.loyalty));
      }
      const [plain, sealed] = pair.records();
      expect(sealed).toEqual(plain);
      expect(JSON.stringify(sealed.loyalty)).toBe(JSON.stringify(plain.loyalty));
    }), { numRuns: 400 });
    expect(sealedSeen, 'operations that ran on a sealed state').toBeGreaterThan(300);
  });

  it('over a long history (expiries, merges and pruning behind the clock) gives the same answers and state (property)', () => {
    let sealedPrunes = 0;
    let sealedExpiries = 0;
    let sealedMerges = 0;
    let expiriesLeftSealed = 0;
    let lookupsLeftSealed = 0;
    let prunesLeftSealed = 0;
    fc.assert(fc.property(fc.array(longOpArb, { minLength: 50, maxLength: 300 }), (ops) => {
      const pair = new Pair();
      for (const o of ops) {
        const before = sealedEarned(pair.sealed.loyalty);
        const lotsBefore = sealedLots(pair.sealed.loyalty);
        const plainLots = pair.plain.loyalty.lots.length;
        runLong(pair, o);
        const after = sealedEarned(pair.sealed.loyalty);
        if (o.op === 'prune' && before !== undefined) sealedPrunes++;
        if (o.op === 'prune' && before !== undefined && after !== undefined && after !== before) prunesLeftSealed++;
        if (o.op === 'merge' && lotsBefore !== undefined && pair.plain.loyalty.lots.length < plainLots) sealedMerges++;
        if (o.op === 'due' && lotsBefore !== undefined && pair.plain.loyalty.lots.length < plainLots) sealedExpiries++;
        if (o.op === 'due' && lotsBefore !== undefined && sealedLots(pair.sealed.loyalty) !== undefined && pair.plain.loyalty.lots.length < plainLots) expiriesLeftSealed++;
        if (o.op === 'record' && before !== undefined && after === before) lookupsLeftSealed++;
        for (const part of [after, sealedLots(pair.sealed.loyalty)]) expect((part as unknown as { chunks?: unknown[] } | undefined)?.chunks?.length ?? 0).toBeLessThanOrEqual(MAX_CHUNKS);
      }
      const [plain, sealed] = pair.records();
      expect(sealed).toEqual(plain);
      expect(JSON.stringify(sealed.loyalty)).toBe(JSON.stringify(plain.loyalty));
    }), { numRuns: 300 });
    expect(sealedPrunes, 'prunes on sealed earning records').toBeGreaterThan(100);
    expect(sealedExpiries, 'expiries on sealed lots').toBeGreaterThan(20);
    expect(sealedMerges, 'merges of sealed lots').toBeGreaterThan(20);
    expect(expiriesLeftSealed, 'expiries that left the lots not due sealed').toBeGreaterThan(10);
    expect(lookupsLeftSealed, 'lookups of a record not sealed that opened nothing').toBeGreaterThan(10);
    expect(prunesLeftSealed, 'prunes that dropped sealed records without opening the rest').toBeGreaterThan(20);
  });

  it('pruning a plain record that replaced a sealed one of a later time does not bring the sealed one back', () => {
    const pair = new Pair();
    pair.run({ op: 'earn', id: 1, days: 10, pts: 10, expDays: 400, tier: 'bronze', credit: false });
    pair.run({ op: 'reseal' });
    pair.run({ op: 'earn', id: 1, days: -2, pts: 20, expDays: 400, tier: 'bronze', credit: false });
    pair.both((L) => forgetEarnedBefore(L, T0 + 9 * DAY));
    expect(pair.both((L) => earnedRecord(L, txId(1)))).toBeUndefined();
    const [plain, sealed] = pair.records();
    expect(sealed).toEqual(plain);
  });

  it('keeps at most MAX_CHUNKS chunks a section over many commits that each add a lot', () => {
    const pair = new Pair();
    for (let i = 0; i < 5 * MAX_CHUNKS; i++) {
      pair.run({ op: 'earn', id: i, days: 1, pts: 10, expDays: 400, tier: 'bronze', credit: false });
      pair.run(i % 2 === 0 ? { op: 'reseal' } : { op: 'restore' });
      const chunks = (sealedLots(pair.sealed.loyalty) as unknown as { chunks: unknown[] }).chunks.length;
      expect(chunks).toBeLessThanOrEqual(MAX_CHUNKS);
      expect((sealedEarned(pair.sealed.loyalty) as unknown as { chunks: unknown[] }).chunks.length).toBeLessThanOrEqual(MAX_CHUNKS);
    }
    expect(sealedLots(pair.sealed.loyalty)?.count).toBe(5 * MAX_CHUNKS);
    const [plain, sealed] = pair.records();
    expect(sealed).toEqual(plain);
  });

  it('pruning decodes and writes again only the piece of the oldest earning records, and the record reads the same', () => {
    const pair = new Pair();
    for (let i = 0; i < 120; i++) pair.run({ op: 'earn', id: i, days: 1, pts: 10, expDays: 400, tier: 'bronze', credit: false });
    pair.run({ op: 'restore' });
    type Chunked = { chunks: { bytes: Uint8Array }[]; count: number };
    const before = sealedEarned(pair.sealed.loyalty) as unknown as Chunked;
    expect(before.chunks.length, 'a window of records written as pieces, oldest first').toBe(MAX_CHUNKS / 2);
    pair.both((L) => forgetEarnedBefore(L, T0 + 8 * DAY));
    const after = sealedEarned(pair.sealed.loyalty) as unknown as Chunked;
    expect(after.count).toBe(113);
    expect(after.chunks.length).toBe(MAX_CHUNKS / 2);
    expect(after.chunks.slice(1), 'the later pieces stay as they were read').toEqual(before.chunks.slice(1));
    for (let i = 1; i < after.chunks.length; i++) expect(after.chunks[i]).toBe(before.chunks[i]);
    expect(pair.both((L) => earnedRecord(L, txId(6)))).toBeUndefined();
    expect(pair.both((L) => earnedRecord(L, txId(7)))?.at).toBe(T0 + 8 * DAY);
    const [plain, sealed] = pair.records();
    expect(sealed).toEqual(plain);
    expect(JSON.stringify(sealed.loyalty)).toBe(JSON.stringify(plain.loyalty));
  });

  it('pruning a sealed record whose id another part holds too opens them all, so the key order stays an open\'s', () => {
    const pair = new Pair();
    pair.run({ op: 'earn', id: 1, days: 1, pts: 10, expDays: 400, tier: 'bronze', credit: false });
    pair.run({ op: 'earn', id: 2, days: 1, pts: 10, expDays: 400, tier: 'bronze', credit: false });
    pair.run({ op: 'reseal' });
    pair.run({ op: 'earn', id: 3, days: 1, pts: 10, expDays: 400, tier: 'bronze', credit: false });
    pair.run({ op: 'earn', id: 1, days: 1, pts: 10, expDays: 400, tier: 'bronze', credit: false });
    pair.run({ op: 'reseal' });
    expect((sealedEarned(pair.sealed.loyalty) as unknown as { chunks: unknown[] }).chunks.length, 'id 1 in both chunks').toBe(2);
    pair.both((L) => forgetEarnedBefore(L, T0 + 2 * DAY));
    expect(sealedEarned(pair.sealed.loyalty), 'opened').toBeUndefined();
    const [plain, sealed] = pair.records();
    expect(Object.keys(sealed.loyalty.earned)).toEqual([txId(1), txId(2), txId(3)]);
    expect(JSON.stringify(sealed.loyalty)).toBe(JSON.stringify(plain.loyalty));
  });

  it('merges again lots that became neighbours below the merged horizon: a lot taken out, one expired, one inserted late', () => {
    const lot = (id: number, at: number, exp: number, tier: string, seq = id): Lot => ({ src: 'tx', id: txId(id), at: T0 + at * DAY, seq, exp: T0 + exp * DAY, pts: 10, rem: 10, tier, ver: 'L1' });
    const horizon = T0 + 20 * DAY;
    const cases: [string, (L: LoyaltyState) => void][] = [
      ['taken out', (L) => void take(L, 10, txId(2))],
      ['expired', (L) => void dueLots(L, T0 + 100 * DAY)],
      ['inserted late', (L) => void insertLot(L, lot(9, 1, 400, 'bronze', 2))],
    ];
    for (const [what, change] of cases) {
      for (const restore of [false, true]) {
        const pair = new Pair();
        pair.both((L) => insertLot(L, lot(1, 1, 400, 'bronze')));
        pair.both((L) => insertLot(L, lot(2, 1, what === 'expired' ? 100 : 400, 'silver')));
        pair.both((L) => insertLot(L, lot(3, 1, 400, 'bronze')));
        pair.both((L) => mergeLots(L, horizon));
        expect(pair.plain.loyalty.merged).toBe(horizon);
        if (restore) pair.run({ op: 'restore' });
        pair.both(change);
        pair.both((L) => mergeLots(L, horizon));
        expectMerged(pair.plain, horizon);
        expectMerged(pair.sealed, horizon);
        const [plain, sealed] = pair.records();
        expect(sealed, `${what}, restored: ${String(restore)}`).toEqual(plain);
      }
    }
  });

  it('writes again only the newest chunks no bigger than what a commit adds, so a lot is written again a few times, not at every few commits', () => {
    const pair = new Pair();
    type Chunked = { chunks: { bytes: Uint8Array; items: number }[] };
    const sizes = (part: unknown): number[] => (part as Chunked).chunks.map((c) => new ShapeReader(c.bytes, c.items).count());
    let rewritten = 0;
    for (let i = 0; i < 200; i++) {
      const before = new Set((sealedLots(pair.sealed.loyalty) as unknown as Chunked | undefined)?.chunks ?? []);
      pair.run({ op: 'earn', id: i, days: 1, pts: 10, expDays: 400, tier: 'bronze', credit: false });
      pair.run(i % 2 === 0 ? { op: 'reseal' } : { op: 'restore' });
      const after = (sealedLots(pair.sealed.loyalty) as unknown as Chunked).chunks;
      if (i % 2 === 0) for (const [k, chunk] of after.entries()) if (!before.has(chunk)) rewritten += sizes(sealedLots(pair.sealed.loyalty))[k] as number;
      for (const part of [sealedLots(pair.sealed.loyalty), sealedEarned(pair.sealed.loyalty)]) {
        const counts = sizes(part);
        expect(counts.length).toBeLessThanOrEqual(MAX_CHUNKS);
      }
    }
    expect(rewritten / 100, 'lots written again a commit, on average (the 100 resealed ones)').toBeLessThan(12);
    const [plain, sealed] = pair.records();
    expect(sealed).toEqual(plain);
  });

  it('an expiry decodes and writes again only the chunk of the lots due soonest, and the record reads the same', () => {
    const pair = new Pair();
    for (let i = 0; i < 60; i++) pair.run({ op: 'earn', id: i, days: 1, pts: 10, expDays: 30, tier: 'bronze', credit: false });
    pair.run({ op: 'restore' });
    type Chunked = { chunks: { bytes: Uint8Array }[]; count: number };
    const before = sealedLots(pair.sealed.loyalty) as unknown as Chunked;
    expect(before.chunks.length, 'a whole list written as the soonest lots, then the rest').toBe(2);
    expect(before.count).toBe(60);
    const gone = pair.both((L) => dueLots(L, T0 + 33 * DAY).map((l) => l.id));
    expect(gone).toEqual([txId(0), txId(1), txId(2)]);
    const after = sealedLots(pair.sealed.loyalty) as unknown as Chunked;
    expect(after.chunks.length).toBe(2);
    expect(after.chunks[1], 'the later lots stay as they were read').toBe(before.chunks[1]);
    expect(after.count).toBe(57);
    const [plain, sealed] = pair.records();
    expect(sealed).toEqual(plain);
  });
});
