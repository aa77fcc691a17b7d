/**
 * Remembered transaction ids of one customer (de-duplication, and the original's day for a reversal):
 * plain JSON buckets by UTC event day, ascending. An id is kept as a fixed-size 72-bit hash, written as
 * 12 characters of a URL-safe base-64 alphabet, and each day's hashes are one string, so an id costs
 * 12 bytes whatever its length (JSON and msgpack alike).
 *
 * Collisions: a customer with n ids remembered has a chance of about n / 2^72 that a new id's hash is one
 * of them (n = 1,000: 2 × 10^-19 an event). A 10-million-customer bank at one event a customer a day and
 * n ≈ 400 expects one in about 3 billion years. What one would do: the new transaction is taken for a
 * duplicate and dropped (counted in `stats.duplicates`), or a reversal takes the wrong day out of the
 * features.
 *
 * Whole buckets are dropped once their day is entirely older than the horizon, so an id is remembered for
 * at least the horizon and at most a day (plus the time to the customer's next transaction) longer.
 * Lookups go through an index derived from the buckets (never stored: built after a restore, and again
 * when full, dropped days' entries included), so every operation is O(1) amortised per event. The index
 * is an open-addressing table of three 32-bit integers a hash (a key mixed from its first characters, its
 * day, its place in the day's bucket), checked against the bucket's characters: ~30 bytes a remembered id
 * where a `Map` from hash strings took ~65 and a string per hash.
 *
 * A day's hashes are kept in ascending order of the 9 bytes they stand for, so that a day's bucket has one
 * form whatever the order the ids arrived in (the state store writes them sorted by those bytes).
 *
 * Sealed: a customer the state store restores may keep its remembered ids as the record held them
 * ({@link SealedSeen}, looked up in place without decoding); `days` and `ids` then hold only the ids
 * remembered since, and the sealed ones count as one more bucket list under them. Forgetting a sealed day
 * hides it (the greatest horizon given is kept beside it), and the next commit writes it out; an
 * operation that needs the plain buckets ({@link openSeen}, the {@link MAX_SEEN_DAYS} bound) decodes them.
 */
import { DAY_MS } from './types.js';
import { i32, InvariantError, item, num } from './invariant.js';

export interface SeenIds {
  /** Layout version (3: hashed ids; 2 kept the ids themselves, converted on first touch). */
  v: 3;
  /** UTC day numbers (epoch ms / 86.4e6) with remembered ids, ascending. */
  days: number[];
  /** The hashes of each day of `days`, HASH_CHARS characters each, in ascending order of their bytes ({@link compareHashes}). */
  ids: string[];
}

/** Buckets kept at most (a bound on top of the horizon: the oldest are dropped beyond). */
export const MAX_SEEN_DAYS = 1_000;

/** Characters of one id's hash (6 bits each: 72 bits). */
export const HASH_CHARS = 12;

export function newSeenIds(): SeenIds {
  return { v: 3, days: [], ids: [] };
}

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const CODES = Array.from(ALPHABET, (ch) => ch.charCodeAt(0));
/** Character code → its 6-bit value in ALPHABET (−1 for any other code below 128). */
const VALUE = new Int8Array(128).fill(-1);
CODES.forEach((code, value) => { VALUE[code] = value; });

/**
 * The order of two hashes (HASH_CHARS characters at `a[ai]` and `b[bi]`): that of the bytes they stand
 * for, the order the state store sorts them in. Negative, 0 or positive.
 */
export function compareHashes(a: string, ai: number, b: string, bi: number): number {
  for (let i = 0; i < HASH_CHARS; i++) {
    const ca = a.charCodeAt(ai + i);
    const cb = b.charCodeAt(bi + i);
    if (ca !== cb) return (VALUE[ca] ?? -1) - (VALUE[cb] ?? -1);
  }
  return 0;
}

