/**
 * The inspector page in headless Chromium, served by the built single-node product (`npm start`'s
 * entry point) with RabbitMQ behind it: it streams through the client library the edge serves
 * (/client/events-proxy-client.js, v2) under its strict CSP; bindings from the form and from shared
 * links, messages with their fields, the server's error text, the cap under a burst, the message-list
 * controls, the snippets, resuming through a dropped connection with nothing lost or repeated,
 * coming back after a drain and a restart with the gap shown, and that nothing is requested outside
 * the page's origin. Screenshots (desktop and phone, light and dark) go to .tmp/screenshots/
 * (git-ignored).
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { type Browser, type BrowserContext, type Page, type Request } from 'playwright-core';
import { FaultProxy } from '../../bench/lib/fault-proxy.js';
import { AMQP_URL, needRabbit } from '../support/services.js';
import { freePort, randomId, startService, stopAll, type ServiceProcess } from '../support/processes.js';
import { TestBroker } from '../support/broker.js';
import { launchChromium } from '../support/chromium.js';
import { SseClient, connectUrl } from '../support/sse-client.js';
import { waitUntil } from '../support/wait.js';

const SCREENSHOTS = fileURLToPath(new URL('../../.tmp/screenshots/', import.meta.url));
const WAIT_MS = 15_000;
/** Long enough for the library's backoff over a restart (SSE_RETRY_MS below keeps its floor short). */
const BACK_MS = 40_000;
const V2 = '/api/events/v2/connect/';

