import { bindingKey, type Binding } from './bindings.js';

/**
 * Names of everything the tiers share in Redis. Every name starts with the installation's key
 * prefix (KEY_PREFIX), so two installations can share one Redis.
 */
export const DEFAULT_KEY_PREFIX = 'events-proxy:';

export interface Names {
  readonly prefix: string;
  /** The pub/sub channel carrying the frames of one (exchange, pattern) binding. */
  channel(b: Binding): string;
  /** Sorted set: binding key → lease expiry (ms since the epoch) of every binding on the broker. */
  readonly leases: string;
  /** Per-binding lock held while the broker binding is being added or removed. */
  lock(bindingKey: string): string;
  /** BullMQ key prefix (BullMQ adds `:<queue>:…`). */
  readonly bullPrefix: string;
  /** BullMQ queue of bind requests. */
  readonly bindQueue: string;
}

export function names(prefix: string = DEFAULT_KEY_PREFIX): Names {
  const channelPrefix = `${prefix}msg:`;
  return {
    prefix,
    channel: (b) => channelPrefix + bindingKey(b),
    leases: `${prefix}leases`,
    lock: (key) => `${prefix}lock:${key}`,
    bullPrefix: `${prefix}bull`,
    bindQueue: 'bind',
  };
}
