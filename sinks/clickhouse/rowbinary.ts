/**
 * ClickHouse's RowBinary format, encoded from the sink's rows for one table of schema.ts.
 *
 * The encoder is strict: a value is written only when its binary form is exactly what ClickHouse would
 * have stored from the same value in JSONEachRow; anything else is refused with a
 * {@link RowBinaryEncodeError} naming the table and the column. What a row may hold, per type:
 *
 * | type | accepted values | refused |
 * | --- | --- | --- |
 * | String, LowCardinality(String) | a string (UTF-8) | anything else |
 * | FixedString(N) | a string of at most N UTF-8 bytes (zero-padded) | longer strings |
 * | UInt8…UInt64, Int8…Int64 | an integer number or a bigint within the type's range; `true`/`false` as 1/0 | fractions, NaN, out of range, numeric strings |
 * | Float32, Float64 | a finite number | NaN and ±Infinity (JSON would have stored 0: the sink leaves that to the JSON path) |
 * | Bool | a boolean, or 0/1 | anything else |
 * | DateTime64(P[, 'UTC']), DateTime | an RFC 3339 / ISO 8601 string (`2026-01-31T12:00:00.123Z`, an offset, or no zone = UTC), fractional digits past P truncated | other time zones, out-of-range years, numbers |
 * | Date, Date32 | `YYYY-MM-DD` | other spellings, out of range |
 * | Enum8/Enum16 | a member's name or value | anything else |
 * | Nullable(T) | `null` (or an omitted value) or what T accepts | |
 * | Array(T), Map(K, V) | an array; a plain object or a `Map` | |
 *
 * An omitted (`undefined`) value, or `null` in a column that is not Nullable, is written as the column's
 * default (a literal `DEFAULT` in schema.ts) or else the type's zero, as JSONEachRow does with
 * `input_format_defaults_for_omitted_fields` and `input_format_null_as_default`. Keys of a row that are
 * not columns are ignored (`input_format_skip_unknown_fields`).
 */
import type { Column, TableDef } from './schema.js';

/** A value that the column's type cannot hold, or that the encoder will not guess about. */
export class RowBinaryEncodeError extends Error {
  override readonly name = 'RowBinaryEncodeError';
  constructor(readonly table: string, readonly column: string, readonly type: string, readonly reason: string) {
    super(`${table}.${column} (${type}): ${reason}`);
  }
}

/** A column type the encoder has no binary form for (the table is then written as JSON). */
export class RowBinaryUnsupportedTypeError extends Error {
  override readonly name = 'RowBinaryUnsupportedTypeError';
  constructor(readonly table: string, readonly column: string, readonly type: string) {
    super(`${table}.${column}: no RowBinary encoder for type ${type}`);
  }
}

/** Thrown inside a type's writer; the table encoder adds table and column. */
class ValueError extends Error {}

/** A growable output buffer. */
export class BinaryWriter {
  buf: Buffer;
  pos = 0;

  constructor(initialBytes = 64 * 1024) {
    this.buf = Buffer.allocUnsafe(initialBytes);
  }

