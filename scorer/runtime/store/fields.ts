/**
 * Codec versions 9 and 10's generic part of a customer (10 appends the loyalty state's `merged`): everything its sections (lots, earning records, remembered
 * ids, feature buckets) leave, written by a layout of the fields the core keeps rather than described as it
 * goes (compact.ts). Each object the layout knows (the customer, its profile, loyalty counters, features,
 * lifecycle, churn score, offers, and their contacts and open offers) is written as its entries in its own
 * key order: a field's index in the layout and its value in the field's kind, then an end byte. No key
 * names, no type tags where the kind says it, no string dictionary to keep. Measured on the simulated year's
 * customers (`.scratch`-style script, this 2-core machine): see docs/ARCHITECTURE.md, step 3.
 *
 * Whatever the layout does not expect is still written exactly:
 * - a key it does not know, or a value not of its field's kind (a fractional balance, a lone surrogate in
 *   a text), is an escaped entry: the key and the value by the generic codec (compact.ts);
 * - fields may come in any order, any of them absent; a value `undefined` is left out, as compact.ts does.
 * So a decoded object has the keys, key order and values of the one encoded, whatever shape the core gives
 * its state next. A field's index is its place in {@link LAYOUT}: fields are only ever appended, and a
 * changed layout is a new codec version (test/unit/state-fields.test.ts pins it).
 */

import { setOwn } from '../../core/mod.js';
import { compactDecode, compactEncode } from './compact.js';
import { ByteReader, ByteWriter, fnv1a, isPlainObject, isWellFormed, present } from './bytes.js';

/** How a field's value is written. */
const enum Kind {
  /** A safe integer (|n| < 2^51, not −0): zigzag varint. */
  Int,
  /** Any number: 0 and a zigzag varint for an integer as {@link Kind.Int}, else 1 and its float64. */
  Num,
  /** A well-formed string: UTF-8 length and bytes. */
  Text,
  /** A text from a small vocabulary (a tier, a stage, an offer code): the same, decoded as one shared string. */
  Word,
  Bool,
  /** An array of numbers, each as {@link Kind.Num}. */
  Nums,
  /** An array of words. */
  Words,
  /** An object of integers by key (a map): count, then each key's text and its value. */
  IntMap,
  /** The same with words for keys (offer codes: keys repeat from customer to customer). */
  WordIntMap,
  /**
   * An object of integers by array-index key (tier-qualifying points by bank month): count, then each key
   * as its distance from the one before and its value. JavaScript keeps such keys in ascending order.
   */
  IndexIntMap,
  /** An object of words by word. */
  WordMap,
  /** An object of the field's layout. */
  Struct,
  /** An array of objects of the field's layout. */
  Structs,
  /** Anything: null, an empty object or array in one byte, else the generic codec's bytes. */
  Any,
}

/** Entry bytes: a field index below these. */
const END = 0xfe;
const ESCAPE = 0xff;
/** Tags of {@link Kind.Any}. */
const ANY_NULL = 0;
const ANY_EMPTY_OBJECT = 1;
const ANY_EMPTY_ARRAY = 2;
const ANY_GENERIC = 3;
/** Integers written as varints: zigzag doubles them, and the result must stay exact. */
const INT_LIMIT = 2 ** 51;
/** Items of an array or entries of a map at most, read (their bytes bound them; this bounds the work first). */
const MAX_ITEMS = 1 << 20;
/** Shared decoded words at most; past it a word is decoded as a string of its own. */
const MAX_WORDS = 4096;
/** Strings up to this many bytes are decoded by hand (a TextDecoder call costs more for short ones). */
const SHORT_TEXT = 64;

/** A layout: the fields an object of the core's state holds, by name, each with how it is written. */
export class Layout {
  readonly names: readonly string[];
  readonly kinds: readonly Kind[];
  readonly layouts: readonly (Layout | undefined)[];
  private readonly indexByName: Map<string, number>;

  constructor(readonly name: string, fields: readonly (readonly [name: string, kind: Kind, layout?: Layout])[]) {
    if (fields.length >= END) throw new RangeError(`layout ${name}: ${fields.length} fields (at most ${END - 1})`);
    this.names = fields.map(([n]) => n);
    this.kinds = fields.map(([, k]) => k);
    this.layouts = fields.map(([, , l]) => l);
    this.indexByName = new Map(this.names.map((n, i) => [n, i]));
    if (this.indexByName.size !== fields.length) throw new RangeError(`layout ${name}: a field named twice`);
  }

