/**
 * Lots past the reversal window are merged with their neighbours of the same expiry, tier and version:
 * every balance and every expired amount stays what per-transaction lots give; only the number of
 * `expire` rows changes (one per merged lot). Also: one pending expiry timer per customer.
 */
import { describe, expect, it } from 'vitest';
import { type Row } from '../../sinks/mapping.js';
import { checkInvariants, DAY, Driver, HOUR, rules } from './helpers.js';

const policy = (windowDays: number): ReturnType<typeof rules> => rules(`
version: "M1"
bank_time_offset: "+03:30"
tiers:
  window_months: 1
  levels:
    - { id: bronze, min_points: 0, multiplier: 1, expiry_days: 60 }
reversals: { window_days: ${windowDays}, pending_days: 3 }
rules:
  - { id: pos, when: { channels: [pos] }, award: { per_amount: { points: 1, per_minor: 1 } } }
`);

/** Per expiry instant: the points that expired (rows summed). */
function expiredByInstant(rows: Row[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const r of rows) if (r.kind === 'expire') m.set(String(r.occurred_at), (m.get(String(r.occurred_at)) ?? 0) + Number(r.points));
  return m;
}

function run(windowDays: number): { d: Driver; balances: number[] } {
  const d = new Driver(policy(windowDays));
  const start = Date.parse('2026-01-03T08:00:00Z');
  const balances: number[] = [];
  for (let day = 0; day < 150; day++) {
    for (let k = 0; k < 3; k++) d.tx({ tx_id: `t${day}-${k}`, occurred_at: new Date(start + day * DAY + k * HOUR).toISOString(), amount_minor: 1 + ((day * 7 + k) % 5) });
    if (day % 9 === 4) d.redeem({ redemption_id: `r${day}`, points: 11, occurred_at: new Date(start + day * DAY + 5 * HOUR).toISOString() });
    if (day % 11 === 3) d.tx({ tx_id: `v${day}`, occurred_at: new Date(start + day * DAY + 6 * HOUR).toISOString(), reverses_tx_id: `t${day - 2}-1` });
    balances.push(d.balance());
    checkInvariants(d.customer());
  }
  return { d, balances };
}

describe('merged lots', () => {
  it('give the same balances and expired amounts as one lot per transaction, in fewer expire rows', () => {
    const merged = run(10);
    const exact = run(400);
    expect(merged.balances).toEqual(exact.balances);
    expect(expiredByInstant(merged.d.rows())).toEqual(expiredByInstant(exact.d.rows()));
    const expires = (d: Driver): number => d.rows().filter((r) => r.kind === 'expire').length;
    expect(expires(merged.d)).toBeLessThan(expires(exact.d));
    expect(merged.d.customer().loyalty.lots.length).toBeLessThan(exact.d.customer().loyalty.lots.length);
    // Everything but the expire rows is the same, row for row.
    const rest = (d: Driver): Row[] => d.rows().filter((r) => r.kind !== 'expire');
    expect(rest(merged.d)).toEqual(rest(exact.d));
  });

  it('keep one pending expiry timer per customer', () => {
    const { d } = run(10);
    const timers = d.state.timers.filter((t) => t.kind === 'loyalty.expire' && t.due === d.customer().loyalty.expiryAt);
    expect(timers).toHaveLength(1);
    expect(d.state.timers.filter((t) => t.kind === 'loyalty.expire').length).toBeLessThanOrEqual(3);
  });
});
