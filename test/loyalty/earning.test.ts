/** Earning rules, one feature at a time: conditions, awards and rounding, stacking, branch policies, caps, budgets. */
import { describe, expect, it } from 'vitest';
import type { TransactionV1 } from '../../contracts/events.js';
import { Driver, rules } from './helpers.js';

const policy = (body: string, extra = ''): ReturnType<typeof rules> => rules(`
version: "u1"
bank_time_offset: "+03:30"
week_starts: sat
tiers:
  window_months: 12
  levels:
    - { id: base, min_points: 0, multiplier: 1, expiry_days: 30 }
    - { id: top, min_points: 1000, multiplier: 2, expiry_days: 60 }
${extra}
rules:
${body}`);

type Tx = Partial<TransactionV1> & { occurred_at?: string };

describe('conditions', () => {
  const p = policy(`
  - { id: ch, when: { channels: [online] }, award: { fixed: 1 } }
  - { id: mcc, when: { mcc_sets: [fuel], mccs: [7011] }, award: { fixed: 1 } }
  - { id: not-fuel, when: { channels: [atm], exclude_mcc_sets: [fuel] }, award: { fixed: 1 } }
  - { id: merchant, when: { merchants: [M1, 42] }, award: { fixed: 1 } }
  - { id: biller, when: { billers: [water] }, award: { fixed: 1 } }
  - { id: tx-branch, when: { branches: ["0231"] }, award: { fixed: 1 } }
  - { id: at-branch, when: { channels: [deposit], at_branch: true }, award: { fixed: 1 } }
  - { id: non-branch, when: { channels: [deposit], at_branch: false }, award: { fixed: 1 } }
  - { id: amount, when: { channels: [transfer], amount_minor: { min: 100, max: 200 } }, award: { fixed: 1 } }
  - { id: night, when: { channels: [fuel], time_of_day: { from: "23:00", to: "01:00" } }, award: { fixed: 1 } }
  - { id: day, when: { channels: [installment], days_of_week: [fri] }, award: { fixed: 1 } }
  - { id: tier, when: { channels: [pos], tiers: [top] }, award: { fixed: 1 } }
  - { id: segment, when: { channels: [bill_pay], segments: [vip] }, award: { fixed: 1 } }
  - { id: campaign, when: { channels: [pos], campaign: may }, award: { fixed: 1 } }
  - { id: early, when: { channels: [bill_pay], early_by_days: 3 }, award: { fixed: 1 } }
`, `
mcc_sets: { fuel: ["5541", 5542] }
campaigns: [{ id: may, from: "2026-05-01T00:00:00+03:30", to: "2026-05-02T00:00:00+03:30" }]`);

  const fired = (tx: Tx, profile: { segment?: string } = {}): string[] => {
    const d = new Driver(p);
    d.profile({ opened_at: '2026-01-01T00:00:00Z', ...profile });
    d.tx({ tx_id: 't', occurred_at: '2026-04-15T12:00:00+03:30', channel: 'atm', amount_minor: 1, mcc: '1234', ...tx });
    return d.rows().map((r) => String(r.rule_id));
  };

  it('channel', () => {
    expect(fired({ channel: 'online' })).toEqual(['ch']);
    expect(fired({ channel: 'pos' })).toEqual([]);
  });
  it('MCC sets (YAML numbers become 4-digit codes), single MCCs and exclusions', () => {
    expect(fired({ mcc: '5542' })).toContain('mcc');
    expect(fired({ mcc: '7011' })).toContain('mcc');
    expect(fired({ mcc: '5411' })).not.toContain('mcc');
    expect(fired({ mcc: undefined })).toEqual(['not-fuel']); // no MCC: an MCC condition fails, an exclusion passes
    expect(fired({ mcc: '5541' })).not.toContain('not-fuel');
  });
  it('merchant, biller and the branch the transaction was made at', () => {
    expect(fired({ merchant_id: 'M1' })).toContain('merchant');
    expect(fired({ merchant_id: '42' })).toContain('merchant');
    expect(fired({ merchant_id: 'M2' })).not.toContain('merchant');
    expect(fired({ biller_id: 'water' })).toContain('biller');
    expect(fired({ branch_id: '0231' })).toContain('tx-branch');
    expect(fired({ channel: 'deposit', branch_id: 'B' })).toEqual(['at-branch']);
    expect(fired({ channel: 'deposit' })).toEqual(['non-branch']);
  });
  it('amount range (inclusive)', () => {
    for (const [amount, hit] of [[99, false], [100, true], [200, true], [201, false]] as const) {
      expect(fired({ channel: 'transfer', amount_minor: amount }).includes('amount')).toBe(hit);
    }
  });
  it('time of day in bank time, wrapping past midnight', () => {
    expect(fired({ channel: 'fuel', occurred_at: '2026-04-15T23:30:00+03:30' })).toEqual(['night']);
    expect(fired({ channel: 'fuel', occurred_at: '2026-04-15T20:15:00Z' })).toEqual(['night']); // 23:45 Tehran
    expect(fired({ channel: 'fuel', occurred_at: '2026-04-16T00:59:00+03:30' })).toEqual(['night']);
    expect(fired({ channel: 'fuel', occurred_at: '2026-04-16T01:00:00+03:30' })).toEqual([]);
    expect(fired({ channel: 'fuel', occurred_at: '2026-04-15T23:00:00Z' })).toEqual([]); // 02:30 Tehran
  });
  it('day of week in bank time', () => {
    expect(fired({ channel: 'installment', occurred_at: '2026-05-01T10:00:00+03:30' })).toEqual(['day']); // a Friday
    expect(fired({ channel: 'installment', occurred_at: '2026-04-30T21:00:00Z' })).toEqual(['day']); // Thursday UTC, Friday 00:30 Tehran
    expect(fired({ channel: 'installment', occurred_at: '2026-05-01T20:31:00Z' })).toEqual([]); // Saturday 00:01 Tehran
  });
  it('customer tier and segment', () => {
    expect(fired({ channel: 'bill_pay' }, { segment: 'vip' })).toContain('segment');
    expect(fired({ channel: 'bill_pay' }, { segment: 'mass' })).not.toContain('segment');
    expect(fired({ channel: 'bill_pay' })).not.toContain('segment');
    expect(fired({ channel: 'pos' })).not.toContain('tier');
  });
  it('campaign validity window [from, to)', () => {
    expect(fired({ channel: 'pos', occurred_at: '2026-05-01T00:00:00+03:30' })).toContain('campaign');
    expect(fired({ channel: 'pos', occurred_at: '2026-05-01T23:59:59+03:30' })).toContain('campaign');
    expect(fired({ channel: 'pos', occurred_at: '2026-05-02T00:00:00+03:30' })).not.toContain('campaign');
    expect(fired({ channel: 'pos', occurred_at: '2026-04-30T23:59:59+03:30' })).not.toContain('campaign');
  });
  it('early payment counts bank days before due_date', () => {
    expect(fired({ channel: 'bill_pay', due_date: '2026-05-10', occurred_at: '2026-05-07T10:00:00+03:30' })).toContain('early');
    expect(fired({ channel: 'bill_pay', due_date: '2026-05-10', occurred_at: '2026-05-08T10:00:00+03:30' })).not.toContain('early');
    // 20:45 UTC on the 7th is already the 8th in Tehran: 2 days early, not 3
    expect(fired({ channel: 'bill_pay', due_date: '2026-05-10', occurred_at: '2026-05-07T20:45:00Z' })).not.toContain('early');
    expect(fired({ channel: 'bill_pay', occurred_at: '2026-05-07T10:00:00+03:30' })).not.toContain('early');
  });
  it('declined transactions, other currencies (when currencies is set) and reversals earn nothing', () => {
    const q = rules(`
version: "c"
bank_time_offset: "+00:00"
currencies: [IRR]
tiers: { window_months: 1, levels: [{ id: a, min_points: 0, multiplier: 1, expiry_days: 1 }] }
rules: [{ id: all, award: { fixed: 5 } }]`);
    const d = new Driver(q);
    d.tx({ tx_id: 'declined', occurred_at: '2026-01-01T00:00:00Z', status: 'declined' });
    d.tx({ tx_id: 'usd', occurred_at: '2026-01-01T00:00:00Z', currency: 'USD' });
    d.tx({ tx_id: 'rev', occurred_at: '2026-01-01T00:00:00Z', reverses_tx_id: 'declined' });
    d.tx({ tx_id: 'ok', occurred_at: '2026-01-01T00:00:00Z' });
    expect(d.rows().map((r) => r.source_id)).toEqual(['ok']);
  });
});

