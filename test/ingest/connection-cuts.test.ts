/**
 * The broker going away at any moment: the ingest's connection to the machine's RabbitMQ runs
 * through a proxy that cuts it at chosen points (inside the handshake, the queue declaration, the
 * re-binding of every leased binding, the consumer start; with binds in flight; during stop). The
 * ingest must come back every time with every binding in place, and no promise rejection or 'error'
 * event may escape unhandled.
 */
import { expect } from 'chai';
import { BindError, names, type Binding } from '@events-proxy/protocol';
import { AMQP_URL, needRabbit } from '../support/services.js';
import { TestBroker, brokerBindings } from '../support/broker.js';
import { waitUntil } from '../support/wait.js';
import { CuttingProxy } from './cutting-proxy.js';
import { isReady, metricValue, randomName, startIngest, type IngestFixture } from './support.js';

describe('ingest: the broker connection cut at any point', function () {
  this.timeout(120_000);
  let broker: TestBroker;
  let proxy: CuttingProxy;
  let f: IngestFixture | undefined;
  let stopped = false;
  const escaped: string[] = [];
  const onRejection = (reason: unknown) => escaped.push(`unhandledRejection: ${String(reason)}`);
  const onException = (err: Error) => escaped.push(`uncaughtException: ${err.stack ?? err.message}`);
  const bindings: Binding[] = [];

  const connects = () => metricValue(f!.registry, 'events_amqp_connects_total');

  before(async function () {
    this.timeout(60_000);
    await needRabbit();
    process.on('unhandledRejection', onRejection);
    process.on('uncaughtExceptionMonitor', onException);
    broker = await TestBroker.connect();
    const target = new URL(AMQP_URL);
    proxy = await CuttingProxy.start({ host: target.hostname, port: Number(target.port || 5672) });
    const url = new URL(AMQP_URL);
    url.hostname = '127.0.0.1';
    url.port = String(proxy.port);
    f = await startIngest(
      { AMQP_URL: url.toString() },
      { reconnect: { initialDelayMs: 50, maxDelayMs: 200 } },
    );
    await waitUntil(() => isReady(f!), 'the first connection', 10_000);
    // Enough leased bindings, on several exchanges, that re-binding them is a real part of set-up.
    for (let e = 0; e < 4; e++) {
      const exchange = await broker.topicExchange(`exchange/test/ingest/${randomName()}`);
      for (let p = 0; p < 15; p++) bindings.push({ exchange, routingKeyPattern: `k${p}.#` });
    }
    await Promise.all(bindings.map((b) => f!.bindQueue.request(b, 10_000)));
  });

  after(async function () {
    this.timeout(30_000);
    process.off('unhandledRejection', onRejection);
    process.off('uncaughtExceptionMonitor', onException);
    if (!stopped) await f?.stop();
    await proxy?.close();
    if (f) await broker?.deleteQueue(f.config.queueName);
    await broker?.close();
  });

  /** Every binding (of `only`, if given) is on the broker, and a message routes. */
  async function expectAllBoundAndRouting(only?: string): Promise<void> {
    const fixture = f!;
    for (const exchange of new Set(bindings.map((b) => b.exchange).filter((e) => !only || e === only))) {
      const want = bindings.filter((b) => b.exchange === exchange).map((b) => b.routingKeyPattern);
      expect((await brokerBindings(exchange, fixture.config.queueName)).sort()).to.deep.equal(want.sort());
    }
    const b = bindings[bindings.length - 1]!;
    const channel = names(fixture.config.keyPrefix).channel(b);
    const before = fixture.bus.messages.filter((m) => m.channel === channel).length;
    await broker.publish(b.exchange, b.routingKeyPattern.replace('#', 'x'), { n: before });
    await waitUntil(
      () => fixture.bus.messages.filter((m) => m.channel === channel).length > before,
      'a message routed after the cut',
      10_000,
    );
  }

  it('comes back from a cut at each of 12 points of its set-up, every binding in place', async () => {
    // How many bytes one whole set-up sends (handshake, declare, re-bind 60 bindings, consume).
    const first = await connects();
    proxy.cutAll();
    await waitUntil(async () => (await connects()) === first + 1 && isReady(f!), 'a reconnect', 20_000);
    const setupBytes = proxy.sent.at(-1)!;
    expect(setupBytes).to.be.above(1000);

    for (let k = 1; k <= 12; k++) {
      const cutAt = Math.round((setupBytes * k) / 13);
      const before = await connects();
      proxy.cutNextConnectionAt(cutAt);
      proxy.cutAll();
      await waitUntil(
        async () => (await connects()) === before + 1 && isReady(f!),
        `the ingest back after a cut at byte ${cutAt} of ${setupBytes}`,
        20_000,
      );
      // The cut connection never counted as connected; the next one did.
      expect(proxy.sent.length).to.be.at.least(2);
    }
    console.log(`      set-up sends ${setupBytes} bytes; cut at 12 points of it, recovered each time`);
    await expectAllBoundAndRouting();
    expect(escaped).to.deep.equal([]);
  });

  // The cut lands at a different step of the binds each time (exchange check, its throw-away
  // channel's open or close, the bind itself); before amqplib's unsettled close() was handled, a
  // cut 20-30 ms in left binds hanging, holding their locks.
  for (const delayMs of [0, 10, 20, 25, 30, 45, 70]) {
    it(`settles every bind caught by a cut ${delayMs} ms in (done, or BrokerUnavailable, leaving nothing bound), then binds them once it is back`, async () => {
      const exchange = await broker.topicExchange(`exchange/test/ingest/${randomName()}`);
      const fresh = Array.from({ length: 40 }, (_, i) => ({ exchange, routingKeyPattern: `inflight${i}.*` }));
      const results = fresh.map((b) =>
        f!.bindQueue.request(b, 10_000).then(
          () => 'ok',
          (err: unknown) => (err instanceof BindError ? err.code : `unexpected: ${String(err)}`),
        ),
      );
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      proxy.cutAll();
      const outcomes = await Promise.all(results);
      console.log(
        `      ${outcomes.filter((o) => o === 'ok').length} completed, ` +
          `${outcomes.filter((o) => o === 'BrokerUnavailable').length} BrokerUnavailable`,
      );
      expect(outcomes.filter((o) => o !== 'ok' && o !== 'BrokerUnavailable')).to.deep.equal([]);
      await waitUntil(() => isReady(f!), 'the ingest back', 20_000);
      // A bind that failed may still have reached the broker; none may stay there unleased.
      const done = fresh.filter((_, i) => outcomes[i] === 'ok').map((b) => b.routingKeyPattern);
      await waitUntil(
        async () =>
          JSON.stringify((await brokerBindings(exchange, f!.config.queueName)).sort()) ===
          JSON.stringify(done.sort()),
        'only the completed binds on the broker',
        20_000,
      );
      await Promise.all(fresh.map((b) => f!.bindQueue.request(b, 10_000)));
      bindings.push(...fresh);
      await expectAllBoundAndRouting(exchange);
      expect(escaped).to.deep.equal([]);
    });
  }

  it('stops cleanly while it is reconnecting', async () => {
    proxy.cutNextConnectionAt(200);
    proxy.cutAll();
    await waitUntil(() => !isReady(f!), 'the ingest to notice the cut', 10_000);
    stopped = true;
    await f!.stop();
    expect(isReady(f!)).to.equal(false);
    expect(escaped).to.deep.equal([]);
  });
});
