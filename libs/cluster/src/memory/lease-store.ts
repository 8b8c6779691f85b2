import type { LeaseStore } from '../lease-store.js';
import { KeyedMutex } from '../keyed-mutex.js';

/** In-process lease store for single-node mode. */
export class MemoryLeaseStore implements LeaseStore {
  private readonly leases = new Map<string, number>(); // key → expiry, ms since the epoch
  private readonly locks = new KeyedMutex();

  constructor(private readonly now: () => number = Date.now) {}

  async renewIfLeased(keys: readonly string[], leaseMs: number): Promise<boolean[]> {
    const now = this.now();
    return keys.map((key) => {
      const expiry = this.leases.get(key);
      if (expiry === undefined || expiry <= now) return false;
      this.leases.set(key, Math.max(expiry, now + leaseMs));
      return true;
    });
  }

  async lease(key: string, leaseMs: number): Promise<void> {
    this.leases.set(key, Math.max(this.leases.get(key) ?? 0, this.now() + leaseMs));
  }

  async expired(limit: number): Promise<string[]> {
    const now = this.now();
    const out: string[] = [];
    for (const [key, expiry] of this.leases) {
      if (out.length >= limit) break;
      if (expiry <= now) out.push(key);
    }
    return out;
  }

  async removeIfExpired(key: string): Promise<boolean> {
    const expiry = this.leases.get(key);
    if (expiry === undefined || expiry > this.now()) return false;
    this.leases.delete(key);
    return true;
  }

  async all(): Promise<string[]> {
    return [...this.leases.keys()];
  }

  withLock<T>(key: string, fn: () => Promise<T>): Promise<T> {
    return this.locks.run(key, fn);
  }

  isConnected(): boolean {
    return true;
  }

  async close(): Promise<void> {}
}
