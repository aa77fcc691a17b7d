/**
 * Loyalty engine (walking-skeleton version: one earning rule). The full rules engine replaces the
 * internals behind the same entry points.
 */
import type { RedemptionV1, TransactionV1 } from '../../../contracts/events.js';
import type { CustomerState, PartitionState } from '../state.js';
import { iso, type Ctx, type Emit, type Row } from '../types.js';

export interface LoyaltyConfig {
  version: string;
}

export const DEFAULT_LOYALTY: LoyaltyConfig = { version: 'skeleton-1' };

const EARNING = new Set(['pos', 'online', 'fuel', 'bill_pay', 'installment']);

function ledgerRow(c: CustomerState, ctx: Ctx, cfg: LoyaltyConfig, entry: { id: string; kind: string; points: number; rule: string; source: string; channel?: string; branch?: string }): Row {
  return {
    entry_id: entry.id, customer_id: c.id, kind: entry.kind, points: entry.points, rule_id: entry.rule, rules_version: cfg.version,
    source_id: entry.source, channel: entry.channel ?? '', branch_id: entry.branch ?? '', tier: c.loyalty.tier,
    occurred_at: iso(ctx.at), expires_at: null, balance_after: c.loyalty.balance, stream_seq: ctx.seq,
  };
}

/** Applies a transaction; returns the net points it moved. */
export function loyaltyOnTransaction(_s: PartitionState, c: CustomerState, tx: TransactionV1, ctx: Ctx, cfg: LoyaltyConfig, emit: Emit): number {
  if (tx.reverses_tx_id) {
    const original = c.loyalty.earned[tx.reverses_tx_id];
    if (!original) return 0;
    delete c.loyalty.earned[tx.reverses_tx_id];
    c.loyalty.balance -= original;
    emit.row('points_ledger', ledgerRow(c, ctx, cfg, { id: `${tx.tx_id}:reverse`, kind: 'reverse', points: -original, rule: 'reversal', source: tx.tx_id, channel: tx.channel, ...(tx.branch_id ? { branch: tx.branch_id } : {}) }));
    return -original;
  }
  if (tx.status === 'declined' || !EARNING.has(tx.channel)) return 0;
  const points = Math.floor(tx.amount_minor / 10_000);
  if (points <= 0) return 0;
  c.loyalty.balance += points;
  c.loyalty.earned[tx.tx_id] = points;
  emit.row('points_ledger', ledgerRow(c, ctx, cfg, { id: `${tx.tx_id}:earn:base`, kind: 'earn', points, rule: 'base', source: tx.tx_id, channel: tx.channel, ...(tx.branch_id ? { branch: tx.branch_id } : {}) }));
  return points;
}

export function loyaltyOnRedemption(_s: PartitionState, c: CustomerState, r: RedemptionV1, ctx: Ctx, cfg: LoyaltyConfig, emit: Emit): boolean {
  if (c.loyalty.balance < r.points) return false;
  c.loyalty.balance -= r.points;
  emit.row('points_ledger', ledgerRow(c, ctx, cfg, { id: `${r.redemption_id}:redeem`, kind: 'redeem', points: -r.points, rule: 'redemption', source: r.redemption_id }));
  return true;
}
