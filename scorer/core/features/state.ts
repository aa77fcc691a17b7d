/** Per-customer behavioural feature state: bounded (daily buckets, pruned past 365 days). */
export interface FeatureState {
  firstTxAt: number;
  lastTxAt: number;
  /** day number (epoch ms / 86.4e6) → [count, amount_minor, declines] */
  days: Record<string, [number, number, number]>;
}

export function newFeatureState(): FeatureState {
  return { firstTxAt: 0, lastTxAt: 0, days: {} };
}
