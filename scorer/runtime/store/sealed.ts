/**
 * Codec version 7's loyalty sections: a customer's lots and its earning records, each as a list of
 * self-contained chunks, so that a restored customer can keep them encoded (sealed, scorer/core/loyalty/book.ts)
 * until an operation needs them, and a commit can write a sealed part back as its bytes, with what came
 * after it as one more chunk.
 *
 * Layout of a section body: the chunk count, then per chunk its byte length and its bytes. A chunk is a
 * summary, its FNV-1a checksum, then the items as shapes.ts writes them with their own delta bases and
 * dictionary (no links between sections or chunks):
 * - lots chunk: earliest expiry (zigzag; every expiry > 0), `at` and `seq` of the last lot (zigzag), from
 *   version 10 what of its lots may still merge ({@link encodeLotChunk}), the checksum (4 bytes) of the
 *   items that follow, then `writeLots`.
 * - earned chunk: earliest `at` (zigzag), the checksum, then `writeEarned`.
 * The chunks of a lots section are in (at, seq) order, one after the other; in an earned section a later
 * chunk's record replaces an earlier one's of the same id (its key in the later one's place).
 *
 * A section holds at most {@link MAX_CHUNKS} chunks (8 before version 10). Both sections keep their chunks
 * to periods of their items' time ({@link EARNED_PERIOD_DAYS}, {@link LOT_PERIOD_DAYS}), and a commit that
 * would pass the bound merges chunks of one period first ({@link chunksToMerge}), so that pruning past the
 * reversal window, an expiry and the weekly merge decode the chunks they concern, not the whole history.
 */
import { mergeable, sealEarned, sealedEarned, sealLots, sealedLots, setOwn, setOwnAllLast, type EarnRecord, type Lot, type SealedEarned, type SealedLots } from '../../core/mod.js';
import { fnv1a } from './bytes.js';
import { doesNotFit, readEarned, readLots, ShapeReader, ShapeWriter, writeEarned, writeLots } from './shapes.js';

/** Chunks a section holds at most (codec version 10 on; {@link MAX_CHUNKS_BEFORE_10} before). */
export const MAX_CHUNKS = 16;

/** Chunks a section of a version 7–9 record holds at most (what builds of those versions read). */
export const MAX_CHUNKS_BEFORE_10 = 8;

/** {@link MAX_CHUNKS} of codec `version`. */
function maxChunks(version: number): number {
  return version >= MERGE_SUMMARY_VERSION ? MAX_CHUNKS : MAX_CHUNKS_BEFORE_10;
}

/**
 * Days of earning time an earned chunk keeps to when chunks are merged: with the shipped 120-day reversal
 * window and weekly pruning, the records kept span nine such periods, leaving chunks for the commits of the
 * newest period; pruning decodes the oldest period's chunk.
 */
export const EARNED_PERIOD_DAYS = 16;

const EARNED_PERIOD_MS = EARNED_PERIOD_DAYS * 86_400_000;

/**
 * Days of earning time a lots chunk keeps to: lots live about a year (the shipped expiry), thirteen such
 * periods, leaving chunks for the commits of the newest period; an expiry decodes the oldest period's chunk.
 */
export const LOT_PERIOD_DAYS = 30;

const LOT_PERIOD_MS = LOT_PERIOD_DAYS * 86_400_000;

const chunkWriter = new ShapeWriter();

/** The loyalty state as the codec sees it (the core's `LoyaltyState`, read as plain data). */
export type Loyalty = Parameters<typeof sealLots>[0];

// ---------------------------------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------------------------------

/** A chunk: its bytes (summary, checksum, items), where its items start, what its summary says and how many items it holds. */
interface Chunk {
  readonly bytes: Uint8Array;
  readonly items: number;
  readonly summary: readonly number[];
  readonly count: number;
}

