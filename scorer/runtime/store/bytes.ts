/**
 * What the state codec's writers share (compact.ts, shapes.ts, fields.ts): a growing byte buffer with LEB128
 * varints, and the URL-safe base-64 alphabet the remembered ids' hashes are written in.
 */

export const BASE64_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
/** Character code → 6-bit value, −1 outside the alphabet (codes 0–127). */
export const BASE64_VALUE = new Int8Array(128).fill(-1);
for (let i = 0; i < 64; i++) BASE64_VALUE[BASE64_ALPHABET.charCodeAt(i)] = i;
/**
 * Bytes `start` to `end` (whole groups of three) in that alphabet, by Node's native encoder: no padding.
 * Faster than a loop (a customer's remembered ids: 10.5 → 8.4 µs); writing them natively was slower
 * (23 → 31 µs), a call costing more than the few characters of each.
 */
export function base64url(bytes: Uint8Array, start: number, end: number): string {
  const buffer = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return buffer.toString('base64url', start, end);
}

/**
 * A value the layout promises, read at the call site (so each site's indexed load stays monomorphic):
 * an index the loop's bounds keep in range, a key a map was built with. Throws naming `what` when it is
 * absent, a bug or a record the bounds checks let through; never carries `undefined` on as 0.
 */
export function present<T>(value: T | undefined, what: string): T {
  return value === undefined ? absent(what) : value;
}

// Out of line, so that present() stays small enough to be inlined in the codec's loops.
function absent(what: string): never {
  throw new RangeError(`${what} is missing: the layout promises it`);
}

/** A plain object (of Object's prototype, or none): what the state's records and maps are made of. */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

/** `String.prototype.isWellFormed` (Node 20+; not in this TypeScript lib yet): no lone surrogate. */
export const isWellFormed = (s: string): boolean => (s as unknown as { isWellFormed(): boolean }).isWellFormed();

/** FNV-1a, 32 bits, of `bytes[start..end)`: the checksum of a sealed chunk or table. */
export function fnv1a(bytes: Uint8Array, start: number, end: number): number {
  let h = 0x811c9dc5;
  for (let i = start; i < end; i++) h = Math.imul(h ^ (bytes[i] as number), 0x01000193);
  return h >>> 0;
}

/** Greatest common divisor of two non-negative safe integers (0 with 0 is 0): the divisor of an integer run or a column. */
export function gcd(a: number, b: number): number {
  while (b !== 0) {
    const rest = a % b;
    a = b;
    b = rest;
  }
  return a;
}

/** Bytes the LEB128 varint of a zigzagged safe integer can take (56 bits). */
export const MAX_VARINT_BYTES = 8;

/**
 * The LEB128 varint of a non-negative safe integer at `bytes[at]`, room for it checked by the caller;
 * returns the offset after it. What `ByteWriter.varint` writes, for a loop that keeps the offset itself.
 */
export function putVarint(bytes: Uint8Array, at: number, n: number): number {
  if (n <= 0x7fffffff) {
    while (n >= 0x80) {
      bytes[at++] = (n & 0x7f) | 0x80;
      n >>>= 7;
    }
  } else {
    while (n >= 0x80) {
      bytes[at++] = (n % 0x80) | 0x80;
      n = Math.floor(n / 0x80);
    }
  }
  bytes[at++] = n;
  return at;
}

/** Bytes of the varint of `n` (a non-negative safe integer: at most 8). */
export function varintLength(n: number): number {
  if (n < 0x80) return 1;
  if (n < 0x4000) return 2;
  if (n < 0x200000) return 3;
  if (n < 0x10000000) return 4;
  if (n < 2 ** 35) return 5;
  if (n < 2 ** 42) return 6;
  if (n < 2 ** 49) return 7;
  return 8;
}

/** A signed safe integer zigzagged: 0, −1, 1, −2, … as 0, 1, 2, 3, … */
export function zigzagOf(n: number): number {
  return n < 0 ? -n * 2 - 1 : n * 2;
}

/** The signed integer `z` is the zigzag of ({@link zigzagOf}'s inverse). */
export function unzigzag(z: number): number {
  return z % 2 === 1 ? -(z + 1) / 2 : z / 2;
}

export class ByteWriter {
  bytes: Uint8Array;
  length = 0;

  constructor(initialBytes: number) {
    this.bytes = new Uint8Array(initialBytes);
  }

  room(n: number): void {
    if (this.length + n <= this.bytes.length) return;
    let size = this.bytes.length * 2;
    while (size < this.length + n) size *= 2;
    const grown = new Uint8Array(size);
    grown.set(this.bytes.subarray(0, this.length));
    this.bytes = grown;
  }

  byte(b: number): void {
    this.room(1);
    this.bytes[this.length++] = b;
  }

  raw(source: Uint8Array): void {
    this.room(source.length);
    this.bytes.set(source, this.length);
    this.length += source.length;
  }

  /** LEB128 of a non-negative safe integer. */
  varint(n: number): void {
    this.room(MAX_VARINT_BYTES);
    this.length = putVarint(this.bytes, this.length, n);
  }

  /** A signed safe integer as a varint: 0, −1, 1, −2, … as 0, 1, 2, 3, … */
  zigzag(n: number): void {
    this.varint(zigzagOf(n));
  }
}

/** Reads what a ByteWriter wrote; a subclass says how a malformed input is refused (its own error class). */
export abstract class ByteReader {
  constructor(readonly bytes: Uint8Array, public offset: number) {}

  /** Throws the subclass's format error, naming `detail` and where. */
  protected abstract fail(detail: string): never;

  byte(): number {
    const b = this.bytes[this.offset];
    if (b === undefined) this.fail('truncated');
    this.offset++;
    return b;
  }

  varint(): number {
    let n = 0;
    let scale = 1;
    for (;;) {
      const b = this.byte();
      n += (b & 0x7f) * scale;
      if (b < 0x80) break;
      scale *= 0x80;
      if (scale > 2 ** 56) this.fail('varint too long');
    }
    return n;
  }

  zigzag(): number {
    return unzigzag(this.varint());
  }
}
