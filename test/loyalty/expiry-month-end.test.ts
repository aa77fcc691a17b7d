/**
 * Rules `tiers.expiry_at: month_end`: points expire at the end of the bank month their expiry day falls in.
 * The rows, the instant expiry fires, and that merged month lots give what one lot per transaction gives.
 */
import { describe, expect, it } from 'vitest';
import { RulesError } from '../../config/schema/loyalty-rules.js';
import { RulesTimeline } from '../../config/schema/rules-timeline.js';
import { type Row } from '../../sinks/mapping.js';
import { checkInvariants, DAY, Driver, HOUR, rules } from './helpers.js';

const policy = (expiryAt: string, windowDays = 60, expiryDays = 10, version = 'E1'): ReturnType<typeof rules> => rules(`
version: "${version}"
bank_time_offset: "+03:30"
tiers:
  window_months: 3
  expiry_at: ${expiryAt}
  levels:
    - { id: bronze, min_points: 0, multiplier: 1, expiry_days: ${expiryDays} }
reversals: { window_days: ${windowDays}, pending_days: 3 }
rules:
  - { id: pos, when: { channels: [pos] }, award: { per_amount: { points: 1, per_minor: 1 } } }
`);

const pick = (rows: Row[], ...keys: string[]): unknown[][] => rows.map((r) => keys.map((k) => r[k]));

