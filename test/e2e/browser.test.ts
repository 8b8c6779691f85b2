/**
 * A real browser: headless Chromium loads a page from another origin whose native EventSource
 * connects to an edge (CORS included) and shows a message published to RabbitMQ.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { type Browser } from 'playwright-core';
import { AMQP_URL, REDIS_URL, needRabbit, needRedis } from '../support/services.js';
import { randomId, startService, stopAll, type ServiceProcess } from '../support/processes.js';
import { TestBroker } from '../support/broker.js';
import { launchChromium } from '../support/chromium.js';

function page(edgeBase: string, exchange: string): string {
  const bindings = encodeURIComponent(JSON.stringify({ bindings: [{ exchange, routingKeyPattern: '#' }] }));
  return `<!doctype html><html><body><ul id="log"></ul><script>
    const log = (kind, text) => {
      const li = document.createElement('li');
      li.className = kind;
      li.textContent = text;
      document.getElementById('log').appendChild(li);
    };
    const es = new EventSource(${JSON.stringify(edgeBase)} + '/api/events/v1/connect/?bindings=${bindings}');
    es.addEventListener('ready', () => log('ready', 'ready'));
    es.addEventListener('message', (e) => log('message', JSON.parse(e.data).payload.text));
    es.addEventListener('error', (e) => log('error', e.data || 'transport error'));
  </script></body></html>`;
}

describe('e2e: a browser receives messages', function () {
  this.timeout(60_000);
  const run = randomId();
  const exchange = `exchange/e2e/${run}/browser`;
  let broker: TestBroker;
  let edge: ServiceProcess;
  let browser: Browser;
  let site: http.Server;

  before(async () => {
    await needRabbit();
    await needRedis();
    broker = await TestBroker.connect();
    await broker.topicExchange(exchange);
    const env = {
      AMQP_URL,
      REDIS_URL,
      KEY_PREFIX: `browser-${run}:`,
      AMQP_QUEUE: `queue/guest/browser-${run}`,
    };
    await startService('ingest', env);
    edge = await startService('edge', env);
    site = http.createServer((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/html' });
      res.end(page(edge.url(''), exchange));
    });
    await new Promise<void>((resolve) => site.listen(0, '127.0.0.1', resolve));
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    site?.close();
    await stopAll();
    await broker?.deleteQueue(`queue/guest/browser-${run}`);
    await broker?.close();
  });

  it('shows a message published to RabbitMQ in the page', async () => {
    const tab = await browser.newPage();
    // The page is served from another origin (another port): the stream must allow it via CORS.
    await tab.goto(`http://localhost:${(site.address() as AddressInfo).port}/`);
    await tab.waitForFunction(() => document.querySelector('#log .ready') !== null, undefined, {
      timeout: 15_000,
    });
    await broker.publish(exchange, 'from.the.broker', { text: `hello browser ${run}` });
    await tab.waitForFunction(() => document.querySelector('#log .message') !== null, undefined, {
      timeout: 15_000,
    });
    const shown = await tab.$$eval('#log li', (items) =>
      items.map((li) => `${li.className}:${li.textContent}`),
    );
    expect(shown).to.deep.equal(['ready:ready', `message:hello browser ${run}`]);
  });
});
