import type { BindQueue } from './bind-queue.js';
import type { Bus } from './bus.js';
import type { LeaseStore } from './lease-store.js';
import { BullBindQueue } from './bullmq/bind-queue.js';
import { MemoryBindQueue } from './memory/bind-queue.js';
import { MemoryBus } from './memory/bus.js';
import { MemoryLeaseStore } from './memory/lease-store.js';
import { RedisBus } from './redis/bus.js';
import { connectRedis, type DriverLogger } from './redis/connection.js';
import { RedisLeaseStore } from './redis/lease-store.js';
import { ShardedRedisBus } from './redis/sharded-bus.js';

export type { DriverLogger } from './redis/connection.js';

/**
 * Everything a role needs to reach the other tier, and one call to close it all. A type alias, not
 * an interface, so it passes where a plain record of drivers is expected (registerRedisGauge).
 */
export type Drivers = {
  readonly bus: Bus;
  readonly store: LeaseStore;
  readonly queue: BindQueue;
  close(): Promise<void>;
};

export type BusDriver = 'redis' | 'redis-sharded';

export interface RedisDriversOptions {
  readonly url: string;
  /** KEY_PREFIX: starts every key, channel and BullMQ queue name. */
  readonly keyPrefix: string;
  readonly bus: BusDriver;
  readonly logger: DriverLogger;
}

/**
 * The Redis-backed drivers, each on its own connections so one never waits behind another's
 * traffic (a large publish pipeline, a blocking BullMQ read): bus publisher, bus subscriber, lease
 * store, bind queue (which BullMQ duplicates for its blocking readers).
 */
export function createRedisDrivers(opts: RedisDriversOptions): Drivers {
  const logger = opts.logger;
  const connect = (role: string, maxRetriesPerRequest: number | null, failWhileDisconnected = false) =>
    connectRedis(opts.url, {
      name: `${opts.keyPrefix}${role}`,
      logger,
      maxRetriesPerRequest,
      failWhileDisconnected,
    });
  // Lease calls fail after two reconnect attempts instead of piling up during an outage, and
  // publishes fail at once (the router returns them to the queue until Redis is back and the edges
  // have re-subscribed); BullMQ requires null.
  const connections = { publisher: connect('bus-pub', 2, true), subscriber: connect('bus-sub', 2) };
  const bus = opts.bus === 'redis-sharded' ? new ShardedRedisBus(connections) : new RedisBus(connections);
  const store = new RedisLeaseStore({ redis: connect('leases', 2), keyPrefix: opts.keyPrefix, logger });
  const queue = new BullBindQueue({
    connection: connect('bind-queue', null),
    keyPrefix: opts.keyPrefix,
    logger,
  });
  return { bus, store, queue, close: closeAll(bus, store, queue) };
}

/** Single-node mode without Redis: the in-process drivers behind the same interfaces. */
export function createMemoryDrivers(): Drivers {
  const bus = new MemoryBus();
  const store = new MemoryLeaseStore();
  const queue = new MemoryBindQueue();
  return { bus, store, queue, close: closeAll(bus, store, queue) };
}

function closeAll(bus: Bus, store: LeaseStore, queue: BindQueue): () => Promise<void> {
  return async () => {
    // The queue first: its worker may still be taking locks in the store.
    await queue.close();
    await Promise.all([bus.close(), store.close()]);
  };
}
