import type { Channel, ConsumeMessage } from 'amqplib';
import type { Counter } from 'prom-client';
import { ccKeysOf, envelopeHeader, renderMessageFrame } from '@events-proxy/protocol';
import { type Bus, type BusMessage, type History, type RecordedMessage } from '@events-proxy/cluster';
import { errorText, type Logger } from '@events-proxy/runtime';
import type { RoutingTable } from './routing-table.js';
import type { IngestMetrics } from './metrics.js';
import { DeliveryAcks, type Delivery } from './delivery-acks.js';
import { HeldChannels } from './held-channels.js';

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
  readonly delivery: Delivery;
  readonly receivedAt: number;
  readonly frame: string;
  readonly channels: readonly string[];
}

/** One message for one channel: retained under it, then published on it. */
interface Item {
  readonly channel: string;
  readonly cursor: string;
  readonly receivedAt: number;
  readonly envelope: Buffer;
  /** The envelope's frame (its tail), as retained in the history. */
  readonly frame: Buffer;
  readonly delivery: Delivery;
}

/** How soon channels that failed while others worked (a shard failing over) are tried again. */
const PARTIAL_RETRY_MS = 250;

/**
 * The hot path, one per consumer channel: match each delivery against the routing table, render
 * its frame once, and, per batch: take the batch's cursors from the history, retain it there, and
 * publish it on the bus (each message's envelope once, to every channel it matched), then ack.
 * Retaining before publishing lets a resuming edge subscribe first and read the history second
 * without missing what lies between.
 *
 * Deliveries are routed as they arrive but published in batches: everything that arrives while
 * the previous batch is in flight (or within the same tick) goes out in one history call and one
 * bus call, and one ack with `allUpTo` settles the whole batch. One batch is in flight at a time.
 *
 * A channel whose history or bus call fails is held back: its messages (this batch's and later
 * ones') wait in its own queue, in order, and are tried again together until they go through,
 * while every other channel goes on. On a Redis Cluster that is what keeps one shard's fail-over
 * from pausing the channels of the healthy shards; when Redis is down altogether, every channel
 * waits, as before. Nothing is acked before all its channels published it: a delivery that is done
 * while an older one waits is acked on its own, so the prefetch window does not fill up with them.
 * Returning deliveries to the queue instead would let one already on its way overtake them.
 */
export class Router {
  private batch: Routed[] = [];
  /** Deliveries not yet acked, and the rule that acks them. */
  private readonly acks: DeliveryAcks;
  /** Deliveries received since the last batch was taken. */
  private received = 0;
  private consumed = 0;
  private unmatched = 0;
  private running: Promise<void> | undefined;
  /** Channels held back after a failure, with their messages in order (and publishes in flight). */
  private readonly held = new HeldChannels<Item>(() => {
    this.nextRetryAt = 0;
    this.wake?.();
  });
  private nextRetryAt = 0;
  /** When a message last reached the bus (ms since the epoch). */
  private lastProgressAt = Date.now();
  private wake: (() => void) | undefined;
  private closed = false;
  /** close() was called: a publish that fails is not tried again (its deliveries stay unacked). */
  private closing = false;

  constructor(private readonly opts: RouterOptions) {
    this.acks = new DeliveryAcks(opts.channel, opts.logger);
  }

  handle(msg: ConsumeMessage): void {
    if (this.closed) return;
    const receivedAt = Date.now();
    const delivery = this.acks.add(msg, receivedAt);
    this.consumed++;
    this.received++;
    try {
      this.route(msg, delivery, receivedAt);
    } catch (err) {
      // Never reached with well-formed inputs; a bad message must not stop the consumer.
      this.unmatched++;
      this.opts.logger.error('could not route a message', {
        exchange: msg.fields.exchange,
        error: errorText(err),
      });
    }
    this.wake?.();
    this.running ??= new Promise<void>((resolve) => setImmediate(resolve))
      .then(() => this.drain())
      .finally(() => (this.running = undefined));
  }

  /**
   * How long this consumer has been unable to publish: since when the oldest delivery not yet
   * published has waited, or the last message went through if that is later (ms since the epoch);
   * undefined when nothing waits. A shard failing over while others work is progress, not stuck.
   */
  get publishingSince(): number | undefined {
    const first = this.acks.oldestWaiting();
    return first === undefined ? undefined : Math.max(first.at, this.lastProgressAt);
  }

  /**
   * Stops routing; resolves once the batch in flight (if any) has been published and acked, or
   * has failed: then its deliveries, and those of channels held back, stay unacked and return to
   * the queue with the channel.
   */
  async close(): Promise<void> {
    this.closing = true;
    this.wake?.();
    await this.running;
    this.closed = true;
  }

  /** The channel is gone: unacked deliveries return to the queue by themselves. */
  abandon(): void {
    this.closed = true;
    this.batch = [];
    this.acks.forget();
    this.held.clear();
    this.wake?.();
  }

