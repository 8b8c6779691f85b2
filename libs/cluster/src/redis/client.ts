import { setTimeout as sleep } from 'node:timers/promises';
import { Cluster, Redis, type ClusterNode, type RedisOptions } from 'ioredis';
import { parseSentinelList, type Logger } from '@events-proxy/runtime';
import { LinkHealth, type LinkDropCounts } from './link-health.js';
import { RepeatFilter } from './repeat-filter.js';
import { SentinelWatch } from './sentinel-watch.js';

/** The logging the drivers need (a runtime Logger; they make no child loggers). */
export type DriverLogger = Pick<Logger, 'debug' | 'info' | 'warn' | 'error'>;

export interface RedisConnectionOptions {
  /** Shown by CLIENT LIST and in every log line about this connection. */
  readonly name: string;
  readonly logger: DriverLogger;
  /**
   * How many reconnect attempts a command may wait through before it fails. BullMQ needs null
   * (wait forever: its blocking commands and job moves must not be dropped); the bus and the
   * lease store fail fast instead, so an outage surfaces as errors rather than as a growing queue.
   */
  readonly maxRetriesPerRequest: number | null;
  /**
   * Commands fail at once while disconnected, and those in flight when the connection drops fail
   * instead of being sent again on reconnect. For the bus publisher: a batch caught by an outage
   * must fail (the router tries it again after the grace below), not go out the moment Redis is
   * back, before the edges re-subscribe.
   */
  readonly failWhileDisconnected?: boolean;
  /**
   * Redis Cluster only: send the commands of one tick as one pipeline per node (default true).
   * Off for BullMQ, which pipelines itself.
   */
  readonly autoPipelining?: boolean;
  /** Drop and reconnect a link that goes silent (see LinkHealth); off when absent. */
  readonly health?: {
    /** REDIS_HEALTH_TIMEOUT_SECONDS in ms; also the TCP connect timeout. */
    readonly timeoutMs: number;
    /** The connection's kind in `events_redis_link_drops_total{connection}`. */
    readonly kind: string;
    readonly counts?: LinkDropCounts;
  };
}

/** The health watch of each client made with `health` (isReady consults it). */
const watches = new WeakMap<Redis | Cluster, LinkHealth>();

function watchHealth(client: Redis | Cluster, opts: RedisConnectionOptions): void {
  if (opts.health === undefined) return;
  watches.set(client, new LinkHealth(client, opts.health, opts.logger));
}

/**
 * Where the product's Redis is: one standalone server, the seed nodes of a Redis Cluster, or the
 * sentinels of a Redis Sentinel group and the name of the master they watch.
 */
export type RedisTarget =
  { readonly url: string } | { readonly clusterNodes: readonly string[] } | RedisSentinelTarget;

/** A Redis Sentinel group (REDIS_SENTINELS, REDIS_SENTINEL_MASTER, REDIS_SENTINEL_PASSWORD). */
export interface RedisSentinelTarget {
  /** `host:port` or `redis[s]://[user:password@]host:port[/db]` (see parseSentinelList). */
  readonly sentinels: readonly string[];
  readonly masterName: string;
  /** The sentinels' own password, when it differs from the one in the URLs (the data nodes'). */
  readonly sentinelPassword?: string;
}

export type RedisClient = Redis | Cluster;

/** CLIENT SETNAME refuses spaces and control characters (a KEY_PREFIX might have them). */
function clientName(name: string): string {
  return name.replace(/[^!-~]/g, '_');
}

/** The longest wait between two reconnect attempts to Redis. */
export const MAX_RECONNECT_DELAY_MS = 1000;

/**
 * Exponential backoff from 50 ms, capped at 1 s: quick after a blip, and back within a second of
 * Redis's return after an outage (a refused connect costs Redis next to nothing).
 */
export function reconnectDelay(attempt: number): number {
  return Math.min(50 * 2 ** Math.max(0, attempt - 1), MAX_RECONNECT_DELAY_MS);
}

/**
 * How long a publisher holds its messages back after it reconnected. The edges reconnect at least
 * every MAX_RECONNECT_DELAY_MS and re-subscribe when they do; publishing at once would send the
 * ingest's backlog (the messages it held during the outage) to channels that no
 * edge has re-subscribed yet, and pub/sub would drop them.
 */
