/**
 * A publisher that keeps publishing a numbered sequence through any outage, with publisher
 * confirms, and knows which messages the broker confirmed.
 */
import amqp from 'amqplib';
import { setTimeout as sleep } from 'node:timers/promises';
import { waitUntil } from './wait.js';

/** Where message number `seq` is published: its routing key and CC keys. */
export type SequenceRoute = (seq: number) => { readonly routingKey: string; readonly cc?: readonly string[] };

/** Publishes `{ seq }` every `intervalMs` with publisher confirms, reconnecting as long as it runs. */
export class SequencePublisher {
  /**
   * Sequence numbers the broker confirmed, when (Date.now()), and when each was handed to the
   * broker (`sentAt`): a message sent after an event the broker saw happens after it; one merely
   * confirmed after it may have reached the broker before (a confirm can take a while under load).
   */
  readonly confirmed: { seq: number; at: number; sentAt: number }[] = [];
  private next = 1;
  private running = true;
  private readonly loop: Promise<void>;

  private constructor(
    private readonly url: string,
    private readonly exchange: string,
    private readonly route: SequenceRoute,
    private readonly intervalMs: number,
  ) {
    this.loop = this.run();
  }

  /**
   * `route`: a routing key prefix (message `n` goes out as `<prefix>.<n>`), or a function giving
   * each message's routing key and CC keys.
   */
  static start(
    url: string,
    exchange: string,
    route: string | SequenceRoute,
    intervalMs = 25,
  ): SequencePublisher {
    const routeOf: SequenceRoute =
      typeof route === 'string' ? (seq) => ({ routingKey: `${route}.${seq}` }) : route;
    return new SequencePublisher(url, exchange, routeOf, intervalMs);
  }

  /** Sequence numbers confirmed after `at`. */
  confirmedAfter(at: number): number[] {
    return this.confirmed.filter((c) => c.at > at).map((c) => c.seq);
  }

  /**
   * The number of the first message handed to the broker after this call that the broker
   * confirmed, once there is one. (The next number itself may never be confirmed: a message in
   * flight when the broker goes away is lost to the publisher, which goes on with the next.)
   */
  async confirmedFromNow(ms = 30_000): Promise<number> {
    const from = this.next;
    await waitUntil(() => this.lastConfirmed >= from, `a message from number ${from} on confirmed`, ms);
    return this.confirmed.find((c) => c.seq >= from)!.seq;
  }

  get lastConfirmed(): number {
    return this.confirmed.at(-1)?.seq ?? 0;
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }

  private async run(): Promise<void> {
    while (this.running) {
      let conn: amqp.ChannelModel | undefined;
      try {
        conn = await amqp.connect(this.url, { timeout: 2000 });
        conn.on('error', () => undefined);
        const ch = await conn.createConfirmChannel();
        ch.on('error', () => undefined);
        while (this.running) {
          const seq = this.next++;
          const { routingKey, cc } = this.route(seq);
          const sentAt = Date.now();
          ch.publish(this.exchange, routingKey, Buffer.from(JSON.stringify({ seq })), {
            persistent: true,
            ...(cc === undefined ? {} : { CC: [...cc] }),
          });
          await ch.waitForConfirms();
          this.confirmed.push({ seq, at: Date.now(), sentAt });
          await sleep(this.intervalMs);
        }
      } catch {
        // The broker is away: the message in flight was not confirmed; try again shortly.
        await sleep(200);
      } finally {
        await conn?.close().catch(() => undefined);
      }
    }
  }
}