  private route(msg: ConsumeMessage, delivery: Delivery, receivedAt: number): void {
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
    delivery.left = channels.length;
    this.batch.push({ delivery, receivedAt, frame, channels });
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

  /**
   * One step at a time: a new batch whenever deliveries wait, and the channels held back once
   * their retry is due; between the two it sleeps until either comes.
   */
  private async drain(): Promise<void> {
    while (!this.closed) {
      if (this.received > 0) {
        if (!(await this.takeBatch())) return;
        continue;
      }
      if (this.held.size === 0 || this.closing) return;
      const wait = this.nextRetryAt - Date.now();
      if (wait > 0) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, wait);
          this.wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        this.wake = undefined;
        continue;
      }
      const held = this.takeHeld();
      await this.send(held);
      // Only publishes still in flight are left (or nothing failed this round): look again later,
      // or as soon as one of them ends.
      if (this.held.size > 0 && this.nextRetryAt <= Date.now())
        this.nextRetryAt = Date.now() + PARTIAL_RETRY_MS;
      if (this.held.size === 0) {
        this.opts.logger.info('channels held back after a failure are published again', {
          messages: held.length,
        });
      }
      this.settle();
    }
  }

  /** Takes the deliveries received since the last batch; false if the router closed meanwhile. */
  private async takeBatch(): Promise<boolean> {
    const { metrics, history } = this.opts;
    const routed = this.batch;
    metrics.consumed.inc(this.consumed);
    if (this.unmatched > 0) metrics.unmatched.inc(this.unmatched);
    this.batch = [];
    this.received = this.consumed = this.unmatched = 0;
    if (routed.length > 0) {
      // Cursors are taken for the whole batch from one key: a message keeps its one cursor
      // through every retry of its channels.
      const newestReceipt = routed[routed.length - 1]!.receivedAt;
      const cursors = await this.untilDone('take cursors from the history', metrics.historyFailures, () =>
        history.assign(routed.length, newestReceipt),
      );
      if (cursors === undefined) return false;
      const fresh: Item[] = [];
      routed.forEach((r, i) => {
        const cursor = cursors[i]!;
        const header = envelopeHeader(cursor, r.receivedAt);
        // One allocation per message; its frame is the envelope's tail (the header is ASCII).
        const envelope = Buffer.from(header + r.frame);
        const frame = envelope.subarray(header.length);
        for (const channel of r.channels) {
          const item = { channel, cursor, receivedAt: r.receivedAt, envelope, frame, delivery: r.delivery };
          // A channel held back keeps its order: its new messages queue behind the held ones.
          if (!this.held.queueIfHeld(item)) fresh.push(item);
        }
      });
      await this.send(fresh);
    }
    this.settle();
    return !this.closed;
  }

  /**
   * Retains the items in the history, then publishes them: each in one call. Channels whose part
   * fails are held back with their items; the rest count as published.
   */
  private async send(items: Item[]): Promise<void> {
    const { history, bus, metrics } = this.opts;
    if (items.length === 0 || this.closed) return;
    if (history.retention.retentionMs > 0) {
      const endTimer = metrics.historySeconds.startTimer();
      try {
        await history.record(recordedOf(items));
        endTimer();
      } catch (err) {
        metrics.historyFailures.inc();
        items = this.holdBack(items, err, 'retain messages in the history');
      }
    }
    if (items.length === 0 || this.closed) return;
    const messages: BusMessage[] = items.map((i) => ({ channel: i.channel, envelope: i.envelope }));
    const endTimer = metrics.publishSeconds.startTimer();
    try {
      await bus.publish(messages);
      endTimer();
    } catch (err) {
      metrics.publishFailures.inc();
      items = this.holdBack(items, err, 'publish to the bus', true);
    }
    if (this.closed) return;
    for (const item of items) item.delivery.left--;
    if (items.length > 0) {
      metrics.framesPublished.inc(items.length);
      this.lastProgressAt = Date.now();
    }
  }

  /** Holds back the channels a failure concerns; returns the items of those that succeeded. */
  private holdBack(items: Item[], err: unknown, step: string, published = false): Item[] {
    const wasHeld = this.held.size > 0;
    const { ok, failed, partial } = this.held.holdBack(items, err, published);
    const delay = partial ? PARTIAL_RETRY_MS : (this.opts.retryDelayMs ?? 1000);
    this.nextRetryAt = Date.now() + delay;
    // The first failure of an outage is a warning; the retries are detail.
    const log = wasHeld ? this.opts.logger.debug : this.opts.logger.warn;
    log(`could not ${step}; trying again`, {
      error: errorText(err),
      channels: failed,
      channelsHeldBack: this.held.size,
      retryInMs: delay,
    });
    return ok;
  }

  /** What to try again now; counts the publishes in flight that ended well as published. */
  private takeHeld(): Item[] {
    const { retry, published } = this.held.take();
    if (published.length > 0) {
      for (const item of published) item.delivery.left--;
      this.opts.metrics.framesPublished.inc(published.length);
      this.lastProgressAt = Date.now();
    }
    return retry;
  }

  /** Acks what is done (while a channel is held back, each done delivery on its own). */
  private settle(): void {
    if (!this.closed) this.acks.settle(this.held.size > 0);
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
}

/**
 * The items as messages to retain: one per run of items of the same message, under the channels
 * of that run. A batch's items of one message are consecutive; a retry's are grouped by channel,
 * so one message may come as several runs, each recorded under its own channels (recording is
 * per channel and idempotent).
 */
function recordedOf(items: readonly Item[]): RecordedMessage[] {
  const out: { cursor: string; receivedAt: number; frame: Buffer; channels: string[] }[] = [];
  let last: (typeof out)[number] | undefined;
  for (const item of items) {
    if (last !== undefined && last.cursor === item.cursor) {
      last.channels.push(item.channel);
      continue;
    }
    last = { cursor: item.cursor, receivedAt: item.receivedAt, frame: item.frame, channels: [item.channel] };
    out.push(last);
  }
  return out;
}
