/**
 * Per-client limits across the cluster (docs/security.md "Per-client limits"): two real edge
 * processes on one Redis share each client's stream count and connect rate, and the counts of an
 * edge that is SIGKILLed expire on their own after CLIENT_LEASE_SECONDS.
 */
import { expect } from 'chai';
import { TestBroker } from '../support/broker.js';
import { randomId, startService, stopAll, type ServiceProcess } from '../support/processes.js';
import { AMQP_URL, REDIS_URL, needRabbit, needRedis } from '../support/services.js';
import { waitUntil } from '../support/wait.js';
import { RawResponse, fetchAll } from '../edge/raw-http.js';

const LEASE_SECONDS = 2;

describe('e2e: per-client limits hold across edges', function () {
  this.timeout(90_000);
  let broker: TestBroker;
  const open: RawResponse[] = [];
  const queues: string[] = [];

  before(async () => {
    await needRabbit();
    await needRedis();
    broker = await TestBroker.connect();
  });

  afterEach(async () => {
    for (const r of open.splice(0)) r.close();
    await stopAll();
  });

  after(async () => {
    for (const q of queues) await broker?.deleteQueue(q);
    await broker?.close();
  });

  const cluster = async (limits: Record<string, string>) => {
    const run = randomId();
    const exchange = await broker.topicExchange(`exchange/e2e/${run}/limits`);
    const queue = `queue/guest/limits-${run}`;
    queues.push(queue);
    const env = { AMQP_URL, REDIS_URL, KEY_PREFIX: `limits-${run}:`, AMQP_QUEUE: queue, ...limits };
    await startService('ingest', env);
    const [a, b] = await Promise.all([startService('edge', env), startService('edge', env)]);
    const url = (edge: ServiceProcess) =>
      edge.url(
        `/api/events/v2/connect/?bindings=${encodeURIComponent(JSON.stringify({ bindings: [{ exchange, routingKeyPattern: '#' }] }))}`,
      );
    return { a: a!, b: b!, url };
  };

  const stream = async (url: string): Promise<RawResponse> => {
    const r = await RawResponse.open(url);
    open.push(r);
    await r.waitFor((x) => x.body.includes('event: ready'), `ready from ${url}`, 15_000);
    return r;
  };

  /** The status a connect gets; a stream it opened is kept open (and closed after the test). */
  const status = async (url: string): Promise<number> => {
    const r = await RawResponse.open(url);
    open.push(r);
    return r.status;
  };

  it("MAX_STREAMS_PER_IP counts one address's streams on every edge, and a killed edge's expire with its lease", async () => {
    const { a, b, url } = await cluster({
      MAX_STREAMS_PER_IP: '2',
      CLIENT_LEASE_SECONDS: String(LEASE_SECONDS),
    });
    await stream(url(a));
    await stream(url(b));
    expect(await status(url(a))).to.equal(429);
    expect(await status(url(b))).to.equal(429);

    await a.stop('SIGKILL');
    // Edge A never gave its stream back; its count stands until its lease runs out.
    const killedAt = Date.now();
    expect(await status(url(b)), "right after the kill, A's stream still counts").to.equal(429);
    await waitUntil(
      async () => (await status(url(b))) !== 429,
      "A's count expired",
      4 * LEASE_SECONDS * 1000,
    );
    const expiredAfterMs = Date.now() - killedAt;
    expect(expiredAfterMs).to.be.at.most(LEASE_SECONDS * 1000 + 3_000);
    // That probe took the free place; the one after it is over the limit again.
    expect(await status(url(b))).to.equal(429);
    const metrics = await b.metrics();
    expect(metrics).to.match(/events_edge_connections_rejected_total\{reason="streams_per_ip"\} [1-9]/);
  });

  it('CONNECT_RATE_PER_IP is one allowance across edges', async () => {
    const { a, b, url } = await cluster({ CONNECT_RATE_PER_IP: '0.2', CONNECT_BURST_PER_IP: '3' });
    await stream(url(a));
    await stream(url(b));
    await stream(url(a));
    const refused = await fetchAll(url(b));
    expect(refused.status).to.equal(429);
    expect(Number(refused.headers['retry-after'])).to.be.within(1, 5);
  });
});
