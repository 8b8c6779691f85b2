/**
 * Binding changes between ingest replicas: each replica announces the broker bindings it added or
 * removed, so the replica that consumes (single-active-consumer) routes for bindings another
 * replica made. Delivery is at most once, like pub/sub: a replica that was disconnected misses
 * changes, and heals from the lease store (the source of truth) at its next resync.
 * Drivers: memory (replicas in one process, for tests and single-node mode), Redis pub/sub
 * (sharded pub/sub on a Redis Cluster).
 */
export interface BindingChange {
  readonly op: 'add' | 'remove';
  /** A binding key (@events-proxy/protocol `bindingKey`). */
  readonly key: string;
}

export type BindingChangeHandler = (change: BindingChange) => void;

export interface BindingChangeFeed {
  /** Tells every other replica; rejects when the change could not be sent (peers resync later). */
  announce(change: BindingChange): Promise<void>;
  /** The one handler of other replicas' changes (a replica never receives its own). */
  onChange(handler: BindingChangeHandler): void;
  /** True while the feed can send and receive (for readiness and metrics). */
  isConnected(): boolean;
  close(): Promise<void>;
}
