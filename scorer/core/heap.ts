import { item } from './invariant.js';

/**
 * A binary min-heap over a plain array (so it can live in checkpointed JSON state): `less` orders it,
 * and ties keep whatever order `less` gives them (make it total for deterministic output).
 */

/** Adds `x`. */
export function heapPush<T>(a: T[], x: T, less: (x: T, y: T) => boolean): void {
  a.push(x);
  let i = a.length - 1;
  while (i > 0) {
    const p = (i - 1) >> 1;
    const child = item(a, i);
    const parent = item(a, p);
    if (!less(child, parent)) break;
    a[i] = parent;
    a[p] = child;
    i = p;
  }
}

/** Removes and returns the least element, or undefined when empty. */
export function heapPop<T>(a: T[], less: (x: T, y: T) => boolean): T | undefined {
  const top = a[0];
  const last = a.pop();
  if (top === undefined || last === undefined || a.length === 0) return top;
  a[0] = last;
  siftDown(a, 0, less);
  return top;
}

/**
 * Removes every element `drop` selects, keeping the others' relative order, then restores the heap
 * order bottom-up (O(n): for rare removals such as an erased customer's timers). Returns how many went.
 */
export function heapRemoveWhere<T>(a: T[], drop: (x: T) => boolean, less: (x: T, y: T) => boolean): number {
  let kept = 0;
  for (const x of a) if (!drop(x)) a[kept++] = x;
  const removed = a.length - kept;
  if (removed === 0) return 0;
  a.length = kept;
  for (let i = (kept >> 1) - 1; i >= 0; i--) siftDown(a, i, less);
  return removed;
}

function siftDown<T>(a: T[], from: number, less: (x: T, y: T) => boolean): void {
  let i = from;
  for (;;) {
    const l = 2 * i + 1;
    const r = l + 1;
    const top = item(a, i);
    let m = i;
    let least = top;
    if (l < a.length) {
      const left = item(a, l);
      if (less(left, least)) {
        m = l;
        least = left;
      }
    }
    if (r < a.length) {
      const right = item(a, r);
      if (less(right, least)) {
        m = r;
        least = right;
      }
    }
    if (m === i) break;
    a[i] = least;
    a[m] = top;
    i = m;
  }
}

/**
 * The `k` least elements of the heap `a` that `within` accepts, least first, leaving `a` as it is.
 * `within` must be monotone in the heap order (once an element is refused, so is every later one, as
 * "due by then" is): a refused element's subtree is never visited. O(k log k).
 */
export function heapPeekLeast<T>(a: readonly T[], k: number, within: (x: T) => boolean, less: (x: T, y: T) => boolean): T[] {
  const out: T[] = [];
  const frontier: number[] = [];
  const byElement = (i: number, j: number): boolean => less(item(a, i), item(a, j));
  if (a.length > 0) heapPush(frontier, 0, byElement);
  while (out.length < k) {
    const i = heapPop(frontier, byElement);
    if (i === undefined) break;
    const next = item(a, i);
    if (!within(next)) break;
    out.push(next);
    for (const child of [2 * i + 1, 2 * i + 2]) if (child < a.length) heapPush(frontier, child, byElement);
  }
  return out;
}
