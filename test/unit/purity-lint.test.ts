/**
 * The purity sandboxes (eslint.config.js, SANDBOXES): in scorer/core, each way of reaching the wall
 * clock, randomness, timers, the host's locale, a Node built-in or a module outside scorer/core, contracts/
 * and config/schema/ is reported by the project's own lint configuration, and pure code is not; the same
 * holds for config/schema/ (the policy's schemas and parsers, which the core imports), which imports only
 * contracts/. The snippets are linted in memory as if they were files there (ESLint's `lintText` with a
 * `filePath`).
 */
import path from 'node:path';
import { ESLint } from 'eslint';
import { beforeAll, describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '../..');
let eslint: ESLint;

beforeAll(() => {
  eslint = new ESLint({
    cwd: ROOT,
    // The purity rules are syntactic: lint the snippets without the type-checked rules, which need the
    // snippet to be a file of the TypeScript project.
    overrideConfig: {
      files: ['**/*.ts'],
      languageOptions: { parserOptions: { projectService: false, project: null } },
      rules: { '@typescript-eslint/no-floating-promises': 'off', '@typescript-eslint/no-misused-promises': 'off', '@typescript-eslint/no-unused-vars': 'off' },
    },
  });
});

/** What a scorer/core file that imports outside its sandbox is told. */
const OUTSIDE = /scorer\/core imports only scorer\/core\/, contracts\/ and config\/schema\//;

const PURITY_RULES = new Set(['no-restricted-imports', 'no-restricted-globals', 'no-restricted-properties', 'no-restricted-syntax']);

/** The purity findings for `code` as the file `file` (relative to the repository). */
async function findings(code: string, file = 'scorer/core/loyalty/snippet.ts'): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: path.join(ROOT, file) });
  const fatal = result!.messages.filter((m) => m.fatal);
  if (fatal.length) throw new Error(`could not parse the snippet: ${fatal.map((m) => m.message).join('; ')}`);
  return result!.messages.filter((m) => m.ruleId !== null && PURITY_RULES.has(m.ruleId)).map((m) => `${m.ruleId}: ${m.message}`);
}

