/**
 * Codec version 7's loyalty sections: a customer's lots and its earning records, each as a list of
 * self-contained chunks, so that a restored customer can keep them encoded (sealed, scorer/core/loyalty/book.ts)
 * until an operation needs them, and a commit can write a sealed part back as its bytes, with what came
 * after it as one more chunk.
 *
 * Layout of a section body: the chunk count, then per chunk its byte length and its bytes. A chunk is a
 * summary, its FNV-1a checksum, then the items as shapes.ts writes them with their own delta bases and
 * dictionary (no links between sections or chunks):
 * - lots chunk: earliest expiry (zigzag; every expiry > 0), `at` and `seq` of the last lot (zigzag), the
 *   checksum (4 bytes) of the items that follow, then `writeLots`.
 * - earned chunk: earliest `at` (zigzag), the checksum, then `writeEarned`.
 * The chunks of a lots section are in (at, seq) order, one after the other; in an earned section a later
 * chunk's record replaces an earlier one's of the same id, in the earlier one's place.
 * Chunks are written in the newest item layout ({@link CHUNK_LAYOUT}: version 11's flags for what an item
 * repeats, version 12's coded ids; shapes.ts `writeLots`, `writeEarnedList`), because an expiry or a merge
 * rewrites a chunk without knowing which version its record will be written in. A chunk is read in the layout
 * of the record it came from (a version-11 record may carry chunks of versions 7 to 10, which set none of its
 * flags); a version-12 record writes chunks of an earlier layout again in its own, once.
 *
 * A section holds at most {@link MAX_CHUNKS} chunks: a commit that would add one more writes its newest
 * half and what it adds as one chunk. Long lists of lots written whole go as two chunks, the lots due
 * soonest first ({@link soonestFirst}): an expiry rewrites only the chunks that hold a lot due.
 */
import { sealEarned, sealedEarned, sealLots, sealedLots, setOwn, setOwnAll, type EarnRecord, type Lot, type SealedEarned, type SealedLots } from '../../core/mod.js';
import { fnv1a } from './bytes.js';
import { doesNotFit, earnedHasAny, LAYOUT_CODED_IDS, LAYOUT_REPEATS, readEarned, readEarnedList, readLots, ShapeReader, ShapeWriter, writeEarnedList, writeLots, type EarnedList } from './shapes.js';

/** Chunks a section holds at most. */
export const MAX_CHUNKS = 8;

/** The item layout chunks are written in (a codec version, shapes.ts): the newest. */
const CHUNK_LAYOUT = LAYOUT_CODED_IDS;

const chunkWriter = new ShapeWriter();

/** The loyalty state as the codec sees it (the core's `LoyaltyState`, read as plain data). */
export type Loyalty = Parameters<typeof sealLots>[0];

// ---------------------------------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------------------------------

/** A chunk: its bytes (summary, checksum, items), where its items start, and their layout (a codec version, shapes.ts). */
interface Chunk {
  readonly bytes: Uint8Array;
  readonly items: number;
  readonly layout: number;
}

/**
 * Writes the lots section's body: the sealed chunks as they are, then the lots of `lots` (those after
 * them) as one more chunk; when that would pass {@link MAX_CHUNKS}, the newest half of the chunks and those
 * lots as one. `reseal`: the customer's lots are then kept sealed as the chunks written (the state reads
 * the same; its lots are decoded again when an operation needs them). Throws `DoesNotFit` (inside
 * `writeSection`) when a lot does not fit the shape; the caller then writes {@link allLots}. `version`: the
 * record's codec version, whose item layout the chunks are written in (see {@link carriedChunks}).
 */
