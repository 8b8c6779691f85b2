import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

// The layering of docs/architecture.md ("Layering, enforced"), as no-restricted-imports patterns.
// ESLint does not merge one rule's options across config objects (the last match wins), so every
// file gets one generated list: the rules for all files, its package's layer, and its place in src/.
// test/lint/layering.test.ts feeds deliberate violations through this config.
const DOC = 'docs/architecture.md, "Layering, enforced"';

/** Specifiers that resolve into another package's files rather than its public entry point. */
const PATH_RULES = [
  {
    regex: '^@events-proxy/[^/]+/',
    message: `Import the package itself ('@events-proxy/<pkg>'), never its src/ or dist/ files: packages are used only through their public entry points (${DOC}).`,
  },
  {
    regex: '^\\.\\.?/(.*/)?(libs|services|node_modules)/',
    message: `Nothing imports another package's files by relative path: import '@events-proxy/<pkg>' and export what you need from its index.ts (${DOC}).`,
  },
  {
    // ./../x, a/../b: the other rules read where a relative import points from its leading ../
    regex: '^(\\./\\.\\.?(/|$)|\\.\\.?/(\\.\\./)*((?!\\.\\.?/)[^/]+/)+\\.\\.?(/|$))',
    message: `Write relative imports normalized (no ./.. and no a/../b), so the layering rules can see where they point (${DOC}).`,
  },
];

const NODE_IO = 'fs|net|http|https|http2|child_process|dgram|dns|tls';
const onlyOurs = (...allowed) =>
  allowed.length ? `^@events-proxy/(?!(${allowed.join('|')})(/|$))` : '^@events-proxy/';

/** Per package: what its files must not import, and why. single-node composes everything. */
const LAYERS = {
  'libs/protocol': [
    {
      regex: onlyOurs(),
      message: `libs/protocol is the bottom layer: it imports no other @events-proxy package (${DOC}).`,
    },
    {
      regex: `^(node:)?(${NODE_IO})(/|$)`,
      message: `libs/protocol does no I/O: no file system, network or process modules (${DOC}).`,
    },
    {
      regex: '^(ioredis|amqplib|bullmq|express|prom-client)(/|$)',
      message: `libs/protocol does no I/O: no Redis, AMQP, HTTP or metrics clients (${DOC}).`,
    },
  ],
  'libs/client': [
    {
      regex: onlyOurs(),
      message: `libs/client is one self-contained module for browsers and Node: it imports no other @events-proxy package (${DOC}).`,
    },
    {
      regex:
        '^(node:|(fs|net|http|https|http2|child_process|dgram|dns|tls|os|path|crypto|stream|events|buffer|util)(/|$))',
      message: `libs/client runs in browsers too: no Node modules; fetch, streams and timers only (${DOC}).`,
    },
  ],
  'libs/runtime': [
    {
      regex: onlyOurs('protocol'),
      message: `libs/runtime may import only @events-proxy/protocol of ours (${DOC}).`,
    },
  ],
  'libs/cluster': [
    {
      regex: onlyOurs('protocol', 'runtime'),
      message: `libs/cluster drivers know no role: they import only @events-proxy/protocol and runtime, never edge, ingest or single-node (${DOC}).`,
    },
    {
      regex: '^(amqplib|express)(/|$)',
      message: `libs/cluster drivers know no role: AMQP belongs to ingest, HTTP to edge (${DOC}).`,
    },
  ],
  'services/ingest': [
    {
      regex: onlyOurs('protocol', 'runtime', 'cluster'),
      message: `Edge and ingest never import each other; only services/single-node composes both (${DOC}).`,
    },
    {
      regex: '^express(/|$)',
      message: `services/ingest serves no HTTP API: express belongs to edge (${DOC}).`,
    },
  ],
  'services/edge': [
    {
      regex: onlyOurs('protocol', 'runtime', 'cluster'),
      message: `Edge and ingest never import each other; only services/single-node composes both (${DOC}).`,
    },
    {
      regex: '^amqplib(/|$)',
      message: `services/edge never speaks AMQP: amqplib belongs to ingest (${DOC}).`,
    },
  ],
  'services/single-node': [],
};

/** Deeper files than this under a package's src/ get the deepest rule (see below). */
const MAX_DEPTH = 6;

/**
 * A file `depth` directories below its package's src/ leaves src/ with depth + 1 leading `../`.
 * A package's own *.test.ts may go on to the repository's test/ helpers (depth + 3 `../`).
 */
function staysInSrc(depth, isTest) {
  const up = `(\\.\\./){${depth + 1}}`;
  return {
    regex: isTest ? `^${up}(?!\\.\\./\\.\\./test/)` : `^${up}`,
    message: isTest
      ? `A package's test imports its own src/ by relative path, the repository's test/ helpers, and other packages as '@events-proxy/<pkg>' (${DOC}).`
      : `A package's code imports only its own src/ by relative path; other packages as '@events-proxy/<pkg>' (${DOC}).`,
  };
}

const restricted = (patterns) => ['error', { patterns }];

/** Dynamic import() is not seen by no-restricted-imports: product code has none, elsewhere it is checked here. */
const DYNAMIC_IMPORT_RULES = [
  {
    selector: 'ImportExpression[source.type!="Literal"]',
    message: `Give import() a literal path, so the layering rules can check it (${DOC}).`,
  },
  ...PATH_RULES.map(({ regex, message }) => ({
    selector: `ImportExpression[source.value=/${new RegExp(regex).source}/]`,
    message,
  })),
];

const packageConfigs = Object.entries(LAYERS).flatMap(([pkg, layer]) =>
  [false, true].flatMap((isTest) =>
    Array.from({ length: MAX_DEPTH + 2 }, (_, depth) => {
      const dirs = depth <= MAX_DEPTH ? '*/'.repeat(depth) : `${'*/'.repeat(depth)}**/`;
      return {
        files: [`${pkg}/src/${dirs}${isTest ? '*.test.ts' : '*'}`],
        rules: {
          'no-restricted-imports': restricted([...PATH_RULES, ...layer, staysInSrc(depth, isTest)]),
          'no-restricted-syntax': [
            'error',
            {
              selector: 'ImportExpression',
              message: `Import statically, so the layering rules can check it (${DOC}).`,
            },
          ],
        },
      };
    }),
  ),
);

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', 'bench/results/**', 'bench/**/*.c'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: { ...globals.node },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      // Tests, benchmarks, scripts: other packages only through '@events-proxy/<pkg>'.
      'no-restricted-imports': restricted(PATH_RULES),
      'no-restricted-syntax': ['error', ...DYNAMIC_IMPORT_RULES],
    },
  },
  ...packageConfigs,
  { files: ['**/*.cjs'], rules: { '@typescript-eslint/no-require-imports': 'off' } },
  // The client library runs in browsers and Node: browser globals (its src is also checked above).
  { files: ['libs/client/src/**/*.ts'], languageOptions: { globals: { ...globals.browser } } },
  // The inspector page's script runs in the browser (plain JS, no build step).
  { files: ['services/edge/inspector/**/*.js'], languageOptions: { globals: { ...globals.browser } } },
);
