/**
 * The hostile-input corpus (connect-corpus.ts) against a real edge and ingest over the machine's
 * Redis and RabbitMQ. Each case must get its documented answer, with no stack trace or internal
 * path in it; meanwhile a control stream keeps receiving messages, the process stays healthy, and
 * afterwards nothing that was refused holds a broker binding or a Redis key.
 */
import net from 'node:net';
import { expect } from 'chai';
import { bindingKey, parseBindingsQuery } from '@events-proxy/protocol';
import { TestBroker } from '../support/broker.js';
import { randomId } from '../support/processes.js';
import { parseMetrics } from '../support/prometheus.js';
import { needRabbit, needRedis } from '../support/services.js';
import { waitUntil } from '../support/wait.js';
import { RawResponse } from '../edge/raw-http.js';
import { connectCorpus, type Expectation, type HostileCase } from './connect-corpus.js';
import { queueBindings, queuedBindings, redisHoldings } from './leftovers.js';
import { exchange, getRequest, parseEvents, type RawAnswer } from './raw-exchange.js';
import { startRealProxy, type RealProxy } from './real-proxy.js';

const MAX_CONNECTIONS = 20;
const MAX_BINDINGS = 50;
const HEADERS_TIMEOUT_SECONDS = 1;

/** A stack frame, a source or install path: nothing a client should ever see. */
const INTERNALS = /\bat [^\n]*:\d+:\d+|node_modules|\/work\/|\/home\/|\/usr\/|file:\/\/|\.[cm]?[jt]s:\d+/;

