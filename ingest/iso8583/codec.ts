/**
 * Pure ISO 8583 codec: one message (without its frame length header) ⇄ MTI + fields, driven by a
 * field spec and wire options. Decoding never throws anything but {@link Iso8583DecodeError}; error
 * reasons describe the shape of the bytes, never their content, so they are safe to log.
 */
import { bcdBytes, ebcdicToString, packBcd, stringToEbcdic, unpackBcd } from './encoding.js';
import { DEFAULT_OPTIONS, ISO8583_1987, type FieldSpec, type Iso8583Options, type Iso8583Spec } from './spec.js';

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
}

/** Where a field's bytes lie in the decoded buffer: `start` is its length prefix, `dataStart` its content. */
export interface FieldSpan {
  start: number;
  dataStart: number;
  end: number;
}

export interface DecodedMessage extends Iso8583Message {
  /** The bitmap(s) as uppercase hex: 16 characters, or 32 with a secondary bitmap. */
  bitmap: string;
  /** Byte ranges of each field. */
  spans: Record<number, FieldSpan>;
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
}

/** Where in a message an error is: a field number, or one of the message's structural parts. */
export type Iso8583Location = number | 'header' | 'mti' | 'bitmap' | 'end';

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

function options(opts: Partial<Iso8583Options> | undefined): Iso8583Options {
  return opts ? { ...DEFAULT_OPTIONS, ...opts } : DEFAULT_OPTIONS;
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
  if (enc === 'bcd') return bcdBytes(len);
  return textChars(fs, len);
}

