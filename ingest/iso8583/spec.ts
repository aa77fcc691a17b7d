/**
 * ISO 8583 field definitions and wire options as data. The ISO 8583:1987 layout is the default; a bank
 * loads its switch's variant from a JSON file (`specfile.ts`) that extends a dialect or replaces it.
 */

/**
 * Field content types (ISO 8583 notation): `n` digits, `a` letters, `an`/`ans`/`as`/`ns`/`anp` text,
 * `b` binary (length in bytes), `z` track-2 data, `xn` a `C`/`D` sign followed by `length` digits.
 */
export type FieldType = 'n' | 'a' | 'an' | 'ans' | 'as' | 'ns' | 'anp' | 'b' | 'z' | 'xn';
/** Fixed, or a length prefix of 2, 3, 4 or 6 digits (LLLLLL is what BASE24 and Postilion use for field 127). */
export type LengthType = 'fixed' | 'LLVAR' | 'LLLVAR' | 'LLLLVAR' | 'LLLLLLVAR';

/** Digits of each variable length prefix. */
export const PREFIX_DIGITS: Readonly<Record<Exclude<LengthType, 'fixed'>, number>> = Object.freeze({ LLVAR: 2, LLLVAR: 3, LLLLVAR: 4, LLLLLLVAR: 6 });
/** Bytes of each prefix written as an unsigned big-endian `binary` integer. */
export const BINARY_PREFIX_BYTES: Readonly<Record<Exclude<LengthType, 'fixed'>, number>> = Object.freeze({ LLVAR: 1, LLLVAR: 2, LLLLVAR: 2, LLLLLLVAR: 3 });
/** Largest field content the codec accepts, whatever the prefix could express. */
export const MAX_FIELD_LENGTH = 999_999;
/**
 * How a field's content travels: `ascii` is one byte per character (byte-transparent, so national
 * characters survive a round trip) and, for `b` fields, two hex-ASCII characters per byte; `ebcdic`
 * likewise in code page 500; `bcd` packs two digits per byte (`n`, `z`); `binary` is raw bytes (`b`).
 */
export type DataEncoding = 'ascii' | 'bcd' | 'ebcdic' | 'binary';
/** How an LL/LLL length prefix travels: digits (`ascii`, `ebcdic`), packed `bcd`, or an unsigned big-endian `binary` integer. */
export type LengthEncoding = 'ascii' | 'bcd' | 'ebcdic' | 'binary';

export interface FieldSpec {
  type: FieldType;
  /** Fixed length, or the maximum for LLVAR/LLLVAR: characters or digits, bytes for `b`. */
  length: number;
  lengthType: LengthType;
  /** Default `ascii`. */
  encoding?: DataEncoding;
  /** Encoding of the LL/LLL prefix. Default `ascii`. */
  lengthEncoding?: LengthEncoding;
  /** Where the pad nibble of an odd-length BCD value goes. Default `left`. */
  padding?: 'left' | 'right';
  name?: string;
  /**
   * The field is a sub-message with its own bitmap (BASE24/Postilion field 127, private fields): its
   * content is a bitmap followed by sub-fields. Only for content carried as raw bytes (`b` with
   * `binary` encoding, or text with `ascii`/`ebcdic` encoding); sub-fields cannot nest further.
   */
  subfields?: SubMessageSpec;
  /** Card data: never logged, masked in what goes to the DLQ (fields 2, 14, 34, 35, 36, 45, 52 and 55 always are). */
  sensitive?: boolean;
}

/** A sub-message: its bitmap encoding and its fields (numbered 2–128; bit 1 announces a second bitmap). */
export interface SubMessageSpec {
  bitmapEncoding: BitmapEncoding;
  fields: Iso8583Spec;
}

/** A field as written in a spec document: ISO notation (`"n..19"`), or an object, optionally with a `format` to start from. */
export type FieldDefinition = string | (Partial<Omit<FieldSpec, 'subfields'>> & { format?: string; subfields?: { bitmapEncoding?: BitmapEncoding; fields: Record<string, FieldDefinition> } });

