/**
 * Redis Sentinel fail-overs under live v2 streams: one ingest and two edges on a private Sentinel
 * group (a master, two replicas, three sentinels; REDIS_SENTINELS with the group's password in
 * the URLs, REDIS_SENTINEL_MASTER), three v2 clients left to reconnect on their own (with
 * Last-Event-ID) and a publisher sending a numbered sequence with confirms. The master is
 * SIGKILLed (a dead node), frozen with SIGSTOP (a black-holed node: its sockets stay open and
 * silent; SIGCONT at the end), or handed over with SENTINEL FAILOVER (a rolling update). Each time: a replica is promoted, delivery resumes, every confirmed
 * message reaches every client exactly once and in order, and no process exits. Prints the time
 * to the promotion and to the first delivery after the fault (docs/operations.md#redis-sentinel).
 */
import { expect } from 'chai';
import { randomId, startService, stopAll, type ServiceProcess } from '../support/processes.js';
import { AMQP_URL, needRabbit } from '../support/services.js';
import { TestBroker } from '../support/broker.js';
import { connectUrl, type Bindings } from '../support/sse-client.js';
import { ResumingSseClient, type StreamEvent } from '../support/resuming-sse-client.js';
import { SequencePublisher } from '../support/sequence-publisher.js';
import { PrivateSentinelGroup } from '../support/redis-sentinel.js';
import { expectExactlyOnceInOrder, type Delivered } from '../support/delivery-checks.js';
import { waitUntil } from '../support/wait.js';
import { ProcessWatch, report } from './support.js';

const PASSWORD = 'faults-sentinel-password';
const V2 = '/api/events/v2/connect/';

interface Payload {
  readonly payload: { readonly seq?: number };
}

/** The sequence's messages a client received: cursor, arrival, and the connection that brought each. */
function delivered(c: ResumingSseClient): (Delivered & { readonly at: number })[] {
  return c.events.flatMap((e: StreamEvent) => {
    const seq = e.type === 'message' ? (e.data as Payload).payload.seq : undefined;
    return seq === undefined ? [] : [{ seq, id: e.id, via: `connection ${e.connection}`, at: e.at }];
  });
}

const has = (c: ResumingSseClient, seq: number) => delivered(c).some((d) => d.seq === seq);

/** events_redis_link_drops_total of each process (links the health watch found silent). */
async function linkDrops(processes: readonly ServiceProcess[]): Promise<number[]> {
  return Promise.all(
    processes.map(async (p) => {
      let sum = 0;
      for (const m of (await p.metrics()).matchAll(/^events_redis_link_drops_total\{[^}]*\} (\d+)/gm)) {
        sum += Number(m[1]);
      }
      return sum;
    }),
  );
}