export function writeLotSection(out: ShapeWriter, loyalty: Loyalty, lots: readonly unknown[], reseal: boolean, version: number): void {
  const sealed = sealedLots(loyalty);
  if (sealed !== undefined && !(sealed instanceof LotChunks)) throw doesNotFit;
  const carried = carriedChunks(sealed?.chunks ?? [], version, reencodedLotChunk);
  const kept = [...carried.chunks];
  if (lots.length > 0) {
    const from = mergeFrom(kept, lots.length);
    const newest: unknown[] = [];
    for (const chunk of kept.splice(from)) readLotChunk(chunk, newest as Lot[]);
    for (const lot of lots) newest.push(lot);
    for (const piece of lotPieces(newest, MAX_CHUNKS / 2 - kept.length, mergedBefore(loyalty), kept.length === 0)) kept.push(encodeLotChunk(piece, version));
  }
  out.varint(kept.length);
  for (const chunk of kept) writeChunk(out, chunk.bytes);
  if (reseal && kept.length > 0 && (lots.length > 0 || carried.rewritten)) {
    loyalty.lots = [];
    sealLots(loyalty, lotChunks(kept));
  }
}

/** Writes the earned section's body, as {@link writeLotSection} the lots. */
export function writeEarnedSection(out: ShapeWriter, loyalty: Loyalty, earned: Record<string, unknown>, reseal: boolean, version: number): void {
  const sealed = sealedEarned(loyalty);
  if (sealed !== undefined && !(sealed instanceof EarnedChunks)) throw doesNotFit;
  const carried = carriedChunks(sealed?.chunks ?? [], version, reencodedEarnedChunk);
  const kept = [...carried.chunks];
  let some = false;
  for (const id in earned) if (Object.hasOwn(earned, id)) { some = true; break; }
  if (some) {
    const ids = Object.keys(earned);
    const from = mergeFrom(kept, ids.length);
    const merged = mergedRecords(kept.splice(from), earned, ids);
    for (const piece of earnedPieces(merged, MAX_CHUNKS / 2 - kept.length, version)) kept.push(piece);
  }
  out.varint(kept.length);
  for (const chunk of kept) writeChunk(out, chunk.bytes);
  if (reseal && kept.length > 0 && (some || carried.rewritten)) {
    loyalty.earned = {};
    sealEarned(loyalty, earnedChunks(kept));
  }
}

/**
 * Sealed chunks as a record of codec `version` carries them: as they are when that version reads their layout,
 * written again in its layout when it is 12 or later and they are older (once: the customer is then kept sealed
 * on them), else none fits (`DoesNotFit`: the record is written with them opened into the generic part).
 * Records before version 11 carry none: sealed chunks have been written with version 11's flags since it.
 */
function carriedChunks(chunks: readonly Chunk[], version: number, reencoded: (chunk: Chunk, layout: number) => Chunk): { chunks: readonly Chunk[]; rewritten: boolean } {
  if (chunks.length === 0) return { chunks, rewritten: false };
  if (version < LAYOUT_REPEATS) throw doesNotFit;
  const codedIds = version >= LAYOUT_CODED_IDS;
  let rewritten = false;
  const carried = chunks.map((chunk) => {
    if (chunk.layout >= LAYOUT_CODED_IDS === codedIds) return chunk;
    if (!codedIds) throw doesNotFit;
    rewritten = true;
    return reencoded(chunk, version);
  });
  return { chunks: carried, rewritten };
}

/** A lots chunk written again in `layout` (the same lots, so the same summary). */
function reencodedLotChunk(chunk: Chunk, layout: number): Chunk {
  const lots: Lot[] = [];
  readLotChunk(chunk, lots);
  return encodeLotChunk(lots, layout);
}

/** An earned chunk written again in `layout`. */
function reencodedEarnedChunk(chunk: Chunk, layout: number): Chunk {
  const list = { ids: [] as string[], records: [] as EarnRecord[] };
  readEarnedChunkList(chunk, list);
  return encodeEarnedChunk(list, layout);
}

/**
 * The records of `chunks` (decoded) and then those of `earned` (under `ids`, its keys), as an open would
 * key them: a later record of an id in the earlier one's place. Lists as they come when no id repeats (a
 * record the core changes is opened first, so it does not), keyed only when one does.
 */
