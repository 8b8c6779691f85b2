import { setTimeout as sleep } from 'node:timers/promises';
import type { Bus, History, HistoryEntry } from '@events-proxy/cluster';
import { decodeEnvelope, type Cursor } from '@events-proxy/protocol';
import { errorText, type Logger } from '@events-proxy/runtime';
import type { SseConnection } from './sse-connection.js';
import { MessageFrames } from './message-frames.js';
import { planCatchUp, type CatchUp } from './channel-catch-up.js';

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

interface ChannelEntry {
  readonly members: Set<SseConnection>;
  /** Whether the bus subscription is in place (or an unsubscribe has been decided). */
  subscribed: boolean;
  /** Subscribe/unsubscribe steps queued or running; they run one at a time per channel. */
  pendingSteps: number;
  /** The last queued step; never rejects. */
  tail: Promise<void>;
  /**
   * The newest cursor this edge received on the channel, or (before any) the newest position when
   * it subscribed; '' while unknown. A catch-up after a lost subscription starts after it.
   */
  through: Cursor;
  /** While the channel catches up after a lost subscription: the bus messages that came meanwhile. */
  held: Buffer[] | undefined;
  /**
   * After a catch-up: the cursors it delivered from the history whose live copy may still come (the
   * ingest retains a message before it publishes it, so a read can find one still on its way). A
   * channel's messages arrive in cursor order: once a newer one comes, none of these can.
   */
  replayed: { readonly cursors: Set<Cursor>; newest: Cursor } | undefined;
  /** The newest announcement of a reconnected subscriber that this channel has to catch up for. */
  catchUpFor: number;
  /** Its history read is in flight. */
  reading: boolean;
}

/** How the hub fills what a lost bus subscription missed (none: single-node's memory bus). */
export interface HubCatchUpOptions {
  readonly history: History;
  /** A channel's history reads are tried for this long before its clients are told `gap`. */
  readonly giveUpAfterMs?: number;
  /** Most bus messages a channel holds while it catches up; past it, reads still failing give up (`gap`). */
  readonly maxHeld?: number;
  /** Counts catch-ups: messages replayed, and channels that could only be told `gap`. */
  readonly onCatchUp?: (channel: string, replayed: number, gap: boolean) => void;
}

/** Channels whose history is read at once during a catch-up. */
const CATCH_UP_CONCURRENCY = 64;
/** Reads done within this are delivered together, merged in cursor order; later ones on their own. */
const FIRST_PASS_MS = 250;
const CATCH_UP_RETRY_MS = 500;

/**
 * Channel → local connections, with one bus subscription per channel however many local clients
 * share it: the first member subscribes, the last leaver unsubscribes. Subscription changes of a
 * channel are serialised, and each step acts on the membership at the time it runs, so a client
 * joining while an unsubscribe is in flight gets a fresh subscribe after it.
 */
export class Hub {
  private readonly channels = new Map<string, ChannelEntry>();
  private subscribedCount = 0;
  /** Announcements of a reconnected subscriber so far, and each one's proof of subscriptions in place. */
  private announcements = 0;
  private readonly inPlaceOf = new Map<number, Promise<void>>();
  private closed = false;

