/**
 * The browser build of the client library (DESIGN.md §3d): within its size budget, and it works.
 */
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';
import { expect } from 'chai';
import type * as Client from '@events-proxy/client';
import { CLIENT_SCRIPT_FILE } from '@events-proxy/edge';
import { startEdge, type TestEdge } from '../edge/harness.js';
import { report } from '../support/figures.js';
import { waitUntil } from '../support/wait.js';

/** DESIGN.md §3d: at most 5 KiB gzipped. */
const BUDGET_GZIP_BYTES = 5 * 1024;

describe('client library: the browser build', () => {
  const source = readFileSync(CLIENT_SCRIPT_FILE);
  let t: TestEdge | undefined;

  afterEach(async () => {
    await t?.stop();
    t = undefined;
  });

  it(`is at most ${BUDGET_GZIP_BYTES} bytes gzipped`, () => {
    const gzipped = gzipSync(source, { level: 9 }).length;
    report('client library browser build', {
      bytes: source.length,
      gzipBytes: gzipped,
      budget: BUDGET_GZIP_BYTES,
    });
    expect(gzipped).to.be.at.most(BUDGET_GZIP_BYTES);
  });

  // That the edge serves these very bytes, and that they import nothing: test/edge/client-script.test.ts.
  it('streams when loaded as a module', async () => {
    t = await startEdge({ INSPECTOR_ENABLED: 'false' });

    // eslint-disable-next-line no-restricted-syntax -- the built file itself, not a package, is what is checked
    const client = (await import(pathToFileURL(CLIENT_SCRIPT_FILE).href)) as typeof Client;
    const b = { exchange: 'exchange/test/browser-build', routingKeyPattern: '#' };
    const stream = client.connect({ url: t.base, bindings: [b] });
    const got: unknown[] = [];
    stream.on('message', (m) => got.push(m.payload));
    try {
      await waitUntil(() => stream.status === 'open', 'the stream to open', 10_000);
      await t.route([b], { hello: 'module' });
      await waitUntil(() => got.length === 1, 'the message', 10_000);
      expect(got).to.deep.equal([{ hello: 'module' }]);
    } finally {
      stream.close();
    }
  });
});
