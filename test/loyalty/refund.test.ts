/**
 * Refunds (`kind: refund`): they take back what the refunded purchase earned in proportion to the
 * amount refunded (cumulative over partial refunds, capped at what it earned), or, when the purchase
 * cannot be tied to a known earning, what the refund's own amount earns by the `earn` rules in force.
 * They never earn, and replay to the same rows.
 */
import { describe, expect, it } from 'vitest';
import { featureValues, namedFeatures } from '../../scorer/core/features/engine.js';
import { type Row } from '../../sinks/mapping.js';
import { checkInvariants, Driver, rules } from './helpers.js';
import { pick, refund, REFUND_RULES, type RefundTx } from './refund-helpers.js';

const P = REFUND_RULES;

const refundRows = (d: Driver): Row[] => d.rows().filter((r) => r.kind === 'refund');
type Refund = RefundTx;

describe('a refund naming its purchase', () => {
  it('in full takes back everything the purchase earned, as one refund row; it earns nothing itself', () => {
    const d = new Driver(P);
    d.tx({ tx_id: 'a', occurred_at: '2026-01-01T10:00:00Z', amount_minor: 1000 }); // 100 + 5 bonus
    refund(d, { tx_id: 'f', occurred_at: '2026-01-03T10:00:00Z', amount_minor: 1000, refund_of_tx_id: 'a' });
    expect(pick(refundRows(d), 'entry_id', 'kind', 'points', 'rule_id', 'rules_version', 'source_id', 'channel', 'balance_after')).toEqual([
      ['refund:tx:f', 'refund', -105, 'refund', 'R1', 'a', 'pos', 0],
    ]);
    expect(d.rows().filter((r) => r.source_id === 'f' || String(r.entry_id).endsWith(':f'))).toHaveLength(1); // no earn or bonus row of its own
    expect(d.rows().filter((r) => r.source_id === 'a').reduce((s, r) => s + Number(r.points), 0)).toBe(0);
    expect(d.scored.find((r) => r.tx_id === 'f')?.points).toBe(-105);
    expect(d.customer().loyalty.lots).toEqual([]);
    checkInvariants(d.customer());
  });

  it('in part takes back floor(points × refunded / amount)', () => {
    const d = new Driver(P);
    d.tx({ tx_id: 'a', occurred_at: '2026-01-01T10:00:00Z', amount_minor: 1000 }); // 105
    refund(d, { tx_id: 'f', occurred_at: '2026-01-03T10:00:00Z', amount_minor: 333, refund_of_tx_id: 'a' });
    expect(pick(refundRows(d), 'points', 'balance_after')).toEqual([[-34, 71]]); // 105 × 333 / 1000 = 34.965
    expect(d.customer().loyalty.lots.map((l) => [l.id, l.rem])).toEqual([['a', 71]]);
  });

  it('repeated partial refunds add up exactly: the proportion is of the cumulative amount, never a sum of per-refund floors', () => {
    const d = new Driver(P);
    d.tx({ tx_id: 'a', occurred_at: '2026-01-01T10:00:00Z', amount_minor: 1000 }); // 105
    for (const [id, amount] of [['f1', 333], ['f2', 333], ['f3', 334]] as const) {
      refund(d, { tx_id: id, occurred_at: '2026-01-03T10:00:00Z', amount_minor: amount, refund_of_tx_id: 'a' });
    }
    // cumulative: floor(34.965) = 34, floor(69.93) = 69, 105
    expect(pick(refundRows(d), 'entry_id', 'points')).toEqual([['refund:tx:f1', -34], ['refund:tx:f2', -35], ['refund:tx:f3', -36]]);
    expect(d.balance()).toBe(0);
  });

  it('more refunded than was paid is capped at what the purchase earned; later refunds take nothing and write no row', () => {
    const d = new Driver(P);
    d.tx({ tx_id: 'a', occurred_at: '2026-01-01T10:00:00Z', amount_minor: 1000 }); // 105
    d.tx({ tx_id: 'b', occurred_at: '2026-01-01T11:00:00Z', amount_minor: 200 }); // 25
    refund(d, { tx_id: 'f1', occurred_at: '2026-01-03T10:00:00Z', amount_minor: 600, refund_of_tx_id: 'a' });
    refund(d, { tx_id: 'f2', occurred_at: '2026-01-03T11:00:00Z', amount_minor: 600, refund_of_tx_id: 'a' });
    refund(d, { tx_id: 'f3', occurred_at: '2026-01-03T12:00:00Z', amount_minor: 5000, refund_of_tx_id: 'a' });
    expect(pick(refundRows(d), 'entry_id', 'points')).toEqual([['refund:tx:f1', -63], ['refund:tx:f2', -42]]);
    expect(d.balance()).toBe(25);
    expect(d.scored.find((r) => r.tx_id === 'f3')?.points).toBe(0);
  });

  it('after the points were spent the balance goes negative (a debt), as a reversal does; a later reversal takes only the rest', () => {
    const d = new Driver(P);
    d.tx({ tx_id: 'a', occurred_at: '2026-01-01T10:00:00Z', amount_minor: 1000 }); // 105
    d.redeem({ redemption_id: 'r', points: 100, occurred_at: '2026-01-02T10:00:00Z' });
    refund(d, { tx_id: 'f', occurred_at: '2026-01-03T10:00:00Z', amount_minor: 500, refund_of_tx_id: 'a' });
    expect(d.balance()).toBe(5 - 52);
    expect(d.customer().loyalty.debt).toBe(47);
    checkInvariants(d.customer());
    d.tx({ tx_id: 'ra', occurred_at: '2026-01-03T11:00:00Z', reverses_tx_id: 'a' });
    expect(pick(d.rows().slice(-1), 'kind', 'points', 'source_id')).toEqual([['reverse', -53, 'a']]);
    expect(d.rows().filter((r) => r.source_id === 'a').reduce((s, r) => s + Number(r.points), 0)).toBe(0);
    refund(d, { tx_id: 'f2', occurred_at: '2026-01-03T12:00:00Z', amount_minor: 500, refund_of_tx_id: 'a' }); // reversed: nothing left
    expect(d.rows().filter((r) => r.entry_id === 'refund:tx:f2')).toEqual([]);
  });

  it('takes back the tier-qualifying points it takes (the review decides a downgrade)', () => {
    const d = new Driver(P);
    d.tx({ tx_id: 'a', occurred_at: '2026-01-01T10:00:00Z', amount_minor: 1500 }); // 155: silver
    expect(d.customer().loyalty.tier).toBe('silver');
    refund(d, { tx_id: 'f', occurred_at: '2026-01-03T10:00:00Z', amount_minor: 500, refund_of_tx_id: 'a' }); // 51 back
    expect(Object.values(d.customer().loyalty.months)).toEqual([104]);
    expect(d.customer().loyalty.tier).toBe('silver');
    d.tx({ tx_id: 'x', customer_id: 'c2', occurred_at: '2026-02-01T10:00:00Z' });
    expect(d.tierChanges.at(-1)).toMatchObject({ from_tier: 'silver', to_tier: 'bronze', reason: 'review: 104 points in 3 months' });
  });

  it('a reversal of the refund that arrived first (within pending_days) cancels it', () => {
    const d = new Driver(P);
    d.tx({ tx_id: 'a', occurred_at: '2026-01-01T10:00:00Z', amount_minor: 1000 });
    d.tx({ tx_id: 'rf', occurred_at: '2026-01-03T10:00:00Z', reverses_tx_id: 'f' });
    refund(d, { tx_id: 'f', occurred_at: '2026-01-03T09:59:00Z', amount_minor: 1000, refund_of_tx_id: 'a' });
    expect(refundRows(d)).toEqual([]);
    expect(d.balance()).toBe(105);
    expect(d.customer().loyalty.pending).toEqual({});
  });

  it('declined, it changes nothing', () => {
    const d = new Driver(P);
    d.tx({ tx_id: 'a', occurred_at: '2026-01-01T10:00:00Z', amount_minor: 1000 });
    refund(d, { tx_id: 'f', occurred_at: '2026-01-03T10:00:00Z', amount_minor: 1000, refund_of_tx_id: 'a', status: 'declined' });
    expect(refundRows(d)).toEqual([]);
    expect(d.balance()).toBe(105);
  });
});

