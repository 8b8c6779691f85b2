import type { Redis } from 'ioredis';
import type { BusMessage } from '../bus.js';
import { RedisBusBase } from './bus-base.js';

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
export class RedisBus extends RedisBusBase<Redis> {
  private readonly publishPairs: PublishPairs;

  constructor(connections: RedisBusConnections) {
    super(connections, 'messageBuffer');
    this.publisher.defineCommand('publishPairs', { numberOfKeys: 0, lua: PUBLISH_PAIRS });
    const scripted = this.publisher as unknown as { publishPairs: PublishPairs };
    this.publishPairs = (...pairs) => scripted.publishPairs(...pairs);
  }

  protected async send(messages: readonly BusMessage[]): Promise<void> {
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
}
