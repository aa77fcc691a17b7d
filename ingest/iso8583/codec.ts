/**
 * Pure ISO 8583 codec: one message (without its frame length header) ⇄ MTI + fields, driven by a
 * field spec and wire options. Decoding never throws anything but {@link Iso8583DecodeError}; error
 * reasons describe the shape of the bytes, never their content, so they are safe to log.
 */
import { bcdBytes, ebcdicToString, packBcd, stringToEbcdic, unpackBcd } from './encoding.js';
import {
  BINARY_PREFIX_BYTES, DEFAULT_OPTIONS, ISO8583_1987, PREFIX_DIGITS, type BitmapEncoding, type FieldSpec, type Iso8583Options, type Iso8583Spec, type SubMessageSpec,
} from './spec.js';

/** A field value: text for every type but `b`, whose value is bytes. */
export type FieldValue = string | Buffer;

/** A message as the codec reads and writes it. */
export interface Iso8583Message {
  /** Four digits, e.g. `0200`. */
  mti: string;
  /** Field number (2–128) → value. Field 1, the secondary bitmap, is derived and ignored here. */
  fields: Record<number, FieldValue>;
  /** The fixed message header (e.g. TPDU) when the options configure one. */
  header?: Buffer;
  /**
   * Sub-messages (fields whose spec has `subfields`), by field number → sub-field → value. On encode
   * a field given here and not in `fields` is built from its sub-fields.
   */
  subfields?: Record<number, Record<number, FieldValue>>;
}

/** Where a field's bytes lie in the decoded buffer: `start` is its length prefix, `dataStart` its content. */
export interface FieldSpan {
  start: number;
  dataStart: number;
  end: number;
}

/** A decoded sub-message: its bitmap and fields, with spans as offsets in the whole frame. */
export interface DecodedSubMessage {
  bitmap: string;
  fields: Record<number, FieldValue>;
  spans: Record<number, FieldSpan>;
}

export interface DecodedMessage extends Iso8583Message {
  /** The bitmap(s) as uppercase hex: 16 characters, or 32 with a secondary bitmap. */
  bitmap: string;
  /** Byte ranges of each field. */
  spans: Record<number, FieldSpan>;
  /** Sub-messages decoded from fields whose spec has `subfields`. */
  subMessages?: Record<number, DecodedSubMessage>;
  /** Filler bytes ignored after the last field (only with `maxFillerBytes`). */
  fillerBytes?: number;
}

/** What a message decoded to before an error stopped the decoder. */
export interface PartialMessage {
  mti?: string;
  header?: Buffer;
  /** Fields the bitmap announced (undefined when the bitmap itself was not read). */
  present?: number[];
  /** Offset just after the MTI. */
  afterMti?: number;
  /** Offset of the first field, after the bitmap(s). */
  bodyStart?: number;
  fields: Record<number, FieldValue>;
  spans: Record<number, FieldSpan>;
  /** Spans of the sub-fields read so far (absolute offsets), by field. */
  subSpans?: Record<number, Record<number, FieldSpan>>;
}

/** Where in a message an error is: a field number, a sub-field (`127.3`), or one of the message's structural parts. */
export type Iso8583Location = number | `${number}.${number}` | `${number}.bitmap` | 'header' | 'mti' | 'bitmap' | 'end';

/** A message that does not follow the spec. `offset` is the byte where the bad part starts. */
export class Iso8583DecodeError extends Error {
  override readonly name = 'Iso8583DecodeError';
  constructor(
    readonly field: Iso8583Location,
    readonly offset: number,
    readonly reason: string,
    readonly partial: PartialMessage = { fields: {}, spans: {} },
  ) {
    super(`${typeof field === 'number' ? `field ${field}` : field} at byte ${offset}: ${reason}`);
  }
}

/** A value that cannot be written under the spec. */
export class Iso8583EncodeError extends Error {
  override readonly name = 'Iso8583EncodeError';
  constructor(readonly field: Iso8583Location, readonly reason: string) {
    super(`${typeof field === 'number' ? `field ${field}` : field}: ${reason}`);
  }
}

const DIGITS = /^\d*$/;
const SIGNED = /^[CD]\d*$/;
const TRACK = /^[0-9A-Fa-f=;?]*$/;
const HEX = /^(?:[0-9A-Fa-f]{2})*$/;

