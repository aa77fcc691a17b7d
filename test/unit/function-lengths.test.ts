/**
 * Function lengths, as a ratchet: no function, method or arrow function outside test/ is longer than
 * LIMIT lines (first line to last, measured with the compiler API by test/support/function-lengths.ts),
 * except the ones in STILL_LONG, each at most at its listed length. A listed function that grows fails
 * (split it); one that shrinks or is gone fails too, until its entry is lowered or removed, so the list
 * only shrinks. `npx tsx test/support/function-lengths.ts [limit]` prints the long ones.
 */
import { describe, expect, it } from 'vitest';
import { functionLengths, functionLengthsOf } from '../support/function-lengths.js';

/** The longest a function may be, in lines, unless STILL_LONG lists it. */
const LIMIT = 80;

/** [file, name, lines]: functions allowed over LIMIT; none since issue 20 split the last of them (keep it so). */
const STILL_LONG: readonly (readonly [string, string, number])[] = [];

describe('function lengths', () => {
  const all = functionLengths();
  const listed = new Map(STILL_LONG.map(([file, name, lines]) => [`${file} ${name}`, lines]));

  it(`keeps every function not listed in STILL_LONG within ${LIMIT} lines`, () => {
    const over = all.filter((f) => f.lines > LIMIT && !listed.has(`${f.file} ${f.name}`));
    expect(over.map((f) => `${f.file}:${f.line} ${f.name}: ${f.lines} lines (limit ${LIMIT}): split it into functions that each do one thing`)).toEqual([]);
  });

  it('lets no function of STILL_LONG grow', () => {
    const grown = all.filter((f) => (listed.get(`${f.file} ${f.name}`) ?? Infinity) < f.lines);
    expect(grown.map((f) => `${f.file}:${f.line} ${f.name}: ${f.lines} lines, listed at ${listed.get(`${f.file} ${f.name}`)}: split it`)).toEqual([]);
  });

  it('lists each long function at its length, and no other (the list only shrinks)', () => {
    const byKey = new Map(all.map((f) => [`${f.file} ${f.name}`, f]));
    const stale = STILL_LONG.flatMap(([file, name, lines]) => {
      const f = byKey.get(`${file} ${name}`);
      if (!f) return [`${file} ${name}: gone: remove its entry from STILL_LONG`];
      if (f.lines <= LIMIT) return [`${file} ${name}: ${f.lines} lines, within the limit: remove its entry from STILL_LONG`];
      if (f.lines < lines) return [`${file} ${name}: ${f.lines} lines, listed at ${lines}: lower its entry to ${f.lines}`];
      return [];
    });
    expect(stale).toEqual([]);
  });

  it('measures functions, methods and arrow functions by name, nested ones inside their parent', () => {
    const text = [
      'export function outer(): number {', //   1
      '  const inner = (x: number): number => {', // 2
      '    return x + 1;',
      '  };', //                                  4
      '  return [1].map((x) => inner(x))[0]!;', // 5
      '}', //                                     6
      'class Box {',
      '  get size(): number {', //                8
      '    return 1;',
      '  }', //                                  10
      '  open(): void {}', //                    11
      '}',
      'const f = function (): void {};', //      13
      'const g = (): void => {};', //            14
      'const h = (): void => {};', //            15
    ].join('\n');
    expect(functionLengthsOf('x.ts', text).map((f) => [f.name, f.line, f.lines])).toEqual([
      ['outer', 1, 6],
      ['outer/inner', 2, 3],
      ['outer/(arrow in map)', 5, 1],
      ['Box.get size', 8, 3],
      ['Box.open', 11, 1],
      ['f', 13, 1],
      ['g', 14, 1],
      ['h', 15, 1],
    ]);
  });
});