function mergedRecords(chunks: readonly Chunk[], earned: Record<string, unknown>, ids: readonly string[]): EarnedList {
  const list = { ids: [] as string[], records: [] as unknown[] };
  for (const chunk of chunks) readEarnedChunkList(chunk, list as { ids: string[]; records: EarnRecord[] });
  if (list.ids.length === 0) return { ids, records: ids.map((id) => earned[id]) };
  const read = new Set(list.ids);
  if (read.size < list.ids.length || ids.some((id) => read.has(id))) {
    // Keyed in the order read, as opening the chunks one after the other keys them.
    const keyed: Record<string, unknown> = {};
    for (let i = 0; i < list.ids.length; i++) setOwn(keyed, list.ids[i] as string, list.records[i]);
    setOwnAll(keyed, earned);
    const keys = Object.keys(keyed);
    return { ids: keys, records: keys.map((id) => keyed[id]) };
  }
  for (const id of ids) {
    list.ids.push(id);
    list.records.push(earned[id]);
  }
  return list;
}

/**
 * Where the chunks a commit writes again begin: the newest chunks that hold no more items than those
 * written with them (so chunks grow about twofold towards the oldest, and an item is written again a few
 * times in its life, not at every few commits), never the first chunk of several (the soonest lots, the
 * oldest records: expiry and pruning rewrite those), and the newest half when {@link MAX_CHUNKS} would pass.
 */
function mergeFrom(kept: readonly Chunk[], adding: number): number {
  let from = kept.length;
  let items = adding;
  while (from > 1 && chunkItems(kept[from - 1] as Chunk) <= items) items += chunkItems(kept[--from] as Chunk);
  return from + 1 > MAX_CHUNKS ? MAX_CHUNKS / 2 : from;
}

function chunkItems(chunk: Chunk): number {
  return new ShapeReader(chunk.bytes, chunk.items).count();
}

/** A lot expiring at most this long after a list's earliest expiry goes in the list's first chunk. */
const SOON_MS = 8 * 86_400_000;
/** Lots a list holds at least before its soonest lots get a chunk of their own. */
const SPLIT_FROM = 16;

/**
 * `lots` as one chunk, or as two when `room` allows another chunk: the lots up to the first that expires
 * more than {@link SOON_MS} after the earliest, then the rest. An expiry decodes and writes again only the
 * chunks holding a lot due ({@link LotChunks.dropDue}), so for the next week or so it touches the small
 * first chunk, not all of a customer's lots (a year or more of them). The second chunk costs about 40 bytes.
 */
function soonestFirst(lots: unknown[], room: number): unknown[][] {
  if (room < 2 || lots.length < SPLIT_FROM) return [lots];
  let earliest = Infinity;
  for (const lot of lots) {
    const expiry = (lot as { exp?: unknown }).exp;
    if (typeof expiry !== 'number') return [lots];
    earliest = Math.min(earliest, expiry);
  }
  let cut = 0;
  while (cut < lots.length && (lots[cut] as { exp: number }).exp <= earliest + SOON_MS) cut++;
  return cut === 0 || cut * 2 > lots.length ? [lots] : [lots.slice(0, cut), lots.slice(cut)];
}

/** Earning records a piece holds at least when records are written as more than one chunk. */
const EARNED_PIECE = 24;

/**
 * The records of `list`, in its order, as one chunk, or as up to `room` chunks of about equal counts when
 * there are at least {@link EARNED_PIECE} for each. Records come mostly in time order, so the first chunk
 * holds the oldest: pruning ({@link EarnedChunks.dropBefore}) then decodes and writes again that piece, not
 * every record of the reversal window. A chunk costs about 40 bytes.
 */
function earnedPieces(list: EarnedList, room: number, layout: number): Chunk[] {
  const count = list.ids.length;
  const pieces = Math.max(1, Math.min(room, Math.floor(count / EARNED_PIECE)));
  if (pieces === 1) return [encodeEarnedChunk(list, layout)];
  const chunks: Chunk[] = [];
  for (let p = 0; p < pieces; p++) {
    const from = Math.floor((p * count) / pieces);
    const to = Math.floor(((p + 1) * count) / pieces);
    chunks.push(encodeEarnedChunk({ ids: list.ids.slice(from, to), records: list.records.slice(from, to) }, layout));
  }
  return chunks;
}

