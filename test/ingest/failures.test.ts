/** What the ingest does when RabbitMQ, the queue or the bus are not as expected. */
import { expect } from 'chai';
import amqp from 'amqplib';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { BindError, decodeEnvelope, names } from '@events-proxy/protocol';
import { AMQP_URL, needRabbit } from '../support/services.js';
import { TestBroker } from '../support/broker.js';
import { waitUntil } from '../support/wait.js';
import {
  isReady,
  metricValue,
  randomName,
  startIngest,
  type RecordingBus,
  waitConnected,
  type IngestFixture,
} from './support.js';

/** Deliveries of the queue that no consumer acked yet, as RabbitMQ counts them. */
async function unacked(queue: string): Promise<number | undefined> {
  const { stdout } = await promisify(execFile)('rabbitmqctl', [
    '-q',
    'list_queues',
    'name',
    'messages_unacknowledged',
  ]);
  const line = stdout.split('\n').find((l) => l.split('\t')[0] === queue);
  return line === undefined ? undefined : Number(line.split('\t')[1]);
}

/** The `message` data of what was published on the channel, in order. */
function publishedOn(bus: RecordingBus, channel: string): { routingKey: string; redelivered: boolean }[] {
  return bus.messages
    .filter((m) => m.channel === channel)
    .map(
      (m) =>
        JSON.parse(decodeEnvelope(m.envelope)!.frame.toString().split('\n')[1]!.slice(6)) as {
          routingKey: string;
          redelivered: boolean;
        },
    );
}

