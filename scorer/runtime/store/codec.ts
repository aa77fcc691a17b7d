/**
 * The state store's record codec: a two-byte envelope (codec version, record kind) followed by the body.
 * Version 13 (current) is version 12 with the remembered ids written as a restored customer holds them
 * (seen-section.ts): the table as it was read, the day its ids count from, and the ids remembered since
 * after it, so that a commit copies the table instead of merging the new ids into it; the two are merged
 * once 16 ids are new or no longer count. Measured on the simulated year: see docs/ARCHITECTURE.md, step 14.
 * Version 12 is version 11 with the ids of lots and earning records coded by the numbers in
 * them (shapes.ts `ShapeWriter.idCoded`): where an id differs from the one before inside a number of as many
 * digits (a running count, an ISO 8583 STAN or time), the difference of the numbers is written instead of the
 * text; and an earning record's cap counters (`<rule>|m<bank month>`) against its bank month, a single award of
 * its points with one cap as that cap alone. Sealed chunks are always written so; a version-12 record writes the chunks of an earlier record it
 * carries again in that layout, once, and a record of version 11 is written with version-12 chunks opened into
 * the generic part. Measured on the simulated year: see docs/ARCHITECTURE.md, step 13.
 * Version 11 is version 10 with what a lot or an earning record repeats flagged instead of
 * written (shapes.ts): a lot's remaining points when they are its points, its tier and rules version when
 * they are the previous lot's, an earning record's rules version when it is the previous record's; and the
 * feature buckets' columns bit-packed when that is shorter (shapes.ts `writeBuckets`). Sealed
 * chunks are always written so, so a record of an earlier version is written with its sealed lots and
 * records opened into the generic part. Measured on the simulated year: see docs/ARCHITECTURE.md, step 12.
 * Version 10 is version 9 with one more field in the layout of a customer's loyalty state,
 * `merged` (how far its lots are known merged, so a restored customer's weekly merge decodes only its
 * later lots); version 9 writes that field as an escaped entry, which a version-9 reader reads.
 * Version 9 is version 8 with a customer's generic part (what its sections leave of it) written
 * by a layout of the fields the core keeps (fields.ts): each field as its index and its value in its kind,
 * no key names; a key the layout does not know, or a value not of its field's kind, escaped to compact.ts.
 * Records of other kinds keep compact.ts.
 * Version 8 is version 7 with the remembered ids as one table sorted by hash (seen-section.ts): a
 * customer restored with `{ sealed: true }` keeps it as read and looks ids up in it in place, and its next
 * encoding writes it back as it is, or merged with the ids remembered since.
 * Version 7 is version 6 with the lots and earned sections each a list of self-contained chunks
 * with a summary and a checksum (sealed.ts), none pointing into another section: a customer restored with
 * `{ sealed: true }` keeps them encoded (scorer/core/loyalty/book.ts), and its next encoding writes them
 * back as they are, with what the customer earned since as one more chunk.
 * Version 6 is version 5 with a fourth section, the customer's feature buckets column by column
 * (shapes.ts `writeBuckets`), its remembered ids written whole again (not pointing into the earning
 * records: finding which do meant hashing every record's key at every encoding and decoding, a quarter of
 * the encoding time, for 2–7 % of the bytes), and empty values holding the sections' places in the generic
 * part, so a decoded customer has the core's key order.
 * Version 5 is version 4 with the sections in the order earned, lots, seen, the lots and the
 * remembered ids pointing into the earning records for what they repeat (shapes.ts, `EarnedLinks`).
 * Version 4 is version 3's body for everything but a customer's loyalty lots, earning records
 * and remembered ids, which follow it in their own shape (shapes.ts): the body is the length of the generic part, the
 * generic part, then a lots, an earned and a seen-ids section, each absent (one byte) when its value does not
 * fit the shape and left in the generic part instead. Same bytes within a few per cent, a customer encoded
 * in about half the time. Version 3 is the compact encoding of compact.ts: tables for arrays of records, integer runs,
 * front-coded string columns, base-64 ids as bytes (a customer after a simulated year: median 8.3 KB,
 * p99 35 KB, against 15.2 KB and 80 KB in version 2). Version 2 is MessagePack with msgpackr's record extension: each object shape is described once
 * per record and its later instances are written as bare values, so the many lots, days and contacts of a
 * customer share their field names. Structures are not shared across records: every record decodes on
 * its own, whatever shape the core gives `CustomerState` next (a shared-structure table would have to be
 * committed atomically with every record that uses it; measured, it would save another ~8 %).
 * Versions 1 (plain MessagePack maps, the store's first format) and 2 are still read; a record is rewritten
 * as version 3 the next time it changes.
 */