  ensure(bytes: number): void {
    if (this.pos + bytes <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + bytes) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  /** `n` zero bytes (a column's default value). */
  zeros(n: number): void {
    this.ensure(n);
    this.buf.fill(0, this.pos, this.pos + n);
    this.pos += n;
  }

  u8(v: number): void {
    this.ensure(1);
    this.buf[this.pos++] = v;
  }

  varint(v: number): void {
    this.ensure(10);
    while (v >= 0x80) {
      this.buf[this.pos++] = (v & 0x7f) | 0x80;
      v = Math.floor(v / 128);
    }
    this.buf[this.pos++] = v;
  }

  string(s: string): void {
    // Short strings: at most 3 bytes per UTF-16 unit, so the length fits a one-byte varint.
    if (s.length <= 42) {
      this.ensure(1 + s.length * 3);
      const buf = this.buf;
      const at = this.pos + 1;
      let i = 0;
      // ASCII by hand: cheaper than a call into the UTF-8 encoder for ids and codes.
      for (; i < s.length; i++) {
        const c = s.charCodeAt(i);
        if (c >= 0x80) break;
        buf[at + i] = c;
      }
      const n = i === s.length ? i : buf.write(s, at, 'utf8');
      this.buf[this.pos] = n;
      this.pos += 1 + n;
      return;
    }
    const n = Buffer.byteLength(s, 'utf8');
    this.varint(n);
    this.ensure(n);
    this.pos += this.buf.write(s, this.pos, 'utf8');
  }

  /** The bytes written so far (a view: copy before writing more). */
  view(from = 0): Buffer {
    return this.buf.subarray(from, this.pos);
  }
}

/** One type's binary form: `write` a present value, `zero` the type's default. */
interface TypeCodec {
  write(w: BinaryWriter, v: unknown): void;
  zero(w: BinaryWriter): void;
}

/** Splits `a, b(c, d), 'e, f'` at top-level commas. */
function splitArgs(s: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let quote = false;
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (quote) {
      if (c === '\\') i++;
      else if (c === "'") quote = false;
      continue;
    }
    if (c === "'") quote = true;
    else if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (c === ',' && depth === 0) {
      out.push(s.slice(start, i).trim());
      start = i + 1;
    }
  }
  out.push(s.slice(start).trim());
  return out.filter((a) => a !== '');
}

function parseType(type: string): { name: string; args: string[] } {
  const t = type.trim();
  const open = t.indexOf('(');
  if (open < 0 || !t.endsWith(')')) return { name: t, args: [] };
  return { name: t.slice(0, open).trim(), args: splitArgs(t.slice(open + 1, -1)) };
}

function unquote(s: string): string {
  return s.slice(1, -1).replace(/\\(.)/g, '$1');
}

const INT_RANGES: Record<string, { bytes: 1 | 2 | 4 | 8; signed: boolean }> = {
  UInt8: { bytes: 1, signed: false }, UInt16: { bytes: 2, signed: false }, UInt32: { bytes: 4, signed: false }, UInt64: { bytes: 8, signed: false },
  Int8: { bytes: 1, signed: true }, Int16: { bytes: 2, signed: true }, Int32: { bytes: 4, signed: true }, Int64: { bytes: 8, signed: true },
};

const U64_MAX = (1n << 64n) - 1n;
const I64_MIN = -(1n << 63n);
const I64_MAX = (1n << 63n) - 1n;

