/**
 * Single-node mode (`npm start`): both roles in one process, in-memory bus and control plane
 * when REDIS_URL is unset, only RabbitMQ needed.
 */
import { expect } from 'chai';
import { AMQP_URL, needRabbit } from '../support/services.js';
import { freePort, randomId, startService, stopAll } from '../support/processes.js';
import { SseClient, connectUrl } from '../support/sse-client.js';
import { TestBroker } from '../support/broker.js';
import { waitUntil } from '../support/wait.js';

describe('e2e: single-node mode', function () {
  this.timeout(40_000);
  const run = randomId();
  const queue = `queue/guest/single-${run}`;
  let broker: TestBroker;
  const clients: SseClient[] = [];

  before(async () => {
    await needRabbit();
    broker = await TestBroker.connect();
  });

  after(async () => {
    for (const c of clients) c.close();
    await stopAll();
    await broker?.deleteQueue(queue);
    await broker?.close();
  });

  it('serves messages from RabbitMQ with no Redis at all', async () => {
    const exchange = await broker.topicExchange(`exchange/e2e/${run}/single`);
    const node = await startService('single-node', { AMQP_URL, AMQP_QUEUE: queue, REDIS_URL: '' });
    expect(node.logs().some((l) => String(l.msg).includes('in-memory'))).to.equal(true);
    const c = new SseClient(
      connectUrl(node.url(''), { bindings: [{ exchange, routingKeyPattern: 'k.*' }] }, '/v1/connect'),
    );
    clients.push(c);
    await c.waitReady();
    await broker.publish(exchange, 'k.1', { hello: 'laptop' });
    await c.waitFor((x) => x.messages().length === 1, 'the message');
    expect(c.messages()[0]).to.deep.equal({
      payload: { hello: 'laptop' },
      exchange,
      routingKey: 'k.1',
      redelivered: false,
      routes: [],
    });
  });

  it('keeps retrying while RabbitMQ is unreachable, saying what it waits for, alive but not ready', async () => {
    const closedPort = await freePort();
    const node = await startService(
      'single-node',
      { AMQP_URL: `amqp://guest:guest@127.0.0.1:${closedPort}`, AMQP_QUEUE: queue, REDIS_URL: '' },
      { waitReady: false },
    );
    await waitUntil(
      () => node.logs().filter((l) => /waiting for RabbitMQ/i.test(String(l.msg))).length >= 2,
      'two "waiting for RabbitMQ" log lines',
      15_000,
    );
    const line = node.logs().find((l) => /waiting for RabbitMQ/i.test(String(l.msg)))!;
    expect(JSON.stringify(line)).to.include(`127.0.0.1:${closedPort}`);
    expect(JSON.stringify(line)).not.to.include('guest:guest');
    expect((await fetch(`http://127.0.0.1:${node.metricsPort}/healthz`)).status).to.equal(200);
    expect((await fetch(`http://127.0.0.1:${node.metricsPort}/readyz`)).status).to.equal(503);
    expect(node.child.exitCode).to.equal(null);
  });
});
