import { existsSync } from 'node:fs';
import { builtinModules } from 'node:module';
import path from 'node:path';
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// ---------------------------------------------------------------------------------------------------
// The purity sandboxes. scorer/core: the scorer is a pure, deterministic function of the ordered stream
// (DESIGN.md, principle 1). config/schema: the policy files' schemas and parsers, which the core imports
// (it parses a reloaded rules file) and config/policy.ts reads the files for. A file in a sandbox may import
// only its own sandbox, the folders listed in `roots` and the pure libraries in `packages`; it may not reach
// a Node built-in, the wall clock, randomness, timers, the host's locale or time zone, in any spelling the
// rules below know. test/unit/purity-lint.test.ts proves each one.
// ---------------------------------------------------------------------------------------------------

/**
 * The sandboxes, each a folder two levels below the root. `roots`: the folders at the repository root a
 * file may import besides its own sandbox; `packages`: the npm packages it may import (pure code only: no
 * I/O, no clock, no randomness).
 */
const SANDBOXES = {
  'scorer/core': {
    pure: 'scorer/core is pure: (state, event) → (state\', outputs)',
    roots: ['contracts', 'config/schema'],
    packages: ['@sinclair/typebox'],
    where: 'I/O, clocks and processes live in scorer/runtime',
  },
  'config/schema': {
    pure: 'config/schema is pure (the scorer core runs its parsers)',
    roots: ['contracts'],
    packages: ['@sinclair/typebox', 'yaml'],
    where: 'reading a policy file is config/policy.ts',
  },
};
const reEscape = (s) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
const builtins = [...new Set(builtinModules.filter((m) => !m.startsWith('_')).map((m) => m.replace(/^node:/, '').split('/')[0]))];
const up = (n) => `(\\.\\./){${n}}`;

/**
 * `no-restricted-imports` for a file `depth` folders below the sandbox `home` (scorer/core/x.ts: 0).
 * Relative imports are judged by how far they climb: up to the sandbox's parent (scorer/, config/) they
 * must come back into the sandbox, up to the root into one of its `roots`; anything higher is out.
 * `allow` lists exceptions (see CORE_EXCEPTIONS).
 */
function sandboxImports(home, depth, allow = {}) {
  const { pure, roots, packages, where } = SANDBOXES[home];
  const leaf = home.split('/')[1];
  const allowRel = (allow.relative ?? []).map((p) => `(?!${up(depth + 2)}${reEscape(p)}$)`).join('');
  const allowBuiltin = allow.builtin ?? [];
  const may = [home, ...roots].map((f) => `${f}/`);
  const mayText = `${may.slice(0, -1).join(', ')} and ${may[may.length - 1]}`;
  return ['error', {
    paths: allowBuiltin.map(({ name, importNames }) => ({ name: `node:${name}`, allowImportNames: importNames, message: `${pure}: only ${importNames.join(', ')} of node:${name} (a deterministic function), by an exception in eslint.config.js.` })),
    patterns: [
      {
        regex: `^(node:)?(${builtins.filter((b) => !allowBuiltin.some((a) => a.name === b)).map(reEscape).join('|')})(/|$)`,
        message: `${pure}: no Node built-ins in ${home}; ${where}.`,
      },
      {
        regex: `^(?!\\.|node:)(?!(${builtins.map(reEscape).join('|')})(/|$))(?!(${packages.map(reEscape).join('|')})(/|$))`,
        message: `${pure}: ${home} imports only the pure libraries listed in eslint.config.js (SANDBOXES: ${packages.join(', ')}).`,
      },
      {
        regex: `^${allowRel}(${up(depth + 1)}(?!${reEscape(leaf)}/|\\.\\./)|${up(depth + 2)}(?!(${roots.map((r) => `${reEscape(r)}/`).join('|')})|\\.\\./)|${up(depth + 3)})`,
        message: `${pure}: ${home} imports only ${mayText} (not scorer/runtime, config/policy.ts, config/settings.ts, sinks/, platform/, …).`,
      },
      {
        // A relative path must say where it goes: no `./..` or `x/../`, which would dodge the depth check above.
        regex: '^\\./\\.\\.?(/|$)|(^|/)(?!\\.\\.?(/|$))[^/]+/(.*/)?\\.\\.?(/|$)',
        message: `${pure}: write relative imports as ./x or ../x (no ./.. or x/..), so that lint can see where they go.`,
      },
    ],
  }];
}

/**
 * Known exceptions, to be removed by issue 20 (ids without node:crypto). Each one is as narrow as the
 * rule allows: one file, one target.
 */
