/** What the ingest does when RabbitMQ, the queue or the bus are not as expected. */
import { expect } from 'chai';
import amqp from 'amqplib';
import { BindError, decodeEnvelope } from '@events-proxy/protocol';
import { AMQP_URL, needRabbit } from '../support/services.js';
import { TestBroker } from '../support/broker.js';
import { waitUntil } from '../support/wait.js';
import {
  isReady,
  metricValue,
  randomName,
  startIngest,
  waitConnected,
  type IngestFixture,
} from './support.js';

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
});