/**
 * `lots` as {@link soonestFirst} cuts them when they are the `front` of the list (no chunk before them),
 * and the last piece cut once more, room permitting, before the last lot earned before `merged` (the
 * loyalty state's, 0: none): the weekly merge then decodes only the piece from that lot on
 * ({@link LotChunks.openFrom}), not the lots of the year before.
 */
function lotPieces(lots: unknown[], room: number, merged: number, front: boolean): unknown[][] {
  const pieces = front ? soonestFirst(lots, room) : [lots];
  const last = pieces[pieces.length - 1] as unknown[];
  if (pieces.length >= room || last.length < SPLIT_FROM) return pieces;
  let cut = 0;
  while (cut < last.length && ((last[cut] as { at?: unknown }).at as number) < merged) cut++;
  cut--;
  if (cut < SPLIT_FROM / 2 || last.length - cut < SPLIT_FROM / 2) return pieces;
  pieces[pieces.length - 1] = last.slice(0, cut);
  pieces.push(last.slice(cut));
  return pieces;
}

function mergedBefore(loyalty: Loyalty): number {
  const merged = (loyalty as { merged?: unknown }).merged;
  return typeof merged === 'number' ? merged : 0;
}

/** Every lot of the customer: the sealed ones decoded, then `lots` (the state is left as it is). */
export function allLots(loyalty: Loyalty, lots: readonly unknown[]): unknown[] {
  const sealed = sealedLots(loyalty);
  if (sealed === undefined) return lots as unknown[];
  const all: unknown[] = sealed.open();
  for (const lot of lots) all.push(lot);
  return all;
}

/** Every earning record of the customer: the sealed ones decoded, those of `earned` over them (the state is left as it is). */
export function allEarned(loyalty: Loyalty, earned: Record<string, unknown>): Record<string, unknown> {
  const sealed = sealedEarned(loyalty);
  if (sealed === undefined) return earned;
  return setOwnAll<unknown>(sealed.open(), earned);
}

function writeChunk(out: ShapeWriter, chunk: Uint8Array): void {
  out.varint(chunk.length);
  out.room(chunk.length);
  out.bytes.set(chunk, out.length);
  out.length += chunk.length;
}

/** `lots` as a chunk, in the item layout of codec version `layout` (shapes.ts `writeLots`). */
function encodeLotChunk(lots: readonly unknown[], layout: number): Chunk {
  let earliestExpiry = 0;
  for (const lot of lots) {
    const expiry = (lot as { exp?: unknown }).exp;
    if (typeof expiry !== 'number' || !(expiry > 0)) throw doesNotFit;
    if (earliestExpiry === 0 || expiry < earliestExpiry) earliestExpiry = expiry;
  }
  const last = lots[lots.length - 1] as { at?: unknown; seq?: unknown };
  const w = chunkWriter;
  w.reset();
  w.zigzag(safeInteger(earliestExpiry));
  w.zigzag(safeInteger(last.at));
  w.zigzag(safeInteger(last.seq));
  const sum = reserveChecksum(w);
  writeLots(w, lots, layout);
  return sealChecksum(w, sum, layout);
}

/** The records of `list` (no id twice), in its order, as one chunk, in the item layout of codec version `layout` (shapes.ts `writeEarnedList`). */
function encodeEarnedChunk(list: EarnedList, layout: number): Chunk {
  let earliestAt = Infinity;
  for (const record of list.records) earliestAt = Math.min(earliestAt, safeInteger((record as { at?: unknown } | undefined)?.at));
  const w = chunkWriter;
  w.reset();
  w.zigzag(earliestAt);
  const sum = reserveChecksum(w);
  writeEarnedList(w, list, layout);
  return sealChecksum(w, sum, layout);
}