/** MurmurHash3 (32-bit) over UTF-16 code units, one lane of the id hash. */
function murmurLane(id: string, seed: number, c1: number, c2: number): number {
  let h = seed;
  for (let i = 0; i < id.length; i++) {
    let k = Math.imul(id.charCodeAt(i), c1);
    k = Math.imul((k << 15) | (k >>> 17), c2);
    h ^= k;
    h = Math.imul((h << 13) | (h >>> 19), 5) + 0xe6546b64;
  }
  h ^= id.length;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** The three lanes of the id hash, each MurmurHash3 with its own seed and constants. */
const laneA = (id: string): number => murmurLane(id, 0x9747b28c, 0xcc9e2d51, 0x1b873593);
const laneB = (id: string): number => murmurLane(id, 0x3c6ef372, 0x85ebca77, 0xc2b2ae3d);
const laneC = (id: string): number => murmurLane(id, 0xa54ff53a, 0x27d4eb2f, 0x165667b1);

const char = (lane: number, shift: number): number => num(CODES, (lane >>> shift) & 63);

/** The 72-bit hash of a tx id as HASH_CHARS characters: 30 bits of two lanes and 12 of a third. */
export function idHash(id: string): string {
  const a = laneA(id);
  const b = laneB(id);
  const c = laneC(id);
  return String.fromCharCode(
    char(a, 0), char(a, 6), char(a, 12), char(a, 18), char(a, 24),
    char(b, 0), char(b, 6), char(b, 12), char(b, 18), char(b, 24),
    char(c, 0), char(c, 6),
  );
}

/** Writes `idHash(id)`'s HASH_CHARS character codes into `out` from `at` (the state codec, without a string per id). */
export function writeIdHash(id: string, out: Uint8Array, at: number): void {
  const a = laneA(id);
  const b = laneB(id);
  const c = laneC(id);
  for (let i = 0; i < 5; i++) out[at + i] = char(a, i * 6);
  for (let i = 0; i < 5; i++) out[at + 5 + i] = char(b, i * 6);
  out[at + 10] = char(c, 0);
  out[at + 11] = char(c, 6);
}

/** The last ids hashed (an event looks its id up, then remembers it). */
let lastId = '';
let lastHash = '';

function hashOf(id: string): string {
  if (id !== lastId) {
    lastHash = idHash(id);
    lastId = id;
  }
  return lastHash;
}

/** Integers of a slot of {@link SeenIndex}: the key, the day, the offset in the day's bucket + 1 (0: an empty slot; a day may be any integer). */
const SLOT = 3;
/** Slots of an index at least (a power of two); at most this share of them taken (linear probing stays short). */
const MIN_SLOTS = 16;
const MAX_LOAD = 0.75;

/**
 * Derived: the remembered hashes of one bucket list object, by key (open addressing, linear probing).
 * Forgetting the oldest days leaves their entries in place: they point at days no longer among the
 * buckets, which {@link SeenIndex.dayOf} and {@link SeenIndex.moveUp} pass over like a key of another
 * hash, and count as taken until the table is full and built again from the buckets alone. Built with
 * room for as many ids again, so a customer whose oldest day goes as a new one comes builds it once in
 * about as many events as it remembers ids, not at every event.
 */
class SeenIndex {
  readonly table: Int32Array;
  readonly mask: number;
  /** Slots taken, entries of forgotten days included. */
  count = 0;
  /** The latest day forgotten since the index was built (its entries and those of earlier days are stale), or −Infinity. */
  staleThrough = -Infinity;

  constructor(ids: number) {
    let slots = MIN_SLOTS;
    while (2 * ids > slots * MAX_LOAD) slots *= 2;
    this.table = new Int32Array(slots * SLOT);
    this.mask = slots - 1;
  }

  get full(): boolean {
    return this.count + 1 > (this.mask + 1) * MAX_LOAD;
  }

  /** Adds the hash at `offset` of day `day`'s bucket, whose key is `key` (not already there). */
  add(key: number, day: number, offset: number): void {
    const t = this.table;
    let slot = spread(key) & this.mask;
    while (i32(t, slot * SLOT + 2) !== 0) slot = (slot + 1) & this.mask;
    t[slot * SLOT] = key;
    t[slot * SLOT + 1] = day;
    t[slot * SLOT + 2] = offset + 1;
    this.count++;
  }

  /** The hash of `key` at `offset` of day `day`'s bucket is now at `offset + HASH_CHARS` (one was inserted before it). */
  moveUp(key: number, day: number, offset: number): void {
    const t = this.table;
    for (let slot = spread(key) & this.mask; ; slot = (slot + 1) & this.mask) {
      const offsetPlusOne = i32(t, slot * SLOT + 2);
      if (offsetPlusOne === 0) throw new InvariantError(`a remembered id of day ${day} at ${offset} is not in the index`);
      if (offsetPlusOne === offset + 1 && i32(t, slot * SLOT) === key && i32(t, slot * SLOT + 1) === day) {
        t[slot * SLOT + 2] = offset + HASH_CHARS + 1;
        return;
      }
    }
  }

  /** The day of `hash` (whose key is `key`) among `s`'s buckets, or undefined. */
  dayOf(s: SeenIds, hash: string, key: number): number | undefined {
    const t = this.table;
    for (let slot = spread(key) & this.mask; ; slot = (slot + 1) & this.mask) {
      const offsetPlusOne = i32(t, slot * SLOT + 2);
      if (offsetPlusOne === 0) return undefined;
      if (i32(t, slot * SLOT) !== key) continue;
      const day = i32(t, slot * SLOT + 1);
      const bucket = bucketOf(s, day);
      if (bucket !== undefined && bucket.startsWith(hash, offsetPlusOne - 1)) return day;
    }
  }
}

/** A hash's key: its first six characters (36 of its 72 bits) mixed into 32. */
function keyAt(hashes: string, offset: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < 6; i++) h = Math.imul(h ^ hashes.charCodeAt(offset + i), 0x01000193);
  return h;
}

