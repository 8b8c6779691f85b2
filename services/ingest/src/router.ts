import type { Channel, ConsumeMessage } from 'amqplib';
import type { Counter } from 'prom-client';
import { ccKeysOf, envelopeHeader, renderMessageFrame } from '@events-proxy/protocol';
import type { Bus, BusMessage, History, RecordedMessage } from '@events-proxy/cluster';
import { errorText, type Logger } from '@events-proxy/runtime';
import type { RoutingTable } from './routing-table.js';
import type { IngestMetrics } from './metrics.js';

export interface RouterOptions {
  /** The channel the deliveries come from (acks and nacks go back on it). */
  readonly channel: Channel;
  readonly routingTable: RoutingTable;
  readonly bus: Bus;
  /** Gives each routed message its cursor and retains it for v2 resumes, before it is published. */
  readonly history: History;
  readonly metrics: IngestMetrics;
  readonly logger: Logger;
  /** How long to wait after a failed history or bus call before trying it again. */
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

/** A routed delivery waiting for its cursor: its frame, rendered once, and the channels it matched. */
interface Routed {
  readonly receivedAt: number;
  readonly frame: string;
  readonly channels: readonly string[];
}

/**
 * The hot path, one per consumer channel: match each delivery against the routing table, render
 * its frame once, and, per batch: take the batch's cursors from the history, retain it there, and
 * publish it on the bus (each message's envelope once, to every channel it matched), then ack.
 * Retaining before publishing lets a resuming edge subscribe first and read the history second
 * without missing what lies between.
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
  private batch: Routed[] = [];
  /** The newest delivery not yet settled; acking it with allUpTo settles all before it. */
  private newest: ConsumeMessage | undefined;
  private consumed = 0;
  private unmatched = 0;
  private running: Promise<void> | undefined;
  private closed = false;
  /** close() was called: a publish that fails is not tried again (its deliveries stay unacked). */
  private closing = false;
  /** When the batch being published now began (ms since the epoch); undefined while idle. */
  private publishingFrom: number | undefined;

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

  /**
   * Since when the batch in flight has been trying to reach the history and the bus (ms since the
   * epoch), or undefined when nothing is in flight: how long this consumer has been stuck.
   */
  get publishingSince(): number | undefined {
    return this.publishingFrom;
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
    const frame = renderMessageFrame({ exchange, routingKey, redelivered, cc, body: msg.content });
    const bytes = Buffer.byteLength(frame);
    if (bytes > limit) return this.refuseTooLarge(exchange, routingKey, bytes, limit);
    this.batch.push({ receivedAt, frame, channels });
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
      const routed = this.batch;
      metrics.consumed.inc(this.consumed);
      if (this.unmatched > 0) metrics.unmatched.inc(this.unmatched);
      this.batch = [];
      this.newest = undefined;
      this.consumed = this.unmatched = 0;
      if (routed.length > 0) {
        this.publishingFrom = Date.now();
        const published = await this.publishBatch(routed);
        this.publishingFrom = undefined;
        if (!published) return;
      }
      this.settle(() => this.opts.channel.ack(upTo, true));
    }
  }

  /**
   * Cursors, history, bus: each step is tried again while it fails, the later ones with the
   * cursors already taken (a retried record is a no-op), so a message keeps one cursor. False if
   * the router closed first.
   */
  private async publishBatch(routed: readonly Routed[]): Promise<boolean> {
    const { history, bus, metrics } = this.opts;
    const newestReceipt = routed[routed.length - 1]!.receivedAt;
    const cursors = await this.untilDone('take cursors from the history', metrics.historyFailures, () =>
      history.assign(routed.length, newestReceipt),
    );
    if (cursors === undefined) return false;
    const recorded: RecordedMessage[] = [];
    const messages: BusMessage[] = [];
    routed.forEach((r, i) => {
      const cursor = cursors[i]!;
      const header = envelopeHeader(cursor, r.receivedAt);
      // One allocation per message; its frame is the envelope's tail (the header is ASCII).
      const envelope = Buffer.from(header + r.frame);
      recorded.push({
        cursor,
        receivedAt: r.receivedAt,
        frame: envelope.subarray(header.length),
        channels: r.channels,
      });
      for (const channel of r.channels) messages.push({ channel, envelope });
    });
    if (history.retention.retentionMs > 0) {
      const endTimer = metrics.historySeconds.startTimer();
      const done = await this.untilDone('retain messages in the history', metrics.historyFailures, () =>
        history.record(recorded).then(() => true),
      );
      if (done === undefined) return false;
      endTimer();
    }
    const published = await this.untilDone('publish to the bus', metrics.publishFailures, async () => {
      const endTimer = metrics.publishSeconds.startTimer();
      await bus.publish(messages);
      endTimer();
      return true;
    });
    if (published === undefined) return false;
    metrics.framesPublished.inc(messages.length);
    return true;
  }

  /** Runs the step until it succeeds; undefined if the router closed first. */
  private async untilDone<T>(step: string, failures: Counter, run: () => Promise<T>): Promise<T | undefined> {
    const { logger } = this.opts;
    const delay = this.opts.retryDelayMs ?? 1000;
    for (let attempt = 1; ; attempt++) {
      try {
        const result = await run();
        if (attempt > 1) logger.info(`could ${step} again`, { attempts: attempt });
        return result;
      } catch (err) {
        failures.inc();
        // The first failure of an outage is a warning; the retries (one a second) are detail.
        const log = attempt === 1 ? logger.warn : logger.debug;
        log(`could not ${step}; trying again`, { error: errorText(err), attempt, retryInMs: delay });
      }
      await new Promise((resolve) => setTimeout(resolve, delay));
      if (this.closed || this.closing) return undefined;
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
