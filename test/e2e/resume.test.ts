/**
 * v2 resume (DESIGN.md §3b) across real processes: one ingest and three edges behind a TCP load
 * balancer (a Service in front of edge pods), the machine's RabbitMQ and Redis, and clients that
 * are left to reconnect on their own: npm `eventsource`, our client library and Chromium's native
 * EventSource. An edge
 * is SIGKILLed or drained (SIGTERM) under a client receiving a numbered sequence; the client must
 * come back through another edge and end up with every message exactly once, in order. Then the
 * single node without Redis, whose memory history a restart loses (`gap`), and v1 through the
 * same cluster, unchanged. The byte-exact v2 protocol on one edge is in test/edge/resume.test.ts.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { Redis } from 'ioredis';
import type { Browser } from 'playwright-core';
import { connect, type StreamError, type StreamMessage } from '@events-proxy/client';
import { AMQP_URL, REDIS_URL, needRabbit, needRedis } from '../support/services.js';
import { randomId, startService, stopAll, type ServiceProcess } from '../support/processes.js';
import { TestBroker } from '../support/broker.js';
import { SseClient, connectUrl, type Bindings } from '../support/sse-client.js';
import { ResumingSseClient, type StreamEvent } from '../support/resuming-sse-client.js';
import { SequencePublisher, type SequenceRoute } from '../support/sequence-publisher.js';
import { TcpBalancer } from '../support/tcp-balancer.js';
import { deliveryFigures, expectExactlyOnceInOrder, type Delivered } from '../support/delivery-checks.js';
import { report } from '../support/figures.js';
import { metricValue } from '../support/prometheus.js';
import { launchChromium } from '../support/chromium.js';
import { waitUntil } from '../support/wait.js';

const SSE_RETRY_MS = 200;
const PUBLISH_EVERY_MS = 20;
/** Messages each client receives before a fault, and on its new connection after one. */
const SETTLED = 10;
const V2 = '/api/events/v2/connect/';

/**
 * Two bindings, odd and even numbers: every message matches one, every third also the other (by
 * a CC key), so a stream merges two channels and must deliver those once.
 */
function bindingsFor(exchange: string, prefix: string): Bindings {
  return {
    bindings: [
      { exchange, routingKeyPattern: `${prefix}.*.odd` },
      { exchange, routingKeyPattern: `${prefix}.*.even` },
    ],
  };
}

function routeFor(prefix: string): SequenceRoute {
  return (seq) => {
    const [own, other] = seq % 2 === 1 ? ['odd', 'even'] : ['even', 'odd'];
    return {
      routingKey: `${prefix}.${seq}.${own}`,
      ...(seq % 3 === 0 ? { cc: [`${prefix}.${seq}.${other}`] } : {}),
    };
  };
}

/** 1, 2, …, n. */
const upTo = (n: number): number[] => Array.from({ length: n }, (_, i) => i + 1);

interface Payload {
  readonly payload: { readonly seq?: number; readonly end?: boolean };
}

/** The sequence's messages among `events` (not the end marker), with their cursors. */
function delivered(events: readonly StreamEvent[]): Delivered[] {
  return events.flatMap((e) => {
    const seq = e.type === 'message' ? (e.data as Payload).payload.seq : undefined;
    return seq === undefined ? [] : [{ seq, id: e.id, via: `connection ${e.connection}` }];
  });
}

/**
 * The events from the `k`-th `ready` (1-based) up to the next one: what one stream brought. (A
 * connection may also bring no stream at all: a draining edge answers with only a `retry:` field.)
 */
function stream(events: readonly StreamEvent[], k: number): StreamEvent[] {
  const starts = events.flatMap((e, i) => (e.type === 'ready' ? [i] : []));
  return starts[k - 1] === undefined ? [] : events.slice(starts[k - 1], starts[k] ?? events.length);
}

const messagesIn = (events: readonly StreamEvent[], k: number) =>
  stream(events, k).filter((e) => e.type === 'message').length;

