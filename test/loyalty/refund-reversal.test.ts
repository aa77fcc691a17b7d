/**
 * A reversal of a refund (the bank voided the refund): it gives back exactly what the refund took, once,
 * within the reversal window; the features take it as undoing the refund, not as a reversal of a
 * purchase. And the refund's scored row carries the event's `kind` and `refund_of_tx_id`.
 */
import { describe, expect, it } from 'vitest';
import { featureValues, namedFeatures } from '../../scorer/core/features/engine.js';
import { decodeRecord, encodeRecord } from '../../scorer/runtime/store/codec.js';
import { checkInvariants, Driver, rules } from './helpers.js';
import { expectReplayFromEveryCut, pick, refund, REFUND_RULES, sendEvents, type RefundTx } from './refund-helpers.js';

const P = REFUND_RULES;

type Tx = RefundTx;
const voidOf = (d: Driver, refundId: string, occurredAt: string, id = `${refundId}:rev`): void => void d.tx({ tx_id: id, occurred_at: occurredAt, reverses_tx_id: refundId });
const at = (iso: string): number => Date.parse(iso);

describe('a reversal of a refund naming its purchase', () => {
  it('gives back exactly what the refund took: one reverse row naming the refund, the points in a lot expiring with the purchase\'s', () => {
    const d = new Driver(P);
    d.tx({ tx_id: 'a', occurred_at: '2026-01-01T10:00:00Z', amount_minor: 1000 }); // 105
    refund(d, { tx_id: 'f', occurred_at: '2026-01-03T10:00:00Z', amount_minor: 333, refund_of_tx_id: 'a' }); // −34
    const purchaseLot = d.customer().loyalty.lots.find((l) => l.id === 'a')!;
    voidOf(d, 'f', '2026-01-04T10:00:00Z');
    expect(pick(d.rows().slice(-1), 'entry_id', 'kind', 'points', 'rule_id', 'rules_version', 'source_id', 'balance_after', 'expires_at')).toEqual([
      ['reverse:tx:f:rev', 'reverse', 34, 'reversal:refund', 'R1', 'f', 105, new Date(purchaseLot.exp).toISOString()],
    ]);
    expect(d.balance()).toBe(105);
    expect(d.scored.find((r) => r.tx_id === 'f:rev')?.points).toBe(34);
    expect(d.customer().loyalty.lots.map((l) => [l.id, l.rem, l.exp])).toEqual([['a', 71, purchaseLot.exp], ['f', 34, purchaseLot.exp]]);
    expect(Object.values(d.customer().loyalty.months)).toEqual([105]);
    checkInvariants(d.customer());
  });

  it('the refund is undone for the purchase: a later full refund takes everything, a later reversal of the purchase takes everything', () => {
    const refunded = new Driver(P);
    refunded.tx({ tx_id: 'a', occurred_at: '2026-01-01T10:00:00Z', amount_minor: 1000 });
    refund(refunded, { tx_id: 'f', occurred_at: '2026-01-03T10:00:00Z', amount_minor: 600, refund_of_tx_id: 'a' }); // −63
    voidOf(refunded, 'f', '2026-01-03T11:00:00Z'); // +63
    refund(refunded, { tx_id: 'g', occurred_at: '2026-01-03T12:00:00Z', amount_minor: 1000, refund_of_tx_id: 'a' });
    expect(pick(refunded.rows().filter((r) => r.entry_id === 'refund:tx:g'), 'points')).toEqual([[-105]]);
    expect(refunded.balance()).toBe(0);

    const reversed = new Driver(P);
    reversed.tx({ tx_id: 'a', occurred_at: '2026-01-01T10:00:00Z', amount_minor: 1000 });
    refund(reversed, { tx_id: 'f', occurred_at: '2026-01-03T10:00:00Z', amount_minor: 600, refund_of_tx_id: 'a' });
    voidOf(reversed, 'f', '2026-01-03T11:00:00Z');
    reversed.tx({ tx_id: 'ra', occurred_at: '2026-01-03T12:00:00Z', reverses_tx_id: 'a' });
    expect(pick(reversed.rows().slice(-1), 'kind', 'points', 'source_id')).toEqual([['reverse', -105, 'a']]);
    expect(reversed.balance()).toBe(0);
    checkInvariants(reversed.customer());
  });

  it('after the purchase was reversed, a reversal of its refund gives nothing back (the purchase took the rest)', () => {
    const d = new Driver(P);
    d.tx({ tx_id: 'a', occurred_at: '2026-01-01T10:00:00Z', amount_minor: 1000 });
    refund(d, { tx_id: 'f', occurred_at: '2026-01-03T10:00:00Z', amount_minor: 500, refund_of_tx_id: 'a' }); // −52
    d.tx({ tx_id: 'ra', occurred_at: '2026-01-03T11:00:00Z', reverses_tx_id: 'a' }); // −53
    voidOf(d, 'f', '2026-01-03T12:00:00Z');
    expect(d.rows().filter((r) => r.entry_id === 'reverse:tx:f:rev')).toEqual([]);
    expect(d.balance()).toBe(0);
    expect(d.scored.find((r) => r.tx_id === 'f:rev')?.points).toBe(0);
  });

  it('repays the debt the refund opened first, as an earning would', () => {
    const d = new Driver(P);
    d.tx({ tx_id: 'a', occurred_at: '2026-01-01T10:00:00Z', amount_minor: 1000 }); // 105
    d.redeem({ redemption_id: 'r', points: 100, occurred_at: '2026-01-02T10:00:00Z' });
    refund(d, { tx_id: 'f', occurred_at: '2026-01-03T10:00:00Z', amount_minor: 500, refund_of_tx_id: 'a' }); // −52: balance −47
    expect(d.customer().loyalty.debt).toBe(47);
    voidOf(d, 'f', '2026-01-03T11:00:00Z');
    expect(d.balance()).toBe(5);
    expect(d.customer().loyalty.debt).toBe(0);
    expect(d.customer().loyalty.lots.map((l) => [l.id, l.rem])).toEqual([['f', 5]]);
    checkInvariants(d.customer());
  });

  it('gives back the tier-qualifying points: a member reviewed down after the refund is upgraded again, as an earning would', () => {
    const d = new Driver(P);
    d.tx({ tx_id: 'a', occurred_at: '2026-01-01T10:00:00Z', amount_minor: 1500 }); // 155: silver
    refund(d, { tx_id: 'f', occurred_at: '2026-01-03T10:00:00Z', amount_minor: 500, refund_of_tx_id: 'a' }); // 51 back
    d.tx({ tx_id: 'x', customer_id: 'c2', occurred_at: '2026-02-01T10:00:00Z' }); // review: 104 → bronze
    expect(d.customer().loyalty.tier).toBe('bronze');
    voidOf(d, 'f', '2026-02-02T10:00:00Z');
    expect(Object.values(d.customer().loyalty.months)).toEqual([155]);
    expect(d.tierChanges.at(-1)).toMatchObject({ from_tier: 'bronze', to_tier: 'silver', reason: 'upgrade: 155 points in 3 months' });
  });
});

