import { Cluster, type Redis } from 'ioredis';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { names } from '@events-proxy/protocol';
import type { BusDriverName, CommonConfig } from '@events-proxy/runtime';
import type { BindQueue } from './bind-queue.js';
import type { BindingChangeFeed } from './binding-change-feed.js';
import type { Bus } from './bus.js';
import type { EdgeLoads } from './edge-loads.js';
import { DEFAULT_CLIENT_LEASE_MS, type ClientLimits } from './client-limits.js';
import { DEFAULT_HISTORY_RETENTION, type History, type HistoryRetention } from './history.js';
import type { LeaseStore } from './lease-store.js';
import { BullBindQueue } from './bullmq/bind-queue.js';
import { MemoryBindQueue } from './memory/bind-queue.js';
import { MemoryBindingChangeFeed } from './memory/binding-change-feed.js';
import { MemoryBus } from './memory/bus.js';
import { MemoryClientLimits } from './memory/client-limits.js';
import { MemoryEdgeLoads } from './memory/edge-loads.js';
import { MemoryHistory } from './memory/history.js';
import { MemoryLeaseStore } from './memory/lease-store.js';
import { registerLinkDropCounter, registerRedisGauge } from './metrics.js';
import { RedisBindingChangeFeed } from './redis/binding-change-feed.js';
import { RedisBus } from './redis/bus.js';
import { RedisClientLimits } from './redis/client-limits.js';
import { RedisEdgeLoads } from './redis/edge-loads.js';
import {
  connectTarget,
  type DriverLogger,
  type RedisClient,
  type RedisSentinelTarget,
  type RedisTarget,
} from './redis/client.js';
import { DEFAULT_REDIS_HEALTH_TIMEOUT_MS, LinkDropCounts } from './redis/link-health.js';
import { RedisHistory } from './redis/history.js';
import { RedisLeaseStore } from './redis/lease-store.js';
import { ShardedRedisBus } from './redis/sharded-bus.js';

export type { DriverLogger } from './redis/client.js';

/** Everything a role needs to reach the other tier, and one call to close it all. */
export interface Drivers {
  readonly bus: Bus;
  readonly store: LeaseStore;
  readonly bindQueue: BindQueue;
  /** Binding changes between ingest replicas (connects on first use: edges hold no connection for it). */
  readonly bindingChanges: BindingChangeFeed;
  /** Positions of messages and what each channel retained, for v2 resumes (DESIGN.md §3b). */
  readonly history: History;
  /** Streams per client and connect rates, counted for the whole installation (edges). */
  readonly clientLimits: ClientLimits;
  /**
   * Each edge's stream counts, for rebalancing the edge tier (DESIGN.md §3e; connects on first use).
   * Not part of readiness: while it cannot be reached, edges only stop rebalancing.
   */
  readonly edgeLoads: EdgeLoads;
  /** Redis-backed (false: the in-process drivers of single-node mode). */
  readonly usesRedis: boolean;
  /** Silent Redis links dropped so far, by connection kind (Redis drivers only). */
  readonly linkDrops?: LinkDropCounts;
  /** True while every driver is connected (readiness; the same as `events_redis_connected`). */
  isConnected(): boolean;
  close(): Promise<void>;
}

export interface RedisDriversOptions {
  /** A standalone Redis; give exactly one of this, `clusterNodes` and `sentinel`. */
  readonly url?: string;
  /** Seed node URLs of a Redis Cluster (REDIS_CLUSTER_NODES): sharded bus, hash-tagged control keys. */
  readonly clusterNodes?: readonly string[];
  /**
   * A Redis Sentinel group (REDIS_SENTINELS, REDIS_SENTINEL_MASTER): every connection goes to the
   * master the sentinels name, as to a standalone Redis (plain bus, untagged keys).
   */
  readonly sentinel?: RedisSentinelTarget;
  /** KEY_PREFIX: starts every key, channel and BullMQ queue name. */
  readonly keyPrefix: string;
  /** Ignored on a Redis Cluster, which always uses sharded pub/sub. */
  readonly bus: BusDriverName;
  readonly logger: DriverLogger;
  /** HISTORY_SECONDS and HISTORY_MAX_MESSAGES (default: theirs). */
  readonly retention?: HistoryRetention;
  /** CLIENT_LEASE_SECONDS in ms: how long a dead edge's client counts stay (default 30 s). */
  readonly clientLeaseMs?: number;
  /** REDIS_HEALTH_TIMEOUT_SECONDS in ms: a silent link is dropped within this (default 5 s; 0: never). */
  readonly healthTimeoutMs?: number;
}

export interface MemoryDriversOptions {
  /** HISTORY_SECONDS and HISTORY_MAX_MESSAGES (default: theirs). */
  readonly retention?: HistoryRetention;
  /**
   * Accepted for symmetry with createRedisDrivers and not used: in one process the edge is the only
   * holder, and its counts end with it, so nothing is leased.
   */
  readonly clientLeaseMs?: number;
}

/** What createDriversFor takes beyond the common configuration (the edge's own settings). */
export interface DriversForOptions {
  /** CLIENT_LEASE_SECONDS in ms (default 30 s; used only with Redis). */
  readonly clientLeaseMs?: number;
}

/**
 * The Redis-backed drivers, each on its own connections so one never waits behind another's
 * traffic (a large publish pipeline, a blocking BullMQ read): bus publisher, bus subscriber, lease
 * store, bind queue (which BullMQ duplicates for its blocking readers), binding changes, history,
 * client limits.
 */
