/**
 * Links that go silent, not processes that die: a loopback fault proxy (bench/lib/fault-proxy.ts)
 * between one process and Redis or RabbitMQ stops forwarding without a FIN or a reset (a lost node,
 * a partition), or leaves the connections open now dead while new ones pass (a node replaced
 * behind a Service). Real built processes, the machine's Redis and RabbitMQ, numbered confirmed
 * messages, v1 and v2 clients; a loopback balancer that follows each edge's /readyz stands in for
 * a Kubernetes Service. What must hold: no silent link leaves a ready process that delivers
 * nothing, no confirmed message is lost (a repeat only flagged `redelivered`), and a v2 client
 * never misses one without a `gap`. Detection and recovery times are printed, not asserted.
 */
import { expect } from 'chai';
import { FaultProxy } from '../../bench/lib/fault-proxy.js';
import { TestBroker } from '../support/broker.js';
import { metricValue } from '../support/prometheus.js';
import { randomId, startService, stopAll, type ServiceProcess } from '../support/processes.js';
import { ResumingSseClient } from '../support/resuming-sse-client.js';
import { AMQP_URL, REDIS_URL, needRabbit } from '../support/services.js';
import { SseClient, connectUrl } from '../support/sse-client.js';
import { TcpBalancer } from '../support/tcp-balancer.js';
import { waitUntil } from '../support/wait.js';
import { ProcessWatch, SequencePublisher, report } from './support.js';

const V2 = '/api/events/v2/connect/';

interface Received {
  readonly seq: number;
  readonly redelivered: boolean;
}

function received(messages: readonly { payload: { seq?: number }; redelivered?: boolean }[]): Received[] {
  return messages.flatMap((m) =>
    typeof m.payload.seq === 'number' ? [{ seq: m.payload.seq, redelivered: m.redelivered === true }] : [],
  );
}

/**
 * Every confirmed message from `from` to `upTo` arrived, in order of first arrival; a repeat only
 * as a message flagged `redelivered` (the broker's flag, after a consumer gave its deliveries back).
 */
function expectEveryOnce(
  what: string,
  got: readonly Received[],
  confirmed: readonly number[],
  from: number,
  upTo: number,
): void {
  const seen = new Set<number>();
  const unflagged: number[] = [];
  const firsts: number[] = [];
  for (const r of got) {
    if (seen.has(r.seq)) {
      if (!r.redelivered) unflagged.push(r.seq);
      continue;
    }
    seen.add(r.seq);
    firsts.push(r.seq);
  }
  const wanted = confirmed.filter((s) => s >= from && s <= upTo);
  expect(
    wanted.filter((s) => !seen.has(s)),
    `${what}: confirmed messages not delivered`,
  ).to.deep.equal([]);
  expect(unflagged, `${what}: repeats not flagged redelivered`).to.deep.equal([]);
  const inRange = firsts.filter((s) => s >= from && s <= upTo);
  expect(inRange, `${what}: in order`).to.deep.equal([...inRange].sort((a, b) => a - b));
}

async function metric(p: ServiceProcess, name: string, labels?: Record<string, string>): Promise<number> {
  return metricValue(await p.metrics(), name, labels) ?? 0;
}

