/**
 * AMQP_QUEUE_TYPE=quorum on the machine's RabbitMQ (a one-node quorum queue behaves like one on a
 * cluster here; fail-over is in test/e2e/rabbit-cluster.test.ts), and what an operator is told when
 * an existing queue has the other type.
 */
import { expect } from 'chai';
import amqp from 'amqplib';
import { names, type Binding } from '@events-proxy/protocol';
import { sharedQueueArguments } from '@events-proxy/ingest';
import { AMQP_URL, needRabbit } from '../support/services.js';
import { TestBroker } from '../support/broker.js';
import { waitUntil } from '../support/wait.js';
import { isReady, queueInfo, randomName, startIngest, waitConnected, type IngestFixture } from './support.js';

describe('ingest: quorum shared queue', function () {
  this.timeout(20_000);
  const fixtures: IngestFixture[] = [];
  const queues: string[] = [];
  let broker: TestBroker;

  before(async () => {
    await needRabbit();
    broker = await TestBroker.connect();
  });

  after(async () => {
    for (const f of fixtures) await f.stop();
    for (const q of queues) await broker.deleteQueue(q);
    await broker?.close();
  });

  const start = async (env: Record<string, string>) => {
    const f = await startIngest(env);
    fixtures.push(f);
    queues.push(f.config.queueName);
    return f;
  };

  it('declares a durable quorum queue with the same bounds and single active consumer, and routes through it', async () => {
    const f = await start({ AMQP_QUEUE_TYPE: 'quorum' });
    await waitConnected(f);
    expect(await queueInfo(f.config.queueName)).to.deep.equal({
      durable: true,
      arguments: {
        'x-queue-type': 'quorum',
        'x-max-length': 100_000,
        'x-overflow': 'drop-head',
        'x-message-ttl': 300_000,
        'x-single-active-consumer': true,
      },
    });
    const exchange = await broker.topicExchange(`exchange/test/ingest/${randomName()}`);
    const b: Binding = { exchange, routingKeyPattern: 'q.#' };
    await f.bindQueue.request(b, 5000);
    await broker.publish(exchange, 'q.one', { n: 1 });
    const channel = names(f.config.keyPrefix).channel(b);
    await waitUntil(() => f.bus.messages.some((m) => m.channel === channel), 'the routed message', 5000);
  });

  for (const [existing, wanted] of [
    ['classic', 'quorum'],
    ['quorum', 'classic'],
  ] as const) {
    it(`says the type cannot change when a ${existing} queue exists and AMQP_QUEUE_TYPE=${wanted}`, async () => {
      const queue = `queue/guest/test-ingest-${randomName()}`;
      queues.push(queue);
      const conn = await amqp.connect(AMQP_URL);
      const ch = await conn.createChannel();
      // Everything as the ingest wants it but the type.
      const args = sharedQueueArguments({
        name: queue,
        type: existing,
        maxLength: 100_000,
        messageTtlMs: 300_000,
        singleActiveConsumer: true,
      });
      await ch.assertQueue(queue, { durable: true, arguments: args });
      await conn.close();

      const f = await start({ AMQP_QUEUE: queue, AMQP_QUEUE_TYPE: wanted });
      await waitUntil(() => f.logs.some((l) => l.level === 'error'), 'an error log', 5000);
      const line = f.logs.find((l) => l.level === 'error')!;
      expect(line.msg).to.contain(`The queue \`${queue}\` already exists with other arguments`);
      expect(line.msg).to.contain("inequivalent arg 'x-queue-type'");
      expect(line.msg).to.contain('RabbitMQ cannot change an existing queue between classic and quorum');
      expect(line.msg).to.contain(`rabbitmqctl delete_queue ${queue}`);
      expect(isReady(f)).to.equal(false);
    });
  }
});
