/**
 * The compact body of codec version 3: a self-describing binary encoding of plain data (objects, arrays,
 * strings, numbers, booleans, null, undefined) that round-trips exactly, shaped for what a customer's
 * state is made of — long arrays of same-shaped objects (lots, contacts), of time-ordered integers (days,
 * expiry instants) and of repeated short strings (tier, rules version, offer code).
 *
 * - **Tables.** An array of two or more plain objects is written column by column: the union of their keys
 *   once, then each column as one array (a missing key is written as `undefined` and left out again on
 *   reading). Columns are where the next two rules pay off.
 * - **Integer runs.** An array of two or more safe integers is written as its first value, the greatest
 *   common divisor of its successive differences, and each difference divided by it, as zigzag varints:
 *   epoch-ms instants a day apart cost a byte, not nine.
 * - **Repeats.** An array whose items are all the same primitive is the item once and a count.
 * - **Maps of records**: an object of two or more entries whose values are all plain objects (earning
 *   records by tx id) is its keys as a string column, then its values as a table.
 * - **Strings** are kept in a per-record dictionary: the first occurrence is written, later ones are an
 *   index. In an array of strings (a column of ids), a new string is written as the length of the prefix
 *   it shares with the one before and the rest (front coding, as sorted-key stores do). A string of URL-safe base-64 characters whose length is a multiple of 4 (the hashed ids of
 *   `seen`) is written as the bytes it encodes, three for every four characters.
 * - **Numbers**: integers 0–127 in one byte, other safe integers as varints, other numbers as float32
 *   when that is exact, else float64 (NaN, ±Infinity and −0 included).
 * Nothing is shared between records: each decodes on its own, whatever shape the core gives its state next.
 */

import { setOwn } from '../../core/mod.js';
import { BASE64_VALUE, base64url, ByteReader, ByteWriter, gcd, isPlainObject, isWellFormed, present, varintLength } from './bytes.js';

const T_NULL = 0x00;
const T_FALSE = 0x01;
const T_TRUE = 0x02;
const T_UNDEFINED = 0x03;
const T_UINT = 0x04;
const T_NEGINT = 0x05;
const T_FLOAT32 = 0x06;
const T_FLOAT64 = 0x07;
const T_STRING = 0x08;
const T_STRING_REF = 0x09;
const T_BASE64 = 0x0a;
const T_ARRAY = 0x0b;
const T_INT_RUN = 0x0c;
const T_REPEAT = 0x0d;
const T_OBJECT = 0x0e;
const T_TABLE = 0x0f;
const T_STRINGS = 0x10;
const T_MAP = 0x11;
/** Bytes at or above it are the integers 0–127. */
const FIXINT = 0x80;

/** Nesting deeper than this is refused (a state is a few levels deep; the bound keeps the stack safe). */
export const MAX_DEPTH = 64;
/** Items of a repeat, an integer run or a table at most (their bytes do not bound their length). */
export const MAX_ITEMS = 1 << 24;

/** ASCII text up to this many bytes is decoded by hand (TextDecoder's call costs more for short ids). */
const SHORT_TEXT = 64;
/** Shorter base-64 strings are written as text (the saving would not pay for the check). */
const BASE64_MIN_CHARS = 8;

const f32 = new Float32Array(1);
const f32Bytes = new Uint8Array(f32.buffer);
const f64 = new Float64Array(1);
const f64Bytes = new Uint8Array(f64.buffer);
const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder('utf-8', { fatal: true });

/** The body does not decode: truncated, an unknown tag, a reference to a string not yet defined. */
export class CompactFormatError extends Error {
  override readonly name = 'CompactFormatError';
}

class Writer extends ByteWriter {
  readonly strings = new Map<string, number>();

  constructor() {
    super(1 << 16);
  }

  reset(): void {
    this.length = 0;
    this.strings.clear();
  }

  /** The bytes a base-64 string (length a multiple of 4, all of the alphabet: checked by the caller) encodes. */
  base64(s: string): void {
    this.room((s.length / 4) * 3);
    const bytes = this.bytes;
    let o = this.length;
    for (let i = 0; i < s.length; i += 4, o += 3) {
      const v = (present(BASE64_VALUE[s.charCodeAt(i)], 'a base-64 character') << 18) | (present(BASE64_VALUE[s.charCodeAt(i + 1)], 'a base-64 character') << 12)
        | (present(BASE64_VALUE[s.charCodeAt(i + 2)], 'a base-64 character') << 6) | present(BASE64_VALUE[s.charCodeAt(i + 3)], 'a base-64 character');
      bytes[o] = v >>> 16;
      bytes[o + 1] = (v >>> 8) & 0xff;
      bytes[o + 2] = v & 0xff;
    }
    this.length = o;
  }
}

