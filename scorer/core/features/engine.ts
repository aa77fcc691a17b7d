/**
 * Streaming behavioural features (walking-skeleton version). Updated incrementally in event time from
 * daily buckets; the feature vector is named, and the model's manifest picks and orders what it uses.
 */
import type { TransactionV1 } from '../../../contracts/events.js';
import type { CustomerState } from '../state.js';
import { DAY_MS, type Ctx } from '../types.js';

export function featuresOnTransaction(c: CustomerState, tx: TransactionV1, at: number, ctx: Ctx): void {
  const f = c.features;
  const day = Math.floor(at / DAY_MS);
  const b = (f.days[day] ??= [0, 0, 0]);
  b[0] += 1;
  if (tx.status !== 'declined') b[1] += tx.amount_minor;
  else b[2] += 1;
  if (!f.firstTxAt || at < f.firstTxAt) f.firstTxAt = at;
  if (at > f.lastTxAt) f.lastTxAt = at;
  const horizon = Math.floor(ctx.watermark / DAY_MS) - 366;
  for (const k of Object.keys(f.days)) if (Number(k) < horizon) delete f.days[k];
}

/** The named feature vector of a customer as of event time `at`. */
export function featureVector(c: CustomerState, at: number): Record<string, number> {
  const f = c.features;
  const today = Math.floor(at / DAY_MS);
  const win = (days: number): [number, number, number] => {
    const out: [number, number, number] = [0, 0, 0];
    for (const [k, v] of Object.entries(f.days)) {
      const d = Number(k);
      if (d > today - days && d <= today) {
        out[0] += v[0];
        out[1] += v[1];
        out[2] += v[2];
      }
    }
    return out;
  };
  const w30 = win(30);
  const w90 = win(90);
  const opened = c.profile?.opened_at ? Date.parse(c.profile.opened_at) : f.firstTxAt;
  return {
    recency_days: f.lastTxAt ? (at - f.lastTxAt) / DAY_MS : 365,
    tx_count_30d: w30[0],
    tx_count_90d: w90[0],
    spend_30d_minor: w30[1],
    spend_90d_minor: w90[1],
    declines_30d: w30[2],
    tenure_days: opened ? Math.max(0, (at - opened) / DAY_MS) : 0,
    points_balance: c.loyalty.balance,
  };
}
