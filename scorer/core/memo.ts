/**
 * Bounded memos of pure parses of the strings events and profiles carry (a customer's opening and birth
 * dates come back on every one of their events). Derived, never state: a cache gives the same result
 * as the parse it remembers.
 */

/** A bounded memo of a pure parse: cleared whole when it reaches `limit` entries. */
export class ParseCache<T> {
  private readonly map = new Map<string, T>();
  constructor(private readonly parse: (s: string) => T, private readonly limit = 8192) {}

  get(s: string): T {
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