describe('a refund that cannot be tied to a known earning', () => {
  it('unknown or unnamed original: takes back what its own amount earns by the earn rules in force (no bonus)', () => {
    const d = new Driver(P);
    d.tx({ tx_id: 'a', occurred_at: '2026-01-01T10:00:00Z', amount_minor: 1000 }); // 105, bronze
    refund(d, { tx_id: 'f1', occurred_at: '2026-01-03T10:00:00Z', amount_minor: 500, refund_of_tx_id: 'never-seen' });
    refund(d, { tx_id: 'f2', occurred_at: '2026-01-03T11:00:00Z', amount_minor: 9000 }); // per_tx cap 400
    refund(d, { tx_id: 'f3', occurred_at: '2026-01-03T12:00:00Z', amount_minor: 500, channel: 'atm' }); // no earn rule for atm
    expect(pick(refundRows(d), 'entry_id', 'points', 'rule_id', 'rules_version', 'source_id', 'balance_after')).toEqual([
      ['refund:tx:f1', -50, 'refund:unlinked', 'R1', 'f1', 55],
      ['refund:tx:f2', -400, 'refund:unlinked', 'R1', 'f2', -345],
    ]);
    expect(d.customer().loyalty.debt).toBe(345);
    checkInvariants(d.customer());
  });

  it('the tier multiplier in force applies to the estimate', () => {
    const d = new Driver(P);
    d.tx({ tx_id: 'a', occurred_at: '2026-01-01T10:00:00Z', amount_minor: 1500 }); // silver (×2)
    refund(d, { tx_id: 'f', occurred_at: '2026-01-03T10:00:00Z', amount_minor: 100 });
    expect(pick(refundRows(d), 'points')).toEqual([[-20]]);
  });

  it('an original known within the window that earned nothing gives nothing back', () => {
    const d = new Driver(P);
    d.tx({ tx_id: 'w', occurred_at: '2026-01-01T10:00:00Z', amount_minor: 1000, channel: 'atm' });
    d.tx({ tx_id: 'a', occurred_at: '2026-01-01T11:00:00Z', amount_minor: 1000 });
    refund(d, { tx_id: 'f', occurred_at: '2026-01-03T10:00:00Z', amount_minor: 1000, refund_of_tx_id: 'w' });
    expect(refundRows(d)).toEqual([]);
    expect(d.balance()).toBe(105);
  });

  it('an original outside the reversal window: the estimate, not the proportion (the earning record is gone)', () => {
    const d = new Driver(P);
    d.tx({ tx_id: 'a', occurred_at: '2026-01-01T10:00:00Z', amount_minor: 1000 }); // 105, expires after 100 days
    d.tx({ tx_id: 'b', occurred_at: '2026-03-05T10:00:00Z', amount_minor: 100 }); // 15; 63 days later
    refund(d, { tx_id: 'f', occurred_at: '2026-03-05T11:00:00Z', amount_minor: 1000, refund_of_tx_id: 'a' });
    expect(pick(refundRows(d), 'points', 'rule_id', 'source_id')).toEqual([[-100, 'refund:unlinked', 'f']]); // not 105
    expect(d.balance()).toBe(20);
  });

  it('a refund in a currency the rules do not reward takes nothing', () => {
    const d = new Driver(rules(`
version: "R2"
bank_time_offset: "+03:30"
currencies: [IRR]
tiers: { window_months: 3, levels: [{ id: bronze, min_points: 0, multiplier: 1, expiry_days: 100 }] }
rules:
  - { id: pos, when: { channels: [pos] }, award: { per_amount: { points: 1, per_minor: 10 } } }
`));
    d.tx({ tx_id: 'a', occurred_at: '2026-01-01T10:00:00Z', amount_minor: 1000 });
    refund(d, { tx_id: 'f', occurred_at: '2026-01-03T10:00:00Z', amount_minor: 1000, currency: 'EUR' });
    expect(refundRows(d)).toEqual([]);
  });
});

