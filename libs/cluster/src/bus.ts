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

/** Told when the subscriptions are back after the subscriber's link was lost. */
export type BusResubscribedHandler = () => void;

export interface Bus {
  /** Publishes every message, in order, in as few round trips as the driver allows. */
  publish(messages: readonly BusMessage[]): Promise<void>;
  /** Starts delivering the channel's messages to the handler; resolves once subscribed. */
  subscribe(channel: string): Promise<void>;
  unsubscribe(channel: string): Promise<void>;
  /** The one handler of incoming messages (the edge's hub). */
  onMessage(handler: BusHandler): void;
  /**
   * The one handler told when the subscriber reconnected and every subscription is in place again:
   * what was published on them while the link was down (or silent) never arrived, so the edge
   * fetches it from the history. Never called by a driver whose subscriptions cannot be lost.
   */
  onResubscribed(handler: BusResubscribedHandler): void;
  /** True while the driver can publish and receive (for readiness and metrics). */
  isConnected(): boolean;
  close(): Promise<void>;
}