const CORE_EXCEPTIONS = [
  // Deterministic offer ids: a SHA-256 of (customer, offer, source event).
  { home: 'scorer/core', files: ['scorer/core/offers/ids.ts'], depth: 1, allow: { builtin: [{ name: 'crypto', importNames: ['createHash'] }] } },
];

// `Date` only as Date.UTC(…), Date.parse(…) or new Date(ms): never Date(), new Date(), Date.now() or a
// Date passed around (`const D = Date`, `f(Date)`, `const { now } = Date`); types may name it.
const DATE_ALLOWED = [
  'MemberExpression[computed=false][property.name=/^(UTC|parse)$/] > .object',
  'NewExpression[arguments.length>0] > .callee',
  'MemberExpression[computed=false] > .property',
  'Property[computed=false] > .key',
  'TSTypeReference > .typeName',
  'TSTypeQuery > .exprName',
].join(', ');
// `Math` only as Math.x (Math.random is a restricted property): never aliased or indexed by a variable.
const MATH_ALLOWED = [
  'MemberExpression[computed=false] > .object',
  'MemberExpression[computed=false] > .property',
  'Property[computed=false] > .key',
  'TSTypeReference > .typeName',
].join(', ');

const sandboxRules = (home, depth) => {
  const PURE = SANDBOXES[home].pure;
  return {
    'no-restricted-imports': sandboxImports(home, depth),
    'no-restricted-globals': ['error',
      ...['setTimeout', 'setInterval', 'setImmediate', 'queueMicrotask', 'clearTimeout', 'clearInterval', 'clearImmediate'].map((name) => ({ name, message: `${PURE}: no timers; timers run on event time (the partition watermark).` })),
      { name: 'process', message: `${PURE}: no process (env, clock, exit): settings reach the core as arguments.` },
      { name: 'performance', message: `${PURE}: no wall clock; time is event time.` },
      { name: 'Intl', message: `${PURE}: no Intl: the host's locale and time zone differ between machines; use the bank calendar (loyalty/calendar.ts).` },
      { name: 'crypto', message: `${PURE}: no crypto (randomness); ids are derived from the event.` },
      { name: 'fetch', message: `${PURE}: no I/O.` },
      { name: 'Buffer', message: `${PURE}: no Node built-ins.` },
      ...['globalThis', 'global', 'self', 'window'].map((name) => ({ name, message: `${PURE}: no global object (it reaches the clock and I/O around these rules).` })),
      ...['require', 'module', '__dirname', '__filename'].map((name) => ({ name, message: `${PURE}: no CommonJS loading.` })),
      ...['eval', 'Function'].map((name) => ({ name, message: `${PURE}: no code from strings (it runs Date.now() and the rest around these rules).` })),
      { name: 'Temporal', message: `${PURE}: no Temporal (Temporal.Now is the wall clock); time is event time.` },
      ...['WeakRef', 'FinalizationRegistry'].map((name) => ({ name, message: `${PURE}: no garbage-collector-dependent behaviour.` })),
      ...['SharedArrayBuffer', 'Atomics', 'Worker', 'MessageChannel', 'BroadcastChannel'].map((name) => ({ name, message: `${PURE}: no threads; the runtime runs partitions.` })),
    ],
    'no-restricted-properties': ['error',
      { object: 'Math', property: 'random', message: `${PURE}: no randomness; derive from the event (ids, holdouts).` },
      { object: 'crypto', property: 'randomUUID', message: `${PURE}: no randomness; ids are derived from the event.` },
      { object: 'crypto', property: 'getRandomValues', message: `${PURE}: no randomness.` },
      { object: 'performance', property: 'now', message: `${PURE}: no wall clock; time is event time.` },
      { object: 'process', property: 'hrtime', message: `${PURE}: no wall clock; time is event time.` },
    ],
    'no-restricted-syntax': ['error',
      { selector: `Identifier[name='Date']:not(${DATE_ALLOWED})`, message: `${PURE}: Date only as Date.UTC(), Date.parse() or new Date(ms); no Date(), new Date(), Date.now() or aliases: time is event time.` },
      { selector: "NewExpression[callee.name='Date'][arguments.length>1]", message: `${PURE}: new Date(year, month, …) reads the host time zone; use new Date(Date.UTC(year, month, …)).` },
      { selector: "NewExpression[callee.name='Date'] > SpreadElement", message: `${PURE}: new Date(...args) may be new Date(): pass the instant.` },
      { selector: `Identifier[name='Math']:not(${MATH_ALLOWED})`, message: `${PURE}: Math only as Math.x (no aliases, no computed access), so Math.random stays visible.` },
      { selector: 'MemberExpression[property.name=/^(toLocaleString|toLocaleDateString|toLocaleTimeString|localeCompare)$/]', message: `${PURE}: no host locale; compare with < and format explicitly.` },
      { selector: 'MemberExpression[property.name=/^([gs]et(FullYear|Month|Date|Day|Hours|Minutes|Seconds|Milliseconds)|getYear|getTimezoneOffset|toDateString|toTimeString)$/]', message: `${PURE}: no host time zone; use the getUTC… methods and the bank calendar (loyalty/calendar.ts).` },
      { selector: 'ImportExpression', message: `${PURE}: no dynamic import.` },
    ],
  };
};

