/**
 * A small seeded PRNG (mulberry32): the same seed gives the same sequence on every platform, so
 * training runs that subsample are reproducible.
 */
export interface Rng {
  /** A float in [0, 1). */
  next(): number;
  /** An integer in [0, n). */
  int(n: number): number;
}

/** Creates a PRNG from a 32-bit seed. */
export function createRng(seed: number): Rng {
  let a = seed >>> 0;
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return { next, int: (n) => Math.floor(next() * n) };
}

/**
 * `k` distinct indices out of `0..n-1`, in ascending order (selection sampling, Knuth's algorithm S):
 * one pass, no shuffling, deterministic for a given PRNG state.
 */
export function sampleIndices(n: number, k: number, rng: Rng): Uint32Array {
  const out = new Uint32Array(k);
  let chosen = 0;
  for (let i = 0; i < n && chosen < k; i++) {
    if (rng.next() * (n - i) < k - chosen) out[chosen++] = i;
  }
  return out;
}
