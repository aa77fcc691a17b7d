/**
 * Codec version 8's remembered-ids section: a customer's tx-id hashes (scorer/core/seen.ts) as one table
 * sorted by hash, so that a restored customer can keep it as read (sealed) and look an id up in place — a
 * binary search over fixed-width entries: no decoding, no index, no string a hash — and a commit writes it
 * back as it is when nothing was remembered or forgotten since, merged with what was otherwise (bytes
 * only: the hashes kept are never made strings again).
 *
 * Layout of the section body: the entry count (varint); when it is not 0, a base day (zigzag), the first
 * day less the base and the last day less the first (varints), the FNV-1a checksum of the entries (4
 * bytes), then the entries: each the 9 bytes a hash stands for and its day less the base, unsigned
 * little-endian in the fewest of 1, 2 or 4 bytes that hold the last, in strictly ascending order of the 9
 * bytes. A commit keeps the base while the days still fit that width, so the entries it keeps are copied
 * as they are (a run at a time), not rewritten. Against version 7 (each day, then
 * its hashes) a customer of the simulated year takes ~1 byte an id more and ~2 bytes a day fewer.
 *
 * The plain buckets hold each day's hashes in that same order (seen.ts `compareHashes`), so a customer
 * decodes to the value it was encoded from, whether its ids were sealed, plain or both.
 *
 * Codec version 13 writes what a restored customer holds in memory rather than one table of it all: after
 * the table, the first day whose ids in it still count (0: all of them; else that day less the table's first
 * day) and the buckets remembered since it was written (the tail: their count, then each day, the first
 * against the table's base as a zigzag, the others as the distance from the one before less one, and its
 * hashes, their count and their 9 bytes each, in the bucket's order). So a commit that remembered a few
 * ids since the table copies the table as it is, checksum included, and writes the few: before, every
 * commit merged them into a new table (~9 µs a record of the simulated year, its checksum taken again).
 * The table is merged with the tail, and the ids that no longer count dropped from it, once those two
 * number {@link RESEAL_AT_PLAIN_IDS} together, or when one of the tail's days no longer counts, so a record
 * carries at most that many ids more than it must. A customer restored from the record holds the table and
 * its tail sealed together ({@link TableWithTail}), as it held one table before: what a restore gives does
 * not depend on which commits wrote the record. Versions 8 to 12 write one table (merged at every commit
 * that changed the ids).
 */
import { DAY_MS, firstCountingDay, HASH_CHARS, mergedBucket, openedSeen, sealedSeen, sealSeen, type SealedSeen, type SeenIds } from '../../core/mod.js';
import { BASE64_VALUE, base64url, ByteWriter, fnv1a } from './bytes.js';
import { doesNotFit, HASH_BYTES, integer, MAX_SECTION_ITEMS, plainRecord, type ShapeReader, type ShapeWriter } from './shapes.js';

/**
 * A commit that reseals keeps the table it wrote only once this many ids are plain (or none was sealed):
 * until then the customer stays as it is, the sealed table and a few plain ids, the same state, so
 * that a commit does not leave its predecessor's table (~3 KB at the median) behind as garbage. From
 * codec version 13 on, a commit writes a new table only then, or once the plain ids and the table's ids
 * that no longer count number this many together; until then it writes the table as it is and the plain
 * ids after it.
 */
export const RESEAL_AT_PLAIN_IDS = 16;

/** The first codec version whose seen section holds a tail (the plain ids after the table) and the table's first counting day. */
export const SEEN_TAIL_VERSION = 13;

/** The entries a commit merges, built here and copied into the record (and kept, when it reseals). */
const merged = new ByteWriter(1 << 14);

/**
 * Writes the seen section's body of `value` (a customer's `seen`): its sealed ids that still count and its
 * plain ones. `reseal`: every id of it is then kept sealed as the table written. Throws `DoesNotFit` (inside
 * `writeSection`) for a value not in seen.ts's layout: the generic codec takes it, opened.
 * `reseal` keeps the table written only past {@link RESEAL_AT_PLAIN_IDS}: either way the state is the same.
 */