/** How deep a sandbox's folders may go (the import rules are written per depth). */
const MAX_SANDBOX_DEPTH = 6;

// ---------------------------------------------------------------------------------------------------
// The layers (docs/ARCHITECTURE.md, "Who imports whom"): contracts/ at the bottom, platform/ (logging,
// NATS, the publisher, the local engines) above it, the domain in the middle, app/ (the composition root)
// above the domain, bench/ a client of app/, cli/ on top. Inside the domain, config/schema/ (the policy's
// schemas and parsers) is below scorer/core, and scorer/ imports config/, never the other way round. `layers/imports` resolves every relative import,
// re-export, dynamic import and `import('…')` type against the importing file and reports one that goes
// up; test/unit/folder-lint.test.ts proves each rule. (No cycle between the domain folders:
// test/unit/folder-cycles.test.ts.)
// ---------------------------------------------------------------------------------------------------

const DOMAIN = ['api', 'config', 'config/schema', 'dashboards', 'ingest', 'models', 'scorer/core', 'scorer/runtime', 'simulator', 'sinks', 'training'];
/** Per folder: the only folders it may import (`only`) or the folders it may not (`not`), and why. */
const LAYERS = [
  { from: ['contracts'], only: ['contracts'], why: 'contracts/ is the bottom: the public events and subjects' },
  { from: ['platform'], only: ['platform', 'contracts'], why: 'platform/ is the library below the domain: it imports only contracts/; pass anything else in' },
  { from: ['config/schema'], only: ['config/schema', 'contracts'], why: 'config/schema/ is the pure part of config/ (the policy files\' schemas and parsers, which scorer/core imports): it imports only contracts/' },
  { from: ['scorer/core'], only: ['scorer/core', 'config/schema', 'contracts'], why: 'scorer/core is pure: it imports only config/schema/ (the policy\'s types and parsers) and contracts/' },
  { from: ['config'], not: ['scorer/core', 'scorer/runtime', 'app', 'cli', 'bench'], why: 'config/ hands the scorer its policy: the schemas are config/schema/\'s, and the scorer imports them, never the other way round' },
  { from: DOMAIN, not: ['app', 'cli', 'bench'], why: 'the domain is below the composition root (app/), the benchmarks and the CLI; pass what it needs in from app/' },
  { from: ['app'], not: ['cli', 'bench'], why: 'cli/ runs app/ and bench/, and bench/ uses app/' },
  { from: ['bench'], not: ['cli'], why: 'cli/main.ts runs bench/ as `vafa bench`: a folder cycle; put what both need below them, in app/' },
];

/**
 * Folders whose public surface is their mod.ts: code outside one imports only a mod.ts of it. A sub-folder
 * that is loaded apart has its own: platform/warehouse/mod.ts loads chDB; ingest/iso8583/mod.ts, the
 * switch listener; scorer/runtime/mod.ts loads neither LMDB nor onnxruntime, which scorer/runtime/store/mod.ts
 * (LMDB), scorer/runtime/model/mod.ts (onnxruntime, imported lazily) and scorer/runtime/backfill/mod.ts (it
 * opens the store) do. config/mod.ts reads no file at import (the shipped policy is read on first use);
 * config/schema/mod.ts is the pure part that scorer/core imports.
 */
const SURFACES = ['platform', 'app', 'api', 'config', 'config/schema', 'dashboards', 'ingest', 'models', 'scorer/core', 'scorer/runtime', 'simulator', 'sinks', 'training'];

/** Sub-folders that are folders of their own in the layers (as in folder-cycles.test.ts). */
const SPLIT = ['scorer/core', 'scorer/runtime', 'config/schema'];