/** The `ready` of each stream after the first carries the id of the last event before it. */
function expectResumedFromLastId(events: readonly StreamEvent[], what: string): void {
  const readies = events.filter((e) => e.type === 'ready');
  for (let k = 2; k <= readies.length; k++) {
    const lastBefore = stream(events, k - 1).at(-1)!;
    expect(readies[k - 1]!.id, `${what}: ready ${k} resumes from the id before it`).to.equal(lastBefore.id);
  }
}
const hasEnd = (events: readonly StreamEvent[]) =>
  events.some((e) => e.type === 'message' && (e.data as Payload).payload.end === true);

async function isReady(p: ServiceProcess): Promise<boolean> {
  try {
    const res = await fetch(`http://127.0.0.1:${p.metricsPort}/readyz`, {
      signal: AbortSignal.timeout(1000),
    });
    await res.arrayBuffer();
    return res.status === 200;
  } catch {
    return false;
  }
}

describe('e2e: v2 resume across a cluster behind a load balancer', function () {
  this.timeout(60_000);
  const run = randomId();
  const keyPrefix = `resume-${run}:`;
  const queue = `queue/guest/resume-${run}`;
  const exchange = `exchange/e2e/${run}/resume`;
  const env = {
    AMQP_URL,
    REDIS_URL,
    KEY_PREFIX: keyPrefix,
    AMQP_QUEUE: queue,
    SSE_RETRY_MS: String(SSE_RETRY_MS),
    DRAIN_SECONDS: '1',
  };
  let broker: TestBroker;
  let redis: Redis;
  let balancer: TcpBalancer;
  let publisher: SequencePublisher | undefined;
  /** Edges running and in the balancer, by backend name. */
  const edges = new Map<string, ServiceProcess>();
  let edgeCount = 0;
  const clients: { close(): void }[] = [];

  const startEdge = async () => {
    const name = `edge-${++edgeCount}`;
    const p = await startService('edge', env);
    balancer.add(name, p.port);
    edges.set(name, p);
    return name;
  };

  /** SIGKILL: the balancer drops the backend once the process is gone (as a crashed pod's endpoint goes). */
  const kill = async (name: string) => {
    const p = edges.get(name)!;
    edges.delete(name);
    await p.stop('SIGKILL');
    balancer.markDown(name);
  };

  /**
   * SIGTERM: the edge drains; the balancer drops it as soon as its readiness probe fails, as
   * Kubernetes takes a not-ready pod out of a Service. Returns when it has exited.
   */
  const drain = async (name: string) => {
    const p = edges.get(name)!;
    edges.delete(name);
    const exited = p.stop('SIGTERM');
    await waitUntil(async () => !(await isReady(p)), `${name} to report not ready`, 5000);
    balancer.markDown(name);
    const code = await exited;
    expect(code, `${name} exit code after SIGTERM`).to.equal(0);
  };

  /** Resumes the edges still running have served so far: lossless, with gap, messages replayed. */
  const resumeCounts = async (except?: string) => {
    const sum = { lossless: 0, gap: 0, replayed: 0 };
    for (const [name, p] of edges) {
      if (name === except) continue;
      const text = await p.metrics();
      sum.lossless += metricValue(text, 'events_edge_resumes_total', { result: 'lossless' }) ?? 0;
      sum.gap += metricValue(text, 'events_edge_resumes_total', { result: 'gap' }) ?? 0;
      sum.replayed += metricValue(text, 'events_edge_replayed_messages_total') ?? 0;
    }
    return sum;
  };

  /** Opens a v2 client through the balancer and waits for `ready`; returns it and its backend. */
  const openV2 = async (prefix: string) => {
    const since = Date.now();
    const client = new ResumingSseClient(connectUrl(balancer.base, bindingsFor(exchange, prefix), V2));
    clients.push(client);
    await client.waitReady();
    const carrying = balancer.streamsSince(since);
    expect(carrying, `the new client's streams; all: ${JSON.stringify(balancer.routed)}`).to.have.length(1);
    return { client, backend: carrying[0]!.backend! };
  };

  /** Stops the publisher, then publishes an end marker and waits until every client has it. */
  const finish = async (prefix: string, waitEnd: () => Promise<void>) => {
    await publisher!.stop();
    await broker.publish(exchange, `${prefix}.end.odd`, { end: true });
    await waitEnd();
    return publisher!.lastConfirmed;
  };

  before(async () => {
    await needRabbit();
    await needRedis();
    broker = await TestBroker.connect();
    await broker.topicExchange(exchange);
    redis = new Redis(REDIS_URL);
    balancer = await TcpBalancer.start();
    await startService('ingest', env);
  });

  beforeEach(async () => {
    // Three edges for each test: those a test killed are replaced.
    while (edges.size < 3) await startEdge();
  });

  afterEach(async () => {
    await publisher?.stop();
    publisher = undefined;
    for (const c of clients.splice(0)) c.close();
    await waitUntil(
      () => balancer.open().every((c) => c.bytesToClient === 0),
      "the closed clients' connections to go",
      5000,
    );
  });

  after(async () => {
    await publisher?.stop();
    await stopAll();
    await balancer?.close();
    await broker?.deleteQueue(queue);
    await broker?.close();
    const keys = await redis?.keys(`${keyPrefix}*`);
    if (keys?.length) await redis.del(...keys);
    redis?.disconnect();
  });

  /**
   * Four eventsource clients, two on the edge that is then stopped (round robin over three): those
   * two come back through the others and resume; the other two never notice. Every client ends
   * with the whole sequence, once each, in order, and no `gap`.
   */
  const resumeAfter = async (prefix: string, fault: 'SIGKILL' | 'SIGTERM') => {
    const opened: { client: ResumingSseClient; backend: string }[] = [];
    for (let i = 0; i < 4; i++) opened.push(await openV2(prefix));
    const victim = opened[0]!.backend;
    const hit = opened.filter((o) => o.backend === victim).map((o) => o.client);
    const spared = opened.filter((o) => o.backend !== victim).map((o) => o.client);
    expect(hit, 'clients on the edge to be stopped (round robin over three edges)').to.have.length(2);

    publisher = SequencePublisher.start(AMQP_URL, exchange, routeFor(prefix), PUBLISH_EVERY_MS);
    for (const { client } of opened)
      await client.waitFor(
        (c) => messagesIn(c.events, 1) >= SETTLED,
        `${SETTLED} messages before the ${fault}`,
      );

    const countsBefore = await resumeCounts(victim);
    const faultAt = Date.now();
    if (fault === 'SIGKILL') await kill(victim);
    else await drain(victim);
    for (const c of hit)
      await c.waitFor(
        (x) => messagesIn(x.events, 2) >= SETTLED,
        `${SETTLED} messages on the client's new stream`,
      );
    const last = await finish(prefix, async () => {
      for (const { client } of opened) await client.waitFor((c) => hasEnd(c.events), 'the end marker');
    });

    const expected = upTo(last);
    for (const [i, { client }] of opened.entries()) {
      expectExactlyOnceInOrder(expected, delivered(client.events), `client ${i}`);
      expect(client.of('gap'), `client ${i}: gap events`).to.deep.equal([]);
      expect(client.of('error'), `client ${i}: error events`).to.deep.equal([]);
    }
    for (const c of spared) {
      expect(c.opens, 'a client on another edge: connections').to.have.length(1);
      expect(c.drops, 'a client on another edge: drops').to.deep.equal([]);
    }
    for (const c of hit) {
      // One stream before and one after (a reconnect the draining edge answered without a stream
      // does not count); it resumed from where it was.
      expect(c.of('ready'), 'a client on the stopped edge: streams').to.have.length(2);
      expectResumedFromLastId(c.events, 'a client on the stopped edge');
    }
    // Each came back on another edge, through the balancer.
    const reconnected = balancer.streamsSince(faultAt).map((c) => c.backend);
    expect(reconnected, 'backends of the new connections').to.have.length(hit.length);
    expect(reconnected).to.not.include(victim);

    const countsAfter = await resumeCounts();
    const backAgain = hit.map((c) => stream(c.events, 2).find((e) => e.type === 'message')!.at);
    // What the edges that took the clients over counted.
    const resumes = {
      lossless: countsAfter.lossless - countsBefore.lossless,
      gap: countsAfter.gap - countsBefore.gap,
      replayed: countsAfter.replayed - countsBefore.replayed,
    };
    expect(resumes, 'resumes counted by the edges that took the clients over').to.include({
      lossless: hit.length,
      gap: 0,
    });
    return { last, faultAt, hit, victim, backAgain, replayed: resumes.replayed };
  };

  it('an eventsource client on a SIGKILLed edge resumes through another edge: every message once, in order, no gap', async () => {
    const { last, faultAt, hit, backAgain, replayed } = await resumeAfter('kill', 'SIGKILL');
    report('v2 resume, edge SIGKILL', {
      published: last,
      clients: 4,
      resumed: hit.length,
      lost: 0,
      duplicates: 0,
      gaps: 0,
      receivingAgainAfterKillMs: backAgain.map((t) => t - faultAt).join('/'),
      replayedByOtherEdges: replayed,
    });
  });

  it('an eventsource client on a drained edge (SIGTERM) resumes with no error event: every message once, in order', async () => {
    const { last, faultAt, hit, victim, backAgain, replayed } = await resumeAfter('drain', 'SIGTERM');
    // The drain ended each stream cleanly (no `error` event: checked above), spread over DRAIN_SECONDS.
    const ends = hit.map((c) => c.drops[0]!.at - faultAt);
    report('v2 resume, edge SIGTERM drain', {
      published: last,
      clients: 4,
      resumed: hit.length,
      lost: 0,
      duplicates: 0,
      gaps: 0,
      errorEvents: 0,
      streamsEndedAfterMs: ends.join('/'),
      receivingAgainAfterTermMs: backAgain.map((t) => t - faultAt).join('/'),
      connectsToDrainingEdge: balancer.usedSince(victim, faultAt).length,
      replayedByOtherEdges: replayed,
    });
  });

  it('the client library (@events-proxy/client) resumes through a SIGKILL and then a drain: every message once, in order, no gap', async () => {
    const prefix = 'library';
    const streams = Array.from({ length: 6 }, () => {
      const stream = connect({ url: balancer.base, bindings: bindingsFor(exchange, prefix).bindings });
      clients.push(stream);
      const got = { messages: [] as StreamMessage[], errors: [] as StreamError[], readies: 0, gaps: 0 };
      stream.on('message', (m) => got.messages.push(m));
      stream.on('error', (e) => got.errors.push(e));
      stream.on('ready', () => got.readies++);
      stream.on('gap', () => got.gaps++);
      return got;
    });
    const seqs = (got: (typeof streams)[number]) =>
      got.messages.flatMap((m) => {
        const seq = (m.payload as Payload['payload']).seq;
        return seq === undefined ? [] : [{ seq, id: m.cursor }];
      });
    const everyOneHas = (n: number) => streams.every((c) => seqs(c).length >= n);
    await waitUntil(() => streams.every((c) => c.readies === 1), 'every library client ready', 20_000);
    publisher = SequencePublisher.start(AMQP_URL, exchange, routeFor(prefix), PUBLISH_EVERY_MS);
    await waitUntil(() => everyOneHas(SETTLED), `${SETTLED} messages everywhere`, 20_000);

    /** An edge carrying at least one of the streams. */
    const carrying = (except?: string) =>
      balancer.open().find((c) => c.bytesToClient > 0 && c.backend !== undefined && c.backend !== except)!
        .backend!;
    const receivingAgain = async (what: string) => {
      const target = Math.max(...streams.map((c) => seqs(c).length)) + SETTLED;
      await waitUntil(() => everyOneHas(target), `${target} messages everywhere after the ${what}`, 30_000);
    };
    const killedAt = Date.now();
    const killed = carrying();
    await kill(killed);
    await receivingAgain('SIGKILL');
    const killRecoveredMs = Date.now() - killedAt;
    const drainedAt = Date.now();
    await drain(carrying(killed));
    await receivingAgain('drain');
    const drainRecoveredMs = Date.now() - drainedAt;

    const last = await finish(prefix, () =>
      waitUntil(
        () => streams.every((c) => c.messages.some((m) => (m.payload as Payload['payload']).end === true)),
        'the end marker everywhere',
        30_000,
      ),
    );
    for (const [i, c] of streams.entries()) {
      expectExactlyOnceInOrder(upTo(last), seqs(c), `library client ${i}`);
      expect(c.gaps, `library client ${i}: gaps`).to.equal(0);
      expect(
        c.errors.filter((e) => e.terminal),
        `library client ${i}: terminal errors`,
      ).to.deep.equal([]);
    }
    const resumes = streams.reduce((sum, c) => sum + c.readies - 1, 0);
    expect(resumes, 'streams resumed').to.be.greaterThan(0);
    report('v2 resume, client library through a SIGKILL and a drain', {
      published: last,
      clients: streams.length,
      resumes,
      lost: 0,
      duplicates: 0,
      gaps: 0,
      killRecoveredMs,
      drainRecoveredMs,
    });
  });

  describe('Chromium', () => {
    let browser: Browser | undefined;
    let site: http.Server | undefined;

    after(async () => {
      await browser?.close();
      site?.close();
    });

    it("Chromium's own EventSource resumes after its edge is SIGKILLed, then after the next one is drained", async () => {
      const prefix = 'browser';
      const url = connectUrl(balancer.base, bindingsFor(exchange, prefix), V2);
      site = http.createServer((_req, res) => {
        res.writeHead(200, { 'Content-Type': 'text/html' });
        res.end(pageFor(url));
      });
      await new Promise<void>((resolve) => site!.listen(0, '127.0.0.1', resolve));
      browser = await launchChromium();
      const tab = await browser.newPage();
      clients.push({ close: () => void tab.close() });
      // Another origin than the balancer's: the stream is allowed by CORS (CORS_ORIGINS `*`).
      await tab.goto(`http://localhost:${(site.address() as AddressInfo).port}/`);
      const state = async () => tab.evaluate(() => (window as unknown as { stream: PageStream }).stream);
      const waitPage = async (what: string, check: (s: PageStream) => boolean) => {
        try {
          await waitUntil(async () => check(await state()), what, 15_000);
        } catch (err) {
          const tail = JSON.stringify((await state()).events.slice(-5));
          throw new Error(`${(err as Error).message}; the page's last events: ${tail}`, { cause: err });
        }
      };
      const messagesSince = (k: number) => (s: PageStream) => messagesIn(s.events, k) >= SETTLED;

      await waitPage('ready', (s) => s.events.some((e) => e.type === 'ready'));
      publisher = SequencePublisher.start(AMQP_URL, exchange, routeFor(prefix), PUBLISH_EVERY_MS);
      await waitPage(`${SETTLED} messages`, messagesSince(1));

      const first = balancer.streamingBackend();
      const killedAt = Date.now();
      await kill(first);
      await waitPage('messages after the SIGKILL', messagesSince(2));
      const second = balancer.streamingBackend();
      expect(second).to.not.equal(first);
      const termAt = Date.now();
      await drain(second);
      await waitPage('messages after the drain', messagesSince(3));
      const third = balancer.streamingBackend();
      expect([first, second]).to.not.include(third);
      const last = await finish(prefix, async () => {
        await waitPage('the end marker', (s) => hasEnd(s.events));
      });

      const s = await state();
      expectExactlyOnceInOrder(upTo(last), delivered(s.events), 'the page');
      expect(
        s.events.filter((e) => e.type === 'gap'),
        'gap events',
      ).to.deep.equal([]);
      expect(
        s.events.filter((e) => e.type === 'error'),
        'error events',
      ).to.deep.equal([]);
      expect(
        s.events.filter((e) => e.type === 'ready'),
        'streams',
      ).to.have.length(3);
      expectResumedFromLastId(s.events, 'the page');
      const backAt = (k: number) => stream(s.events, k).find((e) => e.type === 'message')!.at;
      report('v2 resume, Chromium EventSource, SIGKILL then SIGTERM', {
        published: last,
        lost: 0,
        duplicates: 0,
        gaps: 0,
        errorEvents: 0,
        connections: s.opens,
        transportErrors: s.drops,
        receivingAgainAfterKillMs: backAt(2) - killedAt,
        receivingAgainAfterTermMs: backAt(3) - termAt,
      });
    });
  });

  it('v1 through the same cluster is unchanged: id - on every event, 204 on Last-Event-ID', async () => {
    const prefix = 'v1';
    const c = new SseClient(connectUrl(balancer.base, bindingsFor(exchange, prefix)));
    clients.push(c);
    await c.waitReady();
    await broker.publish(exchange, `${prefix}.1.odd`, { seq: 1 });
    await c.waitFor((x) => x.messages().length === 1, 'the message');
    expect(c.events.map((e) => [e.type, e.lastEventId])).to.deep.equal([
      ['ready', '-'],
      ['message', '-'],
    ]);
    for (const lastEventId of ['-', '1700000000000-000001']) {
      const res = await get(connectUrl(balancer.base, bindingsFor(exchange, prefix)), {
        'Last-Event-ID': lastEventId,
      });
      expect(res, `v1 with Last-Event-ID ${lastEventId}`).to.deep.equal({ status: 204, body: '' });
    }
  });
});