const spread = (key: number): number => key ^ (key >>> 15);

/** The bucket of `day`, or undefined (days ascend: a binary search). */
function bucketOf(s: SeenIds, day: number): string | undefined {
  let low = 0;
  let high = s.days.length - 1;
  while (low <= high) {
    const middle = (low + high) >>> 1;
    const d = num(s.days, middle);
    if (d === day) return item(s.ids, middle);
    if (d < day) low = middle + 1;
    else high = middle - 1;
  }
  return undefined;
}

const indexes = new WeakMap<SeenIds, SeenIndex>();

function indexOf(s: SeenIds, room = 0): SeenIndex {
  let index = indexes.get(s);
  if (!index || (room > 0 && index.full)) {
    let ids = room;
    for (const bucket of s.ids) ids += bucket.length / HASH_CHARS;
    const built = new SeenIndex(ids);
    s.days.forEach((day, i) => {
      const bucket = item(s.ids, i);
      for (let o = 0; o + HASH_CHARS <= bucket.length; o += HASH_CHARS) built.add(keyAt(bucket, o), day, o);
    });
    indexes.set(s, built);
    index = built;
  }
  return index;
}

type OlderSeen = { v: 2; days: number[]; ids: string[][] } | Record<string, number>;

/**
 * The customer's remembered ids in this layout; a state of an older layout (v2: the ids themselves by
 * day; before it `id → event ms`, with the day of its last pruning under a key with a space) is converted
 * once, each id hashed.
 */
export function seenIds(holder: { seen: SeenIds }): SeenIds {
  const s = holder.seen as SeenIds | OlderSeen;
  if (s.v === 3 && Array.isArray(s.days)) return s as SeenIds;
  const next = newSeenIds();
  if (s.v === 2 && Array.isArray(s.days)) {
    const older = s as { days: number[]; ids: string[][] };
    older.days.forEach((day, i) => { for (const id of older.ids[i] ?? []) remember(next, id, day * DAY_MS); });
  } else {
    for (const [id, at] of Object.entries(s as Record<string, number>)) if (!id.includes(' ') && typeof at === 'number') remember(next, id, at);
  }
  holder.seen = next;
  return next;
}

/** UTC day the id was seen on, or undefined when it is not remembered. */
export function seenDay(s: SeenIds, id: string): number | undefined {
  const hash = hashOf(id);
  return plainDay(s, hash, keyAt(hash, 0)) ?? sealedDay(s, hash);
}

function plainDay(s: SeenIds, hash: string, key: number): number | undefined {
  return s.days.length === 0 ? undefined : indexOf(s).dayOf(s, hash, key);
}

/** Remembers `id` as seen at event time `at` (no-op when already remembered). */
export function remember(s: SeenIds, id: string, at: number): void {
  rememberFirst(s, id, at);
}