describe('the purity rule of scorer/core', () => {
  const forbidden: [string, string, RegExp][] = [
    // randomness
    ['crypto.randomUUID()', 'export const id = (): string => crypto.randomUUID();', /no crypto|randomness/],
    ['crypto.getRandomValues', 'export const r = (a: Uint8Array): Uint8Array => crypto.getRandomValues(a);', /randomness/],
    ['Math.random()', 'export const r = (): number => Math.random();', /no randomness/],
    ["Math['random']", "export const r = (): number => Math['random']();", /randomness|Math only/],
    ['an alias of Math', 'const M = Math;\nexport const r = (): number => M.random();', /Math only as Math\.x/],
    ['random destructured from Math', 'const { random } = Math;\nexport const r = (): number => random();', /no randomness/],
    // the wall clock
    ['Date.now()', 'export const now = (): number => Date.now();', /Date only as/],
    ['Date()', 'export const now = (): string => Date();', /Date only as/],
    ['new Date()', 'export const now = (): number => new Date().getTime();', /Date only as/],
    ['new Date(...args)', 'export const d = (a: []): Date => new Date(...a);', /new Date\(\.\.\.args\)/],
    ['an alias of Date', 'const D = Date;\nexport const now = (): number => D.now();', /Date only as/],
    ['now destructured from Date', 'const { now } = Date;\nexport const t = (): number => now();', /Date only as/],
    ['Date passed around', 'export const make = (f: (c: DateConstructor) => number): number => f(Date);', /Date only as/],
    ["Date['now']", "export const now = (): number => Date['now']();", /Date only as/],
    ['new Date(year, month, day)', 'export const d = (y: number): number => new Date(y, 0, 1).getTime();', /host time zone/],
    ['Temporal.Now', 'export const t = (): unknown => Temporal.Now.instant();', /no Temporal/],
    ['eval', "export const t = (): unknown => eval('Date.now()');", /no code from strings/],
    ['new Function', "export const t = (): unknown => new Function('return Date.now()')();", /no code from strings/],
    ['Function called', "export const t = (): unknown => Function('return Math.random()')();", /no code from strings/],
    ['performance.now()', 'export const t = (): number => performance.now();', /wall clock/],
    ['process.hrtime', 'export const t = (): bigint => process.hrtime.bigint();', /no process|wall clock/],
    ['globalThis.Date', 'export const t = (): number => globalThis.Date.now();', /global object/],
    // timers
    ['setTimeout', 'export const later = (f: () => void): void => { setTimeout(f, 1); };', /no timers/],
    ['setInterval', 'export const every = (f: () => void): void => { setInterval(f, 1); };', /no timers/],
    ['setImmediate', 'export const soon = (f: () => void): void => { setImmediate(f); };', /no timers/],
    ['queueMicrotask', 'export const soon = (f: () => void): void => { queueMicrotask(f); };', /no timers/],
    // the process and the host
    ['process.env', "export const env = (): string | undefined => process.env['X'];", /no process/],
    ['Intl', "export const fmt = (n: number): string => new Intl.NumberFormat('fa-IR').format(n);", /no Intl/],
    ['toLocaleString', 'export const fmt = (n: number): string => n.toLocaleString();', /host locale/],
    ['a host-time-zone getter', 'export const hour = (at: number): number => new Date(at).getHours();', /host time zone/],
    // Node built-ins
    ["import from 'node:crypto'", "import { randomUUID } from 'node:crypto';\nexport const id = (): string => randomUUID();", /no Node built-ins/],
    ["import from 'node:os'", "import os from 'node:os';\nexport const h = (): string => os.hostname();", /no Node built-ins/],
    ["import from 'node:fs'", "import { readFileSync } from 'node:fs';\nexport const r = (): string => readFileSync('x', 'utf8');", /no Node built-ins/],
    ["import from 'fs'", "import { readFileSync } from 'fs';\nexport const r = (): string => readFileSync('x', 'utf8');", /no Node built-ins/],
    ["import from 'fs/promises'", "export { readFile } from 'fs/promises';", /no Node built-ins/],
    ["import from 'os'", "import os from 'os';\nexport const h = (): string => os.hostname();", /no Node built-ins/],
    ["import from 'crypto'", "import { createHash } from 'crypto';\nexport const h = (s: string): string => createHash('sha1').update(s).digest('hex');", /no Node built-ins/],
    ["import from 'child_process'", "import { execSync } from 'child_process';\nexport const run = (): unknown => execSync('date');", /no Node built-ins/],
    ["import from 'node:worker_threads'", "import { threadId } from 'node:worker_threads';\nexport const t = threadId;", /no Node built-ins/],
    ["import from 'worker_threads'", "import { threadId } from 'worker_threads';\nexport const t = threadId;", /no Node built-ins/],
    ["import from 'process'", "import process from 'process';\nexport const env = process.env;", /no Node built-ins/],
    ["import from 'node:timers/promises'", "export { setTimeout } from 'node:timers/promises';", /no Node built-ins/],
    ['a dynamic import', "export const load = async (): Promise<unknown> => import('./engine.js');", /no dynamic import/],
    ['require', "export const load = (): unknown => require('fs');", /no CommonJS/],
    // imports outside scorer/core and contracts/
    ['platform/log.js', "import { createLogger } from '../../../platform/log.js';\nexport const l = createLogger;", OUTSIDE],
    ['a type from platform/log.js', "import type { Logger } from '../../../platform/log.js';\nexport type L = Logger;", OUTSIDE],
    ['scorer/runtime', "import { buildEngineConfig } from '../../runtime/engine-config.js';\nexport const b = buildEngineConfig;", OUTSIDE],
    ['sinks/', "export { migrate } from '../../../sinks/clickhouse/migrate.js';", OUTSIDE],
    ['config/settings', "import { loadSettings } from '../../../config/settings.js';\nexport const s = loadSettings;", OUTSIDE],
    ['a path that climbs back down', "import { createLogger } from './../../../platform/log.js';\nexport const l = createLogger;", /write relative imports as/],
    ['a path through a folder and back', "import { createLogger } from '../../../contracts/../platform/log.js';\nexport const l = createLogger;", /write relative imports as/],
    ['an I/O library', "import { connect } from '@nats-io/transport-node';\nexport const c = connect;", /only the pure libraries/],
    ['an unlisted package', "import pino from 'pino';\nexport const p = pino;", /only the pure libraries/],
  ];

  it.each(forbidden)('reports %s', async (_name, code, message) => {
    const found = await findings(code);
    expect(found.length, `nothing reported for:\n${code}`).toBeGreaterThan(0);
    expect(found.join('\n')).toMatch(message);
  });

  it('reports a module outside the core from a file at the top of scorer/core too', async () => {
    expect((await findings("import { createLogger } from '../../platform/log.js';\nexport const l = createLogger;", 'scorer/core/snippet.ts')).join('\n')).toMatch(OUTSIDE);
    expect((await findings("import { x } from '../runtime/worker.js';\nexport const y = x;", 'scorer/core/snippet.ts')).join('\n')).toMatch(OUTSIDE);
    expect((await findings("import { x } from '../../../../platform/log.js';\nexport const y = x;", 'scorer/core/a/b/snippet.ts')).join('\n')).toMatch(OUTSIDE);
  });

  it('accepts pure code: event time, the core, contracts/, TypeBox, Date.UTC / Date.parse / new Date(ms)', async () => {
    const pure = [
      "import { Type } from '@sinclair/typebox';",
      "import { Value } from '@sinclair/typebox/value';",
      "import type { TransactionV1 } from '../../../contracts/events.js';",
      "import { txSubject } from '../../../contracts/subjects.js';",
      "import { bankDay } from './calendar.js';",
      "import { DAY_MS } from '../types.js';",
      "import type { EngineConfig } from '../../core/engine.js';",
      'export const Schema = Type.Object({ at: Type.Number() });',
      'export const valid = (v: unknown): boolean => Value.Check(Schema, v);',
      'export function day(tx: TransactionV1, cfg: EngineConfig | null): number {',
      '  const at = Date.parse(tx.occurred_at);',
      '  const month = new Date(at).getUTCMonth();',
      '  const start = Date.UTC(2026, month, 1);',
      '  const d: Date = new Date(start);',
      '  const o = { Date: d.toISOString(), max: Math.max(at, start), floor: Math.floor(at / DAY_MS) };',
      '  return bankDay(at, 210) + o.floor * 0 + (cfg ? 0 : 0) + txSubject.length * 0;',
      '}',
    ].join('\n');
    expect(await findings(pure)).toEqual([]);
    expect(await findings("import type { TxMessage } from '../../contracts/events.js';\nexport type M = TxMessage;", 'scorer/core/snippet.ts')).toEqual([]);
  });

  it('applies to scorer/core only: the runtime may use the clock and Node', async () => {
    expect(await findings("import { readFileSync } from 'node:fs';\nexport const now = (): number => Date.now() + readFileSync('x').length;", 'scorer/runtime/snippet.ts')).toEqual([]);
  });

  it('keeps the known exception narrow (createHash in offers/ids.ts); the policy\'s types and parsers come from config/schema/, never the rest of config/', async () => {
    expect(await findings("import { parseRules } from '../../../config/schema/loyalty-rules.js';\nimport type { LoyaltyConfig } from '../../../config/schema/engine.js';\nexport const p = parseRules;\nexport type E = LoyaltyConfig;", 'scorer/core/loyalty/engine.ts')).toEqual([]);
    expect(await findings("import type { EngineConfig } from '../../config/schema/engine.js';\nexport type E = EngineConfig;", 'scorer/core/engine.ts')).toEqual([]);
    expect((await findings("import { loadPolicy } from '../../../config/policy.js';\nexport const p = loadPolicy;", 'scorer/core/loyalty/engine.ts')).join('\n')).toMatch(OUTSIDE);
    expect((await findings("import { loadSettings } from '../../../config/settings.js';\nexport const s = loadSettings;", 'scorer/core/loyalty/engine.ts')).join('\n')).toMatch(OUTSIDE);
    expect(await findings("import { createHash } from 'node:crypto';\nexport const h = createHash;", 'scorer/core/offers/ids.ts')).toEqual([]);
    expect((await findings("import { randomUUID } from 'node:crypto';\nexport const r = randomUUID;", 'scorer/core/offers/ids.ts')).join('\n')).toMatch(/only createHash/);
    expect((await findings("import { createHash } from 'node:crypto';\nexport const h = createHash;", 'scorer/core/offers/engine.ts')).join('\n')).toMatch(/no Node built-ins/);
  });
});

