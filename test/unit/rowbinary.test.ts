/**
 * The RowBinary encoder, type by type: the exact bytes ClickHouse reads, the edge values (empty and
 * non-ASCII strings, negative and 64-bit integers, NaN, DateTime64 precision and offsets, nulls) and a
 * clear refusal naming table and column for a value that does not fit.
 */
import { describe, expect, it } from 'vitest';
import { RowBinaryEncodeError, RowBinaryTableEncoder, RowBinaryUnsupportedTypeError } from '../../sinks/clickhouse/rowbinary.js';
import { TABLES, type Column } from '../../sinks/clickhouse/schema.js';

const encoderOf = (...columns: Column[]): RowBinaryTableEncoder => new RowBinaryTableEncoder({ name: 't', comment: '', columns, orderBy: [] });

/** The bytes of one row with a single column of `type` holding `value`. */
function bytes(type: string, value: unknown, extra: Partial<Column> = {}): number[] {
  const { chunks, refused } = encoderOf({ name: 'c', type, ...extra }).encode([{ c: value }]);
  if (refused.length > 0) throw refused[0]!.error;
  return [...chunks[0]!.data];
}

const le = (n: bigint, width: number): number[] => Array.from({ length: width }, (_, i) => Number((BigInt.asUintN(width * 8, n) >> BigInt(8 * i)) & 0xffn));

describe('strings', () => {
  it('writes a varint length and the UTF-8 bytes', () => {
    expect(bytes('String', '')).toEqual([0]);
    expect(bytes('String', 'abc')).toEqual([3, 97, 98, 99]);
    expect(bytes('LowCardinality(String)', 'é')).toEqual([2, 0xc3, 0xa9]);
    expect(bytes('String', '🙂')).toEqual([4, 0xf0, 0x9f, 0x99, 0x82]);
    expect(bytes('String', 'x\u0000y')).toEqual([3, 120, 0, 121]);
  });

  it('uses a multi-byte length past 127 bytes, also for short strings of wide characters', () => {
    const long = 'a'.repeat(300);
    expect(bytes('String', long).slice(0, 2)).toEqual([0xac, 0x02]);
    expect(bytes('String', long)).toHaveLength(302);
    const wide = 'ب'.repeat(64); // 128 bytes in 64 UTF-16 units
    expect(bytes('String', wide).slice(0, 2)).toEqual([0x80, 0x01]);
    expect(bytes('String', 'ب'.repeat(42))).toHaveLength(85);
  });

  it('pads FixedString and refuses a longer value', () => {
    expect(bytes('FixedString(4)', 'ab')).toEqual([97, 98, 0, 0]);
    expect(() => bytes('FixedString(2)', 'abc')).toThrow(/do not fit FixedString\(2\)/);
  });

  it('refuses a number in a String column', () => {
    expect(() => bytes('String', 12)).toThrow(RowBinaryEncodeError);
  });
});