/** `opts` over the defaults; a complete set (as `resolveOptions` gives) is used as it is, not copied for every message. */
function options(opts: Partial<Iso8583Options> | undefined): Iso8583Options {
  if (!opts) return DEFAULT_OPTIONS;
  if (opts.mtiEncoding !== undefined && opts.bitmapEncoding !== undefined && opts.lengthHeader !== undefined && opts.lengthHeaderIncludesItself !== undefined
    && opts.lengthCountsMessageHeader !== undefined && opts.maxFillerBytes !== undefined) return opts as Iso8583Options;
  return { ...DEFAULT_OPTIONS, ...opts };
}

function charsetOk(fs: FieldSpec, s: string): string | undefined {
  switch (fs.type) {
    case 'n': return DIGITS.test(s) ? undefined : 'expected digits only';
    case 'xn': return SIGNED.test(s) ? undefined : 'expected C or D followed by digits';
    case 'z': return TRACK.test(s) ? undefined : 'expected track-2 characters (digits, =, D)';
    default: return undefined;
  }
}

/** Characters on the wire for `len` units of a text field (`xn` carries its sign on top of a fixed length). */
function textChars(fs: FieldSpec, len: number): number {
  return fs.type === 'xn' && fs.lengthType === 'fixed' ? len + 1 : len;
}

function dataBytes(fs: FieldSpec, len: number): number {
  const enc = fs.encoding ?? 'ascii';
  if (fs.type === 'b') return enc === 'binary' ? len : len * 2;
  if (enc === 'bcd') return fs.type === 'xn' ? 1 + bcdBytes(len) : bcdBytes(len);
  return textChars(fs, len);
}

function prefixBytes(fs: FieldSpec): number {
  if (fs.lengthType === 'fixed') return 0;
  const digits = PREFIX_DIGITS[fs.lengthType];
  switch (fs.lengthEncoding ?? 'ascii') {
    case 'ascii':
    case 'ebcdic': return digits;
    case 'bcd': return bcdBytes(digits);
    case 'binary': return BINARY_PREFIX_BYTES[fs.lengthType];
  }
}

function bytesToText(b: Buffer, ebcdic: boolean): string {
  return ebcdic ? ebcdicToString(b) : b.toString('latin1');
}

function textToBytes(s: string, ebcdic: boolean): Buffer | undefined {
  if (ebcdic) return stringToEbcdic(s);
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0xff) return undefined;
  return Buffer.from(s, 'latin1');
}

/** Fields whose bits are set in the bitmap bytes (bit 1 of the first byte = field 1). */
export function bitmapFields(bitmap: Uint8Array): number[] {
  const out: number[] = [];
  for (let i = 0; i < bitmap.length; i++) {
    const byte = bitmap[i] as number;
    for (let bit = 0; bit < 8; bit++) if ((byte >> (7 - bit)) & 1) out.push(i * 8 + bit + 1);
  }
  return out;
}

/** A read position over a frame, failing with the partial message so far. */
class Reader {
  pos: number;
  constructor(readonly buf: Buffer, readonly partial: PartialMessage, start: number, readonly end: number) {
    this.pos = start;
  }

  fail(where: Iso8583Location, at: number, reason: string): never {
    throw new Iso8583DecodeError(where, at, reason, this.partial);
  }

  take(n: number, where: Iso8583Location, what: string): Buffer {
    const start = this.skip(n, where, what);
    return this.buf.subarray(start, start + n);
  }

  /** Moves past `n` bytes; returns where they start. */
  skip(n: number, where: Iso8583Location, what: string): number {
    if (this.pos + n > this.end) this.fail(where, this.pos, `needs ${n} bytes for ${what}, ${this.end - this.pos} left`);
    const start = this.pos;
    this.pos += n;
    return start;
  }
}

// Helpers at module level rather than closures in the per-message functions: tsx keeps function names
// (esbuild's keepNames), which costs a property definition every time a named closure is made.

function readBitmaps(r: Reader, encoding: BitmapEncoding, where: Iso8583Location): Buffer {
  const at = r.pos;
  const primary = readOneBitmap(r, encoding, where);
  const [first] = primary;
  if (first === undefined) r.fail(where, at, 'the bitmap is empty');
  return first & 0x80 ? Buffer.concat([primary, readOneBitmap(r, encoding, where)]) : primary;
}

