/**
 * The policy files' calendar notation: a UTC offset (`+03:30`), a time of day (`HH:MM`), a day of the
 * week (`sat`), and the length of a day. Pure parsing; the bank-calendar arithmetic on event time is
 * `scorer/core/loyalty/calendar.ts`.
 */

/** Milliseconds in a day: the policy files' durations are in days. */
export const DAY_MS = 86_400_000;

/** 0 = Sunday … 6 = Saturday. */
export const DOW_NAMES = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;
export type DowName = (typeof DOW_NAMES)[number];

export function dowIndex(name: DowName): number {
  return DOW_NAMES.indexOf(name);
}

/** `+03:30` → 210 (minutes east of UTC). */
export function parseOffset(s: string): number {
  const m = /^([+-])(\d{2}):(\d{2})$/.exec(s);
  if (!m) throw new Error(`not a UTC offset: ${s}`);
  const v = Number(m[2]) * 60 + Number(m[3]);
  return m[1] === '-' ? -v : v;
}

/** `HH:MM` → minutes since midnight (`24:00` → 1440). */
export function parseClock(s: string): number {
  const m = /^(\d{2}):(\d{2})$/.exec(s);
  if (!m) throw new Error(`not a time of day: ${s}`);
  return Number(m[1]) * 60 + Number(m[2]);
}
