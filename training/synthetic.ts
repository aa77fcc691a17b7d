/**
 * A seeded synthetic churn data set for tests and demonstrations: RFM-like behavioural features
 * whose churn odds follow a known, partly non-linear rule. Not the simulator: the real pipeline
 * feeds features from the feature catalogue.
 */
import type { ChurnDataset } from './data.js';
import { createRng } from './random.js';

/** Feature names of {@link syntheticChurnData}. */
export const syntheticFeatures = [
  'recency_days', 'tx_count_30d', 'amount_30d', 'tenure_days', 'bill_pay_share', 'online_share', 'declined_share',
] as const;

/**
 * `n` customers observed over `days` days from `start` (epoch ms); about a fifth churn. With
 * `missing`, that fraction of `declined_share` values is NaN.
 */
export function syntheticChurnData(opts: { n: number; seed: number; start?: number; days?: number; missing?: number }): ChurnDataset {
  const { n, seed } = opts;
  const start = opts.start ?? Date.UTC(2024, 0, 1);
  const days = opts.days ?? 180;
  const rng = createRng(seed);
  const normal = (): number => Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());
  const nf = syntheticFeatures.length;
  const x = new Float32Array(n * nf);
  const y = new Uint8Array(n);
  const time = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const recency = Math.floor(-Math.log(1 - rng.next()) * 15);
    const count = Math.max(0, Math.round(Math.exp(2 + 0.8 * normal())));
    const amount = count * Math.exp(13 + 0.6 * normal());
    const tenure = Math.floor(rng.next() * 2000);
    const billPay = rng.next() * rng.next();
    const online = rng.next();
    const declined = Math.min(1, Math.abs(0.05 * normal()));
    const row = [recency, count, amount, tenure, billPay, online, declined];
    if (opts.missing && rng.next() < opts.missing) row[6] = NaN;
    x.set(row, i * nf);
    const z = -1.2 + 0.06 * recency - 0.35 * Math.log1p(count) - 1.8 * billPay
      + (tenure < 90 ? 1.1 : 0) - 0.4 * online + (Number.isNaN(row[6]!) ? 0.3 : 6 * declined) + 0.5 * normal();
    y[i] = rng.next() < 1 / (1 + Math.exp(-z)) ? 1 : 0;
    time[i] = start + Math.floor(rng.next() * days * 86_400_000);
  }
  return { features: [...syntheticFeatures], x, y, time };
}
