/**
 * What the feature engine needs to know about the bank beyond the events: which profile product codes
 * mean which sticky product, and the loyalty tiers in ascending order (for `tier_rank`). The tiers are the
 * loyalty rules' (`config/policy.ts` builds the engine's from the rules file); the core reads no file.
 */
import type { StickyProduct } from '../../contracts/features.js';

export interface FeatureConfig {
  /** Profile `products` codes that mean each sticky product (any one of them counts). */
  productCodes: Record<StickyProduct, readonly string[]>;
  /** Loyalty tier ids, lowest first: `tier_rank` is the 1-based position (0 for none or unknown). */
  tiers: readonly string[];
}

/** The profile product codes of each sticky product. */
export const PRODUCT_CODES: FeatureConfig['productCodes'] = Object.freeze({
  bill_pay: ['bill_pay'],
  online_banking: ['online_banking', 'mobile_banking', 'internet_banking'],
  debit_card: ['debit_card'],
  direct_deposit: ['direct_deposit', 'payroll'],
  installments: ['installment_loan', 'installments', 'loan'],
});

/** The feature configuration for loyalty tiers `tiers` (lowest first). */
export function featureConfig(tiers: readonly string[]): FeatureConfig {
  return Object.freeze({ productCodes: PRODUCT_CODES, tiers: Object.freeze([...tiers]) });
}

/**
 * Without a policy: the product codes and no tiers (`tier_rank` 0). The engine always passes its
 * policy's (`EngineConfig.features`, the rules' tiers).
 */
export const DEFAULT_FEATURE_CONFIG: FeatureConfig = featureConfig([]);