/**
 * The UTC day `id` was seen on when it is remembered already (nothing changes), or undefined once it is
 * remembered as seen at event time `at`: the duplicate check and the remembering in one look-up.
 */
export function rememberFirst(s: SeenIds, id: string, at: number): number | undefined {
  const hash = hashOf(id);
  const key = keyAt(hash, 0);
  const known = plainDay(s, hash, key) ?? sealedDay(s, hash);
  if (known !== undefined) return known;
  const day = Math.floor(at / DAY_MS);
  // A new bucket of a day forgotten before (a late id) would meet that day's stale entries: build anew.
  if ((indexes.get(s)?.staleThrough ?? -Infinity) >= day) indexes.delete(s);
  const index = indexOf(s, 1);
  let i = s.days.length - 1;
  while (i >= 0 && num(s.days, i) > day) i--;
  if (i < 0 || s.days[i] !== day) {
    s.days.splice(i + 1, 0, day);
    s.ids.splice(i + 1, 0, hash);
    index.add(key, day, 0);
    return undefined;
  }
  const bucket = item(s.ids, i);
  let offset = 0;
  while (offset < bucket.length && compareHashes(bucket, offset, hash, 0) < 0) offset += HASH_CHARS;
  for (let o = bucket.length - HASH_CHARS; o >= offset; o -= HASH_CHARS) index.moveUp(keyAt(bucket, o), day, o);
  s.ids[i] = offset === bucket.length ? bucket + hash : bucket.slice(0, offset) + hash + bucket.slice(offset);
  index.add(key, day, offset);
  return undefined;
}

/** Drops every bucket whose day ends at or before `horizon` (event ms), and the oldest beyond MAX_SEEN_DAYS. */
export function forgetBefore(s: SeenIds, horizon: number): void {
  const sealing = sealings.get(s);
  if (sealing !== undefined) {
    if (horizon > sealing.forgotten) sealing.forgotten = horizon;
    const first = firstCountingDay(sealing.forgotten);
    const { sealed } = sealing;
    if (sealed.lastDay < first) sealings.delete(s);
    else if (Math.min(sealed.count, sealed.lastDay - Math.max(sealed.firstDay, first) + 1) + s.days.length > MAX_SEEN_DAYS) openSeen(s); // the bound may apply: exactly as on plain buckets
  }
  let n = 0;
  while (n < s.days.length && (forgottenDay(num(s.days, n), horizon) || s.days.length - n > MAX_SEEN_DAYS)) n++;
  if (n === 0) return;
  const index = indexes.get(s);
  if (index) index.staleThrough = Math.max(index.staleThrough, num(s.days, n - 1));
  s.days.splice(0, n);
  s.ids.splice(0, n);
}

/** The earliest day with an id remembered (sealed or not), or undefined when none is. */
export function oldestSeenDay(s: SeenIds): number | undefined {
  const plain = s.days[0];
  const sealing = sealings.get(s);
  if (sealing === undefined) return plain;
  const first = firstCountingDay(sealing.forgotten);
  const sealed = sealing.sealed.firstDay >= first ? sealing.sealed.firstDay : sealing.sealed.earliestDayFrom(first);
  return sealed === undefined || (plain !== undefined && plain < sealed) ? plain : sealed;
}

// ---------------------------------------------------------------------------------------------------
// Sealed
// ---------------------------------------------------------------------------------------------------

/**
 * Remembered ids the state store keeps as it read them (scorer/runtime/store/seen-section.ts): looked up
 * in place, decoded only by {@link SealedSeen.open}. What it holds is fixed; which of its days still count
 * is kept beside it (see {@link sealedSeen}).
 */
export interface SealedSeen {
  /** The ids held (at least one). */
  readonly count: number;
  /** The earliest and the latest day held. */
  readonly firstDay: number;
  readonly lastDay: number;
  /** The day `hash` (HASH_CHARS characters) is held under, or undefined. */
  dayOf(hash: string): number | undefined;
  /** The earliest day held that is `day` or later, or undefined. */
  earliestDayFrom(day: number): number | undefined;
  /** Every id held as buckets: days ascending, each day's hashes in ascending order of their bytes. */
  open(): { days: number[]; ids: string[] };
}

