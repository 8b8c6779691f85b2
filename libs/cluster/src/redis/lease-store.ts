import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { names, type Names } from '@events-proxy/protocol';
import { createLogger, errorText } from '@events-proxy/runtime';
import { KeyedMutex } from '../keyed-mutex.js';
import type { LeaseStore } from '../lease-store.js';
import { closeRedis, isReady, type DriverLogger, type RedisClient } from './client.js';
import { defineLeaseCommands, type LeaseCommands } from './lease-scripts.js';

export interface RedisLeaseStoreOptions {
  /** Owned by the store from now on. */
  readonly redis: RedisClient;
  readonly keyPrefix: string;
  /** Hash-tagged key names, required on a Redis Cluster (`names()` in @events-proxy/protocol). */
  readonly hashTagged?: boolean;
  readonly logger?: DriverLogger;
  /** A lock left by a crashed holder frees itself after this long (default 30 s). */
  readonly lockTtlMs?: number;
  /** How long withLock waits for another holder before it fails (default 15 s). */
  readonly lockWaitMs?: number;
}

const SCAN_CHUNK = 1000;

/** Leases in one sorted set, per-binding locks as `SET NX PX` keys; all times from Redis's clock. */
export class RedisLeaseStore implements LeaseStore {
  private readonly redis: RedisClient & LeaseCommands;
  private readonly names: Names;
  private readonly logger: DriverLogger;
  private readonly lockTtlMs: number;
  private readonly lockWaitMs: number;
  /** Queues this process's own contenders locally, so only one of them polls Redis per key. */
  private readonly localLocks = new KeyedMutex();

  constructor(opts: RedisLeaseStoreOptions) {
    this.redis = defineLeaseCommands(opts.redis);
    this.names = names(opts.keyPrefix, { hashTagged: opts.hashTagged });
    this.logger = opts.logger ?? createLogger('silent');
    this.lockTtlMs = opts.lockTtlMs ?? 30_000;
    this.lockWaitMs = opts.lockWaitMs ?? 15_000;
  }

  async renewIfLeased(keys: readonly string[], leaseMs: number): Promise<boolean[]> {
    if (keys.length === 0) return [];
    const flags = await this.redis.epLeaseRenewIfLeased(this.names.leases, leaseMs, ...keys);
    return flags.map((flag) => flag === 1);
  }

  async lease(key: string, leaseMs: number): Promise<void> {
    await this.redis.epLeaseAdd(this.names.leases, leaseMs, key);
  }

  expired(limit: number): Promise<string[]> {
    return this.redis.epLeaseExpired(this.names.leases, limit);
  }

  async removeIfExpired(key: string): Promise<boolean> {
    return (await this.redis.epLeaseRemoveIfExpired(this.names.leases, key)) === 1;
  }

  /** ZSCAN rather than one ZRANGE, so a large set never blocks Redis; a member may come twice. */
  async all(): Promise<string[]> {
    const keys = new Set<string>();
    let cursor = '0';
    do {
      const [next, flat] = await this.redis.zscan(this.names.leases, cursor, 'COUNT', SCAN_CHUNK);
      for (let i = 0; i < flat.length; i += 2) keys.add(flat[i]!);
      cursor = next;
    } while (cursor !== '0');
    return [...keys];
  }

  withLock<T>(key: string, fn: () => Promise<T>): Promise<T> {
    return this.localLocks.run(key, async () => {
      const lock = this.names.lock(key);
      const token = randomUUID();
      await this.acquire(lock, token, key);
      // Keep the lock while fn runs past its TTL; the TTL only matters if this process dies.
      const keepAlive = setInterval(() => void this.extend(lock, token, key), Math.floor(this.lockTtlMs / 3));
      try {
        return await fn();
      } finally {
        clearInterval(keepAlive);
        await this.release(lock, token, key);
      }
    });
  }

  private async acquire(lock: string, token: string, key: string): Promise<void> {
    const deadline = Date.now() + this.lockWaitMs;
    for (;;) {
      if ((await this.redis.set(lock, token, 'PX', this.lockTtlMs, 'NX')) === 'OK') return;
      if (Date.now() >= deadline) {
        throw new Error(
          `Timed out after ${this.lockWaitMs} ms waiting for the lock on binding ${key}: another ingest holds it`,
        );
      }
      await sleep(25 + Math.random() * 25);
    }
  }

  private async extend(lock: string, token: string, key: string): Promise<void> {
    try {
      if ((await this.redis.epLockExtend(lock, token, this.lockTtlMs)) !== 1) {
        this.logger.error('binding lock lost while held', { component: 'lease-store', binding: key });
      }
    } catch (err) {
      this.logger.warn('could not extend binding lock', {
        component: 'lease-store',
        binding: key,
        error: errorText(err),
      });
    }
  }

  /** A failed release is logged, not thrown: fn's outcome stands, and the lock expires on its own. */
  private async release(lock: string, token: string, key: string): Promise<void> {
    try {
      await this.redis.epLockRelease(lock, token);
    } catch (err) {
      this.logger.warn('could not release binding lock', {
        component: 'lease-store',
        binding: key,
        error: errorText(err),
      });
    }
  }

  isConnected(): boolean {
    return isReady(this.redis);
  }

  async close(): Promise<void> {
    await closeRedis(this.redis);
  }
}
