import {
  MemoryBus,
  RedisBus,
  ShardedRedisBus,
  connectRedis,
  connectTarget,
  type Bus,
} from '@events-proxy/cluster';
import { REDIS_URL, needRedis } from '../support/services.js';
import { busSuite } from './bus.suite.js';
import { quietLogger, sharedRedisCluster } from './redis-support.js';

function connection(name: string) {
  return connectRedis(REDIS_URL, { name: `test-bus-${name}`, logger: quietLogger, maxRetriesPerRequest: 2 });
}

function separateClients(
  make: (pub: ReturnType<typeof connection>, sub: ReturnType<typeof connection>) => Bus,
) {
  return async () => {
    await needRedis();
    // Two bus objects, like an ingest and an edge: the publisher side never subscribes.
    const publisher = make(connection('pub'), connection('unused-sub'));
    const subscriber = make(connection('unused-pub'), connection('sub'));
    return {
      publisher,
      subscriber,
      close: async () => {
        await Promise.all([publisher.close(), subscriber.close()]);
      },
    };
  };
}

busSuite('memory', async () => {
  const bus = new MemoryBus();
  return { publisher: bus, subscriber: bus, close: () => bus.close() };
});

busSuite(
  'redis',
  separateClients((publisher, subscriber) => new RedisBus({ publisher, subscriber })),
);

busSuite(
  'redis-sharded on standalone Redis',
  separateClients((publisher, subscriber) => new ShardedRedisBus({ publisher, subscriber })),
);

busSuite('redis-sharded on a Redis Cluster', async () => {
  const cluster = await sharedRedisCluster();
  const connect = (name: string) =>
    connectTarget({ clusterNodes: cluster.urls }, { name, logger: quietLogger, maxRetriesPerRequest: 2 });
  const publisher = new ShardedRedisBus({
    publisher: connect('test-bus-pub'),
    subscriber: connect('unused-sub'),
  });
  const subscriber = new ShardedRedisBus({
    publisher: connect('unused-pub'),
    subscriber: connect('test-bus-sub'),
  });
  return {
    publisher,
    subscriber,
    close: async () => {
      await Promise.all([publisher.close(), subscriber.close()]);
    },
  };
});
