/**
 * The client library across a real cluster: one ingest and three edges (processes) behind a TCP
 * load balancer that follows each edge's /readyz (a Service in front of edge pods), the machine's
 * RabbitMQ and Redis, and a numbered sequence published throughout. An edge is SIGKILLed, then
 * another is drained (SIGTERM): every library client ends with the whole sequence exactly once, in
 * order, with no `gap` and no error the library did not recover from.
 */
import { expect } from 'chai';
import { Redis } from 'ioredis';
import { connect, type EventsProxyStream, type StreamError, type StreamMessage } from '@events-proxy/client';
import { TestBroker } from '../support/broker.js';
import { expectExactlyOnceInOrder } from '../support/delivery-checks.js';
import { report } from '../support/figures.js';
import { randomId, startService, stopAll, type ServiceProcess } from '../support/processes.js';
import { SequencePublisher } from '../support/sequence-publisher.js';
import { AMQP_URL, REDIS_URL, needRabbit, needRedis } from '../support/services.js';
import { TcpBalancer } from '../support/tcp-balancer.js';
import { waitUntil } from '../support/wait.js';

const CLIENTS = 6;

describe('client library across a cluster: an edge killed, another drained', function () {
  this.timeout(90_000);
  const run = randomId();
  const keyPrefix = `client-${run}:`;
  const queue = `queue/guest/client-${run}`;
  const exchange = `exchange/e2e/${run}/client`;
  const env = {
    AMQP_URL,
    REDIS_URL,
    KEY_PREFIX: keyPrefix,
    AMQP_QUEUE: queue,
    SSE_RETRY_MS: '200',
    DRAIN_SECONDS: '1',
    INSPECTOR_ENABLED: 'false',
  };
  let broker: TestBroker;
  let redis: Redis;
  let balancer: TcpBalancer;
  let publisher: SequencePublisher | undefined;
  const edges = new Map<string, ServiceProcess>();
  const streams: EventsProxyStream[] = [];

  before(async () => {
    await needRabbit();
    await needRedis();
    broker = await TestBroker.connect();
    await broker.topicExchange(exchange);
    redis = new Redis(REDIS_URL);
    balancer = await TcpBalancer.start();
    await startService('ingest', env);
    for (let i = 1; i <= 3; i++) {
      const p = await startService('edge', env);
      const name = `edge-${i}`;
      balancer.add(name, p.port);
      balancer.followReadiness(name, `http://127.0.0.1:${p.metricsPort}/readyz`);
      edges.set(name, p);
    }
  });

  after(async () => {
    for (const s of streams.splice(0)) s.close();
    await publisher?.stop();
    await stopAll();
    await balancer?.close();
    await broker?.deleteQueue(queue);
    await broker?.close();
    const keys = await redis?.keys(`${keyPrefix}*`);
    if (keys?.length) await redis.del(...keys);
    redis?.disconnect();
  });

  it('every client gets every message once, in order, through a SIGKILL and a drain', async () => {
    const clients = Array.from({ length: CLIENTS }, () => {
      const stream = connect({ url: balancer.base, bindings: [{ exchange, routingKeyPattern: 'seq.#' }] });
      streams.push(stream);
      const got = { messages: [] as StreamMessage[], errors: [] as StreamError[], readies: 0, gaps: 0 };
      stream.on('message', (m) => got.messages.push(m));
      stream.on('error', (e) => got.errors.push(e));
      stream.on('ready', () => got.readies++);
      stream.on('gap', () => got.gaps++);
      return got;
    });
    await waitUntil(() => clients.every((c) => c.readies === 1), 'every client ready', 20_000);
    publisher = SequencePublisher.start(AMQP_URL, exchange, 'seq', 20);
    const received = (n: number) => clients.every((c) => c.messages.length >= n);
    await waitUntil(() => received(20), '20 messages everywhere', 20_000);

    const killedAt = Date.now();
    const carrying = (except?: string) =>
      balancer.open().find((c) => c.bytesToClient > 0 && c.backend !== undefined && c.backend !== except)!
        .backend!;
    const killed = carrying();
    await edges.get(killed)!.stop('SIGKILL');
    balancer.markDown(killed);
    const afterKill = Math.max(...clients.map((c) => c.messages.length)) + 20;
    await waitUntil(() => received(afterKill), `${afterKill} messages everywhere after the SIGKILL`, 30_000);
    const killRecoveredMs = Date.now() - killedAt;

    const drained = carrying(killed);
    const drainedAt = Date.now();
    const code = await edges.get(drained)!.stop('SIGTERM');
    expect(code, 'exit code after the drain').to.equal(0);
    const afterDrain = Math.max(...clients.map((c) => c.messages.length)) + 20;
    await waitUntil(() => received(afterDrain), `${afterDrain} messages everywhere after the drain`, 30_000);
    const drainRecoveredMs = Date.now() - drainedAt;

    await publisher.stop();
    const last = publisher.lastConfirmed;
    await waitUntil(() => received(last), `all ${last} messages everywhere`, 30_000);
    const expected = Array.from({ length: last }, (_, i) => i + 1);
    for (const [i, c] of clients.entries()) {
      const delivered = c.messages.map((m) => ({ seq: (m.payload as { seq: number }).seq, id: m.cursor }));
      expectExactlyOnceInOrder(expected, delivered, `client ${i}`);
      expect(c.gaps, `client ${i}: gaps`).to.equal(0);
      expect(
        c.errors.filter((e) => e.terminal),
        `client ${i}: terminal errors`,
      ).to.deep.equal([]);
    }
    const resumed = clients.reduce((sum, c) => sum + c.readies - 1, 0);
    expect(resumed, 'streams resumed').to.be.greaterThan(0);
    report('client library across a cluster', {
      clients: CLIENTS,
      published: last,
      lost: 0,
      duplicates: 0,
      resumes: resumed,
      killRecoveredMs,
      drainRecoveredMs,
    });
  });
});
