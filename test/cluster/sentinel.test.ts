/**
 * The drivers on a Redis Sentinel group (REDIS_SENTINELS, REDIS_SENTINEL_MASTER): a private
 * master, two replicas and three sentinels, one password for all (as Bitnami's chart has it),
 * given in the sentinel URLs. The bus, lease store, bind queue, binding changes, history and edge
 * loads contract suites run against the master the sentinels name; then the drivers follow a graceful
 * fail-over (SENTINEL FAILOVER), BullMQ's duplicated connections included. The faults (a killed
 * or frozen master under real processes) are in test/faults/sentinel.test.ts.
 */
import { expect } from 'chai';
import type { Redis } from 'ioredis';
import {
  BullBindQueue,
  RedisBus,
  RedisEdgeLoads,
  RedisHistory,
  RedisLeaseStore,
  connectRedis,
  connectTarget,
  createRedisDrivers,
  sentinelOptions,
  type Drivers,
  type HistoryRetention,
  type RedisClient,
  type RedisSentinelTarget,
} from '@events-proxy/cluster';
import { names } from '@events-proxy/protocol';
import { PrivateSentinelGroup, SentinelGroupNode } from '../support/redis-sentinel.js';
import { freePort, randomId } from '../support/processes.js';
import { waitUntil } from '../support/wait.js';
import { bindQueueSuite } from './bind-queue.suite.js';
import { bindingChangeFeedSuite } from './binding-change-feed.suite.js';
import { busSuite } from './bus.suite.js';
import { edgeLoadsSuite } from './edge-loads.suite.js';
import { historySuite } from './history.suite.js';
import { leaseStoreSuite } from './lease-store.suite.js';
import { flushPrefix, quietLogger, redisChangeFeed, testPrefix } from './redis-support.js';

const PASSWORD = 'sentinel-test-password';