describe('hostile input: the connect corpus against a real edge and ingest', function () {
  this.timeout(30_000);
  const id = randomId();
  const ctx = {
    exchange: `exchange/test/hostile/${id}`,
    exchange255Ascii: `exchange/test/hostile/${id}/`.padEnd(255, 'a'),
    exchange255Utf8: '',
    missing: `exchange/test/hostile/${id}/missing`,
    maxBindings: MAX_BINDINGS,
    maxHeaderBytes: 16_384,
    headersTimeoutMs: HEADERS_TIMEOUT_SECONDS * 1000,
  };
  const utf8Prefix = `exchange/test/hostile/${id}/`;
  // 255 bytes: the prefix, then 2-byte characters, then ASCII to make up an odd remainder.
  ctx.exchange255Utf8 =
    utf8Prefix +
    'é'.repeat(Math.floor((255 - utf8Prefix.length) / 2)) +
    'a'.repeat((255 - utf8Prefix.length) % 2);
  const control = { exchange: ctx.exchange, routingKeyPattern: 'control.#' };
  const cases = connectCorpus(ctx);

  let p: RealProxy;
  let broker: TestBroker;
  let controlStream: RawResponse;
  let published = 0;

  const openStreams = () => p.edge.stats().connections;
  const settle = () => waitUntil(() => openStreams() === 1, 'only the control stream to be open', 10_000);

  before(async () => {
    await needRabbit();
    await needRedis();
    expect(Buffer.byteLength(ctx.exchange255Ascii)).to.equal(255);
    expect(Buffer.byteLength(ctx.exchange255Utf8)).to.equal(255);
    broker = await TestBroker.connect();
    for (const name of [ctx.exchange, ctx.exchange255Ascii, ctx.exchange255Utf8])
      await broker.topicExchange(name);
    p = await startRealProxy({
      MAX_CONNECTIONS: String(MAX_CONNECTIONS),
      MAX_BINDINGS_PER_CONNECTION: String(MAX_BINDINGS),
      BINDING_LEASE_SECONDS: '1',
      HEADERS_TIMEOUT_SECONDS: String(HEADERS_TIMEOUT_SECONDS),
      ALLOWED_EXCHANGE_PREFIXES: 'exchange/',
      LOG_LEVEL: 'info',
    });
    controlStream = await RawResponse.open(
      `http://127.0.0.1:${p.port}/api/events/v1/connect/?bindings=${encodeURIComponent(JSON.stringify({ bindings: [control] }))}`,
    );
    await controlStream.waitFor(
      (r) => r.body.startsWith('event: ready\n'),
      'the control stream to be ready',
      15_000,
    );
  });

  after(async () => {
    controlStream?.close();
    await p?.stop();
    if (p) await broker?.deleteQueue(p.ingestConfig.queueName);
    await broker?.close();
  });

  it(`holds at least 80 cases`, () => {
    expect(cases.length).to.be.at.least(80);
    expect(new Set(cases.map((c) => c.name)).size, 'case names are unique').to.equal(cases.length);
  });

  for (const c of cases) {
    it(c.name, async () => {
      const answer = await send(p.port, c);
      expectAnswer(answer, c.expect);
      expect(answer.body, 'no stack trace or internal path').not.to.match(INTERNALS);
      expect(answer.headers).not.to.have.property('x-powered-by');
      await settle();
      const health = await exchange(p.opsPort, getRequest('/healthz', ['Connection: close']));
      expect(health.status, '/healthz').to.equal(200);
      await broker.publish(ctx.exchange, `control.${published}`, { n: published });
      published++;
    });
  }

  it(`answers a flood past MAX_CONNECTIONS (${MAX_CONNECTIONS}) with 503s, then serves again`, async () => {
    const url = `http://127.0.0.1:${p.port}/v1/connect/?bindings=${encodeURIComponent(
      JSON.stringify({ bindings: [{ exchange: ctx.exchange, routingKeyPattern: 'flood.#' }] }),
    )}`;
    const streams = await Promise.all(
      Array.from({ length: MAX_CONNECTIONS - 1 }, () => RawResponse.open(url)),
    );
    try {
      await Promise.all(
        streams.map((s) => s.waitFor((r) => r.body.startsWith('event: ready\n'), 'ready', 15_000)),
      );
      const refused = await Promise.all(
        Array.from({ length: 10 }, () =>
          exchange(p.port, getRequest(new URL(url).pathname + new URL(url).search)),
        ),
      );
      for (const r of refused) {
        expect(r.status).to.equal(503);
        expect(JSON.parse(r.body)).to.include({ code: 'TooManyConnections' });
      }
    } finally {
      for (const s of streams) s.close();
    }
    await settle();
    const again = await exchange(p.port, getRequest(new URL(url).pathname + new URL(url).search), {
      until: (a) => a.body.startsWith('event: ready\n'),
    });
    expect(again.status).to.equal(200);
    await settle();
  });

  it('kept the control stream open and delivered it every message published during the corpus, in order', async () => {
    await controlStream.waitFor(
      (r) => parseEvents(r.body).filter((e) => e.kind === 'message').length === published,
      `${published} messages on the control stream`,
      15_000,
    );
    const events = parseEvents(controlStream.body);
    expect(events[0]!.kind).to.equal('ready');
    const payloads = events
      .filter((e) => e.kind === 'message')
      .map((e) => (e.data as { payload: { n: number } }).payload.n);
    expect(payloads).to.deep.equal(Array.from({ length: published }, (_, i) => i));
    expect(controlStream.ended).to.equal(false);
  });

  it('left no broker binding and no Redis key behind for what it refused, counted every refusal, and logged no error', async () => {
    const queue = p.ingestConfig.queueName;
    // Bindings of accepted cases lapse after their lease (1 s) and the reaper removes them.
    await waitUntil(
      async () => JSON.stringify(await queueBindings(queue)) === JSON.stringify([control]),
      'only the control binding to be left on the broker',
      15_000,
    );
    const keys = await p.keys();
    const { otherKeys, leased } = await redisHoldings(p.redis, p.config.keyPrefix, keys);
    expect(otherKeys, 'keys besides the lease set and the bind queue').to.deep.equal([]);
    expect(leased).to.deep.equal([bindingKey(control)]);
    // Requests the edge refused never reached the control plane: every bind job it holds was valid.
    const limits = { maxBindings: MAX_BINDINGS, allowedExchangePrefixes: ['exchange/'] };
    for (const job of await queuedBindings(p.redis, p.config.keyPrefix, keys)) {
      expect(
        parseBindingsQuery(JSON.stringify({ bindings: [job] }), limits).ok,
        JSON.stringify(job),
      ).to.equal(true);
    }
    // Every refusal of the HTTP layer was counted once, under its reason.
    const want: Record<string, number> = {
      malformed: 0,
      headers_too_large: 0,
      headers_timeout: 0,
      method: 0,
    };
    for (const c of cases) {
      const status = 'status' in c.expect ? c.expect.status : 0;
      const reason = { 431: 'headers_too_large', 408: 'headers_timeout', 405: 'method' }[status];
      if (reason) want[reason]!++;
      else if (status === 400 && 'code' in c.expect && c.expect.code === 'BadRequest') want.malformed!++;
    }
    const metrics = parseMetrics(
      (await exchange(p.opsPort, getRequest('/metrics', ['Connection: close']))).body,
    );
    const counted = Object.fromEntries(
      Object.keys(want).map((reason) => [
        reason,
        metrics.find((m) => m.name === 'events_edge_http_refusals_total' && m.labels.reason === reason)
          ?.value,
      ]),
    );
    expect(counted).to.deep.equal(want);
    const readyz = await exchange(p.opsPort, getRequest('/readyz', ['Connection: close']));
    expect(readyz.status, '/readyz').to.equal(200);
    expect(p.logs.filter((l) => l.level === 'error')).to.deep.equal([]);
  });
});

