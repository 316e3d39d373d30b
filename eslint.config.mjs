// Lint rules that keep the design's promises checkable: workflows stay deterministic, the
// dependency direction of the design holds (docs/architecture.md, Layout), and no promise is left floating.
import { builtinModules } from 'node:module';
import eslint from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

const nodeBuiltins = [...builtinModules, ...builtinModules.map((m) => `node:${m}`)];

const UP = ['../', '../../', '../../../', '../../../../'];
/** A file may not import any of the project's `folders` (relative paths from any depth). */
const notFrom = (folders, why) =>
  folders.map((f) => ({ group: UP.flatMap((up) => [`${up}${f}`, `${up}${f}/**`]), message: why }));

const GOOGLE = [
  {
    group: ['googleapis', '@google-cloud/*', 'google-auth-library'],
    message: 'only activities/platforms/gcp knows Google Cloud',
  },
];

const ACTIVITY = notFrom(
  ['workflows', 'worker', 'client', 'cli', 'test'],
  'activities import only common/, their engines and their platforms',
);
const PLATFORMS = ['local', 'gcp', 'sim'];
// Boundaries between engines and platforms hold for types too: a type names where code belongs.
const NO_PLATFORM = {
  group: ['**/platforms', '**/platforms/**'],
  message: 'engines use no platform: platforms use engines',
  allowTypeImports: false,
};
const otherEngine = (e) => ({
  group: [`**/${e}`, `**/${e}/**`],
  message: 'one engine does not import another: share through activities/engines/',
  allowTypeImports: false,
});
/** A platform imports no other platform: what two platforms share is an engine's, or the activities'. */
const otherPlatforms = (self) =>
  PLATFORMS.filter((p) => p !== self).map((p) => ({
    group: [`**/${p}`, `**/${p}/**`],
    message: `the ${self} platform does not import the ${p} platform: share through activities/engines/`,
    allowTypeImports: false,
  }));

/**
 * The design's dependency direction: workflows → common; activities → common; platforms → engines;
 * worker → workflows, activities; client → common; cli → client, worker.
 */
const boundaries = {
  'common/**/*.ts': [
    ...notFrom(
      ['workflows', 'activities', 'worker', 'client', 'cli', 'test'],
      'common/ is pure: it imports only common/',
    ),
    { group: nodeBuiltins, message: 'common/ is pure code: no I/O, no Node built-ins' },
    ...GOOGLE,
  ],
  'workflows/**/*.ts': [
    ...notFrom(
      ['activities', 'worker', 'client', 'cli', 'test'],
      'workflows import only common/ (types of activities excepted)',
    ),
    { group: nodeBuiltins, message: 'workflow code runs in a deterministic sandbox: no Node built-ins' },
    ...GOOGLE,
  ],
  'activities/**/*.ts': [...ACTIVITY, ...GOOGLE],
  // The rules below are listed after activities/**, so each replaces it for its folder (flat config:
  // the last matching rule wins): engines use no platform, and no platform imports another.
  'activities/engines/**/*.ts': [...ACTIVITY, ...GOOGLE, NO_PLATFORM],
  'activities/engines/postgres/**/*.ts': [...ACTIVITY, ...GOOGLE, NO_PLATFORM, otherEngine('mysql')],
  'activities/engines/mysql/**/*.ts': [...ACTIVITY, ...GOOGLE, NO_PLATFORM, otherEngine('postgres')],
  'activities/platforms/local/**/*.ts': [...ACTIVITY, ...GOOGLE, ...otherPlatforms('local')],
  'activities/platforms/sim/**/*.ts': [...ACTIVITY, ...GOOGLE, ...otherPlatforms('sim')],
  // The one platform that talks to Google.
  'activities/platforms/gcp/**/*.ts': [...ACTIVITY, ...otherPlatforms('gcp')],
  'worker/**/*.ts': [
    ...notFrom(['client', 'cli', 'test'], 'worker/ does not depend on the client or the CLI'),
    ...GOOGLE,
  ],
  'client/**/*.ts': [
    ...notFrom(
      ['workflows', 'activities', 'worker', 'cli', 'test'],
      'client/ is the library applications import: common/ only',
    ),
    ...GOOGLE,
  ],
  'cli/**/*.ts': [...notFrom(['test', 'demo'], 'the CLI ships; tests and the demo do not'), ...GOOGLE],
};

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', '.tools/', '.local-platform*/', 'bin/'] },
  eslint.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
      globals: { ...globals.node },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': [
        'error',
        // node:test runs what test() registers; its promise is the runner's to await.
        { allowForKnownSafeCalls: [{ from: 'package', name: ['test', 'describe', 'it'], package: 'node:test' }] },
      ],
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: false }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      // Prettier wraps code at 120 but not strings and comments; this catches what it leaves.
      'max-len': ['error', { code: 120, ignoreUrls: true }],
    },
  },
  ...Object.entries(boundaries).map(([files, patterns]) => ({
    files: [files],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        // Type-only imports carry no code: a workflow may name the Activities type (unless a pattern says not).
        { patterns: patterns.map((p) => ({ allowTypeImports: true, ...p })) },
      ],
    },
  })),
  {
    // Determinism: time and randomness come from the workflow's own (replayed) sources.
    files: ['workflows/**/*.ts'],
    rules: {
      'no-restricted-properties': [
        'error',
        // The sandbox replays both, but code that reads like wall-clock time or chance does not
        // belong in a runbook: take time as `new Date()` (workflow time) and ids from uuid4().
        {
          object: 'Date',
          property: 'now',
          message: 'workflow time is new Date(); Date.now() reads like wall-clock time',
        },
        { object: 'Math', property: 'random', message: 'use uuid4() from @temporalio/workflow for ids' },
      ],
      'no-restricted-globals': [
        'error',
        { name: 'setTimeout', message: 'use sleep() from @temporalio/workflow' },
        { name: 'setInterval', message: 'use sleep() in a loop from @temporalio/workflow' },
        { name: 'process', message: 'workflows cannot read the environment' },
      ],
    },
  },
  {
    files: ['eslint.config.mjs'],
    ...tseslint.configs.disableTypeChecked,
  },
);
