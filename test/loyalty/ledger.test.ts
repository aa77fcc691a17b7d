/** Ledger semantics: tiers, expiry by watermark, redemptions, reversals, referral, hot reload, bounded state. */
import { describe, expect, it } from 'vitest';
import { loyaltyOnTransaction } from '../../scorer/core/loyalty/engine.js';
import { loyaltyConfig } from '../../config/schema/engine.js';
import { referralCreditId } from '../../scorer/core/loyalty/referral.js';
import { RulesTimeline } from '../../config/schema/rules-timeline.js';
import { getCustomer, newPartitionState } from '../../scorer/core/state.js';
import { OutputEmit, type Row } from '../../sinks/mapping.js';
import { partitionOf } from '../../contracts/subjects.js';
import type { RedemptionV1 } from '../../contracts/events.js';
import { checkInvariants, DAY, Driver, HOUR, rules } from './helpers.js';

const TIERS = `
tiers:
  window_months: 3
  levels:
    - { id: bronze, min_points: 0, multiplier: 1, expiry_days: 10 }
    - { id: silver, min_points: 100, multiplier: 1.5, expiry_days: 20 }
    - { id: gold, min_points: 300, multiplier: 2, expiry_days: 40 }`;

const P = rules(`
version: "L1"
bank_time_offset: "+03:30"
${TIERS}
referral: { points: 250, window_days: 30, channels: [pos, online], min_amount_minor: 1000 }
reversals: { window_days: 60, pending_days: 7 }
rules:
  - { id: pos, when: { channels: [pos] }, award: { per_amount: { points: 1, per_minor: 1 } } }
`);

const pick = (rows: Row[], ...keys: string[]): unknown[][] => rows.map((r) => keys.map((k) => r[k]));

describe('tiers', () => {
  it('upgrade at once on points over the window (tier_changes row, exposed to the offers engine); the tier multiplier applies from the next event', () => {
    const d = new Driver(P);
    d.tx({ tx_id: 'a', occurred_at: '2026-01-10T10:00:00+03:30', amount_minor: 90 });
    d.tx({ tx_id: 'b', occurred_at: '2026-01-11T10:00:00+03:30', amount_minor: 20 });
    expect(d.customer().loyalty.tier).toBe('silver');
    expect(pick(d.tierChanges, 'customer_id', 'from_tier', 'to_tier', 'occurred_at', 'reason', 'stream_seq')).toEqual([
      ['c1', 'bronze', 'silver', '2026-01-11T06:30:00.000Z', 'upgrade: 110 points in 3 months', 2],
    ]);
    expect(d.rows()[1]!.tier).toBe('bronze'); // the row that caused the upgrade was earned at bronze
    d.tx({ tx_id: 'c', occurred_at: '2026-01-12T10:00:00+03:30', amount_minor: 10 });
    expect(pick(d.rows().slice(2), 'points', 'tier')).toEqual([[15, 'silver']]);

    // the outcome of the loyalty call carries the change
    const state = newPartitionState(0);
    const c = getCustomer(state, 'x');
    const cfg = loyaltyConfig(P, 1);
    const ctx = { seq: 1, partition: 0, at: Date.parse('2026-01-10T10:00:00Z'), watermark: 0 };
    const out = loyaltyOnTransaction(state, c, { tx_id: 't', customer_id: 'x', channel: 'pos', amount_minor: 500, currency: 'IRR', occurred_at: '' }, ctx, cfg, new OutputEmit());
    expect(out).toMatchObject({ points: 500, status: 'earned', tierChange: { customerId: 'x', from: 'bronze', to: 'gold' } });
  });

  it('downgrade only at the monthly review (an event-time timer), to the tier the window still qualifies for', () => {
    const d = new Driver(P);
    d.tx({ tx_id: 'a', occurred_at: '2026-01-10T10:00:00+03:30', amount_minor: 350 }); // gold
    // months later, still gold until the watermark passes a review month start
    d.tx({ tx_id: 'b', occurred_at: '2026-03-31T23:59:00+03:30', amount_minor: 1 });
    expect(d.customer().loyalty.tier).toBe('gold');
    // 1 April 00:00 Tehran review: the window is Feb..Apr, b's 2 points → bronze. It fires when the watermark (max − 1 h) passes it.
    d.tx({ tx_id: 'c', customer_id: 'c2', occurred_at: '2026-04-01T00:30:00+03:30', amount_minor: 1 });
    expect(d.customer().loyalty.tier).toBe('gold');
    d.tx({ tx_id: 'd', customer_id: 'c2', occurred_at: '2026-04-01T01:00:00+03:30', amount_minor: 1 });
    expect(d.customer().loyalty.tier).toBe('bronze');
    expect(pick(d.tierChanges.filter((r) => r.customer_id === 'c1'), 'from_tier', 'to_tier', 'occurred_at', 'reason', 'stream_seq')).toEqual([
      ['bronze', 'gold', '2026-01-10T06:30:00.000Z', 'upgrade: 350 points in 3 months', 1],
      // reviews on 1 Feb and 1 Mar kept gold (no row); 1 Apr (20:30 UTC on 31 Mar) found 2 points
      ['gold', 'bronze', '2026-03-31T20:30:00.000Z', 'review: 2 points in 3 months', 4], // b earned 1 × 2 (gold)
    ]);
    expect(d.customer().loyalty.reviewAt).toBe(0); // nothing left to review at the lowest tier
  });

  it('expiry depends on the tier when the points were earned', () => {
    const d = new Driver(P);
    d.tx({ tx_id: 'a', occurred_at: '2026-01-10T10:00:00+03:30', amount_minor: 150 });
    d.tx({ tx_id: 'b', occurred_at: '2026-01-10T11:00:00+03:30', amount_minor: 10 });
    expect(pick(d.rows(), 'tier', 'expires_at')).toEqual([
      ['bronze', '2026-01-20T20:29:59.999Z'], // end of the bank day, 10 days later
      ['silver', '2026-01-30T20:29:59.999Z'],
    ]);
  });
});

