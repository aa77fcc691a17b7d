/**
 * Every way vafa is started carries the same V8 flags (platform/node-flags.ts): the bin's shebang, the npm
 * scripts that run it, the container's entry point. A launch point that loses them runs the scorer with
 * Node's small default young generation (measurably slower), so a drift fails here.
 */
import { readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { NODE_FLAGS } from '../../platform/node-flags.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const read = (file: string): string => readFileSync(path.join(root, file), 'utf8');

describe('node flags', () => {
  it('the shebang, the npm scripts that start vafa and the container entry point carry them', () => {
    const flags = NODE_FLAGS.join(' ');
    expect(read('bin/vafa.js').split('\n')[0]).toBe(`#!/usr/bin/env -S node ${flags}`);
    const scripts = (JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts;
    const starting = Object.entries(scripts).filter(([, command]) => command.includes('bin/vafa.js'));
    expect(starting.map(([name]) => name).sort()).toEqual(['bench', 'demo', 'vafa']);
    for (const [name, command] of starting) expect(command, name).toContain(`node ${flags} bin/vafa.js`);
    expect(read('docker/vafa.Dockerfile')).toContain(`"node", ${NODE_FLAGS.map((f) => JSON.stringify(f)).join(', ')}, "bin/vafa.js"`);
  });

  it('this Node accepts them: under allocation the young generation grows past what it reaches without them', () => {
    const script = "const a = []; for (let i = 0; i < 3e6; i++) a.push({ i }); console.log(require('v8').getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size)";
    const youngBytes = (flags: readonly string[]): number => {
      const r = spawnSync(process.execPath, [...flags, '-e', script], { encoding: 'utf8', timeout: 30_000, env: { ...process.env, NODE_OPTIONS: '' } });
      expect(r.status, r.stderr).toBe(0);
      return Number(r.stdout.trim());
    };
    expect(youngBytes(NODE_FLAGS)).toBeGreaterThan(youngBytes([]));
  });
});
