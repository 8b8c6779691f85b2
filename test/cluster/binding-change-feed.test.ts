import { MemoryBindingChangeFeed, type RedisTarget } from '@events-proxy/cluster';
import { REDIS_URL, needRedis } from '../support/services.js';
import { bindingChangeFeedSuite } from './binding-change-feed.suite.js';
import { redisChangeFeed, sharedRedisCluster, testPrefix } from './redis-support.js';

bindingChangeFeedSuite('memory', async () => {
  const one = new MemoryBindingChangeFeed();
  const two = one.peer();
  const stranger = new MemoryBindingChangeFeed(); // another installation: its own feed
  return {
    one,
    two,
    stranger,
    close: async () => void (await Promise.all([one.close(), two.close(), stranger.close()])),
  };
});

function redisFixture(target: () => Promise<RedisTarget>) {
  return async () => {
    const t = await target();
    const prefix = testPrefix();
    const one = redisChangeFeed(t, prefix);
    const two = redisChangeFeed(t, prefix);
    const stranger = redisChangeFeed(t, `${prefix}other:`);
    return {
      one,
      two,
      stranger,
      close: async () => void (await Promise.all([one.close(), two.close(), stranger.close()])),
    };
  };
}

bindingChangeFeedSuite(
  'redis',
  redisFixture(async () => {
    await needRedis();
    return { url: REDIS_URL };
  }),
);

bindingChangeFeedSuite(
  'redis cluster, sharded pub/sub',
  redisFixture(async () => ({ clusterNodes: (await sharedRedisCluster()).urls })),
);
