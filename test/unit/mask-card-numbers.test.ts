import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { luhnValid, maskCardNumbers } from '../../ingest/tokenize.js';

const text = (b: Uint8Array): string => Buffer.from(b).toString('utf8');
const bytes = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'utf8'));

describe('maskCardNumbers (what the scorer sends to DLQ)', () => {
  it('masks a Luhn-valid card number, bare, spaced or dashed, and keeps everything around it', () => {
    expect(text(maskCardNumbers(bytes('x4111111111111111 {not json')))).toBe('x**************** {not json');
    expect(text(maskCardNumbers(bytes('{"note":"card 4111 1111 1111 1111, café"}')))).toBe('{"note":"card **** **** **** ****, café"}');
    expect(text(maskCardNumbers(bytes('pan=5500-0000-0000-0004;')))).toBe('pan=****-****-****-****;');
  });

  it('leaves numbers that are not card numbers as they are, and returns the same bytes when nothing is masked', () => {
    const plain = bytes('{"amount_minor":1500000,"occurred_at":"2026-12-05T03:00:00Z","stan":"123456","n":4111111111111112}');
    expect(maskCardNumbers(plain)).toBe(plain);
    const longer = bytes('41111111111111110000 is 20 digits');
    expect(maskCardNumbers(longer)).toBe(longer);
  });

  it('never leaves a Luhn-valid 13–19 digit card number in what it returns, whatever surrounds it', () => {
    const pan = fc.string({ unit: fc.constantFrom(...'0123456789'), minLength: 12, maxLength: 18 })
      .map((body) => body + String([...'0123456789'].find((d) => luhnValid(body + d))));
    const around = fc.string({ maxLength: 20 }).map((s) => s.replace(/\d/g, 'x'));
    fc.assert(fc.property(around, pan, around, (before, card, after) => {
      const out = text(maskCardNumbers(bytes(before + card + after)));
      expect(out).not.toContain(card);
      expect(out).toBe(before + '*'.repeat(card.length) + after);
    }), { numRuns: 500 });
  });
});
