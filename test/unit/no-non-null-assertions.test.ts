/**
 * No non-null assertion (`x!`) in the TypeScript outside test/ (issue 20 took the last of 893 out). An
 * assertion hides a read that the types say may be missing; say what is there instead: a tuple, a
 * destructured guard, one `Map.get` and a check that names what is missing, or a checked read of
 * scorer/core/invariant.ts (`num`, `item`, `ownValue`, the typed-array reads), which throws InvariantError
 * rather than carry `undefined` on. ESLint (`no-non-null-assertion` in eslint.config.js) says the same
 * where it is written; this test counts with the compiler over every source file the repository has.
 */
import fs from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { ROOT, sourceFiles } from '../support/source-files.js';

/** The lines of the non-null assertions in a TypeScript text. */
function assertionLines(file: string, text: string): number[] {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const lines: number[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isNonNullExpression(node)) lines.push(source.getLineAndCharacterOfPosition(node.getEnd()).line + 1);
    ts.forEachChild(node, visit);
  };
  visit(source);
  return lines;
}

describe('non-null assertions', () => {
  it('are counted (each assertion on its line; the walk sees the source files)', () => {
    expect(assertionLines('x.ts', 'const a = list[0]!;\nconst b = (m.get(k)!).v! + c;\nconst d = e !== f;')).toEqual([1, 2, 2]);
    expect(sourceFiles()).toContain('scorer/core/features/engine.ts');
    expect(sourceFiles().some((f) => f.startsWith('test/'))).toBe(false);
  });

  it('are none outside test/', () => {
    const found = sourceFiles().flatMap((file) => {
      const lines = assertionLines(file, fs.readFileSync(path.join(ROOT, file), 'utf8'));
      return lines.length > 0 ? [`${file}:${lines.join(',')}`] : [];
    });
    expect(found).toEqual([]);
  });
});
