/**
 * Writes the Grafana dashboard JSON files from definitions.ts: `npx tsx dashboards/grafana/generate.ts`.
 * With `--check`, writes nothing and exits 1 when a file differs from what it would write.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { DASHBOARDS, renderDashboard } from './definitions.js';

export const GRAFANA_DIR = import.meta.dirname;

/** File name → content, for every dashboard. */
export function renderedFiles(): Map<string, string> {
  return new Map(DASHBOARDS.map((d) => [`${d.uid}.json`, `${JSON.stringify(renderDashboard(d), null, 2)}\n`]));
}

function main(argv: string[]): number {
  const check = argv.includes('--check');
  let stale = 0;
  for (const [name, text] of renderedFiles()) {
    const file = path.join(GRAFANA_DIR, name);
    let current: string;
    try {
      current = readFileSync(file, 'utf8');
    } catch {
      current = '';
    }
    if (current === text) continue;
    stale++;
    if (check) console.error(`${file} is out of date`);
    else {
      writeFileSync(file, text);
      console.log(`wrote ${file}`);
    }
  }
  return check && stale ? 1 : 0;
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(import.meta.filename)) process.exitCode = main(process.argv.slice(2));