/**
 * Writes the lots section's body: the sealed chunks as they are, then the lots of `lots` (those after
 * them) as one more chunk; when that would pass {@link MAX_CHUNKS}, the newest half of the chunks and those
 * lots as one. `reseal`: the customer's lots are then kept sealed as the chunks written (the state reads
 * the same; its lots are decoded again when an operation needs them). Throws `DoesNotFit` (inside
 * `writeSection`) when a lot does not fit the shape; the caller then writes {@link allLots}.
 */
export function writeLotSection(out: ShapeWriter, loyalty: Loyalty, lots: readonly unknown[], reseal: boolean, version: number): void {
  const sealed = sealedLots(loyalty);
  if (sealed !== undefined && !(sealed instanceof LotChunks && version >= MERGE_SUMMARY_VERSION)) throw doesNotFit;
  reseal &&= version >= MERGE_SUMMARY_VERSION;
  const pieces: Piece<unknown[]>[] = sealed instanceof LotChunks ? sealed.chunks.map(lotPiece) : [];
  for (const piece of lotRuns(lots)) pieces.push(piece);
  const kind = version >= MERGE_SUMMARY_VERSION ? LOT_PIECES : LOT_PIECES_BEFORE_MERGE_SUMMARY;
  const kept = lots.length > 0 ? encodePieces(pieces, kind, maxChunks(version)) : (sealed as LotChunks | undefined)?.chunks ?? [];
  out.varint(kept.length);
  for (const chunk of kept) writeChunk(out, chunk.bytes);
  if (reseal && kept.length > 0 && lots.length > 0) {
    loyalty.lots = [];
    sealLots(loyalty, lotChunks(kept));
  }
}

/** Writes the earned section's body, as {@link writeLotSection} the lots. */
export function writeEarnedSection(out: ShapeWriter, loyalty: Loyalty, earned: Record<string, unknown>, reseal: boolean, version: number): void {
  const sealed = sealedEarned(loyalty);
  if (sealed !== undefined && !(sealed instanceof EarnedChunks && (version >= MERGE_SUMMARY_VERSION || sealed.chunks.length <= MAX_CHUNKS_BEFORE_10))) throw doesNotFit;
  const pieces: Piece<Record<string, unknown>>[] = sealed instanceof EarnedChunks ? sealed.chunks.map(earnedPiece) : [];
  const added = earnedRuns(earned);
  const some = added.length > 0;
  for (const piece of added) pieces.push(piece);
  const kept = some ? encodePieces(pieces, EARNED_PIECES, maxChunks(version)) : (sealed as EarnedChunks | undefined)?.chunks ?? [];
  out.varint(kept.length);
  for (const chunk of kept) writeChunk(out, chunk.bytes);
  if (reseal && kept.length > 0 && some) {
    loyalty.earned = {};
    sealEarned(loyalty, earnedChunks(kept));
  }
}

/** A chunk, or items yet to be written as one; either with its period (of its items' time). */
type Piece<T> = { readonly period: number; readonly chunk: Chunk; readonly items?: undefined } | { readonly period: number; readonly items: T; readonly chunk?: undefined };

/** How a section's items are read, joined and written as a chunk. */
interface PieceKind<T> {
  empty(): T;
  read(chunk: Chunk): T;
  /** Adds `more` after the items of `into` (which it may change and returns). */
  join(into: T, more: T): T;
  encode(items: T): Chunk;
}

/** The codec version from which a lots chunk's summary says what its lots may still merge ({@link encodeLotChunk}). */
export const MERGE_SUMMARY_VERSION = 10;

/** Fields of a lots chunk's summary, by codec version. */
function lotSummaryFields(version: number): number {
  return version >= MERGE_SUMMARY_VERSION ? 7 : 3;
}

const LOT_PIECES: PieceKind<unknown[]> = {
  empty: () => [],
  read: (chunk) => {
    const lots: Lot[] = [];
    readLotChunk(chunk, lots);
    return lots;
  },
  join: (into, more) => {
    for (const lot of more) into.push(lot);
    return into;
  },
  encode: (lots) => encodeLotChunk(lots, true),
};

