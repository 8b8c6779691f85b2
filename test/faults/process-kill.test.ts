/**
 * Processes of the product SIGKILLed under live streams (the machine's Redis and RabbitMQ stay
 * up): an ingest killed and started again, an ingest replica taking over from a killed one, and an
 * edge killed while another edge shares one of its bindings.
 */
import { expect } from 'chai';
import { TestBroker, brokerBindings } from '../support/broker.js';
import { randomId, startService, stopAll, type ServiceProcess } from '../support/processes.js';
import { AMQP_URL, REDIS_URL, needRabbit, needRedis } from '../support/services.js';
import { SseClient, connectUrl } from '../support/sse-client.js';
import { waitUntil } from '../support/wait.js';
import {
  ProcessWatch,
  SequencePublisher,
  duplicates,
  expectNoneLost,
  expectStreamOpen,
  report,
  seqsOf,
  waitAllReceived,
} from './support.js';

const LEASE_SECONDS = 2;

describe('faults: processes killed under live streams', function () {
  this.timeout(90_000);
  let broker: TestBroker;
  let publisher: SequencePublisher | undefined;
  let watch: ProcessWatch | undefined;
  const clients: SseClient[] = [];
  const queues: string[] = [];

  before(async () => {
    await needRabbit();
    await needRedis();
    broker = await TestBroker.connect();
  });

  afterEach(async () => {
    await publisher?.stop();
    publisher = undefined;
    await watch?.stop();
    watch = undefined;
    for (const c of clients.splice(0)) c.close();
    await stopAll();
  });

  after(async () => {
    for (const q of queues) await broker?.deleteQueue(q);
    await broker?.close();
  });

  const setup = async (name: string) => {
    const run = randomId();
    const exchange = await broker.topicExchange(`exchange/faults/${run}/${name}`);
    const queue = `queue/guest/faults-${run}-${name}`;
    queues.push(queue);
    const env = {
      AMQP_URL,
      REDIS_URL,
      KEY_PREFIX: `faults-${run}:`,
      AMQP_QUEUE: queue,
      BINDING_LEASE_SECONDS: String(LEASE_SECONDS),
    };
    const open = async (edge: ServiceProcess, pattern: string): Promise<SseClient> => {
      const c = new SseClient(
        connectUrl(edge.url(''), { bindings: [{ exchange, routingKeyPattern: pattern }] }),
      );
      clients.push(c);
      await c.waitReady(20_000);
      return c;
    };
    return { exchange, queue, env, open };
  };

  it('an ingest SIGKILLed and started again delivers what was queued meanwhile', async () => {
    const { exchange, env, open } = await setup('ingest-kill');
    const ingest = await startService('ingest', env);
    const edge = await startService('edge', env);
    const streams = [await open(edge, 'seq.#'), await open(edge, 'seq.*')];
    publisher = SequencePublisher.start(AMQP_URL, exchange, 'seq');
    await waitAllReceived(streams, 5);

    await ingest.stop('SIGKILL');
    const killedAt = Date.now();
    const queuedFrom = publisher.lastConfirmed + 1;
    await waitUntil(
      () => publisher!.lastConfirmed >= queuedFrom + 40,
      '40 messages queued meanwhile',
      20_000,
    );
    const restarted = await startService('ingest', env);
    const restartedAt = Date.now();
    watch = new ProcessWatch([restarted, edge]);
    const upTo = await publisher.confirmedFromNow();
    await waitAllReceived(streams, upTo);

    watch.expectHealthy();
    for (const [i, c] of streams.entries()) expectStreamOpen(c, `stream ${i}`);
    expectNoneLost(publisher, streams, upTo);
    report('ingest SIGKILL and restart', {
      downMs: restartedAt - killedAt,
      queuedWhileDown: upTo - queuedFrom,
      lost: 0,
      repeatedPerStream: streams.map((c) => duplicates(c).length).join('/'),
    });
  });

  it('a standby ingest replica takes over from a SIGKILLed active one (single-active-consumer)', async () => {
    const { exchange, env, open } = await setup('takeover');
    const active = await startService('ingest', env); // consumes first: the single active consumer
    const standby = await startService('ingest', env);
    const edge = await startService('edge', env);
    watch = new ProcessWatch([standby, edge]);
    const streams = [await open(edge, 'seq.#')];
    publisher = SequencePublisher.start(AMQP_URL, exchange, 'seq');
    await waitAllReceived(streams, 5);
    const consumed = async (p: ServiceProcess) =>
      Number(/^events_ingest_messages_consumed_total (\d+)/m.exec(await p.metrics())?.[1] ?? 0);
    expect(await consumed(active), 'the first replica consumes').to.be.greaterThan(0);
    expect(await consumed(standby), 'the second replica stands by').to.equal(0);

    await active.stop('SIGKILL');
    const killedAt = Date.now();
    const afterKill = await publisher.confirmedFromNow();
    await waitAllReceived(streams, afterKill);
    const tookOverMs = Date.now() - killedAt;
    // The standby now also serves bind requests for new bindings.
    const fresh = await open(edge, 'seq.*.x');
    const upTo = await publisher.confirmedFromNow();
    await waitAllReceived(streams, upTo);

    watch.expectHealthy();
    expectStreamOpen(streams[0]!, 'stream');
    expectStreamOpen(fresh, 'new stream');
    expect(await consumed(standby)).to.be.greaterThan(0);
    expectNoneLost(publisher, streams, upTo);
    report('standby replica takeover', {
      firstDeliveryAfterKillMs: tookOverMs,
      lost: 0,
      repeated: duplicates(streams[0]!).length,
    });
  });

  it('an edge SIGKILLed: its bindings go after the lease, a binding another edge shares stays', async () => {
    const { exchange, queue, env, open } = await setup('edge-kill');
    await startService('ingest', env);
    const [edge1, edge2] = await Promise.all([startService('edge', env), startService('edge', env)]);
    watch = new ProcessWatch([edge2]);
    await open(edge1, 'only1.#');
    await open(edge1, 'shared.#');
    const survivor = await open(edge2, 'shared.#');
    expect(await brokerBindings(exchange, queue)).to.include.members(['only1.#', 'shared.#']);

    await edge1.stop('SIGKILL');
    const killedAt = Date.now();
    await waitUntil(
      async () => !(await brokerBindings(exchange, queue)).includes('only1.#'),
      "the killed edge's own binding to leave the broker",
      LEASE_SECONDS * 1500 + 10_000,
    );
    const releasedMs = Date.now() - killedAt;
    expect(await brokerBindings(exchange, queue)).to.include('shared.#');

    publisher = SequencePublisher.start(AMQP_URL, exchange, 'shared');
    await waitUntil(() => publisher!.lastConfirmed >= 3, 'three messages', 10_000);
    await waitAllReceived([survivor], publisher.lastConfirmed);
    watch.expectHealthy();
    expectStreamOpen(survivor, 'the other edge');
    expect(seqsOf(survivor).length).to.be.greaterThan(0);
    report('edge SIGKILL', { leaseSeconds: LEASE_SECONDS, bindingReleasedAfterMs: releasedMs });
  });
});
