/**
 * End to end across real processes: one ingest and two edges, the machine's RabbitMQ and Redis,
 * real `eventsource` clients. Messages are published with amqplib as a Pulse publisher would.
 */
import { expect } from 'chai';
import { Redis } from 'ioredis';
import { names } from '@events-proxy/protocol';
import { AMQP_URL, REDIS_URL, needRabbit, needRedis } from '../support/services.js';
import { randomId, startService, stopAll, type ServiceProcess } from '../support/processes.js';
import { SseClient, connectUrl, type Bindings } from '../support/sse-client.js';
import { TestBroker, brokerBindings } from '../support/broker.js';
import { waitUntil } from '../support/wait.js';

const LEASE_SECONDS = 2;

describe('e2e: ingest and two edges', function () {
  this.timeout(40_000);
  const run = randomId();
  const keyPrefix = `e2e-${run}:`;
  const queue = `queue/guest/e2e-${run}`;
  const exA = `exchange/e2e/${run}/a`;
  const exB = `exchange/e2e/${run}/b`;
  let broker: TestBroker;
  let redis: Redis;
  let edge1: ServiceProcess;
  let edge2: ServiceProcess;
  const clients: SseClient[] = [];

  const env = {
    AMQP_URL,
    REDIS_URL,
    KEY_PREFIX: keyPrefix,
    AMQP_QUEUE: queue,
    BINDING_LEASE_SECONDS: String(LEASE_SECONDS),
  };

  const open = async (edge: ServiceProcess, bindings: Bindings | string, waitReady = true) => {
    const c = new SseClient(connectUrl(edge.url(''), bindings));
    clients.push(c);
    if (waitReady) await c.waitReady();
    return c;
  };

  before(async () => {
    await needRabbit();
    await needRedis();
    broker = await TestBroker.connect();
    await broker.topicExchange(exA);
    await broker.topicExchange(exB);
    redis = new Redis(REDIS_URL);
    await startService('ingest', env);
    [edge1, edge2] = await Promise.all([startService('edge', env), startService('edge', env)]);
  });

  afterEach(() => {
    for (const c of clients.splice(0)) c.close();
  });

  after(async () => {
    await stopAll();
    await broker?.deleteQueue(queue);
    await broker?.close();
    const keys = await redis?.keys(`${keyPrefix}*`);
    if (keys?.length) await redis.del(...keys);
    redis?.disconnect();
  });

  it('sends ready, then a message whose payload arrives intact with its metadata', async () => {
    const c = await open(edge1, { bindings: [{ exchange: exA, routingKeyPattern: 'task.#' }] });
    const payload = {
      status: { taskId: 'abc', runs: [{ state: 'completed' }] },
      big: 9007199254740991,
      u: 'é\u2028',
    };
    await broker.publish(exA, 'task.abc.completed', payload, { cc: ['route.index.gecko.v2', 'other.cc'] });
    await c.waitFor((x) => x.messages().length === 1, 'one message');
    const [ready, message] = c.events;
    expect(ready).to.deep.equal({ type: 'ready', data: {}, lastEventId: '-' });
    expect(message!.lastEventId).to.equal('-');
    expect(message!.data).to.deep.equal({
      payload,
      exchange: exA,
      routingKey: 'task.abc.completed',
      redelivered: false,
      routes: ['index.gecko.v2'],
    });
  });

  it('routes by * and #, CC keys, several bindings and several exchanges, to the right clients only', async () => {
    const star = await open(edge1, { bindings: [{ exchange: exA, routingKeyPattern: 'a.*.c' }] });
    const hash = await open(edge2, { bindings: [{ exchange: exA, routingKeyPattern: 'a.#' }] });
    const cc = await open(edge1, { bindings: [{ exchange: exA, routingKeyPattern: 'route.special' }] });
    const multi = await open(edge2, {
      bindings: [
        { exchange: exA, routingKeyPattern: 'x.y' },
        { exchange: exB, routingKeyPattern: '#' },
      ],
    });
    await broker.publish(exA, 'a.b.c', { n: 1 });
    await broker.publish(exA, 'a.b.c.d', { n: 2 });
    await broker.publish(exA, 'q', { n: 3 }, { cc: ['route.special'] });
    await broker.publish(exA, 'x.y', { n: 4 });
    await broker.publish(exB, 'anything.at.all', { n: 5 });
    await broker.publish(exB, 'a.b.c', { n: 6 });
    const ns = (c: SseClient) => c.messages<{ payload: { n: number } }>().map((m) => m.payload.n);
    await multi.waitFor((c) => ns(c).length === 3, 'three messages on two exchanges');
    await hash.waitFor((c) => ns(c).length === 2, 'two a.# messages');
    await star.waitFor((c) => ns(c).length === 1, 'one a.*.c message');
    await cc.waitFor((c) => ns(c).length === 1, 'one CC-routed message');
    // A marker published last, to every client, proves nothing else is still on its way.
    const all = [star, hash, cc, multi];
    await broker.publish(exA, 'a.b.c', { n: 7 }, { cc: ['route.special', 'x.y'] });
    for (const c of all) await c.waitFor((x) => ns(x).includes(7), 'the marker');
    expect(ns(star)).to.deep.equal([1, 7]);
    expect(ns(hash)).to.deep.equal([1, 2, 7]);
    expect(ns(cc)).to.deep.equal([3, 7]);
    expect(ns(multi)).to.deep.equal([4, 5, 6, 7]);
    expect(cc.messages()[0]).to.include({ routingKey: 'q' });
    expect(cc.messages()[0]!.routes).to.deep.equal(['special']);
  });

  it('delivers to clients on different edges with the same binding, once per connection', async () => {
    const b = {
      bindings: [
        { exchange: exA, routingKeyPattern: 'same.#' },
        { exchange: exA, routingKeyPattern: '#.key' },
      ],
    };
    const c1 = await open(edge1, b);
    const c2 = await open(edge2, b);
    await broker.publish(exA, 'same.key', { once: true });
    await broker.publish(exA, 'same.other', { once: false });
    for (const c of [c1, c2]) {
      await c.waitFor((x) => x.messages().length === 2, 'two messages');
      expect(c.messages().map((m) => m.payload)).to.deep.equal([{ once: true }, { once: false }]);
    }
  });

  it('delivers a body that is not JSON as a string', async () => {
    const c = await open(edge2, { bindings: [{ exchange: exB, routingKeyPattern: 'raw' }] });
    await broker.publish(exB, 'raw', undefined, { raw: Buffer.from('not json\n{') });
    await c.waitFor((x) => x.messages().length === 1, 'the raw message');
    expect(c.messages()[0]!.payload).to.equal('not json\n{');
  });

  it('answers an unknown exchange with an error naming it, holding nothing', async () => {
    const missing = `exchange/e2e/${run}/missing`;
    const c = await open(
      edge1,
      {
        bindings: [
          { exchange: exA, routingKeyPattern: 'ok' },
          { exchange: missing, routingKeyPattern: '#' },
        ],
      },
      false,
    );
    await c.waitFor((x) => x.of('error').length === 1, 'an error event');
    expect(c.of('ready')).to.have.length(0);
    expect(c.of('error')[0]!.data).to.be.a('string').and.include(missing);
    const okChannel = names(keyPrefix).channel({ exchange: exA, routingKeyPattern: 'ok' });
    await waitUntil(
      async () => Number(((await redis.pubsub('NUMSUB', okChannel)) as [string, number])[1]) === 0,
      "the edge to drop the failed connection's subscriptions",
      5_000,
    );
  });

  it("keeps the original's validation messages (extra top-level key; bindings not an array)", async () => {
    const extra = await open(edge1, JSON.stringify({ bindings: [], foo: 'bar' }), false);
    const notArray = await open(edge2, JSON.stringify({ bindings: { exchange: exA } }), false);
    await extra.waitFor((x) => x.of('error').length === 1, 'an error');
    await notArray.waitFor((x) => x.of('error').length === 1, 'an error');
    expect(extra.of('error')[0]!.data).to.equal('The json query should have only one key i.e. `bindings`.');
    expect(notArray.of('error')[0]!.data).to.equal(
      'Bindings must be an array of {exchange, routingKeyPattern}',
    );
  });

  it('releases the Redis subscription when the client leaves, and the broker binding after the lease', async () => {
    const pattern = `leaving.${run}`;
    const channel = names(keyPrefix).channel({ exchange: exB, routingKeyPattern: pattern });
    const numsub = async () => Number(((await redis.pubsub('NUMSUB', channel)) as [string, number])[1]);
    const c = await open(edge1, { bindings: [{ exchange: exB, routingKeyPattern: pattern }] });
    expect(await numsub()).to.equal(1);
    expect(await brokerBindings(exB, queue)).to.include(pattern);
    c.close();
    await waitUntil(async () => (await numsub()) === 0, 'the edge to unsubscribe', 5_000);
    await waitUntil(
      async () => !(await brokerBindings(exB, queue)).includes(pattern),
      'the broker binding to go',
      LEASE_SECONDS * 1500 + 5_000,
    );
  });
});
