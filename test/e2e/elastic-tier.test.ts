/**
 * The elastic edge tier (DESIGN.md §3e) with real built processes, the machine's Redis and
 * RabbitMQ, real EventSource clients left to reconnect on their own, and a loopback balancer that
 * routes new connections round robin to the edges answering /readyz 200 (a Kubernetes Service).
 * What must hold: a third edge joining two loaded ones ends within the tolerance of the mean with
 * every v2 client receiving every confirmed message exactly once and in order; a balanced tier then
 * sheds nothing for a minute; v1 streams are never ended; MAX_STREAM_SECONDS rotates v2 streams
 * after a jittered lifetime and loses nothing. Times and counts are printed (figures), not asserted.
 */
import { expect } from 'chai';
import { TestBroker } from '../support/broker.js';
import { expectExactlyOnceInOrder, type Delivered } from '../support/delivery-checks.js';
import { metricValue } from '../support/prometheus.js';
import { randomId, startService, stopAll, type ServiceProcess } from '../support/processes.js';
import { ResumingSseClient, type StreamEvent } from '../support/resuming-sse-client.js';
import { SequencePublisher } from '../support/sequence-publisher.js';
import { AMQP_URL, REDIS_URL, needRabbit } from '../support/services.js';
import { connectUrl } from '../support/sse-client.js';
import { TcpBalancer } from '../support/tcp-balancer.js';
import { waitUntil } from '../support/wait.js';
import { report } from '../support/figures.js';

const V1 = '/api/events/v1/connect/';
const V2 = '/api/events/v2/connect/';
const TOLERANCE = 0.1;

/** The sequence's messages a client received, with the connection that brought each. */
function delivered(c: ResumingSseClient): Delivered[] {
  return c.events.flatMap((e: StreamEvent) => {
    const seq = e.type === 'message' ? (e.data as { payload: { seq?: number } }).payload.seq : undefined;
    return seq === undefined ? [] : [{ seq, id: e.id, via: `connection ${e.connection}` }];
  });
}

const has = (c: ResumingSseClient, seq: number) => delivered(c).some((d) => d.seq === seq);

async function metric(p: ServiceProcess, name: string, labels?: Record<string, string>): Promise<number> {
  return metricValue(await p.metrics(), name, labels) ?? 0;
}

/** Each edge's rebalancing story (episodes, and the seconds it moved streams in), for a failure's message. */
function rebalanceStory(edges: readonly ServiceProcess[]): string {
  return edges
    .map((e, i) => {
      const lines = e
        .logs()
        .filter((l) => /tier mean|rebalancing/.test(String(l.msg)) || l.reason === 'rebalance');
      const perSecond = new Map<string, number>();
      const episodes: string[] = [];
      for (const l of lines) {
        const t = String(l.time).slice(11, 19);
        if (l.reason === 'rebalance') perSecond.set(t, (perSecond.get(t) ?? 0) + 1);
        else episodes.push(`${t} ${String(l.msg)} (${String(l.streams)} streams, mean ${String(l.mean)})`);
      }
      const moves = [...perSecond].map(([t, n]) => `${t}×${n}`).join(' ');
      return `edge ${i}: ${episodes.join('; ')}\n  moved: ${moves}`;
    })
    .join('\n');
}

const streamsOf = (edges: readonly ServiceProcess[]) =>
  Promise.all(edges.map((e) => metric(e, 'events_edge_connections')));

/** Every edge within the tolerance of the mean (at least one stream either way, as the edges allow). */
function balanced(counts: readonly number[]): boolean {
  const mean = counts.reduce((a, b) => a + b, 0) / counts.length;
  const slack = Math.max(mean * TOLERANCE, 1);
  return counts.every((n) => Math.abs(n - mean) <= slack);
}

