import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const ioModules = [
  'node:fs', 'node:fs/promises', 'node:net', 'node:http', 'node:child_process', 'node:worker_threads',
  'fs', 'fs/promises', 'net', 'http', 'child_process',
  '@nats-io/*', 'fastify', '@clickhouse/client', 'onnxruntime-node', 'chdb', 'pino',
];

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
  {
    // The scorer's pure core: no I/O, no wall clock, no randomness. Time is event time.
    files: ['scorer/core/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: ioModules.map((group) => ({ group: [group], message: 'scorer/core is pure: keep I/O at the edges (scorer/runtime, sinks).' })) }],
      'no-restricted-properties': ['error',
        { object: 'Date', property: 'now', message: 'scorer/core uses event time only.' },
        { object: 'Math', property: 'random', message: 'scorer/core is deterministic.' },
        { object: 'performance', property: 'now', message: 'scorer/core uses event time only.' },
      ],
      'no-restricted-syntax': ['error', { selector: "NewExpression[callee.name='Date'][arguments.length=0]", message: 'scorer/core uses event time only.' }],
      'no-restricted-globals': ['error', 'setTimeout', 'setInterval', 'fetch', 'process'],
    },
  },
  {
    files: ['**/*.js'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly' } },
  },
);
