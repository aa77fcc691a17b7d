/**
 * Uplift of a campaign: the conversion rate of treated decisions minus that of holdout decisions, with a
 * confidence interval for the difference of two independent proportions. The SQL views of
 * sinks/clickhouse/offer-views.ts compute the same numbers; tests compare the two.
 *
 * - Newcombe's hybrid score interval (Newcombe 1998, method 10), from the Wilson score interval of each
 *   rate — well-behaved for small counts and rates near 0 or 1; the one the reports lead with.
 * - Wald: d ± z·√(p₁(1−p₁)/n₁ + p₂(1−p₂)/n₂) — the textbook one, for comparison.
 */

export interface Counts {
  /** Decisions (offers) in the group. */
  n: number;
  /** Of those, converted within their window. */
  x: number;
}

export interface Interval { lo: number; hi: number }

export interface Uplift {
  treatedRate: number;
  holdoutRate: number;
  /** treatedRate − holdoutRate. */
  uplift: number;
  newcombe: Interval;
  wald: Interval;
  /** Relative uplift (treated / holdout − 1); null when the holdout rate is 0. */
  relative: number | null;
}

/** z for a two-sided 95 % interval. */
export const Z95 = 1.959963984540054;

/** Wilson score interval of a proportion x / n (n > 0). */
export function wilson(x: number, n: number, z = Z95): Interval {
  if (n <= 0) return { lo: 0, hi: 1 };
  const p = x / n;
  const z2 = z * z;
  const denom = 1 + z2 / n;
  const centre = (p + z2 / (2 * n)) / denom;
  const half = (z * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n))) / denom;
  return { lo: Math.max(0, centre - half), hi: Math.min(1, centre + half) };
}

/** Uplift and its intervals; undefined when either group is empty. */
export function uplift(treated: Counts, holdout: Counts, z = Z95): Uplift | undefined {
  if (treated.n <= 0 || holdout.n <= 0) return undefined;
  const p1 = treated.x / treated.n;
  const p2 = holdout.x / holdout.n;
  const d = p1 - p2;
  const w1 = wilson(treated.x, treated.n, z);
  const w2 = wilson(holdout.x, holdout.n, z);
  const newcombe = {
    lo: d - Math.sqrt((p1 - w1.lo) ** 2 + (w2.hi - p2) ** 2),
    hi: d + Math.sqrt((w1.hi - p1) ** 2 + (p2 - w2.lo) ** 2),
  };
  const se = Math.sqrt((p1 * (1 - p1)) / treated.n + (p2 * (1 - p2)) / holdout.n);
  return { treatedRate: p1, holdoutRate: p2, uplift: d, newcombe, wald: { lo: d - z * se, hi: d + z * se }, relative: p2 > 0 ? p1 / p2 - 1 : null };
}