function describe(v: unknown): string {
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}`;
  if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean') return `${typeof v} ${String(v)}`;
  return v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v;
}

function intCodec(type: string, bytes: 1 | 2 | 4 | 8, signed: boolean): TypeCodec {
  if (bytes === 8) {
    const min = signed ? I64_MIN : 0n;
    const max = signed ? I64_MAX : U64_MAX;
    return {
      write(w, v) {
        w.ensure(8);
        if (typeof v === 'boolean') v = v ? 1 : 0;
        if (typeof v === 'number' && Number.isSafeInteger(v) && (signed || v >= 0)) {
          // Two's complement halves without a BigInt.
          const lo = v >>> 0;
          const hi = Math.floor(v / 4294967296);
          w.buf.writeUInt32LE(lo, w.pos);
          w.buf.writeInt32LE(hi, w.pos + 4);
          w.pos += 8;
          return;
        }
        let b: bigint;
        if (typeof v === 'bigint') b = v;
        else if (typeof v === 'number' && Number.isInteger(v)) b = BigInt(v);
        else throw new ValueError(`${describe(v)} is not an integer`);
        if (b < min || b > max) throw new ValueError(`${String(b)} is out of range`);
        if (signed) w.buf.writeBigInt64LE(b, w.pos);
        else w.buf.writeBigUInt64LE(b, w.pos);
        w.pos += 8;
      },
      zero(w) {
        w.zeros(8);
      },
    };
  }
  const span = 2 ** (bytes * 8);
  const min = signed ? -span / 2 : 0;
  const max = signed ? span / 2 - 1 : span - 1;
  return {
    write(w, v) {
      if (typeof v === 'boolean') v = v ? 1 : 0;
      if (typeof v === 'bigint' && v >= BigInt(min) && v <= BigInt(max)) v = Number(v);
      if (typeof v !== 'number' || !Number.isInteger(v)) throw new ValueError(`${describe(v)} is not an integer`);
      if (v < min || v > max) throw new ValueError(`${v} is out of range [${min}, ${max}] of ${type}`);
      w.ensure(bytes);
      if (bytes === 1) w.buf[w.pos] = v & 0xff;
      else if (bytes === 2) w.buf.writeUInt16LE(v & 0xffff, w.pos);
      else w.buf.writeUInt32LE(v >>> 0, w.pos);
      w.pos += bytes;
    },
    zero(w) {
      w.zeros(bytes);
    },
  };
}

function floatCodec(bytes: 4 | 8): TypeCodec {
  return {
    write(w, v) {
      if (typeof v !== 'number') throw new ValueError(`${describe(v)} is not a number`);
      if (!Number.isFinite(v)) throw new ValueError(`${v} is not finite (NaN and Infinity are refused)`);
      w.ensure(bytes);
      if (bytes === 4) w.buf.writeFloatLE(v, w.pos);
      else w.buf.writeDoubleLE(v, w.pos);
      w.pos += bytes;
    },
    zero(w) {
      w.zeros(bytes);
    },
  };
}

const DATE_RE = /^(\d{4})-(\d{2})-(\d{2})$/;
const TIME_RE = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?(Z|[+-]\d{2}(?::?\d{2})?)?$/;
const DAY_MS = 86_400_000;

/** Days since 1970-01-01 of a valid calendar date, else undefined. */
function civilDays(y: number, m: number, d: number): number | undefined {
  if (m < 1 || m > 12 || d < 1) return undefined;
  // Date.UTC reads years 0–99 as 1900–1999: computed 400 years (146,097 days) later instead.
  const ms = Date.UTC(y + 400, m - 1, d);
  const back = new Date(ms);
  if (back.getUTCDate() !== d || back.getUTCMonth() !== m - 1) return undefined;
  return ms / DAY_MS - 146_097;
}

const D0 = 48;

/** Two ASCII digits at `i` as a number, or -1. */
function two(s: string, i: number): number {
  const a = s.charCodeAt(i) - D0;
  const b = s.charCodeAt(i + 1) - D0;
  return a >= 0 && a <= 9 && b >= 0 && b <= 9 ? a * 10 + b : -1;
}

/**
 * Milliseconds since the epoch of `YYYY-MM-DDTHH:MM:SS.sssZ` (what the core writes, `toISOString`), or
 * undefined for any other spelling (then the general parser decides).
 */
function canonicalIsoMs(s: string): number | undefined {
  if (s.length !== 24 || s.charCodeAt(4) !== 45 || s.charCodeAt(7) !== 45 || s.charCodeAt(10) !== 84 || s.charCodeAt(13) !== 58
    || s.charCodeAt(16) !== 58 || s.charCodeAt(19) !== 46 || s.charCodeAt(23) !== 90) return undefined;
  const c = two(s, 0);
  const yy = two(s, 2);
  const mo = two(s, 5);
  const d = two(s, 8);
  const h = two(s, 11);
  const mi = two(s, 14);
  const sec = two(s, 17);
  const ms2 = two(s, 20);
  const ms3 = s.charCodeAt(22) - D0;
  if (c < 19 || yy < 0 || mo < 1 || mo > 12 || d < 1 || d > 28 || h < 0 || h > 23 || mi < 0 || mi > 59 || sec < 0 || sec > 59 || ms2 < 0 || ms3 < 0 || ms3 > 9) return undefined;
  return Date.UTC(c * 100 + yy, mo - 1, d, h, mi, sec) + ms2 * 10 + ms3;
}

/** Parses an ISO 8601 / RFC 3339 time into whole seconds since the epoch and the fraction's digits. */
function parseTime(v: unknown): { seconds: number; fraction: string } {
  if (typeof v !== 'string') throw new ValueError(`${describe(v)} is not a time string`);
  const m = TIME_RE.exec(v);
  if (!m) throw new ValueError(`${describe(v)} is not an ISO 8601 time`);
  const days = civilDays(Number(m[1]), Number(m[2]), Number(m[3]));
  const h = Number(m[4] ?? 0);
  const mi = Number(m[5] ?? 0);
  const s = Number(m[6] ?? 0);
  if (days === undefined || h > 23 || mi > 59 || s > 59) throw new ValueError(`${describe(v)} is not a valid time`);
  let offset = 0;
  const zone = m[8];
  if (zone && zone !== 'Z') {
    const digits = zone.replace(':', '');
    const oh = Number(digits.slice(1, 3));
    const om = Number(digits.slice(3, 5) || '0');
    if (oh > 23 || om > 59) throw new ValueError(`${describe(v)} has an invalid offset`);
    offset = (zone[0] === '-' ? -1 : 1) * (oh * 3600 + om * 60);
  }
  return { seconds: days * 86400 + h * 3600 + mi * 60 + s - offset, fraction: m[7] ?? '' };
}

/** DateTime64 holds 1900-01-01 00:00:00 to 2299-12-31 23:59:59 (UTC). */
const DT64_MIN_S = Date.UTC(1900, 0, 1) / 1000;
const DT64_MAX_S = Date.UTC(2300, 0, 1) / 1000 - 1;

function timeZoneArg(arg: string | undefined, type: string): void {
  if (arg === undefined) return;
  const tz = unquote(arg);
  if (tz !== 'UTC' && tz !== 'Etc/UTC') throw new ValueError(`${type}: only UTC columns are encoded`);
}

function dateTime64Codec(type: string, args: string[]): TypeCodec {
  const precision = Number(args[0] ?? 3);
  if (!Number.isInteger(precision) || precision < 0 || precision > 9) throw new ValueError(`bad precision in ${type}`);
  timeZoneArg(args[1], type);
  const scale = 10 ** precision;
  const putMs = (w: BinaryWriter, ms: number): void => {
    w.ensure(8);
    w.buf.writeUInt32LE(ms >>> 0, w.pos);
    w.buf.writeInt32LE(Math.floor(ms / 4294967296), w.pos + 4);
    w.pos += 8;
  };
  // A batch repeats times (a transaction's time in several tables): the last one is remembered.
  let lastText = '';
  let lastMs = 0;
  return {
    write(w, v) {
      if (precision === 3 && typeof v === 'string') {
        if (v === lastText) return putMs(w, lastMs);
        const ms = canonicalIsoMs(v);
        // Days 1..28 only: later days go the general way, which checks the month's length.
        if (ms !== undefined && ms >= DT64_MIN_S * 1000 && ms < (DT64_MAX_S + 1) * 1000) {
          lastText = v;
          lastMs = ms;
          return putMs(w, ms);
        }
      }
      const { seconds, fraction } = parseTime(v);
      if (seconds < DT64_MIN_S || seconds > DT64_MAX_S) throw new ValueError(`${describe(v)} is outside 1900-01-01 … 2299-12-31`);
      const frac = Number(fraction.slice(0, precision).padEnd(precision, '0') || '0');
      w.ensure(8);
      if (precision <= 3) {
        const ticks = seconds * scale + frac;
        w.buf.writeUInt32LE(ticks >>> 0, w.pos);
        w.buf.writeInt32LE(Math.floor(ticks / 4294967296) | 0, w.pos + 4);
      } else {
        w.buf.writeBigInt64LE(BigInt(seconds) * BigInt(scale) + BigInt(frac), w.pos);
      }
      w.pos += 8;
    },
    zero(w) {
      w.zeros(8);
    },
  };
}

function dateTimeCodec(type: string, args: string[]): TypeCodec {
  timeZoneArg(args[0], type);
  return {
    write(w, v) {
      const { seconds } = parseTime(v);
      if (seconds < 0 || seconds > 0xffffffff) throw new ValueError(`${describe(v)} is outside 1970 … 2106`);
      w.ensure(4);
      w.buf.writeUInt32LE(seconds, w.pos);
      w.pos += 4;
    },
    zero(w) {
      w.zeros(4);
    },
  };
}

function dateCodec(wide: boolean): TypeCodec {
  const min = wide ? Date.UTC(1900, 0, 1) / DAY_MS : 0;
  const max = wide ? Date.UTC(2299, 11, 31) / DAY_MS : 0xffff;
  const bytes = wide ? 4 : 2;
  return {
    write(w, v) {
      const m = typeof v === 'string' ? DATE_RE.exec(v) : null;
      if (!m) throw new ValueError(`${describe(v)} is not a YYYY-MM-DD date`);
      const days = civilDays(Number(m[1]), Number(m[2]), Number(m[3]));
      if (days === undefined) throw new ValueError(`${describe(v)} is not a valid date`);
      if (days < min || days > max) throw new ValueError(`${describe(v)} is out of the type's range`);
      w.ensure(bytes);
      if (wide) w.buf.writeInt32LE(days, w.pos);
      else w.buf.writeUInt16LE(days, w.pos);
      w.pos += bytes;
    },
    zero(w) {
      w.zeros(bytes);
    },
  };
}

