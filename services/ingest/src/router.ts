import type { Channel, ConsumeMessage } from 'amqplib';
import { ccKeysOf, renderMessageEnvelope } from '@events-proxy/protocol';
import type { Bus, BusMessage } from '@events-proxy/cluster';
import { errorText, type Logger } from '@events-proxy/runtime';
import type { RoutingTable } from './routing-table.js';
import type { IngestMetrics } from './metrics.js';

export interface RouterOptions {
  /** The channel the deliveries come from (acks and nacks go back on it). */
  readonly channel: Channel;
  readonly routingTable: RoutingTable;
  readonly bus: Bus;
  readonly metrics: IngestMetrics;
  readonly logger: Logger;
  /** A process-unique id for each routed message (the envelope id). */
  readonly nextId: () => string;
  /** How long to wait after a failed publish before trying it again. */
  readonly retryDelayMs?: number;
  /** Deliveries whose body or rendered frame is larger are not published (default MAX_FRAME_BYTES). */
  readonly maxFrameBytes?: number;
}

/**
 * The largest `message` frame put on the bus. Redis disconnects a pub/sub subscriber whose output
 * buffer passes 32 MiB (`client-output-buffer-limit pubsub`, its default hard limit), so one frame
 * near that size would cut every edge's subscription to the bus and lose what is published while
 * they reconnect. 8 MiB is Redis's soft limit, far above any Pulse message (a few kB).
 */
export const MAX_FRAME_BYTES = 8 * 1024 * 1024;

/**
 * The hot path, one per consumer channel: match each delivery against the routing table, render
 * its frame and envelope once, and publish them on the bus, then ack.
 *
 * Deliveries are routed as they arrive but published in batches: everything that arrives while
 * the previous publish is in flight (or within the same tick) goes out in one bus round trip, and
 * one ack with `allUpTo` settles the whole batch. Only one publish is in flight at a time, so
 * order holds. A failed publish is tried again, the same batch, after a short delay, for as long
 * as the bus fails: later deliveries wait behind it (at most the prefetch count, unacked, so they
 * stay the broker's until published). Returning the batch to the queue instead would let a
 * delivery already on its way to this consumer overtake the returned ones.
 */
export class Router {
  private batch: BusMessage[] = [];
  /** The newest delivery not yet settled; acking it with allUpTo settles all before it. */
  private newest: ConsumeMessage | undefined;
  private consumed = 0;
  private unmatched = 0;
  private running: Promise<void> | undefined;
  private closed = false;
  /** close() was called: a publish that fails is not tried again (its deliveries stay unacked). */
  private closing = false;

  constructor(private readonly opts: RouterOptions) {}

  handle(msg: ConsumeMessage): void {
    if (this.closed) return;
    const receivedAt = Date.now();
    this.consumed++;
    try {
      this.route(msg, receivedAt);
    } catch (err) {
      // Never reached with well-formed inputs; a bad message must not stop the consumer.
      this.unmatched++;
      this.opts.logger.error('could not route a message', {
        exchange: msg.fields.exchange,
        error: errorText(err),
      });
    }
    this.newest = msg;
    this.running ??= new Promise<void>((resolve) => setImmediate(resolve))
      .then(() => this.drain())
      .finally(() => (this.running = undefined));
  }

  /**
   * Stops routing; resolves once the publish in flight (if any) has finished and been acked, or
   * has failed: then its deliveries stay unacked and return to the queue with the channel.
   */
  async close(): Promise<void> {
    this.closing = true;
    await this.running;
    this.closed = true;
  }

  /** The channel is gone: unacked deliveries return to the queue by themselves. */
  abandon(): void {
    this.closed = true;
    this.batch = [];
    this.newest = undefined;
  }

  private route(msg: ConsumeMessage, receivedAt: number): void {
    const { exchange, routingKey, redelivered } = msg.fields;
    if (!exchange) {
      this.unmatched++;
      this.opts.logger.debug('message without a source exchange ignored', { routingKey });
      return;
    }
    const cc = ccKeysOf(msg.properties.headers?.CC);
    const channels = this.opts.routingTable.channelsFor(exchange, routingKey, cc);
    if (channels.length === 0) {
      this.unmatched++;
      return;
    }
    const limit = this.opts.maxFrameBytes ?? MAX_FRAME_BYTES;
    // The body is checked before rendering (no copy of a huge body is made), the frame after it
    // (escaping a binary body as a JSON string can make it up to six times larger).
    if (msg.content.length > limit)
      return this.refuseTooLarge(exchange, routingKey, msg.content.length, limit);
    const delivery = { exchange, routingKey, redelivered, cc, body: msg.content };
    const envelope = renderMessageEnvelope(this.opts.nextId(), receivedAt, delivery);
    if (envelope.length > limit) return this.refuseTooLarge(exchange, routingKey, envelope.length, limit);
    for (const channel of channels) this.batch.push({ channel, envelope });
  }

  private refuseTooLarge(exchange: string, routingKey: string, bytes: number, limit: number): void {
    this.unmatched++;
    this.opts.metrics.tooLarge.inc();
    this.opts.logger.warn('message too large for the bus; not delivered', {
      exchange,
      routingKey,
      bytes,
      maxMessageBytes: limit,
    });
  }

  private async drain(): Promise<void> {
    const { metrics } = this.opts;
    while (this.newest && !this.closed) {
      const upTo = this.newest;
      const messages = this.batch;
      metrics.consumed.inc(this.consumed);
      if (this.unmatched > 0) metrics.unmatched.inc(this.unmatched);
      this.batch = [];
      this.newest = undefined;
      this.consumed = this.unmatched = 0;
      if (messages.length > 0 && !(await this.publishUntilDone(messages))) return;
      this.settle(() => this.opts.channel.ack(upTo, true));
    }
  }

  /** Publishes the batch, trying again while the bus fails; false if the router closed first. */
  private async publishUntilDone(messages: readonly BusMessage[]): Promise<boolean> {
    const { metrics, logger } = this.opts;
    const delay = this.opts.retryDelayMs ?? 1000;
    for (let attempt = 1; ; attempt++) {
      const endTimer = metrics.publishSeconds.startTimer();
      try {
        await this.opts.bus.publish(messages);
        endTimer();
        metrics.framesPublished.inc(messages.length);
        if (attempt > 1)
          logger.info('published to the bus again', { frames: messages.length, attempts: attempt });
        return true;
      } catch (err) {
        metrics.publishFailures.inc();
        // The first failure of an outage is a warning; the retries (one a second) are detail.
        const log = attempt === 1 ? logger.warn : logger.debug;
        log('could not publish to the bus; trying again', {
          error: errorText(err),
          frames: messages.length,
          attempt,
          retryInMs: delay,
        });
      }
      await new Promise((resolve) => setTimeout(resolve, delay));
      if (this.closed || this.closing) return false;
    }
  }

  private settle(op: () => void): void {
    if (this.closed) return;
    try {
      op();
    } catch (err) {
      // The channel closed meanwhile: the broker redelivers the unacked messages.
      this.opts.logger.debug('could not settle deliveries on a closed channel', { error: errorText(err) });
    }
  }
}
