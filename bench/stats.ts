/**
 * Small, pure statistics for the bench: percentiles (nearest rank), medians across repeats, and a
 * fixed-memory latency sample so that a long phase does not keep every value.
 */
import { num } from '../scorer/core/mod.js';

/** Nearest-rank percentile of already-sorted values (p in 0..100); NaN when empty. */
export function percentileSorted(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return num(sorted, Math.min(sorted.length - 1, Math.max(0, rank - 1)));
}

export function percentile(values: readonly number[], p: number): number {
  return percentileSorted([...values].sort((a, b) => a - b), p);
}

/** The median (mean of the two middle values for an even count); NaN when empty. */
export function median(values: readonly number[]): number {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return Number.NaN;
  const mid = v.length >> 1;
  return v.length % 2 ? num(v, mid) : (num(v, mid - 1) + num(v, mid)) / 2;
}

export function mean(values: readonly number[]): number {
  return values.length ? values.reduce((s, x) => s + x, 0) / values.length : Number.NaN;
}

/** Uniform reservoir sample (Algorithm R) of at most `capacity` values, plus exact count/min/max. */
export class Reservoir {
  private readonly values: number[] = [];
  count = 0;
  min = Number.POSITIVE_INFINITY;
  max = Number.NEGATIVE_INFINITY;
  private seed = 0x9e3779b9;

  constructor(private readonly capacity = 200_000) {}

  add(v: number): void {
    this.count++;
    if (v < this.min) this.min = v;
    if (v > this.max) this.max = v;
    if (this.values.length < this.capacity) {
      this.values.push(v);
      return;
    }
    const j = Math.floor(this.random() * this.count);
    if (j < this.capacity) this.values[j] = v;
  }

  addAll(vs: Iterable<number>): void {
    for (const v of vs) this.add(v);
  }

  /** p50/p99 and friends of what was sampled. */
  summary(): LatencySummary {
    const s = [...this.values].sort((a, b) => a - b);
    return {
      count: this.count,
      p50: percentileSorted(s, 50),
      p90: percentileSorted(s, 90),
      p99: percentileSorted(s, 99),
      max: this.count ? this.max : Number.NaN,
      mean: mean(s),
    };
  }

  /** xorshift32: deterministic, good enough for sampling. */
  private random(): number {
    let x = this.seed;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.seed = x >>> 0;
    return this.seed / 0x1_0000_0000;
  }
}

export interface LatencySummary {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

/** Rounds for display and JSON without losing the magnitude (3 significant digits below 100). */
export function round(v: number, digits = 3): number {
  if (!Number.isFinite(v)) return v;
  if (Math.abs(v) >= 100) return Math.round(v);
  return Number(v.toPrecision(digits));
}
