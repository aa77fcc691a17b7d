/**
 * chDB writes the `Native` format as a client of protocol revision 0 would read it. Clients
 * that send `client_protocol_version=N` over HTTP (clickhouse-go, so Grafana's ClickHouse data
 * source in HTTP mode) expect the revision-N layout: a BlockInfo before every block (N > 0)
 * and a "has custom serialization" byte after every column type (N ≥ 54454). This module
 * walks the revision-0 stream and re-frames it; the column data itself is copied unchanged.
 */

/** First protocol revision whose Native blocks carry the custom-serialization byte. */
export const REVISION_WITH_CUSTOM_SERIALIZATION = 54454;

/** Raised for a column type whose Native layout this walker does not know. */
export class UnsupportedNativeTypeError extends Error {}

interface TypeNode {
  name: string;
  args: string[];
}

function splitTopLevel(s: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let quote = '';
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s[i] as string;
    if (quote) {
      if (c === '\\') i++;
      else if (c === quote) quote = '';
      continue;
    }
    if (c === "'" || c === '"' || c === '`') quote = c;
    else if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (c === ',' && depth === 0) {
      out.push(s.slice(start, i).trim());
      start = i + 1;
    }
  }
  const last = s.slice(start).trim();
  if (last) out.push(last);
  return out;
}

function parseType(s: string): TypeNode {
  const t = s.trim();
  const open = t.indexOf('(');
  if (open < 0 || !t.endsWith(')')) return { name: t, args: [] };
  return { name: t.slice(0, open).trim(), args: splitTopLevel(t.slice(open + 1, -1)) };
}

