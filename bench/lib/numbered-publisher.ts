/**
 * Publishes numbered messages (seq 0, 1, 2, …) to a topic exchange at a steady rate on a confirm
 * channel, and remembers for each seq when it was sent (CLOCK_MONOTONIC ns, the `t` in its payload,
 * which the C clients read) and whether the broker confirmed it. Publishing does not wait for
 * confirms (each message has its own callback), so a slow confirm does not slow the rate.
 *
 * With one routing key each message is its own seq. With several (`routingKeys`), messages go in
 * rounds: round n sends one message with seq n to every key, one after the other, evenly spread
 * over the round (`rate` counts messages, all keys together), so a client bound to any one key
 * sees seq 0, 1, 2, … and a seq counts as confirmed once every key's copy is.
 */
import amqp from 'amqplib';
import { sequencedPayload, sleep } from './load.js';

export class NumberedPublisher {
  /** Publish time of each seq sent (process.hrtime.bigint(); a round's first message). */
  readonly sentAt: bigint[] = [];
  /** Per seq: true once confirmed (acked, every key's copy), false if any nacked, undefined while waiting. */
  readonly confirmed: (boolean | undefined)[] = [];
  /** Per seq: copies not yet acked. */
  private readonly outstanding: number[] = [];
  private stopped = false;
  private readonly loop: Promise<void>;
  private failure: Error | undefined;

  private constructor(
    private readonly connection: amqp.ChannelModel,
    private readonly channel: amqp.ConfirmChannel,
    private readonly exchange: string,
    private readonly routingKeys: readonly string[],
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
    /** One key (every message to it) or several (`routingKeys`, in rounds). */
    readonly routingKey?: string;
    readonly routingKeys?: readonly string[];
    /** Messages per second, all keys together. */
    readonly rate: number;
    readonly payloadBytes: number;
  }): Promise<NumberedPublisher> {
    const keys = opts.routingKeys ?? (opts.routingKey !== undefined ? [opts.routingKey] : []);
    if (keys.length === 0) throw new Error('NumberedPublisher needs a routing key');
    const connection = await amqp.connect(opts.url);
    const channel = await connection.createConfirmChannel();
    return new NumberedPublisher(connection, channel, opts.exchange, keys, opts.rate, opts.payloadBytes);
  }

  /** Seqs sent so far (the next seq): messages, or rounds with several keys. */
  get sent(): number {
    return this.sentAt.length;
  }

  /** Messages sent so far (every key's copy of every seq). */
  get messagesSent(): number {
    return this.sentAt.length * this.routingKeys.length;
  }

  get confirmedCount(): number {
    return this.confirmed.filter((c) => c === true).length;
  }

  get nackedCount(): number {
    return this.confirmed.filter((c) => c === false).length;
  }

  private async run(): Promise<void> {
    const started = performance.now();
    const keys = this.routingKeys.length;
    const previous = this.routingKeys.map(() => 0n);
    let messages = 0;
    while (!this.stopped) {
      if (this.failure) throw this.failure;
      const seq = this.sentAt.length;
      for (let k = 0; k < keys; k++) {
        const t = process.hrtime.bigint();
        if (k === 0) {
          this.sentAt.push(t);
          this.confirmed.push(undefined);
          this.outstanding.push(keys);
        }
        this.channel.publish(
          this.exchange,
          this.routingKeys[k]!,
          sequencedPayload(seq, this.payloadBytes, t, previous[k]!),
          {},
          (err) => {
            if (err !== null && err !== undefined) this.confirmed[seq] = false;
            else if (--this.outstanding[seq]! === 0 && this.confirmed[seq] === undefined)
              this.confirmed[seq] = true;
          },
        );
        previous[k] = t;
        messages++;
        const wait = started + (messages * 1000) / this.rate - performance.now();
        if (wait > 0) await sleep(wait);
        else if (messages % 50 === 49) await new Promise((resolve) => setImmediate(resolve));
      }
    }
  }

  /** Stops publishing (after the round in flight) and waits for every outstanding confirm; resolves with the seqs sent. */
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