import { Packr, Unpackr } from 'msgpackr';
import { varintLength } from './bytes.js';
import { compactDecode, compactEncode } from './compact.js';
import { decodeCustomerFields, encodeCustomerFields } from './fields.js';
import { EarnedLinks, readBuckets, readEarned, readLots, readSeen, SECTION_ABSENT, SECTION_SHAPED, ShapeReader, ShapeWriter, writeBuckets, writeEarned, writeLots, writeSection, writeSeen } from './shapes.js';
import { allEarned, allLots, type Loyalty, readEarnedSection, readLotSection, seal, sealedEarnedSection, sealedLotSection, writeEarnedSection, writeLotSection } from './sealed.js';
import { readSeenSection, sealedSeenSection, writeSeenSection } from './seen-section.js';
import { openedSeen, sealedEarned, sealedLots, sealedSeen, type EarnRecord, type SealedEarned, type SealedLots, type SeenIds } from '../../core/mod.js';

/** The codec version every new record is written with. */
export const CODEC_VERSION = 13;
/** Bytes before the MessagePack body: version, kind. */
const HEADER_BYTES = 2;

/** What a record holds; the kind byte guards against reading one record as another. */
export const RECORD_KIND = { customer: 1, meta: 2, timers: 3, position: 4 } as const;
export type RecordKind = keyof typeof RECORD_KIND;

export class CodecError extends Error {
  override readonly name = 'CodecError';
  constructor(readonly where: string, detail: string) {
    super(`state record ${where}: ${detail}`);
  }
}

interface Body {
  /** The body after `room` bytes left for the caller's header, in one buffer. `reseal`: see {@link EncodeOptions}. */
  encode(value: unknown, reseal: boolean, kind: RecordKind, room: number): Buffer;
  /** `sealed`: a customer's loyalty sections are left encoded where the version allows it (see {@link DecodeOptions}). */
  decode(bytes: Uint8Array, sealed: boolean, kind: RecordKind): unknown;
}

/** Bytes a slab of records holds: a record above Node's pooled size (4 KB) otherwise costs a buffer of its own. */
const SLAB_BYTES = 64 * 1024;
let slab = Buffer.allocUnsafe(0);
let slabUsed = 0;

/**
 * `n` bytes for a record: a view of the current slab, shared with the records written before it (a record is
 * stored and dropped, so a slab lives as long as its last record). Each starts on an 8-byte boundary.
 */
function recordBytes(n: number): Buffer {
  if (n > SLAB_BYTES / 4) return Buffer.allocUnsafe(n);
  if (slabUsed + n > slab.length) {
    slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
    slabUsed = 0;
  }
  const bytes = slab.subarray(slabUsed, slabUsed + n);
  slabUsed += (n + 7) & ~7;
  return bytes;
}

/** `bytes` after `room` bytes (a copy). */
function withRoom(bytes: Uint8Array, room: number): Buffer {
  const out = Buffer.allocUnsafe(room + bytes.length);
  out.set(bytes, room);
  return out;
}

