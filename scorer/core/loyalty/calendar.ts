/**
 * Bank-local calendar arithmetic on event time. The bank's time zone is a fixed UTC offset from the rules
 * file (e.g. +03:30 for Tehran): days, weeks, months, time of day and day of week are pure integer
 * arithmetic on epoch milliseconds, never the host's time zone and never the wall clock.
 * Months are Gregorian calendar months in bank-local time (the Solar Hijri calendar is not modelled).
 */
import { DAY_MS } from '../types.js';

const MIN_MS = 60_000;

/** Bank-local day number: days since 1970-01-01 in bank-local time. */
export function bankDay(at: number, offsetMin: number): number {
  return Math.floor((at + offsetMin * MIN_MS) / DAY_MS);
}

/** The instant (epoch ms) at which bank-local day `day` starts. */
export function dayStart(day: number, offsetMin: number): number {
  return day * DAY_MS - offsetMin * MIN_MS;
}

/** Day of week of a bank-local day number (1970-01-01 was a Thursday). 0 = Sunday. */
export function dayOfWeek(day: number): number {
  return (((day + 4) % 7) + 7) % 7;
}

/** Minutes since bank-local midnight, 0–1439. */
export function minuteOfDay(at: number, offsetMin: number): number {
  const local = at + offsetMin * MIN_MS;
  return Math.floor((((local % DAY_MS) + DAY_MS) % DAY_MS) / MIN_MS);
}

/** Bank-local week number; weeks start on `weekStart` (0 = Sunday … 6 = Saturday). */
export function bankWeek(day: number, weekStart: number): number {
  return Math.floor((day - ((weekStart - 4 + 7) % 7)) / 7);
}

/** Bank-local month number: year × 12 + month (0-based). */
export function bankMonth(at: number, offsetMin: number): number {
  const d = new Date(at + offsetMin * MIN_MS);
  return d.getUTCFullYear() * 12 + d.getUTCMonth();
}

/** The instant at which bank-local month `month` starts (00:00 on the 1st, bank time). */
export function monthStart(month: number, offsetMin: number): number {
  return Date.UTC(Math.floor(month / 12), ((month % 12) + 12) % 12, 1) - offsetMin * MIN_MS;
}

/** Day number of a calendar date `YYYY-MM-DD` (a bank-local date, e.g. a bill's due date). */
export function dateDay(date: string): number {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(date);
  if (!m) throw new Error(`not a date: ${date}`);
  return Math.floor(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])) / DAY_MS);
}
