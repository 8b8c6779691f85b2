import { Redis } from 'ioredis';
import { names } from '@events-proxy/protocol';
import { BullBindQueue, MemoryBindQueue, connectRedis } from '@events-proxy/cluster';
import { REDIS_URL, needRedis } from '../support/services.js';
import { waitUntil } from '../support/wait.js';
import { bindQueueSuite } from './bind-queue.suite.js';
import { flushPrefix, quietLogger, testPrefix } from './redis-support.js';

bindQueueSuite('memory', async () => {
  const queue = new MemoryBindQueue();
  // In memory a request is registered synchronously: by the time queued() runs, it is in.
  return { ingest: queue, edges: [queue, queue], queued: async () => undefined, close: () => queue.close() };
});

bindQueueSuite('bullmq', async () => {
  await needRedis();
  const keyPrefix = testPrefix();
  const make = (role: string) =>
    new BullBindQueue({
      connection: connectRedis(REDIS_URL, {
        name: `test-bind-${role}`,
        logger: quietLogger,
        maxRetriesPerRequest: null,
      }),
      keyPrefix,
      logger: quietLogger,
    });
  const queues = { ingest: make('ingest'), edges: [make('edge-1'), make('edge-2')] as const };
  const n = names(keyPrefix);
  const events = `${n.bullPrefix}:${n.bindQueue}:events`;
  /** Every add leaves one event on the queue's stream: 'added' for a new job, else 'deduplicated'. */
  const queued = async (requests: number) => {
    const redis = new Redis(REDIS_URL);
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
      await flushPrefix(keyPrefix);
    },
  };
});
