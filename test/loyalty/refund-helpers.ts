/** What the refund tests share: their rules (two tiers, a 60-day reversal window) and small helpers. */
import type { TransactionV1 } from '../../contracts/events.js';
import type { Row } from '../../scorer/core/types.js';
import { rules, type Driver } from './helpers.js';

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
