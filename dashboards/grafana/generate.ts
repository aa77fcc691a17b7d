/**
 * Writes the Grafana dashboard JSON files from definitions.ts: `npx tsx dashboards/grafana/generate.ts`.
 * The dashboards go to dashboards/grafana/, the administrators' ones to dashboards/grafana-admin/ (a folder of
 * their own in Grafana, docs/dashboards.md). With `--check`, writes nothing and exits 1 when a file differs
 * from what it would write.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ADMIN_DASHBOARDS, DASHBOARDS, renderDashboard, type DashboardSpec } from './definitions.js';

export const GRAFANA_DIR = import.meta.dirname;
/** Outside GRAFANA_DIR: the vafa provider loads every file under its path, sub-folders included. */
export const GRAFANA_ADMIN_DIR = path.join(import.meta.dirname, '..', 'grafana-admin');

const render = (list: readonly DashboardSpec[]): Map<string, string> => new Map(list.map((d) => [`${d.uid}.json`, `${JSON.stringify(renderDashboard(d), null, 2)}\n`]));

/** File name → content, for every dashboard of dashboards/grafana/. */
export function renderedFiles(): Map<string, string> {
  return render(DASHBOARDS);
}

/** File name → content, for every dashboard of dashboards/grafana-admin/. */
export function renderedAdminFiles(): Map<string, string> {
  return render(ADMIN_DASHBOARDS);
}

function main(argv: string[]): number {
  const check = argv.includes('--check');
  let stale = 0;
  const files = [...[...renderedFiles()].map(([name, text]) => [path.join(GRAFANA_DIR, name), text] as const),
    ...[...renderedAdminFiles()].map(([name, text]) => [path.join(GRAFANA_ADMIN_DIR, name), text] as const)];
  for (const [file, text] of files) {
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
