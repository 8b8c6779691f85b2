import { setTimeout as sleep } from 'node:timers/promises';
import { planReplay, type History, type HistoryEntry } from '@events-proxy/cluster';
import { decodeEnvelope, type Cursor } from '@events-proxy/protocol';
import { errorText, type Logger } from '@events-proxy/runtime';
import { MessageFrames } from './message-frames.js';
import type { SseConnection } from './sse-connection.js';

/** What a channel missed while its bus subscription was lost, as far as the history can tell. */
export interface CatchUp {
  /** The retained messages after the channel's last one, in cursor order. */
  readonly entries: readonly HistoryEntry[];
  /**
   * Set when the history cannot prove that nothing was missed (history off, trimmed past it, or the
   * channel's last cursor unknown): v2 streams are told `gap` up to this cursor.
   */
  readonly gapTo: Cursor | undefined;
}

/**
 * What a channel's clients missed after `after` (the newest cursor this edge received on it before
 * the link was lost; '' when it never knew one). Reads the history once for the whole edge.
 */
export async function planCatchUp(
  history: History,
  channel: string,
  after: Cursor,
  nowMs: number,
): Promise<CatchUp> {
  const { retentionMs } = history.retention;
  if (after === '' || retentionMs === 0) return { entries: [], gapTo: await history.newest() };
  const [replay] = await history.read([channel], after);
  const plan = planReplay(replay === undefined ? [] : [replay], { after, nowMs, retentionMs });
  return { entries: plan.entries, gapTo: plan.gapTo };
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

/** What a hub's channel keeps for catching up after its bus subscription was lost. */
export interface CatchUpChannel {
  readonly members: ReadonlySet<SseConnection>;
  readonly subscribed: boolean;
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

/** What the catch-ups need of the hub. */
export interface CatchUpHost<E extends CatchUpChannel> {
  channels(): Iterable<[string, E]>;
  entry(channel: string): E | undefined;
  /** Delivers a message to the channel's members (moving its cursor on). */
  deliver(channel: string, entry: E, frames: MessageFrames, receivedAt: number): void;
  /** Delivers a bus message held during the catch-up, unless the history gave it already. */
  fanOut(channel: string, entry: E, buf: Buffer): void;
  closed(): boolean;
}

/**
 * Fills what lost bus subscriptions missed, from the history: told by the bus when its subscriber
 * reconnected, every channel holds what arrives, reads what it missed after its last cursor,
 * delivers that, then what it held (v2 streams get `gap` where the history cannot prove it).
 */
export class ChannelCatchUps<E extends CatchUpChannel> {
  /** Announcements of a reconnected subscriber so far, and each one's proof of subscriptions in place. */
  private announcements = 0;
  private readonly inPlaceOf = new Map<number, Promise<void>>();
  private readonly catchUpLimit = concurrency(CATCH_UP_CONCURRENCY);

  constructor(
    private readonly opts: HubCatchUpOptions,
    private readonly logger: Logger,
    private readonly host: CatchUpHost<E>,
  ) {}

  get history(): History {
    return this.opts.history;
  }

  /**
   * The bus lost its subscriptions and has them back: each channel holds what arrives from now,
   * reads from the history what it missed after its last cursor, delivers that, then what it held.
   * Channels read at once are delivered together, merged in cursor order (a stream on several
   * channels gets them in order too); a channel whose read fails (its shard still failing over)
   * keeps holding and tries again on its own, without holding the others back. A second loss
   * during a catch-up runs another one after it.
   */
  resubscribed(inPlace: Promise<void>): void {
    const n = ++this.announcements;
    this.inPlaceOf.set(n, inPlace);
    this.inPlaceOf.delete(n - 16); // an announcement that old has been caught up for long ago
    // From now on every channel holds what arrives: a message of the new connection delivered
    // before the catch-up would move its cursor past what the history must fill.
    const targets: [string, E][] = [];
    for (const [channel, entry] of this.host.channels()) {
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
    targets: readonly [string, E][],
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
  private async readFor(n: number, channel: string, entry: E): Promise<CatchUp | undefined | 'again'> {
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

  /**
   * Tells v2 streams of a gap where there is one, delivers what the channels missed merged in
   * cursor order, then what they held (in cursor order too), skipping what the history gave.
   */
  private finishCatchUps(list: readonly { channel: string; entry: E; plan: CatchUp | undefined }[]): void {
    const missed: { channel: string; entry: E; e: HistoryEntry }[] = [];
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
      this.opts.onCatchUp?.(channel, plan?.entries.length ?? 0, gapTo !== undefined);
    }
    missed.sort((x, y) => compare(x.e.cursor, y.e.cursor));
    for (const { channel, entry, e } of missed) {
      if (e.cursor > entry.through) {
        this.host.deliver(channel, entry, new MessageFrames(e.cursor, e.frame), e.receivedAt);
        const replayed = (entry.replayed ??= { cursors: new Set(), newest: e.cursor });
        replayed.cursors.add(e.cursor);
        replayed.newest = e.cursor;
      }
    }
    const held: { channel: string; entry: E; buf: Buffer; cursor: Cursor }[] = [];
    for (const { channel, entry } of list) {
      for (const buf of entry.held ?? [])
        held.push({ channel, entry, buf, cursor: decodeEnvelope(buf)?.id ?? '' });
      entry.held = undefined;
    }
    held.sort((x, y) => compare(x.cursor, y.cursor));
    for (const { channel, entry, buf } of held) {
      if (entry.members.size > 0) this.host.fanOut(channel, entry, buf);
    }
  }

  /**
   * What the channel missed after `after`, read until it works; undefined once the hub gives up
   * (too long, too much held, closed): its v2 streams are then told `gap`.
   */
  private async readMissed(channel: string, after: Cursor): Promise<CatchUp | undefined> {
    const opts = this.opts;
    const giveUpAt = Date.now() + (opts.giveUpAfterMs ?? 10_000);
    const maxHeld = opts.maxHeld ?? 10_000;
    for (let attempt = 1; ; attempt++) {
      try {
        return await planCatchUp(opts.history, channel, after, Date.now());
      } catch (err) {
        const held = this.host.entry(channel)?.held?.length ?? 0;
        if (this.host.closed() || Date.now() >= giveUpAt || held > maxHeld) {
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
function heldCursor(entry: CatchUpChannel): Cursor | undefined {
  const first = entry.held?.[0];
  return first === undefined ? undefined : decodeEnvelope(first)?.id;
}