export const RESUBSCRIBE_GRACE_MS = 2 * MAX_RECONNECT_DELAY_MS;

/**
 * A wait for publishers: resolves at once, except within `graceMs` of a reconnect of `client`
 * (not of its first connect), when it resolves at the end of that grace.
 */
export function afterReconnectGrace(
  client: Redis | Cluster,
  graceMs = RESUBSCRIBE_GRACE_MS,
): () => Promise<void> {
  let connectedBefore = false;
  let heldUntil = 0;
  client.on('ready', () => {
    if (connectedBefore) heldUntil = Date.now() + graceMs;
    connectedBefore = true;
  });
  return async () => {
    const wait = heldUntil - Date.now();
    if (wait > 0) await sleep(wait);
  };
}

/**
 * One ioredis connection with the options every driver shares, and its lifecycle logged. Commands
 * issued before the first connect wait in the offline queue (so start-up needs no ordering).
 */
export function connectRedis(url: string, opts: RedisConnectionOptions): Redis {
  return standaloneClient(opts, (options) => new Redis(url, options));
}

/** What every standalone connection (one server, or the master a Sentinel group names) shares. */
function standaloneOptions(opts: RedisConnectionOptions): RedisOptions {
  return {
    connectionName: clientName(opts.name),
    retryStrategy: reconnectDelay,
    maxRetriesPerRequest: opts.maxRetriesPerRequest,
    enableOfflineQueue: opts.failWhileDisconnected !== true,
    autoResendUnfulfilledCommands: opts.failWhileDisconnected !== true,
    autoResubscribe: true,
    ...(opts.health ? { connectTimeout: opts.health.timeoutMs } : {}),
  };
}

function standaloneClient(opts: RedisConnectionOptions, make: (options: RedisOptions) => Redis): Redis {
  const redis = make(standaloneOptions(opts));
  logLifecycle(redis, opts.name, opts.logger);
  watchHealth(redis, opts);
  if (opts.failWhileDisconnected === true) failUnansweredOnReconnect(redis);
  return redis;
}

/**
 * Fails the commands that were waiting for a reply when the link dropped. Without
 * `autoResendUnfulfilledCommands` ioredis 5.11 keeps them aside on close and, on the next
 * connect, forgets them: their promises never settle (seen with a publish in flight to a
 * SIGSTOPped Sentinel master: the router waited on it for good). A caller that asked to fail
 * while disconnected gets an error instead, and tries again.
 */
function failUnansweredOnReconnect(redis: Redis): void {
  const internals = redis as unknown as {
    prevCommandQueue?: { toArray(): { command: { reject(err: Error): void } }[] } | null;
  };
  const fail = () => {
    const unanswered = internals.prevCommandQueue;
    if (!unanswered) return;
    internals.prevCommandQueue = null;
    const err = new Error('Connection lost before the reply; the command may or may not have run');
    for (const item of unanswered.toArray()) item.command.reject(err);
  };
  redis.on('reconnecting', fail);
  redis.on('end', fail);
}

/**
 * The one factory of the product's Redis connections: every driver's connection is made here, so
 * each is named, logged, and part of readiness and `events_redis_connected` through its driver.
 */
export function connectTarget(target: RedisTarget, opts: RedisConnectionOptions): RedisClient {
  if ('url' in target) return connectRedis(target.url, opts);
  if ('sentinels' in target) return connectSentinel(target, opts);
  const { nodes, redisOptions } = clusterSeeds(target.clusterNodes);
  return connectRedisCluster(nodes, opts, redisOptions);
}

/**
 * How long one sentinel has to answer which node is the master, connect included. A sentinel
 * answers from memory; one that takes longer is frozen or cut off, and the next is asked.
 */
export const SENTINEL_COMMAND_TIMEOUT_MS = 1000;

