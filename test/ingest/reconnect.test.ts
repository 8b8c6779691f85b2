/**
 * A RabbitMQ restart under a running ingest, on a private node (never the machine's broker): the
 * ingest says what it waits for, reconnects, its bindings are in place and messages flow again.
 */
import { expect } from 'chai';
import amqp from 'amqplib';
import { BindError, names, type Binding } from '@events-proxy/protocol';
import { waitUntil } from '../support/wait.js';
import { PrivateRabbit } from './private-rabbit.js';
import { isReady, metricValue, randomName, startIngest, type IngestFixture } from './support.js';

async function publishOnce(url: string, exchange: string, routingKey: string, body: unknown): Promise<void> {
  const conn = await amqp.connect(url);
  try {
    const ch = await conn.createConfirmChannel();
    ch.publish(exchange, routingKey, Buffer.from(JSON.stringify(body)));
    await ch.waitForConfirms();
  } finally {
    await conn.close();
  }
}

describe('ingest: reconnect to a restarted RabbitMQ', function () {
  this.timeout(40_000);
  let rabbit: PrivateRabbit;
  let f: IngestFixture | undefined;
  let sampler: NodeJS.Timeout | undefined;

  before(async function () {
    this.timeout(40_000);
    rabbit = await PrivateRabbit.create();
    await rabbit.start();
  });

  afterEach(async () => {
    clearInterval(sampler);
    await f?.stop();
    f = undefined;
  });

  after(async function () {
    this.timeout(30_000);
    await rabbit?.destroy();
  });

  /** An exchange on the private node with the ingest bound to it, a message routed through. */
  async function boundIngest(
    reconnect: NonNullable<Parameters<typeof startIngest>[1]>['reconnect'],
    url = rabbit.url,
  ): Promise<{ fixture: IngestFixture; exchange: string; routed: () => number }> {
    const exchange = `exchange/test/ingest/${randomName()}`;
    const conn = await amqp.connect(rabbit.url);
    await (await conn.createChannel()).assertExchange(exchange, 'topic', { durable: true });
    await conn.close();
    f = await startIngest({ AMQP_URL: url }, { reconnect });
    const fixture = f;
    await waitUntil(() => isReady(fixture), 'the first connection', 10_000);
    const b: Binding = { exchange, routingKeyPattern: 'probe.#' };
    await fixture.bindQueue.request(b, 5000);
    const channel = names(fixture.config.keyPrefix).channel(b);
    const routed = () => fixture.bus.messages.filter((m) => m.channel === channel).length;
    await publishOnce(rabbit.url, exchange, 'probe.before', { n: 1 });
    await waitUntil(() => routed() === 1, 'the message before the restart', 5000);
    return { fixture, exchange, routed };
  }

  it('reconnects as soon as the restarted broker listens, long before a 60 s backoff ends', async function () {
    this.timeout(90_000);
    // A backoff this long would keep the ingest away for a minute: only the probe can bring it back.
    const { fixture, exchange, routed } = await boundIngest({ initialDelayMs: 60_000, maxDelayMs: 60_000 });
    await rabbit.stop();
    await waitUntil(() => !isReady(fixture), 'the ingest to notice the outage', 10_000);
    await waitUntil(
      () => fixture.logs.some((l) => l.msg.startsWith('waiting for RabbitMQ at ')),
      'the ingest to start waiting',
      10_000,
    );
    const waiting = fixture.logs.find((l) => l.msg.startsWith('waiting for RabbitMQ at '))!;
    const backoffEndsAt = Date.now() + Number(waiting.delayMs);
    expect(waiting.delayMs).to.be.at.least(48_000);

    await rabbit.start();
    const listeningAt = Date.now();
    await waitUntil(() => isReady(fixture), 'the ingest to reconnect', 30_000);
    const reconnectedMs = Date.now() - listeningAt;
    console.log(
      `      reconnected ${reconnectedMs} ms after the broker's port opened ` +
        `(the backoff alone would have waited ${((backoffEndsAt - listeningAt) / 1000).toFixed(1)} s more)`,
    );
    expect(Date.now(), 'reconnected before the backoff ended').to.be.below(backoffEndsAt);
    expect(fixture.logs.map((l) => l.msg)).to.include('RabbitMQ accepts connections again; reconnecting now');
    expect(await rabbit.bindings(exchange, fixture.config.queueName)).to.deep.equal(['probe.#']);
    await publishOnce(rabbit.url, exchange, 'probe.after', { n: 2 });
    await waitUntil(() => routed() === 2, 'the message after the restart', 5000);
  });

  it('notices a broker that stops answering without closing the connection (heartbeat), and comes back', async function () {
    this.timeout(60_000);
    // heartbeat=1 instead of the default 10 s keeps this short: two missed beats end the connection.
    const { fixture, exchange, routed } = await boundIngest(
      { initialDelayMs: 250, maxDelayMs: 1000 },
      `${rabbit.url}?heartbeat=1`,
    );
    const pid = Number((await rabbit.ctl(['eval', 'os:getpid().'])).replace(/\D/g, ''));
    expect(pid).to.be.above(1);
    process.kill(pid, 'SIGSTOP'); // the node is frozen: its sockets stay open but nothing answers
    try {
      await waitUntil(() => !isReady(fixture), 'the ingest to notice the silent broker', 20_000);
      const lost = fixture.logs.find((l) => l.msg === 'lost the connection to RabbitMQ')!;
      expect(String(lost.error)).to.match(/heartbeat/i);
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    await waitUntil(() => isReady(fixture), 'the ingest to reconnect', 30_000);
    await publishOnce(rabbit.url, exchange, 'probe.after', { n: 2 });
    await waitUntil(() => routed() === 2, 'the message after the broker thawed', 10_000);
  });

  it('recovers when the broker kills its channels under it (RabbitMQ closes the connection, 541)', async function () {
    this.timeout(30_000);
    const { fixture, exchange, routed } = await boundIngest({ initialDelayMs: 250, maxDelayMs: 1000 });
    await rabbit.ctl(['eval', '[exit(P, kill) || P <- rabbit_channel:list()], ok.']);
    await waitUntil(
      async () => (await metricValue(fixture.registry, 'events_amqp_connects_total')) === 2,
      'a second connection',
      15_000,
    );
    expect(await rabbit.bindings(exchange, fixture.config.queueName)).to.deep.equal(['probe.#']);
    await publishOnce(rabbit.url, exchange, 'probe.after', { n: 2 });
    await waitUntil(() => routed() === 2, 'the message after the channels were killed', 5000);
  });

  it('reconnects, keeps its bindings, routes again, and events_amqp_connected goes 1 → 0 → 1', async () => {
    const exchange = `exchange/test/ingest/${randomName()}`;
    const conn = await amqp.connect(rabbit.url);
    await (await conn.createChannel()).assertExchange(exchange, 'topic', { durable: true });
    await conn.close();

    f = await startIngest({ AMQP_URL: rabbit.url }, { reconnect: { initialDelayMs: 250, maxDelayMs: 1000 } });
    const fixture = f;
    await waitUntil(() => isReady(fixture), 'the first connection', 10_000);
    const b: Binding = { exchange, routingKeyPattern: 'restart.#' };
    await fixture.bindQueue.request(b, 5000);
    const channel = names(fixture.config.keyPrefix).channel(b);
    const routed = () => fixture.bus.messages.filter((m) => m.channel === channel).length;
    await publishOnce(rabbit.url, exchange, 'restart.before', { n: 1 });
    await waitUntil(() => routed() === 1, 'the message before the restart', 5000);

    const seen: number[] = [];
    sampler = setInterval(() => {
      void metricValue(fixture.registry, 'events_amqp_connected').then((v) => {
        if (seen.at(-1) !== v) seen.push(v);
      });
    }, 20);
    await waitUntil(() => seen.length > 0, 'a first sample', 2000);

    await rabbit.stop();
    await waitUntil(() => !isReady(fixture), 'the ingest to notice the outage', 10_000);
    await waitUntil(
      () =>
        fixture.logs.some((l) =>
          l.msg.startsWith(`waiting for RabbitMQ at amqp://127.0.0.1:${rabbit.port}/: `),
        ),
      'a log line saying what it waits for',
      5000,
    );
    const err: unknown = await fixture.bindQueue
      .request({ exchange, routingKeyPattern: 'during.#' }, 5000)
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(err).to.be.instanceOf(BindError);
    expect((err as BindError).code).to.equal('BrokerUnavailable');

    await rabbit.start();
    await waitUntil(() => isReady(fixture), 'the ingest to reconnect', 15_000);
    await waitUntil(() => seen.at(-1) === 1, 'the gauge to read 1 again', 2000);
    clearInterval(sampler);
    expect(seen).to.deep.equal([1, 0, 1]);

    expect(await rabbit.bindings(exchange, fixture.config.queueName)).to.deep.equal(['restart.#']);
    await publishOnce(rabbit.url, exchange, 'restart.after', { n: 2 });
    await waitUntil(() => routed() === 2, 'the message after the restart', 5000);
    expect(await metricValue(fixture.registry, 'events_amqp_connects_total')).to.equal(2);
  });
});
