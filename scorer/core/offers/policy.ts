/**
 * The contact policy as pure functions of event times (epoch ms), so the property tests can check the
 * very rules the engine applies. Every limit holds in any order of arrival: a decision is checked
 * against the contacts before *and* after it in event time (events may arrive out of order within the
 * allowed lateness).
 *
 * - per channel (and per customer over all channels): at most `max` contacts in any window
 *   `[s, s + period)` — a sliding window, not calendar periods;
 * - cool-down per offer: two decisions of the same offer for a customer are at least `cooldown` apart;
 * - quiet hours: no decision on a quiet channel while the bank-local clock is in `[from, to)`.
 */
import { DAY_MS } from '../types.js';
import { num } from '../invariant.js';

/**
 * True when one more contact at `t` keeps every window `[s, s + periodMs)` at `max` contacts or fewer.
 * The fullest window containing `t` can be slid right until it starts at `t` or at an existing contact,
 * so only those starts are checked.
 */
export function windowAllows(times: readonly number[], t: number, max: number, periodMs: number): boolean {
  if (max <= 0) return false;
  const near = times.filter((x) => x > t - periodMs && x < t + periodMs);
  if (near.length < max) return true;
  const starts = [t, ...near.filter((x) => x <= t)];
  for (const s of starts) {
    let n = 0;
    for (const x of near) if (x >= s && x < s + periodMs) n++;
    if (n >= max) return false;
  }
  return true;
}

/** The largest number of `times` in any window `[s, s + periodMs)` (what `windowAllows` bounds). */
export function maxInWindow(times: readonly number[], periodMs: number): number {
  const sorted = [...times].sort((a, b) => a - b);
  let best = 0;
  let j = 0;
  for (let i = 0; i < sorted.length; i++) {
    const t = num(sorted, i);
    while (t - num(sorted, j) >= periodMs) j++;
    best = Math.max(best, i - j + 1);
  }
  return best;
}

/** True when `t` is at least `cooldownMs` away from every earlier or later decision of the same offer. */
export function cooldownAllows(times: readonly number[], t: number, cooldownMs: number): boolean {
  if (cooldownMs <= 0) return true;
  return times.every((x) => Math.abs(t - x) >= cooldownMs);
}

/** Minutes since bank-local midnight, 0–1439. */
export function minuteOfDay(at: number, offsetMin: number): number {
  const local = at + offsetMin * 60_000;
  return Math.floor((((local % DAY_MS) + DAY_MS) % DAY_MS) / 60_000);
}

/** True when the bank-local clock at `at` is within `[from, to)` (minutes; wraps past midnight when from > to). */
export function inQuietHours(at: number, offsetMin: number, from: number, to: number): boolean {
  const m = minuteOfDay(at, offsetMin);
  return from < to ? m >= from && m < to : m >= from || m < to;
}
