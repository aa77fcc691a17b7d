/**
 * The churn reasons a score carries, as the scorer stores them (`churn_reasons` in `scored_transactions` and
 * `customer_state`, docs/models.md "Reasons"): JSON text whose `top` lists the largest contributions first.
 * Read by the API (`GET /v1/customers/:id`) and by the offer condition `when.churn_reasons` (docs/offers.md).
 */

/** One reason: a model input, the value the scorer fed it, and its signed contribution to the log-odds of churn. */
export interface ChurnReason {
  feature: string;
  /** null: the value was missing. */
  value: number | null;
  contribution: number;
}

/** Most reasons read from one text (the scorer stores at most 10). */
export const MAX_RETURNED_REASONS = 10;

const isReason = (r: unknown): r is ChurnReason => {
  if (typeof r !== 'object' || r === null) return false;
  const o = r as Record<string, unknown>;
  return typeof o.feature === 'string' && (o.value === null || typeof o.value === 'number') && typeof o.contribution === 'number';
};

/**
 * The reasons in a stored `churn_reasons` text, largest first as stored; `[]` when there are none (an empty
 * text: no explainer, or a score below the cut) or the text is not what the scorer writes.
 */
export function parseChurnReasons(text: unknown): ChurnReason[] {
  if (typeof text !== 'string' || text === '') return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return [];
  }
  const top = (parsed as { top?: unknown } | null)?.top;
  if (!Array.isArray(top)) return [];
  return top.filter(isReason).slice(0, MAX_RETURNED_REASONS).map((r) => ({ feature: r.feature, value: r.value, contribution: r.contribution }));
}