describe('faults: network links that go silent', function () {
  this.timeout(120_000);
  const run = randomId();
  const exchange = `exchange/faults/${run}/network`;
  let broker: TestBroker;
  const proxies: FaultProxy[] = [];
  const closers: { close(): unknown }[] = [];
  let publisher: SequencePublisher | undefined;
  let watch: ProcessWatch | undefined;
  let balancer: TcpBalancer | undefined;
  let n = 0;

  const proxy = async (url: string): Promise<FaultProxy> => {
    const u = new URL(url);
    const p = await FaultProxy.start({ host: u.hostname, port: Number(u.port || 5672) });
    proxies.push(p);
    return p;
  };
  const envFor = () => {
    n++;
    return {
      AMQP_URL,
      REDIS_URL,
      KEY_PREFIX: `net-${run}-${n}:`,
      AMQP_QUEUE: `queue/guest/net-${run}-${n}`,
      BINDING_LEASE_SECONDS: '10',
      DRAIN_SECONDS: '1',
      SSE_RETRY_MS: '200',
    };
  };
  const bindings = { bindings: [{ exchange, routingKeyPattern: 'seq.#' }] };
  const v2Client = (base: string) => {
    const c = new ResumingSseClient(connectUrl(base, bindings, V2));
    closers.push(c);
    return c;
  };
  const v1Client = (p: ServiceProcess) => {
    const c = new SseClient(connectUrl(p.url(''), bindings));
    closers.push(c);
    return c;
  };
  const v2Seqs = (c: ResumingSseClient) =>
    received(c.messages<{ payload: { seq?: number }; redelivered?: boolean }>());
  const v1Seqs = (c: SseClient) =>
    received(c.messages<{ payload: { seq?: number }; redelivered?: boolean }>());
  const hasSeq = (got: readonly Received[], seq: number) => got.some((r) => r.seq === seq);

  before(async () => {
    await needRabbit();
    broker = await TestBroker.connect();
    await broker.topicExchange(exchange);
  });

  afterEach(async () => {
    await publisher?.stop();
    publisher = undefined;
    await watch?.stop();
    watch = undefined;
    for (const c of closers.splice(0)) c.close();
    await balancer?.close();
    balancer = undefined;
    await stopAll();
    for (const p of proxies.splice(0)) await p.close();
  });

  after(async () => {
    for (let i = 1; i <= n; i++) await broker?.deleteQueue(`queue/guest/net-${run}-${i}`);
    await broker?.close();
  });

  it("an edge's Redis link black-holed: it turns unready, ends its streams after the grace, and v2 clients resume through the other edge with nothing lost", async () => {
    const env = envFor();
    const link = await proxy(REDIS_URL);
    const ingest = await startService('ingest', env);
    const cut = await startService('edge', { ...env, REDIS_URL: link.url() });
    const healthy = await startService('edge', env);
    watch = new ProcessWatch([ingest, cut, healthy]);
    balancer = await TcpBalancer.start();
    balancer.add('cut', cut.port);
    balancer.add('healthy', healthy.port);
    balancer.followReadiness('cut', `http://127.0.0.1:${cut.metricsPort}/readyz`);
    balancer.followReadiness('healthy', `http://127.0.0.1:${healthy.metricsPort}/readyz`);
    const v2 = [
      v2Client(balancer.base),
      v2Client(balancer.base),
      v2Client(balancer.base),
      v2Client(balancer.base),
    ];
    for (const c of v2) await c.waitReady();
    const v1 = v1Client(cut);
    await v1.waitReady(20_000);
    publisher = SequencePublisher.start(AMQP_URL, exchange, 'seq', 20);
    const from = await publisher.confirmedFromNow();
    await waitUntil(
      () => v2.every((c) => hasSeq(v2Seqs(c), from)) && hasSeq(v1Seqs(v1), from),
      'flowing',
      15_000,
    );

    const silentAt = Date.now();
    link.blackhole();
    await waitUntil(() => !watch!.ready(cut), 'the cut edge to report not ready', 15_000);
    const unreadyMs = Date.now() - silentAt;
    await v1.waitFor((c) => c.of('error').length > 0, 'the v1 stream ended with an error', 20_000);
    const v1EndedMs = Date.now() - silentAt;
    const after = await publisher.confirmedFromNow();
    await waitUntil(
      () => v2.every((c) => hasSeq(v2Seqs(c), after)),
      'every v2 client delivering again',
      30_000,
    );
    const deliveringMs = Date.now() - silentAt;
    link.heal();
    const healedAt = Date.now();
    await waitUntil(() => watch!.ready(cut), 'the cut edge ready again', 20_000);
    const readyAgainMs = Date.now() - healedAt;
    const upTo = await publisher.confirmedFromNow();
    await waitUntil(() => v2.every((c) => hasSeq(v2Seqs(c), upTo)), 'the last message', 15_000);

    const confirmed = publisher.confirmed.map((c) => c.seq);
    for (const [i, c] of v2.entries()) {
      expectEveryOnce(`v2 client ${i}`, v2Seqs(c), confirmed, from, upTo);
      expect(c.of('gap'), `v2 client ${i}: gaps`).to.deep.equal([]);
      expect(c.of('error'), `v2 client ${i}: error events`).to.deep.equal([]);
    }
    const moved = v2.filter((c) => c.drops.length > 0);
    expect(moved.length, 'v2 clients that moved off the cut edge').to.be.greaterThan(0);
    expect(v1.of('error')[0]!.data).to.equal('Server lost its message bus; please reconnect');
    expect(await metric(cut, 'events_redis_link_drops_total', { connection: 'bus-sub' })).to.be.greaterThan(
      0,
    );
    expect(await metric(cut, 'events_edge_closes_total', { reason: 'bus_lost' })).to.be.greaterThan(0);
    watch.expectHealthy();
    report('edge redis link black-holed', {
      unreadyAfterMs: unreadyMs,
      v1EndedAfterMs: v1EndedMs,
      v2DeliveringAgainAfterMs: deliveringMs,
      v2ClientsMoved: `${moved.length} of ${v2.length}`,
      readyAgainAfterHealMs: readyAgainMs,
      confirmed: upTo - from + 1,
      lost: 0,
    });
  });

  it("an edge's Redis connections replaced (old ones dead, new ones pass): its streams stay open and catch up from the history, v1 and v2, each message once and in order", async () => {
    const env = { ...envFor(), BUS_LOSS_GRACE_SECONDS: '30' };
    const link = await proxy(REDIS_URL);
    const ingest = await startService('ingest', env);
    const edge = await startService('edge', { ...env, REDIS_URL: link.url() });
    watch = new ProcessWatch([ingest, edge]);
    const v2 = v2Client(edge.url(''));
    const v2b = v2Client(edge.url(''));
    const v1 = v1Client(edge);
    await Promise.all([v2.waitReady(), v2b.waitReady(), v1.waitReady(20_000)]);
    publisher = SequencePublisher.start(AMQP_URL, exchange, 'seq', 20);
    const from = await publisher.confirmedFromNow();
    await waitUntil(
      () => [v2, v2b].every((c) => hasSeq(v2Seqs(c), from)) && hasSeq(v1Seqs(v1), from),
      'flowing',
      15_000,
    );

    const silentAt = Date.now();
    link.stallExisting();
    await waitUntil(
      async () => (await metric(edge, 'events_redis_link_drops_total', { connection: 'bus-sub' })) > 0,
      'the silent subscriber dropped',
      15_000,
    );
    const droppedMs = Date.now() - silentAt;
    const after = await publisher.confirmedFromNow();
    await waitUntil(
      () => [v2, v2b].every((c) => hasSeq(v2Seqs(c), after)) && hasSeq(v1Seqs(v1), after),
      'delivering again',
      20_000,
    );
    const deliveringMs = Date.now() - silentAt;
    const upTo = await publisher.confirmedFromNow();
    await waitUntil(
      () => [v2, v2b].every((c) => hasSeq(v2Seqs(c), upTo)) && hasSeq(v1Seqs(v1), upTo),
      'the last message',
      15_000,
    );

    const confirmed = publisher.confirmed.map((c) => c.seq);
    for (const [what, got] of [
      ['v2 client', v2Seqs(v2)],
      ['second v2 client', v2Seqs(v2b)],
      ['v1 client', v1Seqs(v1)],
    ] as const) {
      expectEveryOnce(what, got, confirmed, from, upTo);
    }
    for (const c of [v2, v2b]) {
      expect(c.drops, 'v2 stream ended').to.deep.equal([]);
      expect(c.of('gap'), 'v2 gaps').to.deep.equal([]);
    }
    expect(v1.of('error'), 'v1 error events').to.deep.equal([]);
    expect(v1.of('ready'), 'v1 streams').to.have.length(1);
    const lossless = await metric(edge, 'events_edge_bus_catch_ups_total', { result: 'lossless' });
    expect(lossless, 'channels caught up from the history').to.be.greaterThan(0);
    const caughtUp = await metric(edge, 'events_edge_bus_catch_up_messages_total');
    const unready = watch.between(edge, silentAt, Date.now()).filter((s) => !s.ready).length;
    watch.expectHealthy();
    report('edge redis connections replaced', {
      subscriberDroppedAfterMs: droppedMs,
      deliveringAgainAfterMs: deliveringMs,
      messagesFromHistory: caughtUp,
      unreadySamples: unready,
      confirmed: upTo - from + 1,
      lost: 0,
      duplicates: 0,
    });
  });

  it("the active ingest's Redis link black-holed: it turns unready, hands the queue to the standby after INGEST_HANDOFF_SECONDS, and nothing confirmed is lost", async () => {
    const env = envFor();
    const link = await proxy(REDIS_URL);
    // Started first, the cut ingest is the single active consumer; the other stands by.
    const cut = await startService('ingest', { ...env, REDIS_URL: link.url() });
    const standby = await startService('ingest', env);
    const edge = await startService('edge', env);
    watch = new ProcessWatch([cut, standby, edge]);
    const v2 = v2Client(edge.url(''));
    const v1 = v1Client(edge);
    await Promise.all([v2.waitReady(), v1.waitReady(20_000)]);
    publisher = SequencePublisher.start(AMQP_URL, exchange, 'seq', 20);
    const from = await publisher.confirmedFromNow();
    await waitUntil(() => hasSeq(v2Seqs(v2), from) && hasSeq(v1Seqs(v1), from), 'flowing', 15_000);
    expect(await metric(standby, 'events_ingest_messages_consumed_total'), 'the standby consumed').to.equal(
      0,
    );

    const silentAt = Date.now();
    link.blackhole();
    await waitUntil(() => !watch!.ready(cut), 'the cut ingest to report not ready', 15_000);
    const unreadyMs = Date.now() - silentAt;
    const after = await publisher.confirmedFromNow();
    await waitUntil(
      () => hasSeq(v2Seqs(v2), after) && hasSeq(v1Seqs(v1), after),
      'delivering through the standby',
      30_000,
    );
    const deliveringMs = Date.now() - silentAt;
    expect(await metric(cut, 'events_ingest_handoffs_total'), 'handoffs').to.equal(1);
    expect(
      await metric(standby, 'events_ingest_messages_consumed_total'),
      'the standby consumed',
    ).to.be.greaterThan(0);
    link.heal();
    const healedAt = Date.now();
    await waitUntil(() => watch!.ready(cut), 'the cut ingest ready again', 20_000);
    const readyAgainMs = Date.now() - healedAt;
    const upTo = await publisher.confirmedFromNow();
    await waitUntil(() => hasSeq(v2Seqs(v2), upTo) && hasSeq(v1Seqs(v1), upTo), 'the last message', 15_000);

    const confirmed = publisher.confirmed.map((c) => c.seq);
    expectEveryOnce('v2 client', v2Seqs(v2), confirmed, from, upTo);
    expectEveryOnce('v1 client', v1Seqs(v1), confirmed, from, upTo);
    expect(v2.drops, 'v2 stream ended').to.deep.equal([]);
    expect(v2.of('gap'), 'v2 gaps').to.deep.equal([]);
    const repeats = v2Seqs(v2).length - new Set(v2Seqs(v2).map((r) => r.seq)).size;
    watch.expectHealthy();
    report('ingest redis link black-holed', {
      unreadyAfterMs: unreadyMs,
      deliveringThroughStandbyAfterMs: deliveringMs,
      readyAgainAfterHealMs: readyAgainMs,
      confirmed: upTo - from + 1,
      lost: 0,
      repeatedFlaggedRedelivered: repeats,
    });
  });

  it("the active ingest's RabbitMQ link black-holed: the heartbeat notices, the standby takes over, and nothing confirmed is lost", async () => {
    const env = envFor();
    const link = await proxy(AMQP_URL);
    const cut = await startService('ingest', { ...env, AMQP_URL: link.rewrite(AMQP_URL) });
    const standby = await startService('ingest', env);
    const edge = await startService('edge', env);
    watch = new ProcessWatch([cut, standby, edge]);
    const v2 = v2Client(edge.url(''));
    await v2.waitReady();
    publisher = SequencePublisher.start(AMQP_URL, exchange, 'seq', 20);
    const from = await publisher.confirmedFromNow();
    await waitUntil(() => hasSeq(v2Seqs(v2), from), 'flowing', 15_000);

    const silentAt = Date.now();
    link.blackhole();
    const after = await publisher.confirmedFromNow();
    await waitUntil(() => hasSeq(v2Seqs(v2), after), 'delivering through the standby', 40_000);
    const deliveringMs = Date.now() - silentAt;
    await waitUntil(() => !watch!.ready(cut), 'the cut ingest to report not ready', 20_000);
    const unreadyMs = Date.now() - silentAt;
    link.heal();
    const healedAt = Date.now();
    await waitUntil(() => watch!.ready(cut), 'the cut ingest ready again', 30_000);
    const readyAgainMs = Date.now() - healedAt;
    const upTo = await publisher.confirmedFromNow();
    await waitUntil(() => hasSeq(v2Seqs(v2), upTo), 'the last message', 15_000);

    const confirmed = publisher.confirmed.map((c) => c.seq);
    expectEveryOnce('v2 client', v2Seqs(v2), confirmed, from, upTo);
    expect(v2.drops, 'v2 stream ended').to.deep.equal([]);
    expect(v2.of('gap'), 'v2 gaps').to.deep.equal([]);
    watch.expectHealthy();
    report('ingest rabbitmq link black-holed', {
      deliveringThroughStandbyAfterMs: deliveringMs,
      unreadyAfterMs: unreadyMs,
      readyAgainAfterHealMs: readyAgainMs,
      confirmed: upTo - from + 1,
      lost: 0,
    });
  });
});
