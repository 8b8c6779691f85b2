/**
 * Where benchmark messages go in: a topic exchange on RabbitMQ, from which a real ingest routes
 * them to Redis for the edges or the reference broadcaster alike.
 */
import amqp from 'amqplib';

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