const STRING: TypeCodec = {
  write(w, v) {
    if (typeof v !== 'string') throw new ValueError(`${describe(v)} is not a string`);
    w.string(v);
  },
  zero(w) {
    w.u8(0);
  },
};

function fixedStringCodec(n: number): TypeCodec {
  return {
    write(w, v) {
      if (typeof v !== 'string') throw new ValueError(`${describe(v)} is not a string`);
      const bytes = Buffer.byteLength(v, 'utf8');
      if (bytes > n) throw new ValueError(`${bytes} bytes do not fit FixedString(${n})`);
      w.ensure(n);
      w.buf.write(v, w.pos, 'utf8');
      w.buf.fill(0, w.pos + bytes, w.pos + n);
      w.pos += n;
    },
    zero(w) {
      w.zeros(n);
    },
  };
}

const BOOL: TypeCodec = {
  write(w, v) {
    if (v === true || v === 1) w.u8(1);
    else if (v === false || v === 0) w.u8(0);
    else throw new ValueError(`${describe(v)} is not a boolean`);
  },
  zero(w) {
    w.u8(0);
  },
};

function enumCodec(type: string, bytes: 1 | 2, args: string[]): TypeCodec {
  const byName = new Map<string, number>();
  for (const a of args) {
    const member = /^(?<quoted>'(?:\\.|[^'\\])*')\s*=\s*(?<value>-?\d+)$/.exec(a)?.groups;
    if (!member?.quoted || !member.value) throw new ValueError(`cannot read the members of ${type}`);
    byName.set(unquote(member.quoted), Number(member.value));
  }
  const values = new Set(byName.values());
  const first = Math.min(...values);
  const put = (w: BinaryWriter, n: number): void => {
    w.ensure(bytes);
    if (bytes === 1) w.buf.writeInt8(n, w.pos);
    else w.buf.writeInt16LE(n, w.pos);
    w.pos += bytes;
  };
  return {
    write(w, v) {
      const n = typeof v === 'string' ? byName.get(v) : typeof v === 'number' && values.has(v) ? v : undefined;
      if (n === undefined) throw new ValueError(`${describe(v)} is not a member of ${type}`);
      put(w, n);
    },
    zero(w) {
      put(w, first);
    },
  };
}

