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
 * Lookups go through an index derived from the buckets (never stored: rebuilt after a restore, and after
 * buckets are dropped), so every operation is O(1) amortised per event. The index is an open-addressing
 * table of three 32-bit integers a hash (a key mixed from its first characters, its day, its place in the
 * day's bucket), checked against the bucket's characters: ~30 bytes a remembered id where a `Map` from
 * hash strings took ~65 and a string per hash.
 */
import { DAY_MS } from './types.js';
import { i32, item, num } from './invariant.js';

export interface SeenIds {
  /** Layout version (3: hashed ids; 2 kept the ids themselves, converted on first touch). */
  v: 3;
  /** UTC day numbers (epoch ms / 86.4e6) with remembered ids, ascending. */
  days: number[];
  /** The hashes of each day of `days`, in arrival order, HASH_CHARS characters each. */
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

/** Derived: the remembered hashes of one bucket list object, by key (open addressing, linear probing). */
class SeenIndex {
  readonly table: Int32Array;
  readonly mask: number;
  count = 0;

  constructor(ids: number) {
    let slots = MIN_SLOTS;
    while (ids > slots * MAX_LOAD) slots *= 2;
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
  return indexOf(s).dayOf(s, hash, keyAt(hash, 0));
}

/** Remembers `id` as seen at event time `at` (no-op when already remembered). */
export function remember(s: SeenIds, id: string, at: number): void {
  const hash = hashOf(id);
  const key = keyAt(hash, 0);
  const index = indexOf(s, 1);
  if (index.dayOf(s, hash, key) !== undefined) return;
  const day = Math.floor(at / DAY_MS);
  let i = s.days.length - 1;
  while (i >= 0 && num(s.days, i) > day) i--;
  let offset = 0;
  if (i >= 0 && s.days[i] === day) {
    offset = item(s.ids, i).length;
    s.ids[i] += hash;
  } else {
    s.days.splice(i + 1, 0, day);
    s.ids.splice(i + 1, 0, hash);
  }
  index.add(key, day, offset);
}

/** Drops every bucket whose day ends at or before `horizon` (event ms), and the oldest beyond MAX_SEEN_DAYS. */
export function forgetBefore(s: SeenIds, horizon: number): void {
  let n = 0;
  while (n < s.days.length && ((num(s.days, n) + 1) * DAY_MS <= horizon || s.days.length - n > MAX_SEEN_DAYS)) n++;
  if (n === 0) return;
  indexes.delete(s); // built again without them when next needed
  s.days.splice(0, n);
  s.ids.splice(0, n);
}