const isSafeInteger = Number.isSafeInteger;

function sameKeys(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
const isHighSurrogate = (code: number): boolean => code >= 0xd800 && code <= 0xdbff;

/** Integers an integer run holds: its zigzag differences stay safe. */
const RUN_LIMIT = 2 ** 51;

function isAscii(bytes: Uint8Array): boolean {
  for (const b of bytes) if (b >= 0x80) return false;
  return true;
}

function isBase64(s: string): boolean {
  if (s.length < BASE64_MIN_CHARS || s.length % 4 !== 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if ((BASE64_VALUE[c] ?? -1) < 0) return false; // codes past the table are outside the alphabet too
  }
  return true;
}

class Encoder {
  readonly out = new Writer();

  value(v: unknown, depth: number): void {
    if (depth > MAX_DEPTH) throw new TypeError(`compact codec: nested deeper than ${MAX_DEPTH} levels`);
    switch (typeof v) {
      case 'number': return this.number(v);
      case 'string': return this.string(v);
      case 'boolean': return this.out.byte(v ? T_TRUE : T_FALSE);
      case 'undefined': return this.out.byte(T_UNDEFINED);
      case 'object':
        if (v === null) return this.out.byte(T_NULL);
        if (Array.isArray(v)) return this.array(v, depth);
        if (isPlainObject(v)) return this.object(v, depth);
    }
    throw new TypeError(`compact codec: cannot encode a ${typeof v === 'object' ? (v as object).constructor?.name ?? 'object' : typeof v}`);
  }

  number(n: number): void {
    const out = this.out;
    if (isSafeInteger(n) && !Object.is(n, -0)) {
      if (n >= 0 && n < 0x80) return out.byte(FIXINT | n);
      out.byte(n >= 0 ? T_UINT : T_NEGINT);
      return out.varint(n >= 0 ? n : -n);
    }
    f32[0] = n;
    if (f32[0] === n || Number.isNaN(n)) {
      out.byte(T_FLOAT32);
      return out.raw(f32Bytes);
    }
    f64[0] = n;
    out.byte(T_FLOAT64);
    out.raw(f64Bytes);
  }

  string(s: string): void {
    const out = this.out;
    const known = out.strings.get(s);
    if (known !== undefined) {
      out.byte(T_STRING_REF);
      return out.varint(known);
    }
    out.strings.set(s, out.strings.size);
    if (isBase64(s)) {
      out.byte(T_BASE64);
      out.varint(s.length / 4);
      out.base64(s);
      return;
    }
    out.byte(T_STRING);
    this.text(s);
  }

  /** A string without a tag (object keys): its dictionary index + 1, or 0 then its text. */
  key(s: string): void {
    const out = this.out;
    const known = out.strings.get(s);
    if (known !== undefined) return out.varint(known + 1);
    out.strings.set(s, out.strings.size);
    out.varint(0);
    this.text(s);
  }

  /** Text: (UTF-8 byte length × 2) then the bytes; a string with a lone surrogate: (code units × 2 + 1) then UTF-16LE. */
  private text(s: string): void {
    const out = this.out;
    if (!isWellFormed(s)) {
      out.varint(s.length * 2 + 1);
      out.room(s.length * 2);
      for (let i = 0; i < s.length; i++) {
        const unit = s.charCodeAt(i);
        out.bytes[out.length++] = unit & 0xff;
        out.bytes[out.length++] = unit >>> 8;
      }
      return;
    }
    const start = out.length;
    out.varint(s.length * 2);
    out.room(s.length);
    const target = out.bytes;
    let o = out.length;
    let i = 0;
    for (; i < s.length; i++) {
      const code = s.charCodeAt(i);
      if (code >= 0x80) break;
      target[o++] = code;
    }
    if (i === s.length) {
      out.length = o;
      return;
    }
    out.length = start;
    const bytes = utf8.encode(s);
    out.varint(bytes.length * 2);
    out.raw(bytes);
  }

  array(a: readonly unknown[], depth: number): void {
    const out = this.out;
    const n = a.length;
    if (n > MAX_ITEMS) throw new RangeError(`compact codec: an array of ${n} items (at most ${MAX_ITEMS})`);
    if (n >= 2) {
      const first = a[0];
      if (typeof first === 'number' && this.intRun(a as readonly unknown[])) return;
      if (first === null || typeof first !== 'object') {
        let same = true;
        for (let i = 1; i < n && same; i++) same = Object.is(a[i], first);
        if (same) {
          out.byte(T_REPEAT);
          out.varint(n);
          return this.value(first, depth + 1);
        }
        if (typeof first === 'string' && a.every((x) => typeof x === 'string')) return this.strings(a as readonly string[]);
      } else if (isPlainObject(first) && a.every(isPlainObject)) {
        return this.table(a as readonly Record<string, unknown>[], depth);
      }
    }
    out.byte(T_ARRAY);
    out.varint(n);
    for (let i = 0; i < n; i++) this.value(a[i], depth + 1);
  }

  /**
   * Writes `a` as an integer run when every item is a safe integer and the run is no longer than the items
   * one by one (interleaved layouts such as the feature day buckets are not); false, nothing written, otherwise.
   */
  private intRun(a: readonly unknown[]): boolean {
    let divisor = 0;
    let plainBytes = 0;
    for (let i = 0; i < a.length; i++) {
      const x = a[i];
      if (typeof x !== 'number' || !isSafeInteger(x) || Object.is(x, -0) || Math.abs(x) >= RUN_LIMIT) return false;
      plainBytes += x >= 0 && x < 0x80 ? 1 : 1 + varintLength(Math.abs(x));
      if (i > 0) {
        if (divisor !== 1) divisor = gcd(divisor, Math.abs(x - (a[i - 1] as number)));
      }
    }
    if (divisor > 0) {
      let runBytes = varintLength(divisor);
      for (let i = 1; i < a.length && runBytes < plainBytes; i++) runBytes += varintLength(2 * Math.abs(((a[i] as number) - (a[i - 1] as number)) / divisor));
      if (runBytes >= plainBytes) return false;
    }
    const out = this.out;
    out.byte(T_INT_RUN);
    out.varint(a.length);
    out.zigzag(a[0] as number);
    out.varint(divisor);
    if (divisor === 0) return true;
    for (let i = 1; i < a.length; i++) out.zigzag(((a[i] as number) - (a[i - 1] as number)) / divisor);
    return true;
  }

  /**
   * Columns in the order their keys first appear (with a defined value), a missing or undefined value
   * written as `undefined`. Rows are read with `Object.keys`/`Object.values`, not a lookup per cell; a
   * row with the previous row's keys reuses its column positions.
   */
  private table(rows: readonly Record<string, unknown>[], depth: number): void {
    const n = rows.length;
    const keys: string[] = [];
    const columns: unknown[][] = [];
    const columnOf = new Map<string, number>();
    let previousKeys: readonly string[] = [];
    let positions: number[] = [];
    for (let i = 0; i < n; i++) {
      const row = present(rows[i], 'a table row');
      const rowKeys = Object.keys(row);
      if (!sameKeys(rowKeys, previousKeys)) {
        positions = new Array<number>(rowKeys.length).fill(-1);
        previousKeys = rowKeys;
      }
      const values = Object.values(row);
      for (let j = 0; j < rowKeys.length; j++) {
        const v = values[j];
        if (v === undefined) continue;
        let column = present(positions[j], 'a key position');
        if (column < 0) {
          const k = present(rowKeys[j], 'a row key');
          const known = columnOf.get(k);
          if (known === undefined) {
            column = keys.length;
            columnOf.set(k, column);
            keys.push(k);
            columns.push(new Array<unknown>(n).fill(undefined));
          } else column = known;
          positions[j] = column;
        }
        present(columns[column], 'a table column')[i] = v;
      }
    }
    const out = this.out;
    out.byte(T_TABLE);
    out.varint(n);
    out.varint(keys.length);
    for (const k of keys) this.key(k);
    for (const column of columns) this.array(column, depth + 1);
  }

  /** A string column: per item 0 (new, front-coded), 1 (new, base 64) or 2 + its dictionary index. */
  strings(a: readonly string[]): void {
    const out = this.out;
    out.byte(T_STRINGS);
    out.varint(a.length);
    let previous = '';
    for (const s of a) {
      const known = out.strings.get(s);
      if (known !== undefined) {
        out.varint(known + 2);
        continue;
      }
      out.strings.set(s, out.strings.size);
      let shared = 0;
      const limit = Math.min(s.length, previous.length);
      while (shared < limit && s.charCodeAt(shared) === previous.charCodeAt(shared)) shared++;
      if (shared > 0 && isHighSurrogate(s.charCodeAt(shared - 1))) shared--;
      if ((s.length / 4) * 3 < s.length - shared + 1 && isBase64(s)) {
        out.varint(1);
        out.varint(s.length / 4);
        out.base64(s);
        previous = s;
        continue;
      }
      out.varint(0);
      out.varint(shared);
      this.text(s.slice(shared));
      previous = s;
    }
  }

  object(o: Record<string, unknown>, depth: number): void {
    const out = this.out;
    let n = 0;
    let records = true;
    const own = Object.keys(o);
    for (const k of own) {
      const v = o[k];
      if (v === undefined) continue;
      n++;
      if (records && !isPlainObject(v)) records = false;
    }
    if (records && n >= 2) {
      const keys: string[] = [];
      const values: Record<string, unknown>[] = [];
      for (const k of own) {
        if (o[k] === undefined) continue;
        keys.push(k);
        values.push(o[k] as Record<string, unknown>);
      }
      out.byte(T_MAP);
      this.strings(keys);
      this.table(values, depth);
      return;
    }
    out.byte(T_OBJECT);
    out.varint(n);
    for (const k of own) {
      const v = o[k];
      if (v === undefined) continue;
      this.key(k);
      this.value(v, depth + 1);
    }
  }
}

/**
 * Scratch space where decoded one-byte strings are assembled, so each comes out as one flat string: built
 * by concatenation (four characters of base 64 at a time, a shared prefix and the rest), V8 keeps a string
 * as a tree of pieces, several times its size in the heap until something flattens it.
 */
let scratch = Buffer.allocUnsafe(1 << 12);

function scratchOf(n: number): Buffer {
  if (scratch.length < n) scratch = Buffer.allocUnsafe(Math.max(n, scratch.length * 2));
  return scratch;
}

class Decoder extends ByteReader {
  readonly strings: string[] = [];

  constructor(bytes: Uint8Array) {
    super(bytes, 0);
  }

  protected fail(detail: string): never {
    throw new CompactFormatError(`${detail} at byte ${this.offset} of ${this.bytes.length}`);
  }

  private take(n: number): Uint8Array {
    if (this.offset + n > this.bytes.length) this.fail('truncated');
    const s = this.bytes.subarray(this.offset, this.offset + n);
    this.offset += n;
    return s;
  }

  private text(): string {
    const s = this.chars();
    this.strings.push(s);
    return s;
  }

  /** What `Encoder.text` wrote. */
  private chars(): string {
    const header = this.varint();
    const length = Math.floor(header / 2);
    if (header % 2 === 0) {
      const bytes = this.take(length);
      if (length <= SHORT_TEXT && isAscii(bytes)) return String.fromCharCode.apply(null, bytes as unknown as number[]);
      try {
        return fromUtf8.decode(bytes);
      } catch (err) {
        if (err instanceof CompactFormatError) throw err;
        return this.fail('text that is not UTF-8');
      }
    }
    const bytes = this.take(length * 2);
    let s = '';
    for (let i = 0; i < bytes.length; i += 2) s += String.fromCharCode(present(bytes[i], 'a UTF-16 low byte') | (present(bytes[i + 1], 'a UTF-16 high byte') << 8));
    return s;
  }

  private ref(index: number): string {
    const s = this.strings[index];
    if (s === undefined) this.fail(`string reference ${index} before its definition`);
    return s;
  }

  private base64(): string {
    const groups = this.varint();
    const bytes = this.take(groups * 3);
    const s = base64url(bytes, 0, bytes.length);
    this.strings.push(s);
    return s;
  }

  key(): string {
    const index = this.varint();
    return index === 0 ? this.text() : this.ref(index - 1);
  }

  value(depth: number): unknown {
    if (depth > MAX_DEPTH) this.fail(`nested deeper than ${MAX_DEPTH} levels`);
    const tag = this.byte();
    if (tag >= FIXINT) return tag - FIXINT;
    switch (tag) {
      case T_NULL: return null;
      case T_FALSE: return false;
      case T_TRUE: return true;
      case T_UNDEFINED: return undefined;
      case T_UINT: return this.varint();
      case T_NEGINT: return -this.varint();
      case T_FLOAT32: f32Bytes.set(this.take(4)); return f32[0];
      case T_FLOAT64: f64Bytes.set(this.take(8)); return f64[0];
      case T_STRING: return this.text();
      case T_STRING_REF: return this.ref(this.varint());
      case T_BASE64: return this.base64();
      case T_ARRAY: {
        const n = this.count();
        const a: unknown[] = new Array(n);
        for (let i = 0; i < n; i++) a[i] = this.value(depth + 1);
        return a;
      }
      case T_INT_RUN: return this.intRun();
      case T_REPEAT: {
        const n = this.items();
        return new Array<unknown>(n).fill(this.value(depth + 1));
      }
      case T_OBJECT: {
        const n = this.count();
        const o: Record<string, unknown> = {};
        for (let i = 0; i < n; i++) setOwn(o, this.key(), this.value(depth + 1));
        return o;
      }
      case T_TABLE: return this.table(depth);
      case T_STRINGS: return this.stringColumn();
      case T_MAP: {
        if (this.byte() !== T_STRINGS) this.fail('map keys are not a string column');
        const keys = this.stringColumn();
        if (this.byte() !== T_TABLE) this.fail('map values are not a table');
        const values = this.table(depth);
        if (values.length !== keys.length) this.fail(`map of ${keys.length} keys has ${values.length} values`);
        const o: Record<string, unknown> = {};
        for (const [i, key] of keys.entries()) setOwn(o, key, values[i]);
        return o;
      }
    }
    return this.fail(`unknown tag 0x${tag.toString(16)}`);
  }

  /** An item count, never more than the bytes left could hold (a corrupt count must not allocate gigabytes). */
  private count(): number {
    const n = this.varint();
    if (n > this.bytes.length - this.offset) this.fail(`count ${n} exceeds the bytes left`);
    return n;
  }

  /** The length of a repeat, run or table: bounded by MAX_ITEMS, not by the bytes left. */
  private items(): number {
    const n = this.varint();
    if (n > MAX_ITEMS) this.fail(`${n} items (at most ${MAX_ITEMS})`);
    return n;
  }

  private stringColumn(): string[] {
    const n = this.count();
    const a: string[] = new Array(n);
    let previous = '';
    for (let i = 0; i < n; i++) {
      const h = this.varint();
      if (h >= 2) a[i] = this.ref(h - 2);
      else if (h === 1) previous = a[i] = this.base64();
      else {
        const shared = this.varint();
        if (shared > previous.length) this.fail(`prefix of ${shared} characters after a string of ${previous.length}`);
        const rest = this.chars();
        const s = shared === 0 ? rest : joined(previous, shared, rest);
        a[i] = s;
        this.strings.push(s);
        previous = s;
      }
    }
    return a;
  }

  private intRun(): number[] {
    const n = this.items();
    const a: number[] = new Array(n);
    const first = this.zigzag();
    a[0] = first;
    const divisor = this.varint();
    let last = first;
    for (let i = 1; i < n; i++) a[i] = last = divisor === 0 ? first : last + this.zigzag() * divisor;
    return a;
  }

  private table(depth: number): Record<string, unknown>[] {
    const n = this.items();
    const k = this.count();
    const keys: string[] = new Array(k);
    for (let j = 0; j < k; j++) keys[j] = this.key();
    const columns: unknown[][] = new Array(k);
    for (let j = 0; j < k; j++) {
      const column = this.value(depth + 1);
      if (!Array.isArray(column) || column.length !== n) this.fail(`table column ${keys[j]} is not ${n} items`);
      columns[j] = column;
    }
    const rows: Record<string, unknown>[] = new Array(n);
    const plainKeys = !keys.includes('__proto__');
    for (let i = 0; i < n; i++) {
      const row: Record<string, unknown> = {};
      for (let j = 0; j < k; j++) {
        const v = present(columns[j], 'a table column')[i];
        if (v === undefined) continue;
        const key = present(keys[j], 'a table key');
        if (plainKeys) row[key] = v;
        else setOwn(row, key, v);
      }
      rows[i] = row;
    }
    return rows;
  }
}

/** `previous.slice(0, shared) + rest` as one flat string when every character fits a byte (ids), else as V8 joins it. */
function joined(previous: string, shared: number, rest: string): string {
  const length = shared + rest.length;
  const out = scratchOf(length);
  for (let i = 0; i < shared; i++) {
    const code = previous.charCodeAt(i);
    if (code > 0xff) return previous.slice(0, shared) + rest;
    out[i] = code;
  }
  for (let i = 0; i < rest.length; i++) {
    const code = rest.charCodeAt(i);
    if (code > 0xff) return previous.slice(0, shared) + rest;
    out[shared + i] = code;
  }
  return out.toString('latin1', 0, length);
}

const encoder = new Encoder();

/** Encodes plain data; the bytes are a fresh copy (the encoder's buffer is reused). */
export function compactEncode(value: unknown): Uint8Array {
  encoder.out.reset();
  encoder.value(value, 0);
  return encoder.out.bytes.slice(0, encoder.out.length);
}

/** Decodes what `compactEncode` wrote; throws `CompactFormatError` on anything else. */
export function compactDecode(bytes: Uint8Array): unknown {
  const decoder = new Decoder(bytes);
  const value = decoder.value(0);
  if (decoder.offset !== bytes.length) throw new CompactFormatError(`${bytes.length - decoder.offset} bytes after the value`);
  return value;
}
