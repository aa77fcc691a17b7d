/**
 * Expected lifetime value (CLV) of a customer, from behaviour and the margin assumptions of
 * `config/lifecycle.yaml` (`value:`). In major units of the bank's currency. Documented in docs/features.md.
 *
 *   monthly margin  m = ( spend_90d / 3 × spend_margin + inflow_90d / 3 × inflow_margin ) / minor_per_major
 *                       + sticky_products × product_margin_per_month
 *   monthly retention r = (1 − annual churn)^(1/12), annual churn = first_year_annual_churn while tenure < 365 days,
 *                       established_annual_churn after
 *   monthly discount  δ = (1 + annual_discount_rate)^(1/12),  q = r / δ
 *   expected value    V = m × Σ_{k=1..H} q^k = m × q × (1 − q^H) / (1 − q)      (H = horizon_months)
 *
 * It is the value of the relationship if it follows the bank's usual retention; `value_at_risk` =
 * P(churn in the next 90 days) × V weighs retention effort by what is at stake.
 */
import type { LifecycleConfig } from '../../../config/schema/mod.js';

export function expectedValue(features: Readonly<Record<string, number>>, cfg: LifecycleConfig['value']): number {
  const spend = features.spend_90d_minor ?? 0;
  const inflow = features.inflow_90d_minor ?? 0;
  const sticky = features.sticky_products ?? 0;
  const tenure = features.tenure_days ?? 0;
  const m = ((spend / 3) * cfg.spendMargin + (inflow / 3) * cfg.inflowMargin) / cfg.minorPerMajor + sticky * cfg.productMargin;
  const factors = factorsOf(cfg);
  return m * (tenure < 365 ? factors.firstYear : factors.established);
}

/** The discounted retention factor Σ q^k of each annual churn of a config, computed once per config. */
const FACTORS = new WeakMap<LifecycleConfig['value'], { firstYear: number; established: number }>();

function factorsOf(cfg: LifecycleConfig['value']): { firstYear: number; established: number } {
  let factors = FACTORS.get(cfg);
  if (factors === undefined) {
    factors = { firstYear: retentionFactor(cfg, cfg.firstYearChurn), established: retentionFactor(cfg, cfg.establishedChurn) };
    FACTORS.set(cfg, factors);
  }
  return factors;
}

function retentionFactor(cfg: LifecycleConfig['value'], annualChurn: number): number {
  const r = (1 - annualChurn) ** (1 / 12);
  const delta = (1 + cfg.annualDiscount) ** (1 / 12);
  const q = r / delta;
  const h = cfg.horizonMonths;
  return q === 1 ? h : (q * (1 - q ** h)) / (1 - q);
}
