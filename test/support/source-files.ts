/** The repository's non-test TypeScript files, for the tests that read the code itself (folder cycles, non-null assertions). */
import fs from 'node:fs';
import path from 'node:path';

/** The repository root. */
export const ROOT = path.resolve(import.meta.dirname, '../..');
const SKIP = new Set(['node_modules', 'data', 'test', '.git', 'docs']);

/** Every `.ts` file (not `.d.ts`) below `dir`, relative to ROOT, outside test/, docs/, data/, vendor/ and node_modules/. */
export function sourceFiles(dir = ''): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true })) {
    const rel = dir ? `${dir}/${e.name}` : e.name;
    if (e.isDirectory()) {
      if (!SKIP.has(rel) && !e.name.startsWith('.') && e.name !== 'node_modules' && e.name !== 'vendor') out.push(...sourceFiles(rel));
    } else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(rel);
  }
  return out;
}