export function writeSeenSection(out: ShapeWriter, value: unknown, reseal: boolean, version: number): void {
  if (version >= SEEN_TAIL_VERSION) return writeSeenWithTail(out, value, reseal);
  const seen = plainRecord(value);
  const plain = plainEntries(plainBuckets(seen));
  const sealing = sealedSeen(seen as unknown as SeenIds);
  const sealed = sealing?.sealed;
  if (sealed !== undefined && !(sealed instanceof SeenTable)) throw doesNotFit;
  const firstCounting = sealing === undefined ? -Infinity : firstCountingDay(sealing.forgotten);
  const counting = sealed !== undefined && sealed.lastDay >= firstCounting ? sealed : undefined;
  if (plain.count === 0 && (counting === undefined || counting.firstDay >= firstCounting)) {
    writeTable(out, counting);
    if (reseal && counting !== sealed) sealSeen(seen as unknown as SeenIds, undefined);
    return;
  }
  const table = mergedTable(sealed, firstCounting, plain);
  writeTable(out, table);
  if (reseal && (sealed === undefined || plain.count >= RESEAL_AT_PLAIN_IDS)) sealSeen(seen as unknown as SeenIds, table);
}

/** Version 13's body: the table as it is, with its first counting day, and the plain buckets after it; or, past {@link RESEAL_AT_PLAIN_IDS}, one table of them all. */
function writeSeenWithTail(out: ShapeWriter, value: unknown, reseal: boolean): void {
  const seen = plainRecord(value);
  const plain = plainBuckets(seen);
  const sealing = sealedSeen(seen as unknown as SeenIds);
  const sealed = sealing?.sealed;
  const sealedTable = sealed instanceof TableWithTail ? sealed.table : sealed;
  if (sealedTable !== undefined && !(sealedTable instanceof SeenTable)) throw doesNotFit;
  const firstCounting = sealing === undefined ? -Infinity : firstCountingDay(sealing.forgotten);
  const tail = sealed instanceof TableWithTail ? joinedTail(sealed.tail, firstCounting, plain) : plain;
  const counting = sealedTable !== undefined && sealedTable.lastDay >= firstCounting ? sealedTable : undefined;
  const stale = counting === undefined || counting.firstDay >= firstCounting ? 0 : counting.countBefore(firstCounting);
  if (counting !== undefined && tail.count + stale < RESEAL_AT_PLAIN_IDS && (tail.count === 0 || integer(tail.days[0]) >= firstCounting)) {
    writeTable(out, counting);
    out.varint(stale === 0 ? 0 : firstCounting - counting.firstDay);
    writeTail(out, tail, counting.base);
    return;
  }
  const table = tail.count === 0 && stale === 0 ? counting : mergedTable(sealedTable, firstCounting, plainEntries(tail));
  writeTable(out, table);
  out.varint(0);
  out.varint(0);
  if (reseal && table !== sealed) sealSeen(seen as unknown as SeenIds, table);
}

/** Reads a seen section's body of codec `version`: every id, decoded into seen.ts's buckets. */
export function readSeenSection(reader: ShapeReader, version: number): SeenIds {
  const seen = sealedSeenSection(reader, version);
  return sealedSeen(seen) === undefined ? seen : openedSeen(seen);
}

/**
 * Reads a seen section's body of codec `version` and keeps its table sealed (the bytes copied) on a new
 * `SeenIds`; from version 13 on with the table's first counting day, and its tail sealed with it.
 */