function safeInteger(n: unknown): number {
  if (typeof n !== 'number' || !Number.isSafeInteger(n)) throw doesNotFit;
  return n;
}

function reserveChecksum(w: ShapeWriter): number {
  const at = w.length;
  for (let i = 0; i < 4; i++) w.byte(0);
  return at;
}

function sealChecksum(w: ShapeWriter, at: number, layout: number): Chunk {
  const sum = fnv1a(w.bytes, at + 4, w.length);
  w.bytes[at] = sum >>> 24;
  w.bytes[at + 1] = (sum >>> 16) & 0xff;
  w.bytes[at + 2] = (sum >>> 8) & 0xff;
  w.bytes[at + 3] = sum & 0xff;
  return { bytes: w.bytes.slice(0, w.length), items: at + 4, layout };
}

// ---------------------------------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------------------------------

/**
 * Where a section's chunks lie in `reader.bytes`, three numbers a chunk: its start, its end, and where its
 * items start (from its start); each chunk's items checked against its checksum. No view or object is
 * made here: a record read keeps only the views of its one copy (copiedChunks).
 */
function chunkBounds(reader: ShapeReader, summaryFields: number, what: string): number[] {
  const count = reader.count();
  if (count > MAX_CHUNKS) reader.fail(`${count} ${what} chunks (at most ${MAX_CHUNKS})`);
  const bytes = reader.bytes;
  const bounds: number[] = [];
  for (let i = 0; i < count; i++) {
    const length = reader.varint();
    const start = reader.skip(length);
    const end = start + length;
    reader.offset = start;
    for (let k = 0; k < summaryFields; k++) reader.zigzag();
    const stored = reader.offset;
    if (stored + 4 > end) reader.fail(`${what} chunk ${i}: a summary longer than the chunk`);
    const sum = (((bytes[stored] as number) << 24) | ((bytes[stored + 1] as number) << 16) | ((bytes[stored + 2] as number) << 8) | (bytes[stored + 3] as number)) >>> 0;
    if (fnv1a(bytes, stored + 4, end) !== sum) reader.fail(`${what} chunk ${i} does not match its checksum`);
    bounds.push(start, end, stored + 4 - start);
    reader.offset = end;
  }
  return bounds;
}

/** A section's chunks as views of `bytes`, whose byte `shift` is the reader's byte 0 (see chunkBounds), their items in `layout`. */
function chunksOf(bytes: Uint8Array, bounds: readonly number[], shift: number, layout: number): Chunk[] {
  const chunks: Chunk[] = [];
  for (let i = 0; i < bounds.length; i += 3) {
    const start = (bounds[i] as number) - shift;
    chunks.push({ bytes: bytes.subarray(start, (bounds[i + 1] as number) - shift), items: bounds[i + 2] as number, layout });
  }
  return chunks;
}

/** Reads a section's chunk list: each chunk's bytes (views of `reader.bytes`), its items (in `layout`) checked against its checksum. */
function readChunks(reader: ShapeReader, summaryFields: number, what: string, layout: number): Chunk[] {
  return chunksOf(reader.bytes, chunkBounds(reader, summaryFields, what), 0, layout);
}

/** The lots of one chunk, appended to `into`. */
function readLotChunk(chunk: Chunk, into: Lot[]): void {
  const reader = new ShapeReader(chunk.bytes, chunk.items);
  for (const lot of readLots(reader, chunk.layout)) into.push(lot);
  if (reader.offset !== chunk.bytes.length) reader.fail(`${chunk.bytes.length - reader.offset} bytes after a chunk's lots`);
}

/** The records of one chunk, set in `into` (a record of an id already there takes its place). */
function readEarnedChunk(chunk: Chunk, into: Record<string, EarnRecord> | undefined): Record<string, EarnRecord> {
  const reader = new ShapeReader(chunk.bytes, chunk.items);
  const records = readEarned(reader, chunk.layout);
  if (reader.offset !== chunk.bytes.length) reader.fail(`${chunk.bytes.length - reader.offset} bytes after a chunk's earning records`);
  return into === undefined ? records : setOwnAll(into, records);
}