  constructor(
    private readonly bus: Bus,
    private readonly stats: DeliveryStats,
    private readonly logger: Logger,
    private readonly catchUp?: HubCatchUpOptions,
  ) {
    bus.onMessage(this.onMessage);
    if (catchUp !== undefined) bus.onResubscribed((inPlace) => this.resubscribed(inPlace));
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
    if (this.catchUp === undefined || entry.through !== '') return;
    this.catchUp.history.newest().then(
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

  /**
   * The bus lost its subscriptions and has them back: each channel holds what arrives from now,
   * reads from the history what it missed after its last cursor, delivers that, then what it held.
   * Channels read at once are delivered together, merged in cursor order (a stream on several
   * channels gets them in order too); a channel whose read fails (its shard still failing over)
   * keeps holding and tries again on its own, without holding the others back. A second loss
   * during a catch-up runs another one after it.
   */
  private resubscribed(inPlace: Promise<void>): void {
    const n = ++this.announcements;
    this.inPlaceOf.set(n, inPlace);
    this.inPlaceOf.delete(n - 16); // an announcement that old has been caught up for long ago
    // From now on every channel holds what arrives: a message of the new connection delivered
    // before the catch-up would move its cursor past what the history must fill.
    const targets: [string, ChannelEntry][] = [];
    for (const [channel, entry] of this.channels) {
      if (!entry.subscribed || entry.members.size === 0) continue;
      entry.held ??= [];
      entry.catchUpFor = n;
      targets.push([channel, entry]);
    }
    void this.catchUpRun(n, inPlace, targets);
  }

  /**
   * One announcement's catch-up. Runs alongside earlier ones (on a Redis Cluster each shard's
   * subscriber announces on its own, and a shard failing over must not hold the others back). A
   * channel another announcement claimed since is left to that one; one whose read is already in
   * flight is read again once that read is done.
   */
  private async catchUpRun(
    n: number,
    inPlace: Promise<void>,
    targets: readonly [string, ChannelEntry][],
  ): Promise<void> {
    try {
      await inPlace;
    } catch {
      return; // lost again before its subscriptions were in place: the next announcement covers them
    }
    const mine = targets.filter(([, e]) => e.catchUpFor === n && !e.reading && e.members.size > 0);
    if (mine.length === 0) return;
    this.logger.info('bus subscriptions restored; catching up from the history', { channels: mine.length });
    // Every channel's read starts now; those done within FIRST_PASS_MS are delivered together,
    // merged in cursor order, and each other one on its own as soon as its read is done (a
    // shard failing over answers only after its promotion: it must not hold the others back).
    const reads = mine.map(([channel, entry]) => {
      const read = { channel, entry, plan: undefined as CatchUp | undefined, done: false };
      const promise = this.readFor(n, channel, entry).then((plan) => {
        if (plan === 'again') return;
        read.plan = plan;
        read.done = true;
      });
      return { read, promise };
    });
    await Promise.race([Promise.all(reads.map((r) => r.promise)), sleep(FIRST_PASS_MS)]);
    const first = reads.filter((r) => r.read.done);
    this.finishCatchUps(first.map((r) => r.read));
    await Promise.all(
      reads
        .filter((r) => !first.includes(r))
        .map((r) => r.promise.then(() => (r.read.done ? this.finishCatchUps([r.read]) : undefined))),
    );
  }

  /**
   * Reads what the channel missed for announcement `n`; 'again' when a newer announcement claimed
   * it meanwhile (its run skipped it while this read was in flight, so it is read again for that one).
   */
  private async readFor(
    n: number,
    channel: string,
    entry: ChannelEntry,
  ): Promise<CatchUp | undefined | 'again'> {
    entry.reading = true;
    let plan: CatchUp | undefined;
    try {
      plan = await this.catchUpLimit(() => this.readMissed(channel, entry.through));
    } finally {
      entry.reading = false;
    }
    if (entry.catchUpFor === n || entry.members.size === 0) return plan;
    const newer = entry.catchUpFor;
    void (this.inPlaceOf.get(newer) ?? Promise.resolve()).then(
      () => this.catchUpRun(newer, Promise.resolve(), [[channel, entry]]),
      () => undefined,
    );
    return 'again';
  }

  private readonly catchUpLimit = concurrency(CATCH_UP_CONCURRENCY);

  /**
   * Tells v2 streams of a gap where there is one, delivers what the channels missed merged in
   * cursor order, then what they held (in cursor order too), skipping what the history gave.
   */
  private finishCatchUps(
    list: readonly { channel: string; entry: ChannelEntry; plan: CatchUp | undefined }[],
  ): void {
    const missed: { channel: string; entry: ChannelEntry; e: HistoryEntry }[] = [];
    for (const { channel, entry, plan } of list) {
      // Unreadable: the gap runs to the first message that came after the link was back.
      const gapTo = plan === undefined ? (heldCursor(entry) ?? entry.through) : plan.gapTo;
      if (gapTo !== undefined) for (const conn of entry.members) conn.busGap(channel, gapTo);
      for (const e of plan?.entries ?? []) missed.push({ channel, entry, e });
      this.logger.debug('channel caught up', {
        channel,
        after: entry.through,
        replayed: plan?.entries.length ?? 0,
        gapTo,
        held: entry.held?.length ?? 0,
      });
      this.catchUp!.onCatchUp?.(channel, plan?.entries.length ?? 0, gapTo !== undefined);
    }
    missed.sort((x, y) => compare(x.e.cursor, y.e.cursor));
    for (const { channel, entry, e } of missed) {
      if (e.cursor > entry.through) {
        this.deliver(channel, entry, new MessageFrames(e.cursor, e.frame), e.receivedAt);
        const replayed = (entry.replayed ??= { cursors: new Set(), newest: e.cursor });
        replayed.cursors.add(e.cursor);
        replayed.newest = e.cursor;
      }
    }
    const held: { channel: string; entry: ChannelEntry; buf: Buffer; cursor: Cursor }[] = [];
    for (const { channel, entry } of list) {
      for (const buf of entry.held ?? [])
        held.push({ channel, entry, buf, cursor: decodeEnvelope(buf)?.id ?? '' });
      entry.held = undefined;
    }
    held.sort((x, y) => compare(x.cursor, y.cursor));
    for (const { channel, entry, buf } of held) {
      if (entry.members.size > 0) this.fanOut(channel, entry, buf, true);
    }
  }

  /**
   * What the channel missed after `after`, read until it works; undefined once the hub gives up
   * (too long, too much held, closed): its v2 streams are then told `gap`.
   */
  private async readMissed(channel: string, after: Cursor): Promise<CatchUp | undefined> {
    const opts = this.catchUp!;
    const giveUpAt = Date.now() + (opts.giveUpAfterMs ?? 10_000);
    const maxHeld = opts.maxHeld ?? 10_000;
    for (let attempt = 1; ; attempt++) {
      try {
        return await planCatchUp(opts.history, channel, after, Date.now());
      } catch (err) {
        const held = this.channels.get(channel)?.held?.length ?? 0;
        if (this.closed || Date.now() >= giveUpAt || held > maxHeld) {
          this.logger.warn('could not read what a channel missed; its v2 streams are told gap', {
            channel,
            error: errorText(err),
          });
          return undefined;
        }
        (attempt === 1 ? this.logger.warn : this.logger.debug)(
          'could not read what a channel missed; trying again',
          { channel, error: errorText(err), attempt },
        );
        await sleep(CATCH_UP_RETRY_MS);
      }
    }
  }
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** A limiter: the functions given to it run at most `limit` at a time, in the order given. */
function concurrency(limit: number): <R>(fn: () => Promise<R>) => Promise<R> {
  let running = 0;
  const waiting: (() => void)[] = [];
  return async (fn) => {
    if (running >= limit) await new Promise<void>((resolve) => waiting.push(resolve));
    running++;
    try {
      return await fn();
    } finally {
      running--;
      waiting.shift()?.();
    }
  };
}

/** The cursor of the first message a channel held during its catch-up, if any. */
function heldCursor(entry: ChannelEntry): Cursor | undefined {
  const first = entry.held?.[0];
  return first === undefined ? undefined : decodeEnvelope(first)?.id;
}