export function sealedSeenSection(reader: ShapeReader, version: number): SeenIds {
  const seen: SeenIds = { v: 3, days: [], ids: [] };
  const table = readTable(reader);
  if (version < SEEN_TAIL_VERSION) {
    sealSeen(seen, table);
    return seen;
  }
  const fromFirst = reader.varint();
  if (fromFirst !== 0 && (table === undefined || table.firstDay + fromFirst > table.lastDay)) reader.fail(`remembered ids counting from day ${fromFirst} of a table ${table === undefined ? 'that is empty' : `of days ${table.firstDay} to ${table.lastDay}`}`);
  const tail = readTail(reader, table?.base ?? 0);
  if (table === undefined && tail.count > 0) reader.fail('remembered ids after a table that is empty');
  if (fromFirst !== 0 && tail.count > 0 && table !== undefined && table.firstDay + fromFirst > (tail.days[0] as number)) reader.fail('remembered ids after the table on a day that no longer counts');
  const forgotten = fromFirst === 0 || table === undefined ? -Infinity : (table.firstDay + fromFirst) * DAY_MS;
  sealSeen(seen, table === undefined || tail.count === 0 ? table : new TableWithTail(table, tail), forgotten);
  return seen;
}

/** Plain buckets as the tail holds them (days ascending, each day's hashes in ascending order of their bytes). */
interface Tail {
  readonly days: readonly number[];
  readonly ids: readonly string[];
  readonly count: number;
}

/**
 * A table with the ids a commit wrote after it (version 13), sealed together: a customer restored from its
 * record holds every id it read sealed, as from one table, whichever commits wrote them. The tail's days
 * all count when it is written (a tail of a day that no longer counts is merged into the table instead),
 * so a hash in both is a table entry that no longer counts, and the tail's answer is the one to give.
 */
class TableWithTail implements SealedSeen {
  readonly count: number;
  readonly firstDay: number;
  readonly lastDay: number;

  constructor(readonly table: SeenTable, readonly tail: Tail) {
    this.count = table.count + tail.count;
    this.firstDay = Math.min(table.firstDay, tail.days[0] as number);
    this.lastDay = Math.max(table.lastDay, tail.days[tail.days.length - 1] as number);
  }

  dayOf(hash: string): number | undefined {
    const { days, ids } = this.tail;
    for (let i = 0; i < ids.length; i++) {
      const bucket = ids[i] as string;
      for (let o = 0; o < bucket.length; o += HASH_CHARS) if (bucket.startsWith(hash, o)) return days[i];
    }
    return this.table.dayOf(hash);
  }

  earliestDayFrom(day: number): number | undefined {
    const inTable = this.table.earliestDayFrom(day);
    const inTail = this.tail.days.find((d) => d >= day);
    return inTable === undefined ? inTail : inTail === undefined ? inTable : Math.min(inTable, inTail);
  }

  open(): { days: number[]; ids: string[] } {
    const { days, ids } = joinedBuckets(this.table.open(), this.tail);
    return { days, ids };
  }
}

/** The sealed tail's days that still count (from `firstCounting` on) with the plain buckets remembered since. */
function joinedTail(sealed: Tail, firstCounting: number, plain: Buckets): Tail {
  let from = 0;
  while (from < sealed.days.length && (sealed.days[from] as number) < firstCounting) from++;
  const counting: Tail = from === 0 ? sealed : tailOf(sealed.days.slice(from), sealed.ids.slice(from));
  if (plain.count === 0) return counting;
  return joinedBuckets(counting, tailOf(plain.days.map(integer), plain.ids as string[]));
}

function tailOf<T extends readonly number[], U extends readonly string[]>(days: T, ids: U): { days: T; ids: U; count: number } {
  let count = 0;
  for (const bucket of ids) count += bucket.length / HASH_CHARS;
  return { days, ids, count };
}

/** Two lists of buckets as one (new arrays): days ascending, a day in both with its hashes merged in their order. */
function joinedBuckets(a: { days: readonly number[]; ids: readonly string[] }, b: { days: readonly number[]; ids: readonly string[] }): { days: number[]; ids: string[]; count: number } {
  const days: number[] = [];
  const ids: string[] = [];
  let i = 0;
  let k = 0;
  while (i < a.days.length || k < b.days.length) {
    const dayA = a.days[i] ?? Infinity;
    const dayB = b.days[k] ?? Infinity;
    days.push(Math.min(dayA, dayB));
    if (dayA < dayB) ids.push(a.ids[i++] as string);
    else if (dayB < dayA) ids.push(b.ids[k++] as string);
    else ids.push(mergedBucket(a.ids[i++] as string, b.ids[k++] as string));
  }
  return tailOf(days, ids);
}