describe('a reversal of an unlinked refund', () => {
  it('gives back the estimate it took, in a lot expiring as points earned at the refund would', () => {
    const d = new Driver(P);
    d.tx({ tx_id: 'a', occurred_at: '2026-01-01T10:00:00Z', amount_minor: 1000 }); // 105
    refund(d, { tx_id: 'f', occurred_at: '2026-01-03T10:00:00Z', amount_minor: 500 }); // −50 (refund:unlinked)
    voidOf(d, 'f', '2026-01-05T10:00:00Z');
    const back = d.rows().at(-1)!;
    expect(pick([back], 'kind', 'points', 'rule_id', 'source_id', 'balance_after')).toEqual([['reverse', 50, 'reversal:refund', 'f', 105]]);
    // bronze: the end of the bank day (+03:30) 100 days after the refund's
    expect(back.expires_at).toBe('2026-04-13T20:29:59.999Z');
    expect(d.rows().filter((r) => r.source_id === 'f').map((r) => Number(r.points))).toEqual([-50, 50]);
    checkInvariants(d.customer());
  });

  it('a refund that took nothing is still known as a refund: its reversal gives nothing and writes no row', () => {
    const d = new Driver(P);
    d.tx({ tx_id: 'a', occurred_at: '2026-01-01T10:00:00Z', amount_minor: 1000 });
    refund(d, { tx_id: 'f', occurred_at: '2026-01-03T10:00:00Z', amount_minor: 500, channel: 'atm' }); // no earn rule: 0
    voidOf(d, 'f', '2026-01-03T11:00:00Z');
    expect(d.rows().map((r) => r.kind)).toEqual(['earn', 'bonus']);
    expect(d.balance()).toBe(105);
  });

  it('points whose expiry passed before the reversal came are given back and expire at once', () => {
    const d = new Driver(rules(`
version: "R3"
bank_time_offset: "+00:00"
tiers: { window_months: 3, levels: [{ id: bronze, min_points: 0, multiplier: 1, expiry_days: 5 }] }
reversals: { window_days: 60, pending_days: 7 }
rules:
  - { id: pos, when: { channels: [pos] }, award: { per_amount: { points: 1, per_minor: 10 } } }
`));
    d.tx({ tx_id: 'a', occurred_at: '2026-01-01T10:00:00Z', amount_minor: 1000 }); // 100, expires end of 2026-01-06
    refund(d, { tx_id: 'f', occurred_at: '2026-01-02T10:00:00Z', amount_minor: 500, refund_of_tx_id: 'a' }); // −50
    voidOf(d, 'f', '2026-01-20T10:00:00Z'); // the lot expired on 2026-01-07 00:00
    expect(pick(d.rows(), 'entry_id', 'kind', 'points', 'balance_after')).toEqual([
      ['earn:pos:a', 'earn', 100, 100],
      ['refund:tx:f', 'refund', -50, 50],
      ['expire:tx:a', 'expire', -50, 0],
      ['reverse:tx:f:rev', 'reverse', 50, 50],
      ['expire:tx:f', 'expire', -50, 0],
    ]);
    expect(d.customer().loyalty.lots).toEqual([]);
    checkInvariants(d.customer());
  });
});