  /** The index of field `key`, trying `expected` first (objects mostly hold their fields in layout order); −1: not in the layout. */
  indexOf(key: string, expected: number): number {
    if (this.names[expected] === key) return expected;
    return this.indexByName.get(key) ?? -1;
  }
}

const contact = new Layout('contact', [['at', Kind.Int], ['code', Kind.Word], ['channel', Kind.Word]]);
const openOffer = new Layout('open offer', [
  ['id', Kind.Text], ['code', Kind.Word], ['campaign', Kind.Word], ['channel', Kind.Word], ['branch', Kind.Word], ['holdout', Kind.Bool],
  ['at', Kind.Int], ['until', Kind.Int], ['survey', Kind.Word],
]);
const consentOrMembership = new Layout('consent statement', [['status', Kind.Word], ['at', Kind.Text]]);
const consent = new Layout('consent', ['sms', 'app', 'email', 'push', 'branch'].map((channel) => [channel, Kind.Struct, consentOrMembership] as const));

/** The loyalty state's fields in codec version 9 (version 10 appends `merged`). */
const LOYALTY_FIELDS_9: readonly (readonly [string, Kind])[] = [
  ['balance', Kind.Int], ['tier', Kind.Word], ['tierSince', Kind.Int], ['debt', Kind.Int], ['lots', Kind.Any], ['earned', Kind.Any],
  ['pending', Kind.IntMap], ['caps', Kind.IntMap], ['months', Kind.IndexIntMap], ['reviewAt', Kind.Int], ['expiryAt', Kind.Int],
  ['redemptions', Kind.IntMap], ['referral', Kind.Any], ['pruned', Kind.Int], ['refunds', Kind.Any], ['pastRefunds', Kind.IntMap],
  ['held', Kind.Any],
];

/** The layouts of version 10, field by field (each in the core's key order: scorer/core/state.ts and the states it holds). */
export const LAYOUT = {
  profile: new Layout('profile', [
    ['customer_id', Kind.Text], ['opened_at', Kind.Text], ['birth_date', Kind.Text], ['segment', Kind.Word], ['branch_id', Kind.Word],
    ['products', Kind.Words], ['closed_at', Kind.Text], ['referred_by', Kind.Text], ['card_tokens', Kind.Any],
    ['membership', Kind.Struct, consentOrMembership], ['consent', Kind.Struct, consent],
  ]),
  loyalty: new Layout('loyalty', [...LOYALTY_FIELDS_9, ['merged', Kind.Int]]),
  features: new Layout('features', [
    ['v', Kind.Int], ['firstAt', Kind.Int], ['lastAt', Kind.Int], ['lastBy', Kind.Nums], ['days', Kind.Any], ['weeks', Kind.Any],
    ['rolled', Kind.Int], ['mix', Kind.Nums], ['mixAt', Kind.Int], ['sticky', Kind.Nums], ['complaints', Kind.IntMap], ['late', Kind.Int],
    ['complaintAt', Kind.Int], ['scores', Kind.Any], ['refunds', Kind.Any],
  ]),
  lifecycle: new Layout('lifecycle', [
    ['stage', Kind.Word], ['since', Kind.Int], ['known', Kind.Int], ['timer', Kind.Int], ['inflight', Kind.Int], ['deferred', Kind.Any],
  ]),
  churn: new Layout('churn', [['p', Kind.Num], ['version', Kind.Word], ['at', Kind.Int], ['reasons', Kind.Text]]),
  offers: new Layout('offers', [
    ['v', Kind.Int], ['contacts', Kind.Structs, contact], ['open', Kind.Structs, openOffer], ['counts', Kind.WordIntMap], ['ignored', Kind.Int],
    ['suppressedUntil', Kind.Int], ['tier', Kind.Word], ['tierRank', Kind.Int], ['tierUpAt', Kind.Int], ['occasions', Kind.WordMap],
    ['held', Kind.WordIntMap],
  ]),
  contact,
  openOffer,
  consent,
  consentStatement: consentOrMembership,
} as const;

