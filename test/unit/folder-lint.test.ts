/**
 * The layers enforced by lint (eslint.config.js, LAYERS and the `layers/imports` rule): platform/ imports
 * only platform/ and contracts/; contracts/ only itself; the domain (api, config, dashboards, ingest,
 * models, scorer, simulator, sinks, training) does not import app/, bench/ or cli/; app/ does not import
 * bench/ or cli/; bench/ does not import cli/ (cli/main.ts runs the benchmarks as `vafa bench`). Snippets
 * are linted in memory as files of those folders with the project's own configuration. Inside the domain,
 * config/schema/ (the policy's schemas and parsers) imports only contracts/, scorer/core imports only
 * config/schema/ and contracts/, and config/ imports no scorer/. And platform/ and app/ are imported from
 * outside only through their public surface, a mod.ts, and so are the domain folders that have one (api/,
 * dashboards/, ingest/, models/, scorer/core/, simulator/, sinks/, training/).
 */
import path from 'node:path';
import { ESLint } from 'eslint';
import { beforeAll, describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '../..');
let eslint: ESLint;

beforeAll(() => {
  eslint = new ESLint({
    cwd: ROOT,
    // The folder rules are syntactic; the snippets are not files of the TypeScript project.
    overrideConfig: {
      files: ['**/*.ts'],
      languageOptions: { parserOptions: { projectService: false, project: null } },
      rules: { '@typescript-eslint/no-floating-promises': 'off', '@typescript-eslint/no-misused-promises': 'off', '@typescript-eslint/no-unused-vars': 'off' },
    },
  });
});

async function findings(code: string, file: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: path.join(ROOT, file) });
  const fatal = result!.messages.filter((m) => m.fatal);
  if (fatal.length) throw new Error(`could not parse the snippet: ${fatal.map((m) => m.message).join('; ')}`);
  return result!.messages.filter((m) => m.ruleId === 'layers/imports').map((m) => m.message);
}