function readOneBitmap(r: Reader, encoding: BitmapEncoding, where: Iso8583Location): Buffer {
  const at = r.pos;
  if (encoding === 'binary') return Buffer.from(r.take(8, where, 'a bitmap'));
  const text = bytesToText(r.take(16, where, 'a hex bitmap'), encoding === 'hex-ebcdic');
  if (!/^[0-9A-Fa-f]{16}$/.test(text)) r.fail(where, at, 'the bitmap is not 16 hex characters');
  return Buffer.from(text, 'hex');
}

function readLength(r: Reader, f: FieldSpec, where: Iso8583Location): number {
  if (f.lengthType === 'fixed') return f.length;
  const encoding = f.lengthEncoding ?? 'ascii';
  if (encoding === 'ascii') return asciiLength(r, PREFIX_DIGITS[f.lengthType], f.length, where);
  const start = r.pos;
  const raw = r.take(prefixBytes(f), where, 'its length prefix');
  let len: number;
  switch (encoding) {
    case 'ebcdic': {
      const t = bytesToText(raw, true);
      if (!/^\d+$/.test(t)) r.fail(where, start, 'the length prefix is not digits');
      len = Number(t);
      break;
    }
    case 'bcd': {
      const t = unpackBcd(raw, raw.length * 2, 'left');
      if (!/^\d+$/.test(t)) r.fail(where, start, 'the BCD length prefix is not digits');
      len = Number(t);
      break;
    }
    case 'binary':
      len = raw.readUIntBE(0, raw.length);
      break;
  }
  if (len > f.length) r.fail(where, start, `length ${len} is over the maximum ${f.length}`);
  return len;
}

/** An ASCII length prefix, read from the bytes (the common case: no text made for it). */
function asciiLength(r: Reader, digits: number, max: number, where: Iso8583Location): number {
  const start = r.skip(digits, where, 'its length prefix');
  let len = 0;
  for (let i = start; i < start + digits; i++) {
    const d = (r.buf[i] as number) - 0x30;
    if (d < 0 || d > 9) r.fail(where, start, 'the length prefix is not digits');
    len = len * 10 + d;
  }
  if (len > max) r.fail(where, start, `length ${len} is over the maximum ${max}`);
  return len;
}

function readBcd(r: Reader, f: FieldSpec, data: Buffer, len: number, dataStart: number, where: Iso8583Location): string {
  const pad = f.padding ?? 'left';
  const nibbles = unpackBcd(data, data.length * 2, 'left');
  if (len % 2 !== 0) {
    const padNibble = pad === 'left' ? nibbles[0] : nibbles[nibbles.length - 1];
    if (padNibble !== '0' && padNibble !== 'F') r.fail(where, dataStart, 'the BCD pad nibble is not 0 or F');
  }
  const s = unpackBcd(data, len, pad);
  if (f.type === 'z') {
    if (!/^[0-9D]*$/.test(s)) r.fail(where, dataStart, 'packed track-2 data has nibbles other than digits and the D separator');
    return s.replace(/D/g, '=');
  }
  if (!DIGITS.test(s)) r.fail(where, dataStart, 'packed BCD has nibbles above 9');
  return s;
}

function readValue(r: Reader, f: FieldSpec, len: number, where: Iso8583Location): FieldValue {
  const dataStart = r.pos;
  const enc = f.encoding ?? 'ascii';
  if (enc === 'ascii' && f.type !== 'b') return asciiText(r, f, len, where);
  const data = r.take(dataBytes(f, len), where, 'its content');
  if (f.type === 'b') {
    if (enc === 'binary') return Buffer.from(data);
    const hex = bytesToText(data, enc === 'ebcdic');
    if (!HEX.test(hex)) r.fail(where, dataStart, 'binary content is not hex characters');
    return Buffer.from(hex, 'hex');
  }
  if (enc === 'bcd' && f.type === 'xn') {
    const sign = data.toString('latin1', 0, 1);
    if (sign !== 'C' && sign !== 'D') r.fail(where, dataStart, 'expected C or D followed by digits');
    return sign + readBcd(r, { ...f, type: 'n' }, data.subarray(1), len, dataStart + 1, where);
  }
  if (enc === 'bcd') return readBcd(r, f, data, len, dataStart, where);
  const s = bytesToText(data, enc === 'ebcdic');
  const bad = charsetOk(f, s);
  if (bad) r.fail(where, dataStart, bad);
  return s;
}