/** A customer's own fields, in the core's key order (scorer/core/state.ts `getCustomer`), with `loyalty` of that layout. */
function customerLayout(loyalty: Layout): Layout {
  return new Layout('customer', [
    ['id', Kind.Text], ['loyalty', Kind.Struct, loyalty], ['features', Kind.Struct, LAYOUT.features],
    ['lifecycle', Kind.Struct, LAYOUT.lifecycle], ['churn', Kind.Struct, LAYOUT.churn], ['seen', Kind.Any], ['lastSeq', Kind.Int],
    ['offers', Kind.Struct, LAYOUT.offers], ['profile', Kind.Struct, LAYOUT.profile],
  ]);
}

/** The customer's own fields (codec version 10); reads version 9 too, whose layouts are its prefixes. */
export const CUSTOMER_LAYOUT = customerLayout(LAYOUT.loyalty);
/** Version 9's: a loyalty state's `merged` is written as an escaped entry, which a version-9 reader reads. */
const CUSTOMER_LAYOUT_9 = customerLayout(new Layout('loyalty', LOYALTY_FIELDS_9));

/** The generic part of version 9 is an object of {@link CUSTOMER_LAYOUT} (1) or, not an object, any value (0). */
const FORM_ANY = 0;
const FORM_CUSTOMER = 1;

const isInt = (n: unknown): n is number => typeof n === 'number' && Number.isSafeInteger(n) && n > -INT_LIMIT && n < INT_LIMIT && !Object.is(n, -0);
const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder('utf-8', { fatal: true });
const f64 = new Float64Array(1);
const f64Bytes = new Uint8Array(f64.buffer);

class FieldWriter extends ByteWriter {
  constructor() {
    super(1 << 12);
  }

  /** A well-formed string's UTF-8 length and bytes; false, nothing written, for one with a lone surrogate. */
  text(s: string): boolean {
    const n = s.length;
    if (n >= 0x80) return this.wideText(s, this.length);
    const start = this.length;
    this.room(n + 1);
    const bytes = this.bytes;
    bytes[start] = n;
    let o = start + 1;
    for (let i = 0; i < n; i++) {
      const code = s.charCodeAt(i);
      if (code >= 0x80) return this.wideText(s, start);
      bytes[o++] = code;
    }
    this.length = o;
    return true;
  }

  private wideText(s: string, start: number): boolean {
    this.length = start;
    if (!isWellFormed(s)) return false;
    const encoded = utf8.encode(s);
    this.varint(encoded.length);
    this.raw(encoded);
    return true;
  }

  number(n: number): void {
    if (isInt(n)) {
      this.byte(0);
      this.zigzag(n);
      return;
    }
    this.byte(1);
    f64[0] = n;
    this.raw(f64Bytes);
  }
}

/** Writes `o`'s entries by `layout`; an entry that does not fit its field is escaped. */
function writeStruct(w: FieldWriter, o: Record<string, unknown>, layout: Layout): void {
  let expected = 0;
  // for-in, not Object.keys: V8 reads `o[key]` through the enumeration cache (a plain object has no inherited enumerable keys).
  for (const key in o) {
    const value = o[key];
    if (value === undefined) continue;
    const index = layout.indexOf(key, expected);
    const start = w.length;
    if (index >= 0) {
      w.byte(index);
      if (writeValue(w, value, present(layout.kinds[index], 'a field kind'), layout.layouts[index])) {
        expected = index + 1;
        continue;
      }
      w.length = start;
    }
    w.byte(ESCAPE);
    const entry = compactEncode([key, value]);
    w.varint(entry.length);
    w.raw(entry);
  }
  w.byte(END);
}

/** Writes `v` as `kind`; false when it is not of that kind (the caller rewinds and escapes it). */
function writeValue(w: FieldWriter, v: unknown, kind: Kind, layout: Layout | undefined): boolean {
  switch (kind) {
    case Kind.Int:
      if (!isInt(v)) return false;
      w.zigzag(v);
      return true;
    case Kind.Num:
      if (typeof v !== 'number') return false;
      w.number(v);
      return true;
    case Kind.Text:
    case Kind.Word:
      return typeof v === 'string' && w.text(v);
    case Kind.Bool:
      if (typeof v !== 'boolean') return false;
      w.byte(v ? 1 : 0);
      return true;
    case Kind.Nums:
      return writeNums(w, v);
    case Kind.Words:
      return writeWords(w, v);
    case Kind.IntMap:
    case Kind.WordIntMap:
      return writeIntMap(w, v);
    case Kind.IndexIntMap:
      return writeIndexIntMap(w, v);
    case Kind.WordMap:
      return writeWordMap(w, v);
    case Kind.Struct:
      if (!isPlainObject(v)) return false;
      writeStruct(w, v, present(layout, 'a nested layout'));
      return true;
    case Kind.Structs:
      return writeStructs(w, v, present(layout, 'a nested layout'));
    case Kind.Any:
      writeAny(w, v);
      return true;
  }
}

