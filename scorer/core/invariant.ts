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

/** `list[i]` of a number list (or typed array) whose layout says index `i` is there; throws {@link InvariantError} if not. */
export function num(list: ArrayLike<number>, i: number): number {
  return list[i] ?? missing(list, i, 'number');
}

/**
 * `list[i]` of a list that holds no `undefined` (heap entries, lots in order) where index `i` is in range
 * by construction; throws {@link InvariantError} if not.
 */
export function item<T>(list: ArrayLike<T>, i: number): T {
  return list[i] ?? missing(list, i, 'element');
}

/**
 * `record[key]` of a record that holds no `undefined`, where `key` is known to be its own (a `for…in`
 * key, a checked `Object.hasOwn`); throws {@link InvariantError} if not.
 */
export function ownValue<T>(record: Readonly<Record<string, T>>, key: string): T {
  return record[key] ?? missingKey(key);
}

function missingKey(key: string): never {
  throw new InvariantError(`no value under ${JSON.stringify(key)}: the record promises one`);
}

// Out of line, so that num() and item() stay small enough to be inlined at every call site of a hot loop.
function missing(list: ArrayLike<unknown>, i: number, what: string): never {
  throw new InvariantError(`no ${what} at index ${i} of a list of ${list.length}: the layout promises one`);
}