function prefixBytes(fs: FieldSpec): number {
  if (fs.lengthType === 'fixed') return 0;
  const digits = fs.lengthType === 'LLVAR' ? 2 : 3;
  switch (fs.lengthEncoding ?? 'ascii') {
    case 'ascii':
    case 'ebcdic': return digits;
    case 'bcd': return bcdBytes(digits);
    case 'binary': return digits === 2 ? 1 : 2;
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
  for (let i = 0; i < bitmap.length * 8; i++) if ((bitmap[i >> 3]! >> (7 - (i & 7))) & 1) out.push(i + 1);
  return out;
}

/**
 * Decodes one message (the bytes after the frame length header).
 * @throws Iso8583DecodeError naming the field (or `header`/`mti`/`bitmap`/`end`) and byte offset.
 */
export function decode(input: Uint8Array, spec: Iso8583Spec = ISO8583_1987, opts?: Partial<Iso8583Options>): DecodedMessage {
  const o = options(opts);
  const buf = Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  const partial: PartialMessage = { fields: {}, spans: {} };
  let pos = 0;
  const fail = (where: Iso8583Location, at: number, reason: string): never => {
    throw new Iso8583DecodeError(where, at, reason, partial);
  };
  const take = (n: number, where: Iso8583Location, what: string): Buffer => {
    if (pos + n > buf.length) fail(where, pos, `needs ${n} bytes for ${what}, ${buf.length - pos} left`);
    const out = buf.subarray(pos, pos + n);
    pos += n;
    return out;
  };

  if (o.messageHeader) partial.header = Buffer.from(take(o.messageHeader.length, 'header', 'the message header'));

  const mtiAt = pos;
  let mti: string;
  if (o.mtiEncoding === 'bcd') mti = unpackBcd(take(2, 'mti', 'the MTI'), 4, 'left');
  else mti = bytesToText(take(4, 'mti', 'the MTI'), o.mtiEncoding === 'ebcdic');
  if (!/^\d{4}$/.test(mti)) fail('mti', mtiAt, 'the MTI is not four digits');
  partial.mti = mti;
  partial.afterMti = pos;

  const readBitmap = (): Buffer => {
    const at = pos;
    if (o.bitmapEncoding === 'binary') return Buffer.from(take(8, 'bitmap', 'a bitmap'));
    const text = bytesToText(take(16, 'bitmap', 'a hex bitmap'), o.bitmapEncoding === 'hex-ebcdic');
    if (!/^[0-9A-Fa-f]{16}$/.test(text)) fail('bitmap', at, 'the bitmap is not 16 hex characters');
    return Buffer.from(text, 'hex');
  };
  const primary = readBitmap();
  const bitmap = primary[0]! & 0x80 ? Buffer.concat([primary, readBitmap()]) : primary;
  const present = bitmapFields(bitmap).filter((f) => f !== 1);
  partial.present = present;
  partial.bodyStart = pos;

  for (const field of present) {
    const fs = spec[field];
    if (!fs) fail(field, pos, 'the bitmap announces a field the spec does not define');
    const f = fs as FieldSpec;
    const start = pos;
    let len = f.length;
    if (f.lengthType !== 'fixed') {
      const raw = take(prefixBytes(f), field, 'its length prefix');
      switch (f.lengthEncoding ?? 'ascii') {
        case 'ascii':
        case 'ebcdic': {
          const t = bytesToText(raw, f.lengthEncoding === 'ebcdic');
          if (!/^\d+$/.test(t)) fail(field, start, 'the length prefix is not digits');
          len = Number(t);
          break;
        }
        case 'bcd': {
          const t = unpackBcd(raw, raw.length * 2, 'left');
          if (!/^\d+$/.test(t)) fail(field, start, 'the BCD length prefix is not digits');
          len = Number(t);
          break;
        }
        case 'binary':
          len = raw.length === 1 ? raw[0]! : raw.readUInt16BE(0);
          break;
      }
      if (len > f.length) fail(field, start, `length ${len} is over the maximum ${f.length}`);
    }
    const dataStart = pos;
    const enc = f.encoding ?? 'ascii';
    const data = take(dataBytes(f, len), field, 'its content');
    let value: FieldValue;
    if (f.type === 'b') {
      if (enc === 'binary') value = Buffer.from(data);
      else {
        const hex = bytesToText(data, enc === 'ebcdic');
        if (!HEX.test(hex)) fail(field, dataStart, 'binary content is not hex characters');
        value = Buffer.from(hex, 'hex');
      }
    } else if (enc === 'bcd') {
      const pad = f.padding ?? 'left';
      const nibbles = unpackBcd(data, data.length * 2, 'left');
      const padNibble = len % 2 === 0 ? '' : pad === 'left' ? nibbles[0]! : nibbles[nibbles.length - 1]!;
      if (padNibble !== '' && padNibble !== '0' && padNibble !== 'F') fail(field, dataStart, 'the BCD pad nibble is not 0 or F');
      const s = unpackBcd(data, len, pad);
      if (f.type === 'z') {
        if (!/^[0-9D]*$/.test(s)) fail(field, dataStart, 'packed track-2 data has nibbles other than digits and the D separator');
        value = s.replace(/D/g, '=');
      } else {
        if (!DIGITS.test(s)) fail(field, dataStart, 'packed BCD has nibbles above 9');
        value = s;
      }
    } else {
      const s = bytesToText(data, enc === 'ebcdic');
      const bad = charsetOk(f, s);
      if (bad) fail(field, dataStart, bad);
      value = s;
    }
    partial.fields[field] = value;
    partial.spans[field] = { start, dataStart, end: pos };
  }
  if (pos !== buf.length) fail('end', pos, `${buf.length - pos} bytes after the last field`);
  return { mti, fields: partial.fields, bitmap: bitmap.toString('hex').toUpperCase(), spans: partial.spans, ...(partial.header ? { header: partial.header } : {}) };
}

function encodeLength(field: number, f: FieldSpec, len: number): Buffer {
  const digits = f.lengthType === 'LLVAR' ? 2 : 3;
  switch (f.lengthEncoding ?? 'ascii') {
    case 'ascii': return Buffer.from(String(len).padStart(digits, '0'), 'latin1');
    case 'ebcdic': return stringToEbcdic(String(len).padStart(digits, '0'))!;
    case 'bcd': return packBcd(String(len).padStart(digits === 2 ? 2 : 4, '0'), 'left')!;
    case 'binary': {
      if (digits === 2) return Buffer.from([len]);
      const b = Buffer.alloc(2);
      b.writeUInt16BE(len);
      return b;
    }
  }
  throw new Iso8583EncodeError(field, 'unknown length encoding');
}

function encodeField(field: number, f: FieldSpec, value: FieldValue): Buffer {
  const enc = f.encoding ?? 'ascii';
  const fail = (reason: string): never => {
    throw new Iso8583EncodeError(field, reason);
  };
  let len: number;
  let data: Buffer;
  if (f.type === 'b') {
    let bytes: Buffer;
    if (typeof value === 'string') {
      if (!HEX.test(value)) fail('a binary value given as text must be hex');
      bytes = Buffer.from(value, 'hex');
    } else bytes = Buffer.from(value);
    len = bytes.length;
    if (f.lengthType === 'fixed' ? len !== f.length : len > f.length) fail(`needs ${f.lengthType === 'fixed' ? 'exactly' : 'at most'} ${f.length} bytes, got ${len}`);
    data = enc === 'binary' ? bytes : (textToBytes(bytes.toString('hex').toUpperCase(), enc === 'ebcdic') as Buffer);
  } else {
    if (typeof value !== 'string') return fail(`expected text for a ${f.type} field, got bytes`);
    let s = value;
    if (f.lengthType === 'fixed') {
      if (f.type === 'n' && s.length < f.length) s = s.padStart(f.length, '0');
      else if (f.type === 'xn' && s.length >= 1 && s.length < f.length + 1) s = s[0]! + s.slice(1).padStart(f.length, '0');
      else if (f.type !== 'z' && f.type !== 'n' && f.type !== 'xn' && s.length < f.length) s = s.padEnd(f.length, ' ');
    }
    const bad = charsetOk(f, s);
    if (bad) fail(bad);
    len = f.type === 'xn' && f.lengthType === 'fixed' ? s.length - 1 : s.length;
    if (f.lengthType === 'fixed' ? len !== f.length : len > f.length) fail(`needs ${f.lengthType === 'fixed' ? 'exactly' : 'at most'} ${f.length} characters, got ${len}`);
    if (enc === 'bcd') {
      const nibbles = f.type === 'z' ? s.replace(/=/g, 'D') : s;
      if (f.type === 'z' && !/^[0-9D]*$/.test(nibbles)) fail('packed track-2 data allows digits and = only');
      data = packBcd(nibbles, f.padding ?? 'left') as Buffer;
    } else {
      const bytes = textToBytes(s, enc === 'ebcdic');
      if (!bytes) return fail(`has characters that ${enc === 'ebcdic' ? 'EBCDIC (cp500)' : 'a single byte'} cannot carry`);
      data = bytes;
    }
  }
  return f.lengthType === 'fixed' ? data : Buffer.concat([encodeLength(field, f, len), data]);
}

/**
 * Encodes a message (without frame length header), building primary and secondary bitmaps from the
 * fields present. Short fixed `n` values are zero-padded on the left, short fixed text is space-padded.
 * @throws Iso8583EncodeError naming the field.
 */
export function encode(msg: Iso8583Message, spec: Iso8583Spec = ISO8583_1987, opts?: Partial<Iso8583Options>): Buffer {
  const o = options(opts);
  const parts: Buffer[] = [];
  if (o.messageHeader) {
    if (!msg.header || msg.header.length !== o.messageHeader.length) throw new Iso8583EncodeError('header', `needs a ${o.messageHeader.length}-byte message header`);
    parts.push(Buffer.from(msg.header));
  }
  if (!/^\d{4}$/.test(msg.mti)) throw new Iso8583EncodeError('mti', 'must be four digits');
  parts.push(o.mtiEncoding === 'bcd' ? (packBcd(msg.mti, 'left') as Buffer) : (textToBytes(msg.mti, o.mtiEncoding === 'ebcdic') as Buffer));

  const numbers = Object.keys(msg.fields).map(Number).filter((n) => n !== 1).sort((a, b) => a - b);
  for (const n of numbers) if (!Number.isInteger(n) || n < 2 || n > 128) throw new Iso8583EncodeError(n, 'field numbers run from 2 to 128');
  const secondary = numbers.some((n) => n > 64);
  const bitmap = Buffer.alloc(secondary ? 16 : 8);
  if (secondary) bitmap[0] = 0x80;
  for (const n of numbers) bitmap[(n - 1) >> 3]! |= 0x80 >> ((n - 1) & 7);
  const writeBitmap = (bm: Buffer): Buffer =>
    o.bitmapEncoding === 'binary' ? bm : (textToBytes(bm.toString('hex').toUpperCase(), o.bitmapEncoding === 'hex-ebcdic') as Buffer);
  parts.push(writeBitmap(bitmap.subarray(0, 8)));
  if (secondary) parts.push(writeBitmap(bitmap.subarray(8, 16)));

  for (const n of numbers) {
    const f = spec[n];
    if (!f) throw new Iso8583EncodeError(n, 'the spec does not define this field');
    parts.push(encodeField(n, f, msg.fields[n]!));
  }
  return Buffer.concat(parts);
}

/** The message header a response carries for a request's header (echoed, or a TPDU with its addresses swapped). */
export function responseHeader(header: Buffer | undefined, opts?: Partial<Iso8583Options>): Buffer | undefined {
  const o = options(opts);
  if (!o.messageHeader || !header) return header;
  if (o.messageHeader.response === 'swap-tpdu' && header.length === 5) {
    return Buffer.from([header[0]!, header[3]!, header[4]!, header[1]!, header[2]!]);
  }
  return Buffer.from(header);
}