describe('cluster: drivers on Redis Sentinel', function () {
  this.timeout(60_000);
  let group: PrivateSentinelGroup;
  const target = (): RedisSentinelTarget => ({
    sentinels: group.urls.split(','),
    masterName: group.masterName,
  });
  const connect = (name: string, maxRetriesPerRequest: number | null = 2) =>
    connectTarget(target(), { name, logger: quietLogger, maxRetriesPerRequest, autoPipelining: false });
  /** The master's URL, for the helpers that flush a key prefix. */
  const masterUrl = async () => `redis://:${PASSWORD}@127.0.0.1:${(await group.master()).port}`;

  before(async function () {
    this.timeout(60_000);
    group = await PrivateSentinelGroup.start({ password: PASSWORD });
  });

  after(async () => {
    await group?.stop();
  });

  it('builds the ioredis Sentinel options from the URLs: one password for sentinels and data nodes', () => {
    const options = sentinelOptions({
      sentinels: ['rediss://app:pw@s-0:26379/3', 's-1:26380'],
      masterName: 'mymaster',
    });
    expect(options).to.include({
      name: 'mymaster',
      role: 'master',
      username: 'app',
      password: 'pw',
      sentinelUsername: 'app',
      sentinelPassword: 'pw',
      db: 3,
      enableTLSForSentinelMode: true,
    });
    expect(options.failoverDetector, 'failoverDetector stays off').to.equal(undefined);
    expect(options.sentinels).to.deep.equal([
      { host: 's-0', port: 26379 },
      { host: 's-1', port: 26380 },
    ]);
    expect(options.tls).to.deep.equal({});
    expect(options.sentinelTLS).to.deep.equal({});
    // REDIS_SENTINEL_PASSWORD: the sentinels' own password (as the default user); the data nodes keep the URL's.
    const own = sentinelOptions({
      sentinels: ['redis://app:pw@s-0:26379'],
      masterName: 'm',
      sentinelPassword: 'other',
    });
    expect(own).to.include({ password: 'pw', sentinelPassword: 'other' });
    expect(own.sentinelUsername).to.equal(undefined);
    expect(() => sentinelOptions({ sentinels: ['s-0'], masterName: 'm' })).to.throw(/REDIS_SENTINELS: "s-0"/);
  });

  busSuite('redis on Redis Sentinel', async () => {
    // Two bus objects, like an ingest and an edge: the publisher side never subscribes.
    const bus = (pub: string, sub: string) =>
      new RedisBus({ publisher: connect(pub) as Redis, subscriber: connect(sub) as Redis });
    const publisher = bus('test-bus-pub', 'unused-sub');
    const subscriber = bus('unused-pub', 'test-bus-sub');
    return {
      publisher,
      subscriber,
      close: async () => void (await Promise.all([publisher.close(), subscriber.close()])),
    };
  });

  leaseStoreSuite('redis on Redis Sentinel', async () => {
    const keyPrefix = testPrefix();
    const store = () =>
      new RedisLeaseStore({
        redis: connect('test-leases'),
        keyPrefix,
        logger: quietLogger,
        lockWaitMs: 4000,
      });
    const [a, b] = [store(), store()];
    return {
      a,
      b,
      close: async () => {
        await Promise.all([a.close(), b.close()]);
        await flushPrefix(keyPrefix, await masterUrl());
      },
    };
  });

  bindQueueSuite('bullmq on Redis Sentinel', async () => {
    const keyPrefix = testPrefix();
    const make = (role: string) =>
      new BullBindQueue({ connection: connect(`test-bind-${role}`, null), keyPrefix, logger: quietLogger });
    const queues = { ingest: make('ingest'), edges: [make('edge-1'), make('edge-2')] as const };
    const n = names(keyPrefix);
    const events = `${n.bullPrefix}:${n.bindQueue}:events`;
    return {
      ...queues,
      /** Every add leaves one event on the queue's stream: 'added' for a new job, else 'deduplicated'. */
      queued: async (requests: number) => {
        const redis = connect('test-bind-probe');
        try {
          await waitUntil(
            async () => {
              const entries = await redis.xrange(events, '-', '+');
              const adds = entries.filter(([, f]) => ['added', 'deduplicated'].includes(f[1] ?? ''));
              return adds.length >= requests;
            },
            `${requests} requests on the queue`,
            5000,
          );
        } finally {
          redis.disconnect();
        }
      },
      close: async () => {
        await Promise.all([queues.ingest, ...queues.edges].map((q) => q.close()));
        await flushPrefix(keyPrefix, await masterUrl());
      },
    };
  });

  bindingChangeFeedSuite('redis on Redis Sentinel', async () => {
    const keyPrefix = testPrefix();
    const [one, two] = [redisChangeFeed(target(), keyPrefix), redisChangeFeed(target(), keyPrefix)];
    const stranger = redisChangeFeed(target(), testPrefix());
    return {
      one,
      two,
      stranger,
      close: async () => void (await Promise.all([one.close(), two.close(), stranger.close()])),
    };
  });

  historySuite('redis on Redis Sentinel', async (retention: HistoryRetention, keyPrefix: string) => {
    const history = () => new RedisHistory({ redis: connect('test-history'), keyPrefix, retention });
    const [a, b] = [history(), history()];
    return {
      a,
      b,
      // A master that lost its data: every key of the installation gone.
      restart: async () => {
        await flushPrefix(keyPrefix, await masterUrl());
        return a;
      },
      close: async () => {
        await Promise.all([a.close(), b.close()]);
        await flushPrefix(keyPrefix, await masterUrl());
      },
    };
  });

  edgeLoadsSuite('redis on Redis Sentinel', async (keyPrefix: string) => {
    const loads = () => new RedisEdgeLoads({ connect: () => connect('test-edge-loads'), keyPrefix });
    const [a, b] = [loads(), loads()];
    return {
      a,
      b,
      close: async () => {
        await Promise.all([a.close(), b.close()]);
        await flushPrefix(keyPrefix, await masterUrl());
      },
    };
  });

  describe('createRedisDrivers on Redis Sentinel', () => {
    let drivers: Drivers | undefined;
    let keyPrefix: string;

    beforeEach(() => {
      keyPrefix = testPrefix();
    });

    afterEach(async () => {
      await drivers?.close();
      drivers = undefined;
      await flushPrefix(keyPrefix, await masterUrl());
    });

    /** Names of our clients connected to a node, from its CLIENT LIST. */
    const clientsOn = async (node: SentinelGroupNode): Promise<string[]> =>
      (await node.cli(PASSWORD, 'client', 'list'))
        .split('\n')
        .map((line) => /\bname=(\S*)/.exec(line)?.[1] ?? '')
        .filter((name) => name.startsWith(keyPrefix));

    /** A bind request answered by the ingest's worker, a lease, a history record and a bus message. */
    const exercise = async (d: Drivers, tag: string) => {
      const binding = { exchange: `exchange/sentinel/${randomId()}`, routingKeyPattern: `${tag}.#` };
      await d.bindQueue.request(binding, 10_000);
      const received: string[] = [];
      d.bus.onMessage((_channel, envelope) => received.push(envelope.toString()));
      const channel = `${keyPrefix}chan-${tag}`;
      await d.bus.subscribe(channel);
      const [cursor] = await d.history.assign(1, Date.now());
      await d.history.record([
        { cursor: cursor!, receivedAt: Date.now(), channels: [channel], frame: Buffer.from(tag) },
      ]);
      await waitUntil(
        async () => {
          await d.bus.publish([{ channel, envelope: Buffer.from(tag) }]);
          return received.includes(tag);
        },
        `a bus message (${tag})`,
        10_000,
      );
      d.bus.onMessage(() => undefined);
    };

    it('connects every driver, BullMQ duplicates included, to the master only', async () => {
      drivers = createRedisDrivers({ sentinel: target(), keyPrefix, bus: 'redis', logger: quietLogger });
      await drivers.bindQueue.process(async () => undefined, 2);
      await exercise(drivers, 'first');
      expect(drivers.isConnected()).to.equal(true);
      const master = await group.master();
      const onMaster = await clientsOn(master);
      for (const role of ['bus-pub', 'bus-sub', 'leases', 'bind-queue', 'history']) {
        expect(onMaster, `CLIENT LIST on the master: ${role}`).to.include(`${keyPrefix}${role}`);
      }
      // BullMQ's duplicates of the bind-queue connection (its QueueEvents reader, its Worker's
      // blocking connection) name themselves after the queue.
      expect(
        onMaster.filter((n) => n.startsWith(`${keyPrefix}bull:`)).length,
        `BullMQ's duplicated connections on the master: ${JSON.stringify(onMaster)}`,
      ).to.be.at.least(2);
      for (const replica of group.dataNodes.filter((n) => n !== master)) {
        expect(await clientsOn(replica), `our clients on replica ${replica.port}`).to.deep.equal([]);
      }
    });

    it('follows a fail-over: every driver, BullMQ duplicates included, moves to the promoted master', async () => {
      drivers = createRedisDrivers({ sentinel: target(), keyPrefix, bus: 'redis', logger: quietLogger });
      await drivers.bindQueue.process(async () => undefined, 2);
      await exercise(drivers, 'before');
      const before = await group.master();
      const ours = (await clientsOn(before)).length;
      await group.sentinels[0]!.cli(PASSWORD, 'sentinel', 'failover', group.masterName);
      const after = await group.waitPromoted(before, 30_000);
      // The old master is still up, and a master, until the sentinels reconfigure it (about 10 s
      // later): the sentinels' announcement moves every connection before that.
      await waitUntil(
        async () => (await clientsOn(after)).length >= ours && (await clientsOn(before)).length === 0,
        `our ${ours} connections to move from ${before.port} to ${after.port}`,
        5000,
      );
      await waitUntil(() => drivers!.isConnected(), 'every driver connected again', 10_000);
      await exercise(drivers, 'after');
    });
  });

  describe('a command in flight when its link drops', () => {
    let node: SentinelGroupNode | undefined;
    let client: RedisClient | undefined;

    afterEach(async () => {
      client?.disconnect();
      await node?.stop('SIGKILL');
    });

    it('fails (it does not wait for good) on a publisher that fails while disconnected', async () => {
      const port = await freePort();
      node = new SentinelGroupNode(port, 'data', [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
      ]);
      await waitUntil(() => node!.answers(), `redis-server on ${port}`, 10_000);
      const publisher = connectRedis(`redis://127.0.0.1:${port}`, {
        name: 'test-in-flight',
        logger: quietLogger,
        maxRetriesPerRequest: 2,
        failWhileDisconnected: true,
        health: { timeoutMs: 1000, kind: 'test' },
      });
      client = publisher;
      await waitUntil(() => publisher.status === 'ready', 'the publisher ready', 5000);
      node.freeze();
      const outcome = publisher.publish('chan', 'x').then(
        () => 'answered',
        (err: Error) => err.message,
      );
      // The health watch drops the silent link within its timeout; the publish must fail with it.
      const settled = await Promise.race([
        outcome,
        new Promise<string>((resolve) => setTimeout(() => resolve('still waiting'), 5000)),
      ]);
      expect(settled).to.match(/Connection lost before the reply/);
      node.thaw();
    });
  });
});