const msgpack = (packer: Packr, unpacker: Unpackr): Body => ({ encode: (v, _reseal, _kind, room) => withRoom(packer.pack(v), room), decode: (b) => unpacker.unpack(b) });
const bodyByVersion: Record<number, Body> = {
  1: msgpack(new Packr({ useRecords: false }), new Unpackr({ useRecords: false, mapsAsObjects: true })),
  2: msgpack(new Packr({ useRecords: true, mapsAsObjects: true }), new Unpackr({ useRecords: true, mapsAsObjects: true })),
  3: { encode: (v, _reseal, _kind, room) => withRoom(compactEncode(v), room), decode: compactDecode },
  4: { encode: (v, _reseal, _kind, room) => encodeShaped(v, 4, false, 'customer', room), decode: (b) => decodeShaped(b, 4) },
  5: { encode: (v, _reseal, _kind, room) => encodeShaped(v, 5, false, 'customer', room), decode: (b) => decodeShaped(b, 5) },
  6: { encode: (v, _reseal, _kind, room) => encodeShaped(v, 6, false, 'customer', room), decode: (b) => decodeShaped(b, 6) },
  7: { encode: (v, reseal, _kind, room) => encodeShaped(v, 7, reseal, 'customer', room), decode: (b, sealed) => decodeShaped(b, 7, sealed) },
  8: { encode: (v, reseal, _kind, room) => encodeShaped(v, 8, reseal, 'customer', room), decode: (b, sealed) => decodeShaped(b, 8, sealed) },
  9: { encode: (v, reseal, kind, room) => encodeShaped(v, 9, reseal, kind, room), decode: (b, sealed, kind) => decodeShaped(b, 9, sealed, kind) },
  10: { encode: (v, reseal, kind, room) => encodeShaped(v, 10, reseal, kind, room), decode: (b, sealed, kind) => decodeShaped(b, 10, sealed, kind) },
  11: { encode: (v, reseal, kind, room) => encodeShaped(v, 11, reseal, kind, room), decode: (b, sealed, kind) => decodeShaped(b, 11, sealed, kind) },
  12: { encode: (v, reseal, kind, room) => encodeShaped(v, 12, reseal, kind, room), decode: (b, sealed, kind) => decodeShaped(b, 12, sealed, kind) },
  13: { encode: (v, reseal, kind, room) => encodeShaped(v, 13, reseal, kind, room), decode: (b, sealed, kind) => decodeShaped(b, 13, sealed, kind) },
};

/** The newest version this build decodes (it may be newer than the one it writes, during a rollout). */
const NEWEST_READ = Math.max(...Object.keys(bodyByVersion).map(Number));

const shapeWriter = new ShapeWriter();