describe('ingest: failures', function () {
  this.timeout(20_000);
  const fixtures: IngestFixture[] = [];
  let broker: TestBroker;

  before(async () => {
    await needRabbit();
    broker = await TestBroker.connect();
  });

  after(async () => {
    for (const f of fixtures) {
      await f.stop();
      await broker.deleteQueue(f.config.queueName);
    }
    await broker?.close();
  });

  const start = async (...args: Parameters<typeof startIngest>) => {
    const f = await startIngest(...args);
    fixtures.push(f);
    return f;
  };

  it('starts without RabbitMQ, says what it waits for, and fails binds as BrokerUnavailable', async () => {
    const f = await start({ AMQP_URL: 'amqp://guest:sekrit@127.0.0.1:1' });
    await waitUntil(
      () => f.logs.some((l) => l.msg.startsWith('waiting for RabbitMQ')),
      'a waiting log line',
      5000,
    );
    const line = f.logs.find((l) => l.msg.startsWith('waiting for RabbitMQ'))!;
    expect(line.msg).to.match(
      /^waiting for RabbitMQ at amqp:\/\/127\.0\.0\.1:1\/: .*ECONNREFUSED.*; retrying in \d+\.\ds$/,
    );
    expect(line.level).to.equal('warn');
    expect(isReady(f)).to.equal(false);
    expect(await metricValue(f.registry, 'events_amqp_connected')).to.equal(0);

    const err: unknown = await f.bindQueue
      .request({ exchange: 'exchange/x', routingKeyPattern: '#' }, 5000)
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(err).to.be.instanceOf(BindError);
    expect((err as BindError).code).to.equal('BrokerUnavailable');
    expect(f.logText()).not.to.contain('sekrit');
  });

  it('explains what to do when the queue exists with other arguments', async () => {
    const queue = `queue/guest/test-ingest-${randomName()}`;
    const conn = await amqp.connect(AMQP_URL);
    const ch = await conn.createChannel();
    await ch.assertQueue(queue, { durable: true, arguments: { 'x-max-length': 5 } });
    await conn.close();

    const f = await start({ AMQP_QUEUE: queue });
    await waitUntil(() => f.logs.some((l) => l.level === 'error'), 'an error log', 5000);
    const line = f.logs.find((l) => l.level === 'error')!;
    expect(line.msg).to.contain(`The queue \`${queue}\` already exists with other arguments`);
    expect(line.msg).to.contain('PRECONDITION_FAILED');
    expect(line.msg).to.contain(`rabbitmqctl delete_queue ${queue}`);
    expect(line.msg).to.contain('set AMQP_QUEUE to another name');
    expect(isReady(f)).to.equal(false);
  });

  it('holds messages while the bus fails, then publishes them once, in order', async () => {
    const f = await start();
    await waitConnected(f);
    const exchange = await broker.topicExchange(`exchange/test/ingest/${randomName()}`);
    await f.bindQueue.request({ exchange, routingKeyPattern: 'seq.*' }, 5000);

    f.bus.failing = true;
    for (let i = 0; i < 5; i++) await broker.publish(exchange, `seq.${i}`, { i });
    // Each failure waits a moment, then tries the same batch again: two rounds prove the retry.
    await waitUntil(() => f.bus.failures >= 2, 'two failed publish rounds', 10_000);
    expect(f.bus.messages).to.have.length(0);
    f.bus.failing = false;

    await waitUntil(() => f.bus.messages.length === 5, 'the five messages after recovery', 10_000);
    const frames = f.bus.messages.map((m) =>
      JSON.parse(decodeEnvelope(m.envelope)!.frame.toString().split('\n')[1]!.slice(6)),
    );
    expect(frames.map((d: { routingKey: string }) => d.routingKey)).to.deep.equal(
      [0, 1, 2, 3, 4].map((i) => `seq.${i}`),
    );
    // Held by this consumer, not returned to the queue: the broker never redelivered them.
    expect(frames.every((d: { redelivered: boolean }) => !d.redelivered)).to.equal(true);
    expect(await metricValue(f.registry, 'events_ingest_publish_failures_total')).to.equal(f.bus.failures);
    expect(isReady(f)).to.equal(true);
  });

  it('holds back only the channels that fail (a shard failing over): the others go on, and the held ones follow in order, once', async () => {
    const f = await start();
    await waitConnected(f);
    const exchange = await broker.topicExchange(`exchange/test/ingest/${randomName()}`);
    const failing = { exchange, routingKeyPattern: 'down.*' };
    const healthy = { exchange, routingKeyPattern: 'up.*' };
    await f.bindQueue.request(failing, 5000);
    await f.bindQueue.request(healthy, 5000);
    const channelOf = names(f.config.keyPrefix).channel;
    const keysOn = (channel: string) => publishedOn(f.bus, channel);

    f.bus.failingChannels.add(channelOf(failing));
    for (let i = 0; i < 5; i++) {
      await broker.publish(exchange, `down.${i}`, { i });
      await broker.publish(exchange, `up.${i}`, { i });
    }
    // The healthy channel publishes everything while the other is held back.
    await waitUntil(() => keysOn(channelOf(healthy)).length === 5, 'the healthy channel', 10_000);
    await waitUntil(() => f.bus.failures >= 2, 'two failed rounds of the held channel', 10_000);
    expect(keysOn(channelOf(failing))).to.deep.equal([]);
    // Later messages of the held channel queue behind the held ones; the healthy one goes on.
    await broker.publish(exchange, 'down.5', { i: 5 });
    await broker.publish(exchange, 'up.5', { i: 5 });
    await waitUntil(() => keysOn(channelOf(healthy)).length === 6, 'the healthy channel, later', 10_000);
    expect(keysOn(channelOf(failing))).to.deep.equal([]);

    f.bus.failingChannels.clear();
    await waitUntil(() => keysOn(channelOf(failing)).length === 6, 'the held channel after recovery', 10_000);
    expect(keysOn(channelOf(failing)).map((d) => d.routingKey)).to.deep.equal(
      [0, 1, 2, 3, 4, 5].map((i) => `down.${i}`),
    );
    expect(keysOn(channelOf(healthy)).map((d) => d.routingKey)).to.deep.equal(
      [0, 1, 2, 3, 4, 5].map((i) => `up.${i}`),
    );
    // Every delivery was acked once (none came back redelivered, none is left unacked).
    expect(
      [...keysOn(channelOf(failing)), ...keysOn(channelOf(healthy))].every((d) => !d.redelivered),
    ).to.equal(true);
    await waitUntil(async () => (await unacked(f.config.queueName)) === 0, 'every delivery acked', 10_000);
    expect(isReady(f)).to.equal(true);
  });

  it('waits for a publish still in flight on a failing shard instead of sending it again, the other channels going on', async () => {
    const f = await start();
    await waitConnected(f);
    const exchange = await broker.topicExchange(`exchange/test/ingest/${randomName()}`);
    const stalled = { exchange, routingKeyPattern: 'down.*' };
    const healthy = { exchange, routingKeyPattern: 'up.*' };
    await f.bindQueue.request(stalled, 5000);
    await f.bindQueue.request(healthy, 5000);
    const channelOf = names(f.config.keyPrefix).channel;
    const keysOn = (channel: string) => publishedOn(f.bus, channel).map((d) => d.routingKey);

    f.bus.stalledChannels.add(channelOf(stalled));
    for (let i = 0; i < 3; i++) {
      await broker.publish(exchange, `down.${i}`, { i });
      await broker.publish(exchange, `up.${i}`, { i });
    }
    await waitUntil(() => keysOn(channelOf(healthy)).length === 3, 'the healthy channel', 10_000);
    await broker.publish(exchange, 'down.3', { i: 3 });
    await broker.publish(exchange, 'up.3', { i: 3 });
    await waitUntil(() => keysOn(channelOf(healthy)).length === 4, 'the healthy channel, later', 10_000);
    expect(keysOn(channelOf(stalled))).to.deep.equal([]);
    const hung = f.bus.stalledPublishes;
    expect(hung, 'publishes left in flight').to.be.greaterThan(0);

    f.bus.releaseStalled();
    await waitUntil(() => keysOn(channelOf(stalled)).length >= 4, 'the stalled channel', 10_000);
    // Each once, in order: what was in flight was not sent again, and what came later went after it.
    expect(keysOn(channelOf(stalled))).to.deep.equal([0, 1, 2, 3].map((i) => `down.${i}`));
    expect(f.bus.stalledPublishes, 'no publish of the stalled channel sent again while in flight').to.equal(
      hung,
    );
    await waitUntil(async () => (await unacked(f.config.queueName)) === 0, 'every delivery acked', 10_000);
  });
});
