/**
 * Where benchmark messages go in: RabbitMQ for the real services, or straight into Redis for the
 * reference broadcaster, rendered and enveloped exactly as the ingest publishes them, so both
 * targets' clients receive the same frames.
 */
import amqp from 'amqplib';
import { Redis } from 'ioredis';
import { TopicMatcher, encodeEnvelope, names, renderMessageFrame } from '@events-proxy/protocol';

export interface OutgoingMessage {
  readonly routingKey: string;
  readonly body: Buffer;
}

export interface MessageSink {
  /** Sends the batch in order; resolves when the broker (or Redis) has accepted all of it. */
  send(messages: readonly OutgoingMessage[]): Promise<void>;
  close(): Promise<void>;
}

/** Publishes to a topic exchange on a confirm channel, one confirm wait per batch. */
export class AmqpSink implements MessageSink {
  private constructor(
    private readonly connection: amqp.ChannelModel,
    private readonly channel: amqp.ConfirmChannel,
    private readonly exchange: string,
  ) {}

  static async open(url: string, exchange: string): Promise<AmqpSink> {
    const connection = await amqp.connect(url);
    return new AmqpSink(connection, await connection.createConfirmChannel(), exchange);
  }

  async send(messages: readonly OutgoingMessage[]): Promise<void> {
    for (const m of messages) this.channel.publish(this.exchange, m.routingKey, m.body);
    await this.channel.waitForConfirms();
  }

  async close(): Promise<void> {
    await this.connection.close().catch(() => undefined);
  }
}

/**
 * Mimics the ingest's output: matches the routing key against the patterns the clients use,
 * renders the `message` frame once, and PUBLISHes the envelope to each matching channel, one
 * pipeline per batch.
 */
export class RedisFrameSink implements MessageSink {
  private readonly matcher = new TopicMatcher();
  private readonly channelOf: (b: { exchange: string; routingKeyPattern: string }) => string;
  private counter = 0;

  constructor(
    private readonly redis: Redis,
    keyPrefix: string,
    private readonly exchange: string,
    patterns: readonly string[],
  ) {
    this.channelOf = names(keyPrefix).channel;
    for (const p of patterns) this.matcher.add(exchange, p);
  }

  static open(url: string, keyPrefix: string, exchange: string, patterns: readonly string[]): RedisFrameSink {
    return new RedisFrameSink(new Redis(url), keyPrefix, exchange, patterns);
  }

  async send(messages: readonly OutgoingMessage[]): Promise<void> {
    const pipeline = this.redis.pipeline();
    for (const m of messages) {
      const frame = renderMessageFrame({
        exchange: this.exchange,
        routingKey: m.routingKey,
        redelivered: false,
        cc: [],
        body: m.body,
      });
      const envelope = encodeEnvelope(`bench.${this.counter++}`, Date.now(), frame);
      for (const pattern of this.matcher.match(this.exchange, m.routingKey)) {
        pipeline.publish(this.channelOf({ exchange: this.exchange, routingKeyPattern: pattern }), envelope);
      }
    }
    const results = await pipeline.exec();
    const failed = results?.find(([err]) => err);
    if (failed) throw failed[0];
  }

  async close(): Promise<void> {
    this.redis.disconnect();
  }
}
