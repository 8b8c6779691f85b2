import { DEFAULT_KEY_PREFIX } from '@events-proxy/protocol';
import type { EnvReader } from './env.js';
import { LOG_LEVELS, type LogLevel } from './logger.js';

/** Configuration every role reads (DESIGN.md §4). */
export interface CommonConfig {
  /** Redis URL; required by the cluster roles, optional in single-node mode. */
  readonly redisUrl: string | undefined;
  /** `redis` (pub/sub) or `redis-sharded` (Redis 7 sharded pub/sub). */
  readonly busDriver: 'redis' | 'redis-sharded';
  /** Prefix of every Redis key, channel and BullMQ queue. */
  readonly keyPrefix: string;
  /** A binding no client holds is removed from the broker within 1.5× this. */
  readonly bindingLeaseMs: number;
  readonly metricsPort: number;
  readonly logLevel: LogLevel;
}

export function readCommonConfig(env: EnvReader): CommonConfig {
  return {
    redisUrl: env.url('REDIS_URL', ['redis:', 'rediss:']),
    busDriver: env.oneOf('BUS_DRIVER', ['redis', 'redis-sharded'] as const, 'redis'),
    keyPrefix: env.stringAllowEmpty('KEY_PREFIX', DEFAULT_KEY_PREFIX),
    bindingLeaseMs: env.seconds('BINDING_LEASE_SECONDS', 60, 1, 86_400),
    metricsPort: env.int('METRICS_PORT', 9090, 0, 65_535),
    logLevel: env.oneOf('LOG_LEVEL', LOG_LEVELS, 'info'),
  };
}
