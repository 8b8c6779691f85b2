/**
 * End to end on a private three-node RabbitMQ cluster (never the machine's broker): one ingest
 * (built dist, AMQP_URL listing the nodes, AMQP_QUEUE_TYPE=quorum), two edges on the machine's Redis,
 * an open SSE stream on each edge, and a publisher with confirms sending a numbered sequence
 * throughout. Two faults, one after the other: (1) the node the ingest is connected to is shut down;
 * (2) the quorum queue's leader node is shut down. Each time the streams stay open and every message
 * the broker confirmed reaches both clients. Recovery figures are printed (docs/operations.md).
 */
import { expect } from 'chai';
import amqp from 'amqplib';
import { Redis } from 'ioredis';
import { loadIngestConfig, sharedQueueArguments } from '@events-proxy/ingest';
import type { PrivateRabbit } from '../ingest/private-rabbit.js';
import { RabbitCluster } from '../support/rabbit-cluster.js';
import { REDIS_URL, needRedis } from '../support/services.js';
import { randomId, startService, stopAll, type ServiceProcess } from '../support/processes.js';
import { SseClient, connectUrl } from '../support/sse-client.js';
import { waitUntil } from '../support/wait.js';

interface Delivery {
  readonly seq: number;
  readonly at: number;
  readonly redelivered: boolean;
}

/** Publishes `{seq}` every few ms on one node with publisher confirms, recording what was confirmed. */
class SequencePublisher {
  readonly confirmed = new Map<number, number>(); // seq → publish time
  nacked = 0;
  private next = 1;
  private timer: NodeJS.Timeout | undefined;

  private constructor(
    private readonly conn: amqp.ChannelModel,
    private readonly ch: amqp.ConfirmChannel,
    private readonly exchange: string,
  ) {}

  static async open(url: string, exchange: string): Promise<SequencePublisher> {
    const conn = await amqp.connect(url);
    conn.on('error', () => undefined);
    const ch = await conn.createConfirmChannel();
    ch.on('error', () => undefined);
    return new SequencePublisher(conn, ch, exchange);
  }

  start(everyMs: number): void {
    this.timer = setInterval(() => {
      const seq = this.next++;
      const at = Date.now();
      this.ch.publish(this.exchange, `seq.${seq}`, Buffer.from(JSON.stringify({ seq })), {}, (err) => {
        if (err) this.nacked++;
        else this.confirmed.set(seq, at);
      });
    }, everyMs);
  }