function writeNums(w: FieldWriter, v: unknown): boolean {
  if (!Array.isArray(v)) return false;
  for (let i = 0; i < v.length; i++) if (typeof v[i] !== 'number') return false;
  w.varint(v.length);
  for (let i = 0; i < v.length; i++) w.number(v[i] as number);
  return true;
}

function writeWords(w: FieldWriter, v: unknown): boolean {
  if (!Array.isArray(v)) return false;
  for (let i = 0; i < v.length; i++) if (typeof v[i] !== 'string') return false;
  w.varint(v.length);
  for (let i = 0; i < v.length; i++) if (!w.text(v[i] as string)) return false;
  return true;
}

/**
 * A map's entries are written in one pass after a one-byte count, set once they are counted: the core's
 * maps lose keys as they go (`delete`), so V8 keeps them as dictionaries, whose keys a `for…in` lists
 * anew each time (measured: two passes cost about twice one). A map of {@link ONE_BYTE_COUNT} entries
 * or more is written again with its count first.
 */
const ONE_BYTE_COUNT = 0x80;

function writeIntMap(w: FieldWriter, v: unknown): boolean {
  if (!isPlainObject(v)) return false;
  const start = w.length;
  w.byte(0);
  let count = 0;
  for (const key in v) {
    const value = v[key];
    if (!isInt(value) || !w.text(key)) return false;
    w.zigzag(value);
    count++;
  }
  if (count < ONE_BYTE_COUNT) {
    w.bytes[start] = count;
    return true;
  }
  w.length = start;
  w.varint(count);
  for (const key in v) {
    if (!w.text(key)) return false;
    w.zigzag(v[key] as number);
  }
  return true;
}

/** Array-index keys written as numbers, at most this long (nine digits stay below 2^32 − 1). */
const MAX_INDEX_DIGITS = 9;

/** A key JavaScript keeps as an array index: decimal digits, no leading zero, at most nine. */
function isIndexKey(key: string): boolean {
  const n = key.length;
  if (n === 0 || n > MAX_INDEX_DIGITS || (n > 1 && key.charCodeAt(0) === 0x30)) return false;
  for (let i = 0; i < n; i++) {
    const c = key.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return false;
  }
  return true;
}

function writeIndexIntMap(w: FieldWriter, v: unknown): boolean {
  if (!isPlainObject(v)) return false;
  const start = w.length;
  w.byte(0);
  let count = 0;
  let previous = -1;
  for (const key in v) {
    const value = v[key];
    if (!isIndexKey(key) || !isInt(value)) return false;
    const index = Number(key);
    w.varint(index - previous - 1);
    previous = index;
    w.zigzag(value);
    count++;
  }
  if (count < ONE_BYTE_COUNT) {
    w.bytes[start] = count;
    return true;
  }
  w.length = start;
  w.varint(count);
  previous = -1;
  for (const key in v) {
    const index = Number(key);
    w.varint(index - previous - 1);
    previous = index;
    w.zigzag(v[key] as number);
  }
  return true;
}

function writeWordMap(w: FieldWriter, v: unknown): boolean {
  if (!isPlainObject(v)) return false;
  const start = w.length;
  w.byte(0);
  let count = 0;
  for (const key in v) {
    const value = v[key];
    if (typeof value !== 'string' || !w.text(key) || !w.text(value)) return false;
    count++;
  }
  if (count < ONE_BYTE_COUNT) {
    w.bytes[start] = count;
    return true;
  }
  w.length = start;
  w.varint(count);
  for (const key in v) if (!w.text(key) || !w.text(v[key] as string)) return false;
  return true;
}

function writeStructs(w: FieldWriter, v: unknown, layout: Layout): boolean {
  if (!Array.isArray(v)) return false;
  for (let i = 0; i < v.length; i++) if (!isPlainObject(v[i])) return false;
  w.varint(v.length);
  for (let i = 0; i < v.length; i++) writeStruct(w, v[i] as Record<string, unknown>, layout);
  return true;
}

