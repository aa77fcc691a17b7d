/** `heapPeekLeast`: the k least elements within a bound, least first, the heap left as it was. */
import { describe, expect, it } from 'vitest';
import { heapPeekLeast, heapPop, heapPush } from '../../scorer/core/heap.js';

const less = (x: number, y: number): boolean => x < y;

function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1_664_525) + 1_013_904_223) >>> 0) / 2 ** 32);
}

describe('heapPeekLeast', () => {
  it('gives what popping would give, up to k and within the bound, and leaves the heap alone', () => {
    const rand = random(42);
    for (let round = 0; round < 200; round++) {
      const heap: number[] = [];
      const size = Math.floor(rand() * 300);
      for (let i = 0; i < size; i++) heapPush(heap, Math.floor(rand() * 100), less);
      const before = [...heap];
      const k = Math.floor(rand() * 50) + 1;
      const bound = Math.floor(rand() * 100);
      const peeked = heapPeekLeast(heap, k, (x) => x <= bound, less);
      expect(heap).toEqual(before);
      const popped: number[] = [];
      const copy = [...heap];
      for (let x = heapPop(copy, less); x !== undefined && x <= bound && popped.length < k; x = heapPop(copy, less)) popped.push(x);
      expect(peeked).toEqual(popped);
    }
  });

  it('is empty for an empty heap or when nothing is within the bound', () => {
    expect(heapPeekLeast([], 5, () => true, less)).toEqual([]);
    const heap: number[] = [];
    for (const x of [5, 3, 9]) heapPush(heap, x, less);
    expect(heapPeekLeast(heap, 5, (x) => x < 3, less)).toEqual([]);
  });
});
