import { DEFAULT_KEY_PREFIX } from '@events-proxy/protocol';
import { EnvReader } from './env.js';
import { LOG_LEVELS, type LogLevel } from './logger.js';
import { parseSentinelList } from './redis-sentinels.js';

export type BusDriverName = 'redis' | 'redis-sharded';

/** Configuration every role reads (DESIGN.md §4). */
export interface CommonConfig {
  /** Standalone Redis URL; required by the cluster roles unless `redisClusterNodes` is set. */
  readonly redisUrl: string | undefined;
  /** Seed `redis://host:port` URLs of a Redis Cluster (REDIS_CLUSTER_NODES); never set with `redisUrl`. */
  readonly redisClusterNodes: readonly string[] | undefined;
  /**
   * A Redis Sentinel group (REDIS_SENTINELS, REDIS_SENTINEL_MASTER, REDIS_SENTINEL_PASSWORD); never
   * set with `redisUrl` or `redisClusterNodes`.
   */
  readonly redisSentinel: RedisSentinelConfig | undefined;
  /** `redis` (pub/sub) or `redis-sharded` (Redis 7 sharded pub/sub; always so on a Redis Cluster). */
  readonly busDriver: BusDriverName;
  /** Prefix of every Redis key, channel and BullMQ queue. */
  readonly keyPrefix: string;
  /** A binding no client holds is removed from the broker within 1.5× this. */
  readonly bindingLeaseMs: number;
  /** What the v2 history keeps (§3b); the shape of libs/cluster's `HistoryRetention`. */
  readonly historyRetention: {
    /** HISTORY_SECONDS in ms; 0 turns history off. */
    readonly retentionMs: number;
    /** HISTORY_MAX_MESSAGES: per (exchange, pattern) channel. */
    readonly maxMessages: number;
  };
  /** REDIS_HEALTH_TIMEOUT_SECONDS in ms: a Redis link silent this long is dropped and reconnected. */
  readonly redisHealthTimeoutMs: number;
  readonly metricsPort: number;
  readonly logLevel: LogLevel;
}

/** Where a Redis Sentinel group's sentinels are and which master of theirs to use. */
export interface RedisSentinelConfig {
  /**
   * REDIS_SENTINELS as given: `host:port` or `redis[s]://[user:password@]host:port[/db]` entries
   * (read by `parseSentinelList`); URL credentials and TLS apply to sentinels and data nodes.
   */
  readonly sentinels: readonly string[];
  /** REDIS_SENTINEL_MASTER: the name the sentinels monitor the master under. */
  readonly masterName: string;
  /** REDIS_SENTINEL_PASSWORD: the sentinels' own password, when it differs from the data nodes'. */
  readonly sentinelPassword?: string;
}

const REDIS_PROTOCOLS = ['redis:', 'rediss:'];

export function readCommonConfig(env: EnvReader): CommonConfig {
  const redisUrl = env.url('REDIS_URL', REDIS_PROTOCOLS);
  const redisClusterNodes = readClusterNodes(env);
  const redisSentinel = readSentinel(env);
  const targets = [
    ...(redisUrl !== undefined ? ['REDIS_URL'] : []),
    ...(redisClusterNodes !== undefined ? ['REDIS_CLUSTER_NODES'] : []),
    ...(redisSentinel !== undefined ? ['REDIS_SENTINELS'] : []),
  ];
  if (targets.length > 1) {
    env.problem(
      `${targets.join(' and ')} are ${targets.length === 2 ? 'both' : 'all'} set: set exactly one of REDIS_URL (a standalone Redis), ` +
        'REDIS_CLUSTER_NODES (a Redis Cluster) or REDIS_SENTINELS (a Redis Sentinel group)',
    );
  }
  return {
    redisUrl,
    redisClusterNodes,
    redisSentinel,
    busDriver: readBusDriver(env, redisClusterNodes !== undefined),
    keyPrefix: env.stringAllowEmpty('KEY_PREFIX', DEFAULT_KEY_PREFIX),
    bindingLeaseMs: env.seconds('BINDING_LEASE_SECONDS', 60, 1, 86_400),
    historyRetention: {
      retentionMs: env.seconds('HISTORY_SECONDS', 300, 0, 86_400),
      maxMessages: env.int('HISTORY_MAX_MESSAGES', 1000, 1, 1_000_000),
    },
    redisHealthTimeoutMs: env.seconds('REDIS_HEALTH_TIMEOUT_SECONDS', 5, 0, 300),
    metricsPort: env.int('METRICS_PORT', 9090, 0, 65_535),
    logLevel: env.oneOf('LOG_LEVEL', LOG_LEVELS, 'info'),
  };
}

/** Where Redis is, for the start-up log line (never a credential). */
export function redisTargetSummary(config: CommonConfig): string | Record<string, string | number> {
  if (config.redisClusterNodes) return { clusterNodes: config.redisClusterNodes.length };
  if (config.redisSentinel) {
    return { sentinels: config.redisSentinel.sentinels.length, master: config.redisSentinel.masterName };
  }
  return config.redisUrl === undefined ? 'none' : 'standalone';
}