describe('expiry and redemptions', () => {
  it('lots expire when the watermark passes their end of day, never earlier; redemptions use the oldest lots first', () => {
    const d = new Driver(P);
    d.tx({ tx_id: 'a', occurred_at: '2026-01-01T10:00:00+03:30', amount_minor: 30 });
    d.tx({ tx_id: 'b', occurred_at: '2026-01-05T10:00:00+03:30', amount_minor: 50 });
    d.redeem({ redemption_id: 'r1', points: 40, occurred_at: '2026-01-06T10:00:00+03:30' }); // 30 from a, 10 from b
    expect(d.customer().loyalty.lots.map((l) => [l.id, l.rem])).toEqual([['b', 40]]);
    // a expired at 2026-01-11 23:59:59.999 Tehran, but it had nothing left
    d.tx({ tx_id: 'x', customer_id: 'c2', occurred_at: '2026-01-16T00:30:00+03:30' }); // watermark 15th 23:30: b not yet due
    expect(d.balance()).toBe(40);
    d.tx({ tx_id: 'y', customer_id: 'c2', occurred_at: '2026-01-16T01:00:00+03:30' }); // watermark passes b's end of day
    expect(pick(d.rows(), 'entry_id', 'kind', 'points', 'rule_id', 'source_id', 'occurred_at', 'expires_at', 'balance_after', 'stream_seq')).toEqual([
      ['earn:pos:a', 'earn', 30, 'pos', 'a', '2026-01-01T06:30:00.000Z', '2026-01-11T20:29:59.999Z', 30, 1],
      ['earn:pos:b', 'earn', 50, 'pos', 'b', '2026-01-05T06:30:00.000Z', '2026-01-15T20:29:59.999Z', 80, 2],
      ['redeem:rd:r1', 'redeem', -40, 'redemption', 'r1', '2026-01-06T06:30:00.000Z', null, 40, 3],
      ['expire:tx:b', 'expire', -40, 'expiry:bronze', 'b', '2026-01-15T20:29:59.999Z', '2026-01-15T20:29:59.999Z', 0, 5],
    ]);
    checkInvariants(d.customer());
  });

  it('a redemption larger than the balance is refused, visibly; a repeated redemption id is applied once', () => {
    const d = new Driver(P);
    d.tx({ tx_id: 'a', occurred_at: '2026-01-01T10:00:00Z', amount_minor: 30 });
    d.redeem({ redemption_id: 'big', points: 31, occurred_at: '2026-01-01T11:00:00Z' });
    d.redeem({ redemption_id: 'ok', points: 30, occurred_at: '2026-01-01T11:00:00Z' });
    d.redeem({ redemption_id: 'ok', points: 30, occurred_at: '2026-01-01T11:00:00Z' });
    expect(pick(d.rows().slice(1), 'entry_id', 'kind', 'points', 'balance_after')).toEqual([
      ['refused:rd:big', 'redeem_refused', 0, 30],
      ['redeem:rd:ok', 'redeem', -30, 0],
    ]);
    expect(d.balance()).toBe(0);
  });

  it('a timer-driven change writes a fresh customer_state row', () => {
    const d = new Driver(P);
    d.tx({ tx_id: 'a', occurred_at: '2026-01-01T10:00:00Z', amount_minor: 30 });
    const e = d.tx({ tx_id: 'b', customer_id: 'c2', occurred_at: '2026-02-01T10:00:00Z', amount_minor: 1 });
    expect(e.customerRows.get('c1')).toMatchObject({ points_balance: 0, version: 2 });
  });
});

