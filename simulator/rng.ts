/**
 * Seeded randomness for the simulator: a mulberry32 generator plus 32-bit hashing to derive
 * independent streams (one per customer and day), so output depends only on the seed.
 */
import { fmix32 } from '../contracts/subjects.js';

/** Mixes `v` into the 32-bit hash `h` (murmur3-style round plus finalizer). */
export function mix32(h: number, v: number): number {
  let k = Math.imul(v >>> 0, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  k = Math.imul(k, 0x1b873593);
  h ^= k;
  h = (h << 13) | (h >>> 19);
  h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  return fmix32(h);
}

/** Hashes a list of numbers (each taken as a 32-bit word; larger integers contribute their high word too). */
export function hashInts(...vs: number[]): number {
  let h = 0x9e3779b9;
  for (const v of vs) {
    h = mix32(h, v >>> 0);
    if (Math.abs(v) >= 2 ** 32) h = mix32(h, Math.floor(v / 2 ** 32) >>> 0);
  }
  return h;
}

export function hashString(s: string, h = 0x811c9dc5): number {
  for (let i = 0; i < s.length; i++) h = mix32(h, s.charCodeAt(i));
  return h;
}

export class Rng {
  private a: number;

  constructor(seed: number) {
    this.a = seed >>> 0;
  }

  /** Restarts the sequence from `seed` (reuses the object on hot paths). */
  reseed(seed: number): this {
    this.a = seed >>> 0;
    return this;
  }

  /** A float in [0, 1). */
  next(): number {
    this.a = (this.a + 0x6d2b79f5) >>> 0;
    let t = this.a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  range(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  normal(): number {
    const u = 1 - this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.next());
  }

  /** exp(N(mu, sigma²)). */
  lognormal(mu: number, sigma: number): number {
    return Math.exp(mu + sigma * this.normal());
  }

  /** A log-normal factor with mean 1. */
  factor(sigma: number): number {
    return Math.exp(sigma * this.normal() - (sigma * sigma) / 2);
  }

  exponential(rate: number): number {
    return -Math.log(1 - this.next()) / rate;
  }

  poisson(lambda: number): number {
    if (lambda <= 0) return 0;
    if (lambda > 30) return Math.max(0, Math.round(lambda + Math.sqrt(lambda) * this.normal()));
    const l = Math.exp(-lambda);
    let k = 0;
    let p = this.next();
    while (p > l) {
      k++;
      p *= this.next();
    }
    return k;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)] as T;
  }

  /** An index drawn with probability proportional to `weights[i]`. */
  weighted(weights: readonly number[]): number {
    let total = 0;
    for (const w of weights) total += w;
    let u = this.next() * total;
    for (let i = 0; i < weights.length; i++) {
      u -= weights[i] as number;
      if (u < 0) return i;
    }
    return weights.length - 1;
  }
}
