/** Bindings no client holds are removed from the broker; held ones stay. Real RabbitMQ, short leases. */
import { expect } from 'chai';
import { EdgeControlPlane } from '@events-proxy/cluster';
import { bindingKey } from '@events-proxy/protocol';
import { needRabbit } from '../support/services.js';
import { TestBroker, brokerBindings } from '../support/broker.js';
import { waitUntil } from '../support/wait.js';
import { metricValue, randomName, startIngest, waitConnected, type IngestFixture } from './support.js';

const LEASE_MS = 400;

describe('ingest: leases', function () {
  this.timeout(20_000);
  let f: IngestFixture;
  let broker: TestBroker;
  let edge: EdgeControlPlane;

  before(async () => {
    await needRabbit();
    broker = await TestBroker.connect();
    f = await startIngest({}, { config: { bindingLeaseMs: LEASE_MS } });
    await waitConnected(f);
    edge = new EdgeControlPlane({ store: f.store, bindQueue: f.bindQueue, leaseMs: LEASE_MS });
    edge.start();
  });

  after(async () => {
    edge?.stop();
    await f?.stop();
    await broker?.deleteQueue(f.config.queueName);
    await broker?.close();
  });

  it('unbinds a binding nobody renews, and keeps one an edge holds', async () => {
    const exchange = await broker.topicExchange(`exchange/test/ingest/${randomName()}`);
    const held = { exchange, routingKeyPattern: 'held.#' };
    const dropped = { exchange, routingKeyPattern: 'dropped.#' };
    await edge.ensure(held, 5000);
    edge.hold(held);
    await edge.ensure(dropped, 5000);
    edge.hold(dropped);
    expect((await brokerBindings(exchange, f.config.queueName)).sort()).to.deep.equal([
      'dropped.#',
      'held.#',
    ]);
    edge.release(dropped); // its last holder left: the lease is no longer renewed

    await waitUntil(
      async () => (await metricValue(f.registry, 'events_ingest_bindings_reaped_total')) === 1,
      'the unheld binding to be reaped',
      10_000,
    );
    expect(await brokerBindings(exchange, f.config.queueName)).to.deep.equal(['held.#']);
    expect(await f.store.all()).to.deep.equal([bindingKey(held)]);
    expect(await metricValue(f.registry, 'events_ingest_bindings')).to.equal(1);

    // The router no longer delivers for it (the message only reaches the queue through `held.#`).
    await broker.publish(exchange, 'held.x', { n: 1 });
    await waitUntil(() => f.bus.messages.length === 1, 'the held binding still routing', 5000);
    expect(f.bus.messages.map((m) => m.channel)).to.have.length(1);
  });

  it('binds again a binding requested after it was reaped', async () => {
    const exchange = await broker.topicExchange(`exchange/test/ingest/${randomName()}`);
    const b = { exchange, routingKeyPattern: 'again' };
    await edge.ensure(b, 5000);
    const reaped = await metricValue(f.registry, 'events_ingest_bindings_reaped_total');
    await waitUntil(
      async () => (await metricValue(f.registry, 'events_ingest_bindings_reaped_total')) === reaped + 1,
      'the binding to be reaped',
      10_000,
    );
    expect(await brokerBindings(exchange, f.config.queueName)).to.deep.equal([]);
    await edge.ensure(b, 5000);
    edge.hold(b);
    expect(await brokerBindings(exchange, f.config.queueName)).to.deep.equal(['again']);
    const before = f.bus.messages.length;
    await broker.publish(exchange, 'again', { n: 2 });
    await waitUntil(() => f.bus.messages.length === before + 1, 'routing after the re-bind', 5000);
    edge.release(b);
  });
});