describe('reversals', () => {
  it('take back exactly what the original earned, from its own lot first', () => {
    const d = new Driver(P);
    d.tx({ tx_id: 'a', occurred_at: '2026-01-01T10:00:00Z', amount_minor: 30 });
    d.tx({ tx_id: 'b', occurred_at: '2026-01-01T11:00:00Z', amount_minor: 50 });
    d.tx({ tx_id: 'rb', occurred_at: '2026-01-01T12:00:00Z', channel: 'pos', reverses_tx_id: 'b', amount_minor: 50 });
    expect(pick(d.rows().slice(2), 'entry_id', 'kind', 'points', 'rule_id', 'rules_version', 'source_id', 'balance_after')).toEqual([
      ['reverse:tx:rb', 'reverse', -50, 'reversal', 'L1', 'b', 30],
    ]);
    expect(d.customer().loyalty.lots.map((l) => [l.id, l.rem])).toEqual([['a', 30]]);
    // the reversal's scored row carries the points it moved; the original's rows now sum to zero
    expect(d.scored.find((r) => r.tx_id === 'rb')?.points).toBe(-50);
    expect(d.rows().filter((r) => r.source_id === 'b').reduce((s, r) => s + Number(r.points), 0)).toBe(0);
  });

  it('after the points were partly redeemed: the rest comes from other lots, then the balance goes negative (a debt repaid by later earnings)', () => {
    const d = new Driver(P);
    d.tx({ tx_id: 'a', occurred_at: '2026-01-01T10:00:00Z', amount_minor: 60 });
    d.tx({ tx_id: 'b', occurred_at: '2026-01-01T11:00:00Z', amount_minor: 20 });
    d.redeem({ redemption_id: 'r', points: 70, occurred_at: '2026-01-01T12:00:00Z' }); // a: 0 left, b: 10 left
    d.tx({ tx_id: 'ra', occurred_at: '2026-01-01T13:00:00Z', reverses_tx_id: 'a' });
    expect(d.balance()).toBe(-50);
    expect(d.customer().loyalty.debt).toBe(50);
    d.redeem({ redemption_id: 'r2', points: 1, occurred_at: '2026-01-01T13:30:00Z' });
    expect(d.rows().at(-1)).toMatchObject({ kind: 'redeem_refused', balance_after: -50 });
    d.tx({ tx_id: 'c', occurred_at: '2026-01-01T14:00:00Z', amount_minor: 80 });
    expect(d.balance()).toBe(30);
    expect(d.customer().loyalty.lots.map((l) => [l.id, l.pts, l.rem])).toEqual([['c', 80, 30]]);
    checkInvariants(d.customer());
  });

  it('never take back points that already expired', () => {
    const d = new Driver(P);
    d.tx({ tx_id: 'a', occurred_at: '2026-01-01T10:00:00Z', amount_minor: 40 });
    d.redeem({ redemption_id: 'r', points: 15, occurred_at: '2026-01-02T10:00:00Z' });
    d.tx({ tx_id: 'b', occurred_at: '2026-01-20T10:00:00Z', amount_minor: 100 }); // a's remaining 25 expire first
    d.tx({ tx_id: 'ra', occurred_at: '2026-01-20T11:00:00Z', reverses_tx_id: 'a' });
    expect(pick(d.rows(), 'kind', 'points', 'source_id', 'balance_after')).toEqual([
      ['earn', 40, 'a', 40], ['redeem', -15, 'r', 25], ['expire', -25, 'a', 0], ['earn', 100, 'b', 100], ['reverse', -15, 'a', 85],
    ]);
  });

  it('release the tier-qualifying points (no immediate downgrade: the review decides)', () => {
    const d = new Driver(P);
    d.tx({ tx_id: 'a', occurred_at: '2026-01-05T10:00:00Z', amount_minor: 120 });
    d.tx({ tx_id: 'ra', occurred_at: '2026-01-05T11:00:00Z', reverses_tx_id: 'a' });
    expect(d.customer().loyalty.tier).toBe('silver');
    d.tx({ tx_id: 'x', customer_id: 'c2', occurred_at: '2026-02-01T10:00:00Z' });
    expect(d.customer().loyalty.tier).toBe('bronze');
    expect(d.tierChanges.at(-1)).toMatchObject({ from_tier: 'silver', to_tier: 'bronze', reason: 'review: 0 points in 3 months' });
  });

  it('a reversal that arrives before its original cancels it when it comes within pending_days', () => {
    const d = new Driver(P);
    d.tx({ tx_id: 'ra', occurred_at: '2026-01-01T10:00:00Z', reverses_tx_id: 'a' });
    d.tx({ tx_id: 'a', occurred_at: '2026-01-01T09:59:00Z', amount_minor: 40 });
    expect(d.rows()).toEqual([]);
    expect(d.scored.map((r) => [r.tx_id, r.points])).toEqual([['ra', 0], ['a', 0]]);
    d.tx({ tx_id: 'rb', occurred_at: '2026-01-02T10:00:00Z', reverses_tx_id: 'b' });
    d.tx({ tx_id: 'b', occurred_at: '2026-01-10T10:00:00Z', amount_minor: 40 }); // 8 days later: no longer cancelled
    expect(pick(d.rows(), 'source_id', 'points')).toEqual([['b', 40]]);
    expect(Object.keys(d.customer().loyalty.pending)).toEqual([]);
  });

  it('a second reversal, or a reversal of a transaction that earned nothing, changes nothing', () => {
    const d = new Driver(P);
    d.tx({ tx_id: 'a', occurred_at: '2026-01-01T10:00:00Z', amount_minor: 40 });
    d.tx({ tx_id: 'atm', occurred_at: '2026-01-01T10:00:00Z', channel: 'atm', amount_minor: 40 });
    d.tx({ tx_id: 'r1', occurred_at: '2026-01-01T11:00:00Z', reverses_tx_id: 'a' });
    d.tx({ tx_id: 'r2', occurred_at: '2026-01-01T11:00:00Z', reverses_tx_id: 'a' });
    d.tx({ tx_id: 'r3', occurred_at: '2026-01-01T11:00:00Z', reverses_tx_id: 'atm' });
    d.tx({ tx_id: 'r1', occurred_at: '2026-01-01T11:00:00Z', reverses_tx_id: 'a' }); // duplicate delivery
    expect(pick(d.rows(), 'kind', 'points')).toEqual([['earn', 40], ['reverse', -40]]);
    expect(d.customer().loyalty.pending).toEqual({});
  });
});

