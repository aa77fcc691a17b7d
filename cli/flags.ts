/**
 * Numbers and times given on a command line, checked: each helper returns the value or throws a
 * {@link UsageError} naming the flag, what it takes and what it got.
 */
import { UsageError } from '../config/mod.js';

/** `--name`'s integer of at least `min` (default 1), and at most `max` when given. */
export function integerFlag(name: string, raw: string, min = 1, max = Number.MAX_SAFE_INTEGER): number {
  const n = raw.trim() === '' ? Number.NaN : Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? (min === 1 ? 'a positive integer' : `an integer ≥ ${min}`) : `an integer in ${min}..${max}`;
    throw new UsageError(`--${name} must be ${range}, got "${raw}"`);
  }
  return n;
}

/** `--name`'s number in `[min, max]`; `positive`: greater than `min` as well. */
export function numberFlag(name: string, raw: string, min: number, max = Number.POSITIVE_INFINITY, positive = false): number {
  const n = raw.trim() === '' ? Number.NaN : Number(raw);
  if (Number.isNaN(n) || n < min || n > max || (positive && n === min)) {
    const what = positive ? `a number greater than ${min}` : max === Number.POSITIVE_INFINITY ? `a number ≥ ${min}` : `a number in ${min}..${max}`;
    throw new UsageError(`--${name} must be ${what}, got "${raw}"`);
  }
  return n;
}

/** `--name`'s instant (epoch ms) from an RFC 3339 time such as `2026-01-01T00:00:00Z`. */
export function timeFlag(name: string, raw: string): number {
  const t = Date.parse(raw);
  if (Number.isNaN(t)) throw new UsageError(`--${name} must be an RFC 3339 time such as 2026-01-01T00:00:00Z, got "${raw}"`);
  return t;
}

/** `--name`'s calendar day `YYYY-MM-DD` as the instant it starts (UTC). */
export function dayFlag(name: string, raw: string): Date {
  const day = /^\d{4}-\d{2}-\d{2}$/.test(raw) ? new Date(`${raw}T00:00:00Z`) : undefined;
  if (!day || Number.isNaN(day.getTime()) || day.toISOString().slice(0, 10) !== raw) throw new UsageError(`--${name} must be a day such as 2025-01-01, got "${raw}"`);
  return day;
}