/** A text field carried one byte a character: read as Latin-1 straight from the frame, its charset checked. */
function asciiText(r: Reader, f: FieldSpec, len: number, where: Iso8583Location): string {
  const start = r.skip(textChars(f, len), where, 'its content');
  if (f.type === 'n') {
    for (let i = start; i < r.pos; i++) {
      const c = r.buf[i] as number;
      if (c < 0x30 || c > 0x39) r.fail(where, start, 'expected digits only');
    }
    return r.buf.toString('latin1', start, r.pos);
  }
  const s = r.buf.toString('latin1', start, r.pos);
  const bad = charsetOk(f, s);
  if (bad) r.fail(where, start, bad);
  return s;
}

/** Reads the fields a bitmap announces; `sub` is the parent field when reading a sub-message. */
function readFields(r: Reader, spec: Iso8583Spec, present: readonly number[], out: { fields: Record<number, FieldValue>; spans: Record<number, FieldSpan> }, sub?: number): Record<number, DecodedSubMessage> | undefined {
  let subs: Record<number, DecodedSubMessage> | undefined;
  for (const field of present) {
    const where: Iso8583Location = sub === undefined ? field : `${sub}.${field}`;
    const f = spec[field];
    if (!f) r.fail(where, r.pos, 'the bitmap announces a field the spec does not define');
    const start = r.pos;
    const len = readLength(r, f, where);
    const dataStart = r.pos;
    out.fields[field] = readValue(r, f, len, where);
    out.spans[field] = { start, dataStart, end: r.pos };
    if (f.subfields && sub === undefined) {
      subs ??= {};
      subs[field] = readSubMessage(r, f.subfields, field, dataStart, r.pos);
    }
  }
  return subs;
}

function readSubMessage(parent: Reader, sm: SubMessageSpec, field: number, start: number, end: number): DecodedSubMessage {
  const spans: Record<number, FieldSpan> = {};
  const partial = parent.partial;
  partial.subSpans ??= {};
  partial.subSpans[field] = spans;
  const r = new Reader(parent.buf, partial, start, end);
  const bitmap = readBitmaps(r, sm.bitmapEncoding, `${field}.bitmap`);
  const present = bitmapFields(bitmap).filter((n) => n !== 1);
  const out = { fields: {} as Record<number, FieldValue>, spans };
  readFields(r, sm.fields, present, out, field);
  if (r.pos !== end) r.fail(field, r.pos, `${end - r.pos} bytes after the last sub-field`);
  return { bitmap: bitmap.toString('hex').toUpperCase(), fields: out.fields, spans };
}

/** Checks what follows the last field: filler up to `maxFillerBytes`, then the trailer if configured. */
function readEnd(r: Reader, o: Iso8583Options): number {
  let end = r.end;
  const trailer = o.trailer ? Buffer.from(o.trailer, 'hex') : undefined;
  if (trailer && end - r.pos >= trailer.length && r.buf.subarray(end - trailer.length, end).equals(trailer)) end -= trailer.length;
  const filler = end - r.pos;
  if (filler > o.maxFillerBytes) r.fail('end', r.pos, `${r.end - r.pos} bytes after the last field`);
  return filler;
}

/**
 * Decodes one message (the bytes after the frame length header).
 * @throws Iso8583DecodeError naming the field (or `header`/`mti`/`bitmap`/`end`, `127.3` for a sub-field) and byte offset.
 */