// ---------------------------------------------------------------------------------------------------
// The table
// ---------------------------------------------------------------------------------------------------

/** The entries of a section, sealed: its own copy of their bytes. */
class SeenTable implements SealedSeen {
  private readonly stride: number;

  readonly width: number;

  constructor(readonly entries: Uint8Array, readonly count: number, readonly base: number, readonly firstDay: number, readonly lastDay: number, readonly checksum: number) {
    this.width = widthOf(lastDay - base);
    this.stride = HASH_BYTES + this.width;
  }

  dayOf(hash: string): number | undefined {
    const g0 = group(hash, 0);
    const g1 = group(hash, 4);
    const g2 = group(hash, 8);
    if ((g0 | g1 | g2) < 0) return undefined;
    const b = this.entries;
    const stride = this.stride;
    let low = 0;
    let high = this.count - 1;
    while (low <= high) {
      const middle = (low + high) >>> 1;
      const o = middle * stride;
      let order = (((b[o] as number) << 16) | ((b[o + 1] as number) << 8) | (b[o + 2] as number)) - g0;
      if (order === 0) order = (((b[o + 3] as number) << 16) | ((b[o + 4] as number) << 8) | (b[o + 5] as number)) - g1;
      if (order === 0) order = (((b[o + 6] as number) << 16) | ((b[o + 7] as number) << 8) | (b[o + 8] as number)) - g2;
      if (order === 0) return this.base + dayOffset(b, o + HASH_BYTES, this.width);
      if (order < 0) low = middle + 1;
      else high = middle - 1;
    }
    return undefined;
  }

  /**
   * Entries by day offset, summed: at `i`, how many are held under an offset below `i`. Made at the first
   * {@link countBefore} (a table is asked again at each commit until it is merged) when its days span at
   * most {@link COUNTED_SPAN}; a wider table is counted entry by entry each time.
   */
  private entriesBelow: Uint32Array | undefined;

  /** The entries held under a day before `day`. */
  countBefore(day: number): number {
    const before = day - this.base;
    const span = this.lastDay - this.base + 1;
    if (before <= this.firstDay - this.base) return 0;
    if (before >= span) return this.count;
    if (span > COUNTED_SPAN) {
      let count = 0;
      for (let o = HASH_BYTES; o < this.entries.length; o += this.stride) if (dayOffset(this.entries, o, this.width) < before) count++;
      return count;
    }
    let below = this.entriesBelow;
    if (below === undefined) {
      below = new Uint32Array(span + 1);
      for (let o = HASH_BYTES; o < this.entries.length; o += this.stride) {
        const next = dayOffset(this.entries, o, this.width) + 1;
        below[next] = (below[next] as number) + 1;
      }
      for (let i = 1; i <= span; i++) below[i] = (below[i] as number) + (below[i - 1] as number);
      this.entriesBelow = below;
    }
    return below[before] as number;
  }

  earliestDayFrom(day: number): number | undefined {
    const from = day - this.base;
    let earliest = Infinity;
    for (let o = HASH_BYTES; o < this.entries.length; o += this.stride) {
      const offset = dayOffset(this.entries, o, this.width);
      if (offset >= from && offset < earliest) earliest = offset;
    }
    return earliest === Infinity ? undefined : this.base + earliest;
  }

