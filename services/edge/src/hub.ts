import type { Bus } from '@events-proxy/cluster';
import { decodeEnvelope, type Cursor } from '@events-proxy/protocol';
import type { Logger } from '@events-proxy/runtime';
import type { SseConnection } from './sse-connection.js';
import { MessageFrames } from './message-frames.js';
import { ChannelCatchUps, type CatchUpChannel, type HubCatchUpOptions } from './channel-catch-up.js';

/** Where the hub reports what it wrote, once per bus message (not per connection). */
export interface DeliveryStats {
  delivered(connections: number, bytes: number, lagSeconds: number): void;
  /** A bus message older than its channel's newest by LATE_MS or more was dropped. */
  late?(): void;
}

/**
 * A message whose cursor is this much older than the newest its channel delivered is a late copy:
 * a publish that an ingest gave up on (its Redis link went silent, its deliveries went back to the
 * queue and a standby published them again, flagged `redelivered`) and that ran when the link or a
 * frozen Redis came back. Delivering it would repeat a message without the flag, out of order.
 * Ordinary reordering (competing consumers' batches crossing) is within milliseconds; v2 streams
 * skip any older message of a channel anyway.
 */
export const LATE_MS = 1000;

function isLate(cursor: Cursor, through: Cursor): boolean {
  return Number(through.slice(0, 13)) - Number(cursor.slice(0, 13)) >= LATE_MS;
}

interface ChannelEntry extends CatchUpChannel {
  readonly members: Set<SseConnection>;
  /** Whether the bus subscription is in place (or an unsubscribe has been decided). */
  subscribed: boolean;
  /** Subscribe/unsubscribe steps queued or running; they run one at a time per channel. */
  pendingSteps: number;
  /** The last queued step; never rejects. */
  tail: Promise<void>;
}

/**
 * Channel → local connections, with one bus subscription per channel however many local clients
 * share it: the first member subscribes, the last leaver unsubscribes. Subscription changes of a
 * channel are serialised, and each step acts on the membership at the time it runs, so a client
 * joining while an unsubscribe is in flight gets a fresh subscribe after it.
 */
export type { HubCatchUpOptions };

export class Hub {
  private readonly channels = new Map<string, ChannelEntry>();
  private subscribedCount = 0;
  private closed = false;
  private readonly catchUps: ChannelCatchUps<ChannelEntry> | undefined;

  constructor(
    private readonly bus: Bus,
    private readonly stats: DeliveryStats,
    private readonly logger: Logger,
    catchUp?: HubCatchUpOptions,
  ) {
    bus.onMessage(this.onMessage);
    if (catchUp !== undefined) {
      const catchUps = new ChannelCatchUps<ChannelEntry>(catchUp, logger, {
        channels: () => this.channels,
        entry: (channel) => this.channels.get(channel),
        deliver: (channel, entry, frames, receivedAt) => this.deliver(channel, entry, frames, receivedAt),
        fanOut: (channel, entry, buf) => this.fanOut(channel, entry, buf, true),
        closed: () => this.closed,
      });
      bus.onResubscribed((inPlace) => catchUps.resubscribed(inPlace));
      this.catchUps = catchUps;
    }
  }

  /** Stops catch-ups in progress (their held messages are delivered as they are). */
  close(): void {
    this.closed = true;
  }

  /** Bus subscriptions held now. */
  get subscriptions(): number {
    return this.subscribedCount;
  }

  /** Local connections on the channel (for tests and diagnostics). */
  members(channel: string): number {
    return this.channels.get(channel)?.members.size ?? 0;
  }

  /** Adds the connection to the channel; resolves once the bus subscription is in place. */
  join(channel: string, conn: SseConnection): Promise<void> {
    let entry = this.channels.get(channel);
    if (entry === undefined) {
      entry = {
        members: new Set(),
        subscribed: false,
        pendingSteps: 0,
        tail: Promise.resolve(),
        through: '',
        held: undefined,
        replayed: undefined,
        catchUpFor: 0,
        reading: false,
      };
      this.channels.set(channel, entry);
    }
    entry.members.add(conn);
    if (entry.subscribed && entry.pendingSteps === 0) return Promise.resolve();
    return this.reconcile(channel, entry);
  }