describe('e2e: inspector in Chromium', function () {
  this.timeout(90_000);
  const run = randomId();
  const queue = `queue/guest/inspector-${run}`;
  const exchange = `exchange/e2e/${run}/inspector`;
  const other = `exchange/e2e/${run}/inspector-other`;
  let broker: TestBroker;
  let node: ServiceProcess;
  let port: number;
  let browser: Browser;
  let origin: string;
  /** In front of the node for the test that drops the page's connection: pages opened there use it. */
  let proxy: FaultProxy | undefined;
  const env = (): Record<string, string> => ({
    AMQP_URL,
    AMQP_QUEUE: queue,
    REDIS_URL: '',
    DRAIN_SECONDS: '0.2',
    // The `retry:` the library takes as its backoff's floor (1 to 2 s by default): shorter, so a
    // page is back within seconds of a drop.
    SSE_RETRY_MS: '200',
    LOG_LEVEL: 'info',
  });
  /** Every request any page made, console errors and uncaught page errors: checked at the end. */
  const requests: string[] = [];
  const consoleErrors: { text: string; faults: boolean }[] = [];
  const pageErrors: string[] = [];
  const contexts: BrowserContext[] = [];
  /** The origins the pages were opened at: the node's, and the proxy's. */
  const origins: string[] = [];

  before(async () => {
    await needRabbit();
    broker = await TestBroker.connect();
    await broker.topicExchange(exchange);
    await broker.topicExchange(other);
    port = await freePort();
    node = await startService('single-node', env(), { port });
    origin = `http://127.0.0.1:${port}`;
    origins.push(origin);
    browser = await launchChromium();
  });

  afterEach(async () => {
    for (const c of contexts.splice(0)) await c.close();
  });

  after(async () => {
    await browser?.close();
    await proxy?.close();
    await stopAll();
    await broker?.deleteQueue(queue);
    await broker?.close();
  });

  /**
   * Opens the page in a fresh context. `faults`: the test cuts the page's connections, so the
   * browser's own "Failed to load resource: net::ERR_…" lines are expected in its console.
   */
  async function open(
    pathAndQuery = '/',
    opts: {
      width?: number;
      height?: number;
      colorScheme?: 'light' | 'dark';
      at?: string;
      faults?: boolean;
      onRequest?: (r: Request) => void;
    } = {},
  ): Promise<Page> {
    const context = await browser.newContext({
      viewport: { width: opts.width ?? 1280, height: opts.height ?? 800 },
      colorScheme: opts.colorScheme ?? 'light',
      acceptDownloads: true,
    });
    contexts.push(context);
    context.on('request', (r) => {
      requests.push(r.url());
      opts.onRequest?.(r);
    });
    // Every CSP violation is said in the console, whatever Chromium itself logs for it.
    await context.addInitScript(() =>
      document.addEventListener('securitypolicyviolation', (e) =>
        console.error(`CSP violation: ${e.violatedDirective} ${e.blockedURI}`),
      ),
    );
    const page = await context.newPage();
    const faults = opts.faults === true;
    page.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push({ text: m.text(), faults });
    });
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await page.goto(`${opts.at ?? origin}${pathAndQuery}`);
    return page;
  }

  const state = (page: Page, want: string, timeout = WAIT_MS): Promise<unknown> =>
    page
      .waitForFunction((s) => document.getElementById('status')?.dataset.state === s, want, { timeout })
      .catch(async (err: Error) => {
        const now = await page.textContent('#status');
        throw new Error(`the page did not reach state ${want} (status: ${now?.replace(/\s+/g, ' ')})`, {
          cause: err,
        });
      });

  const received = (page: Page, n: number, timeout = WAIT_MS): Promise<unknown> =>
    page
      .waitForFunction((want) => Number(document.getElementById('counts')?.dataset.received) >= want, n, {
        timeout,
      })
      .catch(async (err: Error) => {
        const counts = await page.textContent('#counts');
        throw new Error(`the page did not receive ${n} messages (${counts})`, { cause: err });
      });

  const shown = (page: Page, n: number): Promise<unknown> =>
    page.waitForFunction((want) => document.querySelectorAll('#messages > li').length === want, n, {
      timeout: WAIT_MS,
    });

  /** The list as shown, newest first: a message's routing key, or `gap <from> <to>`. */
  const listed = (page: Page): Promise<string[]> =>
    page.$$eval('#messages > li', (items) =>
      items.map((li) =>
        li.classList.contains('gap')
          ? `gap ${li.querySelector('.gap-from')?.textContent} ${li.querySelector('.gap-to')?.textContent}`
          : String(li.querySelector('.routing-key')?.textContent),
      ),
    );

  /** Records every `data-state` of the status and every detail text from now on, in `window.seen`. */
  const recordStatus = (page: Page): Promise<void> =>
    page.evaluate(() => {
      const seen: string[] = [];
      (window as unknown as { seen: string[] }).seen = seen;
      const status = document.getElementById('status')!;
      // (No named function in here: the test's compiler would wrap it in a helper the page lacks.)
      new MutationObserver(() => {
        const line = `${status.dataset.state}: ${document.getElementById('status-detail')!.textContent}`;
        if (seen[seen.length - 1] !== line) seen.push(line);
      }).observe(status, {
        attributes: true,
        childList: true,
        characterData: true,
        subtree: true,
      });
    });
  const seenStatus = (page: Page): Promise<string[]> =>
    page.evaluate(() => (window as unknown as { seen: string[] }).seen);

  const link = (bindings: [string, string][], field = 'routingKeyPattern'): string =>
    bindings
      .map(
        ([ex, pattern], i) =>
          `bindings[${i}][exchange]=${encodeURIComponent(ex)}&bindings[${i}][${field}]=${encodeURIComponent(pattern)}`,
      )
      .join('&');

  it('loads the client library under its CSP, from this origin, at the version the edge serves', async () => {
    const loaded: { url: string; status: number | undefined; type: string | undefined }[] = [];
    const page = await open('/', {
      onRequest: (r) => {
        if (r.url().includes('/client/')) {
          void r
            .response()
            .then((res) =>
              loaded.push({ url: r.url(), status: res?.status(), type: res?.headers()['content-type'] }),
            );
        }
      },
    });
    // The page's script ran (it fills in the snippets) once its import of the library resolved.
    await page.waitForFunction(() => document.getElementById('js-snippet')?.textContent !== '');
    expect(await page.textContent('#js-snippet')).to.include(
      `import { connect } from "${origin}/client/events-proxy-client.js";`,
    );
    await waitUntil(() => loaded.length > 0, 'the library to load', WAIT_MS);
    const client = await (await fetch(`${origin}/client/events-proxy-client.js`)).text();
    const inspectorJs = await (await fetch(`${origin}/inspector/inspector.js`)).text();
    const version = /from '\.\.\/client\/events-proxy-client\.js\?v=([\w-]+)'/.exec(inspectorJs)?.[1];
    expect(loaded).to.deep.equal([
      {
        url: `${origin}/client/events-proxy-client.js?v=${version}`,
        status: 200,
        type: 'text/javascript; charset=utf-8',
      },
    ]);
    expect(client.length).to.be.greaterThan(1000);
  });

  it('adds a binding from the keyboard and shows a published message with all its fields', async () => {
    const page = await open('/');
    // The exchange field has focus on a page without bindings.
    expect(await page.evaluate(() => document.activeElement?.id)).to.equal('exchange');
    await page.keyboard.type(exchange);
    await page.keyboard.press('Tab');
    await page.keyboard.press('ControlOrMeta+a');
    await page.keyboard.type('task.*');
    await page.keyboard.press('Enter');
    await state(page, 'ready');
    expect(await page.textContent('#bindings'))
      .to.include(exchange)
      .and.to.include('task.*');
    expect(new URL(page.url()).search).to.equal(
      `?bindings[0][exchange]=${exchange}&bindings[0][routingKeyPattern]=task.*`,
    );

    const payload = { taskId: 'fG2Xz', runs: [{ runId: 0, state: 'completed' }], html: '<img src=x>' };
    await broker.publish(exchange, 'task.<b>bold</b>', payload, { cc: ['route.index.a.b', 'other.cc'] });
    await received(page, 1);
    await shown(page, 1);
    const item = await page.$eval('#messages > li', (li) => ({
      time: li.querySelector('time')?.textContent,
      datetime: li.querySelector('time')?.getAttribute('datetime'),
      exchange: li.querySelector('.exchange')?.textContent,
      routingKey: li.querySelector('.routing-key')?.textContent,
      routes: Array.from(li.querySelectorAll('.route')).map((r) => r.textContent),
      markup: li.querySelectorAll('img, b').length,
    }));
    expect(item.time).to.match(/^\d\d:\d\d:\d\d\.\d{3}$/);
    expect(Date.now() - Date.parse(String(item.datetime))).to.be.within(0, 60_000);
    expect(item).to.deep.include({
      exchange,
      routingKey: 'task.<b>bold</b>',
      routes: ['index.a.b'],
      markup: 0, // message content is text, never markup
    });
    // Collapsed until asked; then the payload pretty-printed.
    expect(await page.$('#messages .payload')).to.equal(null);
    await page.focus('#messages > li summary');
    await page.keyboard.press('Enter');
    const pretty = await page.waitForSelector('#messages .payload', { timeout: WAIT_MS });
    expect(await pretty.textContent()).to.equal(JSON.stringify(payload, null, 2));
    // Keyboard focus is visible.
    await page.keyboard.press('Tab');
    const outline = await page.evaluate(
      () => getComputedStyle(document.activeElement as Element).outlineStyle,
    );
    expect(outline).to.equal('solid');
  });

  it("shows the server's error text verbatim when a binding is refused, and offers Reconnect", async () => {
    const missing = `exchange/e2e/${run}/missing`;
    const disallowed = `not-an-exchange/${run}`;
    // What the server says, read straight off the stream.
    const serverSays = async (ex: string): Promise<string> => {
      const bindings = encodeURIComponent(
        JSON.stringify({ bindings: [{ exchange: ex, routingKeyPattern: '#' }] }),
      );
      const body = await (await fetch(`${origin}${V2}?bindings=${bindings}`)).text();
      // A terminal error: `id: -`, so the library stops instead of retrying.
      const data = /^event: error\ndata: (.*)\nid: -$/m.exec(body)?.[1];
      expect(data, body).to.be.a('string');
      return JSON.parse(String(data)) as string;
    };
    for (const ex of [missing, disallowed]) {
      const page = await open(`/?${link([[ex, '#']])}`);
      await state(page, 'closed');
      const text = await serverSays(ex);
      expect(text).to.include(ex);
      expect(await page.textContent('#status-detail')).to.equal(text);
      expect(await page.isVisible('#reconnect')).to.equal(true);
      // Reconnect tries again (a new stream), and is told the same.
      const again = page.waitForRequest((r) => r.url().startsWith(`${origin}${V2}`), { timeout: WAIT_MS });
      await page.click('#reconnect');
      await again;
      await state(page, 'closed');
      expect(await page.textContent('#status-detail')).to.equal(text);
    }
    expect(await serverSays(missing)).to.equal(`Exchange \`${missing}\` does not exist on the broker`);
  });

  it('restores the bindings of shared links in both Taskcluster formats', async () => {
    const cases = [
      `/?${link([
        [exchange, 'a.#'],
        [other, '#'],
      ])}`,
      `/inspector/?${link(
        [
          [exchange, 'a.#'],
          [other, '#'],
        ],
        'pattern',
      )}`,
      // `#` typed as is: the rest of the link is the URL's fragment; the page reads it back.
      `/?bindings[0][exchange]=${exchange}&bindings[0][pattern]=a.#&bindings[1][exchange]=${other}&bindings[1][pattern]=#`,
    ];
    for (const [i, url] of cases.entries()) {
      const page = await open(url);
      await state(page, 'ready');
      const listed = await page.$$eval('#bindings li', (items) =>
        items.map((li) => Array.from(li.querySelectorAll('code')).map((c) => c.textContent)),
      );
      expect(listed, url).to.deep.equal([
        [exchange, 'a.#'],
        [other, '#'],
      ]);
      // The address is rewritten in the page's own format, which any of the tools reads.
      expect(decodeURIComponent(new URL(page.url()).search)).to.equal(
        `?bindings[0][exchange]=${exchange}&bindings[0][routingKeyPattern]=a.#` +
          `&bindings[1][exchange]=${other}&bindings[1][routingKeyPattern]=#`,
      );
      await broker.publish(other, `shared.${i}`, { i });
      await received(page, 1);
      expect(await page.textContent('#messages .routing-key')).to.equal(`shared.${i}`);
    }
  });

  it('keeps at most the cap of messages under a burst of 3,000', async () => {
    const page = await open(`/?${link([[exchange, 'burst.*']])}`);
    await state(page, 'ready');
    expect(await page.inputValue('#cap')).to.equal('1000');
    const burst = Array.from({ length: 3000 }, (_, i) => ({ routingKey: `burst.${i}`, body: { i } }));
    await broker.publishAll(exchange, burst);
    await received(page, 3000, 30_000);
    await shown(page, 1000);
    const ends = await page.evaluate(() => {
      const items = document.querySelectorAll('#messages > li .routing-key');
      return [items[0]?.textContent, items[items.length - 1]?.textContent];
    });
    expect(ends).to.deep.equal(['burst.2999', 'burst.2000']);
    expect(await page.getAttribute('#counts', 'data-kept')).to.equal('1000');
    expect(await page.textContent('#counts')).to.include('2,000 dropped');
  });

  it('filters, pauses, clears and downloads the messages', async () => {
    const page = await open(`/?${link([[exchange, 'f.*']])}`);
    await state(page, 'ready');
    for (const word of ['alpha', 'beta', 'gamma']) await broker.publish(exchange, `f.${word}`, { word });
    await shown(page, 3);
    await page.fill('#filter', 'BETA');
    await shown(page, 1);
    expect(await page.textContent('#messages .routing-key')).to.equal('f.beta');
    await page.fill('#filter', '');
    await shown(page, 3);

    await page.click('#pause');
    expect(await page.getAttribute('#pause', 'aria-pressed')).to.equal('true');
    await broker.publish(exchange, 'f.delta', { word: 'delta' });
    await received(page, 4);
    await page.waitForFunction(() =>
      /1 new message waiting/.test(document.getElementById('paused-note')!.textContent!),
    );
    expect(await page.locator('#messages > li').count()).to.equal(3);
    await page.click('#pause');
    await shown(page, 4);
    expect(await page.textContent('#messages .routing-key')).to.equal('f.delta');

    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download')]);
    expect(download.suggestedFilename()).to.match(/^pulse-messages-.*\.json$/);
    const saved = JSON.parse(readFileSync(String(await download.path()), 'utf8')) as Record<
      string,
      unknown
    >[];
    expect(saved.map((m) => m.routingKey)).to.deep.equal(['f.delta', 'f.gamma', 'f.beta', 'f.alpha']);
    expect(saved[0]).to.include({ exchange, redelivered: false }).and.to.have.property('receivedAt');
    expect(saved[0]?.payload).to.deep.equal({ word: 'delta' });

    await page.click('#clear');
    await shown(page, 0);
    expect(await page.textContent('#counts')).to.equal('No messages yet · 0 received');
  });

  it('gives a curl command and a JavaScript snippet that stream the same bindings', async () => {
    const page = await open(`/?${link([[exchange, 'snippet.*']])}`);
    await state(page, 'ready');
    const curl = String(await page.textContent('#curl-snippet'));
    expect(curl).to.match(new RegExp(`^curl -N '${origin}/api/events/v2/connect/\\?bindings=`));
    const child = spawn('bash', ['-c', curl], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    try {
      await waitFor(
        () => out.includes('event: ready\n'),
        'curl to print ready',
        () => out,
      );
      await broker.publish(exchange, 'snippet.curl', { via: 'curl' });
      await waitFor(
        () => out.includes('"routingKey":"snippet.curl"'),
        'the message in curl',
        () => out,
      );
    } finally {
      child.kill();
    }

    // The JavaScript snippet, run as is as a module in a page of another origin (localhost, not
    // 127.0.0.1: a secure context, so Chromium lets it reach a loopback address; CORS allows both the
    // library's script and the stream).
    const js = String(await page.textContent('#js-snippet'));
    expect(js).to.include(`import { connect } from "${origin}/client/events-proxy-client.js";`);
    expect(js).not.to.include('EventSource');
    const elsewhere = await browser.newContext();
    contexts.push(elsewhere);
    const blank = await elsewhere.newPage();
    const logs: string[] = [];
    blank.on('console', (m) => logs.push(m.text()));
    await blank.goto(`http://localhost:${port}/v1/ping`);
    await blank.addScriptTag({ content: js, type: 'module' });
    await waitFor(
      () => logs.some((l) => l.startsWith('ready')),
      'the snippet to log ready',
      () => logs.join('\n'),
    );
    await broker.publish(exchange, 'snippet.js', { via: 'js' });
    await waitFor(
      () => logs.some((l) => l.includes('snippet.js')),
      'the snippet to log the message',
      () => logs.join('\n'),
    );
  });

  it('resumes through a dropped connection: what was published meanwhile arrives once, in order', async () => {
    proxy = await FaultProxy.start({ host: '127.0.0.1', port });
    const at = `http://127.0.0.1:${proxy.port}`;
    origins.push(at);
    const bindings = [[exchange, 'drop.*']] as [string, string][];
    // Straight to the node: holds the binding, and shows when a message has reached the node.
    const watcher = new SseClient(
      connectUrl(origin, { bindings: [{ exchange, routingKeyPattern: 'drop.*' }] }, V2),
    );
    try {
      await watcher.waitReady(WAIT_MS);
      const connects: Request[] = [];
      const page = await open(`/?${link(bindings)}`, {
        at,
        faults: true,
        onRequest: (r) => {
          if (r.url().startsWith(`${at}${V2}`)) connects.push(r);
        },
      });
      await state(page, 'ready');
      const publish = (from: number, to: number): Promise<void> =>
        broker.publishAll(
          exchange,
          Array.from({ length: to - from }, (_, i) => ({
            routingKey: `drop.${from + i}`,
            body: { i: from + i },
          })),
        );
      await publish(0, 3);
      await received(page, 3);
      await recordStatus(page);

      // The page's connection is cut (RST), and every new one is refused until the heal.
      proxy.reset();
      proxy.refuse();
      await state(page, 'connecting');
      await waitUntil(() => proxy!.stats().refused > 0, 'the page to try again while refused', WAIT_MS);
      await publish(3, 8);
      await watcher.waitFor((c) => c.messages().length >= 8, 'the node to have every message', WAIT_MS);
      const refusedBeforeHeal = proxy.stats().refused;
      proxy.heal();

      await state(page, 'ready', BACK_MS);
      await received(page, 8);
      await publish(8, 9);
      await received(page, 9);
      await shown(page, 9);
      expect(await listed(page)).to.deep.equal(Array.from({ length: 9 }, (_, i) => `drop.${8 - i}`));
      expect(await page.getAttribute('#counts', 'data-received')).to.equal('9');
      expect(await page.getAttribute('#counts', 'data-gaps')).to.equal('0');

      // It resumed by cursor: the connect that got through after the drop sent the last one it had.
      const cursorOf = (key: string): string =>
        watcher.of('message').find((e) => (e.data as { routingKey: string }).routingKey === key)!.lastEventId;
      const sent = await Promise.all(connects.map(async (r) => (await r.allHeaders())['last-event-id']));
      expect(sent[0], 'the first connect').to.equal(undefined);
      expect(sent.slice(1), 'every connect after the drop').to.satisfy((ids: unknown[]) =>
        ids.every((id) => id === cursorOf('drop.2')),
      );
      expect(sent.length).to.be.at.least(2);
      expect(refusedBeforeHeal).to.be.at.least(1);
      // Shown meanwhile: reconnecting with what the library said, never closed, then ready again.
      const seen = await seenStatus(page);
      expect(
        seen.some((l) => l.startsWith('closed')),
        seen.join('\n'),
      ).to.equal(false);
      expect(seen[0]).to.match(/^connecting: .+ \(retrying; it resumes where it left off\)$/);
      expect(seen[seen.length - 1]).to.equal('ready: Receiving messages for 1 binding');
    } finally {
      watcher.close();
    }
  });

  it('comes back on its own after a drain and a restart, and shows the gap the restart left', async () => {
    const page = await open(`/?${link([[exchange, 'drain.*']])}`, { faults: true });
    await state(page, 'ready');
    await broker.publish(exchange, 'drain.before', { back: false });
    await received(page, 1);
    await recordStatus(page);
    await node.stop('SIGTERM');
    await state(page, 'connecting');
    node = await startService('single-node', env(), { port });
    await state(page, 'ready', BACK_MS);
    // The restarted node has no history (memory, no Redis): the page says messages may be missing.
    await page.waitForSelector('#messages > li.gap', { timeout: WAIT_MS });
    await broker.publish(exchange, 'drain.after', { back: true });
    await received(page, 2);
    await shown(page, 3);
    const list = await listed(page);
    expect(list[0]).to.equal('drain.after');
    expect(list[1]).to.match(/^gap \S+ \S+$/);
    expect(list[2]).to.equal('drain.before');
    const [, from, to] = list[1]!.split(' ');
    expect(from).not.to.equal(to);
    expect(await page.getAttribute('#counts', 'data-gaps')).to.equal('1');
    expect(await page.textContent('#counts')).to.include('1 gap');
    expect(await page.textContent('#messages > li.gap')).to.include('Messages may be missing here');
    // Reconnecting meanwhile (a drain ends a v2 stream without an error), never closed.
    const seen = await seenStatus(page);
    expect(
      seen.some((l) => l.startsWith('closed')),
      seen.join('\n'),
    ).to.equal(false);
    expect(seen.some((l) => l.startsWith('connecting: '))).to.equal(true);
    expect(seen[seen.length - 1]).to.equal('ready: Receiving messages for 1 binding');
    expect(await page.isVisible('#reconnect')).to.equal(false);
  });

  it('looks right at desktop and phone width, in light and dark', async () => {
    mkdirSync(SCREENSHOTS, { recursive: true });
    for (const [name, width, height] of [
      ['desktop', 1366, 860],
      ['phone', 390, 844],
    ] as const) {
      for (const colorScheme of ['light', 'dark'] as const) {
        const page = await open(
          `/?${link([
            [exchange, 'shot.#'],
            [other, 'shot.#'],
          ])}`,
          {
            width,
            height,
            colorScheme,
          },
        );
        await state(page, 'ready');
        const runs = [
          { runId: 0, state: 'completed', reasonResolved: 'completed', workerGroup: 'us-east-1' },
        ];
        await broker.publishAll(
          exchange,
          Array.from({ length: 8 }, (_, i) => ({
            routingKey: `shot.primary.task-${i}.completed`,
            body: { status: { taskId: `fG2Xz${i}QTmK`, state: 'completed', runs }, runId: 0, version: 1 },
          })),
        );
        await broker.publish(
          other,
          'shot.cc',
          { note: 'with CC routes' },
          {
            cc: ['route.index.project.latest', 'route.tc-treeherder.v2.try.1f2e3d'],
          },
        );
        await received(page, 9);
        await shown(page, 9);
        await page.click('#messages > li summary');
        // Nothing overflows sideways, and every control has a label.
        const layout = await page.evaluate(() => ({
          overflow: document.documentElement.scrollWidth - window.innerWidth,
          unlabelled: Array.from(document.querySelectorAll('input, select')).filter(
            (e) => (e as HTMLInputElement).labels?.length === 0,
          ).length,
        }));
        expect(layout, `${name} ${colorScheme}`).to.deep.equal({ overflow: 0, unlabelled: 0 });
        await page.evaluate(() => window.scrollTo(0, 0));
        await page.screenshot({ path: path.join(SCREENSHOTS, `inspector-${name}-${colorScheme}.png`) });
      }
    }
  });

  it('requested nothing outside its origin, broke no rule of its CSP and logged no error', () => {
    expect(requests.length).to.be.greaterThan(20);
    const outside = requests.filter(
      (u) => !origins.some((o) => u.startsWith(`${o}/`) || u.startsWith(`blob:${o}/`)),
    );
    expect(outside.filter((u) => u !== 'about:blank')).to.deep.equal([]);
    expect(consoleErrors.filter((e) => /Content Security Policy|Refused to|CSP/i.test(e.text))).to.deep.equal(
      [],
    );
    // Only the pages whose connections a test cut may show the browser's own network failures.
    expect(
      consoleErrors.filter((e) => !(e.faults && /^Failed to load resource: net::ERR_/.test(e.text))),
    ).to.deep.equal([]);
    expect(pageErrors).to.deep.equal([]);
  });
});

async function waitFor(check: () => boolean, what: string, got: () => string): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; got:\n${got()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