/** Field number (2–128) → definition. Field 1 (the secondary bitmap) is handled by the codec. */
export type Iso8583Spec = Readonly<Partial<Record<number, Readonly<FieldSpec>>>>;

export type MtiEncoding = 'ascii' | 'bcd' | 'ebcdic';
export type BitmapEncoding = 'hex-ascii' | 'binary' | 'hex-ebcdic';
/** Frame length header: 2-byte big-endian binary, 4 ASCII digits, or none (codec use only). */
export type LengthHeader = 'binary2' | 'ascii4' | 'none';

export interface MessageHeaderOptions {
  /** Bytes before the MTI (a TPDU is 5). */
  length: number;
  /** What a response carries: the request's header unchanged, or a TPDU with destination and source swapped. */
  response: 'echo' | 'swap-tpdu';
}

/** Wire options besides the field definitions. */
export interface Iso8583Options {
  /** How the MTI travels. Default `ascii`. */
  mtiEncoding: MtiEncoding;
  /** How the primary and secondary bitmaps travel. Default `hex-ascii`. */
  bitmapEncoding: BitmapEncoding;
  /** Frame length header. Default `binary2`. */
  lengthHeader: LengthHeader;
  /** Whether the length in the header counts the header's own bytes. Default false. */
  lengthHeaderIncludesItself: boolean;
  /**
   * Whether the length in the header counts the message header that follows it (when one is
   * configured). Default true; some switches count only the MTI onwards.
   */
  lengthCountsMessageHeader: boolean;
  /** A fixed message header (e.g. a TPDU, or BASE24's 12-byte `ISO…` header) before the MTI; echoed in responses. */
  messageHeader?: MessageHeaderOptions;
  /**
   * Bytes that end every message after the last field (e.g. BASE24's ETX `03`), as hex: accepted
   * when present on a request, written on every response. Default none.
   */
  trailer?: string;
  /** Bytes of filler tolerated (and ignored) after the last field, before any trailer. Default 0, at most 1024. */
  maxFillerBytes: number;
}

/** The contract's defaults: ASCII MTI, hex-ASCII bitmaps, 2-byte binary big-endian length header, no message header. */
export const DEFAULT_OPTIONS: Readonly<Iso8583Options> = Object.freeze({
  mtiEncoding: 'ascii',
  bitmapEncoding: 'hex-ascii',
  lengthHeader: 'binary2',
  lengthHeaderIncludesItself: false,
  lengthCountsMessageHeader: true,
  maxFillerBytes: 0,
});

/** Fields that carry card data whatever the spec says. */
export const CARD_DATA_FIELDS: readonly number[] = [2, 14, 34, 35, 36, 45, 52, 55];

/**
 * A spec, options or tables value that cannot be used; `field` names the field number (`127.3` for a
 * sub-field) or the option/table path, `line` the line of a spec file when it was read from one.
 */
export class Iso8583SpecError extends Error {
  override readonly name = 'Iso8583SpecError';
  constructor(readonly field: string, readonly reason: string, readonly line?: number) {
    super(`${line !== undefined ? `line ${line}: ` : ''}${/^\d+(\.\d+)?$/.test(field) ? `field ${field}` : field}: ${reason}`);
  }
}

const TYPES: readonly FieldType[] = ['n', 'a', 'an', 'ans', 'as', 'ns', 'anp', 'b', 'z', 'xn'];
const LENGTH_TYPES: readonly LengthType[] = ['fixed', 'LLVAR', 'LLLVAR', 'LLLLVAR', 'LLLLLLVAR'];
const BITMAP_ENCODINGS: readonly BitmapEncoding[] = ['hex-ascii', 'binary', 'hex-ebcdic'];
const DATA_ENCODINGS: readonly DataEncoding[] = ['ascii', 'bcd', 'ebcdic', 'binary'];
const LENGTH_ENCODINGS: readonly LengthEncoding[] = ['ascii', 'bcd', 'ebcdic', 'binary'];
const SHORTHAND = /^(n|a|an|ans|as|ns|anp|b|z|x\+n|xn)\s*(\.{2,6}| )\s*(\d{1,6})$/;
const DOTS: Readonly<Record<number, LengthType>> = { 2: 'LLVAR', 3: 'LLLVAR', 4: 'LLLLVAR', 6: 'LLLLLLVAR' };