export function createRedisDrivers(opts: RedisDriversOptions): Drivers {
  const target = redisTarget(opts);
  const onCluster = 'clusterNodes' in target;
  const logger = opts.logger;
  const healthTimeoutMs = opts.healthTimeoutMs ?? DEFAULT_REDIS_HEALTH_TIMEOUT_MS;
  const linkDrops = new LinkDropCounts();
  const connect = (
    role: string,
    maxRetriesPerRequest: number | null,
    extra: { autoPipelining?: boolean; failWhileDisconnected?: boolean } = {},
  ): RedisClient =>
    connectTarget(target, {
      name: `${opts.keyPrefix}${role}`,
      logger,
      maxRetriesPerRequest,
      ...extra,
      ...(healthTimeoutMs > 0
        ? { health: { timeoutMs: healthTimeoutMs, kind: role, counts: linkDrops } }
        : {}),
    });
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
    ...(healthTimeoutMs > 0 ? { blockingTimeoutMs: Math.max(1000, healthTimeoutMs - 1000) } : {}),
  });
  const bindingChanges = new RedisBindingChangeFeed({
    connect: () => ({ publisher: connect('changes-pub', 2), subscriber: connect('changes-sub', null) }),
    channel: names(opts.keyPrefix).bindingChanges,
    sharded: onCluster,
    logger,
  });
  const history = new RedisHistory({
    redis: connect('history', 2),
    keyPrefix: opts.keyPrefix,
    retention: opts.retention ?? DEFAULT_HISTORY_RETENTION,
  });
  const clientLimits = new RedisClientLimits({
    redis: connect('client-limits', 2),
    keyPrefix: opts.keyPrefix,
    leaseMs: opts.clientLeaseMs ?? DEFAULT_CLIENT_LEASE_MS,
    logger,
  });
  const edgeLoads = new RedisEdgeLoads({
    connect: () => connect('edge-loads', 2),
    keyPrefix: opts.keyPrefix,
  });
  return {
    ...withLifecycle({ bus, store, bindQueue, bindingChanges, history, clientLimits, edgeLoads }, true),
    linkDrops,
  };
}

/** Single-node mode without Redis: the in-process drivers behind the same interfaces. */
export function createMemoryDrivers(opts: MemoryDriversOptions = {}): Drivers {
  const retention = opts.retention ?? DEFAULT_HISTORY_RETENTION;
  return withLifecycle(
    {
      bus: new MemoryBus(),
      store: new MemoryLeaseStore(),
      bindQueue: new MemoryBindQueue(),
      bindingChanges: new MemoryBindingChangeFeed(),
      history: new MemoryHistory(retention),
      clientLimits: new MemoryClientLimits(),
      edgeLoads: new MemoryEdgeLoads(),
    },
    false,
  );
}

/**
 * The drivers a process's configuration asks for: Redis (standalone, a cluster or a Sentinel group)
 * when REDIS_URL, REDIS_CLUSTER_NODES or REDIS_SENTINELS is set, else the in-process ones
 * (single-node mode; the cluster roles' configuration requires one of the three).
 */
export function createDriversFor(
  config: CommonConfig,
  logger: DriverLogger,
  opts: DriversForOptions = {},
): Drivers {
  const sentinel = config.redisSentinel;
  if (config.redisUrl === undefined && config.redisClusterNodes === undefined && sentinel === undefined) {
    return createMemoryDrivers({ retention: config.historyRetention, clientLeaseMs: opts.clientLeaseMs });
  }
  return createRedisDrivers({
    url: config.redisUrl,
    clusterNodes: config.redisClusterNodes,
    sentinel,
    keyPrefix: config.keyPrefix,
    bus: config.busDriver,
    logger,
    retention: config.historyRetention,
    clientLeaseMs: opts.clientLeaseMs,
    healthTimeoutMs: config.redisHealthTimeoutMs,
  });
}

/**
 * A process's metrics registry: Node's default metrics, and `events_redis_connected` when its
 * drivers use Redis. The roles add their own metrics to it.
 */
export function createProcessRegistry(drivers: Drivers): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  if (drivers.usesRedis) registerRedisGauge(registry, drivers.isConnected);
  if (drivers.linkDrops) registerLinkDropCounter(registry, drivers.linkDrops);
  return registry;
}

function redisTarget(opts: RedisDriversOptions): RedisTarget {
  const given = [opts.url, opts.clusterNodes, opts.sentinel].filter((t) => t !== undefined).length;
  if (given !== 1) {
    throw new Error(
      'Give createRedisDrivers exactly one of url (standalone Redis), clusterNodes (Redis Cluster) ' +
        'and sentinel (Redis Sentinel group)',
    );
  }
  if (opts.clusterNodes !== undefined) return { clusterNodes: opts.clusterNodes };
  if (opts.sentinel !== undefined) return opts.sentinel;
  return { url: opts.url! };
}

/** RedisBus runs a Lua script over arbitrary channels, which a Redis Cluster cannot route. */
function standalone(client: RedisClient): Redis {
  if (client instanceof Cluster) {
    throw new Error('The plain Redis bus needs a standalone Redis; a Redis Cluster uses the sharded bus');
  }
  return client;
}

type Parts = Omit<Drivers, 'usesRedis' | 'isConnected' | 'close'>;

function withLifecycle(parts: Parts, usesRedis: boolean): Drivers {
  const { bus, store, bindQueue, bindingChanges, history, clientLimits, edgeLoads } = parts;
  return {
    ...parts,
    usesRedis,
    isConnected: () =>
      bus.isConnected() &&
      store.isConnected() &&
      bindQueue.isConnected() &&
      bindingChanges.isConnected() &&
      history.isConnected() &&
      clientLimits.isConnected(),
    async close() {
      // The bind queue first: its worker may still be taking locks in the store.
      await bindQueue.close();
      await Promise.all([
        bus.close(),
        store.close(),
        bindingChanges.close(),
        history.close(),
        clientLimits.close(),
        edgeLoads.close(),
      ]);
    },
  };
}
