import { randomBytes } from 'node:crypto';
import { Cluster } from 'ioredis';
import { names, type Names } from '@events-proxy/protocol';
import { createLogger, errorText } from '@events-proxy/runtime';
import {
  DEFAULT_CLIENT_LEASE_MS,
  connectAllowance,
  distinctQuotas,
  type ClientLimits,
  type StreamGrant,
  type StreamQuota,
} from '../client-limits.js';
import { closeRedis, isReady, refreshSlotsAfter, type DriverLogger, type RedisClient } from './client.js';
import { defineClientLimitsCommands, type ClientLimitsCommands } from './client-limits-scripts.js';

export interface RedisClientLimitsOptions {
  /** Owned by the client limits from now on. */
  readonly redis: RedisClient;
  readonly keyPrefix: string;
  /**
   * CLIENT_LEASE_SECONDS in ms (default 30 s): how long this holder's counts outlive its last
   * renewal, so how long the streams of an edge that died stay counted. Renewed every third of it.
   */
  readonly leaseMs?: number;
  readonly logger?: DriverLogger;
}

/** What this holder counts for one client key. */
interface Held {
  /** Streams counted (acquires that were answered, less releases). */
  count: number;
  /** Calls on the key sent and not yet answered: while there are any, `count` may be stale in Redis. */
  inFlight: number;
}

/** Renewal calls per round trip, so a round stays short however many clients an edge holds. */
const RENEW_CHUNK = 1000;

/**
 * Client limits on Redis, standalone or Cluster. This instance is one holder (one edge), with a
 * random id: per client key it keeps its own count in the key's hash, leased (`names().clientStreams`;
 * see client-limits-scripts.ts), and renews every lease it holds every third of the lease, writing
 * its count as it is here. So the counts of an edge that dies end with its lease, and the counts of
 * every live edge come back within one renewal after a Redis that restarted without its keys.
 * Connect rates: one key per client key (`names().connectRate`), GCRA in a script.
 */
export class RedisClientLimits implements ClientLimits {
  /** This holder's id in the hashes. */
  readonly holder = randomBytes(8).toString('hex');
  private readonly redis: RedisClient & ClientLimitsCommands;
  private readonly names: Names;
  private readonly logger: DriverLogger;
  private readonly leaseMs: number;
  /** A hash outlives every lease written to it, then goes if no holder renewed it. */
  private readonly ttlMs: number;
  private readonly held = new Map<string, Held>();
  private readonly timer: NodeJS.Timeout;
  private renewal: Promise<void> | undefined;
  private closed = false;

  constructor(opts: RedisClientLimitsOptions) {
    this.redis = defineClientLimitsCommands(opts.redis);
    this.names = names(opts.keyPrefix);
    this.logger = opts.logger ?? createLogger('silent');
    this.leaseMs = opts.leaseMs ?? DEFAULT_CLIENT_LEASE_MS;
    if (!Number.isInteger(this.leaseMs) || this.leaseMs < 3) {
      throw new RangeError(`client lease: a whole number of ms ≥ 3, not ${this.leaseMs}`);
    }
    this.ttlMs = 2 * this.leaseMs;
    this.timer = setInterval(() => void this.renew(), Math.floor(this.leaseMs / 3));
    this.timer.unref();
  }

  async acquireStream(quotas: readonly StreamQuota[]): Promise<StreamGrant> {
    if (this.closed) throw new Error('client limits are closed');
    const distinct = distinctQuotas(quotas);
    const taken: string[] = [];
    try {
      for (const quota of distinct) {
        if (!(await this.take(quota))) {
          this.giveBack(taken);
          return { ok: false, full: quota };
        }
        taken.push(quota.key);
      }
    } catch (err) {
      this.giveBack(taken);
      throw err;
    }
    let released = false;
    return {
      ok: true,
      release: () => {
        if (released) return;
        released = true;
        this.giveBack(taken);
      },
    };
  }

  async takeConnect(key: string, ratePerSecond: number, burst: number): Promise<number> {
    const { emissionMs, toleranceMs } = connectAllowance(ratePerSecond, burst);
    return this.redis
      .epConnectTake(this.names.connectRate(key), emissionMs, toleranceMs)
      .catch(this.afterClusterError);
  }

  private async take(quota: StreamQuota): Promise<boolean> {
    const held = this.entry(quota.key);
    held.inFlight++;
    try {
      const counted = await this.redis
        .epClientAcquire(
          this.names.clientStreams(quota.key),
          this.holder,
          quota.limit,
          this.leaseMs,
          held.count,
          this.ttlMs,
        )
        .catch(this.afterClusterError);
      if (counted === 1) held.count++;
      return counted === 1;
    } finally {
      held.inFlight--;
      this.tidy(quota.key, held);
    }
  }

