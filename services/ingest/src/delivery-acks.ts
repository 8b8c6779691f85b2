import type { Channel, ConsumeMessage } from 'amqplib';
import { errorText, type Logger } from '@events-proxy/runtime';

/** One delivery from the broker, until it is settled: acked once all its channels published it. */
export interface Delivery {
  readonly msg: ConsumeMessage;
  /** When it arrived (ms since the epoch). */
  readonly at: number;
  /** Channels that have yet to publish it (0: nothing left to do, it may be acked). */
  left: number;
  acked: boolean;
}

/**
 * The deliveries of one consumer channel not yet acked, in delivery order, and the rule that acks
 * them: one `allUpTo` ack for the done deliveries before the first that is not (one ack per batch
 * when all goes well), and, while some channel is held back, each done delivery after it on its
 * own, so the prefetch window does not fill up behind a stuck one. An `allUpTo` ack is always given
 * a delivery not acked yet: acking a delivery twice would close the channel.
 */
export class DeliveryAcks {
  private deliveries: Delivery[] = [];

  constructor(
    private readonly channel: Channel,
    private readonly logger: Logger,
  ) {}

  /** Tracks a delivery just received; `left` is set once it is routed. */
  add(msg: ConsumeMessage, at: number): Delivery {
    const delivery: Delivery = { msg, at, left: 0, acked: false };
    this.deliveries.push(delivery);
    return delivery;
  }

  /** The oldest delivery with channels left to publish it. */
  oldestWaiting(): Delivery | undefined {
    return this.deliveries.find((d) => d.left > 0);
  }

  /** Acks what is done; with `eachDone`, also the done deliveries after the first that is not. */
  settle(eachDone: boolean): void {
    let upTo: Delivery | undefined;
    while (this.deliveries.length > 0 && this.deliveries[0]!.left === 0) {
      const d = this.deliveries.shift()!;
      if (!d.acked) upTo = d;
    }
    if (upTo !== undefined) this.ack(upTo, true);
    if (!eachDone) return;
    for (const d of this.deliveries) {
      if (d.left === 0 && !d.acked) this.ack(d, false);
    }
  }

  /** The channel is gone: its unacked deliveries return to the queue by themselves. */
  forget(): void {
    this.deliveries = [];
  }

  private ack(d: Delivery, allUpTo: boolean): void {
    d.acked = true;
    try {
      this.channel.ack(d.msg, allUpTo);
    } catch (err) {
      // The channel closed meanwhile: the broker redelivers the unacked messages.
      this.logger.debug('could not settle deliveries on a closed channel', { error: errorText(err) });
    }
  }
}