/** The records of one chunk, appended to `into` in their order, not keyed. */
function readEarnedChunkList(chunk: Chunk, into: { ids: string[]; records: EarnRecord[] }): void {
  const reader = new ShapeReader(chunk.bytes, chunk.items);
  readEarnedList(reader, into, chunk.layout);
  if (reader.offset !== chunk.bytes.length) reader.fail(`${chunk.bytes.length - reader.offset} bytes after a chunk's earning records`);
}

/** Reads a lots section's body of a record of codec `version` (every lot, decoded). */
export function readLotSection(reader: ShapeReader, version: number): Lot[] {
  const lots: Lot[] = [];
  for (const chunk of readChunks(reader, 3, 'lots', version)) readLotChunk(chunk, lots);
  return lots;
}

/** Reads an earned section's body of a record of codec `version` (every record, decoded). */
export function readEarnedSection(reader: ShapeReader, version: number): Record<string, EarnRecord> {
  let earned: Record<string, EarnRecord> | undefined;
  for (const chunk of readChunks(reader, 1, 'earned', version)) earned = readEarnedChunk(chunk, earned);
  return earned ?? {};
}

/**
 * Reads a lots section's body without decoding the lots: returns them sealed (the section's bytes are
 * copied, so the record's buffer may be reused), or undefined when the section holds none.
 */
export function sealedLotSection(reader: ShapeReader, version: number): SealedLots | undefined {
  const chunks = copiedChunks(reader, 3, 'lots', version);
  return chunks.length === 0 ? undefined : lotChunks(chunks, reader);
}

/** Reads an earned section's body without decoding the records (see {@link sealedLotSection}). */
export function sealedEarnedSection(reader: ShapeReader, version: number): SealedEarned | undefined {
  const chunks = copiedChunks(reader, 1, 'earned', version);
  return chunks.length === 0 ? undefined : earnedChunks(chunks);
}

/** A section's chunks (see readChunks), in one copy of the section's bytes. */
function copiedChunks(reader: ShapeReader, summaryFields: number, what: string, layout: number): Chunk[] {
  const start = reader.offset;
  const bounds = chunkBounds(reader, summaryFields, what);
  if (bounds.length === 0) return [];
  const copy = Buffer.allocUnsafe(reader.offset - start);
  copy.set(reader.bytes.subarray(start, reader.offset));
  return chunksOf(copy, bounds, start, layout);
}

/** The summary of lots chunks (each chunk's own summary read from its head); `read`: the record's reader, which refuses an earliest expiry not above 0. */
function lotChunks(chunks: readonly Chunk[], read?: ShapeReader): LotChunks {
  let earliestExpiry = 0;
  let count = 0;
  let lastAt = 0;
  let lastSeq = 0;
  for (const chunk of chunks) {
    const head = new ShapeReader(chunk.bytes, 0);
    const expiry = head.zigzag();
    if (read !== undefined && !(expiry > 0)) read.fail(`a lots chunk with earliest expiry ${expiry}`);
    if (earliestExpiry === 0 || expiry < earliestExpiry) earliestExpiry = expiry;
    lastAt = head.zigzag();
    lastSeq = head.zigzag();
    count += chunkItems(chunk);
  }
  return new LotChunks(chunks, count, earliestExpiry, lastAt, lastSeq);
}

/** The summary of earned chunks. */
function earnedChunks(chunks: readonly Chunk[]): EarnedChunks {
  let earliestAt = Infinity;
  let count = 0;
  for (const chunk of chunks) {
    earliestAt = Math.min(earliestAt, new ShapeReader(chunk.bytes, 0).zigzag());
    count += chunkItems(chunk);
  }
  return new EarnedChunks(chunks, count, earliestAt);
}

