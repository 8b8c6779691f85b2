/**
 * Which bindings are on the broker, and until when some edge holds them (leases). The store is
 * the one source of truth that every ingest and edge shares; its clock (Redis's TIME, or the
 * process clock in memory) is the only one used, so hosts' clock skew does not matter.
 */
export interface LeaseStore {
  /**
   * Atomically, for each key that is leased now, extends its lease to at least `leaseMs` from now.
   * Returns, per key, whether it was leased (so the binding is on the broker).
   */
  renewIfLeased(keys: readonly string[], leaseMs: number): Promise<boolean[]>;
  /** Records the key as bound, leased for at least `leaseMs` from now (never shortens a lease). */
  lease(key: string, leaseMs: number): Promise<void>;
  /** Up to `limit` keys whose lease has ended. */
  expired(limit: number): Promise<string[]>;
  /** Atomically removes the key if its lease has ended; true if it was removed. */
  removeIfExpired(key: string): Promise<boolean>;
  /** Every leased key. */
  all(): Promise<string[]>;
  /**
   * Runs `fn` holding the key's lock, so adding and removing one broker binding never interleave,
   * whichever ingest does each.
   */
  withLock<T>(key: string, fn: () => Promise<T>): Promise<T>;
  isConnected(): boolean;
  close(): Promise<void>;
}