/**
 * A connection to the master of a Redis Sentinel group, with the options of connectRedis. On
 * every (re)connect ioredis asks the sentinels, in turn, for the master's address and checks
 * that the node it reaches says it is the master. A fail-over is followed by reconnecting: the
 * sentinels' `+switch-master` resets every link to another node at once (SentinelWatch); a killed
 * master closes the link anyway, a frozen one is dropped by the health watch if the switch is
 * late, and a demoted one is closed by the sentinels (`CLIENT KILL`) or answers `READONLY`,
 * which reconnects too. BullMQ's duplicates of this connection carry the same options, sentinels
 * included, and are watched the same way.
 *
 * ioredis's own `failoverDetector` is not used: it subscribes to every sentinel from every
 * connection, and a connection it disconnects while that connection is still asking the
 * sentinels ends for good ("Connection is closed.", status `end`).
 */
export function connectSentinel(target: RedisSentinelTarget, opts: RedisConnectionOptions): Redis {
  const sentinel = sentinelOptions(target);
  const redis = standaloneClient(opts, (options) => new Redis({ ...options, ...sentinel }));
  SentinelWatch.follow(
    redis,
    {
      sentinels: sentinel.sentinels as { host: string; port: number }[],
      name: target.masterName,
      ...(sentinel.sentinelUsername ? { sentinelUsername: sentinel.sentinelUsername } : {}),
      ...(sentinel.sentinelPassword ? { sentinelPassword: sentinel.sentinelPassword } : {}),
      ...(sentinel.sentinelTLS ? { sentinelTLS: sentinel.sentinelTLS } : {}),
      retryStrategy: reconnectDelay,
    },
    opts.logger,
  );
  return redis;
}

/** The ioredis options that point a connection at a Sentinel group's master. */
export function sentinelOptions(target: RedisSentinelTarget): RedisOptions {
  const { list, problems } = parseSentinelList(target.sentinels);
  if (problems.length > 0) throw new Error(`REDIS_SENTINELS: ${problems.join('; ')}`);
  if (list.sentinels.length === 0)
    throw new Error('A Redis Sentinel group needs at least one sentinel address');
  if (target.masterName === '') throw new Error("A Redis Sentinel group needs the master's name");
  const credentials = {
    ...(list.username !== undefined ? { username: list.username } : {}),
    ...(list.password !== undefined ? { password: list.password } : {}),
  };
  const sentinelCredentials =
    target.sentinelPassword !== undefined
      ? { sentinelPassword: target.sentinelPassword }
      : {
          ...(list.username !== undefined ? { sentinelUsername: list.username } : {}),
          ...(list.password !== undefined ? { sentinelPassword: list.password } : {}),
        };
  return {
    sentinels: list.sentinels.map((s) => ({ host: s.host, port: s.port })),
    name: target.masterName,
    role: 'master',
    ...credentials,
    ...sentinelCredentials,
    db: list.db,
    ...(list.tls ? { tls: {}, sentinelTLS: {}, enableTLSForSentinelMode: true } : {}),
    // All sentinels unreachable: ask them again with the same backoff as a reconnect.
    sentinelRetryStrategy: reconnectDelay,
    sentinelCommandTimeout: SENTINEL_COMMAND_TIMEOUT_MS,
    // A master demoted under a live connection refuses writes: reconnect, which asks the
    // sentinels again (1: do not send the refused command again; its caller sees the error).
    reconnectOnError: (err: Error) => (err.message.startsWith('READONLY') ? 1 : false),
  };
}

/** Seed nodes from `redis://[user:password@]host:port` URLs; credentials and TLS from the first. */
export function clusterSeeds(urls: readonly string[]): { nodes: ClusterNode[]; redisOptions: RedisOptions } {
  if (urls.length === 0) throw new Error('A Redis Cluster needs at least one seed node URL');
  const parsed = urls.map((u) => new URL(u));
  const first = parsed[0]!;
  const redisOptions: RedisOptions = {};
  if (first.username !== '') redisOptions.username = decodeURIComponent(first.username);
  if (first.password !== '') redisOptions.password = decodeURIComponent(first.password);
  if (first.protocol === 'rediss:') redisOptions.tls = {};
  // No default port: ioredis would fall back to 6379, which may be another Redis on the host.
  const missing = parsed.find((u) => u.hostname === '' || u.port === '');
  if (missing) throw new Error(`Redis Cluster seed ${missing.host || missing.href} needs a host and a port`);
  return { nodes: parsed.map((u) => ({ host: u.hostname, port: Number(u.port) })), redisOptions };
}

