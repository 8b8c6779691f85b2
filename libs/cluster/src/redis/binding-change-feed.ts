import { randomBytes } from 'node:crypto';
import type { BindingChange, BindingChangeFeed, BindingChangeHandler } from '../binding-change-feed.js';
import { closeRedis, isReady, type DriverLogger, type RedisClient } from './client.js';
import { errorText } from '@events-proxy/runtime';

export interface RedisBindingChangeFeedConnections {
  /** Runs (S)PUBLISH. */
  readonly publisher: RedisClient;
  /**
   * Enters subscriber mode. Give it `maxRetriesPerRequest: null`, so the subscription waits for
   * Redis instead of being dropped when the feed starts during an outage.
   */
  readonly subscriber: RedisClient;
}

export interface RedisBindingChangeFeedOptions {
  /** Called on first use, so a process that never announces nor listens (an edge) holds no connection. */
  readonly connect: () => RedisBindingChangeFeedConnections;
  /** `names(prefix).bindingChanges`. */
  readonly channel: string;
  /** SPUBLISH/SSUBSCRIBE (required on a Redis Cluster) instead of PUBLISH/SUBSCRIBE. */
  readonly sharded: boolean;
  readonly logger: DriverLogger;
}

interface WireChange extends BindingChange {
  /** The announcing replica, so its own changes are not handed back to it. */
  readonly from: string;
}

/** Binding changes over Redis pub/sub, on a publisher and a subscriber connection of its own. */
export class RedisBindingChangeFeed implements BindingChangeFeed {
  private readonly instanceId = randomBytes(8).toString('hex');
  private connections: RedisBindingChangeFeedConnections | undefined;
  private handler: BindingChangeHandler = () => undefined;

  constructor(private readonly opts: RedisBindingChangeFeedOptions) {}

  async announce(change: BindingChange): Promise<void> {
    const wire: WireChange = { op: change.op, key: change.key, from: this.instanceId };
    const { publisher } = this.connected();
    const text = JSON.stringify(wire);
    if (this.opts.sharded) await publisher.spublish(this.opts.channel, text);
    else await publisher.publish(this.opts.channel, text);
  }

  onChange(handler: BindingChangeHandler): void {
    this.handler = handler;
    this.connected();
  }

  /** True before first use: a feed that holds no connection has none down. */
  isConnected(): boolean {
    const c = this.connections;
    return c === undefined || (isReady(c.publisher) && isReady(c.subscriber));
  }

  async close(): Promise<void> {
    const c = this.connections;
    if (c) await Promise.all([closeRedis(c.publisher), closeRedis(c.subscriber)]);
  }

  private connected(): RedisBindingChangeFeedConnections {
    if (this.connections) return this.connections;
    const connections = this.opts.connect();
    this.connections = connections;
    const { subscriber } = connections;
    const channel = this.opts.channel;
    const receive = (_channel: string, text: string) => this.receive(text);
    subscriber.on(this.opts.sharded ? 'smessage' : 'message', receive);
    const subscribed = this.opts.sharded ? subscriber.ssubscribe(channel) : subscriber.subscribe(channel);
    // Rejects only when the connection is closed first; ioredis re-subscribes after reconnects.
    subscribed.catch((err: unknown) =>
      this.opts.logger.warn('could not subscribe to binding changes', {
        component: 'binding-changes',
        channel,
        error: errorText(err),
      }),
    );
    return connections;
  }

  private receive(text: string): void {
    let wire: Partial<WireChange>;
    try {
      wire = JSON.parse(text) as Partial<WireChange>;
    } catch {
      wire = {};
    }
    if (wire.from === this.instanceId) return;
    if ((wire.op === 'add' || wire.op === 'remove') && typeof wire.key === 'string') {
      this.handler({ op: wire.op, key: wire.key });
    } else {
      this.opts.logger.warn('ignored a malformed binding change', {
        component: 'binding-changes',
        channel: this.opts.channel,
      });
    }
  }
}