  /** Stops publishing and waits for the outstanding confirms. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.ch.waitForConfirms().catch(() => undefined);
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.conn.close().catch(() => undefined);
  }
}

/** An SSE client that also records when each message arrived. */
function record(client: SseClient): Delivery[] {
  const deliveries: Delivery[] = [];
  client.source.addEventListener('message', (ev) => {
    const data = JSON.parse((ev as MessageEvent<string>).data) as {
      payload: { seq: number };
      redelivered: boolean;
    };
    deliveries.push({ seq: data.payload.seq, at: Date.now(), redelivered: data.redelivered });
  });
  return deliveries;
}

/** The longest stretch without a delivery between `from` and `to`. */
function longestSilenceMs(deliveries: readonly Delivery[], from: number, to: number): number {
  const times = [from, ...deliveries.map((d) => d.at).filter((t) => t > from && t < to), to];
  let longest = 0;
  for (let i = 1; i < times.length; i++) longest = Math.max(longest, times[i]! - times[i - 1]!);
  return longest;
}

/** The AMQP port of the ingest's newest connection, from its log. */
function connectedPort(ingest: ServiceProcess, after = 0): number | undefined {
  const line = ingest
    .logs()
    .filter((l) => l.msg === 'connected to RabbitMQ' && Date.parse(String(l.time)) >= after)
    .at(-1);
  return line ? Number(new URL(String(line.amqp)).port) : undefined;
}

describe('e2e: RabbitMQ cluster (three nodes, quorum queue)', function () {
  this.timeout(240_000);
  const run = randomId();
  const keyPrefix = `e2e-rmq-${run}:`;
  const queue = `queue/guest/e2e-rmq-${run}`;
  const exchange = `exchange/e2e/${run}/cluster`;
  let cluster: RabbitCluster | undefined;
  let ingest: ServiceProcess;
  let publisher: SequencePublisher | undefined;
  let redis: Redis | undefined;
  const clients: SseClient[] = [];
  const deliveries: Delivery[][] = [];
  let readyzFalseMs = 0;
  let readyzTimer: NodeJS.Timeout | undefined;

  before(async function () {
    this.timeout(240_000);
    await needRedis();
    redis = new Redis(REDIS_URL);
    cluster = await RabbitCluster.start(3);
    const [n1, n2, n3] = cluster.nodes as [PrivateRabbit, PrivateRabbit, PrivateRabbit];

    const env = {
      // n2 first: the ingest connects there, while the queue's leader is on n1 (declared below).
      AMQP_URL: [n2.url, n3.url, n1.url].join(','),
      AMQP_QUEUE_TYPE: 'quorum',
      AMQP_QUEUE: queue,
      REDIS_URL,
      KEY_PREFIX: keyPrefix,
    };
    // Declared first on n1, with the ingest's own arguments, so the leader is a node the ingest is
    // not connected to and the two faults below are separate ones (a quorum queue's leader starts
    // on the node it was declared on).
    const config = loadIngestConfig(env);
    const setup = await amqp.connect(n1.url);
    const ch = await setup.createChannel();
    await ch.assertExchange(exchange, 'topic', { durable: true });
    await ch.assertQueue(queue, {
      durable: true,
      arguments: sharedQueueArguments({
        name: queue,
        type: 'quorum',
        maxLength: config.queueMaxLength,
        messageTtlMs: config.queueMessageTtlMs,
        singleActiveConsumer: config.singleActiveConsumer,
      }),
    });
    await setup.close();
    const replicas = await cluster.queue(queue, n1);
    expect(replicas?.type).to.equal('quorum');
    expect(replicas?.leader).to.equal(n1.node);

    ingest = await startService('ingest', env);
    expect(connectedPort(ingest)).to.equal(n2.port);
    const edges = await Promise.all([startService('edge', env), startService('edge', env)]);
    for (const edge of edges) {
      const c = new SseClient(
        connectUrl(edge.url(''), { bindings: [{ exchange, routingKeyPattern: 'seq.#' }] }),
      );
      clients.push(c);
      deliveries.push(record(c));
    }
    await Promise.all(clients.map((c) => c.waitReady(20_000)));

    // A rough figure (one sample every 100 ms), printed, not asserted.
    readyzTimer = setInterval(() => {
      fetch(`http://127.0.0.1:${ingest.metricsPort}/readyz`)
        .then((res) => {
          if (res.status !== 200) readyzFalseMs += 100;
        })
        .catch(() => (readyzFalseMs += 100));
    }, 100);
    // n3 is never stopped: the publisher stays up through both faults.
    publisher = await SequencePublisher.open(n3.url, exchange);
    publisher.start(20);
    await waitUntil(
      () => deliveries.every((d) => d.length >= 20),
      'the first messages on both streams',
      20_000,
    );
  });

  after(async function () {
    this.timeout(60_000);
    clearInterval(readyzTimer);
    for (const c of clients) c.close();
    await publisher?.close();
    await stopAll();
    await cluster?.destroy();
    const keys = await redis?.keys(`${keyPrefix}*`);
    if (keys?.length) await redis!.del(...keys);
    redis?.disconnect();
  });

  /** Waits until every message confirmed so far is on both streams; returns that count. */
  async function allConfirmedDelivered(what: string): Promise<number> {
    const expected = [...publisher!.confirmed.keys()];
    await waitUntil(
      () =>
        deliveries.every((d) => {
          const seen = new Set(d.map((x) => x.seq));
          return expected.every((seq) => seen.has(seq));
        }),
      `every confirmed message (${expected.length}) on both streams ${what}`,
      60_000,
    );
    return expected.length;
  }

  function expectStreamsOpen(): void {
    for (const c of clients) {
      expect(c.of('error'), 'no error event').to.deep.equal([]);
      expect(c.of('ready')).to.have.length(1);
      expect(c.source.readyState).to.equal(c.source.OPEN);
    }
  }

  /** Prints what a fault cost the clients since `stoppedAt` (figures, not assertions). */
  function report(fault: string, detail: string): void {
    const until = Date.now();
    const from = stoppedAt;
    const silence = deliveries.map((d) => longestSilenceMs(d, from, until));
    const latencies = deliveries.map((d) =>
      Math.max(
        0,
        ...d
          .filter((x) => (publisher!.confirmed.get(x.seq) ?? 0) >= from)
          .map((x) => x.at - publisher!.confirmed.get(x.seq)!),
      ),
    );
    console.log(
      `      ${fault}: ${detail}; longest silence on a stream ${Math.max(...silence)} ms; ` +
        `worst publish-to-browser latency ${Math.max(...latencies)} ms; /readyz false for ~${readyzFalseMs} ms`,
    );
  }
  let stoppedAt = 0;

  it('(1) the node the ingest is connected to stops: the ingest moves to another node, re-binds, nothing confirmed is lost', async () => {
    const c = cluster!;
    const [, n2, n3] = c.nodes as [PrivateRabbit, PrivateRabbit, PrivateRabbit];
    readyzFalseMs = 0;
    stoppedAt = Date.now();
    await n2.stop();
    await waitUntil(() => connectedPort(ingest, stoppedAt) !== undefined, 'the ingest to reconnect', 30_000);
    const line = ingest
      .logs()
      .filter((l) => l.msg === 'connected to RabbitMQ')
      .at(-1)!;
    const recoveredAt = Date.parse(String(line.time));
    expect(connectedPort(ingest, stoppedAt)).to.equal(n3.port);
    expect(await n3.bindings(exchange, queue)).to.deep.equal(['seq.#']);
    const before = publisher!.confirmed.size;
    await waitUntil(() => publisher!.confirmed.size > before + 50, 'more confirmed messages', 20_000);
    const count = await allConfirmedDelivered('after the ingest moved');
    expectStreamsOpen();
    report(
      'ingest node stopped',
      `ingest connected to another node ${recoveredAt - stoppedAt} ms after the shutdown began; ${count} confirmed messages delivered so far`,
    );
    expect(ingest.child.exitCode).to.equal(null);

    // Back to three nodes, so that losing the leader next leaves a majority.
    await n2.start(60_000);
    await c.awaitRunning(3);
    await waitUntil(
      async () => (await c.queue(queue, n3))?.online.length === 3,
      'the queue online on three nodes again',
      60_000,
    );
  });

  it('(2) the quorum queue leader stops: a new leader is elected, delivery resumes, nothing confirmed is lost', async () => {
    const c = cluster!;
    const [n1, , n3] = c.nodes as [PrivateRabbit, PrivateRabbit, PrivateRabbit];
    expect((await c.queue(queue, n3))?.leader).to.equal(n1.node);
    readyzFalseMs = 0;
    const connectsBefore = ingest.logs().filter((l) => l.msg === 'connected to RabbitMQ').length;
    stoppedAt = Date.now();
    await n1.stop();
    await waitUntil(
      async () => {
        const leader = (await c.queue(queue, n3))?.leader;
        return leader !== undefined && leader !== n1.node;
      },
      'a new leader',
      30_000,
    );
    const electedAt = Date.now();
    const before = publisher!.confirmed.size;
    await waitUntil(() => publisher!.confirmed.size > before + 50, 'more confirmed messages', 20_000);
    const count = await allConfirmedDelivered('after the leader moved');
    expectStreamsOpen();
    const reconnects = ingest.logs().filter((l) => l.msg === 'connected to RabbitMQ').length - connectsBefore;
    report(
      'queue leader stopped',
      `new leader seen by rabbitmqctl ${electedAt - stoppedAt} ms after the shutdown began (coarse: each poll takes a second or so); ` +
        `ingest reconnects: ${reconnects}; ${count} confirmed messages delivered so far`,
    );
    expect(ingest.child.exitCode).to.equal(null);
  });

  it('delivers every confirmed message to both streams, duplicates only as flagged redeliveries', async () => {
    await publisher!.stop();
    const count = await allConfirmedDelivered('at the end');
    expect(publisher!.nacked).to.equal(0);
    for (const d of deliveries) {
      const copies = new Map<number, Delivery[]>();
      for (const x of d) copies.set(x.seq, [...(copies.get(x.seq) ?? []), x]);
      const duplicates = [...copies.values()].filter((list) => list.length > 1);
      console.log(
        `      stream: ${d.length} messages for ${count} confirmed, ${duplicates.length} delivered twice or more`,
      );
      for (const list of duplicates) {
        expect(
          list.slice(1).every((x) => x.redelivered),
          `seq ${list[0]!.seq}: a repeat is flagged redelivered`,
        ).to.equal(true);
      }
    }
    expectStreamsOpen();
  });
});
