/**
 * Publishes numbered messages (seq 0, 1, 2, … on one routing key) to a topic exchange at a steady
 * rate on a confirm channel, and remembers for each seq when it was sent (CLOCK_MONOTONIC ns, the
 * `t` in its payload, which the C clients read) and whether the broker confirmed it. Publishing
 * does not wait for confirms (each message has its own callback), so a slow confirm does not slow
 * the rate.
 */
import amqp from 'amqplib';
import { sequencedPayload, sleep } from './load.js';

export class NumberedPublisher {
  /** Publish time of each seq sent (process.hrtime.bigint()). */
  readonly sentAt: bigint[] = [];
  /** Per seq: true once confirmed (acked), false if nacked, undefined while waiting. */
  readonly confirmed: (boolean | undefined)[] = [];
  private stopped = false;
  private readonly loop: Promise<void>;
  private failure: Error | undefined;

  private constructor(
    private readonly connection: amqp.ChannelModel,
    private readonly channel: amqp.ConfirmChannel,
    private readonly exchange: string,
    private readonly routingKey: string,
    private readonly rate: number,
    private readonly payloadBytes: number,
  ) {
    channel.on('error', (err: Error) => (this.failure ??= err));
    connection.on('error', (err: Error) => (this.failure ??= err));
    this.loop = this.run();
    this.loop.catch(() => undefined);
  }

  static async start(opts: {
    readonly url: string;
    readonly exchange: string;
    readonly routingKey: string;
    readonly rate: number;
    readonly payloadBytes: number;
  }): Promise<NumberedPublisher> {
    const connection = await amqp.connect(opts.url);
    const channel = await connection.createConfirmChannel();
    return new NumberedPublisher(
      connection,
      channel,
      opts.exchange,
      opts.routingKey,
      opts.rate,
      opts.payloadBytes,
    );
  }

  /** Messages sent so far (the next seq). */
  get sent(): number {
    return this.sentAt.length;
  }

  get confirmedCount(): number {
    return this.confirmed.filter((c) => c === true).length;
  }

  get nackedCount(): number {
    return this.confirmed.filter((c) => c === false).length;
  }

  private async run(): Promise<void> {
    const started = performance.now();
    let previous = 0n;
    while (!this.stopped) {
      if (this.failure) throw this.failure;
      const seq = this.sentAt.length;
      const t = process.hrtime.bigint();
      this.sentAt.push(t);
      this.confirmed.push(undefined);
      this.channel.publish(
        this.exchange,
        this.routingKey,
        sequencedPayload(seq, this.payloadBytes, t, previous),
        {},
        (err) => (this.confirmed[seq] = err === null || err === undefined),
      );
      previous = t;
      const wait = started + ((seq + 1) * 1000) / this.rate - performance.now();
      if (wait > 0) await sleep(wait);
      else if (seq % 50 === 49) await new Promise((resolve) => setImmediate(resolve));
    }
  }

  /** Stops publishing and waits for every outstanding confirm; resolves with the messages sent. */
  async stop(): Promise<number> {
    this.stopped = true;
    await this.loop;
    await this.channel.waitForConfirms().catch(() => undefined);
    return this.sent;
  }

  async close(): Promise<void> {
    this.stopped = true;
    await this.loop.catch(() => undefined);
    await this.connection.close().catch(() => undefined);
  }
}