describe('beyond points', () => {
  it('a refund is no activity (recency and counts ignore it); it takes its amount out of the spend of its purchase', () => {
    const d = new Driver(P);
    d.tx({ tx_id: 'a', occurred_at: '2026-01-01T10:00:00Z', amount_minor: 1000 });
    d.tx({ tx_id: 'b', occurred_at: '2026-01-02T10:00:00Z', amount_minor: 500 });
    refund(d, { tx_id: 'f', occurred_at: '2026-01-09T10:00:00Z', amount_minor: 400, refund_of_tx_id: 'a' });
    refund(d, { tx_id: 'g', occurred_at: '2026-01-09T11:00:00Z', amount_minor: 100 });
    const c = d.customer();
    const v = namedFeatures(featureValues(c, Date.parse('2026-01-09T12:00:00Z')));
    expect(v.spend_30d_minor).toBe(1000 + 500 - 400); // g names no purchase: no day's spend to take it from
    expect(v.tx_count_30d).toBe(2);
    expect(v.recency_days).toBeCloseTo(7 + 2 / 24, 5); // since b, not since the refunds
  });
});

describe('replay', () => {
  const events: Refund[] = [
    { tx_id: 'a', occurred_at: '2026-01-01T10:00:00Z', amount_minor: 1000, kind: 'standard' },
    { tx_id: 'b', occurred_at: '2026-01-01T11:00:00Z', amount_minor: 700 },
    { tx_id: 'f1', occurred_at: '2026-01-02T10:00:00Z', amount_minor: 250, kind: 'refund', refund_of_tx_id: 'a' },
    { tx_id: 'f2', occurred_at: '2026-01-02T11:00:00Z', amount_minor: 250, kind: 'refund', refund_of_tx_id: 'a' },
    { tx_id: 'f3', occurred_at: '2026-01-02T12:00:00Z', amount_minor: 90, kind: 'refund' },
    { tx_id: 'f4', occurred_at: '2026-01-03T12:00:00Z', amount_minor: 700, kind: 'refund', refund_of_tx_id: 'b' },
  ];
  const send = (d: Driver, from: number, to = events.length): void => {
    for (let i = from; i < to; i++) d.send({ kind: 'transaction', body: { customer_id: 'c1', channel: 'pos', amount_minor: 0, currency: 'IRR', ...events[i]! } }, i + 1);
  };

  it('a refund delivered again is a duplicate and takes nothing twice', () => {
    const d = new Driver(P);
    send(d, 0);
    send(d, 2, 3);
    expect(pick(refundRows(d), 'entry_id', 'points')).toEqual([['refund:tx:f1', -26], ['refund:tx:f2', -26], ['refund:tx:f3', -18], ['refund:tx:f4', -75]]); // f3 unlinked, at silver (×2)
    expect(d.state.stats.duplicates).toBe(1);
    expect(d.balance()).toBe(105 + 75 - 26 - 26 - 18 - 75);
  });

  it('a replay from a checkpoint writes the same rows under the same ids and ends in the same state', () => {
    const straight = new Driver(P);
    send(straight, 0);
    for (let cut = 0; cut < events.length; cut++) {
      const d = new Driver(P);
      send(d, 0, cut);
      const checkpoint = JSON.stringify(d.state);
      send(d, cut); // applied and written, then the process dies before the next checkpoint
      d.state = JSON.parse(checkpoint);
      d.ledger.length = 0;
      send(d, cut); // restored and replayed
      const later = straight.ledger.filter((r) => Number(r.stream_seq) > cut);
      expect(d.ledger, `cut ${cut}`).toEqual(later);
      expect(d.customer().loyalty).toEqual(straight.customer().loyalty);
    }
  });
});
