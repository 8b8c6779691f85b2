/**
 * Both roles' /metrics after real traffic: the values move as the names promise, and every metric
 * the Grafana dashboard queries is exported.
 */
import http from 'node:http';
import { expect } from 'chai';
import amqp from 'amqplib';
import { AMQP_URL, REDIS_URL, needRabbit, needRedis } from '../support/services.js';
import { randomId, startService, stopAll, type ServiceProcess } from '../support/processes.js';
import { SseClient, connectUrl } from '../support/sse-client.js';
import { TestBroker } from '../support/broker.js';
import { metricNames, metricValue } from '../support/prometheus.js';
import { waitUntil } from '../support/wait.js';
import { dashboardMetricNames } from '../deploy/dashboard-metrics.js';

describe('e2e: metrics and health endpoints', function () {
  this.timeout(40_000);
  const run = randomId();
  const queue = `queue/guest/metrics-${run}`;
  const exchange = `exchange/e2e/${run}/metrics`;
  let broker: TestBroker;
  let ingest: ServiceProcess;
  let edge: ServiceProcess;
  const clients: SseClient[] = [];
  const value = async (p: ServiceProcess, name: string, labels?: Record<string, string>) =>
    metricValue(await p.metrics(), name, labels) ?? 0;

  before(async () => {
    await needRabbit();
    await needRedis();
    broker = await TestBroker.connect();
    await broker.topicExchange(exchange);
    const env = { AMQP_URL, REDIS_URL, KEY_PREFIX: `metrics-${run}:`, AMQP_QUEUE: queue };
    ingest = await startService('ingest', env);
    edge = await startService('edge', {
      ...env,
      IDLE_TIMEOUT_SECONDS: '2',
      MAX_CONNECTIONS: '2',
      PING_INTERVAL_SECONDS: '1',
    });
  });

  after(async () => {
    for (const c of clients) c.close();
    await stopAll();
    await broker?.deleteQueue(queue);
    await broker?.close();
  });

  it('reports connections, deliveries, lag, time to ready and ingest counts after real traffic', async () => {
    const c = new SseClient(connectUrl(edge.url(''), { bindings: [{ exchange, routingKeyPattern: 'm.#' }] }));
    clients.push(c);
    await c.waitReady();
    expect(await value(edge, 'events_edge_connections')).to.equal(1);
    expect(await value(edge, 'events_edge_connections_total')).to.equal(1);
    expect(await value(edge, 'events_edge_ready_seconds_count')).to.equal(1);
    expect(await value(edge, 'events_edge_bus_subscriptions')).to.equal(1);
    expect(await value(ingest, 'events_ingest_bindings')).to.equal(1);
    expect(await value(ingest, 'events_ingest_bind_requests_total', { result: 'ok' })).to.equal(1);

    await broker.publish(exchange, 'm.1', { n: 1 });
    await c.waitFor((x) => x.messages().length === 1, 'the message');
    await waitUntil(
      async () => (await value(edge, 'events_edge_messages_sent_total')) === 1,
      'messages_sent 1',
      5_000,
    );
    expect(await value(edge, 'events_edge_bytes_sent_total')).to.be.greaterThan(100);
    expect(await value(edge, 'events_edge_delivery_lag_seconds_count')).to.equal(1);
    expect(await value(ingest, 'events_ingest_messages_consumed_total')).to.equal(1);
    expect(await value(ingest, 'events_ingest_frames_published_total')).to.equal(1);
  });

  it('counts messages no binding matches', async () => {
    // Straight into the shared queue through the default exchange: consumed, matched by nothing.
    const conn = await amqp.connect(AMQP_URL);
    const ch = await conn.createConfirmChannel();
    ch.sendToQueue(queue, Buffer.from('{}'));
    await ch.waitForConfirms();
    await conn.close();
    await waitUntil(
      async () => (await value(ingest, 'events_ingest_messages_unmatched_total')) === 1,
      'unmatched 1',
      5_000,
    );
  });

  it('counts an idle closure both by reason and in the plain idle counter', async () => {
    const c = clients[0]!;
    await c.waitFor((x) => x.of('error').length === 1, 'the idle error', 6_000);
    expect(c.of('error')[0]!.data).to.equal('No messages received for 2s. Aborting...');
    await waitUntil(
      async () => (await value(edge, 'events_edge_connections')) === 0,
      'no open connections',
      5_000,
    );
    expect(await value(edge, 'events_edge_closes_total', { reason: 'idle' })).to.equal(1);
    expect(await value(edge, 'events_edge_idle_closures_total')).to.equal(1);
  });

  it('counts a connection rejected at MAX_CONNECTIONS with its reason', async () => {
    const url = connectUrl(edge.url(''), { bindings: [{ exchange, routingKeyPattern: 'm.#' }] });
    const a = new SseClient(url);
    const b = new SseClient(url);
    clients.push(a, b);
    await a.waitReady();
    await b.waitReady();
    const status = await new Promise<number>((resolve, reject) =>
      http
        .get(url, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        })
        .once('error', reject),
    );
    expect(status).to.equal(503);
    expect(
      await value(edge, 'events_edge_connections_rejected_total', { reason: 'max_connections' }),
    ).to.equal(1);
  });

  it('reports broker and Redis connection state, health and readiness', async () => {
    expect(await value(ingest, 'events_amqp_connected')).to.equal(1);
    expect(await value(ingest, 'events_redis_connected')).to.equal(1);
    expect(await value(edge, 'events_redis_connected')).to.equal(1);
    for (const p of [ingest, edge]) {
      expect((await fetch(`http://127.0.0.1:${p.metricsPort}/healthz`)).status).to.equal(200);
      expect((await fetch(`http://127.0.0.1:${p.metricsPort}/readyz`)).status).to.equal(200);
    }
  });

  it('exports every metric the Grafana dashboard queries', async () => {
    const exported = new Set([...metricNames(await ingest.metrics()), ...metricNames(await edge.metrics())]);
    const missing = dashboardMetricNames().filter((n) => !exported.has(n));
    expect(missing, 'dashboard metrics no service exports').to.deep.equal([]);
  });
});