  leave(channel: string, conn: SseConnection): void {
    const entry = this.channels.get(channel);
    if (entry === undefined || !entry.members.delete(conn) || entry.members.size > 0) return;
    this.reconcile(channel, entry).catch((err: unknown) =>
      this.logger.warn('bus unsubscribe failed', { channel, error: err }),
    );
  }

  /** Resolves when every queued subscribe/unsubscribe has run. */
  async settled(): Promise<void> {
    await Promise.all([...this.channels.values()].map((e) => e.tail));
  }

  private reconcile(channel: string, entry: ChannelEntry): Promise<void> {
    entry.pendingSteps++;
    const step = async (): Promise<void> => {
      try {
        if (entry.members.size > 0 && !entry.subscribed) {
          await this.bus.subscribe(channel);
          entry.subscribed = true;
          this.subscribedCount++;
          this.logger.debug('bus subscribed', { channel });
          this.noteStart(entry);
        } else if (entry.members.size === 0 && entry.subscribed) {
          entry.subscribed = false;
          this.subscribedCount--;
          this.logger.debug('bus unsubscribing', { channel });
          await this.bus.unsubscribe(channel);
        }
      } finally {
        entry.pendingSteps--;
        if (entry.pendingSteps === 0 && entry.members.size === 0 && !entry.subscribed) {
          this.channels.delete(channel);
        }
      }
    };
    const run = entry.tail.then(step);
    entry.tail = run.catch(() => undefined);
    return run;
  }

  /**
   * A channel that has received nothing yet catches up from the newest position at its subscribe:
   * read after the subscription is in place, so nothing published before it counts as missed.
   */
  private noteStart(entry: ChannelEntry): void {
    if (this.catchUps === undefined || entry.through !== '') return;
    this.catchUps.history.newest().then(
      (newest) => {
        if (newest > entry.through) entry.through = newest;
      },
      // Unknown start: a catch-up before the channel's first message tells its v2 clients `gap`.
      () => undefined,
    );
  }

  private readonly onMessage = (channel: string, buf: Buffer): void => {
    const entry = this.channels.get(channel);
    if (entry === undefined || entry.members.size === 0) return;
    if (entry.held !== undefined) {
      entry.held.push(buf);
      return;
    }
    this.fanOut(channel, entry, buf);
  };

  /**
   * Decodes and delivers a bus message, unless it is a late copy (see isLate), or (`afterCatchUp`:
   * held while the channel caught up) the history delivered it already.
   */
  private fanOut(channel: string, entry: ChannelEntry, buf: Buffer, afterCatchUp = false): void {
    const envelope = decodeEnvelope(buf);
    if (envelope === undefined) {
      this.logger.warn('dropped a bus message that is not an envelope', { channel, bytes: buf.length });
      return;
    }
    if (afterCatchUp && envelope.id <= entry.through) return;
    const replayed = entry.replayed;
    if (replayed !== undefined) {
      if (replayed.cursors.delete(envelope.id)) return;
      if (envelope.id > replayed.newest || replayed.cursors.size === 0) entry.replayed = undefined;
    }
    if (envelope.id < entry.through && isLate(envelope.id, entry.through)) {
      this.stats.late?.();
      this.logger.debug('dropped a late bus message', {
        channel,
        cursor: envelope.id,
        through: entry.through,
      });
      return;
    }
    this.deliver(channel, entry, new MessageFrames(envelope.id, envelope.frame), envelope.receivedAt);
  }

  private deliver(channel: string, entry: ChannelEntry, frames: MessageFrames, receivedAt: number): void {
    if (frames.cursor > entry.through) entry.through = frames.cursor;
    const now = Date.now();
    let written = 0;
    let bytes = 0;
    // The same frame Buffer goes to every connection; a connection closed as too slow leaves the
    // set during the loop, which a Set allows.
    for (const conn of entry.members) {
      const n = conn.deliver(frames, channel, now);
      if (n > 0) {
        written++;
        bytes += n;
      }
    }
    if (written > 0) {
      this.stats.delivered(written, bytes, Math.max(0, now - receivedAt) / 1000);
    }
  }
}