describe('awards and rounding', () => {
  it('points per amount unit, fixed points, promotional and tier multipliers; floor at the end of each rule', () => {
    const p = policy(`
  - id: rate
    when: { channels: [pos] }
    award: { per_amount: { points: 1, per_minor: 3 }, multiplier: 1.5 }
  - id: fixed-and-rate
    when: { channels: [pos] }
    award: { fixed: 2, per_amount: { points: 7, per_minor: 100 }, multiplier: 1.0001 }
  - id: tiny-a
    kind: bonus
    when: { channels: [pos] }
    award: { per_amount: { points: 6, per_minor: 100 } }
  - id: tiny-b
    kind: bonus
    when: { channels: [pos] }
    award: { per_amount: { points: 6, per_minor: 100 } }
  - id: no-tier
    kind: bonus
    when: { channels: [online] }
    award: { fixed: 3, tier_multiplier: false }
  - id: with-tier
    when: { channels: [online] }
    award: { fixed: 3 }
`);
    const d = new Driver(p);
    d.tx({ tx_id: 't1', occurred_at: '2026-01-01T00:00:00Z', amount_minor: 10 });
    // 10/3 × 1.5 = 5.0 (not floor(3.33) × 1.5 = 4); (2 + 0.7) × 1.0001 = 2.70027 → 2; 0.6 and 0.6 → 0 each (no carry)
    expect(d.rows().map((r) => [r.rule_id, r.kind, r.points])).toEqual([['rate', 'earn', 5], ['fixed-and-rate', 'earn', 2]]);
    d.customer().loyalty.tier = 'top'; // tier multiplier 2
    d.tx({ tx_id: 't2', occurred_at: '2026-01-01T00:01:00Z', channel: 'online' });
    expect(d.rows().slice(2).map((r) => [r.rule_id, r.points, r.tier])).toEqual([['no-tier', 3, 'top'], ['with-tier', 6, 'top']]);
  });

  it('is exact for very large amounts', () => {
    const p = policy(`
  - { id: big, when: { channels: [pos] }, award: { per_amount: { points: 3, per_minor: 7 }, multiplier: 1.3333 } }`);
    const d = new Driver(p);
    const amount = 9_007_199_254_740_000; // near 2^53
    d.tx({ tx_id: 't', occurred_at: '2026-01-01T00:00:00Z', amount_minor: amount });
    const exact = (BigInt(amount) * 3n * 13333n) / (7n * 10000n);
    expect(d.rows()[0]!.points).toBe(Number(exact));
  });
});

