// iso() formats without a Date for 1970–9999 and must equal Date.prototype.toISOString everywhere.
import { describe, expect, it } from 'vitest';
import { formatIso } from '../../scorer/core/types.js';

describe('formatIso', () => {
  it('equals toISOString on random instants, leap days and the edges of the fast range', () => {
    let seed = 11;
    const next = (): number => (seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648) / 2_147_483_648;
    const end = 253_402_300_800_000;
    const instants = [0, -1, end - 1, end, 951_782_400_000, 951_868_799_999, 1.5, -8.64e15, 8.64e15, 4_107_542_399_999];
    for (let i = 0; i < 200_000; i++) instants.push(Math.floor(next() * end * 1.01), Math.floor(1.7e12 + next() * 1e11));
    for (const ms of instants) expect(formatIso(ms)).toBe(new Date(ms).toISOString());
  });
});
