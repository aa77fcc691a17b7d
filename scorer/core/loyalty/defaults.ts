/**
 * The built-in default rules: the same policy as the shipped `config/loyalty-rules.yaml` (a test keeps
 * the two equal). The engine's default configuration uses them, so a scorer started without a rules
 * file behaves exactly like one started with the shipped file. Documented in docs/loyalty.md.
 */
import { compileRules, type LoyaltyRules, type RulesFile } from './rules.js';

export const DEFAULT_RULES_FILE: RulesFile = {
  version: '2026.07',
  description: 'Bank-wide loyalty club earning policy',
  bank_time_offset: '+03:30',
  week_starts: 'sat',
  currencies: ['IRR'],
  mcc_sets: { fuel: ['5541', '5542', '5983', '5172'], grocery: ['5411', '5422', '5441', '5451', '5499'] },
  tiers: {
    window_months: 12,
    review: 'monthly',
    levels: [
      { id: 'bronze', min_points: 0, multiplier: 1, expiry_days: 365 },
      { id: 'silver', min_points: 2000, multiplier: 1.25, expiry_days: 540 },
      { id: 'gold', min_points: 10000, multiplier: 1.5, expiry_days: 730 },
      { id: 'platinum', min_points: 40000, multiplier: 2, expiry_days: 1095 },
    ],
  },
  campaigns: [
    {
      id: 'nowruz-1405',
      description: 'Nowruz 1405, double points on card and online purchases',
      from: '2026-03-14T00:00:00+03:30',
      to: '2026-04-03T00:00:00+03:30',
      budget_points: 20_000_000,
    },
  ],
  referral: {
    points: 500,
    window_days: 30,
    channels: ['pos', 'online', 'bill_pay', 'installment', 'fuel'],
    min_amount_minor: 5_000_000,
  },
  reversals: { window_days: 120, pending_days: 30 },
  rules: [
    {
      id: 'fuel-station',
      description: 'Fuel-station payments, 3 points per 1,000,000',
      priority: 50,
      exclusive: true,
      when: { channels: ['fuel'] },
      award: { per_amount: { points: 3, per_minor: 1_000_000 } },
      caps: { per_day: 300 },
    },
    {
      id: 'fuel-at-pos',
      description: 'Card purchases at a fuel station\'s POS terminal (by MCC), instead of the POS rule',
      priority: 50,
      exclusive: true,
      when: { channels: ['pos'], mcc_sets: ['fuel'] },
      award: { per_amount: { points: 3, per_minor: 1_000_000 } },
      caps: { per_day: 300 },
    },
    {
      id: 'pos-purchase',
      description: 'Card purchases at POS terminals, 1 point per 1,000,000',
      priority: 10,
      when: { channels: ['pos'] },
      award: { per_amount: { points: 1, per_minor: 1_000_000 } },
      caps: { per_tx: 500 },
    },
    {
      id: 'online-purchase',
      description: 'Online purchases, 1 point per 1,000,000, at most 1,500 points a month',
      priority: 10,
      when: { channels: ['online'] },
      award: { per_amount: { points: 1, per_minor: 1_000_000 } },
      caps: { per_tx: 300, per_month: 1500 },
    },
    {
      id: 'bill-payment',
      description: 'Bill payments through non-branch channels, 10 points each plus 1 per 2,000,000',
      priority: 10,
      when: { channels: ['bill_pay'], at_branch: false },
      award: { fixed: 10, per_amount: { points: 1, per_minor: 2_000_000 } },
      caps: { per_day: 100 },
    },
    {
      id: 'installment-payment',
      description: 'Loan installments paid through non-branch channels, 20 points each plus 1 per 5,000,000',
      priority: 10,
      when: { channels: ['installment'], at_branch: false },
      award: { fixed: 20, per_amount: { points: 1, per_minor: 5_000_000 } },
      caps: { per_month: 400 },
    },
    {
      id: 'early-payment',
      description: 'A bill or installment paid at least 3 days before its due date, 50 bonus points',
      kind: 'bonus',
      priority: 5,
      when: { channels: ['bill_pay', 'installment'], early_by_days: 3 },
      award: { fixed: 50, tier_multiplier: false },
      caps: { per_month: 200 },
    },
    {
      id: 'friday-grocery',
      description: 'Friday family shopping, grocery purchases 10:00-22:00 bank time, 1 per 2,000,000 with a 1.5 promotional multiplier',
      kind: 'bonus',
      priority: 5,
      when: {
        channels: ['pos'],
        mcc_sets: ['grocery'],
        days_of_week: ['fri'],
        time_of_day: { from: '10:00', to: '22:00' },
        amount_minor: { min: 2_000_000 },
      },
      award: { per_amount: { points: 1, per_minor: 2_000_000 }, multiplier: 1.5 },
      caps: { per_week: 100 },
    },
    {
      id: 'nowruz-double',
      description: 'Nowruz campaign, a second point per 1,000,000 on card and online purchases',
      kind: 'bonus',
      priority: 100,
      when: { channels: ['pos', 'online'], campaign: 'nowruz-1405' },
      award: { per_amount: { points: 1, per_minor: 1_000_000 }, tier_multiplier: false },
      caps: { per_tx: 500 },
    },
  ],
  branches: {
    '1001': {
      description: 'Tehran central branch, for its members',
      rules: [
        {
          id: 'bill-payment',
          description: 'Replaces the bank-wide rule, 20 points per non-branch bill payment plus 1 per 2,000,000',
          priority: 10,
          when: { channels: ['bill_pay'], at_branch: false },
          award: { fixed: 20, per_amount: { points: 1, per_minor: 2_000_000 } },
          caps: { per_day: 200 },
        },
        {
          id: 'payroll-pos',
          description: 'Payroll customers, +1 point per 2,000,000 at POS, up to 200 a month',
          kind: 'bonus',
          priority: 10,
          when: { channels: ['pos'], segments: ['payroll'] },
          award: { per_amount: { points: 1, per_minor: 2_000_000 } },
          caps: { per_month: 200 },
        },
      ],
    },
    '2040': { description: 'A branch that does not reward online purchases', disable: ['online-purchase'] },
  },
};

export const DEFAULT_RULES: LoyaltyRules = compileRules(DEFAULT_RULES_FILE, 'built-in default rules');