describe('ordering and stacking', () => {
  const p = policy(`
  - { id: low, priority: 10, when: { channels: [pos] }, award: { fixed: 1 } }
  - { id: stop, priority: 20, exclusive: true, when: { channels: [pos], mccs: ["5541"] }, award: { fixed: 10 }, caps: { per_day: 10 } }
  - { id: top, priority: 30, kind: bonus, when: { channels: [pos] }, award: { fixed: 100 } }
  - { id: other-stop, priority: 25, exclusive: true, when: { channels: [online] }, award: { fixed: 1000 } }
  - { id: low-2, priority: 10, when: { channels: [pos] }, award: { fixed: 2 } }
`);
  const order = (d: Driver, from: number): unknown[] => d.rows().slice(from).map((r) => r.rule_id);

  it('applies matching rules by priority, ties in file order; an exclusive rule ends the list', () => {
    const d = new Driver(p);
    d.tx({ tx_id: 'plain', occurred_at: '2026-01-01T00:00:00Z' });
    expect(order(d, 0)).toEqual(['top', 'low', 'low-2']); // other-stop does not match, so it stops nothing
    d.tx({ tx_id: 'fuel', occurred_at: '2026-01-01T00:01:00Z', mcc: '5541' });
    expect(order(d, 3)).toEqual(['top', 'stop']); // rules above the exclusive one stack with it, rules below do not
  });

  it('an exclusive rule that matched still ends the list when its cap left it nothing', () => {
    const d = new Driver(p);
    d.tx({ tx_id: 'f1', occurred_at: '2026-01-01T00:00:00Z', mcc: '5541' });
    d.tx({ tx_id: 'f2', occurred_at: '2026-01-01T00:01:00Z', mcc: '5541' });
    expect(order(d, 2)).toEqual(['top']);
  });
});

