import type { Redis } from 'ioredis';
import type { Bus, BusHandler, BusMessage } from '../bus.js';
import { afterReconnectGrace, closeRedis, isReady } from './client.js';

/** PUBLISHes ARGV's (channel, message) pairs in order: a batch costs the client one command. */
const PUBLISH_PAIRS = `for i = 1, #ARGV, 2 do redis.call('PUBLISH', ARGV[i], ARGV[i + 1]) end return #ARGV`;

/**
 * Messages per script call: keeps each call short (Redis runs one script at a time) while most
 * batches still go as one command.
 */
const MESSAGES_PER_CALL = 256;

type PublishPairs = (...pairs: (string | Buffer)[]) => Promise<number>;

export interface RedisBusConnections {
  /** Runs PUBLISH; owned by the bus from now on. */
  readonly publisher: Redis;
  /** Enters subscriber mode; owned by the bus from now on. */
  readonly subscriber: Redis;
}

/**
 * Redis pub/sub. A batch is published by a script that PUBLISHes every (channel, message) pair:
 * one command per batch instead of one per message, which is most of the publisher's CPU at high
 * rates (a pipeline of PUBLISHes costs about three times as much, docs/performance.md). Frames
 * arrive as Buffers and are handed on untouched. After a reconnect ioredis re-subscribes every
 * channel by itself (autoResubscribe).
 */
export class RedisBus implements Bus {
  private readonly publisher: Redis;
  private readonly subscriber: Redis;
  private readonly publishPairs: PublishPairs;
  private handler: BusHandler = () => undefined;
  private readonly reconnectGrace: () => Promise<void>;

  constructor(connections: RedisBusConnections) {
    this.publisher = connections.publisher;
    this.reconnectGrace = afterReconnectGrace(this.publisher);
    this.publisher.defineCommand('publishPairs', { numberOfKeys: 0, lua: PUBLISH_PAIRS });
    const scripted = this.publisher as unknown as { publishPairs: PublishPairs };
    this.publishPairs = (...pairs) => scripted.publishPairs(...pairs);
    this.subscriber = connections.subscriber;
    this.subscriber.on('messageBuffer', (channel: Buffer, message: Buffer) =>
      this.handler(channel.toString(), message),
    );
  }

  async publish(messages: readonly BusMessage[]): Promise<void> {
    if (messages.length === 0) return;
    await this.reconnectGrace();
    const calls: Promise<number>[] = [];
    for (let i = 0; i < messages.length; i += MESSAGES_PER_CALL) {
      const pairs: (string | Buffer)[] = [];
      for (const { channel, envelope } of messages.slice(i, i + MESSAGES_PER_CALL))
        pairs.push(channel, envelope);
      calls.push(this.publishPairs(...pairs));
    }
    // Issued in one tick on one connection: they run in order, and each call runs whole or not at all.
    await Promise.all(calls);
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
