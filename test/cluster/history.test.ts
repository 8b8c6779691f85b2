import { expect } from 'chai';
import { Redis } from 'ioredis';
import {
  MemoryHistory,
  RedisHistory,
  connectTarget,
  type HistoryRetention,
  type RecordedMessage,
  type RedisTarget,
} from '@events-proxy/cluster';
import { ORIGIN_CURSOR, names } from '@events-proxy/protocol';
import { REDIS_URL, needRedis } from '../support/services.js';
import { historySuite } from './history.suite.js';
import {
  flushClusterPrefix,
  flushPrefix,
  quietLogger,
  sharedRedisCluster,
  testPrefix,
} from './redis-support.js';

historySuite('memory', async (retention) => {
  let current = new MemoryHistory(retention);
  return {
    a: current,
    b: current,
    // A restarted single node: a new, empty history.
    restart: async () => (current = new MemoryHistory(retention)),
    close: () => current.close(),
  };
});

function redisHistory(target: RedisTarget, keyPrefix: string, retention: HistoryRetention): RedisHistory {
  const redis = connectTarget(target, { name: 'test-history', logger: quietLogger, maxRetriesPerRequest: 2 });
  return new RedisHistory({ redis, keyPrefix, retention });
}

historySuite('redis', async (retention, keyPrefix) => {
  await needRedis();
  const target = { url: REDIS_URL };
  const [a, b] = [redisHistory(target, keyPrefix, retention), redisHistory(target, keyPrefix, retention)];
  return {
    a,
    b,
    // A Redis restarted without persistence: every key of the installation gone.
    restart: async () => {
      await flushPrefix(keyPrefix);
      return a;
    },
    close: async () => {
      await Promise.all([a.close(), b.close()]);
      await flushPrefix(keyPrefix);
    },
  };
});

historySuite('redis cluster', async (retention, keyPrefix) => {
  const cluster = await sharedRedisCluster();
  const target = { clusterNodes: cluster.urls };
  const [a, b] = [redisHistory(target, keyPrefix, retention), redisHistory(target, keyPrefix, retention)];
  return {
    a,
    b,
    restart: async () => {
      await flushClusterPrefix(cluster, keyPrefix);
      return a;
    },
    // The cluster is private to this run and deleted after it: no keys to flush.
    close: async () => void (await Promise.all([a.close(), b.close()])),
  };
});

describe('cluster: RedisHistory storage', () => {
  let keyPrefix: string;
  let history: RedisHistory | undefined;
  let redis: Redis;

  beforeEach(async () => {
    await needRedis();
    keyPrefix = testPrefix();
    redis = new Redis(REDIS_URL);
  });

  afterEach(async () => {
    await history?.close();
    history = undefined;
    redis.disconnect();
    await flushPrefix(keyPrefix);
  });

  async function record(h: RedisHistory, channel: string, count: number): Promise<string[]> {
    const now = Date.now();
    const cursors = await h.assign(count, now);
    const messages: RecordedMessage[] = cursors.map((cursor) => ({
      cursor,
      receivedAt: now,
      frame: Buffer.alloc(100, 1),
      channels: [channel],
    }));
    await h.record(messages);
    return cursors;
  }

  it('holds about maxMessages entries per channel, however many were recorded', async () => {
    history = new RedisHistory({
      redis: new Redis(REDIS_URL),
      keyPrefix,
      retention: { retentionMs: 600_000, maxMessages: 50 },
    });
    const channel = `${keyPrefix}msg:busy`;
    for (let i = 0; i < 100; i++) await record(history, channel, 10);
    const { entries } = names(keyPrefix).historyKeys(channel);
    const length = await redis.xlen(entries);
    expect(length).to.be.within(50, 55);
  });

  it('removes entries older than the retention from Redis on the next record', async () => {
    history = new RedisHistory({
      redis: new Redis(REDIS_URL),
      keyPrefix,
      retention: { retentionMs: 200, maxMessages: 1000 },
    });
    const channel = `${keyPrefix}msg:old`;
    await record(history, channel, 30);
    await new Promise((r) => setTimeout(r, 300));
    const fresh = await record(history, channel, 2);
    const { entries } = names(keyPrefix).historyKeys(channel);
    expect(await redis.xlen(entries)).to.equal(2);
    const [replay] = await history.read([channel], ORIGIN_CURSOR);
    expect(replay!.entries.map((e) => e.cursor)).to.deep.equal(fresh);
  });

  it('rejects a malformed cursor in read without calling Redis', async () => {
    history = new RedisHistory({
      redis: new Redis(REDIS_URL),
      keyPrefix,
      retention: { retentionMs: 1000, maxMessages: 10 },
    });
    const err = await history.read(['x'], 'not-a-cursor').catch((e: unknown) => e);
    expect(err).to.be.instanceOf(Error);
    expect(await redis.exists(names(keyPrefix).historyPosition)).to.equal(0);
  });
});
