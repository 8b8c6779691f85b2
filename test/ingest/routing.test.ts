/**
 * The ingest against the machine's RabbitMQ, with the memory lease store and bind queue and a bus
 * that records what is published.
 */
import { expect } from 'chai';
import amqp from 'amqplib';
import { BindError, bindingKey, decodeEnvelope, names, type Binding } from '@events-proxy/protocol';
import { AMQP_URL, needRabbit } from '../support/services.js';
import { TestBroker, brokerBindings } from '../support/broker.js';
import { waitUntil } from '../support/wait.js';
import {
  metricValue,
  queueInfo,
  randomName,
  startIngest,
  waitConnected,
  type IngestFixture,
} from './support.js';

/** The exact bytes an edge writes for a message event. */
function messageFrame(fields: {
  payload: string;
  exchange: string;
  routingKey: string;
  redelivered?: boolean;
  routes?: string[];
}): string {
  const data =
    `{"payload":${fields.payload},"exchange":${JSON.stringify(fields.exchange)},` +
    `"routingKey":${JSON.stringify(fields.routingKey)},"redelivered":${fields.redelivered ?? false},` +
    `"routes":${JSON.stringify(fields.routes ?? [])}}`;
  return `event: message\ndata: ${data}\nid: -\n\n`;
}

describe('ingest: routing against RabbitMQ', function () {
  this.timeout(20_000);
  let f: IngestFixture;
  let broker: TestBroker;
  let conn: amqp.ChannelModel;
  let ch: amqp.Channel;

  const channelOf = (b: Binding) => names(f.config.keyPrefix).channel(b);
  const framesOn = (b: Binding) =>
    f.bus.messages.filter((m) => m.channel === channelOf(b)).map((m) => decodeEnvelope(m.envelope)!);
  const newExchange = () => broker.topicExchange(`exchange/test/ingest/${randomName()}`);
  const bind = (b: Binding) => f.bindQueue.request(b, 5000);

  before(async () => {
    await needRabbit();
    broker = await TestBroker.connect();
    conn = await amqp.connect(AMQP_URL);
    ch = await conn.createChannel();
    f = await startIngest();
    await waitConnected(f);
  });

  after(async () => {
    await f?.stop();
    await broker?.deleteQueue(f.config.queueName);
    await broker?.close();
    await conn?.close();
  });

  it('declares the shared queue durable, bounded, with a single active consumer', async () => {
    expect(await queueInfo(f.config.queueName)).to.deep.equal({
      durable: true,
      arguments: {
        'x-max-length': 100_000,
        'x-overflow': 'drop-head',
        'x-message-ttl': 300_000,
        'x-single-active-consumer': true,
      },
    });
  });

  it('binds an existing exchange, then routes a message to its channel as the exact SSE frame', async () => {
    const exchange = await newExchange();
    const b = { exchange, routingKeyPattern: 'task.*.done' };
    await bind(b);
    expect(await brokerBindings(exchange, f.config.queueName)).to.deep.equal(['task.*.done']);
    expect(await f.store.all()).to.include(bindingKey(b));

    const before = Date.now();
    // Raw JSON text: numbers and escapes must reach clients byte for byte, only whitespace goes.
    const body = Buffer.from('{ "taskId": "abc",\n  "n": [1, 2.50, 1e400, "\\u00e9 x"] }');
    await broker.publish(exchange, 'task.abc.done', undefined, { raw: body });
    await waitUntil(() => framesOn(b).length === 1, 'the message on the bus', 5000);
    const [env] = framesOn(b);
    expect(env!.frame.toString()).to.equal(
      messageFrame({
        payload: '{"taskId":"abc","n":[1,2.50,1e400,"\\u00e9 x"]}',
        exchange,
        routingKey: 'task.abc.done',
      }),
    );
    expect(env!.id).to.match(/^\d{13}-\d{6}$/); // its cursor (DESIGN.md §3b)
    expect(env!.receivedAt).to.be.within(before, Date.now());
    expect(await metricValue(f.registry, 'events_ingest_bindings')).to.be.at.least(1);
    expect(
      await metricValue(f.registry, 'events_ingest_bind_requests_total', { result: 'ok' }),
    ).to.be.at.least(1);
  });

  it('fails a bind to a missing exchange with ExchangeNotFound naming it, and keeps consuming', async () => {
    const missing = `exchange/test/ingest/${randomName()}/missing`;
    const failedBefore = await metricValue(f.registry, 'events_ingest_bind_requests_total', {
      result: 'error',
    });
    const err: unknown = await bind({ exchange: missing, routingKeyPattern: '#' }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).to.be.instanceOf(BindError);
    expect((err as BindError).code).to.equal('ExchangeNotFound');
    expect((err as BindError).message).to.contain(missing);
    expect(await metricValue(f.registry, 'events_ingest_bind_requests_total', { result: 'error' })).to.equal(
      failedBefore + 1,
    );

    const exchange = await newExchange();
    const b = { exchange, routingKeyPattern: 'after.#' };
    await bind(b);
    await broker.publish(exchange, 'after.missing', { ok: true });
    await waitUntil(() => framesOn(b).length === 1, 'a message after the failed bind', 5000);
    expect(f.ingest.readiness().every((c) => c.ok())).to.equal(true);
  });

  it('routes by CC keys too, listing only the route.* ones with the prefix removed', async () => {
    const exchange = await newExchange();
    const b = { exchange, routingKeyPattern: 'cc.#' };
    await bind(b);
    await broker.publish(
      exchange,
      'primary.key',
      { x: 1 },
      { cc: ['cc.one', 'route.index.foo', 'route.bar'] },
    );
    await waitUntil(() => framesOn(b).length === 1, 'the CC-routed message', 5000);
    expect(framesOn(b)[0]!.frame.toString()).to.equal(
      messageFrame({ payload: '{"x":1}', exchange, routingKey: 'primary.key', routes: ['index.foo', 'bar'] }),
    );
  });

  it('publishes a message matching two bindings once per channel, in one call, with one envelope', async () => {
    const exchange = await newExchange();
    const star = { exchange, routingKeyPattern: 'two.*' };
    const hash = { exchange, routingKeyPattern: 'two.#' };
    await bind(star);
    await bind(hash);
    await broker.publish(exchange, 'two.x', { both: true });
    await waitUntil(() => framesOn(star).length === 1 && framesOn(hash).length === 1, 'both channels', 5000);
    const call = f.bus.calls.find((c) => c.some((m) => m.channel === channelOf(star)))!;
    expect(call.map((m) => m.channel).sort()).to.deep.equal([channelOf(star), channelOf(hash)].sort());
    expect(call[0]!.envelope).to.equal(call[1]!.envelope); // the very same buffer: rendered once
    expect(framesOn(star)[0]!.id).to.equal(framesOn(hash)[0]!.id);
  });

  it('delivers a body that is not JSON as a string', async () => {
    const exchange = await newExchange();
    const b = { exchange, routingKeyPattern: 'raw' };
    await bind(b);
    await broker.publish(exchange, 'raw', undefined, { raw: Buffer.from('not "json"\n') });
    await waitUntil(() => framesOn(b).length === 1, 'the raw message', 5000);
    expect(framesOn(b)[0]!.frame.toString()).to.equal(
      messageFrame({ payload: JSON.stringify('not "json"\n'), exchange, routingKey: 'raw' }),
    );
  });

  it('acks and counts messages that match no binding (and messages with no exchange)', async () => {
    const exchange = await newExchange();
    // A binding the ingest does not know of, as if left over at the broker.
    await ch.bindQueue(f.config.queueName, exchange, 'stray.#');
    const consumed = await metricValue(f.registry, 'events_ingest_messages_consumed_total');
    const unmatched = await metricValue(f.registry, 'events_ingest_messages_unmatched_total');
    const published = f.bus.messages.length;
    await broker.publish(exchange, 'stray.one', { n: 1 });
    ch.sendToQueue(f.config.queueName, Buffer.from('{}'));
    await waitUntil(
      async () => (await metricValue(f.registry, 'events_ingest_messages_unmatched_total')) === unmatched + 2,
      'two unmatched messages counted',
      5000,
    );
    expect(await metricValue(f.registry, 'events_ingest_messages_consumed_total')).to.equal(consumed + 2);
    expect(f.bus.messages.length).to.equal(published);
    await waitUntil(
      async () => (await ch.checkQueue(f.config.queueName)).messageCount === 0,
      'the queue to be empty (acked)',
      5000,
    );
    await ch.unbindQueue(f.config.queueName, exchange, 'stray.#');
  });

  it('counts every frame published', async () => {
    const frames = await metricValue(f.registry, 'events_ingest_frames_published_total');
    expect(frames).to.equal(f.bus.messages.length);
  });

  it('re-declares the queue and re-binds every leased binding when the queue is deleted', async () => {
    const exchange = await newExchange();
    const a = { exchange, routingKeyPattern: 'again.a' };
    const b = { exchange, routingKeyPattern: 'again.#' };
    await bind(a);
    await bind(b);
    const connects = await metricValue(f.registry, 'events_amqp_connects_total');
    await ch.deleteQueue(f.config.queueName);
    await waitUntil(
      async () => (await metricValue(f.registry, 'events_amqp_connects_total')) === connects + 1,
      'the ingest to reconnect',
      10_000,
    );
    expect((await brokerBindings(exchange, f.config.queueName)).sort()).to.deep.equal(['again.#', 'again.a']);
    await broker.publish(exchange, 'again.a', { back: true });
    await waitUntil(
      () => framesOn(a).length === 1 && framesOn(b).length === 1,
      'routing after the re-bind',
      5000,
    );
  });
});