function nullableCodec(inner: TypeCodec): TypeCodec {
  return {
    write(w, v) {
      if (v === null || v === undefined) {
        w.u8(1);
        return;
      }
      w.u8(0);
      inner.write(w, v);
    },
    zero(w) {
      w.u8(1);
    },
  };
}

function arrayCodec(inner: TypeCodec): TypeCodec {
  return {
    write(w, v) {
      if (!Array.isArray(v)) throw new ValueError(`${describe(v)} is not an array`);
      w.varint(v.length);
      for (const item of v as unknown[]) inner.write(w, item);
    },
    zero(w) {
      w.u8(0);
    },
  };
}

function mapCodec(key: TypeCodec, value: TypeCodec): TypeCodec {
  return {
    write(w, v) {
      const entries = v instanceof Map ? [...(v as Map<unknown, unknown>)] : v !== null && typeof v === 'object' && !Array.isArray(v) ? Object.entries(v) : undefined;
      if (!entries) throw new ValueError(`${describe(v)} is not a map`);
      w.varint(entries.length);
      for (const [k, x] of entries) {
        key.write(w, k);
        value.write(w, x);
      }
    },
    zero(w) {
      w.u8(0);
    },
  };
}

/** The codec of a ClickHouse type; throws ValueError for a type without one. */
function codecFor(type: string): TypeCodec {
  const { name, args } = parseType(type);
  const int = INT_RANGES[name];
  if (int) return intCodec(name, int.bytes, int.signed);
  switch (name) {
    case 'String': return STRING;
    case 'FixedString': return fixedStringCodec(Number(args[0]));
    case 'LowCardinality': return codecFor(args[0] ?? '');
    case 'Nullable': return nullableCodec(codecFor(args[0] ?? ''));
    case 'Float32': return floatCodec(4);
    case 'Float64': return floatCodec(8);
    case 'Bool': case 'Boolean': return BOOL;
    case 'DateTime64': return dateTime64Codec(type, args);
    case 'DateTime': return dateTimeCodec(type, args);
    case 'Date': return dateCodec(false);
    case 'Date32': return dateCodec(true);
    case 'Enum8': return enumCodec(type, 1, args);
    case 'Enum16': return enumCodec(type, 2, args);
    case 'Array': return arrayCodec(codecFor(args[0] ?? ''));
    case 'Map': return mapCodec(codecFor(args[0] ?? ''), codecFor(args[1] ?? ''));
    default: throw new ValueError(`no RowBinary encoder for ${type}`);
  }
}

