/**
 * A seeded synthetic churn data set for tests and demonstrations: RFM-like behavioural features
 * whose churn odds follow a known, partly non-linear rule. Not the simulator: the real pipeline
 * feeds features from the feature catalogue.
 */
import type { ChurnDataset } from './data.js';
import { item } from '../scorer/core/mod.js';
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
    const declinedSeen = opts.missing && rng.next() < opts.missing ? NaN : declined;
    x.set([recency, count, amount, tenure, billPay, online, declinedSeen], i * nf);
    const z = -1.2 + 0.06 * recency - 0.35 * Math.log1p(count) - 1.8 * billPay
      + (tenure < 90 ? 1.1 : 0) - 0.4 * online + (Number.isNaN(declinedSeen) ? 0.3 : 6 * declined) + 0.5 * normal();
    y[i] = rng.next() < 1 / (1 + Math.exp(-z)) ? 1 : 0;
    time[i] = start + Math.floor(rng.next() * days * 86_400_000);
  }
  return { features: [...syntheticFeatures], x, y, time };
}

/**
 * A synthetic bank-card churn table in the layout of the public "credit card customers" data set
 * (one row per customer: an id, an `Attrition_Flag` of "Attrited Customer" / "Existing Customer",
 * demographics with "Unknown" categories, relationship and transaction counts). The values and the
 * churn rule are made up here (about 16 % attrite, driven by transaction count and amount, their
 * quarter-on-quarter change, inactivity, contacts and products held); no row comes from the public
 * data. With `snapshot`, a `snapshot_date` column spreads rows over 2024 for time splits.
 */
export function syntheticBankCsv(opts: { rows: number; seed: number; snapshot?: boolean }): string {
  const rng = createRng(opts.seed);
  const normal = (): number => Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());
  const pick = <T extends string>(xs: readonly T[]): T => item(xs, Math.floor(rng.next() * xs.length));
  const header = ['CLIENTNUM', 'Attrition_Flag', 'Customer_Age', 'Gender', 'Dependent_count', 'Education_Level', 'Marital_Status',
    'Income_Category', 'Card_Category', 'Months_on_book', 'Total_Relationship_Count', 'Months_Inactive_12_mon', 'Contacts_Count_12_mon',
    'Credit_Limit', 'Total_Revolving_Bal', 'Total_Trans_Amt', 'Total_Trans_Ct', 'Total_Ct_Chng_Q4_Q1', 'Avg_Utilization_Ratio',
    ...(opts.snapshot ? ['snapshot_date'] : [])];
  const lines: string[] = [header.join(',')];
  const education = ['Graduate', 'High School', 'Unknown', 'Uneducated', 'College', 'Post-Graduate', 'Doctorate'];
  const marital = ['Married', 'Single', 'Unknown', 'Divorced'];
  const income = ['Less than $40K', '$40K - $60K', '$60K - $80K', '$80K - $120K', '$120K +', 'Unknown'];
  const card = ['Blue', 'Blue', 'Blue', 'Blue', 'Silver', 'Gold', 'Platinum'];
  for (let i = 0; i < opts.rows; i++) {
    const age = Math.max(26, Math.min(73, Math.round(46 + 8 * normal())));
    const months = Math.max(13, Math.min(56, Math.round(36 + 8 * normal())));
    const products = 1 + Math.floor(rng.next() * 6);
    const inactive = Math.min(6, Math.floor(-Math.log(1 - rng.next()) * 2.3));
    const contacts = Math.min(6, Math.floor(-Math.log(1 - rng.next()) * 2.4));
    const limit = Math.round(Math.exp(8.8 + 0.9 * normal()));
    const revolving = rng.next() < 0.25 ? 0 : Math.round(rng.next() * Math.min(2517, limit));
    const count = Math.max(10, Math.round(65 + 23 * normal()));
    const amount = Math.round(count * Math.exp(4.0 + 0.25 * normal() + 0.01 * count));
    const change = Math.max(0, 0.7 + 0.24 * normal());
    const z = -5.3 - 0.075 * (count - 65) + 0.0004 * (amount - 4400) - 3.2 * (change - 0.7) + 0.45 * inactive + 0.4 * contacts
      - 0.35 * (products - 3.5) - 0.0009 * (revolving - 1160) + 0.6 * normal();
    const churn = rng.next() < 1 / (1 + Math.exp(-z));
    const row = [
      String(700_000_000 + i), churn ? 'Attrited Customer' : 'Existing Customer', String(age), pick(['M', 'F']), String(Math.floor(rng.next() * 6)),
      pick(education), pick(marital), pick(income), pick(card), String(months), String(products), String(inactive), String(contacts),
      limit.toFixed(1), String(revolving), String(amount), String(count), change.toFixed(3), (revolving / limit).toFixed(3),
    ];
    if (opts.snapshot) row.push(new Date(Date.UTC(2024, 0, 1) + Math.floor(rng.next() * 365) * 86_400_000).toISOString().slice(0, 10));
    lines.push(row.join(','));
  }
  return `${lines.join('\n')}\n`;
}
