/**
 * The reasons stored with each churn score (column `churn_reasons` of `scored_transactions` and
 * `customer_state`, docs/models.md "Reasons"): which scores get them, how many, and the bounded JSON text
 * the core carries as is into the rows.
 *
 * ```json
 * {"method":"path","bias":-3.364254,"other":0.41207,
 *  "top":[{"feature":"recency_days","value":41,"contribution":1.20731}, …]}
 * ```
 *
 * - `top`: at most `top` reasons (≤ {@link MAX_REASONS}), largest |contribution| first, features with a zero
 *   contribution left out; `feature` is the model's input column (names cut at {@link MAX_FEATURE_NAME}
 *   characters), `value` what the scorer fed it (null when missing), `contribution` signed, in log-odds of churn
 *   before calibration.
 * - `bias` (the expected log-odds) and `other` (the contributions of every feature not in `top`): for `path`,
 *   `treeshap` and `linear`, `bias + other + Σ top.contribution` is the model's log-odds, so
 *   `sigmoid(…)` is the probability it returned before calibration. Occlusion reasons (`occlusion`) do not
 *   add up and carry neither.
 * - Numbers are rounded to 6 decimals; the text of 3 reasons is about 250 bytes.
 */
import { expectedValues, type Explainer, type Explanation, type Reason } from '../../../training/mod.js';
import { InvariantError, item, f64, i32, num } from '../../core/mod.js';

/** Most reasons a score may carry. */
export const MAX_REASONS = 10;
/** Longest feature name written; longer names are cut. */
export const MAX_FEATURE_NAME = 64;

/** Which scores carry reasons, and how many (the manifest's `reasons`, or the scorer's options). */
export interface ReasonsOptions {
  /** Reasons per score, 0 (off) to {@link MAX_REASONS}. Default 3. */
  top?: number;
  /**
   * Only scores at or above this probability carry reasons. Default: the model's `threshold` (the customers
   * it flags). Path attribution with its stored text costs about 2.5 µs of CPU a score (bench/reasons.ts),
   * a quarter of the scorer's per-event budget: 0 (every score) is a choice, not the default. Occlusion
   * reasons score one extra row per reference feature.
   */
  minProbability?: number;
  /** Tree attribution: `path` (default: Saabas, exact decomposition, cheap) or `treeshap` (exact Shapley values, ~100 µs for 60 trees). */
  method?: 'path' | 'treeshap';
}

/** The options in force for one model. */
export interface ReasonsPlan {
  top: number;
  minProbability: number;
  method: 'path' | 'treeshap';
}

/** A bad reasons option (from code; the manifest's are checked by its schema). */
export class ReasonsOptionError extends Error {
  constructor(field: string, problem: string) {
    super(`reasons.${field}: ${problem}`);
    this.name = 'ReasonsOptionError';
  }
}

/**
 * The plan for a model: the scorer's options over the manifest's, over the defaults.
 * @param threshold the model's decision threshold (the default `minProbability`).
 * @throws ReasonsOptionError naming a bad option.
 */
export function reasonsPlan(
  manifest: { top?: number; min_probability?: number; method?: 'path' | 'treeshap' } | undefined,
  options: ReasonsOptions | undefined,
  threshold: number,
): ReasonsPlan {
  const top = options?.top ?? manifest?.top ?? 3;
  const minProbability = options?.minProbability ?? manifest?.min_probability ?? threshold;
  const method = options?.method ?? manifest?.method ?? 'path';
  if (!Number.isInteger(top) || top < 0 || top > MAX_REASONS) throw new ReasonsOptionError('top', `must be an integer from 0 to ${MAX_REASONS} (got ${top})`);
  if (!(minProbability >= 0 && minProbability <= 1)) throw new ReasonsOptionError('min_probability', `must be a probability in [0, 1] (got ${minProbability})`);
  if (method !== 'path' && method !== 'treeshap') throw new ReasonsOptionError('method', `must be "path" or "treeshap" (got ${String(method)})`);
  return { top, minProbability, method };
}

/** The JSON text of a name, cut at {@link MAX_FEATURE_NAME}; cached (a model has few names). */
const quoted = new Map<string, string>();
function quote(name: string): string {
  let q = quoted.get(name);
  if (q === undefined) {
    q = JSON.stringify(name.length > MAX_FEATURE_NAME ? name.slice(0, MAX_FEATURE_NAME) : name);
    if (quoted.size < 100_000) quoted.set(name, q);
  }
  return q;
}

/** A number as stored: 6 decimals, null when not finite. */
export function reasonNumber(x: number): string {
  if (!Number.isFinite(x)) return 'null';
  const r = Math.round(x * 1e6) / 1e6;
  return r === 0 ? '0' : String(r);
}

function topJson(top: readonly Reason[], k: number): string {
  let s = '[';
  const n = Math.min(k, top.length, MAX_REASONS);
  for (const [i, r] of top.slice(0, n).entries()) {
    s += `${i ? ',' : ''}{"feature":${quote(r.feature)},"value":${reasonNumber(r.value)},"contribution":${reasonNumber(r.contribution)}}`;
  }
  return `${s}]`;
}

/**
 * The stored text of an exact explanation (trees or linear): its top `k` reasons, the bias and the rest.
 * @param method what produced it: `path`, `treeshap`, or `linear`.
 */