describe('e2e: v2 resume on a single node without Redis', function () {
  this.timeout(60_000);
  const run = randomId();
  const queue = `queue/guest/resume-single-${run}`;
  const exchange = `exchange/e2e/${run}/resume-single`;
  let broker: TestBroker;
  let publisher: SequencePublisher | undefined;
  let client: ResumingSseClient | undefined;

  before(async () => {
    await needRabbit();
    broker = await TestBroker.connect();
    await broker.topicExchange(exchange);
  });

  after(async () => {
    await publisher?.stop();
    client?.close();
    await stopAll();
    await broker?.deleteQueue(queue);
    await broker?.close();
  });

  it('a restart loses the memory history: the client resumes on its own, gets gap, then live messages', async () => {
    const prefix = 'single';
    const env = {
      AMQP_URL,
      AMQP_QUEUE: queue,
      REDIS_URL: '',
      SSE_RETRY_MS: String(SSE_RETRY_MS),
      DRAIN_SECONDS: '0',
    };
    const node = await startService('single-node', env);
    client = new ResumingSseClient(connectUrl(node.url(''), bindingsFor(exchange, prefix), V2));
    const c = client;
    await c.waitReady();
    publisher = SequencePublisher.start(AMQP_URL, exchange, routeFor(prefix), PUBLISH_EVERY_MS);
    const pub = publisher;
    await c.waitFor((x) => messagesIn(x.events, 1) >= SETTLED, `${SETTLED} messages`);

    const stoppedAt = Date.now();
    expect(await node.stop('SIGTERM'), 'exit code after SIGTERM').to.equal(0);
    const restarted = await startService('single-node', env, { port: node.port });
    const restartedAt = Date.now();
    await c.waitFor((x) => x.of('gap').length > 0, 'the gap');
    await c.waitFor((x) => messagesIn(x.events, 2) >= SETTLED, `${SETTLED} live messages`);
    await pub.stop();
    await broker.publish(exchange, `${prefix}.end.odd`, { end: true });
    await c.waitFor((x) => hasEnd(x.events), 'the end marker');
    const last = pub.lastConfirmed;

    const first = stream(c.events, 1);
    const resumed = stream(c.events, 2);
    const before = delivered(first);
    const after = delivered(resumed);
    // Up to the restart: every message once, in order.
    expectExactlyOnceInOrder(upTo(before.at(-1)!.seq), before, 'before the restart');
    // The resumed stream: ready, then gap from the cursor it sent to the one it resumes after.
    const [readyAgain, gap] = resumed;
    expect([readyAgain!.type, gap!.type]).to.deep.equal(['ready', 'gap']);
    expect(gap!.data).to.deep.equal({ from: first.at(-1)!.id, to: readyAgain!.id });
    expect(readyAgain!.id > first.at(-1)!.id, 'the restarted node’s cursors are after the old ones').to.equal(
      true,
    );
    // Then live: every message sent after that ready (its binding was then in the restarted node's
    // routing table) and confirmed, once, in order, and nothing older again. One sent before it may
    // have been consumed before the binding was back, and is in the gap.
    const live = pub.confirmed.filter((m) => m.sentAt > readyAgain!.at).map((m) => m.seq);
    expectExactlyOnceInOrder(
      live,
      after.filter((d) => d.seq >= live[0]!),
      'live after the gap',
    );
    const whole = deliveryFigures([], [...before, ...after]);
    expect(whole, 'the whole stream').to.deep.include({
      duplicates: [],
      outOfOrder: 0,
      cursorsNotIncreasing: 0,
    });
    expect(c.of('gap'), 'gap events').to.have.length(1);
    // A client that comes back before the restarted node has reached RabbitMQ is told so with a
    // retryable error: it carries the cursor, so the client retries and still resumes from there.
    const errors = c.of('error');
    for (const e of errors) {
      expect(e.id, `a retryable error's id: ${JSON.stringify(e.data)}`).to.equal(first.at(-1)!.id);
      expect(e.at).to.be.below(readyAgain!.at);
    }
    expect(restarted.logs().some((l) => String(l.msg).includes('in-memory'))).to.equal(true);
    report('v2 resume, single node restarted (memory history)', {
      published: last,
      beforeRestart: before.length,
      afterGap: after.length,
      notDeliveredAcrossGap: last - before.length - after.length,
      duplicates: 0,
      gaps: 1,
      retryableErrorsWhileStarting: errors.length,
      downMs: restartedAt - stoppedAt,
      connectionsOpened: c.opens.length,
      gapAfterRestartMs: gap!.at - restartedAt,
    });
  });
});

/** What the test page records: every event with its id and connection, opens and transport errors. */
interface PageStream {
  readonly events: StreamEvent[];
  readonly opens: number;
  readonly drops: number;
}

/** A page whose native EventSource records everything it receives in `window.stream`. */
function pageFor(streamUrl: string): string {
  return `<!doctype html><html><body><script>
    const stream = { events: [], opens: 0, drops: 0 };
    window.stream = stream;
    const es = new EventSource(${JSON.stringify(streamUrl)});
    es.addEventListener('open', () => stream.opens++);
    for (const type of ['ready', 'message', 'gap', 'ping', 'error']) {
      es.addEventListener(type, (e) => {
        if (type === 'error' && e.data === undefined) {
          stream.drops++;
          return;
        }
        stream.events.push({
          type,
          data: JSON.parse(e.data),
          id: e.lastEventId,
          at: Date.now(),
          connection: stream.opens,
        });
      });
    }
  </script></body></html>`;
}

/** One GET on its own connection (no keep-alive): status and body. */
function get(url: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers, agent: false }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
  });
}