const LOT_PIECES_BEFORE_MERGE_SUMMARY: PieceKind<unknown[]> = { ...LOT_PIECES, encode: (lots) => encodeLotChunk(lots, false) };

const EARNED_PIECES: PieceKind<Record<string, unknown>> = {
  empty: () => ({}),
  read: (chunk) => readEarnedChunk(chunk, undefined),
  join: (into, more) => setOwnAllLast(into, more),
  encode: encodeEarnedChunk,
};

/**
 * The chunks of `pieces` (in their order), at most `max`: ranges that {@link chunksToMerge} picks
 * are merged first, then each piece of items is encoded (a chunk is written as it is).
 */
function encodePieces<T>(pieces: Piece<T>[], kind: PieceKind<T>, max = MAX_CHUNKS): Chunk[] {
  while (pieces.length > max) {
    const [from, to] = chunksToMerge(pieces.map((piece) => piece.period));
    let merged = kind.empty();
    let period = Infinity;
    for (const piece of pieces.slice(from, to)) {
      merged = kind.join(merged, piece.chunk === undefined ? piece.items : kind.read(piece.chunk));
      period = Math.min(period, piece.period);
    }
    pieces.splice(from, to - from, { period, items: merged });
  }
  return pieces.map((piece) => piece.chunk ?? kind.encode(piece.items));
}

function lotPiece(chunk: Chunk): Piece<unknown[]> {
  return { period: Math.floor(chunkLastAt(chunk) / LOT_PERIOD_MS), chunk };
}

function earnedPiece(chunk: Chunk): Piece<Record<string, unknown>> {
  return { period: Math.floor(chunkEarliestAt(chunk) / EARNED_PERIOD_MS), chunk };
}

/** `lots` (in (at, seq) order) as runs of one period of `at` each (none when there is no lot). */
function lotRuns(lots: readonly unknown[]): Piece<unknown[]>[] {
  if (lots.length === 0) return [];
  const first = Math.floor(safeInteger((lots[0] as { at?: unknown } | undefined)?.at) / LOT_PERIOD_MS);
  const last = Math.floor(safeInteger((lots[lots.length - 1] as { at?: unknown } | undefined)?.at) / LOT_PERIOD_MS);
  if (first === last) return [{ period: first, items: lots as unknown[] }];
  const runs: Piece<unknown[]>[] = [];
  let run: unknown[] = [];
  let runPeriod = NaN;
  for (const lot of lots) {
    const period = Math.floor(safeInteger((lot as { at?: unknown } | undefined)?.at) / LOT_PERIOD_MS);
    if (run.length > 0 && period !== runPeriod) {
      runs.push({ period: runPeriod, items: run });
      run = [];
    }
    runPeriod = period;
    run.push(lot);
  }
  if (run.length > 0) runs.push({ period: runPeriod, items: run });
  return runs;
}

/** `records` in their key order as runs of one period of `at` each (none when there is no record). */
function earnedRuns(records: Record<string, unknown>): Piece<Record<string, unknown>>[] {
  let earliest = Infinity;
  let latest = -Infinity;
  for (const id in records) {
    if (!Object.hasOwn(records, id)) continue;
    const at = safeInteger((records[id] as { at?: unknown } | undefined)?.at);
    earliest = Math.min(earliest, at);
    latest = Math.max(latest, at);
  }
  if (earliest === Infinity) return [];
  const period = Math.floor(earliest / EARNED_PERIOD_MS);
  if (period === Math.floor(latest / EARNED_PERIOD_MS)) return [{ period, items: records }];
  return splitEarnedRuns(records);
}

/** {@link earnedRuns} of records of more than one period. */
function splitEarnedRuns(records: Record<string, unknown>): Piece<Record<string, unknown>>[] {
  const runs: Piece<Record<string, unknown>>[] = [];
  let run: Record<string, unknown> | undefined;
  let runPeriod = NaN;
  let earliest = Infinity;
  const close = (): void => {
    if (run !== undefined) runs.push({ period: Math.floor(earliest / EARNED_PERIOD_MS), items: run });
  };
  for (const id in records) {
    if (!Object.hasOwn(records, id)) continue;
    const value = records[id];
    const at = safeInteger((value as { at?: unknown } | undefined)?.at);
    const period = Math.floor(at / EARNED_PERIOD_MS);
    if (run === undefined || period !== runPeriod) {
      close();
      run = {};
      runPeriod = period;
      earliest = at;
    }
    setOwn(run, id, value);
    earliest = Math.min(earliest, at);
  }
  close();
  return runs;
}