  /**
   * One stream fewer for each key, here at once and in Redis in the background: a failure is
   * logged, and Redis catches up at the next renewal (or the lease ends, if this was the last).
   */
  private giveBack(keys: readonly string[]): void {
    if (this.closed) return; // close() gave back everything
    for (const key of keys) {
      const held = this.held.get(key);
      if (held === undefined || held.count === 0) continue;
      held.count--;
      held.inFlight++;
      this.redis
        .epClientRelease(this.names.clientStreams(key), this.holder, this.leaseMs, held.count, this.ttlMs)
        .catch((err: unknown) => {
          refreshSlotsAfter(this.redis, err);
          this.logger.warn('could not give back a client stream', {
            component: 'client-limits',
            error: errorText(err),
          });
        })
        .finally(() => {
          held.inFlight--;
          this.tidy(key, held);
        });
    }
  }

  private entry(key: string): Held {
    let held = this.held.get(key);
    if (held === undefined) this.held.set(key, (held = { count: 0, inFlight: 0 }));
    return held;
  }

  private tidy(key: string, held: Held): void {
    if (held.count === 0 && held.inFlight === 0 && this.held.get(key) === held) this.held.delete(key);
  }

  /** One renewal round at a time; never rejects (failures are logged, the next round tries again). */
  private renew(): Promise<void> {
    this.renewal ??= this.renewAll()
      .catch((err: unknown) => {
        this.logger.warn('could not renew client leases', {
          component: 'client-limits',
          error: errorText(err),
        });
      })
      .finally(() => (this.renewal = undefined));
    return this.renewal;
  }

  private async renewAll(): Promise<void> {
    const keys = [...this.held].filter(([, h]) => h.count > 0).map(([key]) => key);
    let failed = 0;
    let firstError: unknown;
    for (let i = 0; i < keys.length && !this.closed; i += RENEW_CHUNK) {
      const calls = [];
      for (const key of keys.slice(i, i + RENEW_CHUNK)) {
        // As it is now (the chunks before took time): gone means nothing is held or in flight.
        const held = this.held.get(key);
        if (held === undefined) continue;
        calls.push({
          streams: this.names.clientStreams(key),
          count: held.count,
          // With no call in flight, the count here is the one Redis should hold: written over it.
          overwrite: held.inFlight === 0 ? ('1' as const) : ('0' as const),
        });
      }
      for (const err of await this.renewChunk(calls)) {
        if (err === undefined) continue;
        failed++;
        firstError ??= err;
      }
    }
    if (failed > 0) {
      refreshSlotsAfter(this.redis, firstError);
      this.logger.warn('could not renew client leases', {
        component: 'client-limits',
        failed,
        of: keys.length,
        error: errorText(firstError),
      });
    }
  }

  /**
   * One pipeline on a standalone Redis; on a Redis Cluster, concurrent calls, which
   * auto-pipelining sends as one pipeline per node. The error of each call, or undefined.
   */
  private async renewChunk(
    calls: readonly { streams: string; count: number; overwrite: '0' | '1' }[],
  ): Promise<unknown[]> {
    if (calls.length === 0) return [];
    const args = (c: (typeof calls)[number]) =>
      [c.streams, this.holder, c.count, this.leaseMs, this.ttlMs, c.overwrite] as const;
    if (this.redis instanceof Cluster) {
      const settled = await Promise.allSettled(calls.map((c) => this.redis.epClientRenew(...args(c))));
      return settled.map((s) => (s.status === 'rejected' ? (s.reason as unknown) : undefined));
    }
    const pipeline = this.redis.pipeline() as unknown as ClientLimitsCommands & {
      exec(): Promise<[Error | null, unknown][] | null>;
    };
    for (const c of calls) void pipeline.epClientRenew(...args(c));
    const results = await pipeline.exec();
    if (!results) return calls.map(() => new Error('Redis pipeline was discarded (connection closed)'));
    return results.map(([err]) => err ?? undefined);
  }

  private readonly afterClusterError = (err: unknown): never => {
    refreshSlotsAfter(this.redis, err);
    throw err;
  };

  isConnected(): boolean {
    return isReady(this.redis);
  }

  /** Stops renewing and gives back every stream this holder counts (when Redis is reachable), then disconnects. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    await this.renewal;
    const keys = [...this.held].filter(([, h]) => h.count > 0).map(([key]) => key);
    this.held.clear();
    if (keys.length > 0 && isReady(this.redis)) {
      const settled = await Promise.allSettled(
        keys.map((key) => this.redis.epClientGiveBack(this.names.clientStreams(key), this.holder)),
      );
      const failed = settled.filter((s) => s.status === 'rejected');
      if (failed.length > 0) {
        this.logger.warn('could not give back client streams at close; they end with the lease', {
          component: 'client-limits',
          failed: failed.length,
          of: keys.length,
          error: errorText((failed[0] as PromiseRejectedResult).reason),
        });
      }
    }
    await closeRedis(this.redis);
  }

  /**
   * For tests: stops as a killed process would (no renewal, nothing given back, the connection
   * dropped), so its counts stay until its lease ends.
   */
  abandon(): void {
    this.closed = true;
    clearInterval(this.timer);
    this.held.clear();
    this.redis.disconnect();
  }
}