export function decode(input: Uint8Array, spec: Iso8583Spec = ISO8583_1987, opts?: Partial<Iso8583Options>): DecodedMessage {
  const o = options(opts);
  const buf = Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  const partial: PartialMessage = { fields: {}, spans: {} };
  const r = new Reader(buf, partial, 0, buf.length);

  if (o.messageHeader) partial.header = Buffer.from(r.take(o.messageHeader.length, 'header', 'the message header'));

  const mtiAt = r.pos;
  let mti: string;
  if (o.mtiEncoding === 'bcd') mti = unpackBcd(r.take(2, 'mti', 'the MTI'), 4, 'left');
  else mti = bytesToText(r.take(4, 'mti', 'the MTI'), o.mtiEncoding === 'ebcdic');
  if (!/^\d{4}$/.test(mti)) r.fail('mti', mtiAt, 'the MTI is not four digits');
  partial.mti = mti;
  partial.afterMti = r.pos;

  const bitmap = readBitmaps(r, o.bitmapEncoding, 'bitmap');
  const present = bitmapFields(bitmap);
  if (present[0] === 1) present.shift();
  partial.present = present;
  partial.bodyStart = r.pos;
  const subMessages = readFields(r, spec, present, partial);
  const filler = readEnd(r, o);
  const decoded: DecodedMessage = { mti, fields: partial.fields, bitmap: bitmap.toString('hex').toUpperCase(), spans: partial.spans };
  if (partial.header) decoded.header = partial.header;
  if (subMessages) {
    decoded.subMessages = subMessages;
    decoded.subfields = Object.fromEntries(Object.entries(subMessages).map(([k, v]) => [k, v.fields]));
  }
  if (filler > 0) decoded.fillerBytes = filler;
  return decoded;
}

function unencodableLength(field: Iso8583Location): never {
  throw new Iso8583EncodeError(field, 'the length prefix cannot be encoded');
}

/**
 * A message as it is written: one buffer that grows, rather than a buffer per field and a concatenation
 * (the listener encodes a response for every request).
 */
class MessageWriter {
  private buf = Buffer.allocUnsafe(512);
  length = 0;

  private room(n: number): void {
    if (this.length + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.length + n) size *= 2;
    const grown = Buffer.allocUnsafe(size);
    this.buf.copy(grown, 0, 0, this.length);
    this.buf = grown;
  }

  bytes(b: Uint8Array): void {
    this.room(b.length);
    this.buf.set(b, this.length);
    this.length += b.length;
  }

  /** `s` one byte a character; false (nothing written) when a character is above U+00FF. */
  latin1(s: string): boolean {
    this.room(s.length);
    const start = this.length;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c > 0xff) {
        this.length = start;
        return false;
      }
      this.buf[start + i] = c;
    }
    this.length = start + s.length;
    return true;
  }

  /** `n` (≥ 0) as `width` ASCII digits, zero-padded on the left. */
  digits(n: number, width: number): void {
    this.room(width);
    for (let i = width - 1; i >= 0; i--) {
      this.buf[this.length + i] = 0x30 + (n % 10);
      n = Math.floor(n / 10);
    }
    this.length += width;
  }

  /** What was written (a view of this writer's buffer: the writer is not used after). */
  done(): Buffer {
    return this.buf.subarray(0, this.length);
  }
}

function writeLength(w: MessageWriter, field: Iso8583Location, f: FieldSpec, len: number): void {
  if (f.lengthType === 'fixed') throw new Iso8583EncodeError(field, 'a fixed field has no length prefix');
  const digits = PREFIX_DIGITS[f.lengthType];
  switch (f.lengthEncoding ?? 'ascii') {
    case 'ascii': {
      if (len >= 10 ** digits) unencodableLength(field);
      w.digits(len, digits);
      return;
    }
    case 'ebcdic': {
      w.bytes(stringToEbcdic(String(len).padStart(digits, '0')) ?? unencodableLength(field));
      return;
    }
    case 'bcd': {
      w.bytes(packBcd(String(len).padStart(bcdBytes(digits) * 2, '0'), 'left') ?? unencodableLength(field));
      return;
    }
    case 'binary': {
      const b = Buffer.alloc(BINARY_PREFIX_BYTES[f.lengthType]);
      b.writeUIntBE(len, 0, b.length);
      w.bytes(b);
      return;
    }
  }
  throw new Iso8583EncodeError(field, 'unknown length encoding');
}

/** Throws the encode error of `field` (a function, not a closure made per field: see readBitmaps). */
function cannotEncode(field: Iso8583Location, reason: string): never {
  throw new Iso8583EncodeError(field, reason);
}

