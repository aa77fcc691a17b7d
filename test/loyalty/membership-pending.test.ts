/**
 * Pending points for non-members (rules `membership.pending_days`, docs/loyalty.md "Membership"): what a
 * customer who left the club would earn is kept aside, granted if they join within the window, dropped
 * otherwise; with the option off (the default) a non-member earns nothing, as before.
 */
import { describe, expect, it } from 'vitest';
import type { TxMessage } from '../../contracts/events.js';
import type { CustomerState } from '../../scorer/core/state.js';
import { decodeRecord, encodeRecord } from '../../scorer/runtime/store/codec.js';
import { checkInvariants, DAY, Driver, rules } from './helpers.js';
import { pick, refund } from './refund-helpers.js';

const POLICY = `
version: "M1"
bank_time_offset: "+00:00"
tiers:
  window_months: 3
  levels:
    - { id: bronze, min_points: 0, multiplier: 1, expiry_days: 100 }
    - { id: silver, min_points: 150, multiplier: 2, expiry_days: 200 }
reversals: { window_days: 60, pending_days: 7 }
rules:
  - { id: pos, when: { channels: [pos] }, award: { per_amount: { points: 1, per_minor: 10 } }, caps: { per_tx: 400, per_day: 300 } }
  - { id: weekend, kind: bonus, when: { channels: [pos] }, award: { fixed: 5 } }
`;
const PENDING = rules(`${POLICY}membership: { pending_days: 10 }\n`);
const OFF = rules(POLICY);

const OPENED = '2025-06-01T00:00:00Z';
const leave = (d: Driver, at = '2026-01-01T00:00:00Z'): void => void d.profile({ opened_at: OPENED, membership: { status: 'left', at } });
const join = (d: Driver, at: string): void => void d.profile({ opened_at: OPENED, membership: { status: 'joined', at } });
const purchase = (d: Driver, id: string, at: string, amount: number): void => void d.tx({ tx_id: id, occurred_at: at, amount_minor: amount });
/** What a grant must leave as an earning as a member would have: balance, lots, earning records, tier points. */
const standing = (c: CustomerState): unknown => {
  const L = c.loyalty;
  return { balance: L.balance, debt: L.debt, lots: L.lots, earned: L.earned, months: L.months, tier: L.tier, held: L.held };
};