/** Records a problem when a cluster role has no Redis: standalone, Cluster or Sentinel. */
export function checkRedisConfigured(env: EnvReader, config: CommonConfig, role: string): void {
  if (config.redisUrl !== undefined || config.redisClusterNodes !== undefined) return;
  if (config.redisSentinel !== undefined) return;
  env.problem(
    `REDIS_URL is required by the ${role} role (e.g. redis://localhost:6379), ` +
      'or REDIS_CLUSTER_NODES for a Redis Cluster (e.g. redis://redis-0:6379,redis://redis-1:6379), ' +
      'or REDIS_SENTINELS with REDIS_SENTINEL_MASTER for a Redis Sentinel group (e.g. redis-sentinel:26379 and mymaster)',
  );
}

/**
 * REDIS_SENTINELS, REDIS_SENTINEL_MASTER and REDIS_SENTINEL_PASSWORD: each of the last two only
 * with the first, and the master's name always with it.
 */
function readSentinel(env: EnvReader): RedisSentinelConfig | undefined {
  const sentinels = env.list('REDIS_SENTINELS', []);
  const masterName = env.string('REDIS_SENTINEL_MASTER');
  const sentinelPassword = env.string('REDIS_SENTINEL_PASSWORD');
  if (sentinels.length === 0) {
    if (masterName !== undefined) {
      env.problem(
        'REDIS_SENTINEL_MASTER is set without REDIS_SENTINELS: set both for a Redis Sentinel group, or neither',
      );
    }
    if (sentinelPassword !== undefined) {
      env.problem("REDIS_SENTINEL_PASSWORD is set without REDIS_SENTINELS: it is the sentinels' password");
    }
    return undefined;
  }
  for (const problem of parseSentinelList(sentinels).problems) env.problem(`REDIS_SENTINELS: ${problem}`);
  if (masterName === undefined) {
    env.problem(
      'REDIS_SENTINEL_MASTER is required with REDIS_SENTINELS: the name the sentinels monitor the master ' +
        "under (`sentinel monitor <name> …`; Bitnami's chart: mymaster)",
    );
  }
  return {
    sentinels,
    masterName: masterName ?? '',
    ...(sentinelPassword !== undefined ? { sentinelPassword } : {}),
  };
}

/** REDIS_CLUSTER_NODES: a comma list of seed node URLs; the client discovers the rest. */
function readClusterNodes(env: EnvReader): string[] | undefined {
  const nodes = env.list('REDIS_CLUSTER_NODES', []);
  if (nodes.length === 0) return undefined;
  for (const node of nodes) {
    const problem = clusterNodeProblem(node);
    if (problem) env.problem(`REDIS_CLUSTER_NODES: ${JSON.stringify(node)} ${problem}`);
  }
  return nodes;
}

function clusterNodeProblem(node: string): string | undefined {
  let url: URL;
  try {
    url = new URL(node);
  } catch {
    return 'is not a URL: expected redis://host:port';
  }
  if (!REDIS_PROTOCOLS.includes(url.protocol)) return 'must start with redis:// or rediss://';
  if (url.hostname === '' || url.port === '') return 'needs a host and a port: expected redis://host:port';
  if (url.pathname !== '' && url.pathname !== '/') {
    return 'names a database: a Redis Cluster has only database 0, drop the path';
  }
  return undefined;
}

/** A Redis Cluster needs sharded pub/sub (plain PUBLISH is broadcast to every node of the cluster). */
function readBusDriver(env: EnvReader, onCluster: boolean): BusDriverName {
  const driver = env.oneOf(
    'BUS_DRIVER',
    ['redis', 'redis-sharded'] as const,
    onCluster ? 'redis-sharded' : 'redis',
  );
  if (onCluster && driver === 'redis') {
    env.problem(
      'BUS_DRIVER=redis cannot be used with REDIS_CLUSTER_NODES: a Redis Cluster uses sharded pub/sub; ' +
        'unset BUS_DRIVER or set it to redis-sharded',
    );
  }
  return driver;
}

export interface RoleConfigLoader<T extends CommonConfig> {
  /**
   * Reads the role's configuration; throws a ConfigError listing every problem at once. Single-node
   * mode passes `requireRedis: false` (without Redis it runs on the in-process drivers).
   */
  load(env?: NodeJS.ProcessEnv, opts?: { requireRedis?: boolean }): T;
  /** Every environment variable the role reads, taken from the reader so it cannot drift. */
  readonly envNames: readonly string[];
}

/**
 * A role's configuration: the common part (DESIGN.md §4) read first, Redis required unless told
 * otherwise, then the role's own variables from `readRole`.
 */
export function roleConfig<T extends CommonConfig>(
  role: string,
  readRole: (env: EnvReader, common: CommonConfig) => T,
): RoleConfigLoader<T> {
  const read = (reader: EnvReader, requireRedis: boolean): T => {
    const common = readCommonConfig(reader);
    if (requireRedis) checkRedisConfigured(reader, common, role);
    return readRole(reader, common);
  };
  const names = new EnvReader({});
  read(names, true);
  return {
    load(env = process.env, opts = {}) {
      const reader = new EnvReader(env);
      const config = read(reader, opts.requireRedis !== false);
      reader.done();
      return config;
    },
    envNames: Object.freeze([...names.names]),
  };
}