/** A column's SQL default as a value, when it is a literal (`''`, `'[]'`, `0`, `-1.5`, `NULL`). */
function literalDefault(sql: string | undefined): { value: unknown } | undefined {
  if (sql === undefined) return undefined;
  const s = sql.trim();
  if (/^NULL$/i.test(s)) return { value: null };
  if (/^'(?:\\.|[^'\\])*'$/.test(s)) return { value: unquote(s) };
  if (/^-?\d+(\.\d+)?$/.test(s)) return { value: Number(s) };
  return undefined;
}

interface ColumnCodec {
  name: string;
  type: string;
  codec: TypeCodec;
  /** Writes what an omitted value stores. */
  omitted(w: BinaryWriter): void;
  nullable: boolean;
}

function columnCodec(table: string, c: Column): ColumnCodec {
  let codec: TypeCodec;
  try {
    codec = codecFor(c.type);
  } catch (e) {
    if (e instanceof ValueError) throw new RowBinaryUnsupportedTypeError(table, c.name, c.type);
    throw e;
  }
  const nullable = parseType(c.type).name === 'Nullable';
  const literal = literalDefault(c.default);
  if (c.default !== undefined && !literal) throw new RowBinaryUnsupportedTypeError(table, c.name, `${c.type} DEFAULT ${c.default} (not a literal)`);
  let omitted: (w: BinaryWriter) => void = (w) => codec.zero(w);
  if (literal && literal.value !== null) {
    // Encoded once: the default is a constant.
    const w = new BinaryWriter(64);
    try {
      codec.write(w, literal.value);
    } catch (e) {
      if (e instanceof ValueError) throw new RowBinaryEncodeError(table, c.name, c.type, `the default ${c.default}: ${e.message}`);
      throw e;
    }
    const bytes = Buffer.from(w.view());
    omitted = (out) => {
      out.ensure(bytes.length);
      bytes.copy(out.buf, out.pos);
      out.pos += bytes.length;
    };
  }
  return { name: c.name, type: c.type, codec, omitted, nullable };
}