  open(): { days: number[]; ids: string[] } {
    const offsets = new Float64Array(this.count);
    for (let i = 0; i < this.count; i++) offsets[i] = dayOffset(this.entries, i * this.stride + HASH_BYTES, this.width);
    const distinct = Float64Array.from(new Set(offsets)).sort();
    const bucketOf = new Map<number, number>();
    distinct.forEach((offset, i) => bucketOf.set(offset, i));
    const ends = new Float64Array(distinct.length);
    for (const offset of offsets) {
      const bucket = bucketOf.get(offset) as number;
      ends[bucket] = (ends[bucket] as number) + HASH_BYTES;
    }
    for (let i = 1; i < ends.length; i++) ends[i] = (ends[i] as number) + (ends[i - 1] as number);
    const next = ends.map((_, i) => (i === 0 ? 0 : (ends[i - 1] as number)));
    const grouped = Buffer.allocUnsafe(this.count * HASH_BYTES);
    offsets.forEach((offset, i) => {
      const bucket = bucketOf.get(offset) as number;
      const at = next[bucket] as number;
      grouped.set(this.entries.subarray(i * this.stride, i * this.stride + HASH_BYTES), at);
      next[bucket] = at + HASH_BYTES;
    });
    return {
      days: Array.from(distinct, (offset) => this.base + offset),
      ids: Array.from(distinct, (_, i) => base64url(grouped, i === 0 ? 0 : (ends[i - 1] as number), ends[i] as number)),
    };
  }
}

/** A table's days spanning at most this many are counted by day once (SeenTable.countBefore). */
const COUNTED_SPAN = 4096;

function dayOffset(b: Uint8Array, at: number, width: number): number {
  if (width === 1) return b[at] as number;
  if (width === 2) return (b[at] as number) | ((b[at + 1] as number) << 8);
  return ((b[at] as number) | ((b[at + 1] as number) << 8) | ((b[at + 2] as number) << 16) | ((b[at + 3] as number) << 24)) >>> 0;
}

function writeDayOffset(b: Uint8Array, at: number, width: number, offset: number): void {
  b[at] = offset & 0xff;
  if (width === 1) return;
  b[at + 1] = (offset >>> 8) & 0xff;
  if (width === 2) return;
  b[at + 2] = (offset >>> 16) & 0xff;
  b[at + 3] = offset >>> 24;
}

/** The bytes of the 24 bits four characters of a hash stand for, as a number (−1: not of the alphabet). */
function group(hash: string, at: number): number {
  const a = BASE64_VALUE[hash.charCodeAt(at)] ?? -1;
  const b = BASE64_VALUE[hash.charCodeAt(at + 1)] ?? -1;
  const c = BASE64_VALUE[hash.charCodeAt(at + 2)] ?? -1;
  const d = BASE64_VALUE[hash.charCodeAt(at + 3)] ?? -1;
  return (a | b | c | d) < 0 ? -1 : (a << 18) | (b << 12) | (c << 6) | d;
}

function widthOf(span: number): number {
  if (span < 0x100) return 1;
  if (span < 0x10000) return 2;
  if (span <= 0xffffffff) return 4;
  throw doesNotFit;
}

function writeTable(out: ShapeWriter, table: SeenTable | undefined): void {
  if (table === undefined) {
    out.varint(0);
    return;
  }
  out.varint(table.count);
  out.zigzag(table.base);
  out.varint(table.firstDay - table.base);
  out.varint(table.lastDay - table.firstDay);
  out.room(4 + table.entries.length);
  const bytes = out.bytes;
  const sum = table.checksum;
  bytes[out.length] = sum >>> 24;
  bytes[out.length + 1] = (sum >>> 16) & 0xff;
  bytes[out.length + 2] = (sum >>> 8) & 0xff;
  bytes[out.length + 3] = sum & 0xff;
  bytes.set(table.entries, out.length + 4);
  out.length += 4 + table.entries.length;
}