/** Sealed lots as chunks of a record (each written back as it is). */
class LotChunks implements SealedLots {
  constructor(readonly chunks: readonly Chunk[], readonly count: number, readonly earliestExpiry: number, readonly lastAt: number, readonly lastSeq: number) {}

  open(): Lot[] {
    const lots: Lot[] = [];
    for (const chunk of this.chunks) readLotChunk(chunk, lots);
    return lots;
  }

  /** Decodes only the chunks that hold a lot due; the lots those keep are written again as a chunk in their place. */
  dropDue(due: number): { gone: Lot[]; rest: SealedLots | undefined; gapAt: number } {
    const gone: Lot[] = [];
    const kept: Chunk[] = [];
    let gapAt = Infinity;
    for (const chunk of this.chunks) {
      if (new ShapeReader(chunk.bytes, 0).zigzag() > due) {
        kept.push(chunk);
        continue;
      }
      const lots: Lot[] = [];
      readLotChunk(chunk, lots);
      const left: Lot[] = [];
      for (const lot of lots) {
        if (lot.exp > due) left.push(lot);
        else {
          gone.push(lot);
          if (kept.length > 0 || left.length > 0) gapAt = Math.min(gapAt, lot.at);
        }
      }
      if (left.length > 0) for (const piece of soonestFirst(left, MAX_CHUNKS / 2 - (this.chunks.length - 1))) kept.push(encodeLotChunk(piece, CHUNK_LAYOUT));
    }
    return { gone, rest: kept.length > 0 ? lotChunks(kept) : undefined, gapAt };
  }

  /**
   * Decodes the chunks from the first whose last lot was earned at or after `from` to the last that may
   * hold a lot earned before `horizon` (the first, or one after a chunk whose last lot was), and the one
   * before them too unless the first starts with a lot earned before `from`.
   */
  openBetween(from: number, horizon: number): { lots: Lot[]; sealBack(lots: readonly Lot[]): SealedLots | undefined } | undefined {
    const chunks = this.chunks;
    const first = this.firstReaching(from);
    if (first === chunks.length) return undefined;
    let last = first;
    while (last + 1 < chunks.length && chunkLastAt(chunks[last] as Chunk) < horizon) last++;
    const { lots, start } = this.decodeFrom(from, first, last);
    const room = MAX_CHUNKS / 2 - (chunks.length - (last - start + 1));
    return {
      lots,
      sealBack: (merged) => {
        const kept = chunks.slice(0, start);
        if (merged.length > 0) for (const piece of soonestFirst(merged as Lot[], start === 0 ? room : 1)) kept.push(encodeLotChunk(piece, CHUNK_LAYOUT));
        for (let i = last + 1; i < chunks.length; i++) kept.push(chunks[i] as Chunk);
        return kept.length > 0 ? lotChunks(kept) : undefined;
      },
    };
  }

  /** Decodes the chunks as {@link openBetween} does, to the last. */
  openFrom(at: number): { opened: Lot[]; rest: SealedLots | undefined } {
    const { lots, start } = this.decodeFrom(at, this.firstReaching(at), this.chunks.length - 1);
    return { opened: lots, rest: start > 0 ? lotChunks(this.chunks.slice(0, start)) : undefined };
  }

  /** The index of the first chunk whose last lot was earned at or after `at` (the count: none). */
  private firstReaching(at: number): number {
    let first = 0;
    while (first < this.chunks.length && chunkLastAt(this.chunks[first] as Chunk) < at) first++;
    return first;
  }

  /**
   * The lots of chunks `first` to `last`, after those of the chunk before `first` unless `first` starts with
   * a lot earned before `from` (it then holds the lot before the first earned at or after `from`), and the
   * index of the first chunk decoded.
   */
  private decodeFrom(from: number, first: number, last: number): { lots: Lot[]; start: number } {
    const lots: Lot[] = [];
    for (let i = first; i <= last; i++) readLotChunk(this.chunks[i] as Chunk, lots);
    if (first === 0 || (lots[0]?.at ?? from) < from) return { lots, start: first };
    const before: Lot[] = [];
    readLotChunk(this.chunks[first - 1] as Chunk, before);
    for (const lot of lots) before.push(lot);
    return { lots: before, start: first - 1 };
  }
}