describe('integers', () => {
  it('writes little-endian two’s complement at the type’s width', () => {
    expect(bytes('UInt8', 255)).toEqual([255]);
    expect(bytes('Int8', -128)).toEqual([0x80]);
    expect(bytes('UInt16', 0x1234)).toEqual([0x34, 0x12]);
    expect(bytes('Int32', -2)).toEqual([0xfe, 0xff, 0xff, 0xff]);
    expect(bytes('UInt32', 4294967295)).toEqual([255, 255, 255, 255]);
    expect(bytes('Int64', -1)).toEqual(le(-1n, 8));
    expect(bytes('Int64', -(2 ** 40) - 5)).toEqual(le(-(2n ** 40n) - 5n, 8));
    expect(bytes('UInt64', Number.MAX_SAFE_INTEGER)).toEqual(le(BigInt(Number.MAX_SAFE_INTEGER), 8));
    expect(bytes('UInt64', 2 ** 60)).toEqual(le(2n ** 60n, 8));
    expect(bytes('UInt64', 2n ** 64n - 1n)).toEqual(le(2n ** 64n - 1n, 8));
    expect(bytes('Int64', -(2n ** 63n))).toEqual(le(-(2n ** 63n), 8));
  });

  it('takes booleans as 1 and 0 (as JSONEachRow does)', () => {
    expect(bytes('UInt8', true)).toEqual([1]);
    expect(bytes('UInt64', false)).toEqual(le(0n, 8));
  });

  it('refuses fractions, NaN, numeric strings and values out of range, naming the column', () => {
    expect(() => bytes('UInt8', 256)).toThrow(/t\.c \(UInt8\): 256 is out of range/);
    expect(() => bytes('UInt16', -1)).toThrow(/out of range/);
    expect(() => bytes('Int32', 1.5)).toThrow(/not an integer/);
    expect(() => bytes('UInt64', -1)).toThrow(/out of range/);
    expect(() => bytes('UInt64', 2n ** 64n)).toThrow(/out of range/);
    expect(() => bytes('Int64', Number.NaN)).toThrow(/not an integer/);
    expect(() => bytes('UInt64', '12')).toThrow(/the string "12" is not an integer/);
  });
});

describe('floats', () => {
  it('writes IEEE 754 little-endian', () => {
    const f64 = Buffer.alloc(8);
    f64.writeDoubleLE(0.1);
    expect(bytes('Float64', 0.1)).toEqual([...f64]);
    const f32 = Buffer.alloc(4);
    f32.writeFloatLE(0.05);
    expect(bytes('Float32', 0.05)).toEqual([...f32]);
    expect(bytes('Float64', -0)).toEqual([0, 0, 0, 0, 0, 0, 0, 0x80]);
  });

  it('refuses NaN and ±Infinity (JSON would have turned them into null and 0)', () => {
    expect(() => bytes('Float32', Number.NaN)).toThrow(/NaN is not finite/);
    expect(() => bytes('Float64', Number.POSITIVE_INFINITY)).toThrow(/not finite/);
    expect(() => bytes('Float64', Number.NEGATIVE_INFINITY)).toThrow(/not finite/);
  });
});

