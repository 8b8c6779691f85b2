import type { Bus } from '@events-proxy/cluster';
import { decodeEnvelope } from '@events-proxy/protocol';
import type { Logger } from '@events-proxy/runtime';
import type { SseConnection } from './sse-connection.js';
import { MessageFrames } from './message-frames.js';

/** Where the hub reports what it wrote, once per bus message (not per connection). */
export interface DeliveryStats {
  delivered(connections: number, bytes: number, lagSeconds: number): void;
}

interface ChannelEntry {
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
export class Hub {
  private readonly channels = new Map<string, ChannelEntry>();
  private subscribedCount = 0;

  constructor(
    private readonly bus: Bus,
    private readonly stats: DeliveryStats,
    private readonly logger: Logger,
  ) {
    bus.onMessage(this.onMessage);
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
      entry = { members: new Set(), subscribed: false, pendingSteps: 0, tail: Promise.resolve() };
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

  private readonly onMessage = (channel: string, buf: Buffer): void => {
    const entry = this.channels.get(channel);
    if (entry === undefined || entry.members.size === 0) return;
    const envelope = decodeEnvelope(buf);
    if (envelope === undefined) {
      this.logger.warn('dropped a bus message that is not an envelope', { channel, bytes: buf.length });
      return;
    }
    const now = Date.now();
    let written = 0;
    let bytes = 0;
    // The same frame Buffer goes to every connection; a connection closed as too slow leaves the
    // set during the loop, which a Set allows.
    const frames = new MessageFrames(envelope.id, envelope.frame);
    for (const conn of entry.members) {
      const n = conn.deliver(frames, channel, now);
      if (n > 0) {
        written++;
        bytes += n;
      }
    }
    if (written > 0) {
      this.stats.delivered(written, bytes, Math.max(0, now - envelope.receivedAt) / 1000);
    }
  };
}