describe('referral across partitions', () => {
  const PARTS = 4;
  const referrer = 'alice';
  const referred = ['bob', 'carol', 'dave', 'erin', 'frank'].find((id) => partitionOf(id, PARTS) !== partitionOf(referrer, PARTS))!;

  it("the referred customer's partition emits one deterministic credit for the referrer's partition", () => {
    const d = new Driver(P, { partition: partitionOf(referred, PARTS), partitions: PARTS });
    d.profile({ customer_id: referred, opened_at: '2026-01-01T00:00:00Z', referred_by: referrer });
    d.tx({ tx_id: 'small', customer_id: referred, occurred_at: '2026-01-02T00:00:00Z', amount_minor: 999 });
    d.tx({ tx_id: 'atm', customer_id: referred, occurred_at: '2026-01-02T01:00:00Z', channel: 'atm', amount_minor: 5000 });
    expect(d.publishes).toEqual([]);
    d.tx({ tx_id: 'first', customer_id: referred, occurred_at: '2026-01-03T00:00:00Z', amount_minor: 1000 });
    d.tx({ tx_id: 'second', customer_id: referred, occurred_at: '2026-01-04T00:00:00Z', amount_minor: 1000 });
    const id = referralCreditId('L1', referred);
    expect(d.publishes).toEqual([{
      subject: `tx.${partitionOf(referrer, PARTS)}.redemption`,
      msgId: `redemption:${id}`,
      payload: { redemption_id: id, customer_id: referrer, points: -250, occurred_at: '2026-01-03T00:00:00.000Z' },
    }]);

    // the runtime publishes it into TX; the referrer's partition applies it in stream order, once
    const x = new Driver(P, { partition: partitionOf(referrer, PARTS), partitions: PARTS });
    x.tx({ tx_id: 'own', customer_id: referrer, occurred_at: '2026-01-02T00:00:00Z', amount_minor: 10 });
    const msg = d.publishes[0]!.payload as RedemptionV1 & { occurred_at: string };
    x.send({ kind: 'redemption', body: msg });
    x.send({ kind: 'redemption', body: msg }); // a replayed duplicate
    expect(pick(x.rows(referrer), 'entry_id', 'kind', 'points', 'rule_id', 'rules_version', 'source_id', 'expires_at', 'balance_after')).toEqual([
      ['earn:pos:own', 'earn', 10, 'pos', 'L1', 'own', '2026-01-12T20:29:59.999Z', 10],
      [`credit:rd:${id}`, 'bonus', 250, 'referral', 'L1', id, '2026-01-13T20:29:59.999Z', 260],
    ]);
    expect(x.customer(referrer).loyalty.tier).toBe('silver'); // referral points qualify
    expect(x.scored).toHaveLength(1);
  });

  it('not outside the window, not for self-referral, not when the first transaction is cancelled by an early reversal', () => {
    const late = new Driver(P, { partitions: PARTS });
    late.profile({ customer_id: 'r1', opened_at: '2026-01-01T00:00:00Z', referred_by: referrer });
    late.tx({ tx_id: 't', customer_id: 'r1', occurred_at: '2026-02-01T00:00:01Z', amount_minor: 5000 });
    const self = new Driver(P, { partitions: PARTS });
    self.profile({ customer_id: 'r2', opened_at: '2026-01-01T00:00:00Z', referred_by: 'r2' });
    self.tx({ tx_id: 't', customer_id: 'r2', occurred_at: '2026-01-02T00:00:00Z', amount_minor: 5000 });
    const cancelled = new Driver(P, { partitions: PARTS });
    cancelled.profile({ customer_id: 'r3', opened_at: '2026-01-01T00:00:00Z', referred_by: referrer });
    cancelled.tx({ tx_id: 'rev', customer_id: 'r3', occurred_at: '2026-01-02T00:00:00Z', reverses_tx_id: 't' });
    cancelled.tx({ tx_id: 't', customer_id: 'r3', occurred_at: '2026-01-02T00:00:00Z', amount_minor: 5000 });
    expect([late.publishes, self.publishes, cancelled.publishes]).toEqual([[], [], []]);
    cancelled.tx({ tx_id: 't2', customer_id: 'r3', occurred_at: '2026-01-03T00:00:00Z', amount_minor: 5000 });
    expect(cancelled.publishes).toHaveLength(1);
  });

  it('credit ids stay within 64 characters', () => {
    const long = 'x'.repeat(64);
    const id = referralCreditId('2026.07', long);
    expect(id.length).toBeLessThanOrEqual(64);
    expect(referralCreditId('2026.07', long)).toBe(id);
    expect(referralCreditId('2026.07', `${long.slice(1)}y`)).not.toBe(id);
  });
});

