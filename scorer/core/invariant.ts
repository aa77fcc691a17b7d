/**
 * Reads that a layout guarantees. With `noUncheckedIndexedAccess`, `list[i]` is `T | undefined` even
 * where the layout says the element is there (a bucket of a fixed width, a vector of a fixed length);
 * these read it once, checked, and return `T`. A failed check is a broken invariant (corrupt state or a
 * bug), never an expected case: it throws {@link InvariantError} instead of carrying `undefined` on.
 *
 * One accessor per element kind (`num` for `number[]`; `f64`, `f32`, `i32`, `u32`, `u16`, `u8` for typed arrays), so
 * that each keyed load stays monomorphic where a hot loop inlines it: an optimised typed-array load is a
 * number, and the check folds away. `at` is for lists of anything else.
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

/** `record[key] = value` as an own property, a key `__proto__` included (never the prototype). */
export function setOwn<T>(record: Record<string, T>, key: string, value: T): void {
  if (key === '__proto__') Object.defineProperty(record, key, { value, enumerable: true, writable: true, configurable: true });
  else record[key] = value;
}

/** Sets each own entry of `from` in `into` ({@link setOwn}): a key already there keeps its place. */
export function setOwnAll<T>(into: Record<string, T>, from: Readonly<Record<string, T>>): Record<string, T> {
  for (const key in from) if (Object.hasOwn(from, key)) setOwn(into, key, from[key] as T);
  return into;
}

function missingKey(key: string): never {
  throw new InvariantError(`no value under ${JSON.stringify(key)}: the record promises one`);
}

/** `list[i]` of a `Float64Array` whose layout says index `i` is there; throws {@link InvariantError} if not. */
export function f64(list: Float64Array, i: number): number {
  return list[i] ?? missing(list, i);
}

/** `list[i]` of a `Float32Array` whose layout says index `i` is there; throws {@link InvariantError} if not. */
export function f32(list: Float32Array, i: number): number {
  return list[i] ?? missing(list, i);
}

/** `list[i]` of an `Int32Array` whose layout says index `i` is there; throws {@link InvariantError} if not. */
export function i32(list: Int32Array, i: number): number {
  return list[i] ?? missing(list, i);
}

/** `list[i]` of a `Uint16Array` whose layout says index `i` is there; throws {@link InvariantError} if not. */
export function u16(list: Uint16Array, i: number): number {
  return list[i] ?? missing(list, i);
}

/** `list[i]` of a `Uint32Array` whose layout says index `i` is there; throws {@link InvariantError} if not. */
export function u32(list: Uint32Array, i: number): number {
  return list[i] ?? missing(list, i);
}

/** `list[i]` of a `Uint8Array` whose layout says index `i` is there; throws {@link InvariantError} if not. */
export function u8(list: Uint8Array, i: number): number {
  return list[i] ?? missing(list, i);
}

// Out of line, so that the accessors stay small enough to be inlined at every call site of a hot loop.
function missing(list: ArrayLike<unknown>, i: number, what = 'number'): never {
  throw new InvariantError(`no ${what} at index ${i} of a list of ${list.length}: the layout promises one`);
}