function readTable(reader: ShapeReader): SeenTable | undefined {
  const count = reader.count();
  if (count === 0) return undefined;
  const base = reader.zigzag();
  const firstDay = base + reader.varint();
  const lastDay = firstDay + reader.varint();
  if (!Number.isSafeInteger(lastDay) || lastDay - base > 0xffffffff) reader.fail(`remembered ids over days ${base} to ${lastDay}`);
  const width = widthOf(lastDay - base);
  const sumAt = reader.skip(4);
  const b = reader.bytes;
  const stored = (((b[sumAt] as number) << 24) | ((b[sumAt + 1] as number) << 16) | ((b[sumAt + 2] as number) << 8) | (b[sumAt + 3] as number)) >>> 0;
  const length = count * (HASH_BYTES + width);
  const start = reader.skip(length);
  const entries = Buffer.allocUnsafe(length); // from Node's pool below 4 KB: no backing store of its own to allocate and collect
  entries.set(b.subarray(start, start + length));
  if (fnv1a(entries, 0, length) !== stored) reader.fail('remembered ids that do not match their checksum');
  return new SeenTable(entries, count, base, firstDay, lastDay, stored);
}

// ---------------------------------------------------------------------------------------------------
// The tail (version 13)
// ---------------------------------------------------------------------------------------------------

/** `seen`'s plain buckets, checked against seen.ts's layout: days strictly ascending integers, no bucket empty. */
interface Buckets {
  readonly days: readonly unknown[];
  readonly ids: readonly unknown[];
  /** The ids they hold. */
  readonly count: number;
}

function plainBuckets(seen: Record<string, unknown>): Buckets {
  for (const key in seen) if (key !== 'v' && key !== 'days' && key !== 'ids') throw doesNotFit;
  const { days, ids } = seen;
  if (seen.v !== 3 || !Array.isArray(days) || !Array.isArray(ids) || days.length !== ids.length) throw doesNotFit;
  let count = 0;
  for (let i = 0; i < days.length; i++) {
    const bucket: unknown = ids[i];
    if (typeof bucket !== 'string' || bucket.length === 0 || bucket.length % HASH_CHARS !== 0) throw doesNotFit;
    if (i > 0 && !(integer(days[i]) > integer(days[i - 1]))) throw doesNotFit;
    count += bucket.length / HASH_CHARS;
  }
  if (count > MAX_SECTION_ITEMS) throw doesNotFit;
  return { days, ids, count };
}

function writeTail(out: ShapeWriter, tail: Buckets, base: number): void {
  out.varint(tail.days.length);
  let previous = 0;
  for (let i = 0; i < tail.days.length; i++) {
    const day = integer(tail.days[i]);
    if (i === 0) out.zigzag(day - base);
    else out.varint(day - previous - 1);
    previous = day;
    const bucket = tail.ids[i] as string;
    const n = bucket.length / HASH_CHARS;
    out.varint(n);
    out.room(n * HASH_BYTES);
    for (let c = 0; c < bucket.length; c += HASH_CHARS, out.length += HASH_BYTES) writeHash(bucket, c, out.bytes, out.length);
  }
}

/** Reads a tail. */
function readTail(reader: ShapeReader, base: number): Tail {
  const n = reader.count();
  const days: number[] = [];
  const ids: string[] = [];
  let day = 0;
  for (let i = 0; i < n; i++) {
    day = i === 0 ? base + reader.zigzag() : day + reader.varint() + 1;
    if (!Number.isSafeInteger(day)) reader.fail(`remembered ids on day ${day}`);
    const hashes = reader.count();
    if (hashes === 0) reader.fail('an empty day of remembered ids');
    const start = reader.skip(hashes * HASH_BYTES);
    days.push(day);
    ids.push(base64url(reader.bytes, start, start + hashes * HASH_BYTES));
  }
  return tailOf(days, ids);
}

// ---------------------------------------------------------------------------------------------------
// Merging
// ---------------------------------------------------------------------------------------------------

/** The plain buckets' ids as entries: each hash's bytes, its day, and the order of the hashes. */
interface PlainEntries {
  readonly count: number;
  readonly hashes: Uint8Array;
  readonly days: Float64Array;
  /** Entry numbers in ascending order of their hashes. */
  readonly order: Uint32Array;
  readonly firstDay: number;
  readonly lastDay: number;
}