/**
 * Which chunks to write as one when a section would hold more than {@link MAX_CHUNKS}, given each chunk's
 * period, in their order (the newest last): `[from, to)`. The newest half of the newest run of one period
 * when that run has more than the new chunk (as a section without periods would); else the newest older
 * run of one period, whole (its period is over); else the two oldest chunks (the next to be pruned).
 */
export function chunksToMerge(periods: readonly number[]): [number, number] {
  const n = periods.length;
  const runStart = (end: number): number => {
    let start = end - 1;
    while (start > 0 && periods[start - 1] === periods[end - 1]) start--;
    return start;
  };
  const newest = runStart(n);
  if (n - newest >= 2) return [n - Math.max(2, Math.ceil((n - newest) / 2)), n];
  for (let end = newest; end > 0; ) {
    const start = runStart(end);
    if (end - start >= 2) return [start, end];
    end = start;
  }
  return [0, 2];
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
  return setOwnAllLast<unknown>(sealed.open(), earned);
}

function writeChunk(out: ShapeWriter, chunk: Uint8Array): void {
  out.varint(chunk.length);
  out.room(chunk.length);
  out.bytes.set(chunk, out.length);
  out.length += chunk.length;
}

/**
 * A lots chunk. Its summary: the earliest expiry, `at` and `seq` of the last lot; from version 10 also
 * `at` of the first lot, the expiries of the first and the last lot, and the earliest `at` of a lot that
 * would merge into the one before it ({@link mergeable}) once both are past the horizon (none: Infinity).
 * Written as zigzag varints: the first three as they are, then lastAt − firstAt, firstExp − earliest,
 * lastExp − earliest, and 0 for none or mergeAt − firstAt + 1.
 */
function encodeLotChunk(lots: readonly unknown[], mergeSummary: boolean): Chunk {
  let earliestExpiry = 0;
  let mergeAt = Infinity;
  let previous: Lot | undefined;
  for (const lot of lots) {
    const expiry = (lot as { exp?: unknown }).exp;
    if (typeof expiry !== 'number' || !(expiry > 0)) throw doesNotFit;
    if (earliestExpiry === 0 || expiry < earliestExpiry) earliestExpiry = expiry;
    if (previous !== undefined && mergeAt === Infinity && mergeable(previous, lot as Lot)) mergeAt = safeInteger((lot as Lot).at);
    previous = lot as Lot;
  }
  const first = lots[0] as Lot;
  const last = lots[lots.length - 1] as Lot;
  const summary = [safeInteger(earliestExpiry), safeInteger(last.at), safeInteger(last.seq)];
  if (mergeSummary) summary.push(safeInteger(first.at), safeInteger(first.exp), safeInteger(last.exp), Math.max(mergeAt, safeInteger(first.at)));
  const w = chunkWriter;
  w.reset();
  for (let i = 0; i < 3; i++) w.zigzag(summary[i] as number);
  if (mergeSummary) {
    w.zigzag(last.at - first.at);
    w.zigzag(first.exp - earliestExpiry);
    w.zigzag(last.exp - earliestExpiry);
    w.zigzag(mergeAt === Infinity ? 0 : Math.max(mergeAt, first.at) - first.at + 1);
  }
  const sum = reserveChecksum(w);
  writeLots(w, lots);
  return sealChecksum(w, sum, summary, lots.length);
}

