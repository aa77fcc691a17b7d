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
    if (!less(a[i]!, a[p]!)) break;
    [a[i], a[p]] = [a[p]!, a[i]!];
    i = p;
  }
}

/** Removes and returns the least element, or undefined when empty. */
export function heapPop<T>(a: T[], less: (x: T, y: T) => boolean): T | undefined {
  const top = a[0];
  const last = a.pop();
  if (top === undefined || last === undefined || a.length === 0) return top;
  a[0] = last;
  let i = 0;
  for (;;) {
    const l = 2 * i + 1;
    const r = l + 1;
    let m = i;
    if (l < a.length && less(a[l]!, a[m]!)) m = l;
    if (r < a.length && less(a[r]!, a[m]!)) m = r;
    if (m === i) break;
    [a[i], a[m]] = [a[m]!, a[i]!];
    i = m;
  }
  return top;
}
