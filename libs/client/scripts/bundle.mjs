// The browser build (DESIGN.md §3d): src/index.ts and eventsource-parser in one minified ES module,
// dist/browser/events-proxy-client.js, which every edge serves at /client/events-proxy-client.js.
// Run by `npm run build` after tsc. esbuild bundles the TypeScript in ~50 ms with no config; terser
// then compresses it further than esbuild's minifier does (about 4 % of the gzipped size), which
// keeps the build inside its 5 KiB budget (test/client/browser-build.test.ts).
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { minify } from 'terser';

const root = fileURLToPath(new URL('..', import.meta.url));
const parserLicense = readFileSync(
  fileURLToPath(import.meta.resolve('eventsource-parser/package.json')).replace(/package\.json$/, 'LICENSE'),
  'utf8',
);
const parserCopyright = /^Copyright (\(c\) [^<]*[^<\s])/m.exec(parserLicense)?.[1] ?? '(c) Espen Hovlandsdal';
const outfile = `${root}dist/browser/events-proxy-client.js`;

const bundled = await build({
  entryPoints: [`${root}src/index.ts`],
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: ['es2022'],
  minify: true,
  legalComments: 'none',
  conditions: ['events-proxy-source'],
  logLevel: 'warning',
  write: false,
});
const { code } = await minify(bundled.outputFiles[0].text, {
  module: true,
  ecma: 2022,
  compress: { passes: 3 },
  mangle: true,
  // The parser is bundled in: its MIT notice goes with it.
  format: {
    comments: false,
    preamble: `/*! @events-proxy/client (MPL-2.0) with eventsource-parser (MIT, ${parserCopyright}) */`,
  },
});
mkdirSync(`${root}dist/browser`, { recursive: true });
writeFileSync(outfile, code);
