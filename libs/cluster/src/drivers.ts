import { Cluster, type Redis } from 'ioredis';
import { names } from '@events-proxy/protocol';
import type { BindQueue } from './bind-queue.js';
import type { BindingChangeFeed } from './binding-change-feed.js';
import type { Bus } from './bus.js';
import type { LeaseStore } from './lease-store.js';
import { BullBindQueue } from './bullmq/bind-queue.js';
import { MemoryBindQueue } from './memory/bind-queue.js';
import { MemoryBindingChangeFeed } from './memory/binding-change-feed.js';
import { MemoryBus } from './memory/bus.js';
import { MemoryLeaseStore } from './memory/lease-store.js';
import { RedisBindingChangeFeed } from './redis/binding-change-feed.js';
import { RedisBus } from './redis/bus.js';
import { connectTarget, type DriverLogger, type RedisClient, type RedisTarget } from './redis/client.js';
import { RedisLeaseStore } from './redis/lease-store.js';
import { ShardedRedisBus } from './redis/sharded-bus.js';

export type { DriverLogger } from './redis/client.js';

/**
 * Everything a role needs to reach the other tier, and one call to close it all. A type alias, not
 * an interface, so it passes where a plain record of drivers is expected (registerRedisGauge).
 */
export type Drivers = {
  readonly bus: Bus;
  readonly store: LeaseStore;
  readonly bindQueue: BindQueue;
  /** Binding changes between ingest replicas (connects on first use: edges hold no connection for it). */
  readonly bindingChanges: BindingChangeFeed;
  /** True while every driver is connected (readiness; the same as `events_redis_connected`). */
  isConnected(): boolean;
  close(): Promise<void>;
};

export type BusDriver = 'redis' | 'redis-sharded';

export interface RedisDriversOptions {
  /** A standalone Redis; give this or `clusterNodes`. */
  readonly url?: string;
  /** Seed node URLs of a Redis Cluster (REDIS_CLUSTER_NODES): sharded bus, hash-tagged control keys. */
  readonly clusterNodes?: readonly string[];
  /** KEY_PREFIX: starts every key, channel and BullMQ queue name. */
  readonly keyPrefix: string;
  /** Ignored on a Redis Cluster, which always uses sharded pub/sub. */
  readonly bus: BusDriver;
  readonly logger: DriverLogger;
}

/**
 * The Redis-backed drivers, each on its own connections so one never waits behind another's
 * traffic (a large publish pipeline, a blocking BullMQ read): bus publisher, bus subscriber, lease
 * store, bind queue (which BullMQ duplicates for its blocking readers), binding changes.
 */
export function createRedisDrivers(opts: RedisDriversOptions): Drivers {
  const target = redisTarget(opts);
  const onCluster = 'clusterNodes' in target;
  const logger = opts.logger;
  const connect = (
    role: string,
    maxRetriesPerRequest: number | null,
    extra: { autoPipelining?: boolean; failWhileDisconnected?: boolean } = {},
  ): RedisClient =>
    connectTarget(target, { name: `${opts.keyPrefix}${role}`, logger, maxRetriesPerRequest, ...extra });
  // Lease calls fail after two reconnect attempts instead of piling up during an outage, and
  // publishes fail at once (the router tries them again until Redis is back and the edges have
  // re-subscribed); BullMQ requires null.
  const connections = {
    publisher: connect('bus-pub', 2, { failWhileDisconnected: true }),
    subscriber: connect('bus-sub', 2),
  };
  const sharded = onCluster || opts.bus === 'redis-sharded';
  const bus = sharded
    ? new ShardedRedisBus(connections)
    : new RedisBus({
        publisher: standalone(connections.publisher),
        subscriber: standalone(connections.subscriber),
      });
  const store = new RedisLeaseStore({
    redis: connect('leases', 2),
    keyPrefix: opts.keyPrefix,
    hashTagged: onCluster,
    logger,
  });
  const bindQueue = new BullBindQueue({
    connection: connect('bind-queue', null, { autoPipelining: false }),
    keyPrefix: opts.keyPrefix,
    hashTagged: onCluster,
    logger,
  });
  const bindingChanges = new RedisBindingChangeFeed({
    connect: () => ({ publisher: connect('changes-pub', 2), subscriber: connect('changes-sub', null) }),
    channel: names(opts.keyPrefix).bindingChanges,
    sharded: onCluster,
    logger,
  });
  return withLifecycle({ bus, store, bindQueue, bindingChanges });
}

/** Single-node mode without Redis: the in-process drivers behind the same interfaces. */
export function createMemoryDrivers(): Drivers {
  return withLifecycle({
    bus: new MemoryBus(),
    store: new MemoryLeaseStore(),
    bindQueue: new MemoryBindQueue(),
    bindingChanges: new MemoryBindingChangeFeed(),
  });
}

function redisTarget(opts: RedisDriversOptions): RedisTarget {
  if (opts.url !== undefined && opts.clusterNodes !== undefined) {
    throw new Error(
      'Give createRedisDrivers a url (standalone Redis) or clusterNodes (Redis Cluster), not both',
    );
  }
  if (opts.clusterNodes !== undefined) return { clusterNodes: opts.clusterNodes };
  if (opts.url !== undefined) return { url: opts.url };
  throw new Error('createRedisDrivers needs a url (standalone Redis) or clusterNodes (Redis Cluster)');
}

/** RedisBus runs a Lua script over arbitrary channels, which a Redis Cluster cannot route. */
function standalone(client: RedisClient): Redis {
  if (client instanceof Cluster) {
    throw new Error('The plain Redis bus needs a standalone Redis; a Redis Cluster uses the sharded bus');
  }
  return client;
}

type Parts = Omit<Drivers, 'isConnected' | 'close'>;

function withLifecycle(parts: Parts): Drivers {
  const { bus, store, bindQueue, bindingChanges } = parts;
  return {
    ...parts,
    isConnected: () =>
      bus.isConnected() && store.isConnected() && bindQueue.isConnected() && bindingChanges.isConnected(),
    async close() {
      // The bind queue first: its worker may still be taking locks in the store.
      await bindQueue.close();
      await Promise.all([bus.close(), store.close(), bindingChanges.close()]);
    },
  };
}
