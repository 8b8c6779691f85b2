/**
 * Access control in a real browser (DESIGN.md §3c, docs/security.md "A page on another origin"):
 * headless Chromium loads a page from one origin whose server set the token cookie, and the page's
 * native EventSource streams from an edge on another origin with `withCredentials`. The cookie goes
 * along only with credentials, and the browser lets the page read the stream only when the edge
 * lists its origin. A token that expires ends the stream for good: the browser does not reconnect.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { type Browser, type Page } from 'playwright-core';
import { AMQP_URL, REDIS_URL, needRabbit, needRedis } from '../support/services.js';
import { randomId, startService, stopAll, type ServiceProcess } from '../support/processes.js';
import { TestBroker } from '../support/broker.js';
import { launchChromium } from '../support/chromium.js';
import { hsToken, newSecret } from '../support/tokens.js';

/** The page: opens the stream given in its query, logs every event into #log. */
const PAGE = `<!doctype html><html><body><ul id="log"></ul><script>
  const params = new URLSearchParams(location.search);
  const log = (kind, text) => {
    const li = document.createElement('li');
    li.className = kind;
    li.textContent = text;
    document.getElementById('log').appendChild(li);
  };
  const es = new EventSource(params.get('stream'), { withCredentials: params.get('credentials') === 'yes' });
  window.source = es;
  es.addEventListener('ready', () => log('ready', 'ready'));
  es.addEventListener('message', (e) => log('message', JSON.parse(e.data).payload.text));
  es.addEventListener('error', (e) => log('error', e.data ? JSON.parse(e.data) : 'transport error'));
</script></body></html>`;

describe('e2e: a browser page on another origin streams with a token cookie', function () {
  this.timeout(90_000);
  const run = randomId();
  const exchange = `exchange/e2e/${run}/auth-browser`;
  const secret = newSecret();
  let broker: TestBroker;
  let listed: ServiceProcess;
  let wildcard: ServiceProcess;
  let browser: Browser;
  let site: http.Server;
  let siteOrigin: string;
  /** The cookie the site's server sets with its page: a token from its own login, say. */
  let cookieToken = '';

  before(async () => {
    await needRabbit();
    await needRedis();
    broker = await TestBroker.connect();
    await broker.topicExchange(exchange);
    site = http.createServer((req, res) => {
      res.writeHead(200, {
        'Content-Type': 'text/html',
        // Cookies are not kept apart by port: the page's host sets it, the edge's port receives it.
        ...(cookieToken
          ? { 'Set-Cookie': `events_token=${cookieToken}; Path=/; HttpOnly; SameSite=Lax` }
          : {}),
      });
      res.end(PAGE);
    });
    await new Promise<void>((resolve) => site.listen(0, '127.0.0.1', resolve));
    siteOrigin = `http://localhost:${(site.address() as AddressInfo).port}`;
    const env = {
      AMQP_URL,
      REDIS_URL,
      KEY_PREFIX: `auth-browser-${run}:`,
      AMQP_QUEUE: `queue/guest/auth-browser-${run}`,
      AUTH_MODE: 'jwt',
      AUTH_JWT_SECRET: secret,
    };
    await startService('ingest', env);
    [listed, wildcard] = await Promise.all([
      startService('edge', { ...env, CORS_ORIGINS: `https://elsewhere.example,${siteOrigin}` }),
      startService('edge', { ...env, CORS_ORIGINS: '*' }),
    ]);
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    site?.close();
    await stopAll();
    await broker?.deleteQueue(`queue/guest/auth-browser-${run}`);
    await broker?.close();
  });

  const streamUrl = (edge: ServiceProcess, version = 1): string =>
    `http://localhost:${edge.port}/api/events/v${version}/connect/?bindings=${encodeURIComponent(
      JSON.stringify({ bindings: [{ exchange, routingKeyPattern: '#' }] }),
    )}`;

  /** Opens the page in a fresh browser context (its own cookie jar), with the site setting `token`. */
  async function open(edge: ServiceProcess, credentials: boolean, token: string, version = 1): Promise<Page> {
    cookieToken = token;
    const context = await browser.newContext();
    const tab = await context.newPage();
    const q = new URLSearchParams({
      stream: streamUrl(edge, version),
      credentials: credentials ? 'yes' : 'no',
    });
    await tab.goto(`${siteOrigin}/?${q.toString()}`);
    return tab;
  }

  const shown = (tab: Page): Promise<string[]> =>
    tab.$$eval('#log li', (items) => items.map((li) => `${li.className}:${li.textContent}`));

  const waitShown = (tab: Page, kind: string): Promise<unknown> =>
    tab.waitForFunction((k) => document.querySelector(`#log .${k}`) !== null, kind, { timeout: 15_000 });

  it('receives messages with withCredentials from an edge that lists the origin', async () => {
    const tab = await open(
      listed,
      true,
      await hsToken(secret, ['exchange/e2e/*'], { issuer: null, audience: null }),
    );
    await waitShown(tab, 'ready');
    await broker.publish(exchange, 'from.the.broker', { text: `hello ${run}` });
    await waitShown(tab, 'message');
    expect(await shown(tab)).to.deep.equal(['ready:ready', `message:hello ${run}`]);
    await tab.context().close();
  });

  it('without withCredentials the cookie stays home: the edge says a token is required', async () => {
    const tab = await open(
      listed,
      false,
      await hsToken(secret, ['exchange/e2e/*'], { issuer: null, audience: null }),
    );
    await waitShown(tab, 'error');
    const [first] = await shown(tab);
    expect(first).to.match(/^error:Unauthorized: a token is required/);
    await tab.context().close();
  });

  it('an edge answering Access-Control-Allow-Origin: * is blocked by the browser for a credentialed stream', async () => {
    const tab = await open(
      wildcard,
      true,
      await hsToken(secret, ['exchange/e2e/*'], { issuer: null, audience: null }),
    );
    await waitShown(tab, 'error');
    expect(await shown(tab)).to.deep.equal(['error:transport error']);
    expect(
      await tab.evaluate(() => (window as unknown as { source: EventSource }).source.readyState),
    ).to.equal(2);
    await tab.context().close();
  });

  it('v2: a token that expires ends the stream with its reason, and the browser stays closed', async () => {
    const tab = await open(
      listed,
      true,
      await hsToken(secret, ['exchange/e2e/*'], { issuer: null, audience: null, expiresIn: 5 }),
      2,
    );
    await waitShown(tab, 'ready');
    await waitShown(tab, 'error');
    const log = await shown(tab);
    expect(log[0]).to.equal('ready:ready');
    expect(log[1]).to.match(/^error:Unauthorized: the token expired at /);
    // The error carried `id: -`: the reconnect (with Last-Event-ID: -) gets 204 and the browser stops.
    await tab.waitForFunction(
      () => (window as unknown as { source: EventSource }).source.readyState === 2,
      undefined,
      {
        timeout: 15_000,
      },
    );
    expect((await shown(tab)).filter((l) => l === 'ready:ready')).to.have.length(1);
    await tab.context().close();
  });
});