function writeAny(w: FieldWriter, v: unknown): void {
  if (v === null) return w.byte(ANY_NULL);
  if (Array.isArray(v) && v.length === 0 && Object.getPrototypeOf(v) === Array.prototype) return w.byte(ANY_EMPTY_ARRAY);
  if (isPlainObject(v) && Object.keys(v).length === 0) return w.byte(ANY_EMPTY_OBJECT);
  const bytes = compactEncode(v);
  w.byte(ANY_GENERIC);
  w.varint(bytes.length);
  w.raw(bytes);
}

/** The bytes do not decode: truncated, a field index the layout does not have, an unknown tag. */
export class FieldsFormatError extends Error {
  override readonly name = 'FieldsFormatError';
}

/**
 * Words decoded so far, shared by every customer decoded after (bounded by {@link MAX_WORDS}), by a hash of
 * their bytes: a word met again is recognised in the record's bytes, with no string made to look it up.
 * Two words of one hash: the first keeps the place, the other is decoded as a string of its own each time.
 */
const words = new Map<number, string>();

/** FNV-1a of `n` bytes at `start`, or −1 when one is not ASCII (such a word is not shared). */
function asciiHash(bytes: Uint8Array, start: number, n: number): number {
  for (let i = start; i < start + n; i++) if ((bytes[i] as number) >= 0x80) return -1;
  return fnv1a(bytes, start, start + n);
}

/** Whether ASCII string `s` is the `n` bytes at `start`. */
function sameAscii(s: string, bytes: Uint8Array, start: number, n: number): boolean {
  if (s.length !== n) return false;
  for (let i = 0; i < n; i++) if (s.charCodeAt(i) !== bytes[start + i]) return false;
  return true;
}

class FieldReader extends ByteReader {
  override fail(detail: string): never {
    throw new FieldsFormatError(`${detail} at byte ${this.offset} of ${this.bytes.length}`);
  }

  count(): number {
    const n = this.varint();
    if (n > MAX_ITEMS) this.fail(`${n} items (at most ${MAX_ITEMS})`);
    return n;
  }

  text(): string {
    return this.textOf(this.varint());
  }

  /** The text of the `n` bytes at the offset (their length read already). */
  private textOf(n: number): string {
    if (this.offset + n > this.bytes.length) this.fail('truncated text');
    const bytes = this.bytes;
    const start = this.offset;
    this.offset += n;
    if (n <= SHORT_TEXT) {
      let ascii = true;
      for (let i = start; i < start + n && ascii; i++) ascii = (bytes[i] as number) < 0x80;
      if (ascii) return String.fromCharCode.apply(null, bytes.subarray(start, start + n) as unknown as number[]);
    }
    try {
      return fromUtf8.decode(bytes.subarray(start, start + n));
    } catch {
      return this.fail('text that is not UTF-8');
    }
  }

  word(): string {
    const n = this.varint();
    const start = this.offset;
    const hash = n <= SHORT_TEXT && start + n <= this.bytes.length ? asciiHash(this.bytes, start, n) : -1;
    if (hash < 0) return this.textOf(n);
    const shared = words.get(hash);
    if (shared !== undefined && sameAscii(shared, this.bytes, start, n)) {
      this.offset += n;
      return shared;
    }
    const s = this.textOf(n);
    if (shared === undefined && words.size < MAX_WORDS) words.set(hash, s);
    return s;
  }

  /** An escaped entry: its key and value by the generic codec. */
  escaped(): [key: string, value: unknown] {
    const entry = this.generic();
    if (!Array.isArray(entry) || entry.length !== 2 || typeof entry[0] !== 'string') this.fail('an escaped entry that is not a key and a value');
    return [entry[0], entry[1] as unknown];
  }

  /** A value by the generic codec: its length, then its bytes. */
  generic(): unknown {
    const n = this.varint();
    if (this.offset + n > this.bytes.length) this.fail('truncated value');
    const value = compactDecode(this.bytes.subarray(this.offset, this.offset + n));
    this.offset += n;
    return value;
  }

  number(): number {
    const tag = this.byte();
    if (tag === 0) return this.zigzag();
    if (tag !== 1) this.fail(`a number tag ${tag}`);
    if (this.offset + 8 > this.bytes.length) this.fail('truncated number');
    for (let i = 0; i < 8; i++) f64Bytes[i] = this.bytes[this.offset + i] as number;
    this.offset += 8;
    return f64[0] as number;
  }
}