/**
 * Parses ISO notation: `n 6`, `n..19`, `ans...999`, `ans....9999` (LLLL), `ans......999999` (LLLLLL),
 * `x+n 8`, `b 64`. A fixed `b` length is in bits
 * (as the standard writes it, so `b 64` is 8 bytes); a variable `b` length is in bytes.
 */
export function parseFormat(format: string, field = '?'): FieldSpec {
  const m = SHORTHAND.exec(format.trim());
  if (!m) throw new Iso8583SpecError(field, `format "${format}" is not ISO notation such as "n 6", "n..19", "ans...999"`);
  const type = (m[1] === 'x+n' ? 'xn' : m[1]) as FieldType;
  const prefix = m[2];
  const lengthType: LengthType | undefined = prefix === ' ' ? 'fixed' : prefix === undefined ? undefined : DOTS[prefix.length];
  if (!lengthType) throw new Iso8583SpecError(field, `format "${format}": a length prefix is written with 2, 3, 4 or 6 dots`);
  let length = Number(m[3]);
  if (type === 'b' && lengthType === 'fixed') {
    if (length % 8 !== 0) throw new Iso8583SpecError(field, `format "${format}": a fixed binary length is in bits and must be a multiple of 8`);
    length /= 8;
  }
  return checkField(field, { type, length, lengthType });
}

function oneOf<T extends string>(field: string, key: string, value: unknown, allowed: readonly T[]): T {
  if (typeof value !== 'string' || !allowed.includes(value as T)) {
    throw new Iso8583SpecError(field, `${key} must be one of ${allowed.join(', ')} (got ${JSON.stringify(value)})`);
  }
  return value as T;
}

function checkField(field: string, f: FieldSpec): FieldSpec {
  if (!Number.isInteger(f.length) || f.length < 0) throw new Iso8583SpecError(field, 'length must be a whole number ≥ 0');
  const lenEnc = f.lengthEncoding ?? 'ascii';
  const prefixMax = f.lengthType === 'fixed' ? 9999
    : Math.min(MAX_FIELD_LENGTH, lenEnc === 'binary' ? 256 ** BINARY_PREFIX_BYTES[f.lengthType] - 1 : 10 ** PREFIX_DIGITS[f.lengthType] - 1);
  if (f.length > prefixMax) throw new Iso8583SpecError(field, `length ${f.length} does not fit a ${f.lengthType} prefix (${lenEnc}, max ${prefixMax})`);
  if (f.lengthType === 'fixed' && f.length === 0) throw new Iso8583SpecError(field, 'a fixed field needs a length ≥ 1');
  const enc = f.encoding ?? 'ascii';
  if (enc === 'bcd' && f.type !== 'n' && f.type !== 'z' && f.type !== 'xn') throw new Iso8583SpecError(field, `encoding bcd is only for n, z and x+n fields (this one is ${f.type})`);
  if (enc === 'bcd' && f.type === 'xn' && f.lengthType !== 'fixed') throw new Iso8583SpecError(field, 'a bcd x+n amount must be fixed (a sign character, then the packed digits)');
  if (enc === 'binary' && f.type !== 'b') throw new Iso8583SpecError(field, `encoding binary is only for b fields (this one is ${f.type})`);
  if (enc === 'bcd' && f.type === 'z' && f.lengthType === 'fixed') throw new Iso8583SpecError(field, 'a bcd track-2 field must be LLVAR or LLLVAR');
  if (f.subfields) {
    const raw = f.type === 'b' ? enc === 'binary' : enc === 'ascii' || enc === 'ebcdic';
    if (!raw || f.type === 'n' || f.type === 'z' || f.type === 'xn') {
      throw new Iso8583SpecError(field, 'subfields need content carried as raw bytes: type b with encoding binary, or a text type (ans, an, …) with encoding ascii or ebcdic');
    }
  }
  return f;
}

