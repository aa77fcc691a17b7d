// isRealDate reads a date by hand; it must answer as the RFC 3339 pattern and range checks it replaced.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { daysInMonth, isRealDate } from '../../contracts/events.js';

const PATTERN = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(?:Z|[+-](\d{2}):(\d{2})))?$/;

/** The pattern-based reading isRealDate had before. */
function byPattern(s: string): boolean {
  const m = PATTERN.exec(s);
  if (!m) return false;
  const year = Number(m[1]);
  const month = Number(m[2]);
  const day = Number(m[3]);
  if (month < 1 || month > 12 || day < 1) return false;
  return day <= daysInMonth(year, month) && Number(m[4] ?? '0') <= 23 && Number(m[5] ?? '0') <= 59 && Number(m[6] ?? '0') <= 60
    && Number(m[7] ?? '0') <= 23 && Number(m[8] ?? '0') <= 59;
}

/** Characters a date is made of, and a few it must refuse in their places. */
const piece = fc.constantFrom('0', '1', '2', '3', '5', '9', '-', ':', 'T', 't', 'Z', 'z', '.', '+', ' ', '\n', '٣', 'a', '');

/** Text near a date: a real-looking one with one place changed, cut or lengthened. */
const nearDate = fc.tuple(
  fc.integer({ min: 0, max: 9999 }), fc.integer({ min: 0, max: 19 }), fc.integer({ min: 0, max: 39 }),
  fc.integer({ min: 0, max: 29 }), fc.integer({ min: 0, max: 69 }), fc.integer({ min: 0, max: 69 }),
  fc.constantFrom('', '.5', '.123456789', '.', 'x'), fc.constantFrom('Z', '+03:30', '-00:00', '+24:00', '-12:60', '+0330', 'Z ', ''),
  fc.boolean(), fc.integer({ min: 0, max: 30 }), piece,
).map(([y, mo, d, h, mi, se, fraction, zone, dateOnly, at, change]) => {
  const two = (n: number): string => String(n).padStart(2, '0');
  const text = `${String(y).padStart(4, '0')}-${two(mo)}-${two(d)}` + (dateOnly ? '' : `T${two(h)}:${two(mi)}:${two(se)}${fraction}${zone}`);
  return at >= text.length ? text + change : text.slice(0, at) + change + text.slice(at + 1);
});

describe('isRealDate', () => {
  it('answers as the pattern on text near a date', () => {
    fc.assert(fc.property(nearDate, (s) => isRealDate(s) === byPattern(s)), { numRuns: 200_000, seed: 7 });
  });

  it('answers as the pattern on any short text of date characters', () => {
    fc.assert(fc.property(fc.array(piece, { maxLength: 32 }).map((p) => p.join('')), (s) => isRealDate(s) === byPattern(s)), { numRuns: 50_000, seed: 8 });
  });

  it('takes real instants and refuses impossible ones', () => {
    for (const s of ['2024-02-29', '2025-12-31T23:59:60Z', '2026-01-01T00:00:00.000+03:30', '0000-01-01T00:00:00-23:59']) expect(isRealDate(s)).toBe(true);
    for (const s of ['2025-02-29', '2025-04-31T00:00:00Z', '2025-01-01T24:00:00Z', '2025-01-01T00:00:00+03:60', '2025-01-01T00:00:00.Z', '2025-01-01T00:00:00', '2025-1-01', '']) {
      expect(isRealDate(s)).toBe(false);
    }
  });
});