describe('the purity rule of config/schema (the policy\'s schemas and parsers, which scorer/core imports)', () => {
  const OUT = /config\/schema imports only config\/schema\/ and contracts\//;
  it.each([
    ['Date.now()', 'export const now = (): number => Date.now();', /Date only as/],
    ['Math.random()', 'export const r = (): number => Math.random();', /no randomness/],
    ["import from 'node:fs'", "import { readFileSync } from 'node:fs';\nexport const r = (): string => readFileSync('x', 'utf8');", /no Node built-ins in config\/schema/],
    ['process.env', "export const env = (): string | undefined => process.env['X'];", /no process/],
    ['config/policy.ts (it reads the files)', "import { loadPolicy } from '../policy.js';\nexport const p = loadPolicy;", OUT],
    ['config/settings.ts', "import type { Settings } from '../settings.js';\nexport type S = Settings;", OUT],
    ['scorer/core', "import { DAY_MS } from '../../scorer/core/types.js';\nexport const d = DAY_MS;", OUT],
    ['platform/', "import type { Logger } from '../../platform/mod.js';\nexport type L = Logger;", OUT],
    ['an unlisted package', "import pino from 'pino';\nexport const p = pino;", /only the pure libraries/],
  ])('reports %s', async (_name, code, message) => {
    expect((await findings(code, 'config/schema/snippet.ts')).join('\n')).toMatch(message);
  });

  it('accepts config/schema/, contracts/, TypeBox and yaml', async () => {
    const pure = [
      "import { Type } from '@sinclair/typebox';",
      "import { parseDocument } from 'yaml';",
      "import { CHANNELS } from '../../contracts/events.js';",
      "import { DAY_MS } from './calendar.js';",
      'export const Schema = Type.Object({ at: Type.Number() });',
      'export const f = (s: string): unknown => [parseDocument(s), CHANNELS, DAY_MS, Date.parse(s)];',
    ].join('\n');
    expect(await findings(pure, 'config/schema/snippet.ts')).toEqual([]);
  });

  it('applies to config/schema only: config/policy.ts reads the files', async () => {
    expect(await findings("import { readFileSync } from 'node:fs';\nexport const r = (): string => readFileSync('x', 'utf8');", 'config/snippet.ts')).toEqual([]);
  });
});