/** Sealed earning records as chunks of a record. */
class EarnedChunks implements SealedEarned {
  constructor(readonly chunks: readonly Chunk[], readonly count: number, readonly earliestAt: number) {}

  open(): Record<string, EarnRecord> {
    let earned: Record<string, EarnRecord> | undefined;
    for (const chunk of this.chunks) earned = readEarnedChunk(chunk, earned);
    return earned ?? {};
  }

  has(id: string): boolean {
    for (const chunk of this.chunks) if (chunkHasAny(chunk, (key) => key === id)) return true;
    return false;
  }

  /**
   * Decodes only the chunks whose earliest record was made before `horizon`, drops those records and writes
   * the rest again in their place (in pieces, see {@link earnedPieces}). False, nothing changed, when an id
   * dropped is held anywhere else (another chunk, or `elsewhere`: the plain records beside these): opening
   * would then keep one record of it, in the first one's place, and dropping it here would not.
   */
  dropBefore(horizon: number, elsewhere: (id: string) => boolean): SealedEarned | undefined | false {
    const chunks = this.chunks;
    const opened: ({ ids: string[]; records: EarnRecord[] } | undefined)[] = [];
    const gone = new Set<string>();
    for (const chunk of chunks) {
      if (new ShapeReader(chunk.bytes, 0).zigzag() >= horizon) {
        opened.push(undefined);
        continue;
      }
      const read = { ids: [] as string[], records: [] as EarnRecord[] };
      readEarnedChunkList(chunk, read);
      const left = { ids: [] as string[], records: [] as EarnRecord[] };
      for (let i = 0; i < read.ids.length; i++) {
        const id = read.ids[i] as string;
        const record = read.records[i] as EarnRecord;
        if (record.at >= horizon) {
          left.ids.push(id);
          left.records.push(record);
        } else if (gone.has(id)) return false;
        else gone.add(id);
      }
      if (new Set(left.ids).size < left.ids.length) return false;
      opened.push(left);
    }
    if (gone.size === 0) return this;
    const held = (id: string): boolean => gone.has(id);
    for (let i = 0; i < chunks.length; i++) {
      const open = opened[i];
      if (open === undefined ? chunkHasAny(chunks[i] as Chunk, held) : open.ids.some(held)) return false;
    }
    for (const id of gone) if (elsewhere(id)) return false;
    const kept: Chunk[] = [];
    for (let i = 0; i < chunks.length; i++) {
      const open = opened[i];
      if (open === undefined) kept.push(chunks[i] as Chunk);
      else if (open.ids.length > 0) for (const piece of earnedPieces(open, MAX_CHUNKS / 2 - (chunks.length - 1), CHUNK_LAYOUT)) kept.push(piece);
    }
    return kept.length > 0 ? earnedChunks(kept) : undefined;
  }
}

/** `at` of a lots chunk's last lot (from its summary). */
function chunkLastAt(chunk: Chunk): number {
  const head = new ShapeReader(chunk.bytes, 0);
  head.zigzag();
  return head.zigzag();
}

/** Whether an earned chunk holds a record whose id `wanted` selects (the ids read past, no record built). */
function chunkHasAny(chunk: Chunk, wanted: (id: string) => boolean): boolean {
  return earnedHasAny(new ShapeReader(chunk.bytes, chunk.items), wanted, chunk.layout);
}

/** Seals what a lots and an earned section held on the customer's loyalty state (the lists then hold nothing). */
export function seal(loyalty: Loyalty, lots: SealedLots | undefined, earned: SealedEarned | undefined): void {
  if (lots !== undefined) {
    loyalty.lots = [];
    sealLots(loyalty, lots);
  }
  if (earned !== undefined) {
    loyalty.earned = {};
    sealEarned(loyalty, earned);
  }
}
