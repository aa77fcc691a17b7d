/**
 * What the feature engine needs to know about the bank beyond the events: which profile product codes
 * mean which sticky product, and the loyalty tiers in ascending order (for `tier_rank`).
 */
import { DEFAULT_RULES_FILE } from '../loyalty/defaults.js';
import type { StickyProduct } from './catalogue.js';

export interface FeatureConfig {
  /** Profile `products` codes that mean each sticky product (any one of them counts). */
  productCodes: Record<StickyProduct, readonly string[]>;
  /** Loyalty tier ids, lowest first: `tier_rank` is the 1-based position (0 for none or unknown). */
  tiers: readonly string[];
}

export const DEFAULT_FEATURE_CONFIG: FeatureConfig = Object.freeze({
  productCodes: Object.freeze({
    bill_pay: ['bill_pay'],
    online_banking: ['online_banking', 'mobile_banking', 'internet_banking'],
    debit_card: ['debit_card'],
    direct_deposit: ['direct_deposit', 'payroll'],
    installments: ['installment_loan', 'installments', 'loan'],
  }),
  // The shipped loyalty rules' tiers (config/loyalty-rules.yaml = DEFAULT_RULES_FILE), lowest first.
  tiers: Object.freeze(DEFAULT_RULES_FILE.tiers.levels.map((l) => l.id)),
});
