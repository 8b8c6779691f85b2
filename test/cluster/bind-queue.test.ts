import { names } from '@events-proxy/protocol';
import {
  BullBindQueue,
  MemoryBindQueue,
  connectTarget,
  type RedisClient,
  type RedisTarget,
} from '@events-proxy/cluster';
import { REDIS_URL, needRedis } from '../support/services.js';
import { waitUntil } from '../support/wait.js';
import { bindQueueSuite } from './bind-queue.suite.js';
import { flushPrefix, quietLogger, sharedRedisCluster, testPrefix } from './redis-support.js';

bindQueueSuite('memory', async () => {
  const queue = new MemoryBindQueue();
  // In memory a request is registered synchronously: by the time queued() runs, it is in.
  return { ingest: queue, edges: [queue, queue], queued: async () => undefined, close: () => queue.close() };
});

/** BullMQ bind queues of one installation, and queued(n) reading the queue's event stream. */
function bullFixture(
  target: RedisTarget,
  keyPrefix: string,
  hashTagged: boolean,
  flush: () => Promise<void>,
) {
  const make = (role: string) =>
    new BullBindQueue({
      connection: connectTarget(target, {
        name: `test-bind-${role}`,
        logger: quietLogger,
        maxRetriesPerRequest: null,
        autoPipelining: false,
      }),
      keyPrefix,
      hashTagged,
      logger: quietLogger,
    });
  const queues = { ingest: make('ingest'), edges: [make('edge-1'), make('edge-2')] as const };
  const n = names(keyPrefix, { hashTagged });
  const events = `${n.bullPrefix}:${n.bindQueue}:events`;
  /** Every add leaves one event on the queue's stream: 'added' for a new job, else 'deduplicated'. */
  const queued = async (requests: number) => {
    const redis: RedisClient = connectTarget(target, {
      name: 'test-bind-probe',
      logger: quietLogger,
      maxRetriesPerRequest: 2,
    });
    try {
      await waitUntil(
        async () => {
          const entries = await redis.xrange(events, '-', '+');
          const adds = entries.filter(([, fields]) => ['added', 'deduplicated'].includes(fields[1] ?? ''));
          return adds.length >= requests;
        },
        `${requests} requests on the queue`,
        5000,
      );
    } finally {
      redis.disconnect();
    }
  };
  return {
    ...queues,
    queued,
    close: async () => {
      await Promise.all([queues.ingest, ...queues.edges].map((q) => q.close()));
      await flush();
    },
  };
}

bindQueueSuite('bullmq', async () => {
  await needRedis();
  const keyPrefix = testPrefix();
  return bullFixture({ url: REDIS_URL }, keyPrefix, false, () => flushPrefix(keyPrefix));
});

bindQueueSuite('bullmq on a Redis Cluster, hash-tagged prefix', async () => {
  const cluster = await sharedRedisCluster();
  // The cluster is private to this run and deleted after it: no keys to flush.
  return bullFixture({ clusterNodes: cluster.urls }, testPrefix(), true, async () => undefined);
});
