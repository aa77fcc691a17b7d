/**
 * Non-null assertions (`x!`), as a ratchet: each folder's count in the non-test TypeScript files may not
 * rise above its ceiling in CEILINGS, today's measured count (issue 20; a folder not listed has 0). An
 * assertion hides a read that the types say may be missing; prefer a type that says what is there (a
 * tuple, a destructured guard, one `Map.get` and a check) or a checked accessor such as `num` of
 * scorer/core/invariant.ts. When a folder's count falls, lower its ceiling to the new count (the test
 * prints it). Folders with none left are held at 0 by ESLint too (`no-non-null-assertion` in eslint.config.js).
 */
import fs from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { ROOT, sourceFiles } from '../support/source-files.js';


/** Non-null assertions per folder (the directory of the file), counted on 4 December 2026. */
const CEILINGS: Readonly<Record<string, number>> = {};

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

/** folder → file → the lines of its non-null assertions. */
function assertionsByFolder(): Map<string, Map<string, number[]>> {
  const byFolder = new Map<string, Map<string, number[]>>();
  for (const file of sourceFiles()) {
    const lines = assertionLines(file, fs.readFileSync(path.join(ROOT, file), 'utf8'));
    if (lines.length === 0) continue;
    const folder = path.posix.dirname(file);
    let files = byFolder.get(folder);
    if (!files) byFolder.set(folder, (files = new Map()));
    files.set(file, lines);
  }
  return byFolder;
}

describe('non-null assertions', () => {
  const found = assertionsByFolder();

  it('are counted (each assertion on its line; the walk sees the source files)', () => {
    expect(assertionLines('x.ts', 'const a = list[0]!;\nconst b = (m.get(k)!).v! + c;\nconst d = e !== f;')).toEqual([1, 2, 2]);
    expect(sourceFiles()).toContain('scorer/core/features/engine.ts');
  });

  it('do not grow in any folder beyond its ceiling', () => {
    const over: string[] = [];
    const below: string[] = [];
    for (const folder of new Set([...found.keys(), ...Object.keys(CEILINGS)])) {
      const files = found.get(folder) ?? new Map<string, number[]>();
      const count = [...files.values()].reduce((n, lines) => n + lines.length, 0);
      const ceiling = CEILINGS[folder] ?? 0;
      if (count > ceiling) {
        const where = [...files].map(([file, lines]) => `${file}:${lines.join(',')}`).join('; ');
        over.push(`${folder}: ${count} non-null assertions, ceiling ${ceiling} (${where})`);
      } else if (count < ceiling) below.push(`'${folder}': ${count},`);
    }
    if (below.length > 0) console.info(`non-null assertions fell; lower CEILINGS in test/unit/non-null-ceilings.test.ts:\n${below.join('\n')}`);
    expect(over).toEqual([]);
  });
});