/** The folder a repository path belongs to: top level, or one of SPLIT (scorer/core, scorer/runtime, config/schema). */
const folderOf = (rel) => {
  const parts = rel.split('/');
  if (parts.length === 1) return '(root)';
  const two = `${parts[0]}/${parts[1]}`;
  return parts.length > 2 && SPLIT.includes(two) ? two : parts[0];
};

/** The mod.ts nearest to `target` inside the folder `to`: a part loaded apart (scorer/runtime/model/) has its own. */
const surfaceOf = (target, to) => {
  for (let dir = path.posix.dirname(target); dir.length > to.length && dir.startsWith(`${to}/`); dir = path.posix.dirname(dir)) {
    if (existsSync(path.join(import.meta.dirname, dir, 'mod.ts'))) return `${dir}/mod.ts`;
  }
  return `${to}/mod.ts`;
};

const layersPlugin = {
  rules: {
    imports: {
      meta: { type: 'problem', schema: [], docs: { description: 'imports follow the layers (eslint.config.js LAYERS)' } },
      create(context) {
        const file = path.relative(import.meta.dirname, context.filename).split(path.sep).join('/');
        const from = folderOf(file);
        const rule = LAYERS.find((r) => r.from.includes(from));
        if (file.startsWith('..') || file.startsWith('test/')) return {};
        const check = (node, spec) => {
          if (typeof spec !== 'string' || !spec.startsWith('.')) return;
          const target = path.posix.normalize(path.posix.join(path.posix.dirname(file), spec));
          const to = target.startsWith('..') ? '(outside the repository)' : folderOf(target);
          if (to === from) return;
          if (rule && (rule.only ? !rule.only.includes(to) : rule.not.includes(to))) context.report({ node, message: `${from}/ must not import ${to}/ (${rule.why}).` });
          else if (SURFACES.includes(to) && !/\/mod\.(js|ts)$/.test(target)) context.report({ node, message: `import ${to}/ through its public surface, ${surfaceOf(target, to)}, not ${target}.` });
        };
        const text = (n) => (n?.type === 'Literal' ? n.value : n?.type === 'TemplateLiteral' && n.expressions.length === 0 ? n.quasis[0].value.cooked : undefined);
        return {
          ImportDeclaration: (n) => check(n, n.source.value),
          ExportNamedDeclaration: (n) => n.source && check(n, n.source.value),
          ExportAllDeclaration: (n) => check(n, n.source.value),
          ImportExpression: (n) => check(n, text(n.source)),
          TSImportType: (n) => check(n, text(n.source ?? n.argument?.literal)),
          TSExternalModuleReference: (n) => check(n, text(n.expression)),
        };
      },
    },
  },
};

export default tseslint.config(
  { ignores: ['node_modules/**', 'data/**', 'dashboards/public/vendor/**', '**/*.generated.*'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: false }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  // The pure sandboxes (see the top of this file), one block per sandbox and folder depth.
  ...Object.keys(SANDBOXES).flatMap((home) => [
    ...Array.from({ length: MAX_SANDBOX_DEPTH + 1 }, (_, depth) => ({
      files: [`${home}/${'*/'.repeat(depth)}*.ts`],
      rules: sandboxRules(home, depth),
    })),
    { files: [`${home}/${'*/'.repeat(MAX_SANDBOX_DEPTH + 1)}**/*.ts`], rules: { 'no-restricted-syntax': ['error', { selector: 'Program', message: `${home} is at most ${MAX_SANDBOX_DEPTH} folders deep (eslint.config.js MAX_SANDBOX_DEPTH).` }] } },
  ]),
  ...CORE_EXCEPTIONS.map(({ home, files, depth, allow }) => ({ files, rules: { 'no-restricted-imports': sandboxImports(home, depth, allow) } })),
  {
    // No non-null assertion (`x!`) outside test/ (issue 20): a read that a layout guarantees goes through a
    // checked accessor (scorer/core/invariant.ts) or a type that says what is there.
    // test/unit/no-non-null-assertions.test.ts counts them with the compiler too.
    files: ['**/*.ts'],
    ignores: ['test/**'],
    rules: { '@typescript-eslint/no-non-null-assertion': 'error' },
  },
  {
    // The layers (above); tests may import any folder.
    files: ['**/*.ts', '**/*.js', '**/*.mjs'],
    ignores: ['test/**'],
    plugins: { layers: layersPlugin },
    rules: { 'layers/imports': 'error' },
  },
  {
    files: ['**/*.js'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly' } },
  },
);
