/**
 * The loyalty book (scorer/core/loyalty/book.ts) is the one reader and writer of a customer's lots and
 * earning records: a customer the state store restores keeps them sealed (left encoded) until the book
 * needs them, so `lots` and `earned` hold only part of them and any other reader would see too little.
 * This scans every source file outside test/ for a read of either property: only the book and the store's
 * codec, which writes the sealed parts back, may have one.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '../..');
const ALLOWED = new Set(['scorer/core/loyalty/book.ts', 'scorer/runtime/store/codec.ts', 'scorer/runtime/store/sealed.ts']);
const SKIPPED = new Set(['node_modules', 'test', '.git', '.scratch', 'dist', 'coverage']);
const ACCESS = /\.(?:lots|earned)\b|\[\s*['"`](?:lots|earned)['"`]\s*\]/g;

function sources(dir: string, out: string[] = []): string[] {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (SKIPPED.has(entry.name)) continue;
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) sources(full, out);
    else if (/\.(?:ts|mts|js|mjs)$/.test(entry.name) && !entry.name.endsWith('.d.ts')) out.push(path.relative(ROOT, full));
  }
  return out;
}

/** `file:line text` of every read of `lots` or `earned` in `file`, comments left out. */
function accesses(file: string): string[] {
  const found: string[] = [];
  readFileSync(path.join(ROOT, file), 'utf8').split('\n').forEach((line, i) => {
    const code = line.replace(/\/\/.*$/, '');
    if (/^\s*\*/.test(code)) return;
    if (ACCESS.test(code)) found.push(`${file}:${i + 1} ${line.trim()}`);
    ACCESS.lastIndex = 0;
  });
  return found;
}

describe('the lots and earning records', () => {
  it('are read only by the loyalty book and the store codec', () => {
    const files = sources(ROOT);
    expect(files).toContain('scorer/core/loyalty/engine.ts');
    const outside = files.filter((f) => !ALLOWED.has(f)).flatMap(accesses);
    expect(outside).toEqual([]);
    expect(accesses('scorer/core/loyalty/book.ts').length, 'the scan finds the book\'s own reads').toBeGreaterThan(10);
  });
});