function subfieldsFromJson(field: string, raw: unknown, depth: number): SubMessageSpec {
  if (depth > 0) throw new Iso8583SpecError(field, 'sub-fields cannot have sub-fields of their own');
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new Iso8583SpecError(`${field}.subfields`, 'must be {bitmapEncoding?, fields}');
  const o = raw as Record<string, unknown>;
  for (const k of Object.keys(o)) if (k !== 'bitmapEncoding' && k !== 'fields') throw new Iso8583SpecError(`${field}.subfields`, `unknown property "${k}"`);
  const bitmapEncoding = o.bitmapEncoding === undefined ? 'binary' : oneOf(`${field}.subfields.bitmapEncoding`, 'value', o.bitmapEncoding, BITMAP_ENCODINGS);
  if (typeof o.fields !== 'object' || o.fields === null || Array.isArray(o.fields)) throw new Iso8583SpecError(`${field}.subfields.fields`, 'must be an object of sub-field number → definition');
  const fields: Record<number, FieldSpec> = {};
  for (const [k, v] of Object.entries(o.fields as Record<string, unknown>)) {
    const n = fieldNumber(k, `${field}.${k}`);
    fields[n] = fieldFromJson(`${field}.${k}`, v, depth + 1);
  }
  return { bitmapEncoding, fields: Object.freeze(fields) };
}

function fieldFromJson(field: string, raw: unknown, depth = 0): FieldSpec {
  if (typeof raw === 'string') return parseFormat(raw, field);
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new Iso8583SpecError(field, 'must be ISO notation ("n..19") or an object {type, length, lengthType, encoding?, lengthEncoding?, padding?}');
  }
  const o = raw as Record<string, unknown>;
  const known = new Set(['format', 'type', 'length', 'lengthType', 'encoding', 'lengthEncoding', 'padding', 'name', 'sensitive', 'subfields']);
  for (const k of Object.keys(o)) if (!known.has(k)) throw new Iso8583SpecError(field, `unknown property "${k}"`);
  const base: Partial<FieldSpec> = typeof o.format === 'string' ? parseFormat(o.format, field) : {};
  if (o.format !== undefined && typeof o.format !== 'string') throw new Iso8583SpecError(field, 'format must be a string');
  const typeRaw = o.type === 'x+n' ? 'xn' : o.type;
  const type = typeRaw !== undefined ? oneOf(field, 'type', typeRaw, TYPES) : base.type;
  const lengthType = o.lengthType !== undefined ? oneOf(field, 'lengthType', o.lengthType, LENGTH_TYPES) : base.lengthType;
  const length = o.length !== undefined ? o.length : base.length;
  if (type === undefined) throw new Iso8583SpecError(field, 'type is required');
  if (lengthType === undefined) throw new Iso8583SpecError(field, 'lengthType is required');
  if (typeof length !== 'number') throw new Iso8583SpecError(field, 'length is required and must be a number');
  const spec: FieldSpec = { type, length, lengthType };
  if (o.encoding !== undefined) spec.encoding = oneOf(field, 'encoding', o.encoding, DATA_ENCODINGS);
  if (o.lengthEncoding !== undefined) spec.lengthEncoding = oneOf(field, 'lengthEncoding', o.lengthEncoding, LENGTH_ENCODINGS);
  if (o.padding !== undefined) spec.padding = oneOf(field, 'padding', o.padding, ['left', 'right'] as const);
  if (o.name !== undefined) {
    if (typeof o.name !== 'string') throw new Iso8583SpecError(field, 'name must be a string');
    spec.name = o.name;
  }
  if (o.sensitive !== undefined) {
    if (typeof o.sensitive !== 'boolean') throw new Iso8583SpecError(field, 'sensitive must be true or false');
    spec.sensitive = o.sensitive;
  }
  if (o.subfields !== undefined) spec.subfields = subfieldsFromJson(field, o.subfields, depth);
  return checkField(field, spec);
}

