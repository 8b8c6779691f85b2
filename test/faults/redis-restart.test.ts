/**
 * Redis stopped for three seconds and started again, empty (no persistence), under one ingest and
 * two edges with open streams and messages flowing: no process exits, /readyz says "not ready"
 * while Redis is away and "ready" once it is back, every stream stays open, delivery resumes, and
 * the bindings survive the loss of their leases.
 */
import { expect } from 'chai';
import { setTimeout as sleep } from 'node:timers/promises';
import { PrivateRedis } from '../cluster/redis-support.js';
import { TestBroker } from '../support/broker.js';
import { randomId, startService, stopAll, type ServiceProcess } from '../support/processes.js';
import { AMQP_URL, needRabbit } from '../support/services.js';
import { SseClient, connectUrl } from '../support/sse-client.js';
import { waitUntil } from '../support/wait.js';
import {
  ProcessWatch,
  SequencePublisher,
  duplicates,
  expectStreamOpen,
  missing,
  report,
  seqsOf,
  waitAllReceived,
} from './support.js';

const LEASE_SECONDS = 4;
const OUTAGE_MS = 3000;

describe('faults: Redis restarted under live streams', function () {
  this.timeout(120_000);
  const run = randomId();
  const exchange = `exchange/faults/${run}/redis`;
  const queue = `queue/guest/faults-${run}-redis`;
  let redis: PrivateRedis;
  let broker: TestBroker;
  let publisher: SequencePublisher | undefined;
  let watch: ProcessWatch | undefined;
  const clients: SseClient[] = [];

  before(async () => {
    await needRabbit();
    redis = await PrivateRedis.start();
    broker = await TestBroker.connect();
    await broker.topicExchange(exchange);
  });

  after(async () => {
    await publisher?.stop();
    await watch?.stop();
    for (const c of clients) c.close();
    await stopAll();
    await broker?.deleteQueue(queue);
    await broker?.close();
    await redis?.stop();
  });

  const open = async (edge: ServiceProcess, pattern: string): Promise<SseClient> => {
    const c = new SseClient(
      connectUrl(edge.url(''), { bindings: [{ exchange, routingKeyPattern: pattern }] }),
    );
    clients.push(c);
    await c.waitReady(20_000);
    return c;
  };

  it('keeps every process up and every stream open, and resumes delivery', async () => {
    const env = {
      AMQP_URL,
      REDIS_URL: redis.url,
      KEY_PREFIX: `faults-${run}:`,
      AMQP_QUEUE: queue,
      BINDING_LEASE_SECONDS: String(LEASE_SECONDS),
    };
    const ingest = await startService('ingest', env);
    const [edge1, edge2] = await Promise.all([startService('edge', env), startService('edge', env)]);
    watch = new ProcessWatch([ingest, edge1, edge2]);
    const streams = [await open(edge1, 'seq.#'), await open(edge2, 'seq.#'), await open(edge1, 'seq.*')];

    publisher = SequencePublisher.start(AMQP_URL, exchange, 'seq');
    await waitAllReceived(streams, 5);

    const stoppedAt = Date.now();
    await redis.stop();
    await sleep(OUTAGE_MS);
    const restartedAt = Date.now();
    await redis.start();

    for (const p of [ingest, edge1, edge2]) {
      await waitUntil(
        () => watch!.readyAgainAfter(p, restartedAt) !== undefined,
        `${p.role} ready again`,
        30_000,
      );
      // Redis's socket closes at once on SIGTERM: from a second after the stop until the restart,
      // every sample must say "not ready".
      const during = watch.between(p, stoppedAt + 1000, restartedAt);
      expect(during.length, `${p.role} samples during the outage`).to.be.greaterThan(5);
      expect(
        during.filter((s) => s.ready),
        `${p.role} said ready while Redis was down`,
      ).to.deep.equal([]);
    }
    const firstAfter = publisher.confirmedAfter(restartedAt)[0]!;
    await waitUntil(() => firstAfter !== undefined, 'a message confirmed after the restart', 10_000);
    await waitAllReceived(streams, firstAfter);
    const recoveredAt = Date.now();

    // The restarted Redis is empty: the leases are gone. Two lease periods later the bindings must
    // still be on the broker (re-leased by the ingest and the edges), so messages still arrive.
    await sleep(2 * LEASE_SECONDS * 1000);
    const later = publisher.lastConfirmed + 1;
    await waitAllReceived(streams, later);

    const fresh = await open(edge2, 'seq.#');
    const afterFresh = publisher.lastConfirmed + 1;
    await waitAllReceived([...streams, fresh], afterFresh);

    watch.expectHealthy();
    for (const [i, c] of streams.entries()) expectStreamOpen(c, `stream ${i}`);
    const upTo = afterFresh;
    const confirmed = publisher.confirmed.map((c) => c.seq);
    const lost = streams.map((c) => missing(confirmed, c, upTo).length);
    report('redis restart', {
      outageMs: OUTAGE_MS,
      recoveryMs: recoveredAt - restartedAt,
      confirmed: confirmed.filter((s) => s <= upTo).length,
      lostPerStream: lost.join('/'),
      duplicatesPerStream: streams.map((c) => duplicates(c).length).join('/'),
    });
    // Delivery is at most once (Redis pub/sub): what is lost is bounded by the outage.
    for (const c of streams) {
      expect(duplicates(c), 'duplicates').to.deep.equal([]);
      const got = seqsOf(c);
      expect(got, 'in order').to.deep.equal([...got].sort((a, b) => a - b));
    }
  });
});
