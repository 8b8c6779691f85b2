export { ChannelsFailed } from './channels-failed.js';
export type { Bus, BusHandler, BusMessage, BusResubscribedHandler } from './bus.js';
export type { LeaseStore } from './lease-store.js';
export type { BindQueue } from './bind-queue.js';
export type { BindingChange, BindingChangeFeed, BindingChangeHandler } from './binding-change-feed.js';
export {
  DEFAULT_HISTORY_RETENTION,
  type ChannelReplay,
  type History,
  type HistoryEntry,
  type HistoryRetention,
  type RecordedMessage,
} from './history.js';
export {
  DEFAULT_CLIENT_LEASE_MS,
  type ClientLimits,
  type StreamGrant,
  type StreamQuota,
} from './client-limits.js';
export { planReplay, type ReplayPlan, type ReplayRequest } from './replay-plan.js';
export { EdgeControlPlane, type EdgeControlPlaneOptions } from './edge-control-plane.js';
export {
  IngestControlPlane,
  type IngestControlPlaneOptions,
  type BrokerBinder,
  type BindingHistoryHooks,
} from './ingest-control-plane.js';
export { MemoryBus } from './memory/bus.js';
export { MemoryLeaseStore } from './memory/lease-store.js';
export { MemoryBindQueue } from './memory/bind-queue.js';
export { MemoryBindingChangeFeed } from './memory/binding-change-feed.js';
export { MemoryHistory } from './memory/history.js';
export { MemoryClientLimits, type MemoryClientLimitsOptions } from './memory/client-limits.js';
export { MemoryEdgeLoads } from './memory/edge-loads.js';
export type { EdgeLoad, EdgeLoads } from './edge-loads.js';
export { registerLinkDropCounter, registerRedisGauge } from './metrics.js';
export {
  DEFAULT_REDIS_HEALTH_TIMEOUT_MS,
  LinkDropCounts,
  LinkHealth,
  type LinkHealthOptions,
} from './redis/link-health.js';
export { RedisBus, type RedisBusConnections } from './redis/bus.js';
export { ShardedRedisBus, type ShardedRedisBusConnections } from './redis/sharded-bus.js';
export { RedisLeaseStore, type RedisLeaseStoreOptions } from './redis/lease-store.js';
export { RedisHistory, type RedisHistoryOptions } from './redis/history.js';
export { RedisClientLimits, type RedisClientLimitsOptions } from './redis/client-limits.js';
export { RedisEdgeLoads, type RedisEdgeLoadsOptions } from './redis/edge-loads.js';
export {
  RedisBindingChangeFeed,
  type RedisBindingChangeFeedConnections,
  type RedisBindingChangeFeedOptions,
} from './redis/binding-change-feed.js';
export {
  connectRedis,
  connectRedisCluster,
  connectSentinel,
  connectTarget,
  sentinelOptions,
  type DriverLogger,
  type RedisClient,
  type RedisConnectionOptions,
  type RedisSentinelTarget,
  type RedisTarget,
} from './redis/client.js';
export { BullBindQueue, type BullBindQueueOptions } from './bullmq/bind-queue.js';
export {
  createRedisDrivers,
  createMemoryDrivers,
  createDriversFor,
  createProcessRegistry,
  type Drivers,
  type DriversForOptions,
  type MemoryDriversOptions,
  type RedisDriversOptions,
} from './drivers.js';