/** Where the plain entries of one encoding are built (used before the next: never kept). */
let scratch = newScratch(64);

function newScratch(entries: number): { hashes: Uint8Array; days: Float64Array; keys: Float64Array; order: Uint32Array } {
  return { hashes: new Uint8Array(entries * HASH_BYTES), days: new Float64Array(entries), keys: new Float64Array(entries), order: new Uint32Array(entries) };
}

const NO_ENTRIES: PlainEntries = { count: 0, hashes: new Uint8Array(0), days: new Float64Array(0), order: new Uint32Array(0), firstDay: 0, lastDay: 0 };

/** Plain buckets (checked by {@link plainBuckets}) as entries. */
function plainEntries(buckets: Buckets): PlainEntries {
  const { days, ids, count } = buckets;
  if (count === 0) return NO_ENTRIES;
  if (scratch.days.length < count) scratch = newScratch(Math.max(count, scratch.days.length * 2));
  const hashes = scratch.hashes;
  const entryDays = scratch.days;
  const keys = scratch.keys.subarray(0, count);
  let entry = 0;
  for (let i = 0; i < days.length; i++) {
    const day = integer(days[i]);
    const bucket = ids[i] as string;
    for (let c = 0; c < bucket.length; c += HASH_CHARS, entry++) {
      const g0 = writeHash(bucket, c, hashes, entry * HASH_BYTES);
      entryDays[entry] = day;
      keys[entry] = g0 * 0x1000000 + entry; // the first 3 bytes, then the entry number: exact below 2^53
    }
  }
  keys.sort();
  const order = scratch.order.subarray(0, count);
  for (let i = 0; i < count; i++) order[i] = (keys[i] as number) % 0x1000000;
  settleTies(hashes, order);
  return { count, hashes, days: entryDays, order, firstDay: integer(days[0]), lastDay: integer(days[days.length - 1]) };
}

/** Writes the 9 bytes the hash at `hash[c]` stands for at `b[at]`; returns its first 3 bytes as a number. Throws `DoesNotFit` for a character not of the alphabet. */
function writeHash(hash: string, c: number, b: Uint8Array, at: number): number {
  const g0 = group(hash, c);
  const g1 = group(hash, c + 4);
  const g2 = group(hash, c + 8);
  if ((g0 | g1 | g2) < 0) throw doesNotFit;
  writeGroup(b, at, g0);
  writeGroup(b, at + 3, g1);
  writeGroup(b, at + 6, g2);
  return g0;
}

function writeGroup(b: Uint8Array, at: number, group: number): void {
  b[at] = group >>> 16;
  b[at + 1] = (group >>> 8) & 0xff;
  b[at + 2] = group & 0xff;
}

/** Sorts each run of `order` whose hashes share their first 3 bytes by the rest (insertion: such runs are short). */
function settleTies(hashes: Uint8Array, order: Uint32Array): void {
  for (let i = 1; i < order.length; i++) {
    const entry = order[i] as number;
    let k = i - 1;
    while (k >= 0 && compareEntries(hashes, (order[k] as number) * HASH_BYTES, hashes, entry * HASH_BYTES) > 0) {
      order[k + 1] = order[k] as number;
      k--;
    }
    order[k + 1] = entry;
  }
}

function compareEntries(a: Uint8Array, ai: number, b: Uint8Array, bi: number): number {
  for (let i = 0; i < HASH_BYTES; i++) {
    const d = (a[ai + i] as number) - (b[bi + i] as number);
    if (d !== 0) return d;
  }
  return 0;
}

/**
 * The sealed entries from day `firstCounting` on and the plain ones, in one table (a hash in both does not
 * fit). The sealed table's base is kept when the days still fit its width: its entries are then copied a
 * run at a time; otherwise each is written with its day against the new base.
 */