describe('expiry at the end of the bank month', () => {
  it('compiles: month_end is kept, day_end and no setting are the default (no field)', () => {
    expect(policy('month_end').expiryAt).toBe('month_end');
    expect(policy('day_end').expiryAt).toBeUndefined();
    expect(() => policy('week_end')).toThrow(RulesError);
  });

  it('earn rows carry the end of the bank month of the expiry day, in bank time', () => {
    const d = new Driver(policy('month_end'));
    d.tx({ tx_id: 'a', occurred_at: '2026-01-10T10:00:00+03:30', amount_minor: 5 }); // expiry day 20 Jan
    d.tx({ tx_id: 'b', occurred_at: '2026-01-25T10:00:00+03:30', amount_minor: 7 }); // expiry day 4 Feb
    d.tx({ tx_id: 'c', occurred_at: '2026-01-21T23:30:00+03:30', amount_minor: 3 }); // expiry day 31 Jan, the last one in January
    expect(pick(d.rows(), 'source_id', 'expires_at')).toEqual([
      ['a', '2026-01-31T20:29:59.999Z'], // 31 Jan 23:59:59.999 Tehran
      ['b', '2026-02-28T20:29:59.999Z'],
      ['c', '2026-01-31T20:29:59.999Z'],
    ]);
    const day = new Driver(policy('day_end'));
    day.tx({ tx_id: 'a', occurred_at: '2026-01-10T10:00:00+03:30', amount_minor: 5 });
    expect(pick(day.rows(), 'expires_at')).toEqual([['2026-01-20T20:29:59.999Z']]);
  });

  it('fires when the watermark passes the month end, not the expiry day', () => {
    const d = new Driver(policy('month_end'));
    d.tx({ tx_id: 'a', occurred_at: '2026-01-10T10:00:00+03:30', amount_minor: 5 });
    d.tx({ tx_id: 'b', occurred_at: '2026-01-25T10:00:00+03:30', amount_minor: 7 });
    d.tx({ tx_id: 'x', customer_id: 'c2', occurred_at: '2026-01-25T12:00:00+03:30' }); // past a's expiry day (20 Jan): nothing expires
    expect(d.balance()).toBe(12);
    d.tx({ tx_id: 'y', customer_id: 'c2', occurred_at: '2026-02-01T00:30:00+03:30' }); // watermark 31 Jan 23:30: not yet
    expect(d.balance()).toBe(12);
    d.tx({ tx_id: 'z', customer_id: 'c2', occurred_at: '2026-02-01T01:00:00+03:30' }); // watermark passes the month end
    expect(d.balance()).toBe(7);
    expect(pick(d.rows().filter((r) => r.kind === 'expire'), 'entry_id', 'points', 'occurred_at', 'balance_after')).toEqual([
      ['expire:tx:a', -5, '2026-01-31T20:29:59.999Z', 7],
    ]);
    checkInvariants(d.customer());
  });

  it('a reload to month_end applies to points earned from its position on; earlier lots keep their expiry', () => {
    const timeline = new RulesTimeline([{ version: 'E1', fromSeq: 0, rules: policy('day_end') }, { version: 'E2', fromSeq: 2, rules: policy('month_end', 60, 10, 'E2') }]);
    const restored = RulesTimeline.fromJSON(JSON.parse(JSON.stringify(timeline)) as ReturnType<RulesTimeline['toJSON']>);
    expect(restored.at(2).rules.expiryAt).toBe('month_end'); // kept in the timeline a store persists
    const d = new Driver(restored);
    d.tx({ tx_id: 'a', occurred_at: '2026-01-10T10:00:00+03:30', amount_minor: 5 });
    d.tx({ tx_id: 'b', occurred_at: '2026-01-10T11:00:00+03:30', amount_minor: 7 });
    expect(pick(d.rows(), 'source_id', 'rules_version', 'expires_at')).toEqual([
      ['a', 'E1', '2026-01-20T20:29:59.999Z'],
      ['b', 'E2', '2026-01-31T20:29:59.999Z'],
    ]);
    expect(d.customer().loyalty.lots.map((lot) => lot.exp)).toEqual([Date.parse('2026-01-20T20:29:59.999Z'), Date.parse('2026-01-31T20:29:59.999Z')]);
  });

  /** 150 days of earnings, redemptions and reversals, then the balances and expired points by instant. */
  function run(windowDays: number): { d: Driver; balances: number[] } {
    const d = new Driver(policy('month_end', windowDays, 60));
    const start = Date.parse('2026-01-03T08:00:00Z');
    const balances: number[] = [];
    for (let n = 0; n < 150; n++) {
      for (let k = 0; k < 2; k++) d.tx({ tx_id: `t${n}-${k}`, occurred_at: new Date(start + n * DAY + k * HOUR).toISOString(), amount_minor: 1 + ((n * 5 + k) % 7) });
      if (n % 8 === 5) d.redeem({ redemption_id: `r${n}`, points: 9, occurred_at: new Date(start + n * DAY + 5 * HOUR).toISOString() });
      if (n % 13 === 4) d.tx({ tx_id: `v${n}`, occurred_at: new Date(start + n * DAY + 6 * HOUR).toISOString(), reverses_tx_id: `t${n - 3}-0` });
      balances.push(d.balance());
      checkInvariants(d.customer());
    }
    return { d, balances };
  }

  it('merges a month of lots into one past the reversal window, with the balances and expired points of one lot per transaction', () => {
    const merged = run(10);
    const exact = run(400);
    expect(merged.balances).toEqual(exact.balances);
    const expiredByInstant = (rows: Row[]): Record<string, number> => {
      const by: Record<string, number> = {};
      for (const r of rows) if (r.kind === 'expire') by[String(r.occurred_at)] = (by[String(r.occurred_at)] ?? 0) + Number(r.points);
      return by;
    };
    const instants = Object.keys(expiredByInstant(exact.d.rows()));
    expect(instants.length).toBeGreaterThan(2);
    for (const at of instants) {
      const next = new Date(Date.parse(at) + 1 + 210 * 60_000); // the instant after it, in Tehran time
      expect([next.getUTCDate(), next.getUTCHours(), next.getUTCMinutes()], at).toEqual([1, 0, 0]); // a bank month's first
    }
    expect(expiredByInstant(merged.d.rows())).toEqual(expiredByInstant(exact.d.rows()));
    // Lots older than the window and a week's pruning: one per bank month.
    const customer = merged.d.customer();
    const old = customer.loyalty.lots.filter((lot) => lot.at < customer.features.lastAt - 17 * DAY);
    expect(old.length).toBeGreaterThan(0);
    expect(new Set(old.map((lot) => lot.exp)).size).toBe(old.length);
    expect(customer.loyalty.lots.length).toBeLessThan(exact.d.customer().loyalty.lots.length / 3);
  });
});