describe('faults: Redis Sentinel fail-over under live v2 streams', function () {
  this.timeout(90_000);
  const run = randomId();
  const exchange = `exchange/faults/${run}/sentinel`;
  let broker: TestBroker;
  let group: PrivateSentinelGroup | undefined;
  let publisher: SequencePublisher | undefined;
  let watch: ProcessWatch | undefined;
  let clients: ResumingSseClient[] = [];
  let queue = '';

  before(async () => {
    await needRabbit();
    broker = await TestBroker.connect();
    await broker.topicExchange(exchange);
  });

  afterEach(async () => {
    await publisher?.stop();
    publisher = undefined;
    await watch?.stop();
    watch = undefined;
    for (const c of clients) c.close();
    clients = [];
    await stopAll();
    if (queue) await broker.deleteQueue(queue);
    // Thaws a frozen master first, then stops every node and sentinel by pid.
    await group?.stop();
    group = undefined;
  });

  after(async () => {
    await broker?.close();
  });

  /** The group, one ingest, two edges, three v2 clients and the publisher, with messages flowing. */
  async function scene(name: string) {
    const g = await PrivateSentinelGroup.start({ password: PASSWORD });
    group = g;
    queue = `queue/guest/faults-${run}-${name}`;
    const env = {
      AMQP_URL,
      REDIS_URL: '', // REDIS_SENTINELS instead (exactly one of the three)
      REDIS_SENTINELS: g.urls,
      REDIS_SENTINEL_MASTER: g.masterName,
      KEY_PREFIX: `faults-${run}-${name}:`,
      AMQP_QUEUE: queue,
      SSE_RETRY_MS: '200',
    };
    const ingest = await startService('ingest', env);
    const edges = await Promise.all([startService('edge', env), startService('edge', env)]);
    const processes: ServiceProcess[] = [ingest, ...edges];
    const w = new ProcessWatch(processes);
    watch = w;
    const open = async (edge: ServiceProcess, ...patterns: string[]) => {
      const bindings: Bindings = {
        bindings: patterns.map((routingKeyPattern) => ({ exchange, routingKeyPattern })),
      };
      const c = new ResumingSseClient(connectUrl(edge.url(''), bindings, V2));
      clients.push(c);
      await c.waitReady(20_000);
    };
    await open(edges[0], 'seq.#');
    await open(edges[1], 'seq.#');
    // Two bindings that both match every message: merged, each message delivered once.
    await open(edges[0], 'seq.*', '#');
    const p = SequencePublisher.start(AMQP_URL, exchange, 'seq', 25);
    publisher = p;
    // The first message confirmed after every client was ready: from it on, each must get all.
    const from = await p.confirmedFromNow();
    await waitUntil(() => clients.every((c) => has(c, from)), `message ${from} on every client`, 20_000);
    return { group: g, publisher: p, watch: w, processes, from };
  }

  async function failOver(fault: 'kill' | 'freeze' | 'graceful'): Promise<void> {
    const s = await scene(fault);
    const master = await s.group.master();
    const faultAt = Date.now();
    if (fault === 'kill') await master.stop('SIGKILL');
    else if (fault === 'freeze') master.freeze();
    else await s.group.sentinels[0]!.cli(PASSWORD, 'sentinel', 'failover', s.group.masterName);
    const promoted = await s.group.waitPromoted(master, 30_000);
    const promotedAt = Date.now();
    expect(promoted.port, 'a replica promoted').to.not.equal(master.port);

    // Delivery resumes: a message confirmed after the promotion reaches every client.
    const upTo = await s.publisher.confirmedFromNow();
    await waitUntil(() => clients.every((c) => has(c, upTo)), `message ${upTo} on every client`, 30_000);
    const confirmed = s.publisher.confirmed;
    const expected = confirmed.map((c) => c.seq).filter((q) => q >= s.from && q <= upTo);
    const sentAfterFault = new Set(confirmed.filter((c) => c.sentAt > faultAt).map((c) => c.seq));
    const firstAfter: number[] = [];
    /** Per client, the longest time without a message from the fault on (every 25 ms one is sent). */
    const pauses: number[] = [];
    for (const [i, c] of clients.entries()) {
      const got = delivered(c).filter((d) => d.seq >= s.from && d.seq <= upTo);
      expectExactlyOnceInOrder(expected, got, `client ${i}`);
      firstAfter.push(got.find((d) => sentAfterFault.has(d.seq))!.at);
      const arrivals = [faultAt, ...got.map((d) => d.at).filter((at) => at > faultAt)];
      pauses.push(Math.max(...arrivals.slice(1).map((at, k) => at - arrivals[k]!)));
    }
    s.watch.expectHealthy();
    const what = {
      kill: 'SIGKILLed',
      freeze: 'frozen (SIGSTOP)',
      graceful: 'handed over (SENTINEL FAILOVER)',
    };
    report(`sentinel master ${what[fault]}`, {
      promotedAfterMs: promotedAt - faultAt,
      firstDeliveryAfterMs: Math.min(...firstAfter) - faultAt,
      allClientsDeliveringAfterMs: Math.max(...firstAfter) - faultAt,
      longestPauseMs: Math.max(...pauses),
      confirmed: expected.length,
      lost: 0,
      duplicates: 0,
      streamsResumed: clients.map((c) => c.drops.length).join('/'),
      linkDrops: (await linkDrops(s.processes)).join('/'),
    });
  }

  it('master SIGKILLed: a replica is promoted, every confirmed message reaches every client once', async () => {
    await failOver('kill');
  });

  it('master frozen (SIGSTOP): a replica is promoted, every confirmed message reaches every client once', async () => {
    await failOver('freeze');
  });

  // What a rolling update of Bitnami's chart does (its pre-stop hook): the old master stays up,
  // and a master, until the sentinels reconfigure it about 10 s later.
  it('graceful fail-over (SENTINEL FAILOVER): every confirmed message reaches every client once', async () => {
    await failOver('graceful');
  });
});
