import { MemoryEdgeLoads, RedisEdgeLoads, connectTarget, type RedisTarget } from '@events-proxy/cluster';
import { REDIS_URL, needRedis } from '../support/services.js';
import { edgeLoadsSuite } from './edge-loads.suite.js';
import { flushPrefix, quietLogger, sharedRedisCluster } from './redis-support.js';

edgeLoadsSuite('memory', async () => {
  // Single-node mode: one process, one store.
  const loads = new MemoryEdgeLoads();
  return { a: loads, b: loads, close: () => loads.close() };
});

function redisLoads(target: RedisTarget, keyPrefix: string): RedisEdgeLoads {
  return new RedisEdgeLoads({
    connect: () =>
      connectTarget(target, { name: 'test-edge-loads', logger: quietLogger, maxRetriesPerRequest: 2 }),
    keyPrefix,
  });
}

edgeLoadsSuite('redis', async (keyPrefix) => {
  await needRedis();
  const target = { url: REDIS_URL };
  const [a, b] = [redisLoads(target, keyPrefix), redisLoads(target, keyPrefix)];
  return {
    a,
    b,
    close: async () => {
      await Promise.all([a.close(), b.close()]);
      await flushPrefix(keyPrefix);
    },
  };
});

edgeLoadsSuite('redis cluster', async (keyPrefix) => {
  const cluster = await sharedRedisCluster();
  const target = { clusterNodes: cluster.urls };
  const [a, b] = [redisLoads(target, keyPrefix), redisLoads(target, keyPrefix)];
  // The cluster is private to this run and deleted after it: no keys to flush.
  return { a, b, close: async () => void (await Promise.all([a.close(), b.close()])) };
});