describe('once, and only within the reversal window', () => {
  it('a second reversal of the same refund (another id) gives nothing; a redelivered one is a duplicate', () => {
    const d = new Driver(P);
    d.tx({ tx_id: 'a', occurred_at: '2026-01-01T10:00:00Z', amount_minor: 1000 });
    refund(d, { tx_id: 'f', occurred_at: '2026-01-03T10:00:00Z', amount_minor: 1000, refund_of_tx_id: 'a' });
    voidOf(d, 'f', '2026-01-03T11:00:00Z');
    voidOf(d, 'f', '2026-01-03T12:00:00Z');
    voidOf(d, 'f', '2026-01-03T13:00:00Z', 'f:rev2');
    expect(pick(d.rows().filter((r) => r.kind === 'reverse'), 'entry_id', 'points')).toEqual([['reverse:tx:f:rev', 105]]);
    expect(d.state.stats.duplicates).toBe(1);
    expect(d.balance()).toBe(105);
  });

  it('past window_days the refund is forgotten but for its id\'s hash (refund-early.test.ts): its reversal gives nothing back', () => {
    const d = new Driver(P);
    d.tx({ tx_id: 'a', occurred_at: '2026-01-01T10:00:00Z', amount_minor: 1000 });
    refund(d, { tx_id: 'f', occurred_at: '2026-01-03T10:00:00Z', amount_minor: 400, refund_of_tx_id: 'a' });
    expect(Object.keys(d.customer().loyalty.refunds ?? {})).toEqual(['f']);
    expect(Object.keys(d.customer().features.refunds ?? {})).toEqual(['f']);
    d.tx({ tx_id: 'b', occurred_at: '2026-03-10T10:00:00Z', amount_minor: 100 }); // 66 days later: both pruned
    expect(d.customer().loyalty.refunds).toBeUndefined();
    expect(Object.keys(d.customer().loyalty.pastRefunds!)).toHaveLength(1);
    expect(d.customer().features.refunds).toBeUndefined();
    const before = d.balance();
    voidOf(d, 'f', '2026-03-10T11:00:00Z');
    expect(d.balance()).toBe(before);
    expect(d.rows().filter((r) => r.kind === 'reverse')).toEqual([]);
  });

  it('a replay from a checkpoint writes the same rows under the same ids and ends in the same state', () => {
    const events: Tx[] = [
      { tx_id: 'a', occurred_at: '2026-01-01T10:00:00Z', amount_minor: 1000 },
      { tx_id: 'f1', occurred_at: '2026-01-02T10:00:00Z', amount_minor: 250, kind: 'refund', refund_of_tx_id: 'a' },
      { tx_id: 'f2', occurred_at: '2026-01-02T11:00:00Z', amount_minor: 90, kind: 'refund' },
      { tx_id: 'f1:rev', occurred_at: '2026-01-02T12:00:00Z', reverses_tx_id: 'f1' },
      { tx_id: 'f2:rev', occurred_at: '2026-01-02T13:00:00Z', reverses_tx_id: 'f2' },
      { tx_id: 'f3', occurred_at: '2026-01-03T10:00:00Z', amount_minor: 1000, kind: 'refund', refund_of_tx_id: 'a' },
    ];
    const send = (d: Driver, from: number, to = events.length): void => sendEvents(d, events, from, to);
    const straight = new Driver(P);
    send(straight, 0);
    expect(pick(straight.ledger.filter((r) => r.kind !== 'earn' && r.kind !== 'bonus'), 'entry_id', 'points')).toEqual([
      ['refund:tx:f1', -26], ['refund:tx:f2', -9], ['reverse:tx:f1:rev', 26], ['reverse:tx:f2:rev', 9], ['refund:tx:f3', -105],
    ]);
    expectReplayFromEveryCut(P, events, straight, true);
  });
});

