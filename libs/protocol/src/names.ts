import { bindingKey, type Binding } from './bindings.js';

/**
 * Names of everything the tiers share in Redis. Every name starts with the installation's key
 * prefix (KEY_PREFIX), so two installations can share one Redis.
 */
export const DEFAULT_KEY_PREFIX = 'events-proxy:';

/**
 * The hash tag of the control-plane keys on a Redis Cluster. A key's slot is taken from its first
 * `{…}`, so every key that a Lua script or BullMQ touches together (leases, locks, the bind queue's
 * keys) lands in one slot and no call fails with CROSSSLOT.
 */
const CONTROL_HASH_TAG = '{control}';

export interface NamesOptions {
  /**
   * Put the control-plane keys in one hash slot (Redis Cluster). Off on a standalone Redis, where
   * the names stay as they always were, so an existing installation keeps its leases and queue.
   */
  readonly hashTagged?: boolean;
}

export interface Names {
  readonly prefix: string;
  /** The pub/sub channel carrying the frames of one (exchange, pattern) binding (never tagged: channels spread over shards). */
  channel(b: Binding): string;
  /** Pub/sub channel on which ingest replicas announce the bindings they add and remove. */
  readonly bindingChanges: string;
  /** Sorted set: binding key → lease expiry (ms since the epoch) of every binding on the broker. */
  readonly leases: string;
  /** Per-binding lock held while the broker binding is being added or removed. */
  lock(bindingKey: string): string;
  /** BullMQ key prefix (BullMQ adds `:<queue>:…`). */
  readonly bullPrefix: string;
  /** BullMQ queue of bind requests. */
  readonly bindQueue: string;
  /** The newest position (cursor) given to a message; one key, so no hash tag is needed. */
  readonly historyPosition: string;
  /**
   * The keys of one channel's history (§3b): the stream of its retained messages and the cursor after
   * which it is complete. A script touches both, so they share a hash tag (on a standalone Redis too:
   * one naming for both): the channel, after `ch:` so that the tag is never empty, which would hash
   * the whole key. Both names are the same up to and including the brace that closes the tag, so
   * they land in one slot whatever braces the channel holds (a key prefix holding an empty `{}`
   * would defeat every tag, the control plane's too).
   */
  historyKeys(channel: string): HistoryKeys;
  /**
   * Hash: the streams open against one client key (`ip:…`, `sub:…`), per holding edge (field
   * `<holder>` = count, `<holder>:exp` = its lease's end). Hash-tagged by the client key (on a
   * standalone Redis too: one naming), so a client's keys share a slot and clients spread over slots.
   */
  clientStreams(clientKey: string): string;
  /** The client key's connect rate (GCRA): its theoretical arrival time, in ms. Tagged as clientStreams. */
  connectRate(clientKey: string): string;
  /**
   * Set: the ids of the edges that reported their stream counts (§3e). Its members' keys share its
   * hash tag (on a standalone Redis too: one naming), so one MGET reads them all on a Cluster.
   */
  readonly edgeLoads: string;
  /** One edge's stream counts, with a short TTL that its reports renew. Tagged as edgeLoads. */
  edgeLoad(edgeId: string): string;
}

export interface HistoryKeys {
  readonly entries: string;
  readonly since: string;
}

export function names(prefix: string = DEFAULT_KEY_PREFIX, opts: NamesOptions = {}): Names {
  const channelPrefix = `${prefix}msg:`;
  const control = opts.hashTagged ? `${prefix}${CONTROL_HASH_TAG}:` : prefix;
  return {
    prefix,
    channel: (b) => channelPrefix + bindingKey(b),
    bindingChanges: `${prefix}control:bindings`,
    leases: `${control}leases`,
    lock: (key) => `${control}lock:${key}`,
    bullPrefix: `${control}bull`,
    bindQueue: 'bind',
    historyPosition: `${prefix}history:position`,
    historyKeys: (channel) => {
      const base = `${prefix}history:{ch:${channel}}:`;
      return { entries: `${base}entries`, since: `${base}since` };
    },
    clientStreams: (clientKey) => `${prefix}clients:{cl:${clientKey}}:streams`,
    connectRate: (clientKey) => `${prefix}clients:{cl:${clientKey}}:connects`,
    edgeLoads: `${prefix}tier:{edges}`,
    edgeLoad: (edgeId) => `${prefix}tier:{edges}:${edgeId}`,
  };
}