describe('e2e: an elastic edge tier (§3e)', function () {
  this.timeout(240_000);
  const run = randomId();
  const exchange = `exchange/e2e/${run}/elastic`;
  let broker: TestBroker;
  let balancer: TcpBalancer | undefined;
  let publisher: SequencePublisher | undefined;
  let clients: ResumingSseClient[] = [];
  const queues: string[] = [];

  before(async () => {
    await needRabbit();
    broker = await TestBroker.connect();
    await broker.topicExchange(exchange);
  });

  afterEach(async () => {
    await publisher?.stop();
    publisher = undefined;
    for (const c of clients) c.close();
    clients = [];
    await balancer?.close();
    balancer = undefined;
    await stopAll();
  });

  after(async () => {
    for (const q of queues) await broker?.deleteQueue(q);
    await broker?.close();
  });

  function envFor(name: string, extra: Record<string, string> = {}): Record<string, string> {
    const queue = `queue/guest/e2e-${run}-${name}`;
    queues.push(queue);
    return {
      AMQP_URL,
      REDIS_URL,
      KEY_PREFIX: `e2e-${run}-${name}:`,
      AMQP_QUEUE: queue,
      SSE_RETRY_MS: '200',
      ...extra,
    };
  }

  const open = (base: string, path: string) => {
    const c = new ResumingSseClient(
      connectUrl(base, { bindings: [{ exchange, routingKeyPattern: 'seq.#' }] }, path),
    );
    clients.push(c);
    return c;
  };

  it('a third edge joining two loaded ones: balanced within the tolerance, every v2 message once, v1 left alone; then nothing moves for a minute', async () => {
    const env = envFor('scale-up', {
      REBALANCE_TOLERANCE: String(TOLERANCE),
      REBALANCE_RATE_PER_SECOND: '20',
    });
    await startService('ingest', env);
    const edges = await Promise.all([startService('edge', env), startService('edge', env)]);
    const lb = await TcpBalancer.start();
    balancer = lb;
    const follow = (name: string, e: ServiceProcess) => {
      lb.add(name, e.port);
      lb.followReadiness(name, `http://127.0.0.1:${e.metricsPort}/readyz`);
    };
    follow('a', edges[0]!);
    follow('b', edges[1]!);

    const v2 = Array.from({ length: 90 }, () => open(lb.base, V2));
    const v1 = Array.from({ length: 6 }, () => open(lb.base, V1));
    await Promise.all(clients.map((c) => c.waitReady(30_000)));
    expect(await streamsOf(edges)).to.deep.equal([48, 48]);

    const p = SequencePublisher.start(AMQP_URL, exchange, 'seq', 100);
    publisher = p;
    const from = await p.confirmedFromNow();
    await waitUntil(() => clients.every((c) => has(c, from)), `message ${from} on every client`, 30_000);

    const joinedAt = Date.now();
    const third = await startService('edge', env);
    edges.push(third);
    follow('c', third);
    await waitUntil(async () => balanced(await streamsOf(edges)), 'the three edges balanced', 90_000);
    const balancedAfterMs = Date.now() - joinedAt;
    const atBalance = await streamsOf(edges);

    // Settled (the edges stop moving inside half the tolerance, and the last moves' clients are
    // back: no stream moved for five seconds), then a minute with nothing moved.
    const shedSoFar = () =>
      Promise.all(edges.map((e) => metric(e, 'events_edge_closes_total', { reason: 'rebalance' })));
    let shedBefore = await shedSoFar();
    let quietSince = Date.now();
    await waitUntil(
      async () => {
        const now = await shedSoFar();
        if (now.join() !== shedBefore.join()) [shedBefore, quietSince] = [now, Date.now()];
        return Date.now() - quietSince >= 5_000;
      },
      () => `the edges done moving streams\n${rebalanceStory(edges)}`,
      60_000,
    );
    const settledAfterMs = Date.now() - joinedAt;
    const watchFrom = Date.now();
    const spread: number[][] = [];
    while (Date.now() - watchFrom < 60_000) {
      spread.push(await streamsOf(edges));
      await new Promise((resolve) => setTimeout(resolve, 5_000));
    }
    const shedAfter = await shedSoFar();
    expect(shedAfter, `streams moved in a balanced tier\n${rebalanceStory(edges)}`).to.deep.equal(shedBefore);
    expect(spread.every(balanced), `balanced throughout: ${JSON.stringify(spread)}`).to.equal(true);

    const upTo = await p.confirmedFromNow();
    await waitUntil(() => clients.every((c) => has(c, upTo)), `message ${upTo} on every client`, 30_000);
    const expected = p.confirmed.map((c) => c.seq).filter((q) => q >= from && q <= upTo);
    for (const [i, c] of v2.entries()) {
      const got = delivered(c).filter((d) => d.seq >= from && d.seq <= upTo);
      expectExactlyOnceInOrder(expected, got, `v2 client ${i}`);
    }
    for (const [i, c] of v1.entries()) {
      expect(c.opens.length, `v1 client ${i}: connections (a v1 stream is never moved)`).to.equal(1);
      // v1 events carry no cursor: the sequence itself, once each and in order.
      const got = delivered(c).filter((d) => d.seq >= from && d.seq <= upTo);
      expect(
        got.map((d) => d.seq),
        `v1 client ${i}: messages`,
      ).to.deep.equal(expected);
    }
    expect(await metric(third, 'events_edge_tier_edges')).to.equal(3);

    const moved = v2.filter((c) => c.opens.length > 1).length;
    report('elastic tier: a third edge joins two with 48 streams each', {
      balancedAfterMs,
      settledAfterMs,
      atBalance: atBalance.join('/'),
      shedPerEdge: shedAfter.join('/'),
      clientsMoved: moved,
      idealMoves: 32,
      reconnects: v2.reduce((n, c) => n + c.opens.length - 1, 0),
      spreadOverMinute: spread.map((s) => s.join('/')).join(' '),
      confirmed: expected.length,
      lost: 0,
      duplicates: 0,
    });
  });

  it('MAX_STREAM_SECONDS rotates v2 streams after a jittered lifetime, losing nothing', async () => {
    const env = envFor('lifetime', { MAX_STREAM_SECONDS: '3', REBALANCE_TOLERANCE: '0' });
    await startService('ingest', env);
    const edge = await startService('edge', env);
    const v2 = Array.from({ length: 12 }, () => open(edge.url(''), V2));
    const v1 = open(edge.url(''), V1);
    await Promise.all(clients.map((c) => c.waitReady(30_000)));
    const p = SequencePublisher.start(AMQP_URL, exchange, 'seq', 50);
    publisher = p;
    const from = await p.confirmedFromNow();
    await waitUntil(() => clients.every((c) => has(c, from)), `message ${from} on every client`, 30_000);
    await waitUntil(() => v2.every((c) => c.opens.length >= 4), 'three rotations of every v2 stream', 60_000);
    const upTo = await p.confirmedFromNow();
    await waitUntil(() => clients.every((c) => has(c, upTo)), `message ${upTo} on every client`, 30_000);

    const expected = p.confirmed.map((c) => c.seq).filter((q) => q >= from && q <= upTo);
    const lifetimes: number[] = [];
    for (const [i, c] of v2.entries()) {
      expectExactlyOnceInOrder(
        expected,
        delivered(c).filter((d) => d.seq >= from && d.seq <= upTo),
        `v2 client ${i}`,
      );
      // From one stream's start to its end (the next one opens after the client's retry delay).
      for (let k = 0; k + 1 < c.opens.length && k < c.drops.length; k++) {
        lifetimes.push(c.drops[k]!.at - c.opens[k]!);
      }
    }
    // Never before 0.8 of the lifetime; spread (jittered), not all at once.
    expect(Math.min(...lifetimes), 'shortest lifetime (ms)').to.be.at.least(2_400 - 50);
    const distinct = new Set(lifetimes.map((ms) => Math.round(ms / 100)));
    expect(distinct.size, `distinct lifetimes (100 ms): ${JSON.stringify(lifetimes)}`).to.be.at.least(4);
    // The edge counts each end before its client sees it.
    expect(await metric(edge, 'events_edge_closes_total', { reason: 'max_lifetime' })).to.be.at.least(
      v2.reduce((n, c) => n + c.drops.length, 0),
    );
    expect(v1.opens.length, 'the v1 stream: connections').to.equal(1);
    report('elastic tier: MAX_STREAM_SECONDS=3', {
      rotations: lifetimes.length,
      shortestMs: Math.min(...lifetimes),
      longestMs: Math.max(...lifetimes),
      confirmed: expected.length,
      lost: 0,
      duplicates: 0,
    });
  });
});