/** A version-10 lots chunk's summary as read (see {@link encodeLotChunk}), made absolute. */
function lotSummary(raw: readonly number[]): number[] {
  const [earliest, lastAt, lastSeq, firstDelta, firstExp, lastExp, merge] = raw as [number, number, number, number, number, number, number];
  const firstAt = lastAt - firstDelta;
  return [earliest, lastAt, lastSeq, firstAt, earliest + firstExp, earliest + lastExp, merge === 0 ? Infinity : firstAt + merge - 1];
}

function encodeEarnedChunk(earned: Record<string, unknown>): Chunk {
  let earliestAt = Infinity;
  let count = 0;
  for (const id in earned) {
    if (!Object.hasOwn(earned, id)) continue;
    const at = (earned[id] as { at?: unknown } | undefined)?.at;
    earliestAt = Math.min(earliestAt, safeInteger(at));
    count++;
  }
  const w = chunkWriter;
  w.reset();
  w.zigzag(earliestAt);
  const sum = reserveChecksum(w);
  writeEarned(w, earned);
  return sealChecksum(w, sum, [earliestAt], count);
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

function sealChecksum(w: ShapeWriter, at: number, summary: readonly number[], count: number): Chunk {
  const sum = fnv1a(w.bytes, at + 4, w.length);
  w.bytes[at] = sum >>> 24;
  w.bytes[at + 1] = (sum >>> 16) & 0xff;
  w.bytes[at + 2] = (sum >>> 8) & 0xff;
  w.bytes[at + 3] = sum & 0xff;
  return { bytes: w.bytes.slice(0, w.length), items: at + 4, summary, count };
}

// ---------------------------------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------------------------------

/** Reads a section's chunk list: each chunk's bytes (views of `reader.bytes`), summary checked against its checksum. */
function readChunks(reader: ShapeReader, summaryFields: number, what: string): Chunk[] {
  const count = reader.count();
  if (count > MAX_CHUNKS) reader.fail(`${count} ${what} chunks (at most ${MAX_CHUNKS})`);
  const chunks: Chunk[] = [];
  for (let i = 0; i < count; i++) {
    const length = reader.varint();
    const start = reader.skip(length);
    const bytes = reader.bytes.subarray(start, start + length);
    const head = new ShapeReader(bytes, 0);
    const summary: number[] = [];
    for (let k = 0; k < summaryFields; k++) summary.push(head.zigzag());
    const stored = head.skip(4);
    const sum = (((bytes[stored] as number) << 24) | ((bytes[stored + 1] as number) << 16) | ((bytes[stored + 2] as number) << 8) | (bytes[stored + 3] as number)) >>> 0;
    if (fnv1a(bytes, head.offset, bytes.length) !== sum) reader.fail(`${what} chunk ${i} does not match its checksum`);
    chunks.push({ bytes, items: head.offset, summary, count: new ShapeReader(bytes, head.offset).count() });
  }
  return chunks;
}

/** The lots of one chunk, appended to `into`. */
function readLotChunk(chunk: Chunk, into: Lot[]): void {
  const reader = new ShapeReader(chunk.bytes, chunk.items);
  for (const lot of readLots(reader)) into.push(lot);
  if (reader.offset !== chunk.bytes.length) reader.fail(`${chunk.bytes.length - reader.offset} bytes after a chunk's lots`);
}

/** The `at` of the last lot, as a lots chunk's summary gives it. */
function chunkLastAt(chunk: Chunk): number {
  return chunk.summary[1] as number;
}

/** The earliest expiry a lots chunk's summary gives. */
function chunkEarliestExpiry(chunk: Chunk): number {
  return chunk.summary[0] as number;
}

/** The earliest `at` an earned chunk's summary gives. */
function chunkEarliestAt(chunk: Chunk): number {
  return chunk.summary[0] as number;
}

/** The records of `chunks` in their order (undefined when there is no chunk). */
function openEarnedChunks(chunks: readonly Chunk[]): Record<string, EarnRecord> | undefined {
  let earned: Record<string, EarnRecord> | undefined;
  for (const chunk of chunks) earned = readEarnedChunk(chunk, earned);
  return earned;
}

/** The records of one chunk, set in `into` (a record of an id already there takes its place). */
function readEarnedChunk(chunk: Chunk, into: Record<string, EarnRecord> | undefined): Record<string, EarnRecord> {
  const reader = new ShapeReader(chunk.bytes, chunk.items);
  const records = readEarned(reader);
  if (reader.offset !== chunk.bytes.length) reader.fail(`${chunk.bytes.length - reader.offset} bytes after a chunk's earning records`);
  return into === undefined ? records : setOwnAllLast(into, records);
}

/** Reads a lots section's body (every lot, decoded) of a record of codec `version`. */
export function readLotSection(reader: ShapeReader, version: number): Lot[] {
  const lots: Lot[] = [];
  for (const chunk of readChunks(reader, lotSummaryFields(version), 'lots')) readLotChunk(chunk, lots);
  return lots;
}

/** Reads an earned section's body (every record, decoded). */
export function readEarnedSection(reader: ShapeReader): Record<string, EarnRecord> {
  let earned: Record<string, EarnRecord> | undefined;
  for (const chunk of readChunks(reader, 1, 'earned')) earned = readEarnedChunk(chunk, earned);
  return earned ?? {};
}

/**
 * Reads a lots section's body without decoding the lots: returns them sealed (the section's bytes are
 * copied, so the record's buffer may be reused), or undefined when the section holds none.
 */
export function sealedLotSection(reader: ShapeReader): SealedLots | undefined {
  const chunks = copiedChunks(reader, lotSummaryFields(MERGE_SUMMARY_VERSION), 'lots').map((chunk) => ({ ...chunk, summary: lotSummary(chunk.summary) }));
  if (chunks.length === 0) return undefined;
  for (const chunk of chunks) if (!((chunk.summary[0] as number) > 0)) reader.fail(`a lots chunk with earliest expiry ${String(chunk.summary[0])}`);
  return lotChunks(chunks);
}

/** Reads an earned section's body without decoding the records (see {@link sealedLotSection}). */
export function sealedEarnedSection(reader: ShapeReader): SealedEarned | undefined {
  const chunks = copiedChunks(reader, 1, 'earned');
  return chunks.length === 0 ? undefined : earnedChunks(chunks);
}

/** A section's chunks (see readChunks), in one copy of the section's bytes. */
function copiedChunks(reader: ShapeReader, summaryFields: number, what: string): Chunk[] {
  const start = reader.offset;
  const heads = readChunks(reader, summaryFields, what);
  if (heads.length === 0) return heads;
  const copy = Buffer.allocUnsafe(reader.offset - start);
  copy.set(reader.bytes.subarray(start, reader.offset));
  const base = reader.bytes.byteOffset + start;
  return heads.map((head) => ({ ...head, bytes: copy.subarray(head.bytes.byteOffset - base, head.bytes.byteOffset - base + head.bytes.length) }));
}

/** The summary of lots chunks (each chunk's own summary read from its head). */
function lotChunks(chunks: readonly Chunk[]): LotChunks {
  let earliestExpiry = 0;
  let count = 0;
  let lastAt = 0;
  let lastSeq = 0;
  for (const chunk of chunks) {
    const expiry = chunkEarliestExpiry(chunk);
    if (earliestExpiry === 0 || expiry < earliestExpiry) earliestExpiry = expiry;
    lastAt = chunkLastAt(chunk);
    lastSeq = chunk.summary[2] as number;
    count += chunk.count;
  }
  return new LotChunks(chunks, count, earliestExpiry, lastAt, lastSeq, (chunks[chunks.length - 1] as Chunk).summary[5] as number);
}

/** The summary of earned chunks. */
function earnedChunks(chunks: readonly Chunk[]): EarnedChunks {
  let earliestAt = Infinity;
  let count = 0;
  for (const chunk of chunks) {
    earliestAt = Math.min(earliestAt, chunkEarliestAt(chunk));
    count += chunk.count;
  }
  return new EarnedChunks(chunks, count, earliestAt);
}

/** Sealed lots as chunks of a record (each written back as it is). */
class LotChunks implements SealedLots {
  constructor(readonly chunks: readonly Chunk[], readonly count: number, readonly earliestExpiry: number, readonly lastAt: number, readonly lastSeq: number, readonly lastExpiry: number) {}

  /**
   * Decodes the runs of chunks that may hold lots to merge at `horizon`: a chunk whose summary's merge time
   * is before it, with its neighbours when a lot at their border may merge (the same expiry, the later one
   * before the horizon: the summary does not hold tiers and versions, so this may open a run for nothing).
   */
  mergeBefore(horizon: number, merge: (lots: Lot[]) => void): LotChunks {
    const chunks = this.chunks;
    const open: boolean[] = [];
    const withPrevious: boolean[] = [];
    let any = false;
    for (let k = 0; k < chunks.length; k++) {
      const summary = (chunks[k] as Chunk).summary;
      const border = k > 0 && ((chunks[k - 1] as Chunk).summary[5] as number) === (summary[4] as number) && (summary[3] as number) < horizon;
      withPrevious.push(border);
      open.push(border || (summary[6] as number) < horizon);
      if (border) open[k - 1] = true;
      any ||= open[k] as boolean;
    }
    if (!any) return this;
    const pieces: Piece<unknown[]>[] = [];
    for (let k = 0; k < chunks.length; ) {
      if (!open[k]) {
        pieces.push(lotPiece(chunks[k] as Chunk));
        k++;
        continue;
      }
      const lots: Lot[] = [];
      do readLotChunk(chunks[k++] as Chunk, lots);
      while (k < chunks.length && withPrevious[k]);
      merge(lots);
      for (const piece of lotRuns(lots)) pieces.push(piece);
    }
    return lotChunks(encodePieces(pieces, LOT_PIECES));
  }

  open(): Lot[] {
    const lots: Lot[] = [];
    for (const chunk of this.chunks) readLotChunk(chunk, lots);
    return lots;
  }

  /** Decodes the chunks that hold lots expiring by `due`, and writes what is left of them by period. */
  takeDue(due: number): { gone: Lot[]; rest: LotChunks | undefined } {
    const pieces: Piece<unknown[]>[] = [];
    const gone: Lot[] = [];
    for (const chunk of this.chunks) {
      if (!(chunkEarliestExpiry(chunk) <= due)) {
        pieces.push(lotPiece(chunk));
        continue;
      }
      const left: Lot[] = [];
      for (const lot of LOT_PIECES.read(chunk) as Lot[]) (lot.exp <= due ? gone : left).push(lot);
      for (const piece of lotRuns(left)) pieces.push(piece);
    }
    return { gone, rest: pieces.length === 0 ? undefined : lotChunks(encodePieces(pieces, LOT_PIECES)) };
  }
}

/** Sealed earning records as chunks of a record. */
class EarnedChunks implements SealedEarned {
  constructor(readonly chunks: readonly Chunk[], readonly count: number, readonly earliestAt: number) {}

  open(): Record<string, EarnRecord> {
    return openEarnedChunks(this.chunks) ?? {};
  }

  /** Decodes the chunks that hold records made before `horizon` and writes what is left of them by period. */
  forgetBefore(horizon: number): EarnedChunks | undefined {
    const pieces: Piece<Record<string, unknown>>[] = [];
    for (const chunk of this.chunks) {
      if (!(chunkEarliestAt(chunk) < horizon)) {
        pieces.push(earnedPiece(chunk));
        continue;
      }
      const records = readEarnedChunk(chunk, undefined);
      const left: Record<string, EarnRecord> = {};
      for (const id in records) {
        if (!Object.hasOwn(records, id)) continue;
        const record = records[id] as EarnRecord;
        if (!(record.at < horizon)) setOwn(left, id, record);
      }
      for (const piece of earnedRuns(left)) pieces.push(piece);
    }
    return pieces.length === 0 ? undefined : earnedChunks(encodePieces(pieces, EARNED_PIECES));
  }
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
