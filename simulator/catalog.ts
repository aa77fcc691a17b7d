/**
 * The simulated bank's fixed world: segments, products, merchant categories, billers, currencies and
 * the shapes of daily and weekly activity.
 */
import type { Channel } from '../contracts/events.js';

export const SEGMENTS = ['mass', 'affluent', 'youth', 'senior', 'sme'] as const;
export type Segment = (typeof SEGMENTS)[number];
export const SEGMENT_MIX = [0.5, 0.1, 0.18, 0.12, 0.1];

export const PRODUCTS = ['current_account', 'debit_card', 'bill_pay', 'online_banking', 'direct_deposit', 'installment_loan', 'savings'] as const;
export type Product = (typeof PRODUCTS)[number];
/** Products that keep customers: holders churn less. */
export const STICKY: readonly Product[] = ['debit_card', 'bill_pay', 'online_banking', 'direct_deposit'];

/** Probability of holding each optional product, by segment (established customers). */
export const PRODUCT_ODDS: Record<Segment, Record<Exclude<Product, 'current_account'>, number>> = {
  mass: { debit_card: 0.8, bill_pay: 0.4, online_banking: 0.55, direct_deposit: 0.4, installment_loan: 0.15, savings: 0.3 },
  affluent: { debit_card: 0.9, bill_pay: 0.6, online_banking: 0.75, direct_deposit: 0.55, installment_loan: 0.2, savings: 0.7 },
  youth: { debit_card: 0.85, bill_pay: 0.25, online_banking: 0.8, direct_deposit: 0.2, installment_loan: 0.05, savings: 0.15 },
  senior: { debit_card: 0.6, bill_pay: 0.45, online_banking: 0.25, direct_deposit: 0.65, installment_loan: 0.05, savings: 0.5 },
  sme: { debit_card: 0.75, bill_pay: 0.55, online_banking: 0.7, direct_deposit: 0.1, installment_loan: 0.35, savings: 0.2 },
};
/** New customers have not been onboarded onto everything yet. */
export const NEW_CUSTOMER_PRODUCT_FACTOR = 0.7;

/** Churn risk multipliers (normalized away: they shape who churns, not how many). */
export const STICKY_RISK = 0.7;
export const SEGMENT_RISK: Record<Segment, number> = { mass: 1, affluent: 0.75, youth: 1.35, senior: 0.8, sme: 1 };
export const REFERRED_RISK = 0.8;
export const HIGH_DECLINE_RISK = 1.3;

export const SEGMENT_AGE: Record<Segment, [number, number]> = {
  mass: [25, 62], affluent: [30, 72], youth: [18, 25], senior: [62, 88], sme: [27, 66],
};

/** Daily event rates of the unscheduled channels for a typical customer. */
export const BASE_RATE = { pos: 1.1, atm: 0.12, online: 0.12, fuel: 0.1, transfer: 0.08, deposit: 0.03 } as const;
export type RandomChannel = keyof typeof BASE_RATE;
export const RANDOM_CHANNELS = Object.keys(BASE_RATE) as RandomChannel[];

export const SEGMENT_RATE: Record<Segment, Partial<Record<RandomChannel, number>>> = {
  mass: {},
  affluent: { online: 1.3, transfer: 1.5, fuel: 1.2, atm: 0.7 },
  youth: { pos: 1.2, online: 1.8, fuel: 0.5, atm: 0.8, deposit: 0.5 },
  senior: { pos: 0.6, online: 0.3, atm: 1.6, transfer: 0.5, fuel: 0.6, deposit: 1.5 },
  sme: { pos: 0.8, transfer: 3, deposit: 5, fuel: 1.3 },
};
export const SEGMENT_AMOUNT: Record<Segment, number> = { mass: 1, affluent: 2.8, youth: 0.5, senior: 0.8, sme: 3.5 };

/** Median amounts in reference units (≈ US dollars) and their log-normal spread. */
export const AMOUNT = {
  pos: { median: 35, sigma: 0.9 },
  atm: { median: 60, sigma: 0.5 },
  online: { median: 40, sigma: 1 },
  fuel: { median: 15, sigma: 0.4 },
  transfer: { median: 120, sigma: 1.2 },
  deposit: { median: 150, sigma: 0.8 },
  installment: { median: 150, sigma: 0.6 },
  salary: { median: 700, sigma: 0.5 },
} as const;

