// The checked reads of scorer/core/invariant.ts: the value when the layout holds, InvariantError naming
// what is missing when it does not (never `undefined` carried on as a value).
import { describe, expect, it } from 'vitest';
import { InvariantError, item, num, ownValue } from '../../scorer/core/invariant.js';

describe('checked reads', () => {
  it('num reads a number list or a typed array, and names the index and length it missed', () => {
    expect(num([3, 0, -1], 1)).toBe(0);
    expect(num(Uint32Array.of(7, 9), 1)).toBe(9);
    expect(() => num([1, 2], 2)).toThrow(InvariantError);
    expect(() => num(new Float64Array(4), -1)).toThrow('no number at index -1 of a list of 4');
  });

  it('item reads an element that is there, falsy ones included', () => {
    expect(item(['', 'a'], 0)).toBe('');
    expect(item([false], 0)).toBe(false);
    expect(() => item([{ at: 1 }], 1)).toThrow('no element at index 1 of a list of 1');
  });

  it('ownValue reads a key the record holds and names the key it does not', () => {
    const record: Record<string, number> = { a: 0, b: 2 };
    expect(ownValue(record, 'a')).toBe(0);
    expect(() => ownValue(record, 'c')).toThrow('no value under "c"');
    expect(() => ownValue(record, 'c')).toThrow(InvariantError);
  });
});
