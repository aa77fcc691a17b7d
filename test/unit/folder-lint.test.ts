/**
 * Folder rules enforced by lint (eslint.config.js): bench/ does not import cli/ (cli/main.ts runs the
 * benchmarks as `vafa bench`, so an import the other way is a folder cycle). Snippets are linted in memory
 * as files of bench/ with the project's own configuration.
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
  return result!.messages.filter((m) => m.ruleId === 'no-restricted-imports' || m.ruleId === 'no-restricted-syntax').map((m) => m.message);
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
    expect(await findings("import { countRows, waitForDrain } from '../app/drain.js';\nimport type { Command } from '../app/command.js';\nexport const w = [countRows, waitForDrain];\nexport type C = Command;", 'bench/x.ts')).toEqual([]);
    expect(await findings("export const load = async (): Promise<unknown> => import('../bench/main.js');", 'cli/x.ts')).toEqual([]);
  });
});
