/**
 * Two ingest replicas on one shared queue: single-active-consumer makes one consume, and a binding
 * the other one made reaches its router through the Redis binding change feed.
 */
import { expect } from 'chai';
import { MemoryLeaseStore, type BindingChangeFeed } from '@events-proxy/cluster';
import { names } from '@events-proxy/protocol';
import { redisChangeFeed } from '../cluster/redis-support.js';
import { needRabbit, needRedis, REDIS_URL } from '../support/services.js';
import { TestBroker } from '../support/broker.js';
import { waitUntil } from '../support/wait.js';
import {
  captureLogger,
  metricValue,
  randomName,
  startIngest,
  waitConnected,
  type IngestFixture,
} from './support.js';

describe('ingest: two replicas', function () {
  this.timeout(20_000);
  let broker: TestBroker;
  const fixtures: IngestFixture[] = [];
  const feeds: BindingChangeFeed[] = [];

  before(async () => {
    await needRabbit();
    await needRedis();
    broker = await TestBroker.connect();
  });

  after(async () => {
    for (const f of fixtures) await f.stop();
    await Promise.all(feeds.map((f) => f.close()));
    await broker?.deleteQueue(fixtures[0]!.config.queueName);
    await broker?.close();
  });

  it('routes on the active consumer a binding that the other replica made', async () => {
    const id = randomName();
    const env = { AMQP_QUEUE: `queue/guest/test-ingest-${id}`, KEY_PREFIX: `test-${id}:` };
    const store = new MemoryLeaseStore(); // stands for the shared Redis lease store
    const feed = () => {
      const f = redisChangeFeed({ url: REDIS_URL }, env.KEY_PREFIX, captureLogger().logger);
      feeds.push(f);
      return f;
    };
    const active = await startIngest(env, { store, bindingChanges: feed() });
    fixtures.push(active);
    await waitConnected(active); // consumes first, so it is the single active consumer
    const standby = await startIngest(env, { store, bindingChanges: feed() });
    fixtures.push(standby);
    await waitConnected(standby);

    const exchange = await broker.topicExchange(`exchange/test/ingest/${randomName()}`);
    const b = { exchange, routingKeyPattern: 'peer.#' };
    await standby.bindQueue.request(b, 5000); // the bind job runs on the standby replica
    await waitUntil(
      async () => (await metricValue(active.registry, 'events_ingest_bindings')) === 1,
      'the active replica to hear of the binding',
      2000, // well before its first periodic resync (5 s), so this is the feed's doing
    );
    await broker.publish(exchange, 'peer.x', { from: 'standby' });
    const channel = names(env.KEY_PREFIX).channel(b);
    await waitUntil(
      () => active.bus.messages.some((m) => m.channel === channel),
      'routing on the active replica',
      5000,
    );
    expect(standby.bus.messages).to.deep.equal([]);
  });
});