function writeBinaryField(w: MessageWriter, field: Iso8583Location, f: FieldSpec, value: FieldValue): void {
  const enc = f.encoding ?? 'ascii';
  let bytes: Buffer;
  if (typeof value === 'string') {
    if (!HEX.test(value)) cannotEncode(field, 'a binary value given as text must be hex');
    bytes = Buffer.from(value, 'hex');
  } else bytes = Buffer.from(value);
  const len = bytes.length;
  if (f.lengthType === 'fixed' ? len !== f.length : len > f.length) cannotEncode(field, `needs ${f.lengthType === 'fixed' ? 'exactly' : 'at most'} ${f.length} bytes, got ${len}`);
  if (f.lengthType !== 'fixed') writeLength(w, field, f, len);
  if (enc === 'binary') w.bytes(bytes);
  else w.bytes(textToBytes(bytes.toString('hex').toUpperCase(), enc === 'ebcdic') as Buffer);
}

/** `value` as the field's text: short fixed values padded, the charset and the length checked. */
function fieldText(field: Iso8583Location, f: FieldSpec, value: FieldValue): { s: string; len: number } {
  if (typeof value !== 'string') return cannotEncode(field, `expected text for a ${f.type} field, got bytes`);
  let s = value;
  if (f.lengthType === 'fixed') {
    if (f.type === 'n' && s.length < f.length) s = s.padStart(f.length, '0');
    else if (f.type === 'xn' && s.length >= 1 && s.length < f.length + 1) s = s.slice(0, 1) + s.slice(1).padStart(f.length, '0');
    else if (f.type !== 'z' && f.type !== 'n' && f.type !== 'xn' && s.length < f.length) s = s.padEnd(f.length, ' ');
  }
  const bad = charsetOk(f, s);
  if (bad) cannotEncode(field, bad);
  const len = f.type === 'xn' && f.lengthType === 'fixed' ? s.length - 1 : s.length;
  if (f.lengthType === 'fixed' ? len !== f.length : len > f.length) cannotEncode(field, `needs ${f.lengthType === 'fixed' ? 'exactly' : 'at most'} ${f.length} characters, got ${len}`);
  return { s, len };
}

function writeField(w: MessageWriter, field: Iso8583Location, f: FieldSpec, value: FieldValue): void {
  if (f.type === 'b') {
    writeBinaryField(w, field, f, value);
    return;
  }
  const enc = f.encoding ?? 'ascii';
  const { s, len } = fieldText(field, f, value);
  let data: Buffer | undefined;
  if (enc === 'bcd' && f.type === 'xn') {
    data = Buffer.concat([Buffer.from(s.slice(0, 1), 'latin1'), packBcd(s.slice(1), f.padding ?? 'left') as Buffer]);
  } else if (enc === 'bcd') {
    const nibbles = f.type === 'z' ? s.replace(/=/g, 'D') : s;
    if (f.type === 'z' && !/^[0-9D]*$/.test(nibbles)) cannotEncode(field, 'packed track-2 data allows digits and = only');
    data = packBcd(nibbles, f.padding ?? 'left') as Buffer;
  } else if (enc === 'ebcdic') {
    data = stringToEbcdic(s) ?? cannotEncode(field, 'has characters that EBCDIC (cp500) cannot carry');
  }
  // A length prefix cannot fail once the length is checked (the spec bounds it), so the text may follow it.
  if (f.lengthType !== 'fixed') writeLength(w, field, f, len);
  if (data) w.bytes(data);
  else if (!w.latin1(s)) cannotEncode(field, 'has characters that a single byte cannot carry');
}

/**
 * Encodes a message (without frame length header), building primary and secondary bitmaps from the
 * fields present. Short fixed `n` values are zero-padded on the left, short fixed text is space-padded.
 * @throws Iso8583EncodeError naming the field.
 */
export function encode(msg: Iso8583Message, spec: Iso8583Spec = ISO8583_1987, opts?: Partial<Iso8583Options>): Buffer {
  const o = options(opts);
  const w = new MessageWriter();
  if (o.messageHeader) {
    if (!msg.header || msg.header.length !== o.messageHeader.length) throw new Iso8583EncodeError('header', `needs a ${o.messageHeader.length}-byte message header`);
    w.bytes(msg.header);
  }
  if (!/^\d{4}$/.test(msg.mti)) throw new Iso8583EncodeError('mti', 'must be four digits');
  if (o.mtiEncoding === 'bcd') w.bytes(packBcd(msg.mti, 'left') as Buffer);
  else if (o.mtiEncoding === 'ebcdic') w.bytes(stringToEbcdic(msg.mti) as Buffer);
  else w.latin1(msg.mti);
  writeBody(w, msg.fields, spec, o.bitmapEncoding, msg.subfields);
  if (o.trailer) w.bytes(Buffer.from(o.trailer, 'hex'));
  return w.done();
}