/**
 * A Redis Cluster client with sharded subscribers (one subscriber connection per primary). With
 * auto-pipelining (the default) commands issued in one tick go out as one pipeline per node.
 */
export function connectRedisCluster(
  nodes: readonly ClusterNode[],
  opts: RedisConnectionOptions,
  redisOptions: RedisOptions = {},
): Cluster {
  const cluster = new Cluster([...nodes], {
    clusterRetryStrategy: reconnectDelay,
    enableOfflineQueue: opts.failWhileDisconnected !== true,
    enableAutoPipelining: opts.autoPipelining ?? true,
    shardedSubscribers: true,
    redisOptions: {
      ...redisOptions,
      connectionName: clientName(opts.name),
      maxRetriesPerRequest: opts.maxRetriesPerRequest,
      autoResendUnfulfilledCommands: opts.failWhileDisconnected !== true,
      ...(opts.health ? { connectTimeout: opts.health.timeoutMs } : {}),
    },
  });
  logLifecycle(cluster, opts.name, opts.logger);
  watchHealth(cluster, opts);
  return cluster;
}

/**
 * Logs connect/ready/close/reconnect/end, and turns 'error' events into log lines: an ioredis
 * client without an 'error' listener would crash the process on the first refused connection.
 */
export function logLifecycle(client: Redis | Cluster, name: string, logger: DriverLogger): void {
  const fields = { component: 'redis', connection: name };
  const errors = new RepeatFilter(ERROR_REPEAT_MS);
  let attempts = 0;
  client.on('connect', () => logger.debug('redis connected', fields));
  client.on('ready', () => {
    errors.reset();
    logger.info(attempts > 0 ? 'redis connection restored' : 'redis connection ready', {
      ...fields,
      attempts,
    });
    attempts = 0;
  });
  client.on('close', () => logger.debug('redis connection closed', fields));
  // The first retry of an outage is a warning; the rest (every second at most) are detail.
  client.on('reconnecting', (delayMs: number) => {
    const entry = { ...fields, delayMs, attempt: ++attempts };
    if (attempts === 1) logger.warn('redis reconnecting', entry);
    else logger.debug('redis reconnecting', entry);
  });
  client.on('end', () => logger.info('redis connection ended', fields));
  client.on('error', (err: Error) => {
    // A down server fails every reconnect attempt the same way, and a Redis Cluster fail-over
    // raises hundreds of errors in a few messages: log each message once per ERROR_REPEAT_MS.
    const suppressed = errors.pass(err.message);
    if (suppressed === undefined) return;
    logger.warn('redis connection error', { ...fields, error: err.message, repeatsSuppressed: suppressed });
  });
}

const ERROR_REPEAT_MS = 10_000;

/**
 * On a Redis Cluster whose slots moved (a fail-over), reloads the slot map after a reply that says
 * so. ioredis does not follow a MOVED reply to a script or a transaction, and kept sending every
 * retry to the old owner (seen in test/e2e/redis-cluster.test.ts: records refused with the same
 * MOVED for 30 s after the fail-over). Does nothing for other errors, or on a standalone Redis.
 */
export function refreshSlotsAfter(client: Redis | Cluster, err: unknown): void {
  const text = err instanceof Error ? err.message : String(err);
  if (client instanceof Cluster && /^(MOVED|ASK|CLUSTERDOWN|TRYAGAIN)\b/.test(text)) {
    client.refreshSlotsCache();
  }
}

/** True when the client can run commands right now, and its link is not known to be silent. */
export function isReady(client: Redis | Cluster): boolean {
  return client.status === 'ready' && watches.get(client)?.healthy !== false;
}

/** Closes the client politely, or at once when it is not connected (QUIT would wait for it). */
export async function closeRedis(client: Redis | Cluster): Promise<void> {
  if (client.status === 'end') return;
  if (client.status !== 'ready') {
    client.disconnect();
    return;
  }
  try {
    await client.quit();
  } catch {
    client.disconnect();
  }
}