describe('pending points for non-members', () => {
  it('off by default: a non-member earns nothing and joining grants nothing (rules without the option compile to 0 days)', () => {
    expect(OFF.membership).toEqual({ pendingDays: 0 });
    const d = new Driver(OFF);
    leave(d);
    purchase(d, 'a', '2026-01-02T10:00:00Z', 1000);
    join(d, '2026-01-03T10:00:00Z');
    expect(d.rows()).toEqual([]);
    expect(d.balance()).toBe(0);
    expect(d.customer().loyalty.held).toBeUndefined();
    expect(d.state.timers.some((t) => t.kind === 'loyalty.hold')).toBe(false);
  });

  it('keeps a non-member\'s earning aside (no row, 0 points) and grants it on joining within the window, as a member would have earned it', () => {
    const d = new Driver(PENDING);
    leave(d);
    purchase(d, 'a', '2026-01-02T10:00:00Z', 1000);
    expect(d.rows()).toEqual([]);
    expect(d.scored.find((r) => r.tx_id === 'a')?.points).toBe(0);
    expect(d.balance()).toBe(0);
    expect(Object.keys(d.customer().loyalty.held ?? {})).toEqual(['a']);

    join(d, '2026-01-05T09:00:00Z');
    expect(pick(d.rows(), 'entry_id', 'kind', 'points', 'rule_id', 'source_id', 'occurred_at', 'rules_version')).toEqual([
      ['grant:earn:pos:a', 'earn', 100, 'pos', 'a', '2026-01-05T09:00:00.000Z', 'M1'],
      ['grant:bonus:weekend:a', 'bonus', 5, 'weekend', 'a', '2026-01-05T09:00:00.000Z', 'M1'],
    ]);
    expect(d.rows().map((r) => r.balance_after)).toEqual([100, 105]);

    const member = new Driver(PENDING);
    join(member, '2025-12-01T00:00:00Z'); // at the same stream position as the other's leave
    purchase(member, 'a', '2026-01-02T10:00:00Z', 1000);
    expect(standing(d.customer())).toEqual(standing(member.customer()));
    checkInvariants(d.customer());

    purchase(d, 'r', '2026-01-06T10:00:00Z', 0);
    d.tx({ tx_id: 'r', occurred_at: '2026-01-06T10:00:00Z', reverses_tx_id: 'a' }); // a duplicate id: ignored
    d.tx({ tx_id: 'rev', occurred_at: '2026-01-06T11:00:00Z', reverses_tx_id: 'a' });
    expect(d.rows().at(-1)).toMatchObject({ entry_id: 'reverse:tx:rev', points: -105, source_id: 'a' });
  });

  it('drops what the window outlived: a join after it grants nothing, and the held cap usage is given back', () => {
    const d = new Driver(PENDING);
    leave(d);
    purchase(d, 'a', '2026-01-02T10:00:00Z', 5000); // pos capped at 300 for the day
    expect(d.customer().loyalty.caps['pos|d' + Math.floor(Date.parse('2026-01-02T00:00:00Z') / DAY)]).toBe(300);
    d.tx({ tx_id: 'b', occurred_at: '2026-01-13T11:00:00Z', channel: 'atm', amount_minor: 100 }); // earns nothing; the watermark passes 2026-01-12T10:00: a dropped
    expect(d.customer().loyalty.held).toBeUndefined();
    expect(Object.values(d.customer().loyalty.caps).every((v) => v === 0)).toBe(true);
    join(d, '2026-01-11T00:00:00Z'); // given within the window, but it arrives after the window passed
    expect(d.rows()).toEqual([]);
    expect(d.balance()).toBe(0);
  });

  it('a join given after the window grants only the earnings whose window was still open', () => {
    const d = new Driver(PENDING);
    leave(d);
    purchase(d, 'a', '2026-01-02T10:00:00Z', 1000);
    purchase(d, 'b', '2026-01-08T10:00:00Z', 500);
    join(d, '2026-01-13T00:00:00Z'); // a's window closed 2026-01-12T10:00, b's is open
    expect(pick(d.rows(), 'entry_id', 'points')).toEqual([['grant:earn:pos:b', 50], ['grant:bonus:weekend:b', 5]]);
    expect(d.customer().loyalty.held).toBeUndefined();
  });

  it('a reversal of a held earning drops it and gives its cap usage back', () => {
    const d = new Driver(PENDING);
    leave(d);
    purchase(d, 'a', '2026-01-02T10:00:00Z', 5000);
    d.tx({ tx_id: 'rev', occurred_at: '2026-01-02T11:00:00Z', reverses_tx_id: 'a' });
    expect(d.customer().loyalty.held).toBeUndefined();
    join(d, '2026-01-02T12:00:00Z');
    purchase(d, 'c', '2026-01-02T13:00:00Z', 5000); // the day's cap is whole again
    expect(pick(d.rows(), 'entry_id', 'points')).toEqual([['earn:pos:c', 300], ['bonus:weekend:c', 5]]);
  });

  it('refunds of a held purchase are booked at the grant as linked refunds; the result is a member\'s', () => {
    const held = new Driver(PENDING);
    leave(held);
    purchase(held, 'a', '2026-01-02T10:00:00Z', 1000);
    refund(held, { tx_id: 'f1', occurred_at: '2026-01-03T10:00:00Z', amount_minor: 300, refund_of_tx_id: 'a' });
    refund(held, { tx_id: 'f2', occurred_at: '2026-01-03T11:00:00Z', amount_minor: 200, refund_of_tx_id: 'a' });
    held.tx({ tx_id: 'f2:rev', occurred_at: '2026-01-03T12:00:00Z', reverses_tx_id: 'f2' }); // f2 voided while held
    expect(held.rows()).toEqual([]);
    join(held, '2026-01-04T00:00:00Z');
    expect(pick(held.rows(), 'entry_id', 'kind', 'points', 'source_id')).toEqual([
      ['grant:earn:pos:a', 'earn', 100, 'a'], ['grant:bonus:weekend:a', 'bonus', 5, 'a'], ['refund:tx:f1', 'refund', -31, 'a'],
    ]);

    const member = new Driver(PENDING);
    join(member, '2025-12-01T00:00:00Z'); // at the same stream position as the other's leave
    purchase(member, 'a', '2026-01-02T10:00:00Z', 1000);
    refund(member, { tx_id: 'f1', occurred_at: '2026-01-03T10:00:00Z', amount_minor: 300, refund_of_tx_id: 'a' });
    expect(standing(held.customer())).toEqual(standing(member.customer()));
    expect(held.customer().loyalty.refunds!.f1!.pts).toBe(member.customer().loyalty.refunds!.f1!.pts);

    held.tx({ tx_id: 'f1:rev', occurred_at: '2026-01-05T00:00:00Z', reverses_tx_id: 'f1' }); // a void after the grant gives back what it took
    expect(held.rows().at(-1)).toMatchObject({ entry_id: 'reverse:tx:f1:rev', points: 31 });
    expect(held.balance()).toBe(105);
  });

  it('a refund that came before a held purchase gives its points back, and is taken at the grant as a linked refund', () => {
    const d = new Driver(PENDING);
    leave(d);
    refund(d, { tx_id: 'f', occurred_at: '2026-01-02T10:30:00Z', amount_minor: 400, refund_of_tx_id: 'a' }); // unlinked: −40 (into debt)
    purchase(d, 'a', '2026-01-02T10:00:00Z', 1000);
    expect(pick(d.rows(), 'entry_id', 'points')).toEqual([['refund:tx:f', -40], ['refund:settled:tx:f', 40]]);
    join(d, '2026-01-03T00:00:00Z');
    expect(pick(d.rows().slice(2), 'entry_id', 'points')).toEqual([['grant:earn:pos:a', 100], ['grant:bonus:weekend:a', 5], ['refund:tx:f', -42]]);
    expect(d.balance()).toBe(63);
  });

  it('a replay from a checkpoint at any cut writes the same rows and ends in the same state; the state store codec keeps the held points', () => {
    const events: TxMessage[] = [
      { kind: 'profile', body: { customer_id: 'c1', opened_at: OPENED, membership: { status: 'left', at: '2026-01-01T00:00:00Z' } } },
      { kind: 'transaction', body: { customer_id: 'c1', tx_id: 'a', occurred_at: '2026-01-02T10:00:00Z', channel: 'pos', amount_minor: 1000, currency: 'IRR' } },
      { kind: 'transaction', body: { customer_id: 'c1', tx_id: 'f', occurred_at: '2026-01-02T12:00:00Z', channel: 'pos', amount_minor: 500, currency: 'IRR', kind: 'refund', refund_of_tx_id: 'a' } },
      { kind: 'transaction', body: { customer_id: 'c1', tx_id: 'b', occurred_at: '2026-01-20T10:00:00Z', channel: 'pos', amount_minor: 2000, currency: 'IRR' } },
      { kind: 'profile', body: { customer_id: 'c1', opened_at: OPENED, membership: { status: 'joined', at: '2026-01-21T00:00:00Z' } } },
      { kind: 'transaction', body: { customer_id: 'c1', tx_id: 'c', occurred_at: '2026-01-22T10:00:00Z', channel: 'pos', amount_minor: 700, currency: 'IRR' } },
    ];
    const straight = new Driver(PENDING);
    events.forEach((m, i) => straight.send(m, i + 1));
    expect(pick(straight.rows(), 'entry_id', 'points')).toEqual([
      ['grant:earn:pos:b', 200], ['grant:bonus:weekend:b', 5], ['earn:pos:c', 140], ['bonus:weekend:c', 10], // b made them silver (× 2)
    ]);
    for (let cut = 0; cut < events.length; cut++) {
      const d = new Driver(PENDING);
      events.slice(0, cut).forEach((m, i) => d.send(m, i + 1));
      const checkpoint = encodeRecord('customer', d.state);
      events.slice(cut).forEach((m, i) => d.send(m, cut + i + 1));
      d.state = decodeRecord<Driver['state']>('customer', checkpoint, `cut ${cut}`);
      d.ledger.length = 0;
      events.slice(cut).forEach((m, i) => d.send(m, cut + i + 1));
      expect(d.ledger, `cut ${cut}`).toEqual(straight.ledger.filter((row) => Number(row.stream_seq) > cut));
      expect(d.customer().loyalty, `cut ${cut}`).toEqual(straight.customer().loyalty);
    }
  });

  it('refuses a bad option naming its line', () => {
    expect(() => rules(`${POLICY}membership: { pending_days: -1 }\n`)).toThrow(/test-rules\.yaml:13:\d+: membership\.pending_days/);
    expect(() => rules(`${POLICY}membership: { pending: 3 }\n`)).toThrow(/membership/);
  });
});