function isPlain(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Whether a record of `version` writes its feature buckets' columns bit-packed when that is shorter (version 11 on). */
function packedBuckets(version: number): boolean {
  return version >= 11;
}

/** The versions with shaped sections after the generic part. */
type ShapedVersion = 4 | 5 | 6 | 7 | 8 | 9 | 10 | 11 | 12 | 13;

/** Versions 4 to 13 (see the module comment), after `room` bytes left for the header. */
function encodeShaped(value: unknown, version: ShapedVersion, reseal: boolean, kind: RecordKind, room: number): Buffer {
  const out = shapeWriter;
  out.reset();
  const generic = isPlain(value) ? writeSections(out, value, version, reseal) : value;
  if (!isPlain(value)) for (let i = 0; i < (version >= 6 ? 4 : 3); i++) absent(out);
  const genericBytes = version >= 9 && kind === 'customer' ? encodeCustomerFields(generic, version === 9 ? 9 : 10) : compactEncode(generic);
  const sections = out.length;
  const body = recordBytes(room + varintLength(genericBytes.length) + genericBytes.length + sections);
  let n = genericBytes.length;
  let o = room;
  while (n >= 0x80) {
    body[o++] = (n % 0x80) | 0x80;
    n = Math.floor(n / 0x80);
  }
  body[o++] = n;
  body.set(genericBytes, o);
  body.set(out.bytes.subarray(0, sections), o + genericBytes.length);
  return body;
}

/** Writes the shaped sections of a customer; returns what is left for the generic part (the customer without what they hold). */
function writeSections(out: ShapeWriter, value: Record<string, unknown>, version: ShapedVersion, reseal: boolean): Record<string, unknown> {
  if (version >= 7) return writeChunkedSections(out, value, version, reseal);
  const restored = value.loyalty;
  if (isPlain(restored) && (sealedLots(restored as unknown as Loyalty) || sealedEarned(restored as unknown as Loyalty))) {
    throw new Error(`a customer restored with sealed loyalty sections is written with codec version 7 or later, not ${version}`);
  }
  const linked = version >= 5;
  const buckets = version >= 6;
  const loyalty = value.loyalty;
  const writeEarnedSection = (): EarnedLinks | false => {
    if (!isPlain(loyalty) || !isPlain(loyalty.earned)) return absent(out);
    const records = loyalty.earned;
    let keys: readonly string[] = [];
    return writeSection(out, (w) => { keys = writeEarned(w, records, version); }) && new EarnedLinks(keys, records);
  };
  const links = linked ? writeEarnedSection() : false;
  const lots = isPlain(loyalty) && Array.isArray(loyalty.lots) ? writeSection(out, (w) => writeLots(w, loyalty.lots as unknown[], version, links || undefined)) : absent(out);
  const earned = linked ? links !== false : writeEarnedSection() !== false;
  const seen = value.seen !== undefined ? writeSection(out, (w) => writeSeen(w, value.seen, (version === 5 && links) || undefined)) : absent(out);
  const features = value.features;
  const bucketed = buckets && (isPlain(features) ? writeSection(out, (w) => writeBuckets(w, features, false)) : absent(out));
  if (!lots && !earned && !seen && !bucketed) return value;
  // Version 6: empty values, not undefined, hold the sections' places, so a decoded customer has the core's key order (one object shape).
  const held = (empty: unknown): unknown => (buckets ? empty : undefined);
  return {
    ...value,
    ...(lots || earned ? { loyalty: { ...(loyalty as Record<string, unknown>), ...(lots ? { lots: held([]) } : {}), ...(earned ? { earned: held({}) } : {}) } } : {}),
    ...(seen ? { seen: held({}) } : {}),
    ...(bucketed ? { features: { ...(features as Record<string, unknown>), days: [], weeks: [] } } : {}),
  };
}

/**
 * Versions 7 and 8: the sections in version 6's order, the loyalty ones chunked (sealed.ts), and in
 * version 8 the remembered ids as a sorted table (seen-section.ts). A sealed part whose section does not
 * fit (a lot the core added a field to since) goes to the generic part opened, whole.
 */
function writeChunkedSections(out: ShapeWriter, value: Record<string, unknown>, version: ShapedVersion, reseal: boolean): Record<string, unknown> {
  const loyalty = value.loyalty;
  const plainLoyalty = isPlain(loyalty) ? (loyalty as unknown as Loyalty) : undefined;
  const earnedValue = plainLoyalty?.earned;
  const lotsValue = plainLoyalty?.lots;
  const earned = plainLoyalty && isPlain(earnedValue) ? writeSection(out, (w) => writeEarnedSection(w, plainLoyalty, earnedValue, reseal, version)) : absent(out);
  const lots = plainLoyalty && Array.isArray(lotsValue) ? writeSection(out, (w) => writeLotSection(w, plainLoyalty, lotsValue, reseal, version)) : absent(out);
  const seenValue = value.seen;
  const seen = seenValue !== undefined ? writeSection(out, (w) => (version >= 8 ? writeSeenSection(w, seenValue, reseal, version) : writeSeen(w, seenValue))) : absent(out);
  const features = value.features;
  const bucketed = isPlain(features) ? writeSection(out, (w) => writeBuckets(w, features, packedBuckets(version))) : absent(out);
  const sealedIds = isPlain(seenValue) && sealedSeen(seenValue as unknown as SeenIds) !== undefined;
  const openedLots = plainLoyalty && !lots && Array.isArray(lotsValue) ? allLots(plainLoyalty, lotsValue) : lotsValue;
  const openedEarned = plainLoyalty && !earned && isPlain(earnedValue) ? allEarned(plainLoyalty, earnedValue) : earnedValue;
  return {
    ...value,
    ...(plainLoyalty ? { loyalty: { ...plainLoyalty, lots: lots ? [] : openedLots, earned: earned ? {} : openedEarned } } : {}),
    ...(seen ? { seen: {} } : sealedIds ? { seen: openedSeen(seenValue as unknown as SeenIds) } : {}),
    ...(bucketed ? { features: { ...(features as Record<string, unknown>), days: [], weeks: [] } } : {}),
  };
}

function decodeShaped(bytes: Uint8Array, version: ShapedVersion, sealed = false, kind: RecordKind = 'customer'): unknown {
  const linked = version >= 5;
  const buckets = version >= 6;
  const reader = new ShapeReader(bytes, 0);
  const genericLength = reader.varint();
  const genericStart = reader.offset;
  if (genericStart + genericLength > bytes.length) throw new Error(`a generic part of ${genericLength} bytes in a body of ${bytes.length}`);
  const generic = bytes.subarray(genericStart, genericStart + genericLength);
  const value = version >= 9 && kind === 'customer' ? decodeCustomerFields(generic) : compactDecode(generic);
  reader.offset = genericStart + genericLength;
  let lots, earned: Record<string, EarnRecord> | undefined, seen;
  let keptLots: SealedLots | undefined;
  let keptEarned: SealedEarned | undefined;
  if (version >= 7) {
    if (section(reader)) {
      if (sealed) keptEarned = sealedEarnedSection(reader, version);
      else earned = readEarnedSection(reader, version);
    }
    if (section(reader)) {
      if (sealed) keptLots = sealedLotSection(reader, version);
      else lots = readLotSection(reader, version);
    }
    if (section(reader)) seen = version < 8 ? readSeen(reader) : sealed ? sealedSeenSection(reader, version) : readSeenSection(reader, version);
  } else if (linked) {
    const keys: string[] = [];
    earned = section(reader) ? readEarned(reader, version, keys) : undefined;
    const links = earned ? { keys, records: earned } : undefined;
    lots = section(reader) ? readLots(reader, version, links) : undefined;
    seen = section(reader) ? readSeen(reader, version === 5 ? links?.keys : undefined) : undefined;
  } else {
    lots = section(reader) ? readLots(reader, version) : undefined;
    earned = section(reader) ? readEarned(reader, version) : undefined;
    seen = section(reader) ? readSeen(reader) : undefined;
  }
  const tiers = buckets && section(reader) ? readBuckets(reader, packedBuckets(version)) : undefined;
  if (reader.offset !== bytes.length) throw new Error(`${bytes.length - reader.offset} bytes after the sections`);
  if (!lots && !earned && !seen && !tiers && !keptLots && !keptEarned) return value;
  if (!isPlain(value)) throw new Error('shaped sections without a customer to hold them');
  if (lots || earned || keptLots || keptEarned) {
    const loyalty = value.loyalty;
    if (!isPlain(loyalty)) throw new Error('shaped loyalty sections without a loyalty state to hold them');
    if (lots) loyalty.lots = lots;
    if (earned) loyalty.earned = earned;
    if (keptLots || keptEarned) seal(loyalty as unknown as Loyalty, keptLots, keptEarned);
  }
  if (seen) value.seen = seen;
  if (tiers) {
    const features = value.features;
    if (!isPlain(features)) throw new Error('feature buckets without a feature state to hold them');
    features.days = tiers.days;
    features.weeks = tiers.weeks;
  }
  return value;
}

function absent(out: ShapeWriter): false {
  out.byte(SECTION_ABSENT);
  return false;
}

function section(reader: ShapeReader): boolean {
  const flag = reader.byte();
  if (flag !== SECTION_SHAPED && flag !== SECTION_ABSENT) throw new Error(`a section flag ${flag}`);
  return flag === SECTION_SHAPED;
}

/** How {@link encodeRecord} encodes. */
export interface EncodeOptions {
  /**
   * A customer's lots and earning records (codec version 7 on) are then kept sealed as the chunks just
   * written, as if the customer had been restored from this record with `{ sealed: true }`: the core reads
   * the same state, decodes them again only when an operation needs them, and the next encoding writes
   * them back as they are. For the state store's commits. Default false: the value is left as it is.
   */
  reseal?: boolean;
}

/** Encodes `value` (plain data) as a record of `kind`, with codec `version` (default the current one). */
export function encodeRecord(kind: RecordKind, value: unknown, version: number = CODEC_VERSION, options: EncodeOptions = {}): Buffer {
  const codec = bodyByVersion[version];
  if (!codec) throw new CodecError(kind, `no encoder for codec version ${version}`);
  if (version < 8 && kind === 'customer' && isPlain(value) && isPlain(value.seen) && sealedSeen(value.seen as unknown as SeenIds) !== undefined) {
    throw new CodecError(kind, `a customer restored with its remembered ids sealed is written with codec version 8 or later, not ${version}`);
  }
  const out = codec.encode(value, options.reseal === true && kind === 'customer', kind, HEADER_BYTES);
  out[0] = version;
  out[1] = RECORD_KIND[kind];
  return out;
}

/** A customer record's bytes by part (codec version 8 on): what each section takes, its flag byte included. */
export interface RecordParts {
  /** The envelope, the generic part and its length prefix: everything but the sections. */
  generic: number;
  earnedSection: number;
  lotsSection: number;
  seenSection: number;
  bucketsSection: number;
}

/**
 * The bytes of each part of a customer record written with codec version 8 or later (the bench's state
 * breakdown: which part a byte budget goes to). Throws `CodecError` for another kind or version, or a body
 * that does not read.
 */
export function customerRecordParts(bytes: Uint8Array): RecordParts {
  const version = recordVersion(bytes);
  if (version < 8 || bodyByVersion[version] === undefined || bytes[1] !== RECORD_KIND.customer) throw new CodecError('parts', `not a customer record of codec version 8 or later (version ${version}, kind ${String(bytes[1])})`);
  try {
    const reader = new ShapeReader(bytes.subarray(HEADER_BYTES), 0);
    const genericLength = reader.varint();
    reader.offset += genericLength;
    const parts: RecordParts = { generic: HEADER_BYTES + reader.offset, earnedSection: 0, lotsSection: 0, seenSection: 0, bucketsSection: 0 };
    const measure = (part: Exclude<keyof RecordParts, 'generic'>, read: () => unknown): void => {
      const start = reader.offset;
      if (section(reader)) read();
      parts[part] = reader.offset - start;
    };
    measure('earnedSection', () => sealedEarnedSection(reader, version));
    measure('lotsSection', () => sealedLotSection(reader, version));
    measure('seenSection', () => sealedSeenSection(reader, version));
    measure('bucketsSection', () => readBuckets(reader, packedBuckets(version)));
    if (HEADER_BYTES + reader.offset !== bytes.length) throw new Error(`${bytes.length - HEADER_BYTES - reader.offset} bytes after the sections`);
    return parts;
  } catch (err) {
    if (err instanceof CodecError) throw err;
    throw new CodecError('parts', (err as Error).message);
  }
}

/** The codec version of an encoded record (its first byte). */
export function recordVersion(bytes: Uint8Array): number {
  return bytes[0] ?? 0;
}

/**
 * Decodes a record of `kind` written by any supported codec version. Throws `CodecError` naming `where`
 * for an unknown version, a record of another kind, or a body that does not decode.
 */
/** How {@link decodeRecord} decodes. */
export interface DecodeOptions {
  /**
   * A customer's lots and earning records (codec version 7 on) are left encoded, sealed on its loyalty
   * state (scorer/core/loyalty/book.ts), and decoded by the core only when an operation needs them; their
   * checksums are checked now. Only for a customer the core will run: anything else reading `lots` or
   * `earned` would see only what came after them. Default false: everything decoded.
   */
  sealed?: boolean;
}

export function decodeRecord<T>(kind: RecordKind, bytes: Uint8Array, where: string, options: DecodeOptions = {}): T {
  const [version] = bytes;
  if (version === undefined || bytes.length <= HEADER_BYTES) throw new CodecError(where, `too short (${bytes.length} bytes)`);
  const codec = bodyByVersion[version];
  if (!codec) throw new CodecError(where, `unknown codec version ${version} (this vafa reads 1 to ${NEWEST_READ})`);
  if (bytes[1] !== RECORD_KIND[kind]) throw new CodecError(where, `expected a ${kind} record, found kind ${String(bytes[1])}`);
  try {
    return codec.decode(bytes.subarray(HEADER_BYTES), options.sealed === true && kind === 'customer', kind) as T;
  } catch (err) {
    throw new CodecError(where, `does not decode: ${(err as Error).message}`);
  }
}