function readStruct(r: FieldReader, layout: Layout): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  for (;;) {
    const index = r.byte();
    if (index === END) return o;
    if (index === ESCAPE) {
      const [key, value] = r.escaped();
      setOwn(o, key, value);
      continue;
    }
    const name = layout.names[index];
    if (name === undefined) r.fail(`field ${index} of a ${layout.name} layout of ${layout.names.length}`);
    o[name] = readValue(r, present(layout.kinds[index], 'a field kind'), layout.layouts[index]);
  }
}

function readValue(r: FieldReader, kind: Kind, layout: Layout | undefined): unknown {
  switch (kind) {
    case Kind.Int: return r.zigzag();
    case Kind.Num: return r.number();
    case Kind.Text: return r.text();
    case Kind.Word: return r.word();
    case Kind.Bool: {
      const b = r.byte();
      if (b > 1) r.fail(`a boolean ${b}`);
      return b === 1;
    }
    case Kind.Nums: {
      const n = r.count();
      const a: number[] = [];
      for (let i = 0; i < n; i++) a.push(r.number());
      return a;
    }
    case Kind.Words: {
      const n = r.count();
      const a: string[] = [];
      for (let i = 0; i < n; i++) a.push(r.word());
      return a;
    }
    case Kind.IntMap:
    case Kind.WordIntMap:
      return readIntMap(r, kind === Kind.WordIntMap);
    case Kind.IndexIntMap: return readIndexIntMap(r);
    case Kind.WordMap: {
      const n = r.count();
      const o: Record<string, unknown> = {};
      for (let i = 0; i < n; i++) setOwn(o, r.word(), r.word());
      return o;
    }
    case Kind.Struct: return readStruct(r, present(layout, 'a nested layout'));
    case Kind.Structs: {
      const n = r.count();
      const a: Record<string, unknown>[] = [];
      for (let i = 0; i < n; i++) a.push(readStruct(r, present(layout, 'a nested layout')));
      return a;
    }
    case Kind.Any: return readAny(r);
  }
}

function readIntMap(r: FieldReader, wordKeys: boolean): Record<string, number> {
  const n = r.count();
  const o: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const key = wordKeys ? r.word() : r.text();
    if (key === '__proto__') setOwn(o, key, r.zigzag());
    else o[key] = r.zigzag();
  }
  return o;
}

function readIndexIntMap(r: FieldReader): Record<number, number> {
  const n = r.count();
  const o: Record<number, number> = {};
  let previous = -1;
  for (let i = 0; i < n; i++) {
    const index = previous + 1 + r.varint();
    if (index >= 10 ** MAX_INDEX_DIGITS) r.fail(`an index key ${index}`);
    o[index] = r.zigzag();
    previous = index;
  }
  return o;
}

function readAny(r: FieldReader): unknown {
  const tag = r.byte();
  switch (tag) {
    case ANY_NULL: return null;
    case ANY_EMPTY_OBJECT: return {};
    case ANY_EMPTY_ARRAY: return [];
    case ANY_GENERIC: return r.generic();
    default: return r.fail(`a value tag ${tag}`);
  }
}

const writer = new FieldWriter();

/** A customer's generic part (what its sections leave of it) as codec version `version` (9 or 10) writes it. */
export function encodeCustomerFields(value: unknown, version: 9 | 10 = 10): Uint8Array {
  writer.length = 0;
  if (isPlainObject(value)) {
    writer.byte(FORM_CUSTOMER);
    writeStruct(writer, value, version === 9 ? CUSTOMER_LAYOUT_9 : CUSTOMER_LAYOUT);
  } else {
    writer.byte(FORM_ANY);
    writeAny(writer, value);
  }
  return writer.bytes.subarray(0, writer.length);
}

/** What {@link encodeCustomerFields} wrote; throws {@link FieldsFormatError} (or compact.ts's error) on anything else. */
export function decodeCustomerFields(bytes: Uint8Array): unknown {
  const reader = new FieldReader(bytes, 0);
  const form = reader.byte();
  let value: unknown;
  if (form === FORM_CUSTOMER) value = readStruct(reader, CUSTOMER_LAYOUT);
  else if (form === FORM_ANY) value = readAny(reader);
  else reader.fail(`a form ${form}`);
  if (reader.offset !== bytes.length) throw new FieldsFormatError(`${bytes.length - reader.offset} bytes after the customer's fields`);
  return value;
}
