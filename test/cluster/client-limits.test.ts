import { expect } from 'chai';
import { Redis } from 'ioredis';
import {
  MemoryClientLimits,
  RedisClientLimits,
  connectTarget,
  createMemoryDrivers,
  createRedisDrivers,
  type DriverLogger,
  type RedisTarget,
  type StreamGrant,
} from '@events-proxy/cluster';
import { names } from '@events-proxy/protocol';
import { createLogger } from '@events-proxy/runtime';
import { REDIS_URL, needRedis } from '../support/services.js';
import { randomId } from '../support/processes.js';
import { waitUntil } from '../support/wait.js';
import { clientLimitsSuite } from './client-limits.suite.js';
import {
  PrivateRedis,
  flushClusterPrefix,
  flushPrefix,
  quietLogger,
  sharedRedisCluster,
  testPrefix,
} from './redis-support.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

clientLimitsSuite(
  'memory',
  async () => {
    // Single-node mode: one process, the only holder.
    const limits = new MemoryClientLimits();
    return { a: limits, b: limits, close: () => limits.close() };
  },
  { shared: false },
);

function redisLimits(
  target: RedisTarget,
  keyPrefix: string,
  leaseMs: number,
  logger: DriverLogger = quietLogger,
): RedisClientLimits {
  const redis = connectTarget(target, { name: 'test-client-limits', logger, maxRetriesPerRequest: 2 });
  return new RedisClientLimits({ redis, keyPrefix, leaseMs, logger });
}

clientLimitsSuite(
  'redis',
  async ({ leaseMs }, keyPrefix) => {
    await needRedis();
    const target = { url: REDIS_URL };
    const [a, b] = [redisLimits(target, keyPrefix, leaseMs), redisLimits(target, keyPrefix, leaseMs)];
    return {
      a,
      b,
      crashA: async () => a.abandon(),
      // A Redis restarted without persistence: every key of the installation gone.
      loseStore: () => flushPrefix(keyPrefix),
      close: async () => {
        await Promise.all([a.close(), b.close()]);
        await flushPrefix(keyPrefix);
      },
    };
  },
  { shared: true },
);

clientLimitsSuite(
  'redis cluster',
  async ({ leaseMs }, keyPrefix) => {
    const cluster = await sharedRedisCluster();
    const target = { clusterNodes: cluster.urls };
    const [a, b] = [redisLimits(target, keyPrefix, leaseMs), redisLimits(target, keyPrefix, leaseMs)];
    return {
      a,
      b,
      crashA: async () => a.abandon(),
      loseStore: () => flushClusterPrefix(cluster, keyPrefix),
      // The cluster is private to this run and deleted after it: no keys to flush.
      close: async () => void (await Promise.all([a.close(), b.close()])),
    };
  },
  { shared: true },
);

function granted(g: StreamGrant): Extract<StreamGrant, { ok: true }> {
  expect(g.ok, g.ok ? 'granted' : `refused: ${JSON.stringify(g.full)}`).to.equal(true);
  return g as Extract<StreamGrant, { ok: true }>;
}

describe('cluster: MemoryClientLimits bounds', () => {
  it('drops connect entries once their allowance is whole again', async () => {
    const limits = new MemoryClientLimits({ sweepIntervalMs: 50 });
    for (let i = 0; i < 100; i++) expect(await limits.takeConnect(`ip:${i}`, 10, 1)).to.equal(0);
    expect(limits.trackedKeys().connects).to.equal(100);
    await sleep(150); // every arrival time (100 ms ahead) is past, and a sweep is due
    expect(await limits.takeConnect('ip:new', 10, 1)).to.equal(0);
    expect(limits.trackedKeys().connects).to.equal(1);
    await limits.close();
  });

  it('keeps a connect entry while its allowance is spent', async () => {
    const limits = new MemoryClientLimits({ sweepIntervalMs: 0 });
    expect(await limits.takeConnect('ip:busy', 1, 1)).to.equal(0);
    await sleep(20);
    expect(await limits.takeConnect('ip:other', 1, 1)).to.equal(0);
    expect(limits.trackedKeys().connects).to.equal(2);
    expect(await limits.takeConnect('ip:busy', 1, 1)).to.be.within(1, 1000);
    await limits.close();
  });

  it('holds no stream entry for a key whose streams were all released', async () => {
    const limits = new MemoryClientLimits();
    const grants = [];
    for (let i = 0; i < 50; i++) {
      grants.push(
        granted(
          await limits.acquireStream([
            { key: `ip:${i}`, limit: 2 },
            { key: 'sub:x', limit: 100 },
          ]),
        ),
      );
    }
    expect(limits.trackedKeys().streams).to.equal(51);
    for (const g of grants) g.release();
    expect(limits.trackedKeys().streams).to.equal(0);
    await limits.close();
  });
});

