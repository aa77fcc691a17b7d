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
 * Lookups go through an index derived from the buckets (never stored: rebuilt after a restore), so every
 * operation is O(1) amortised per event.
 */
import { DAY_MS } from './types.js';
import { item, num } from './invariant.js';

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

/** Derived: hash → day, per bucket list object (a restored state gets a fresh one). */
const indexes = new WeakMap<SeenIds, Map<string, number>>();

function indexOf(s: SeenIds): Map<string, number> {
  let index = indexes.get(s);
  if (!index) {
    index = new Map();
    const built = index;
    s.days.forEach((day, i) => forEachHash(item(s.ids, i), (hash) => built.set(hash, day)));
    indexes.set(s, built);
  }
  return index;
}

function forEachHash(bucket: string, visit: (hash: string) => void): void {
  for (let o = 0; o + HASH_CHARS <= bucket.length; o += HASH_CHARS) visit(bucket.slice(o, o + HASH_CHARS));
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
  return indexOf(s).get(hashOf(id));
}

/** Remembers `id` as seen at event time `at` (no-op when already remembered). */
export function remember(s: SeenIds, id: string, at: number): void {
  const index = indexOf(s);
  const hash = hashOf(id);
  if (index.has(hash)) return;
  const day = Math.floor(at / DAY_MS);
  let i = s.days.length - 1;
  while (i >= 0 && num(s.days, i) > day) i--;
  if (i >= 0 && s.days[i] === day) s.ids[i] += hash;
  else {
    s.days.splice(i + 1, 0, day);
    s.ids.splice(i + 1, 0, hash);
  }
  index.set(hash, day);
}

/** Drops every bucket whose day ends at or before `horizon` (event ms), and the oldest beyond MAX_SEEN_DAYS. */
export function forgetBefore(s: SeenIds, horizon: number): void {
  let n = 0;
  while (n < s.days.length && ((num(s.days, n) + 1) * DAY_MS <= horizon || s.days.length - n > MAX_SEEN_DAYS)) n++;
  if (n === 0) return;
  const index = indexOf(s);
  for (let i = 0; i < n; i++) forEachHash(item(s.ids, i), (hash) => index.delete(hash));
  s.days.splice(0, n);
  s.ids.splice(0, n);
}