describe('times and dates', () => {
  const dt3 = "DateTime64(3, 'UTC')";
  const ms = (iso: string): number[] => le(BigInt(Date.parse(iso)), 8);

  it('writes DateTime64(3) as milliseconds since the epoch', () => {
    expect(bytes(dt3, '1970-01-01T00:00:00.001Z')).toEqual(le(1n, 8));
    expect(bytes(dt3, '2026-01-31T12:34:56.789Z')).toEqual(ms('2026-01-31T12:34:56.789Z'));
    expect(bytes(dt3, '2026-01-31T12:34:56Z')).toEqual(ms('2026-01-31T12:34:56.000Z'));
    expect(bytes(dt3, '1969-12-31T23:59:59.999Z')).toEqual(le(-1n, 8));
    expect(bytes(dt3, '1900-01-01T00:00:00.000Z')).toEqual(ms('1900-01-01T00:00:00.000Z'));
  });

  it('reads the canonical form (toISOString) the same as any other spelling, also twice in a row', () => {
    for (const iso of ['2026-01-31T23:59:59.999Z', '2024-02-29T00:00:00.000Z', '1900-01-01T00:00:00.000Z', '2299-12-31T23:59:59.999Z', '1969-07-20T20:17:40.001Z']) {
      const want = le(BigInt(Date.parse(iso)), 8);
      expect(bytes(dt3, iso)).toEqual(want);
      const enc = encoderOf({ name: 'a', type: dt3 }, { name: 'b', type: dt3 });
      expect([...enc.encode([{ a: iso, b: iso }, { a: iso.replace('Z', '+00:00'), b: iso }]).chunks[0]!.data]).toEqual([...want, ...want, ...want, ...want]);
    }
    expect(() => bytes(dt3, '1899-12-31T23:59:59.999Z')).toThrow(/outside/);
  });

  it('truncates digits past the precision, reads offsets and takes no zone as UTC', () => {
    expect(bytes(dt3, '2026-01-31T12:34:56.7899Z')).toEqual(ms('2026-01-31T12:34:56.789Z'));
    expect(bytes(dt3, '2026-01-31T12:34:56.5+03:30')).toEqual(ms('2026-01-31T09:04:56.500Z'));
    expect(bytes(dt3, '2026-01-31T12:34:56.5-0500')).toEqual(ms('2026-01-31T17:34:56.500Z'));
    expect(bytes(dt3, '2026-01-31 12:34:56.5')).toEqual(ms('2026-01-31T12:34:56.500Z'));
    expect(bytes("DateTime64(6, 'UTC')", '2026-01-31T12:34:56.123456789Z')).toEqual(le(BigInt(Date.parse('2026-01-31T12:34:56Z')) * 1000n + 123456n, 8));
    expect(bytes('DateTime64(0)', '1970-01-01T00:01:00.9Z')).toEqual(le(60n, 8));
    expect(bytes("DateTime('UTC')", '1970-01-02T00:00:00Z')).toEqual([0x80, 0x51, 0x01, 0x00]);
  });

  it('refuses impossible times, years the type cannot hold, numbers, and columns in another zone', () => {
    expect(() => bytes(dt3, '2026-02-30T00:00:00Z')).toThrow(/not a valid time/);
    expect(() => bytes(dt3, '2026-01-01T24:00:00Z')).toThrow(/not a valid time/);
    expect(() => bytes(dt3, '1899-12-31T23:59:59Z')).toThrow(/outside 1900-01-01/);
    expect(() => bytes(dt3, '2300-01-01T00:00:00Z')).toThrow(/outside/);
    expect(() => bytes(dt3, '0050-01-01T00:00:00.000Z')).toThrow(/outside/);
    expect(() => bytes(dt3, '2026-02-29T00:00:00.000Z')).toThrow(/not a valid time/);
    expect(() => bytes(dt3, 1_700_000_000_000)).toThrow(/not a time string/);
    expect(() => bytes(dt3, 'yesterday')).toThrow(/not an ISO 8601 time/);
    expect(() => encoderOf({ name: 'c', type: "DateTime64(3, 'Asia/Tehran')" })).toThrow(RowBinaryUnsupportedTypeError);
  });

  it('writes Date as days since the epoch (UInt16) and Date32 as Int32', () => {
    expect(bytes('Date', '1970-01-02')).toEqual([1, 0]);
    expect(bytes('Date', '2026-03-01')).toEqual(le(BigInt(Date.UTC(2026, 2, 1) / 86_400_000), 2));
    expect(bytes('Date32', '1969-12-31')).toEqual(le(-1n, 4));
    expect(() => bytes('Date', '1969-12-31')).toThrow(/out of the type's range/);
    expect(() => bytes('Date', '2026-02-29')).toThrow(/not a valid date/);
    expect(() => bytes('Date', '2026-03-01T00:00:00Z')).toThrow(/not a YYYY-MM-DD date/);
  });
});

describe('Nullable, Bool, Enum, Array, Map', () => {
  it('writes a null flag before the value', () => {
    expect(bytes('Nullable(Date)', null)).toEqual([1]);
    expect(bytes('Nullable(Date)', undefined)).toEqual([1]);
    expect(bytes('Nullable(Date)', '1970-01-02')).toEqual([0, 1, 0]);
    expect(bytes('Nullable(UInt8)', 0)).toEqual([0, 0]);
  });

  it('writes Bool and Enum members', () => {
    expect(bytes('Bool', true)).toEqual([1]);
    expect(bytes('Bool', 0)).toEqual([0]);
    expect(() => bytes('Bool', 'yes')).toThrow(/not a boolean/);
    expect(bytes("Enum8('offer' = 1, 'survey' = -2)", 'survey')).toEqual([0xfe]);
    expect(bytes("Enum16('a' = 1, 'b' = 300)", 300)).toEqual([0x2c, 0x01]);
    expect(() => bytes("Enum8('offer' = 1)", 'other')).toThrow(/not a member/);
  });

  it('writes arrays and maps with a varint count', () => {
    expect(bytes('Array(String)', ['a', ''])).toEqual([2, 1, 97, 0]);
    expect(bytes('Array(Nullable(UInt8))', [])).toEqual([0]);
    expect(bytes('Map(String, UInt8)', { a: 1 })).toEqual([1, 1, 97, 1]);
    expect(bytes('Map(String, UInt8)', new Map([['b', 2]]))).toEqual([1, 1, 98, 2]);
    expect(() => bytes('Array(UInt8)', [1, 300])).toThrow(/out of range/);
  });
});

describe('rows', () => {
  it('writes an omitted value, or null in a column that is not Nullable, as the column default or the type’s zero', () => {
    const enc = encoderOf(
      { name: 'a', type: 'String', default: "'[]'" }, { name: 'b', type: 'UInt64', default: '0' },
      { name: 'c', type: "DateTime64(3, 'UTC')" }, { name: 'd', type: 'Nullable(UInt8)', default: 'NULL' }, { name: 'e', type: 'Float32' },
    );
    const { chunks } = enc.encode([{ unknown: 'ignored', e: null }]);
    expect([...chunks[0]!.data]).toEqual([2, 91, 93, ...le(0n, 8), ...le(0n, 8), 1, 0, 0, 0, 0]);
  });

  it('refuses a column whose default is an expression', () => {
    expect(() => encoderOf({ name: 'a', type: 'UInt64', default: 'now()' })).toThrow(/not a literal/);
  });

  it('leaves a refused row out, names table and column, and keeps the other rows whole', () => {
    const enc = new RowBinaryTableEncoder(TABLES.find((d) => d.name === 'points_ledger')!);
    const good = { entry_id: 'e1', customer_id: 'C1', kind: 'earn', points: -25, occurred_at: '2026-01-01T00:00:00Z', balance_after: 10, stream_seq: 1 };
    const { chunks, refused } = enc.encode([good, { ...good, entry_id: 'e2', balance_after: 'x' }, { ...good, entry_id: 'e3' }]);
    expect(refused.map((r) => r.index)).toEqual([1]);
    expect(refused[0]!.error).toMatchObject({ table: 'points_ledger', column: 'balance_after', type: 'Int64' });
    expect(refused[0]!.error.message).toBe('points_ledger.balance_after (Int64): the string "x" is not an integer');
    expect(chunks.map((c) => c.indices)).toEqual([[0, 2]]);
    const one = enc.encode([good]).chunks[0]!.data;
    expect(chunks[0]!.data.subarray(0, one.length)).toEqual(one);
    expect(chunks[0]!.data.length).toBe(2 * one.length);
  });

  it('cuts chunks at maxBytes between rows', () => {
    const enc = encoderOf({ name: 'a', type: 'String' });
    const rows = Array.from({ length: 10 }, (_, i) => ({ a: 'x'.repeat(9) + String(i) }));
    const { chunks } = enc.encode(rows, 25);
    expect(chunks.map((c) => c.indices)).toEqual([[0, 1], [2, 3], [4, 5], [6, 7], [8, 9]]);
    expect(chunks.every((c) => c.data.length === 22)).toBe(true);
    expect(enc.encode(rows, 5).chunks).toHaveLength(10);
  });

  it('has an encoder for every table of the schema', () => {
    for (const def of TABLES) expect(new RowBinaryTableEncoder(def).columns).toEqual(def.columns.map((c) => c.name));
  });
});
