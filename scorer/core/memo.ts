/**
 * Bounded memos of pure parses of the strings events and profiles carry (a customer's opening and birth
 * dates come back on every one of their events). Derived, never state: a cache gives the same result
 * as the parse it remembers.
 */
import { DAY_MS } from './types.js';

/** A bounded memo of a pure parse: cleared whole when it reaches `limit` entries. */
export class ParseCache<T, K extends string | number = string> {
  private readonly map = new Map<K, T>();
  constructor(private readonly parse: (s: K) => T, private readonly limit = 8192) {}

  get(s: K): T {
    let v = this.map.get(s);
    if (v === undefined) {
      if (this.map.size >= this.limit) this.map.clear();
      v = this.parse(s);
      this.map.set(s, v);
    }
    return v;
  }
}

const dates = new ParseCache<number>((s) => Date.parse(s));

/** `Date.parse(s)`, remembered. */
export function parsedDate(s: string): number {
  return dates.get(s);
}

const ymds = new ParseCache<readonly [number, number, number] | null>((s) => {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : null;
});

/** Year, month and day of a `YYYY-MM-DD` text (a birth date), or null for any other text; remembered. */
export function parsedYmd(s: string): readonly [number, number, number] | null {
  return ymds.get(s);
}

/** The largest time a Date holds (ECMA-262 time values: ±8.64e15 ms). */
const MAX_TIME = 8.64e15;
/** The UTC calendar date of the last day asked for (events come in time order: the day rarely changes). */
const lastDay = { day: Number.NaN, year: 0, month: 0, date: 0 };

/**
 * The UTC year, month (1–12) and day of the month of instant `ms`, remembered for its day. The result is
 * scratch, overwritten by the next call: read it at once.
 */
export function utcDate(ms: number): { readonly year: number; readonly month: number; readonly date: number } {
  const day = Math.abs(ms) < MAX_TIME ? Math.floor(ms / DAY_MS) : Number.NaN;
  if (day !== lastDay.day) {
    const d = new Date(ms);
    lastDay.day = day;
    lastDay.year = d.getUTCFullYear();
    lastDay.month = d.getUTCMonth() + 1;
    lastDay.date = d.getUTCDate();
  }
  return lastDay;
}
