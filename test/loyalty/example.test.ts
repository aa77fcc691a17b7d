/** The worked example of docs/loyalty.md ("a member's June"), with the shipped rules: the doc's table is what the engine writes. */
import path from 'node:path';
import { expect, it } from 'vitest';
import type { TransactionV1 } from '../../contracts/events.js';
import { Driver } from './helpers.js';
import { readPolicyFileSync } from '../../config/policy.js';

it("reproduces the documented month: events → ledger rows → balance and tier", () => {
  const d = new Driver(readPolicyFileSync('rules', path.resolve(import.meta.dirname, '../../config/loyalty-rules.yaml')), { partitions: 8 });
  const C = 'c-1042';
  d.profile({ customer_id: C, opened_at: '2024-02-11T09:00:00+03:30', branch_id: '0231', segment: 'mass' });
  const tx = (id: string, at: string, channel: TransactionV1['channel'], amount: number, extra: Partial<TransactionV1> = {}): void =>
    void d.tx({ tx_id: id, customer_id: C, occurred_at: at, channel, amount_minor: amount, ...extra });
  // history
  tx('h1', '2025-06-18T10:00:00+03:30', 'pos', 300_000_000);
  tx('h2', '2025-09-10T10:00:00+03:30', 'online', 250_000_000);
  tx('h3', '2025-12-02T10:00:00+03:30', 'installment', 100_000_000);
  tx('h4', '2026-02-20T10:00:00+03:30', 'pos', 900_000_000);
  tx('h5', '2026-03-20T10:00:00+03:30', 'pos', 400_000_000);
  d.redeem({ customer_id: C, redemption_id: 'rd-h', points: 200, occurred_at: '2026-04-05T10:00:00+03:30' });
  expect([d.balance(C), d.customer(C).loyalty.tier]).toEqual([1690, 'bronze']);
  const mark = d.ledger.length;
  // June
  tx('T1', '2026-06-01T09:12:00+03:30', 'pos', 8_450_000, { mcc: '5411' });
  tx('T2', '2026-06-03T20:40:00+03:30', 'online', 120_000_000);
  tx('T3', '2026-06-05T11:30:00+03:30', 'pos', 6_000_000, { mcc: '5411' });
  tx('T4', '2026-06-07T08:05:00+03:30', 'bill_pay', 3_500_000, { biller_id: 'electricity', due_date: '2026-06-15' });
  tx('T5', '2026-06-10T18:20:00+03:30', 'fuel', 4_200_000);
  tx('T6', '2026-06-12T10:00:00+03:30', 'installment', 85_000_000, { branch_id: '0231', due_date: '2026-06-13' });
  tx('T7', '2026-06-14T17:45:00+03:30', 'pos', 2_000_000_000, { mcc: '5732' });
  tx('T8', '2026-06-16T09:00:00+03:30', 'fuel', 4_200_000, { reverses_tx_id: 'T5' });
  d.redeem({ customer_id: C, redemption_id: 'RD1', points: 1_000, occurred_at: '2026-06-20T12:00:00+03:30' });
  d.redeem({ customer_id: C, redemption_id: 'RD2', points: 5_000, occurred_at: '2026-06-25T12:00:00+03:30' });
  tx('T9', '2026-07-01T10:00:00+03:30', 'pos', 1_500_000);

  expect(d.ledger.slice(mark).map((r) => [r.entry_id, r.kind, r.points, r.rule_id, r.source_id, r.tier, r.expires_at, r.balance_after, r.stream_seq])).toEqual([
    ['earn:pos-purchase:T1', 'earn', 8, 'pos-purchase', 'T1', 'bronze', '2027-06-01T20:29:59.999Z', 1698, 8],
    ['earn:online-purchase:T2', 'earn', 120, 'online-purchase', 'T2', 'bronze', '2027-06-03T20:29:59.999Z', 1818, 9],
    ['earn:pos-purchase:T3', 'earn', 6, 'pos-purchase', 'T3', 'bronze', '2027-06-05T20:29:59.999Z', 1824, 10],
    ['bonus:friday-grocery:T3', 'bonus', 4, 'friday-grocery', 'T3', 'bronze', '2027-06-05T20:29:59.999Z', 1828, 10],
    ['earn:bill-payment:T4', 'earn', 11, 'bill-payment', 'T4', 'bronze', '2027-06-07T20:29:59.999Z', 1839, 11],
    ['bonus:early-payment:T4', 'bonus', 50, 'early-payment', 'T4', 'bronze', '2027-06-07T20:29:59.999Z', 1889, 11],
    ['earn:fuel-station:T5', 'earn', 12, 'fuel-station', 'T5', 'bronze', '2027-06-10T20:29:59.999Z', 1901, 12],
    ['earn:pos-purchase:T7', 'earn', 500, 'pos-purchase', 'T7', 'bronze', '2027-06-14T20:29:59.999Z', 2401, 14],
    ['reverse:tx:T8', 'reverse', -12, 'reversal', 'T5', 'silver', null, 2389, 15],
    ['expire:tx:h1', 'expire', -100, 'expiry:bronze', 'h1', 'silver', '2026-06-18T20:29:59.999Z', 2289, 16],
    ['redeem:rd:RD1', 'redeem', -1000, 'redemption', 'RD1', 'silver', null, 1289, 16],
    ['refused:rd:RD2', 'redeem_refused', 0, 'redemption', 'RD2', 'silver', null, 1289, 17],
    ['earn:pos-purchase:T9', 'earn', 1, 'pos-purchase', 'T9', 'silver', '2027-12-23T20:29:59.999Z', 1290, 18],
  ]);
  expect(d.ledger.every((r) => r.rules_version === '2026.07')).toBe(true);
  expect(d.tierChanges.map((r) => [r.change_id, r.from_tier, r.to_tier, r.occurred_at, r.reason, r.branch_id, r.stream_seq])).toEqual([
    ['c-1042:14:1781446500000:silver', 'bronze', 'silver', '2026-06-14T14:15:00.000Z', 'upgrade: 2301 points in 12 months', '0231', 14],
  ]);
  expect([d.balance(C), d.customer(C).loyalty.tier]).toEqual([1290, 'silver']);
});