describe('branch policies', () => {
  const p = policy(`
  - { id: pos, priority: 10, when: { channels: [pos] }, award: { fixed: 1 } }
  - { id: online, priority: 10, when: { channels: [online] }, award: { fixed: 1 } }
  - { id: bill, when: { channels: [bill_pay] }, award: { fixed: 1 } }
`, `
branches:
  "0231":
    disable: [online]
    rules:
      - { id: pos, priority: 10, when: { channels: [pos] }, award: { fixed: 5 } }
      - { id: extra, priority: 10, kind: bonus, when: { channels: [pos, bill_pay] }, award: { fixed: 2 } }`);

  const run = (branch: string | undefined, channel: TransactionV1['channel']): unknown[] => {
    const d = new Driver(p);
    d.profile({ opened_at: '2026-01-01T00:00:00Z', ...(branch ? { branch_id: branch } : {}) });
    d.tx({ tx_id: 't', occurred_at: '2026-01-02T00:00:00Z', channel });
    return d.rows().map((r) => [r.rule_id, r.points, r.branch_id]);
  };

  it("the member's branch overrides a bank-wide rule by id, adds its own, and disables others", () => {
    expect(run('0231', 'pos')).toEqual([['0231/pos', 5, '0231'], ['0231/extra', 2, '0231']]);
    expect(run('0231', 'online')).toEqual([]);
    expect(run('0231', 'bill_pay')).toEqual([['0231/extra', 2, '0231'], ['bill', 1, '0231']]);
  });
  it('members of other branches, and customers without a profile, get the bank-wide rules', () => {
    expect(run('9999', 'pos')).toEqual([['pos', 1, '9999']]);
    expect(run(undefined, 'online')).toEqual([['online', 1, '']]);
  });
});

