/**
 * The docs name files that exist. README.md and docs/*.md cite repository files in markdown links and in
 * backticks (`scorer/core/engine.ts`, `config/loyalty-rules.yaml`); a file that moved or never existed
 * fails here with the doc and line. The shared documents (CONTRACT.md, DESIGN.md) live outside the
 * repository, in `../shared/` beside it, and are cited that way.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '../..');
/** Documents of `../shared/` (relative to the repository's root), which a doc may cite. */
const SHARED_DOCS = ['CONTRACT.md', 'DESIGN.md', 'testdata/README.md'];
const SHARED_PREFIX = '../shared/';
const SOURCE_EXTENSION = /\.(ts|js|md|ya?ml)$/;
/** A path as written in backticks: no spaces, globs or placeholders. */
const PATH_TOKEN = /^(\.\.\/shared\/)?[A-Za-z0-9_@][A-Za-z0-9_.@-]*(\/[A-Za-z0-9_.@-]+)*\/?$/;

/** Top-level names git ignores (`name/` or `/name/` lines of .gitignore): run-time folders, not sources. */
function ignoredTopLevel(): Set<string> {
  const lines = fs.readFileSync(path.join(ROOT, '.gitignore'), 'utf8').split('\n').map((l) => l.trim());
  return new Set(lines.filter((l) => /^\/?[\w.-]+\/$/.test(l)).map((l) => l.replace(/^\//, '').replace(/\/$/, '')));
}

const IGNORED = ignoredTopLevel();
const TOP_LEVEL = new Set(fs.readdirSync(ROOT).filter((name) => !name.startsWith('.') && !IGNORED.has(name)));

/** Every file of the repository (relative, with `/`), without ignored and hidden folders. */
function repositoryFiles(dir = ''): string[] {
  return fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true }).flatMap((entry) => {
    if (entry.name.startsWith('.') || (dir === '' && IGNORED.has(entry.name))) return [];
    const relative = dir === '' ? entry.name : `${dir}/${entry.name}`;
    return entry.isDirectory() ? repositoryFiles(relative) : [relative];
  });
}

const FILES = repositoryFiles();
/** A source path cited as `x.js` is the TypeScript file `x.ts`. */
const exists = (relative: string): boolean =>
  [relative, relative.replace(/\.js$/, '.ts')].some((p) => fs.existsSync(path.join(ROOT, p)));

interface Reference { doc: string; line: number; target: string; kind: 'link' | 'path' | 'md' }

/**
 * Why `ref` points nowhere, or null when it resolves:
 * - a link: relative to the doc (anchors and external addresses are not files);
 * - `../shared/X`: one of the shared documents;
 * - a path under a top-level folder or file of the repository (`scorer/…`, `README.md`): from the root;
 * - a bare `X.md`: at the root, in docs/ or beside the doc;
 * - another path to a source file (`grafana/definitions.ts` in the row about dashboards/): some repository
 *   file ends with it.
 */
function unresolved(ref: Reference): string | null {
  const docDir = path.posix.dirname(ref.doc);
  const target = ref.target.replace(/\/$/, '');
  if (ref.kind === 'link') return exists(path.posix.join(docDir, target)) ? null : 'no such file, relative to the doc';
  if (target.startsWith(SHARED_PREFIX)) {
    return SHARED_DOCS.includes(target.slice(SHARED_PREFIX.length)) ? null : `not a shared document (${SHARED_DOCS.join(', ')})`;
  }
  if (target.startsWith('../')) return 'climbs out of the repository';
  if (TOP_LEVEL.has(target.split('/')[0]!)) return exists(target) ? null : 'no such file or folder in the repository';
  if (!target.includes('/') && target.endsWith('.md')) {
    if ([target, `docs/${target}`, path.posix.join(docDir, target)].some(exists)) return null;
    return SHARED_DOCS.includes(target) ? `a shared document outside the repository: write ${SHARED_PREFIX}${target}` : 'no such document';
  }
  if (!SOURCE_EXTENSION.test(target)) return null;
  const suffixes = [target, target.replace(/\.js$/, '.ts')];
  return FILES.some((f) => suffixes.some((s) => f === s || f.endsWith(`/${s}`))) ? null : 'no repository file ends with this path';
}

/** Links, backticked paths and `*.md` names of a markdown text, outside fenced code blocks. */
function references(doc: string, text: string): Reference[] {
  const found: Reference[] = [];
  let fenced = false;
  text.split('\n').forEach((line, index) => {
    if (/^\s*```/.test(line)) fenced = !fenced;
    if (fenced) return;
    const at = (target: string, kind: Reference['kind']): void => { found.push({ doc, line: index + 1, target, kind }); };
    for (const m of line.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
      const target = m[1]!.replace(/#.*$/, '');
      if (target !== '' && !/^[a-z][a-z0-9+.-]*:/i.test(target)) at(decodeURI(target), 'link');
    }
    for (const m of line.matchAll(/`([^`]+)`/g)) if (PATH_TOKEN.test(m[1]!) && !/^\d/.test(m[1]!)) at(m[1]!, 'path');
    const prose = line.replace(/`[^`]*`/g, ' ').replace(/\]\([^)]*\)/g, ']');
    for (const m of prose.matchAll(/(?<![\w/.-])((?:\.\.\/)*[\w.-]+(?:\/[\w.-]+)*\.md)\b/g)) at(m[1]!, 'md');
  });
  return found;
}

const DOCS = ['README.md', ...fs.readdirSync(path.join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).sort().map((f) => `docs/${f}`)];

describe('file references in the docs', () => {
  it.each(DOCS)('%s names only files that exist', (doc) => {
    const broken = references(doc, fs.readFileSync(path.join(ROOT, doc), 'utf8'))
      .map((ref) => ({ ref, why: unresolved(ref) }))
      .filter(({ why }) => why !== null)
      .map(({ ref, why }) => `${ref.doc}:${ref.line}: ${ref.target} (${why})`);
    expect(broken).toEqual([]);
  });

  it('finds a broken link, backticked path or document name, and accepts existing ones', () => {
    const text = [
      'See [the loyalty engine](../scorer/core/loyalty/engine.ts) and [gone](../api/server.ts), [web](https://example.org/x.md), [here](#reporting).',
      'The ledger: `scorer/core/loyalty/ledger-gone.ts`, `sinks/clickhouse/migrate.js`, `config/loyalty-rules.yaml`, `scorer/runtime/store/`.',
      'As `grafana/definitions.ts` renders; `grafana/missing.ts` does not; `tx.<partition>.<kind>`, `application/json`, `vafa.model/v1` are no files.',
      'Read CONTRACT.md, `DESIGN.md`, `../shared/CONTRACT.md`, `../shared/NOTES.md`, `docs/iso8583.md` and loyalty.md.',
      '```',
      'cat scorer/core/not-there.ts docs/gone.md',
      '```',
    ].join('\n');
    const broken = references('docs/example.md', text).filter((ref) => unresolved(ref) !== null).map((ref) => `${ref.line}: ${ref.target}`);
    expect(broken).toEqual(['1: ../api/server.ts', '2: scorer/core/loyalty/ledger-gone.ts', '3: grafana/missing.ts', '4: DESIGN.md', '4: ../shared/NOTES.md', '4: CONTRACT.md']);
  });
});