describe('state', () => {
  it('what a reversal of a refund needs survives the state store\'s codec', () => {
    const d = new Driver(P);
    d.tx({ tx_id: 'a', occurred_at: '2026-01-01T10:00:00Z', amount_minor: 1000 });
    refund(d, { tx_id: 'f', occurred_at: '2026-01-02T10:00:00Z', amount_minor: 333, refund_of_tx_id: 'a' });
    refund(d, { tx_id: 'g', occurred_at: '2026-01-02T11:00:00Z', amount_minor: 100 });
    refund(d, { tx_id: 'h', occurred_at: '2026-01-02T11:30:00Z', amount_minor: 100, status: 'declined' });
    voidOf(d, 'g', '2026-01-02T12:00:00Z');
    const c = d.customer();
    expect(Object.keys(c.loyalty.refunds!)).toEqual(['f', 'g', 'h']);
    expect(c.loyalty.refunds!.g!.rev).toBe(1);
    expect(Object.keys(c.features.refunds!)).toEqual(['f']);
    expect(decodeRecord('customer', encodeRecord('customer', c), 'c1')).toEqual(JSON.parse(JSON.stringify(c)));
  });
});

describe('features', () => {
  it('a reversal of a refund puts its spend back and is no reversal of a purchase: counts and recency stay', () => {
    const d = new Driver(P);
    d.tx({ tx_id: 'a', occurred_at: '2026-01-01T10:00:00Z', amount_minor: 1000 });
    d.tx({ tx_id: 'b', occurred_at: '2026-01-02T10:00:00Z', amount_minor: 500 });
    refund(d, { tx_id: 'f', occurred_at: '2026-01-09T10:00:00Z', amount_minor: 400, refund_of_tx_id: 'a' });
    refund(d, { tx_id: 'g', occurred_at: '2026-01-09T11:00:00Z', amount_minor: 100 });
    const now = at('2026-01-09T12:00:00Z');
    const features = (): Record<string, number> => namedFeatures(featureValues(d.customer(), now)) as unknown as Record<string, number>;
    expect(features().spend_30d_minor).toBe(1100);
    voidOf(d, 'f', '2026-01-09T11:10:00Z');
    voidOf(d, 'g', '2026-01-09T11:20:00Z');
    const v = features();
    expect(v.spend_30d_minor).toBe(1500);
    expect(v.tx_count_30d).toBe(2);
    expect(v.recency_days).toBeCloseTo(7 + 2 / 24, 5);
    expect(d.customer().features.refunds).toBeUndefined();
  });

  it('puts back only what the refund took out when the day\'s spend was smaller than the refund', () => {
    const d = new Driver(P);
    d.tx({ tx_id: 'a', occurred_at: '2026-01-01T10:00:00Z', amount_minor: 1000 });
    refund(d, { tx_id: 'f', occurred_at: '2026-01-02T10:00:00Z', amount_minor: 1500, refund_of_tx_id: 'a' }); // spend floors at 0
    voidOf(d, 'f', '2026-01-02T11:00:00Z');
    expect(namedFeatures(featureValues(d.customer(), at('2026-01-02T12:00:00Z'))).spend_30d_minor).toBe(1000);
  });
});

describe('scored_transactions', () => {
  it('a refund\'s row carries its kind and the purchase it refunds; others are standard with no original', () => {
    const d = new Driver(P);
    d.tx({ tx_id: 'a', occurred_at: '2026-01-01T10:00:00Z', amount_minor: 1000 });
    d.tx({ tx_id: 's', occurred_at: '2026-01-01T11:00:00Z', amount_minor: 1000, kind: 'standard' });
    refund(d, { tx_id: 'f', occurred_at: '2026-01-03T10:00:00Z', amount_minor: 1000, refund_of_tx_id: 'a' });
    refund(d, { tx_id: 'g', occurred_at: '2026-01-03T11:00:00Z', amount_minor: 100 });
    voidOf(d, 'g', '2026-01-03T12:00:00Z');
    expect(pick(d.scored, 'tx_id', 'kind', 'refund_of_tx_id', 'reverses_tx_id', 'points')).toEqual([
      ['a', 'standard', '', '', 105],
      ['s', 'standard', '', '', 105],
      ['f', 'refund', 'a', '', -105],
      ['g', 'refund', '', '', -20], // unlinked, at silver (×2)
      ['g:rev', 'standard', '', 'g', 20],
    ]);
  });
});