/** A row the encoder refused, with its index in the input. */
export interface RefusedEncoding<R = Readonly<Record<string, unknown>>> {
  index: number;
  row: R;
  error: RowBinaryEncodeError;
}

/** One encoded piece of a table's rows: at most `maxBytes` (unless a single row is larger). */
export interface EncodedChunk<R = Readonly<Record<string, unknown>>> {
  data: Buffer;
  /** Indices into the input of the rows in `data`, in order. */
  indices: number[];
  /** The rows in `data`, in order. */
  rows: R[];
}

export interface EncodedRows<R = Readonly<Record<string, unknown>>> {
  chunks: EncodedChunk<R>[];
  refused: RefusedEncoding<R>[];
}

/** Encodes rows of one table in RowBinary, columns in the order of {@link columns}. */
export class RowBinaryTableEncoder {
  readonly table: string;
  /** The column list the data is written for (`INSERT INTO t (…) FORMAT RowBinary`). */
  readonly columns: readonly string[];
  private readonly codecs: ColumnCodec[];
  private readonly writer = new BinaryWriter();

  /** @throws RowBinaryUnsupportedTypeError when a column's type or default has no binary form. */
  constructor(def: TableDef) {
    this.table = def.name;
    this.codecs = def.columns.map((c) => columnCodec(def.name, c));
    this.columns = this.codecs.map((c) => c.name);
  }

  /** Appends one row to `w`; on a refused value `w` is left as it was and the error thrown. */
  encodeRow(w: BinaryWriter, row: Readonly<Record<string, unknown>>): void {
    const start = w.pos;
    for (const c of this.codecs) {
      const v = row[c.name];
      try {
        if (v === undefined || (v === null && !c.nullable)) c.omitted(w);
        else c.codec.write(w, v);
      } catch (e) {
        w.pos = start;
        if (e instanceof ValueError) throw new RowBinaryEncodeError(this.table, c.name, c.type, e.message);
        throw e;
      }
    }
  }

  /**
   * Encodes `rows` into chunks of at most `maxBytes` each (default: one chunk), leaving out the rows
   * with a value the encoder refuses. The chunks' buffers are copies (safe to hold while encoding more).
   */
  encode<R extends Readonly<Record<string, unknown>>>(rows: readonly R[], maxBytes = Infinity): EncodedRows<R> {
    const w = this.writer;
    w.pos = 0;
    const chunks: EncodedChunk<R>[] = [];
    const refused: RefusedEncoding<R>[] = [];
    let indices: number[] = [];
    let chunkRows: R[] = [];
    let chunkStart = 0;
    rows.forEach((row, i) => {
      const before = w.pos;
      try {
        this.encodeRow(w, row);
      } catch (e) {
        if (!(e instanceof RowBinaryEncodeError)) throw e;
        refused.push({ index: i, row, error: e });
        return;
      }
      if (w.pos - chunkStart > maxBytes && indices.length > 0) {
        chunks.push({ data: Buffer.from(w.buf.subarray(chunkStart, before)), indices, rows: chunkRows });
        indices = [];
        chunkRows = [];
        chunkStart = before;
      }
      indices.push(i);
      chunkRows.push(row);
    });
    if (indices.length > 0) chunks.push({ data: Buffer.from(w.buf.subarray(chunkStart, w.pos)), indices, rows: chunkRows });
    // A huge batch must not keep its buffer alive for ever.
    if (w.buf.length > 64 * 1024 * 1024) this.writer.buf = Buffer.allocUnsafe(64 * 1024);
    return { chunks, refused };
  }
}
