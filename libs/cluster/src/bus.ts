/**
 * The bus carries rendered frames from the ingest tier to the edges: one channel per
 * (exchange, pattern) binding. Drivers: memory (single process), Redis pub/sub, Redis sharded
 * pub/sub. Delivery is at most once, in order per channel, like Redis pub/sub.
 */
export interface BusMessage {
  readonly channel: string;
  /** An encoded envelope (see @events-proxy/protocol `encodeEnvelope`). */
  readonly envelope: Buffer;
}

export type BusHandler = (channel: string, envelope: Buffer) => void;

/**
 * Told, before any message of the new connection arrives, that the subscriber reconnected after its
 * link was lost; `inPlace` resolves once every subscription is in place again (and rejects if the
 * link is lost again first: another call follows).
 */
export type BusResubscribedHandler = (inPlace: Promise<void>) => void;

export interface Bus {
  /**
   * Publishes every message, in order, in as few round trips as the driver allows. Rejects with
   * ChannelsFailed when only some channels failed (a Redis Cluster shard failing over): the
   * other channels' messages were published.
   */
  publish(messages: readonly BusMessage[]): Promise<void>;
  /** Starts delivering the channel's messages to the handler; resolves once subscribed. */
  subscribe(channel: string): Promise<void>;
  unsubscribe(channel: string): Promise<void>;
  /** The one handler of incoming messages (the edge's hub). */
  onMessage(handler: BusHandler): void;
  /**
   * The one handler told when the subscriber reconnected: what was published on its channels while
   * the link was down (or silent) never arrived, so the edge holds what arrives from now, and once
   * the subscriptions are in place fetches the rest from the history. Never called by a driver
   * whose subscriptions cannot be lost.
   */
  onResubscribed(handler: BusResubscribedHandler): void;
  /** True while the driver can publish and receive (for readiness and metrics). */
  isConnected(): boolean;
  close(): Promise<void>;
}