export function explanationJson(e: Explanation, k: number, method: 'path' | 'treeshap' | 'linear'): string {
  const n = Math.min(k, e.top.length, MAX_REASONS);
  let listed = 0;
  for (const r of e.top.slice(0, n)) listed += r.contribution;
  const other = e.margin - e.bias - listed;
  return `{"method":"${method}","bias":${reasonNumber(e.bias)},"other":${reasonNumber(other)},"top":${topJson(e.top, k)}}`;
}

/** The stored text of occlusion reasons (they do not add up: no bias, no rest). */
export function occlusionJson(top: readonly Reason[], k: number): string {
  return `{"method":"occlusion","top":${topJson(top, k)}}`;
}

/**
 * Path attribution compiled for the hot path: every tree's nodes in flat typed arrays, each split with the
 * change of the expected value down either branch precomputed, so a row is one walk per tree into a reused
 * buffer (training/reasons.ts's `explain(…, 'path')` gives the same numbers, allocating per row).
 */
export interface CompiledPath {
  features: readonly string[];
  /** Base score plus every tree's expected value. */
  bias: number;
  roots: Int32Array;
  feature: Int32Array;
  threshold: Float64Array;
  left: Int32Array;
  right: Int32Array;
  /** Expected value of the left (right) child minus the node's. */
  toLeft: Float64Array;
  toRight: Float64Array;
  /** {@link bias} as stored. */
  biasText: string;
  /** Per-row scratch: the contributions, and the top reasons' features and sizes. */
  phi: Float64Array;
  topIndex: Int32Array;
  topSize: Float64Array;
}

/** Compiles a trees sidecar for {@link pathReasonsJson}. */
export function compilePath(ex: Extract<Explainer, { kind: 'trees' }>): CompiledPath {
  const total = ex.trees.reduce((n, t) => n + t.feature.length, 0);
  const c: CompiledPath = {
    features: ex.features, bias: ex.base_score, roots: new Int32Array(ex.trees.length), feature: new Int32Array(total),
    threshold: new Float64Array(total), left: new Int32Array(total), right: new Int32Array(total),
    toLeft: new Float64Array(total), toRight: new Float64Array(total), phi: new Float64Array(ex.features.length),
    biasText: '', topIndex: new Int32Array(MAX_REASONS), topSize: new Float64Array(MAX_REASONS),
  };
  let at = 0;
  ex.trees.forEach((t, ti) => {
    const e = expectedValues(t);
    c.bias += f64(e, 0);
    c.roots[ti] = at;
    for (const [k, f] of t.feature.entries()) {
      c.feature[at + k] = f;
      if (f < 0) continue;
      c.threshold[at + k] = num(t.threshold, k);
      c.left[at + k] = at + num(t.left, k);
      c.right[at + k] = at + num(t.right, k);
      c.toLeft[at + k] = f64(e, num(t.left, k)) - f64(e, k);
      c.toRight[at + k] = f64(e, num(t.right, k)) - f64(e, k);
    }
    at += t.feature.length;
  });
  c.biasText = reasonNumber(c.bias);
  return c;
}

/**
 * The stored text of a row's path attribution (method `path`): the same numbers as
 * `explanationJson(explain(ex, row, k, 'path'), k, 'path')`.
 * @param row the model's input columns, as scored (a missing value, NaN, goes right).
 */
export function pathReasonsJson(c: CompiledPath, row: ArrayLike<number>, k: number): string {
  const phi = c.phi;
  const nf = phi.length;
  phi.fill(0);
  const { feature, threshold, left, right, toLeft, toRight, roots } = c;
  for (let t = 0; t < roots.length; t++) {
    let node = i32(roots, t);
    for (let f = i32(feature, node); f >= 0; f = i32(feature, node)) {
      const x = row[f];
      if (x === undefined) throw new InvariantError(`reasons: the trees split on column ${f} of a row of ${row.length}`);
      if (x <= f64(threshold, node)) {
        phi[f] = f64(phi, f) + f64(toLeft, node);
        node = i32(left, node);
      } else {
        phi[f] = f64(phi, f) + f64(toRight, node);
        node = i32(right, node);
      }
    }
  }
  // The top n by |contribution| in one pass (ties: the earlier feature), zeros left out.
  const n = Math.min(k, MAX_REASONS);
  const { topIndex, topSize } = c;
  let count = 0;
  let total = 0;
  for (let j = 0; j < nf; j++) {
    const v = f64(phi, j);
    total += v;
    const a = v < 0 ? -v : v;
    if (!(a > 0) || (count === n && !(a > f64(topSize, n - 1)))) continue;
    let at = count < n ? count++ : n - 1;
    while (at > 0 && f64(topSize, at - 1) < a) {
      topSize[at] = f64(topSize, at - 1);
      topIndex[at] = i32(topIndex, at - 1);
      at--;
    }
    topSize[at] = a;
    topIndex[at] = j;
  }
  let chosen = 0;
  let top = '';
  for (let q = 0; q < count; q++) {
    const j = i32(topIndex, q);
    chosen += f64(phi, j);
    const x = row[j];
    if (x === undefined) throw new InvariantError(`reasons: no column ${j} in a row of ${row.length}`);
    top += `${q ? ',' : ''}{"feature":${quote(item(c.features, j))},"value":${reasonNumber(x)},"contribution":${reasonNumber(f64(phi, j))}}`;
  }
  return `{"method":"path","bias":${c.biasText},"other":${reasonNumber(total - chosen)},"top":[${top}]}`;
}