export const POS_MCCS: readonly { mcc: string; weight: number }[] = [
  { mcc: '5411', weight: 0.3 }, // grocery
  { mcc: '5812', weight: 0.14 }, // restaurants
  { mcc: '5814', weight: 0.1 }, // fast food
  { mcc: '5999', weight: 0.1 }, // miscellaneous retail
  { mcc: '5311', weight: 0.08 }, // department stores
  { mcc: '5912', weight: 0.07 }, // pharmacies
  { mcc: '5691', weight: 0.07 }, // clothing
  { mcc: '5462', weight: 0.05 }, // bakeries
  { mcc: '5732', weight: 0.04 }, // electronics
  { mcc: '5251', weight: 0.05 }, // hardware
];
/** Amount factor per POS category relative to the POS median. */
export const MCC_AMOUNT: Record<string, number> = {
  '5411': 1, '5812': 1.4, '5814': 0.5, '5999': 0.8, '5311': 1.8, '5912': 0.7, '5691': 2.2, '5462': 0.25, '5732': 6, '5251': 1.5,
};
export const ONLINE_MERCHANTS: readonly { id: string; mcc: string; amount: number }[] = [
  { id: 'OM0001', mcc: '5999', amount: 1 }, { id: 'OM0002', mcc: '5732', amount: 4 }, { id: 'OM0003', mcc: '5815', amount: 0.3 },
  { id: 'OM0004', mcc: '4121', amount: 0.4 }, { id: 'OM0005', mcc: '4722', amount: 5 }, { id: 'OM0006', mcc: '5411', amount: 1.2 },
  { id: 'OM0007', mcc: '5812', amount: 0.8 }, { id: 'OM0008', mcc: '5691', amount: 2 }, { id: 'OM0009', mcc: '4814', amount: 0.4 },
  { id: 'OM0010', mcc: '5999', amount: 1.5 }, { id: 'OM0011', mcc: '5942', amount: 0.6 }, { id: 'OM0012', mcc: '5815', amount: 0.2 },
];
export const FUEL_MCCS = ['5541', '5542'] as const;
export const ATM_MCC = '6011';
export const TRANSFER_MCC = '4829';

export const BILLERS: readonly { id: string; mcc: string; median: number; winter: number }[] = [
  { id: 'BILL-ELEC', mcc: '4900', median: 8, winter: 0.9 },
  { id: 'BILL-WATER', mcc: '4900', median: 4, winter: 0.8 },
  { id: 'BILL-GAS', mcc: '4900', median: 7, winter: 2.5 },
  { id: 'BILL-MOBILE', mcc: '4814', median: 6, winter: 1 },
  { id: 'BILL-TEL', mcc: '4814', median: 2, winter: 1 },
  { id: 'BILL-NET', mcc: '4899', median: 9, winter: 1 },
];

export const BRANCHES = 20;
export const MERCHANTS_PER_CATEGORY = 12;
export const FUEL_STATIONS_PER_BRANCH = 6;
export const ATMS_PER_BRANCH = 3;
export const EMPLOYERS = 400;

/** Time-of-day mixtures in local hours: [mean, sd, weight]. */
export const TIME_OF_DAY: Record<Channel | 'salary', readonly (readonly [number, number, number])[]> = {
  pos: [[13, 2, 0.45], [19.5, 2, 0.55]],
  atm: [[11, 3, 0.6], [18, 2.5, 0.4]],
  online: [[14, 3, 0.4], [22, 2, 0.6]],
  fuel: [[8, 2, 0.4], [17.5, 2.5, 0.6]],
  transfer: [[11, 3, 0.7], [21, 2, 0.3]],
  deposit: [[10.5, 1.5, 1]],
  bill_pay: [[10, 3, 0.5], [21, 2, 0.5]],
  installment: [[10, 3, 0.6], [20, 2, 0.4]],
  salary: [[4, 1, 1]],
};

/** Activity on weekend days relative to working days, by channel. */
export const WEEKEND_FACTOR: Record<Channel, number> = {
  pos: 1.15, atm: 0.6, online: 1.1, fuel: 1.1, transfer: 0.5, deposit: 0.2, bill_pay: 0.6, installment: 0.5,
};

interface CurrencyScale {
  /** Major units per reference unit (price level). */
  perRef: number;
  exponent: number;
  /** Amounts are rounded to multiples of this many minor units. */
  round: number;
}
const CURRENCIES: Record<string, CurrencyScale> = {
  // ISO 4217 lists a minor unit for the Rial that is never used; the product treats it as exponent 0 (amounts in Rials).
  IRR: { perRef: 60_000, exponent: 0, round: 1000 },
  USD: { perRef: 1, exponent: 2, round: 1 },
  EUR: { perRef: 0.92, exponent: 2, round: 1 },
  GBP: { perRef: 0.79, exponent: 2, round: 1 },
  AED: { perRef: 3.67, exponent: 2, round: 1 },
  TRY: { perRef: 35, exponent: 2, round: 1 },
  JPY: { perRef: 150, exponent: 0, round: 1 },
};

/** How to turn reference amounts into minor units of `currency`. */
export function currencyScale(currency: string): { minorPerRef: number; round: number } {
  let c = CURRENCIES[currency];
  if (!c) {
    let exponent: number;
    try {
      exponent = new Intl.NumberFormat('en', { style: 'currency', currency }).resolvedOptions().maximumFractionDigits ?? 2;
    } catch {
      exponent = 2;
    }
    c = { perRef: 1, exponent, round: 1 };
  }
  return { minorPerRef: c.perRef * 10 ** c.exponent, round: c.round };
}

/** Local weekend days (0 = Sunday): Friday for the Iranian market, Saturday and Sunday elsewhere. */
export function weekendDays(currency: string): readonly number[] {
  return currency === 'IRR' ? [5] : [6, 0];
}
