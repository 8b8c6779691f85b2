import type { Redis } from 'ioredis';
import type { Bus, BusHandler, BusMessage } from '../bus.js';
import { closeRedis, isReady } from './connection.js';
import { throwFirstError } from './pipeline.js';

export interface RedisBusConnections {
  /** Runs PUBLISH; owned by the bus from now on. */
  readonly publisher: Redis;
  /** Enters subscriber mode; owned by the bus from now on. */
  readonly subscriber: Redis;
}

/**
 * Redis pub/sub. A batch is published as one pipeline; frames arrive as Buffers and are handed on
 * untouched. After a reconnect ioredis re-subscribes every channel by itself (autoResubscribe).
 */
export class RedisBus implements Bus {
  private readonly publisher: Redis;
  private readonly subscriber: Redis;
  private handler: BusHandler = () => undefined;

  constructor(connections: RedisBusConnections) {
    this.publisher = connections.publisher;
    this.subscriber = connections.subscriber;
    this.subscriber.on('messageBuffer', (channel: Buffer, message: Buffer) =>
      this.handler(channel.toString(), message),
    );
  }

  async publish(messages: readonly BusMessage[]): Promise<void> {
    if (messages.length === 0) return;
    const pipeline = this.publisher.pipeline();
    for (const { channel, envelope } of messages) pipeline.publish(channel, envelope);
    throwFirstError(await pipeline.exec());
  }

  async subscribe(channel: string): Promise<void> {
    await this.subscriber.subscribe(channel);
  }

  async unsubscribe(channel: string): Promise<void> {
    await this.subscriber.unsubscribe(channel);
  }

  onMessage(handler: BusHandler): void {
    this.handler = handler;
  }

  isConnected(): boolean {
    return isReady(this.publisher) && isReady(this.subscriber);
  }

  async close(): Promise<void> {
    await Promise.all([closeRedis(this.publisher), closeRedis(this.subscriber)]);
  }
}