describe('hot reload by stream position', () => {
  const v2 = rules(`
version: "L2"
bank_time_offset: "+03:30"
tiers:
  window_months: 3
  levels:
    - { id: basic, min_points: 0, multiplier: 1, expiry_days: 10 }
    - { id: gold, min_points: 300, multiplier: 2, expiry_days: 40 }
rules:
  - { id: pos-v2, when: { channels: [pos] }, award: { per_amount: { points: 2, per_minor: 1 } } }
`);

  it('applies each version from its position, names it on every row, and replays identically', () => {
    const run = (): Driver => {
      const timeline = new RulesTimeline([{ version: 'L1', fromSeq: 0, rules: P }, { version: 'L2', fromSeq: 3, rules: v2 }]);
      const d = new Driver(timeline);
      d.tx({ tx_id: 'a', occurred_at: '2026-01-01T10:00:00Z', amount_minor: 10 });
      d.tx({ tx_id: 'b', occurred_at: '2026-01-01T11:00:00Z', amount_minor: 10 });
      d.tx({ tx_id: 'c', occurred_at: '2026-01-01T12:00:00Z', amount_minor: 10 });
      d.tx({ tx_id: 'rb', occurred_at: '2026-01-01T13:00:00Z', reverses_tx_id: 'b' });
      return d;
    };
    const d = run();
    expect(pick(d.rows(), 'kind', 'points', 'rule_id', 'rules_version', 'tier')).toEqual([
      ['earn', 10, 'pos', 'L1', 'bronze'],
      ['earn', 10, 'pos', 'L1', 'bronze'],
      ['earn', 20, 'pos-v2', 'L2', 'basic'],
      ['reverse', -10, 'reversal', 'L1', 'basic'], // undoes what L1 did
    ]);
    expect(pick(d.tierChanges, 'from_tier', 'to_tier', 'reason')).toEqual([['bronze', 'basic', 'tier bronze is not defined by rules L2']]);
    expect(d.scored.map((r) => r.rules_version)).toEqual(['L1', 'L1', 'L2', 'L2']);
    expect(run().ledger).toEqual(d.ledger);
  });

  it('refuses positions that go back and versions used before', () => {
    const t = RulesTimeline.of(P);
    expect(() => t.add({ version: 'L2', fromSeq: 0, rules: v2 })).toThrow(/must start after/);
    expect(() => t.add({ version: 'L1', fromSeq: 10, rules: P })).toThrow(/already in the timeline/);
    expect(() => t.add({ version: 'other', fromSeq: 10, rules: v2 })).toThrow(/differs/);
    t.add({ version: 'L2', fromSeq: 10, rules: v2 });
    expect([t.at(0).version, t.at(9).version, t.at(10).version, t.at(1e9).version]).toEqual(['L1', 'L1', 'L2', 'L2']);
    expect(RulesTimeline.fromJSON(JSON.parse(JSON.stringify(t)) as ReturnType<RulesTimeline['toJSON']>).entries).toEqual(t.entries);
  });
});