describe('caps', () => {
  const p = policy(`
  - { id: tx, when: { channels: [pos] }, award: { fixed: 50 }, caps: { per_tx: 30 } }
  - { id: day, when: { channels: [online] }, award: { fixed: 40 }, caps: { per_day: 100 } }
  - { id: week, when: { channels: [bill_pay] }, award: { fixed: 40 }, caps: { per_week: 100 } }
  - { id: month, when: { channels: [installment] }, award: { fixed: 40 }, caps: { per_month: 100 } }
`);
  const pts = (d: Driver, id: string): number => Number(d.ledger.find((r) => r.source_id === id)?.points ?? 0);

  it('per transaction', () => {
    const d = new Driver(p);
    d.tx({ tx_id: 't', occurred_at: '2026-01-01T00:00:00Z' });
    expect(pts(d, 't')).toBe(30);
  });

  it('per customer per bank-local day, and a reversal releases its share', () => {
    const d = new Driver(p);
    const at = (s: string): string => `2026-01-0${s}`;
    d.tx({ tx_id: 'a', occurred_at: at('1T08:00:00+03:30'), channel: 'online' });
    d.tx({ tx_id: 'b', occurred_at: at('1T09:00:00+03:30'), channel: 'online' });
    d.tx({ tx_id: 'c', occurred_at: at('1T23:59:00+03:30'), channel: 'online' });
    d.tx({ tx_id: 'other-customer', customer_id: 'c2', occurred_at: at('1T23:59:00+03:30'), channel: 'online' });
    expect([pts(d, 'a'), pts(d, 'b'), pts(d, 'c'), pts(d, 'other-customer')]).toEqual([40, 40, 20, 40]);
    d.tx({ tx_id: 'rev-b', occurred_at: at('1T23:59:30+03:30'), reverses_tx_id: 'b' });
    d.tx({ tx_id: 'd', occurred_at: at('1T23:59:40+03:30'), channel: 'online' });
    expect(pts(d, 'd')).toBe(40); // b's 40 were released
    d.tx({ tx_id: 'e', occurred_at: at('1T20:30:00Z'), channel: 'online' }); // 00:00 on the 2nd, Tehran
    expect(pts(d, 'e')).toBe(40);
  });

  it('per week (weeks start on Saturday in bank time) and per month', () => {
    const d = new Driver(p);
    // 2026-01-02 is a Friday, 2026-01-03 a Saturday
    for (const [id, at] of [['w1', '2026-01-02T10:00:00+03:30'], ['w2', '2026-01-02T11:00:00+03:30'], ['w3', '2026-01-02T12:00:00+03:30'], ['w4', '2026-01-03T00:00:00+03:30']]) {
      d.tx({ tx_id: id!, occurred_at: at!, channel: 'bill_pay' });
    }
    expect(['w1', 'w2', 'w3', 'w4'].map((id) => pts(d, id))).toEqual([40, 40, 20, 40]);
    for (const [id, at] of [['m1', '2026-01-05T10:00:00+03:30'], ['m2', '2026-01-15T10:00:00+03:30'], ['m3', '2026-01-31T23:00:00+03:30'], ['m4', '2026-02-01T00:00:00+03:30']]) {
      d.tx({ tx_id: id!, occurred_at: at!, channel: 'installment' });
    }
    expect(['m1', 'm2', 'm3', 'm4'].map((id) => pts(d, id))).toEqual([40, 40, 20, 40]);
  });
});

describe('campaign budgets', () => {
  const p = policy(`
  - { id: promo, kind: bonus, when: { channels: [pos], campaign: spring }, award: { fixed: 3 } }
`, 'campaigns: [{ id: spring, from: "2026-01-01T00:00:00Z", to: "2026-02-01T00:00:00Z", budget_points: 10 }]');

  it('split evenly across partitions (remainder to the lowest), enforced per partition, released by reversals', () => {
    const earned = (partition: number): number[] => {
      const d = new Driver(p, { partition, partitions: 3 });
      for (let i = 0; i < 3; i++) d.tx({ tx_id: `t${i}`, customer_id: `c${i}`, occurred_at: `2026-01-0${i + 1}T00:00:00Z` });
      return d.ledger.map((r) => Number(r.points));
    };
    expect(earned(0)).toEqual([3, 1]); // share 4
    expect(earned(1)).toEqual([3]); // share 3
    expect(earned(2)).toEqual([3]);
    const d = new Driver(p, { partition: 2, partitions: 3 });
    d.tx({ tx_id: 'a', occurred_at: '2026-01-01T00:00:00Z' });
    expect(d.state.budgets['loyalty:campaign:spring']).toBe(3);
    d.tx({ tx_id: 'b', occurred_at: '2026-01-01T00:01:00Z' });
    d.tx({ tx_id: 'rev-a', occurred_at: '2026-01-01T00:02:00Z', reverses_tx_id: 'a' });
    d.tx({ tx_id: 'c', occurred_at: '2026-01-01T00:03:00Z' });
    expect(d.rows().map((r) => [r.source_id, r.points])).toEqual([['a', 3], ['a', -3], ['c', 3]]);
  });
});