/** Checks a field number key: 2–128. */
function fieldNumber(key: string, where = key): number {
  const n = /^\d{1,3}$/.test(key) ? Number(key) : NaN;
  if (!(n >= 2 && n <= 128)) throw new Iso8583SpecError(where, 'field numbers run from 2 to 128 (field 1 is the secondary bitmap)');
  return n;
}

/** Validates one field definition (ISO notation or an object); errors name `where`. */
export function defineField(where: string, raw: unknown): FieldSpec {
  return fieldFromJson(where, raw);
}

/** Checks a field number key (2–128), naming `where` in the error. */
export function checkFieldNumber(key: string, where = key): number {
  return fieldNumber(key, where);
}

/** Builds a spec from ISO notation strings or field objects, validating each. */
export function defineSpec(fields: Readonly<Record<string | number, FieldDefinition>>): Iso8583Spec {
  const out: Record<number, FieldSpec> = {};
  for (const [k, v] of Object.entries(fields)) out[fieldNumber(k)] = fieldFromJson(k, v);
  return Object.freeze(out);
}

const ISO_1987: Record<number, [string, string]> = {
  2: ['n..19', 'Primary account number (PAN)'], 3: ['n 6', 'Processing code'], 4: ['n 12', 'Amount, transaction'],
  5: ['n 12', 'Amount, settlement'], 6: ['n 12', 'Amount, cardholder billing'], 7: ['n 10', 'Transmission date & time (MMDDhhmmss)'],
  8: ['n 8', 'Amount, cardholder billing fee'], 9: ['n 8', 'Conversion rate, settlement'], 10: ['n 8', 'Conversion rate, cardholder billing'],
  11: ['n 6', 'System trace audit number (STAN)'], 12: ['n 6', 'Local transaction time (hhmmss)'], 13: ['n 4', 'Local transaction date (MMDD)'],
  14: ['n 4', 'Expiration date (YYMM)'], 15: ['n 4', 'Settlement date (MMDD)'], 16: ['n 4', 'Currency conversion date (MMDD)'],
  17: ['n 4', 'Capture date (MMDD)'], 18: ['n 4', 'Merchant type (MCC)'], 19: ['n 3', 'Acquiring institution country code'],
  20: ['n 3', 'PAN extended, country code'], 21: ['n 3', 'Forwarding institution country code'], 22: ['n 3', 'POS entry mode'],
  23: ['n 3', 'Card sequence number'], 24: ['n 3', 'Network international identifier (NII)'], 25: ['n 2', 'POS condition code'],
  26: ['n 2', 'POS PIN capture code'], 27: ['n 1', 'Authorizing identification response length'], 28: ['x+n 8', 'Amount, transaction fee'],
  29: ['x+n 8', 'Amount, settlement fee'], 30: ['x+n 8', 'Amount, transaction processing fee'], 31: ['x+n 8', 'Amount, settlement processing fee'],
  32: ['n..11', 'Acquiring institution identification code'], 33: ['n..11', 'Forwarding institution identification code'],
  34: ['ns..28', 'PAN, extended'], 35: ['z..37', 'Track 2 data'], 36: ['n...104', 'Track 3 data'], 37: ['an 12', 'Retrieval reference number'],
  38: ['an 6', 'Authorization identification response'], 39: ['an 2', 'Response code'], 40: ['an 3', 'Service restriction code'],
  41: ['ans 8', 'Card acceptor terminal identification'], 42: ['ans 15', 'Card acceptor identification code'],
  43: ['ans 40', 'Card acceptor name/location'], 44: ['an..25', 'Additional response data'], 45: ['an..76', 'Track 1 data'],
  46: ['an...999', 'Additional data (ISO)'], 47: ['an...999', 'Additional data (national)'], 48: ['an...999', 'Additional data (private)'],
  49: ['n 3', 'Currency code, transaction'], 50: ['n 3', 'Currency code, settlement'], 51: ['n 3', 'Currency code, cardholder billing'],
  52: ['b 64', 'PIN data'], 53: ['n 16', 'Security related control information'], 54: ['an...120', 'Additional amounts'],
  55: ['ans...999', 'ICC data (reserved ISO)'], 56: ['ans...999', 'Reserved (ISO)'], 57: ['ans...999', 'Reserved (national)'],
  58: ['ans...999', 'Reserved (national)'], 59: ['ans...999', 'Reserved (national)'], 60: ['ans...999', 'Reserved (national)'],
  61: ['ans...999', 'Reserved (private)'], 62: ['ans...999', 'Reserved (private)'], 63: ['ans...999', 'Reserved (private)'],
  64: ['b 64', 'Message authentication code (MAC)'], 65: ['b 64', 'Tertiary bitmap'], 66: ['n 1', 'Settlement code'],
  67: ['n 2', 'Extended payment code'], 68: ['n 3', 'Receiving institution country code'], 69: ['n 3', 'Settlement institution country code'],
  70: ['n 3', 'Network management information code'], 71: ['n 4', 'Message number'], 72: ['n 4', 'Message number, last'],
  73: ['n 6', 'Action date (YYMMDD)'], 74: ['n 10', 'Credits, number'], 75: ['n 10', 'Credits, reversal number'],
  76: ['n 10', 'Debits, number'], 77: ['n 10', 'Debits, reversal number'], 78: ['n 10', 'Transfer number'],
  79: ['n 10', 'Transfer, reversal number'], 80: ['n 10', 'Inquiries number'], 81: ['n 10', 'Authorizations, number'],
  82: ['n 12', 'Credits, processing fee amount'], 83: ['n 12', 'Credits, transaction fee amount'], 84: ['n 12', 'Debits, processing fee amount'],
  85: ['n 12', 'Debits, transaction fee amount'], 86: ['n 16', 'Credits, amount'], 87: ['n 16', 'Credits, reversal amount'],
  88: ['n 16', 'Debits, amount'], 89: ['n 16', 'Debits, reversal amount'], 90: ['n 42', 'Original data elements'],
  91: ['an 1', 'File update code'], 92: ['an 2', 'File security code'], 93: ['an 5', 'Response indicator'], 94: ['an 7', 'Service indicator'],
  95: ['an 42', 'Replacement amounts'], 96: ['b 64', 'Message security code'], 97: ['x+n 16', 'Amount, net settlement'],
  98: ['ans 25', 'Payee'], 99: ['n..11', 'Settlement institution identification code'], 100: ['n..11', 'Receiving institution identification code'],
  101: ['ans..17', 'File name'], 102: ['ans..28', 'Account identification 1'], 103: ['ans..28', 'Account identification 2'],
  104: ['ans...100', 'Transaction description'], 128: ['b 64', 'Message authentication code (MAC)'],
};
for (let f = 105; f <= 127; f++) ISO_1987[f] = ['ans...999', f <= 111 ? 'Reserved (ISO)' : f <= 119 ? 'Reserved (national)' : 'Reserved (private)'];

