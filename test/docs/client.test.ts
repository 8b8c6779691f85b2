/**
 * docs/client.md's snippets, run as written against a real edge (in-process, test/edge/harness.ts),
 * with only the edge's address substituted: the page with no build step and the bundled page in
 * Chromium from another origin, the store for UI libraries and the Node program in Node.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { expect } from 'chai';
import { build } from 'esbuild';
import type { Browser } from 'playwright-core';
import { startEdge, type TestEdge } from '../edge/harness.js';
import { launchChromium } from '../support/chromium.js';
import { randomId } from '../support/processes.js';
import { waitUntil } from '../support/wait.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** Inside the repository, so that `@events-proxy/client` resolves from the snippets written here. */
const SCRATCH = path.join(ROOT, '.tmp', `docs-client-${randomId()}`);

/** docs/client.md's code blocks of a language, in order. */
function blocks(lang: string): string[] {
  const text = readFileSync(path.join(ROOT, 'docs/client.md'), 'utf8');
  return [...text.matchAll(new RegExp('^```' + lang + '\\n([\\s\\S]*?)^```$', 'gm'))].map((m) => m[1]!);
}

const TASK_COMPLETED = 'exchange/taskcluster-queue/v1/task-completed';

/** Serves one HTML page (and optionally one script beside it) from an origin of its own. */
async function servePage(html: string, script?: string): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    if (req.url === '/app.js' && script !== undefined) {
      res.writeHead(200, { 'Content-Type': 'text/javascript' }).end(script);
      return;
    }
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' }).end(html);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

describe('docs: the client library snippets of docs/client.md', function () {
  this.timeout(60_000);
  let t: TestEdge;
  let browser: Browser | undefined;
  const cleanups: (() => Promise<void> | void)[] = [];

  before(async () => {
    mkdirSync(SCRATCH, { recursive: true });
    t = await startEdge({ SSE_RETRY_MS: '100', INSPECTOR_ENABLED: 'false' });
  });

  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  after(async () => {
    await browser?.close();
    await t?.stop();
    rmSync(SCRATCH, { recursive: true, force: true });
  });

  const page = async (url: string) => {
    browser ??= await launchChromium();
    const context = await browser.newContext();
    cleanups.push(() => context.close());
    const p = await context.newPage();
    const problems: string[] = [];
    p.on('pageerror', (err) => problems.push(err.message));
    p.on('console', (m) => {
      if (m.type() === 'error') problems.push(m.text());
    });
    await p.goto(url);
    return { p, problems };
  };

  it('a page with no build step: imports the module from the edge and lists messages', async () => {
    const [html] = blocks('html');
    const served = await servePage(html!.replaceAll('https://events.example.com', t.base));
    cleanups.push(() => served.close());
    const { p, problems } = await page(served.url);
    await p.waitForFunction(() => document.title === 'events: open', undefined, { timeout: 20_000 });
    const b = { exchange: TASK_COMPLETED, routingKeyPattern: '#' };
    await t.route([b], { taskId: 'abc' }, 'primary.abc');
    await p.waitForFunction(() => document.querySelectorAll('#messages li').length === 1, undefined, {
      timeout: 10_000,
    });
    expect(await p.locator('#messages li').allTextContents()).to.deep.equal([
      'primary.abc: {"taskId":"abc"}',
    ]);
    expect(problems).to.deep.equal([]);
  });

  it('a page with a bundler: the package bundles (esbuild) and streams with its headers function', async () => {
    const [snippet] = blocks('ts');
    const app = [
      // The application's own functions the snippet calls.
      "const getToken = async () => 'not-checked-with-AUTH_MODE=none';",
      'const render = (m) => (window.rendered ??= []).push(m);',
      snippet!.replaceAll('https://events.example.com', t.base),
    ].join('\n');
    const bundled = await build({
      stdin: { contents: app, loader: 'ts', resolveDir: SCRATCH },
      bundle: true,
      format: 'esm',
      platform: 'browser',
      write: false,
    });
    const served = await servePage(
      '<script type="module" src="/app.js"></script>',
      bundled.outputFiles[0]!.text,
    );
    cleanups.push(() => served.close());
    const { p, problems } = await page(served.url);
    await waitUntil(
      async () => (await t.metric('events_edge_connections')) === 1,
      'the page to connect',
      20_000,
    );
    await waitUntil(
      async () => {
        await t.route([{ exchange: TASK_COMPLETED, routingKeyPattern: 'primary.#' }], { n: 1 }, 'primary.x');
        return p.evaluate(() => ((window as { rendered?: unknown[] }).rendered ?? []).length > 0);
      },
      'a message rendered',
      20_000,
    );
    const first = await p.evaluate(
      () => (window as unknown as { rendered: { payload: unknown }[] }).rendered[0],
    );
    expect(first?.payload).to.deep.equal({ n: 1 });
    expect(problems).to.deep.equal([]);
  });

  it('the store for UI libraries: a new snapshot for each change, subscribers told', async () => {
    const js = blocks('js');
    const storeSnippet = js.find((b) => b.includes('export function messageStore'))!;
    const file = path.join(SCRATCH, 'store.mjs');
    writeFileSync(file, storeSnippet);
    // eslint-disable-next-line no-restricted-syntax -- the snippet, written out above, is the module checked
    const { messageStore } = (await import(pathToFileURL(file).href)) as {
      messageStore: (
        options: object,
        keep?: number,
      ) => {
        subscribe(l: () => void): () => void;
        getSnapshot(): { status: string; messages: { payload: unknown }[] };
        close(): void;
      };
    };
    const b = { exchange: TASK_COMPLETED, routingKeyPattern: '#' };
    const store = messageStore({ url: t.base, bindings: [b] }, 2);
    cleanups.push(() => store.close());
    const seen: unknown[] = [];
    const unsubscribe = store.subscribe(() => seen.push(store.getSnapshot()));
    await waitUntil(() => store.getSnapshot().status === 'open', 'the store to open', 10_000);
    for (const n of [1, 2, 3]) await t.route([b], { n });
    await waitUntil(
      () => store.getSnapshot().messages.length === 2 && seen.length >= 4,
      'three messages',
      10_000,
    );
    expect(store.getSnapshot().messages.map((m) => m.payload)).to.deep.equal([{ n: 2 }, { n: 3 }]);
    expect(new Set(seen).size, 'a new snapshot object for each change').to.equal(seen.length);
    unsubscribe();
  });

  it('the Node program: prints each message with its cursor', async () => {
    const js = blocks('js');
    const nodeSnippet = js.find((b) => b.includes('for await'))!;
    const file = path.join(SCRATCH, 'node.mjs');
    writeFileSync(file, nodeSnippet.replaceAll('http://localhost:8080', t.base));
    let out = '';
    const child: ChildProcess = spawn(process.execPath, [file], { stdio: ['ignore', 'pipe', 'pipe'] });
    cleanups.push(() => void child.kill());
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    const b = { exchange: 'exchange/demo', routingKeyPattern: '#' };
    // The program says nothing when it is ready: publish until it prints (messages before its
    // stream was in place are not its to see).
    const cursors: string[] = [];
    await waitUntil(
      async () => {
        cursors.push((await t.route([b], { hello: 'node' }, 'demo.1')).cursor);
        return out.includes('\n');
      },
      () => `a message printed; output: ${out}`,
      20_000,
    );
    const first = out.split('\n')[0]!;
    const cursor = first.split(' = ')[1]!;
    expect(cursors).to.include(cursor);
    expect(first).to.equal(`demo.1 { hello: 'node' } resume with since = ${cursor}`);
  });
});
