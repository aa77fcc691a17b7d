/** What the refund tests share: their rules (two tiers, a 60-day reversal window) and small helpers. */
import type { TransactionV1 } from '../../contracts/events.js';
import { expect } from 'vitest';
import type { LoyaltyRules } from '../../config/schema/loyalty-rules.js';
import { type Row } from '../../sinks/mapping.js';
import { Driver, rules } from './helpers.js';

export const REFUND_RULES = rules(`
version: "R1"
bank_time_offset: "+03:30"
tiers:
  window_months: 3
  levels:
    - { id: bronze, min_points: 0, multiplier: 1, expiry_days: 100 }
    - { id: silver, min_points: 150, multiplier: 2, expiry_days: 200 }
reversals: { window_days: 60, pending_days: 7 }
rules:
  - { id: pos, when: { channels: [pos] }, award: { per_amount: { points: 1, per_minor: 10 } }, caps: { per_tx: 400 } }
  - { id: weekend, kind: bonus, when: { channels: [pos] }, award: { fixed: 5 } }
`);

/** The named columns of each row, in order. */
export const pick = (rows: Row[], ...keys: string[]): unknown[][] => rows.map((r) => keys.map((k) => r[k]));

/** A refund transaction as the tests write it: an id, a time, and whatever else differs from the driver's defaults. */
export type RefundTx = Partial<TransactionV1> & { tx_id: string; occurred_at: string };

/** Sends a refund through the driver. */
export const refund = (d: Driver, body: RefundTx): void => void d.tx({ kind: 'refund', ...body });

/** Sends `events[from..to)` as customer c1's transactions, each at its index + 1 as stream sequence. */
export function sendEvents(d: Driver, events: readonly RefundTx[], from: number, to = events.length): void {
  for (let i = from; i < to; i++) d.send({ kind: 'transaction', body: { customer_id: 'c1', channel: 'pos', amount_minor: 0, currency: 'IRR', ...events[i]! } }, i + 1);
}

/**
 * Replays `events` from a checkpoint at every cut (applied up to it, on to the end, then back to the
 * checkpoint and on again) and expects the replay's ledger rows and c1's loyalty state (and features,
 * when `features`) to equal the straight run's.
 */
export function expectReplayFromEveryCut(r: LoyaltyRules, events: readonly RefundTx[], straight: Driver, features = false): void {
  for (let cut = 0; cut < events.length; cut++) {
    const d = new Driver(r);
    sendEvents(d, events, 0, cut);
    const checkpoint = JSON.stringify(d.state);
    sendEvents(d, events, cut);
    d.state = JSON.parse(checkpoint) as Driver['state'];
    d.ledger.length = 0;
    sendEvents(d, events, cut);
    expect(d.ledger, `cut ${cut}`).toEqual(straight.ledger.filter((row) => Number(row.stream_seq) > cut));
    expect(d.customer().loyalty).toEqual(straight.customer().loyalty);
    if (features) expect(d.customer().features).toEqual(straight.customer().features);
  }
}
