/** Per-customer loyalty state. */
export interface LoyaltyState {
  balance: number;
  tier: string;
  /** Points each tx earned, kept for reversals: tx_id → points. */
  earned: Record<string, number>;
}

export function newLoyaltyState(): LoyaltyState {
  return { balance: 0, tier: 'base', earned: {} };
}