describe('cluster: RedisClientLimits storage', () => {
  let keyPrefix: string;
  let redis: Redis;
  const open: RedisClientLimits[] = [];
  const limits = (leaseMs = 30_000) => {
    const l = redisLimits({ url: REDIS_URL }, keyPrefix, leaseMs);
    open.push(l);
    return l;
  };

  beforeEach(async () => {
    await needRedis();
    keyPrefix = testPrefix();
    redis = new Redis(REDIS_URL);
  });

  afterEach(async () => {
    await Promise.all(open.splice(0).map((l) => l.close()));
    redis.disconnect();
    await flushPrefix(keyPrefix);
  });

  it("keeps one hash per client key, with each holder's count and lease, gone once all is released", async () => {
    const [a, b] = [limits(), limits()];
    const key = `ip:${randomId()}`;
    const hash = names(keyPrefix).clientStreams(key);
    const grants = [
      granted(await a.acquireStream([{ key, limit: 5 }])),
      granted(await a.acquireStream([{ key, limit: 5 }])),
      granted(await b.acquireStream([{ key, limit: 5 }])),
    ];
    const fields = await redis.hgetall(hash);
    expect(fields[a.holder]).to.equal('2');
    expect(fields[b.holder]).to.equal('1');
    const time = await redis.time();
    const now = Number(time[0]) * 1000 + Math.floor(Number(time[1]) / 1000);
    expect(Number(fields[`${a.holder}:exp`]) - now).to.be.within(29_000, 30_000);
    expect(await redis.pttl(hash)).to.be.within(59_000, 60_000);
    for (const g of grants) g.release();
    await waitUntil(async () => (await redis.exists(hash)) === 0, 'the hash to go', 3000);
  });

  it('writes its own count over a wrong one at the next renewal', async () => {
    const a = limits(300);
    const key = `ip:${randomId()}`;
    const hash = names(keyPrefix).clientStreams(key);
    granted(await a.acquireStream([{ key, limit: 5 }]));
    await redis.hset(hash, a.holder, '4'); // as a release that failed, or an answer that was lost, leaves it
    await waitUntil(async () => (await redis.hget(hash, a.holder)) === '1', 'the count to be 1 again', 2000);
  });

  it('counts what it holds when it finds its fields gone, without waiting for the renewal', async () => {
    const a = limits(); // renews every 10 s: not during this test
    const key = `ip:${randomId()}`;
    const hash = names(keyPrefix).clientStreams(key);
    const grants = [];
    for (let i = 0; i < 3; i++) grants.push(granted(await a.acquireStream([{ key, limit: 4 }])));
    await redis.del(hash);
    granted(await a.acquireStream([{ key, limit: 4 }]));
    expect(await redis.hget(hash, a.holder)).to.equal('4');
    expect((await a.acquireStream([{ key, limit: 4 }])).ok).to.equal(false);
    await redis.del(hash);
    grants[0]!.release();
    await waitUntil(async () => (await redis.hget(hash, a.holder)) === '3', 'the count to be 3', 2000);
  });

  it('keeps a connect key only until its allowance is whole again', async () => {
    const a = limits();
    const key = `ip:${randomId()}`;
    const rate = names(keyPrefix).connectRate(key);
    expect(await a.takeConnect(key, 5, 2)).to.equal(0); // 200 ms per connect
    expect(await a.takeConnect(key, 5, 2)).to.equal(0);
    expect(await redis.pttl(rate)).to.be.within(300, 401);
    await waitUntil(async () => (await redis.exists(rate)) === 0, 'the connect key to expire', 2000);
  });

  it('writes its counts back after a Redis restart without persistence, logging the failed renewals meanwhile', async function () {
    this.timeout(40_000);
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    const server = await PrivateRedis.start();
    const lines: { msg: string; component?: string }[] = [];
    const logger = createLogger('debug', {}, (line) => lines.push(JSON.parse(line) as { msg: string }));
    const prefix = testPrefix();
    const a = redisLimits({ url: server.url }, prefix, 300, logger);
    const b = redisLimits({ url: server.url }, prefix, 300);
    try {
      const ip = { key: `ip:${randomId()}`, limit: 2 };
      granted(await a.acquireStream([ip]));
      granted(await a.acquireStream([ip]));
      await server.stop();
      await waitUntil(
        () => lines.some((l) => l.msg === 'could not renew client leases'),
        'a failed renewal to be logged',
        15_000,
      );
      expect(a.isConnected()).to.equal(false);
      await server.start(); // empty: no persistence
      await waitUntil(() => a.isConnected() && b.isConnected(), 'both to reconnect', 15_000);
      await waitUntil(
        async () => {
          const g = await b.acquireStream([ip]);
          if (g.ok) g.release();
          return !g.ok;
        },
        "a's counts to be written back",
        3000,
      );
      expect(unhandled, 'unhandled rejections').to.deep.equal([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
      await Promise.all([a.close(), b.close()]);
      await server.stop();
    }
  });
});

describe('cluster: client limits in the drivers', () => {
  it('gives single-node mode in-process client limits', async () => {
    const drivers = createMemoryDrivers();
    const quota = { key: 'ip:203.0.113.7', limit: 1 };
    granted(await drivers.clientLimits.acquireStream([quota]));
    expect(await drivers.clientLimits.acquireStream([quota])).to.deep.equal({ ok: false, full: quota });
    expect(drivers.isConnected()).to.equal(true);
    await drivers.close();
  });

  it('gives the Redis drivers client limits on their own connection, with the lease given', async function () {
    this.timeout(15_000);
    await needRedis();
    const keyPrefix = testPrefix();
    const make = () =>
      createRedisDrivers({
        url: REDIS_URL,
        keyPrefix,
        bus: 'redis',
        logger: quietLogger,
        clientLeaseMs: 5000,
      });
    const [edge1, edge2] = [make(), make()];
    let edge1Open = true;
    const redis = new Redis(REDIS_URL);
    try {
      const quota = { key: `ip:${randomId()}`, limit: 1 };
      granted(await edge1.clientLimits.acquireStream([quota]));
      expect(await edge2.clientLimits.acquireStream([quota])).to.deep.equal({ ok: false, full: quota });
      const fields = await redis.hgetall(names(keyPrefix).clientStreams(quota.key));
      const holder = Object.keys(fields).find((f) => !f.endsWith(':exp'))!;
      const time = await redis.time();
      const now = Number(time[0]) * 1000 + Math.floor(Number(time[1]) / 1000);
      expect(Number(fields[`${holder}:exp`]) - now).to.be.within(4000, 5000);
      const clients = await redis.client('LIST');
      expect(String(clients)).to.include(`name=${keyPrefix}client-limits`);
      await waitUntil(() => edge1.isConnected() && edge2.isConnected(), 'the drivers to connect', 5000);
      // A clean close gives back what the edge held.
      edge1Open = false;
      await edge1.close();
      granted(await edge2.clientLimits.acquireStream([quota]));
    } finally {
      await Promise.all([edge1Open ? edge1.close() : undefined, edge2.close()]);
      redis.disconnect();
      await flushPrefix(keyPrefix);
    }
  });
});