/** Drops the element name of a named Tuple element (`x UInt8`, `"a b" String`). */
function tupleElementType(el: string): string {
  const quoted = /^(["`])(?:\\.|(?!\1).)*\1\s+(.+)$/s.exec(el);
  if (quoted) return quoted[2] as string;
  const named = /^[A-Za-z_][A-Za-z0-9_]*\s+(\S.*)$/s.exec(el);
  return named ? (named[1] as string) : el;
}

const FIXED: Record<string, number> = {
  UInt8: 1, Int8: 1, Bool: 1, Enum8: 1,
  UInt16: 2, Int16: 2, Date: 2, Enum16: 2, BFloat16: 2,
  UInt32: 4, Int32: 4, Float32: 4, Date32: 4, DateTime: 4, DateTime32: 4, IPv4: 4, Time: 4, Decimal32: 4,
  UInt64: 8, Int64: 8, Float64: 8, DateTime64: 8, Time64: 8, Decimal64: 8,
  UInt128: 16, Int128: 16, UUID: 16, IPv6: 16, Decimal128: 16,
  UInt256: 32, Int256: 32, Decimal256: 32,
  Nothing: 1,
};

const ALIASES: Record<string, string> = {
  Point: 'Tuple(Float64, Float64)',
  Ring: 'Array(Point)',
  LineString: 'Array(Point)',
  MultiLineString: 'Array(Ring)',
  Polygon: 'Array(Ring)',
  MultiPolygon: 'Array(Polygon)',
};

function fixedWidth(t: TypeNode): number | undefined {
  if (t.name.startsWith('Interval')) return 8;
  if (t.name === 'Decimal') {
    const p = Number(t.args[0]);
    return p <= 9 ? 4 : p <= 18 ? 8 : p <= 38 ? 16 : 32;
  }
  if (t.name === 'FixedString') return Number(t.args[0]);
  return FIXED[t.name];
}

class Walker {
  pos = 0;
  constructor(readonly buf: Uint8Array) {}

  need(n: number): void {
    if (this.pos + n > this.buf.length) throw new RangeError('truncated Native data');
  }

  varint(): number {
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      this.need(1);
      const b = this.buf[this.pos++] as number;
      result += (b & 0x7f) * mul;
      if ((b & 0x80) === 0) return result;
      mul *= 128;
    }
    throw new RangeError('bad varint in Native data');
  }

  u64(): number {
    this.need(8);
    let v = 0;
    for (let i = 7; i >= 0; i--) v = v * 256 + (this.buf[this.pos + i] as number);
    this.pos += 8;
    return v;
  }

  skip(n: number): void {
    this.need(n);
    this.pos += n;
  }

  string(): string {
    const len = this.varint();
    this.need(len);
    const s = Buffer.from(this.buf.buffer, this.buf.byteOffset + this.pos, len).toString('utf8');
    this.pos += len;
    return s;
  }

  prefix(type: string): void {
    const t = parseType(ALIASES[type.trim()] ?? type);
    switch (t.name) {
      case 'LowCardinality':
        this.skip(8);
        return;
      case 'Array':
      case 'Nullable':
        this.prefix(t.args[0] ?? '');
        return;
      case 'SimpleAggregateFunction':
        this.prefix(t.args[1] ?? '');
        return;
      case 'Map':
        for (const a of t.args) this.prefix(a);
        return;
      case 'Tuple':
      case 'Nested':
        for (const a of t.args) this.prefix(tupleElementType(a));
        return;
      default:
        return;
    }
  }

  data(type: string, rows: number): void {
    if (rows === 0) return;
    const t = parseType(ALIASES[type.trim()] ?? type);
    const width = fixedWidth(t);
    if (width !== undefined) {
      this.skip(width * rows);
      return;
    }
    switch (t.name) {
      case 'String':
        for (let i = 0; i < rows; i++) this.skip(this.varint());
        return;
      case 'Nullable':
        this.skip(rows);
        this.data(t.args[0] ?? '', rows);
        return;
      case 'SimpleAggregateFunction':
        this.data(t.args[1] ?? '', rows);
        return;
      case 'Array':
      case 'Map':
      case 'Nested': {
        this.need(rows * 8);
        this.pos += (rows - 1) * 8;
        const elements = this.u64();
        if (t.name === 'Array') this.data(t.args[0] ?? '', elements);
        else for (const a of t.args) this.data(t.name === 'Map' ? a : tupleElementType(a), elements);
        return;
      }
      case 'Tuple':
        for (const a of t.args) this.data(tupleElementType(a), rows);
        return;
      case 'LowCardinality': {
        const flags = this.u64();
        if (flags & 0x200) {
          const keys = this.u64();
          const inner = parseType(t.args[0] ?? '');
          this.data(inner.name === 'Nullable' ? (inner.args[0] ?? '') : (t.args[0] ?? ''), keys);
        }
        const n = this.u64();
        this.skip(n * (1 << (flags & 0xff)));
        return;
      }
      default:
        throw new UnsupportedNativeTypeError(`Native output of type ${type} cannot be re-framed for client_protocol_version > 0`);
    }
  }
}

const BLOCK_INFO = Buffer.from([0x01, 0x00, 0x02, 0xff, 0xff, 0xff, 0xff, 0x00]);
const NO_CUSTOM_SERIALIZATION = Buffer.from([0x00]);

/**
 * Re-frames revision-0 Native output for a client of protocol revision `revision`.
 * Returns the input unchanged for revision 0.
 *
 * @throws UnsupportedNativeTypeError for column types with no known layout (Dynamic, JSON,
 *   Variant, AggregateFunction …), RangeError for malformed input.
 */
export function reframeNative(input: Uint8Array, revision: number): Buffer {
  const src = Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  if (revision <= 0) return src;
  const custom = revision >= REVISION_WITH_CUSTOM_SERIALIZATION;
  const w = new Walker(src);
  const parts: Buffer[] = [];
  while (w.pos < src.length) {
    parts.push(BLOCK_INFO);
    const blockStart = w.pos;
    const columns = w.varint();
    const rows = w.varint();
    parts.push(src.subarray(blockStart, w.pos));
    for (let c = 0; c < columns; c++) {
      const colStart = w.pos;
      w.string();
      const type = w.string();
      parts.push(src.subarray(colStart, w.pos));
      if (custom) parts.push(NO_CUSTOM_SERIALIZATION);
      const dataStart = w.pos;
      if (rows > 0) {
        w.prefix(type);
        w.data(type, rows);
      }
      parts.push(src.subarray(dataStart, w.pos));
    }
  }
  return Buffer.concat(parts);
}