/** ISO 8583:1987 field layout with ASCII data and ASCII LL/LLL lengths (`b` fields as hex-ASCII). */
export const ISO8583_1987: Iso8583Spec = defineSpec(
  Object.fromEntries(Object.entries(ISO_1987).map(([k, [format, name]]) => [k, { format, name }])),
);

/** Validates (and completes) wire options; unknown or bad values throw {@link Iso8583SpecError}. */
export function resolveOptions(partial: unknown = {}): Iso8583Options {
  if (typeof partial !== 'object' || partial === null || Array.isArray(partial)) throw new Iso8583SpecError('options', 'must be an object');
  const o = partial as Record<string, unknown>;
  const known = new Set(['mtiEncoding', 'bitmapEncoding', 'lengthHeader', 'lengthHeaderIncludesItself', 'lengthCountsMessageHeader', 'messageHeader', 'trailer', 'maxFillerBytes']);
  for (const k of Object.keys(o)) if (!known.has(k)) throw new Iso8583SpecError(`options.${k}`, 'is not an option');
  const out: Iso8583Options = {
    mtiEncoding: o.mtiEncoding === undefined ? DEFAULT_OPTIONS.mtiEncoding : oneOf('options.mtiEncoding', 'value', o.mtiEncoding, ['ascii', 'bcd', 'ebcdic'] as const),
    bitmapEncoding: o.bitmapEncoding === undefined ? DEFAULT_OPTIONS.bitmapEncoding : oneOf('options.bitmapEncoding', 'value', o.bitmapEncoding, ['hex-ascii', 'binary', 'hex-ebcdic'] as const),
    lengthHeader: o.lengthHeader === undefined ? DEFAULT_OPTIONS.lengthHeader : oneOf('options.lengthHeader', 'value', o.lengthHeader, ['binary2', 'ascii4', 'none'] as const),
    lengthHeaderIncludesItself: bool(o, 'lengthHeaderIncludesItself', DEFAULT_OPTIONS.lengthHeaderIncludesItself),
    lengthCountsMessageHeader: bool(o, 'lengthCountsMessageHeader', DEFAULT_OPTIONS.lengthCountsMessageHeader),
    maxFillerBytes: DEFAULT_OPTIONS.maxFillerBytes,
  };
  if (o.maxFillerBytes !== undefined) {
    if (typeof o.maxFillerBytes !== 'number' || !Number.isInteger(o.maxFillerBytes) || o.maxFillerBytes < 0 || o.maxFillerBytes > 1024) {
      throw new Iso8583SpecError('options.maxFillerBytes', 'must be a whole number of bytes from 0 to 1024');
    }
    out.maxFillerBytes = o.maxFillerBytes;
  }
  if (o.trailer !== undefined && o.trailer !== null) {
    if (typeof o.trailer !== 'string' || !/^(?:[0-9A-Fa-f]{2}){1,16}$/.test(o.trailer)) throw new Iso8583SpecError('options.trailer', 'must be 1 to 16 bytes as hex, e.g. "03"');
    out.trailer = o.trailer.toUpperCase();
  }
  if (o.messageHeader !== undefined && o.messageHeader !== null) {
    const h = o.messageHeader as Record<string, unknown>;
    if (typeof h !== 'object' || Array.isArray(h)) throw new Iso8583SpecError('options.messageHeader', 'must be {length, response?}');
    if (typeof h.length !== 'number' || !Number.isInteger(h.length) || h.length < 1 || h.length > 64) {
      throw new Iso8583SpecError('options.messageHeader.length', 'must be a whole number of bytes from 1 to 64');
    }
    const response = h.response === undefined ? 'echo' : oneOf('options.messageHeader.response', 'value', h.response, ['echo', 'swap-tpdu'] as const);
    if (response === 'swap-tpdu' && h.length !== 5) throw new Iso8583SpecError('options.messageHeader.response', 'swap-tpdu needs a 5-byte TPDU header');
    out.messageHeader = { length: h.length, response };
  }
  if (!out.lengthCountsMessageHeader && !out.messageHeader) throw new Iso8583SpecError('options.lengthCountsMessageHeader', 'false needs a messageHeader');
  return out;
}

function bool(o: Record<string, unknown>, key: string, fallback: boolean): boolean {
  const v = o[key];
  if (v === undefined) return fallback;
  if (typeof v !== 'boolean') throw new Iso8583SpecError(`options.${key}`, 'must be true or false');
  return v;
}

/** True when a field carries card data and must never be logged or kept in clear. */
export function isSensitive(spec: Iso8583Spec, field: number): boolean {
  return CARD_DATA_FIELDS.includes(field) || spec[field]?.sensitive === true;
}
