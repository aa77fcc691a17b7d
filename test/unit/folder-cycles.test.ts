/**
 * Folder cycles, as a ratchet: in the import graph between folders (from every relative import of the
 * non-test TypeScript files), the imports that close a cycle are only the ones listed in
 * KNOWN_CYCLE_EDGES (empty since issue 20). A new one fails with the files that make it; a listed
 * one that is gone fails too, so that the list only shrinks. docs/ARCHITECTURE.md ("Who imports whom") describes the layers.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, sourceFiles } from '../support/source-files.js';


/** Sub-folders that are folders of their own (as in eslint.config.js). */
const SPLIT = ['scorer/core', 'scorer/runtime', 'config/schema'];

/** The folder a file belongs to: top level, with scorer/ split into core/ and runtime/, and config/schema/ apart from config/. */
function folderOf(rel: string): string {
  const parts = rel.split('/');
  if (parts.length === 1) return '(root)';
  const two = `${parts[0]}/${parts[1]}`;
  if (parts.length > 2 && SPLIT.includes(two)) return two;
  return parts[0]!;
}

const IMPORT = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)['"](\.{1,2}\/[^'"]+)['"]/g;

/** folder → folder → the files whose imports make the edge. */
function folderGraph(): Map<string, Map<string, Set<string>>> {
  const g = new Map<string, Map<string, Set<string>>>();
  for (const file of sourceFiles()) {
    const text = fs.readFileSync(path.join(ROOT, file), 'utf8');
    for (const m of text.matchAll(IMPORT)) {
      const target = path.posix.normalize(path.posix.join(path.posix.dirname(file), m[1]!));
      const [a, b] = [folderOf(file), folderOf(target)];
      if (a === b || target.startsWith('..')) continue;
      let edges = g.get(a);
      if (!edges) g.set(a, (edges = new Map()));
      let files = edges.get(b);
      if (!files) edges.set(b, (files = new Set()));
      files.add(file);
    }
  }
  return g;
}

/** Strongly connected components with more than one folder (Tarjan), each sorted, the list sorted. */
function cycles(g: Map<string, Map<string, Set<string>>>): string[][] {
  const nodes = new Set<string>([...g.keys(), ...[...g.values()].flatMap((e) => [...e.keys()])]);
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const on = new Set<string>();
  const out: string[][] = [];
  let n = 0;
  const visit = (v: string): void => {
    index.set(v, n);
    low.set(v, n++);
    stack.push(v);
    on.add(v);
    for (const w of g.get(v)?.keys() ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        on.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1) out.push(scc.sort());
    }
  };
  for (const v of [...nodes].sort()) if (!index.has(v)) visit(v);
  return out.sort((x, y) => x.join().localeCompare(y.join()));
}

/**
 * The imports between folders that close cycles, as `from → to`: none since issue 20 (platform/ below the
 * domain, app/ above it; the ONNX exporter in training/, the model benchmark in bench/). A cycle that has
 * to stay for a while is listed here with its reason, and fails once it is gone.
 */
const KNOWN_CYCLE_EDGES: string[] = [];

/** The imports between two folders of the same cycle, as `from → to`, sorted. */
function cycleEdges(g: Map<string, Map<string, Set<string>>>): string[] {
  const out: string[] = [];
  for (const scc of cycles(g)) for (const a of scc) for (const b of scc) if (g.get(a)?.has(b)) out.push(`${a} → ${b}`);
  return out.sort();
}

describe('folder cycles', () => {
  const g = folderGraph();

  it('come only from the known imports (a new import that closes a cycle fails here)', () => {
    const added = cycleEdges(g).filter((e) => !KNOWN_CYCLE_EDGES.includes(e));
    const files = (e: string): string => {
      const [a, b] = e.split(' → ') as [string, string];
      return `  ${e}: ${[...g.get(a)!.get(b)!].sort().join(', ')}`;
    };
    expect(added, `imports that close a folder cycle (see docs/ARCHITECTURE.md, "Who imports whom"):\n${added.map(files).join('\n')}`).toEqual([]);
  });

  it('shrink: a known cycle import that is gone leaves the list', () => {
    const now = new Set(cycleEdges(g));
    expect(KNOWN_CYCLE_EDGES.filter((e) => !now.has(e)), 'no longer in a cycle: remove from KNOWN_CYCLE_EDGES').toEqual([]);
  });

  it('keep scorer/core, contracts/, platform/, app/, bench/ and cli/ out of every cycle', () => {
    const inCycles = new Set(cycles(g).flat());
    for (const f of ['scorer/core', 'contracts', 'platform', 'app', 'bench', 'cli', 'config', 'config/schema', 'simulator']) expect(inCycles.has(f), `${f} is in a folder cycle`).toBe(false);
    expect([...(g.get('platform')?.keys() ?? [])].filter((f) => f !== 'contracts'), 'platform/ imports only contracts/').toEqual([]);
    expect([...(g.get('config/schema')?.keys() ?? [])].filter((f) => f !== 'contracts'), 'config/schema/ imports only contracts/').toEqual([]);
    expect([...(g.get('config')?.keys() ?? [])].filter((f) => f.startsWith('scorer')), 'config/ imports no scorer/').toEqual([]);
    expect(g.get('bench')?.has('cli') ?? false).toBe(false);
    expect([...(g.get('contracts')?.keys() ?? [])]).toEqual([]);
  });
});
