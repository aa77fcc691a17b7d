/**
 * Reads that a layout guarantees. With `noUncheckedIndexedAccess`, `list[i]` is `T | undefined` even
 * where the layout says the element is there (a bucket of a fixed width, a vector of a fixed length);
 * these read it once, checked, and return `T`. A failed check is a broken invariant (corrupt state or a
 * bug), never an expected case: it throws {@link InvariantError} instead of carrying `undefined` on.
 */

/** A layout invariant does not hold: an element the layout promises is missing. */
export class InvariantError extends Error {
  override readonly name = 'InvariantError';
}

/** `list[i]` of a number list whose layout says index `i` is there; throws {@link InvariantError} if not. */
export function num(list: readonly number[], i: number): number {
  return list[i] ?? missing(list, i);
}

// Out of line, so that num() stays small enough to be inlined at every call site of a hot loop.
function missing(list: readonly number[], i: number): never {
  throw new InvariantError(`no number at index ${i} of a list of ${list.length}: the layout promises one`);
}