/** Sends one case, as it says: whole, trickled, or followed by a reset. */
async function send(port: number, c: HostileCase): Promise<RawAnswer> {
  if (c.reset) return sendAndReset(port, c.request, c.reset);
  // A stream never ends by itself: read to its first event. A HEAD answer is its head alone.
  const until =
    'ready' in c.expect
      ? (a: RawAnswer) => a.ended || a.body.includes('\n\n')
      : 'headOnly' in c.expect
        ? (a: RawAnswer) => a.status !== 0
        : undefined;
  return exchange(port, c.request, {
    ...(until ? { until } : {}),
    ...(c.trickle ? { pieces: c.trickle.pieces, gapMs: c.trickle.gapMs } : {}),
    timeoutMs: 15_000,
  });
}

function sendAndReset(
  port: number,
  request: string | Buffer,
  when: 'at-once' | 'after-head',
): Promise<RawAnswer> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    const done = (): void => {
      socket.resetAndDestroy();
      resolve({ status: 0, headers: {}, body: '', ended: false, closed: true });
    };
    socket.on('error', () => undefined);
    socket.write(request, () => {
      if (when === 'at-once') done();
    });
    if (when === 'after-head') socket.once('data', done);
  });
}

function expectAnswer(a: RawAnswer, want: Expectation): void {
  const shown = `status ${a.status}, headers ${JSON.stringify(a.headers)}, body ${JSON.stringify(a.body.slice(0, 300))}`;
  if ('dropped' in want) return;
  if ('headOnly' in want) {
    expect(a.status, shown).to.equal(200);
    expect(a.headers['content-type'], shown).to.equal('text/event-stream');
    expect(a.body, shown).to.equal('');
    return;
  }
  if ('error' in want || 'ready' in want) {
    expect(a.status, shown).to.equal(200);
    expect(a.headers['content-type'], shown).to.equal('text/event-stream');
    const events = parseEvents(a.body);
    if ('ready' in want) {
      expect(
        events.map((e) => e.kind),
        shown,
      ).to.deep.equal(['ready']);
      return;
    }
    expect(a.ended, `the stream ends: ${shown}`).to.equal(true);
    expect(
      events.map((e) => e.kind),
      shown,
    ).to.deep.equal(['error']);
    const text = events[0]!.data;
    expect(text, shown).to.be.a('string');
    if (typeof want.error === 'string') expect(text, shown).to.equal(want.error);
    else expect(text, shown).to.match(want.error);
    return;
  }
  expect(a.status, shown).to.equal(want.status);
  expect(a.ended, `the response ends: ${shown}`).to.equal(true);
  if (want.empty) {
    expect(a.body, shown).to.equal('');
  } else {
    expect(a.headers['content-type'], shown).to.match(/^application\/json/);
    const body = JSON.parse(a.body) as { code?: unknown; message?: unknown; alive?: unknown };
    if (want.code !== undefined) {
      expect(body.code, shown).to.equal(want.code);
      expect(body.message, shown).to.be.a('string');
    }
  }
}

describe('hostile input: requests pipelined on one connection', function () {
  this.timeout(30_000);
  let p: RealProxy;
  let broker: TestBroker;
  const exchangeName = `exchange/test/hostile/${randomId()}/pipelined`;

  before(async () => {
    await needRabbit();
    await needRedis();
    broker = await TestBroker.connect();
    await broker.topicExchange(exchangeName);
    p = await startRealProxy({ BINDING_LEASE_SECONDS: '1' });
  });

  after(async () => {
    await p?.stop();
    if (p) await broker?.deleteQueue(p.ingestConfig.queueName);
    await broker?.close();
  });

  it('serves a connect queued behind a stream once that stream ends, as a stream of its own', async () => {
    const good = `/v1/connect/?bindings=${encodeURIComponent(
      JSON.stringify({ bindings: [{ exchange: exchangeName, routingKeyPattern: '#' }] }),
    )}`;
    const text = await new Promise<string>((resolve, reject) => {
      const socket = net.connect(p.port, '127.0.0.1');
      let got = '';
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`timed out; got ${JSON.stringify(got)}`));
      }, 15_000);
      socket.on('data', (chunk: Buffer) => {
        got += chunk.toString('utf8');
        if (got.includes('event: ready\n')) {
          clearTimeout(timer);
          socket.destroy();
          resolve(got);
        }
      });
      socket.on('error', reject);
      // The first stream ends at once (bad bindings); the second must then get its own stream.
      socket.write(getRequest('/v1/connect/?bindings=%7B') + getRequest(good));
    });
    const [first, second] = text.split(/(?=HTTP\/1\.1 )/);
    expect(first).to.match(/^HTTP\/1\.1 200 /);
    expect(first).to.include('event: error\n');
    expect(second).to.match(/^HTTP\/1\.1 200 /);
    expect(second).to.include('Content-Type: text/event-stream');
    await waitUntil(() => p.edge.stats().connections === 0, 'both streams to be let go', 10_000);
  });
});