describe('bench/ does not import cli/', () => {
  it.each([
    ['a helper', "import { waitForDrain } from '../cli/up.js';\nexport const w = waitForDrain;", 'bench/x.ts'],
    ['a type', "import type { Command } from '../cli/main.js';\nexport type C = Command;", 'bench/x.ts'],
    ['a re-export', "export { upCommand } from '../cli/up.js';", 'bench/x.ts'],
    ['a dynamic import', "export const load = async (): Promise<unknown> => import('../cli/up.js');", 'bench/x.ts'],
    ['from a sub-folder', "import { waitForDrain } from '../../cli/up.js';\nexport const w = waitForDrain;", 'bench/loadgen/x.ts'],
  ])('reports %s', async (_name, code, file) => {
    expect((await findings(code, file)).join('\n')).toMatch(/bench\/ must not import cli\//);
  });

  it('accepts what bench/ uses instead (app/), and cli/ importing bench/', async () => {
    expect(await findings("import { countRows, waitForDrain, type Command } from '../app/mod.js';\nexport const w = [countRows, waitForDrain];\nexport type C = Command;", 'bench/x.ts')).toEqual([]);
    expect(await findings("export const load = async (): Promise<unknown> => import('../bench/main.js');", 'cli/x.ts')).toEqual([]);
  });
});

describe('platform/ imports only platform/ and contracts/', () => {
  it.each([
    ['the domain', "import { ScorerService } from '../scorer/runtime/service.js';\nexport const s = ScorerService;", 'platform/x.ts', 'scorer/runtime'],
    ['a sink, from a sub-folder', "import { migrate } from '../../sinks/clickhouse/migrate.js';\nexport const m = migrate;", 'platform/warehouse/x.ts', 'sinks'],
    ['config/', "import type { Settings } from '../config/settings.js';\nexport type S = Settings;", 'platform/x.ts', 'config'],
    ['the composition root, re-exported', "export { startStack } from '../app/stack.js';", 'platform/x.ts', 'app'],
    ['a dynamic import', "export const load = async (): Promise<unknown> => import('../ingest/service.js');", 'platform/x.ts', 'ingest'],
    ['an import type', "export type L = import('../api/app.js').AppDeps;", 'platform/x.ts', 'api'],
    ['a path through another folder', "import { x } from '../platform/../sinks/output.js';\nexport const y = x;", 'platform/x.ts', 'sinks'],
  ])('reports %s', async (_name, code, file, to) => {
    expect((await findings(code, file)).join('\n')).toContain(`platform/ must not import ${to}/`);
  });

  it('accepts platform/ and contracts/', async () => {
    expect(await findings("import { STREAM_TX } from '../contracts/subjects.js';\nimport type { Logger } from './log.js';\nexport const s = STREAM_TX;\nexport type L = Logger;", 'platform/x.ts')).toEqual([]);
    expect(await findings("import type { Logger } from '../log.js';\nimport { sqlString } from './sql.js';\nexport type L = Logger;\nexport const q = sqlString;", 'platform/warehouse/x.ts')).toEqual([]);
  });
});

describe('contracts/ imports nothing', () => {
  it('reports platform/', async () => {
    expect((await findings("import type { Logger } from '../platform/log.js';\nexport type L = Logger;", 'contracts/x.ts')).join('\n')).toContain('contracts/ must not import platform/');
  });
});

describe('the domain does not import app/, bench/ or cli/', () => {
  it.each([
    ["sinks/ the stack", "import type { Stack } from '../app/stack.js';\nexport type S = Stack;", 'sinks/x.ts', 'app'],
    ['scorer/runtime/ the drain, from a sub-folder', "import { waitForDrain } from '../../../app/drain.js';\nexport const w = waitForDrain;", 'scorer/runtime/store/x.ts', 'app'],
    ['ingest/iso8583/ the CLI', "export { main } from '../../cli/main.js';", 'ingest/iso8583/x.ts', 'cli'],
    ['api/ a benchmark, dynamically', "export const load = async (): Promise<unknown> => import('../bench/main.js');", 'api/x.ts', 'bench'],
    ['training/ the stack', "import { startStack } from '../app/stack.js';\nexport const s = startStack;", 'training/x.ts', 'app'],
  ])('reports %s', async (_name, code, file, to) => {
    expect((await findings(code, file)).join('\n')).toContain(`must not import ${to}/`);
  });

  it('accepts the domain importing platform/ and other domain folders, and app/ importing the domain', async () => {
    expect(await findings("import type { Logger } from '../../platform/mod.js';\nimport { migrate } from '../../sinks/mod.js';\nexport type L = Logger;\nexport const m = migrate;", 'scorer/runtime/x.ts')).toEqual([]);
    expect(await findings("import { ScorerService } from '../scorer/runtime/mod.js';\nimport { buildApp } from '../api/mod.js';\nexport const s = [ScorerService, buildApp];", 'app/x.ts')).toEqual([]);
  });
});

describe('config/ owns the policy\'s schemas: config/schema/ imports only contracts/, the scorer imports config/, not the other way round', () => {
  it.each([
    ['config/ the core', "import { Engine } from '../scorer/core/engine.js';\nexport const e = Engine;", 'config/x.ts', 'config/ must not import scorer/core/'],
    ['config/ a type of the core', "export type S = import('../scorer/core/state.js').PartitionState;", 'config/x.ts', 'config/ must not import scorer/core/'],
    ['config/ the scorer runtime', "export { ScorerService } from '../scorer/runtime/service.js';", 'config/x.ts', 'config/ must not import scorer/runtime/'],
    ['config/schema/ config/policy.ts', "import { loadPolicy } from '../policy.js';\nexport const p = loadPolicy;", 'config/schema/x.ts', 'config/schema/ must not import config/'],
    ['config/schema/ the core, from a sub-folder', "import type { PartitionState } from '../../../scorer/core/state.js';\nexport type S = PartitionState;", 'config/schema/a/x.ts', 'config/schema/ must not import scorer/core/'],
    ['config/schema/ platform/', "export const load = async (): Promise<unknown> => import('../../platform/mod.js');", 'config/schema/x.ts', 'config/schema/ must not import platform/'],
    ['scorer/core config/policy.ts', "import { defaultEngineConfig } from '../../config/policy.js';\nexport const d = defaultEngineConfig();", 'scorer/core/x.ts', 'scorer/core/ must not import config/'],
  ])('reports %s', async (_name, code, file, message) => {
    expect((await findings(code, file)).join('\n')).toContain(message);
  });

  it('accepts config/ and scorer/ importing config/schema/, and config/schema/ importing contracts/', async () => {
    expect(await findings("import { parseRules } from './schema/mod.js';\nexport const p = parseRules;", 'config/x.ts')).toEqual([]);
    expect(await findings("import { RulesTimeline } from '../../config/schema/mod.js';\nimport { defaultEngineConfig } from '../../config/mod.js';\nexport const r = [RulesTimeline, defaultEngineConfig()];", 'scorer/runtime/x.ts')).toEqual([]);
    expect(await findings("import type { EngineConfig } from '../../config/schema/mod.js';\nexport type E = EngineConfig;", 'scorer/core/x.ts')).toEqual([]);
    expect(await findings("import { CHANNELS } from '../../contracts/events.js';\nimport { DAY_MS } from './calendar.js';\nexport const c = [CHANNELS, DAY_MS];", 'config/schema/x.ts')).toEqual([]);
  });
});

describe('app/ does not import bench/ or cli/', () => {
  it.each([
    ['cli/', "import { main } from '../cli/main.js';\nexport const m = main;", 'cli'],
    ['bench/', "import type { Progress } from '../bench/progress.js';\nexport type P = Progress;", 'bench'],
  ])('reports %s', async (_name, code, to) => {
    expect((await findings(code, 'app/x.ts')).join('\n')).toContain(`app/ must not import ${to}/`);
  });
});

describe('platform/, app/ and the domain folders with a mod.ts are imported through it', () => {
  it.each([
    ['a module of platform/', "import { createLogger } from '../platform/log.js';\nexport const l = createLogger;", 'cli/x.ts', 'platform/log'],
    ['a type of platform/, from the domain', "import type { Logger } from '../../platform/log.js';\nexport type L = Logger;", 'scorer/runtime/x.ts', 'platform/log'],
    ['a module of platform/warehouse/', "export const load = async (): Promise<unknown> => import('../platform/warehouse/main.js');", 'cli/x.ts', 'platform/warehouse/main'],
    ['a module of app/', "import { startStack } from '../app/stack.js';\nexport const s = startStack;", 'bench/x.ts', 'app/stack'],
  ])('reports %s', async (_name, code, file, target) => {
    expect((await findings(code, file)).join('\n')).toContain(`through its public surface`);
    expect((await findings(code, file)).join('\n')).toContain(target);
  });

  it.each([
    ['api/', "import { KeyRing } from '../api/auth.js';\nexport const k = KeyRing;", 'cli/x.ts', 'api/auth'],
    ['dashboards/', "import { DASHBOARDS } from '../dashboards/grafana/definitions.js';\nexport const d = DASHBOARDS;", 'bench/x.ts', 'dashboards/grafana/definitions'],
    ['ingest/', "import type { IngestService } from '../../ingest/service.js';\nexport type I = IngestService;", 'api/routes/x.ts', 'ingest/service'],
    ['models/', "import { parseManifest } from '../../models/manifest.js';\nexport const p = parseManifest;", 'scorer/runtime/x.ts', 'models/manifest'],
    ['scorer/core/, from scorer/runtime/', "import { Engine } from '../core/engine.js';\nexport const e = Engine;", 'scorer/runtime/x.ts', 'scorer/core/engine'],
    ['simulator/', "import { hazardMultiplier } from '../simulator/churn.js';\nexport const h = hazardMultiplier;", 'training/x.ts', 'simulator/churn'],
    ['sinks/', "export { migrate } from '../sinks/clickhouse/migrate.js';", 'app/x.ts', 'sinks/clickhouse/migrate'],
    ['training/', "export const load = async (): Promise<unknown> => import('../training/train.js');", 'cli/x.ts', 'training/train'],
    ['scorer/runtime/', "import { ScorerService } from '../scorer/runtime/service.js';\nexport const s = ScorerService;", 'app/x.ts', 'scorer/runtime/service'],
    ['scorer/runtime/, a type', "import type { BatchInfo } from '../scorer/runtime/worker.js';\nexport type B = BatchInfo;", 'bench/x.ts', 'scorer/runtime/worker'],
    ['scorer/runtime/model/, lazily', "export const churn = async (): Promise<unknown> => import('../scorer/runtime/model/churn.js');", 'app/x.ts', 'scorer/runtime/model/churn'],
    ['scorer/runtime/store/', "import { LmdbStateStore } from '../scorer/runtime/store/lmdb-store.js';\nexport const l = LmdbStateStore;", 'bench/x.ts', 'scorer/runtime/store/lmdb-store'],
    ['scorer/runtime/backfill/', "import { listSources } from '../scorer/runtime/backfill/sources.js';\nexport const l = listSources;", 'cli/x.ts', 'scorer/runtime/backfill/sources'],
    ['config/', "import { loadSettings } from '../config/settings.js';\nexport const l = loadSettings;", 'cli/x.ts', 'config/settings'],
    ['config/, its policy', "import { shippedPolicy } from '../../config/policy.js';\nexport const p = shippedPolicy;", 'sinks/clickhouse/x.ts', 'config/policy'],
    ['config/schema/, from scorer/core/', "import type { EngineConfig } from '../../config/schema/engine.js';\nexport type E = EngineConfig;", 'scorer/core/x.ts', 'config/schema/engine'],
    ['config/schema/, from config/', "import { parseRules } from './schema/loyalty-rules.js';\nexport const p = parseRules;", 'config/x.ts', 'config/schema/loyalty-rules'],
  ])('reports a module of the domain folder %s', async (_name, code, file, target) => {
    const found = (await findings(code, file)).join('\n');
    expect(found).toContain('through its public surface');
    expect(found).toContain(target);
  });

  it('names the surface of the part a module belongs to', async () => {
    expect((await findings("export const churn = async (): Promise<unknown> => import('../scorer/runtime/model/churn.js');", 'app/x.ts')).join('\n')).toContain('scorer/runtime/model/mod.ts');
    expect((await findings("import { LmdbStateStore } from '../scorer/runtime/store/lmdb-store.js';\nexport const l = LmdbStateStore;", 'bench/x.ts')).join('\n')).toContain('scorer/runtime/store/mod.ts');
    expect((await findings("import { decodeTx } from '../scorer/runtime/decode.js';\nexport const d = decodeTx;", 'bench/x.ts')).join('\n')).toContain('public surface, scorer/runtime/mod.ts,');
    expect((await findings("import type { EngineConfig } from '../config/schema/engine.js';\nexport type E = EngineConfig;", 'bench/x.ts')).join('\n')).toContain('config/schema/mod.ts');
  });

  it('accepts the domain folders\' mod.ts files and the surfaces of the parts loaded apart (the ISO 8583 adapter, scorer/runtime\'s store, model serving and backfill)', async () => {
    expect(await findings("import { KeyRing } from '../api/mod.js';\nimport { IngestService } from '../ingest/mod.js';\nimport { Engine } from '../scorer/core/mod.js';\nimport { migrate } from '../sinks/mod.js';\nexport const x = [KeyRing, IngestService, Engine, migrate];", 'app/x.ts')).toEqual([]);
    expect(await findings("export const load = async (): Promise<unknown> => import('../ingest/iso8583/mod.js');\nexport const churn = async (): Promise<unknown> => import('../scorer/runtime/model/mod.js');", 'app/x.ts')).toEqual([]);
    expect(await findings("import { ScorerService } from '../scorer/runtime/mod.js';\nimport { openCheckpointStore } from '../scorer/runtime/store/mod.js';\nimport { backfill } from '../scorer/runtime/backfill/mod.js';\nimport { loadSettings } from '../config/mod.js';\nexport const x = [ScorerService, openCheckpointStore, backfill, loadSettings];", 'app/x.ts')).toEqual([]);
    expect(await findings("import { parseManifest } from '../../models/mod.js';\nimport { explain } from '../../training/mod.js';\nimport { Engine } from '../core/mod.js';\nexport const x = [parseManifest, explain, Engine];", 'scorer/runtime/x.ts')).toEqual([]);
  });

  it('accepts the mod.ts files, and the modules of a folder importing each other', async () => {
    expect(await findings("import { createLogger } from '../platform/mod.js';\nimport { startStack } from '../app/mod.js';\nexport const l = [createLogger, startStack];\nexport const load = async (): Promise<unknown> => import('../platform/warehouse/mod.js');", 'cli/x.ts')).toEqual([]);
    expect(await findings("import { startLocalNats } from '../platform/mod.js';\nimport { waitForDrain } from './drain.js';\nexport const s = [startLocalNats, waitForDrain];", 'app/x.ts')).toEqual([]);
  });
});