describe('bounded state', () => {
  it('keeps per-customer state bounded by the horizons over years of daily activity', () => {
    const q = rules(`
version: "B"
bank_time_offset: "+03:30"
${TIERS}
reversals: { window_days: 30, pending_days: 5 }
rules:
  - { id: pos, when: { channels: [pos] }, award: { fixed: 1 }, caps: { per_day: 5, per_week: 20, per_month: 60 } }
`);
    const d = new Driver(q);
    const start = Date.parse('2026-01-01T08:00:00Z');
    let maxSize = 0;
    for (let i = 0; i < 3 * 365; i++) {
      const at = new Date(start + i * DAY + (i % 7) * HOUR).toISOString();
      d.tx({ tx_id: `t${i}`, occurred_at: at, amount_minor: 100 });
      if (i % 10 === 0) d.redeem({ redemption_id: `r${i}`, points: 3, occurred_at: at });
      if (i % 13 === 0) d.tx({ tx_id: `rev${i}`, occurred_at: at, reverses_tx_id: `missing${i}` });
      if (i > 400 && i % 10 === 0) maxSize = Math.max(maxSize, JSON.stringify(d.customer().loyalty).length);
    }
    const L = d.customer().loyalty;
    expect(Object.keys(L.earned).length).toBeLessThanOrEqual(31 + 7); // reversal window + the weekly pruning
    expect(Object.keys(L.redemptions).length).toBeLessThanOrEqual(5);
    expect(Object.keys(L.pending).length).toBeLessThanOrEqual(2);
    expect(Object.keys(L.caps).length).toBeLessThanOrEqual(15);
    expect(Object.keys(L.months).length).toBeLessThanOrEqual(5);
    expect(L.lots.length).toBeLessThanOrEqual(41);
    expect(maxSize).toBeLessThan(30_000);
    checkInvariants(d.customer());
    expect(d.rows().reduce((s, r) => s + Number(r.points), 0)).toBe(L.balance);
  });
});
