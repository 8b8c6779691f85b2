// The browser build (DESIGN.md §3d): src/index.ts and eventsource-parser in one minified ES module,
// dist/browser/events-proxy-client.js, which every edge serves at /client/events-proxy-client.js.
// Run by `npm run build` after tsc; esbuild because it bundles TypeScript in ~50 ms with no config.
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

await build({
  entryPoints: [`${root}src/index.ts`],
  outfile: `${root}dist/browser/events-proxy-client.js`,
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: ['es2022'],
  minify: true,
  legalComments: 'inline',
  conditions: ['events-proxy-source'],
  logLevel: 'warning',
});
