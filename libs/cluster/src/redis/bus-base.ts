import { Cluster, type Redis } from 'ioredis';
import type { Bus, BusHandler, BusMessage, BusResubscribedHandler } from '../bus.js';
import { afterReconnectGrace, closeRedis, isReady } from './client.js';
import { shardedSubscriberInstances } from './link-health.js';

/**
 * What the Redis bus drivers share: a publisher and a subscriber connection owned by the bus, one
 * handler for incoming messages (Buffers end to end), the wait after a reconnect before publishing,
 * connection state and closing. A driver adds how a batch is sent and which commands subscribe.
 */
export abstract class RedisBusBase<Client extends Redis | Cluster> implements Bus {
  protected readonly publisher: Client;
  protected readonly subscriber: Client;
  private handler: BusHandler = () => undefined;
  private resubscribed: BusResubscribedHandler = () => undefined;
  private readonly reconnectGrace: () => Promise<void>;

  /** `messageEvent`: the subscriber's event carrying (channel, message) Buffers. */
  protected constructor(
    connections: { readonly publisher: Client; readonly subscriber: Client },
    messageEvent: 'messageBuffer' | 'smessageBuffer',
  ) {
    this.publisher = connections.publisher;
    this.subscriber = connections.subscriber;
    this.reconnectGrace = afterReconnectGrace(this.publisher);
    this.subscriber.on(messageEvent, (channel: Buffer, message: Buffer) =>
      this.handler(channel.toString(), message),
    );
    this.watchResubscribes();
  }

  /**
   * A standalone subscriber re-subscribes as it turns ready again: ioredis writes the SUBSCRIBEs
   * before it emits 'ready', and no reply can be read before the handler runs, so the hub hears of
   * it before any message of the new connection; a PING answered after the SUBSCRIBEs proves them
   * in place. A Cluster's sharded subscribers announce 'subscribersReady' after each reset of the
   * group, having written their SSUBSCRIBEs; a PING on each proves those.
   */
  private watchResubscribes(): void {
    const sub = this.subscriber;
    let first = true;
    const announce = (): void => {
      if (first) {
        first = false;
        return;
      }
      // On a Cluster, only the subscribers that are up: one whose shard is still failing over gets
      // its subscriptions back later (another announcement); its channels meanwhile catch up from
      // the history as far as it can be read, without holding the healthy shards' channels back.
      const inPlace =
        sub instanceof Cluster
          ? Promise.allSettled(
              shardedSubscriberInstances(sub)
                .filter((s) => s.status === 'ready')
                .map((s) => s.ping()),
            ).then(() => undefined)
          : sub.ping().then(() => undefined);
      inPlace.catch(() => undefined); // lost again first: the next announcement follows
      this.resubscribed(inPlace);
    };
    if (sub instanceof Cluster) sub.on('subscribersReady', announce);
    else sub.on('ready', announce);
  }

  async publish(messages: readonly BusMessage[]): Promise<void> {
    if (messages.length === 0) return;
    await this.reconnectGrace();
    await this.send(messages);
  }

  /** Sends a non-empty batch, in order, once the publisher may publish. */
  protected abstract send(messages: readonly BusMessage[]): Promise<void>;

  abstract subscribe(channel: string): Promise<void>;

  abstract unsubscribe(channel: string): Promise<void>;

  onMessage(handler: BusHandler): void {
    this.handler = handler;
  }

  onResubscribed(handler: BusResubscribedHandler): void {
    this.resubscribed = handler;
  }

  isConnected(): boolean {
    return isReady(this.publisher) && isReady(this.subscriber);
  }

  async close(): Promise<void> {
    // The two may be one client (a Cluster serving both): close it once.
    await Promise.all([...new Set<Client>([this.publisher, this.subscriber])].map((c) => closeRedis(c)));
  }
}