/** A sealed part, with the greatest horizon forgetBefore was given since (its days ending at or before it no longer count). */
export interface Sealing {
  readonly sealed: SealedSeen;
  forgotten: number;
}

const sealings = new WeakMap<SeenIds, Sealing>();

/**
 * Keeps `sealed` (none: nothing) as every id of `s`, whose `days` and `ids` are emptied: the state store,
 * after writing them all as `sealed`, or restoring them. Its ids on days that end at or before `forgotten`
 * (event ms; default none) no longer count; every other one counts now (a plain bucket of a late id, added
 * since, counts until the next horizon that reaches it, as it would have unsealed). The store puts the
 * buckets remembered since it wrote `sealed` back in `days` and `ids` after this.
 */
export function sealSeen(s: SeenIds, sealed: SealedSeen | undefined, forgotten = -Infinity): void {
  s.days = [];
  s.ids = [];
  indexes.delete(s);
  if (sealed === undefined) sealings.delete(s);
  else sealings.set(s, { sealed, forgotten });
}

/** The sealed part of `s`, if any. */
export function sealedSeen(s: SeenIds): Readonly<Sealing> | undefined {
  return sealings.get(s);
}

/** Whether an id remembered on `day` no longer counts once forgetBefore was given `horizon` (event ms). */
export function forgottenDay(day: number, horizon: number): boolean {
  return (day + 1) * DAY_MS <= horizon;
}

/** The earliest day whose ids still count once forgetBefore was given `horizon` (−Infinity: every day). */
export function firstCountingDay(horizon: number): number {
  if (horizon === -Infinity) return -Infinity;
  let day = Math.floor(horizon / DAY_MS);
  while (forgottenDay(day, horizon)) day++;
  while (!forgottenDay(day - 1, horizon)) day--;
  return day;
}

/**
 * `s`'s buckets with the sealed ids that still count among them (each day's hashes merged in their order),
 * as a new value; `s` is left as it is.
 */
export function openedSeen(s: SeenIds): SeenIds {
  const sealing = sealings.get(s);
  if (sealing === undefined) return { v: 3, days: [...s.days], ids: [...s.ids] };
  const sealed = sealing.sealed.open();
  const first = firstCountingDay(sealing.forgotten);
  const days: number[] = [];
  const ids: string[] = [];
  let i = 0;
  let p = 0;
  while (i < sealed.days.length || p < s.days.length) {
    const sealedDay = sealed.days[i] ?? Infinity;
    const plainDay = s.days[p] ?? Infinity;
    if (sealedDay < plainDay) {
      if (sealedDay >= first) {
        days.push(sealedDay);
        ids.push(item(sealed.ids, i));
      }
      i++;
    } else if (plainDay < sealedDay) {
      days.push(plainDay);
      ids.push(item(s.ids, p++));
    } else {
      days.push(plainDay);
      ids.push(sealedDay < first ? item(s.ids, p) : mergedBucket(item(sealed.ids, i), item(s.ids, p)));
      i++;
      p++;
    }
  }
  return { v: 3, days, ids };
}

/** Decodes `s`'s sealed part, if any, into its buckets (see {@link openedSeen}). */
export function openSeen(s: SeenIds): void {
  if (!sealings.has(s)) return;
  const opened = openedSeen(s);
  sealings.delete(s);
  indexes.delete(s);
  s.days = opened.days;
  s.ids = opened.ids;
}

/** Two buckets of one day as one: their hashes merged in ascending order of their bytes. */
export function mergedBucket(a: string, b: string): string {
  let merged = '';
  let i = 0;
  let k = 0;
  while (i < a.length && k < b.length) {
    if (compareHashes(a, i, b, k) <= 0) {
      merged += a.slice(i, i + HASH_CHARS);
      i += HASH_CHARS;
    } else {
      merged += b.slice(k, k + HASH_CHARS);
      k += HASH_CHARS;
    }
  }
  return merged + a.slice(i) + b.slice(k);
}

function sealedDay(s: SeenIds, hash: string): number | undefined {
  const sealing = sealings.get(s);
  if (sealing === undefined) return undefined;
  const day = sealing.sealed.dayOf(hash);
  return day === undefined || forgottenDay(day, sealing.forgotten) ? undefined : day;
}