/** Bitmap(s) and fields; fields given only as `subfields` are built as sub-messages. */
function writeBody(w: MessageWriter, given: Record<number, FieldValue>, spec: Iso8583Spec, bitmapEncoding: BitmapEncoding, subfields?: Record<number, Record<number, FieldValue>>, parent?: number): void {
  const fields = subfields ? withSubMessages(given, spec, subfields) : given;
  const numbers: number[] = [];
  for (const k in fields) {
    const n = Number(k);
    if (Object.hasOwn(fields, k) && n !== 1) numbers.push(n);
  }
  numbers.sort((a, b) => a - b);
  for (const n of numbers) if (!Number.isInteger(n) || n < 2 || n > 128) throw new Iso8583EncodeError(location(parent, n), 'field numbers run from 2 to 128');
  const secondary = numbers.length > 0 && (numbers[numbers.length - 1] as number) > 64;
  const bitmap = new Uint8Array(16);
  if (secondary) bitmap[0] = 0x80;
  for (const n of numbers) bitmap[(n - 1) >> 3] = (bitmap[(n - 1) >> 3] as number) | (0x80 >> ((n - 1) & 7));
  writeBitmap(w, bitmap.subarray(0, 8), bitmapEncoding);
  if (secondary) writeBitmap(w, bitmap.subarray(8, 16), bitmapEncoding);
  for (const n of numbers) {
    const f = spec[n];
    const where = location(parent, n);
    if (!f) throw new Iso8583EncodeError(where, 'the spec does not define this field');
    writeField(w, where, f, fields[n] as FieldValue);
  }
}

/** `given` with each field given only as sub-fields built as its sub-message. */
function withSubMessages(given: Record<number, FieldValue>, spec: Iso8583Spec, subfields: Record<number, Record<number, FieldValue>>): Record<number, FieldValue> {
  const fields: Record<number, FieldValue> = { ...given };
  for (const [k, sub] of Object.entries(subfields)) {
    const n = Number(k);
    const f = spec[n];
    if (fields[n] !== undefined) continue;
    if (!f?.subfields) throw new Iso8583EncodeError(n, 'the spec defines no sub-fields for this field');
    const sm = f.subfields;
    const inner = new MessageWriter();
    writeBody(inner, sub, sm.fields, sm.bitmapEncoding, undefined, n);
    const content = inner.done();
    fields[n] = f.type === 'b' ? content : f.encoding === 'ebcdic' ? ebcdicToString(content) : content.toString('latin1');
  }
  return fields;
}

/** Field `n`, or sub-field `n` of `parent`. */
function location(parent: number | undefined, n: number): Iso8583Location {
  return parent === undefined ? n : `${parent}.${n}`;
}

/** A bitmap's 8 bytes as the message carries them. */
function writeBitmap(w: MessageWriter, bitmap: Uint8Array, encoding: BitmapEncoding): void {
  if (encoding === 'binary') w.bytes(bitmap);
  else {
    const hex = Buffer.from(bitmap.buffer, bitmap.byteOffset, bitmap.byteLength).toString('hex').toUpperCase();
    if (encoding === 'hex-ebcdic') w.bytes(stringToEbcdic(hex) as Buffer);
    else w.latin1(hex);
  }
}

/** The message header a response carries for a request's header (echoed, or a TPDU with its addresses swapped). */
export function responseHeader(header: Buffer | undefined, opts?: Partial<Iso8583Options>): Buffer | undefined {
  const o = options(opts);
  if (!o.messageHeader || !header) return header;
  if (o.messageHeader.response === 'swap-tpdu' && header.length === 5) {
    // TPDU: id, destination (2 bytes), source (2 bytes); the response swaps the addresses.
    return Buffer.concat([header.subarray(0, 1), header.subarray(3, 5), header.subarray(1, 3)]);
  }
  return Buffer.from(header);
}