function mergedTable(sealed: SeenTable | undefined, firstCounting: number, plain: PlainEntries): SeenTable {
  let firstDay = plain.count > 0 ? plain.firstDay : Infinity;
  let lastDay = plain.count > 0 ? plain.lastDay : -Infinity;
  const sealedFirst = sealed === undefined ? undefined : sealed.firstDay >= firstCounting ? sealed.firstDay : sealed.earliestDayFrom(firstCounting);
  if (sealed !== undefined && sealedFirst !== undefined) {
    firstDay = Math.min(firstDay, sealedFirst);
    lastDay = Math.max(lastDay, sealed.lastDay);
  }
  if (firstDay === Infinity) throw doesNotFit;
  const keepBase = sealed !== undefined && sealed.base <= firstDay && widthOf(lastDay - sealed.base) === sealed.width;
  const base = keepBase ? sealed.base : firstDay;
  const width = widthOf(lastDay - base);
  const stride = HASH_BYTES + width;
  const sealedCount = sealed === undefined || sealedFirst === undefined ? 0 : sealed.count;
  const sealedEntries = sealed?.entries ?? NO_ENTRIES.hashes;
  const sealedStride = sealed === undefined ? stride : HASH_BYTES + sealed.width;
  const sealedWidth = sealed?.width ?? width;
  const sealedBase = sealed?.base ?? base;
  merged.length = 0;
  merged.room((sealedCount + plain.count) * stride);
  const out = merged.bytes;
  let o = 0;
  let p = 0;
  let run = 0; // the first sealed entry of the run not yet copied (keepBase)
  for (let e = 0; e < sealedCount; e++) {
    const at = e * sealedStride;
    const day = sealedBase + dayOffset(sealedEntries, at + HASH_BYTES, sealedWidth);
    while (p < plain.count && compareEntries(plain.hashes, (plain.order[p] as number) * HASH_BYTES, sealedEntries, at) <= 0) {
      const entry = plain.order[p++] as number;
      if (compareEntries(plain.hashes, entry * HASH_BYTES, sealedEntries, at) === 0 && day >= firstCounting) throw doesNotFit;
      if (keepBase) o = copyRun(out, o, sealedEntries, run, e, sealedStride);
      run = e;
      o = writeEntry(out, o, plain.hashes, entry * HASH_BYTES, width, (plain.days[entry] as number) - base);
    }
    if (day < firstCounting) {
      if (keepBase) o = copyRun(out, o, sealedEntries, run, e, sealedStride);
      run = e + 1;
    } else if (!keepBase) {
      o = writeEntry(out, o, sealedEntries, at, width, day - base);
    }
  }
  if (keepBase) o = copyRun(out, o, sealedEntries, run, sealedCount, sealedStride);
  while (p < plain.count) {
    const entry = plain.order[p++] as number;
    o = writeEntry(out, o, plain.hashes, entry * HASH_BYTES, width, (plain.days[entry] as number) - base);
  }
  for (let i = 1; i < plain.count; i++) if (compareEntries(plain.hashes, (plain.order[i - 1] as number) * HASH_BYTES, plain.hashes, (plain.order[i] as number) * HASH_BYTES) === 0) throw doesNotFit;
  const entries = Buffer.allocUnsafe(o);
  entries.set(out.subarray(0, o));
  return new SeenTable(entries, o / stride, base, firstDay, lastDay, fnv1a(entries, 0, o));
}

/** Copies entries `from` to `to` (not included) of `entries` to `out[o]`; returns where the next entry goes. */
function copyRun(out: Uint8Array, o: number, entries: Uint8Array, from: number, to: number, stride: number): number {
  if (to <= from) return o;
  out.set(entries.subarray(from * stride, to * stride), o);
  return o + (to - from) * stride;
}

/** Writes the hash at `from[at]` and its day offset at `out[o]`; returns where the next entry goes. */
function writeEntry(out: Uint8Array, o: number, from: Uint8Array, at: number, width: number, offset: number): number {
  for (let i = 0; i < HASH_BYTES; i++) out[o + i] = from[at + i] as number;
  writeDayOffset(out, o + HASH_BYTES, width, offset);
  return o + HASH_BYTES + width;
}
