import {
  ORIGIN_CURSOR,
  errorFrame,
  gapFrame,
  laterOf,
  sseFrameWithId,
  type Binding,
  type Cursor,
} from '@events-proxy/protocol';
import type { MessageFrames } from './message-frames.js';
import type { CloseReason } from './metrics.js';
import { OutFrame, type FrameWriter } from './writer.js';

/** An `error` event, rendered once however many connections it goes to. */
export interface ErrorEvent {
  readonly message: string;
  /** The v1 frame, also a v2 stream's terminal error (`id: -` stops the browser's reconnect). */
  readonly frame: Buffer;
  /**
   * A retry can fix it (a slow client, a drained edge, the broker or bus briefly unreachable): on
   * v2 the event carries the connection's cursor, so the browser comes back and resumes.
   */
  readonly retryable: boolean;
}

export function errorEvent(message: string, retryable = false): ErrorEvent {
  return { message, frame: Buffer.from(errorFrame(message)), retryable };
}

/** How a connection ended: a server-side close, or the client going away. */
export type EndReason = CloseReason | 'client';

/** Told once when a connection ends, whoever ended it (one shared object, not a closure each). */
export interface SseConnectionHost {
  ended(conn: SseConnection, reason: EndReason, error: ErrorEvent | undefined): void;
  /** The error event a slow client is closed with. */
  readonly slowError: ErrorEvent;
  /** A `gap` was sent mid-stream (counted like a resume's). */
  gapSent?(conn: SseConnection): void;
}

type State = 'binding' | 'live' | 'closed';

/** Envelope ids a multi-binding connection remembers, to deliver a message that matched several once. */
const RECENT_IDS = 32;

/** What a v2 stream is sent between `ready` and live messages. */
export interface StreamStart {
  readonly ready: OutFrame;
  /** The cursor the stream starts after (in `ready`'s id). */
  readonly cursor: Cursor;
  /** A `gap` event, when continuity from the asked cursor cannot be proven. */
  readonly gap?: OutFrame;
  /** Replayed messages, in cursor order, with their v2 frames. */
  readonly replay: readonly { readonly cursor: Cursor; readonly frame: OutFrame }[];
  /** Per channel, the newest cursor its history held when the replay was read (see ReplayPlan). */
  readonly readThrough: readonly Cursor[];
}

/**
 * One client's SSE stream: its bindings and channels, the fields the timer wheel reads, and the
 * delivery rule. Kept small: no timers, no closures per message.
 *
 * v1 drops what arrives before `ready` (it was published before). v2 holds what arrives before its
 * start (it subscribed before reading the history), then sends, per channel, only what is after
 * the newest cursor that channel's history held when read, or that the channel delivered since: a
 * channel's messages arrive in cursor order, but two channels' may interleave (on a Redis Cluster
 * they come from different shards), so one cursor for the whole connection would drop some.
 *
 * A message that matched several bindings arrives once per channel. Usually its copies come
 * together and the last few ids sent catch the repeat; after a lost link they can come far apart
 * (one channel caught up from the history, an ingest's held-back channels published one after the
 * other). So a connection with several bindings also keeps each channel's newest cursor: a message
 * that another of its bindings matches, at or before that binding's cursor, went out through it
 * already (that channel's messages arrive in cursor order). v2 counts replayed ones as sent too.
 */
export class SseConnection {
  private state: State = 'binding';
  /** When the last `message` was written (ms since the epoch); the idle timer starts at `ready`. */
  lastMessageAt = 0;
  /** When the next `ping` is due (ms since the epoch). */
  nextPingAt = 0;
  /** AUTH_MODE=jwt: the token's `exp` (ms since the epoch), when the stream is ended; 0: never. */
  expiresAt = 0;
  /** v2, MAX_STREAM_SECONDS: when the stream ends for its client to resume (ms since the epoch); 0: never. */
  endsAt = 0;
  /** Gives back the per-client stream counts this connection holds (called once, when it ends). */
  releaseLimits: (() => void) | undefined = undefined;
  private readonly recent: string[] | undefined;
  private recentNext = 0;
  /** v2: the cursor of the last message sent, or where the stream started ('' until known). */
  private cursorNow: Cursor = '';
  /**
   * Per channel (same order as `channels`), the newest cursor sent or (v2) replayed through: every
   * v2 stream, and a v1 stream with several bindings.
   */
  private channelCursors: Cursor[] | undefined;
  /** v2: live messages that arrived before the stream started (with their channel), and their bytes. */
  private held: { readonly msg: MessageFrames; readonly channel: string }[] | undefined;
  private heldBytes = 0;

  constructor(
    /** Short id for logs. */
    readonly id: string,
    readonly bindings: readonly Binding[],
    /** The bus channel of each binding, in the same order. */
    readonly channels: readonly string[],
    /** When the request arrived (performance.now() ms), for time-to-ready and duration. */
    readonly openedAt: number,
    private readonly writer: FrameWriter,
    private readonly host: SseConnectionHost,
    /** A v2 stream: events carry cursors, and the client resumes after a server-side end. */
    readonly resumable = false,
    /** v2: most bytes held while the stream starts (MAX_BUFFERED_BYTES). */
    private readonly maxHeldBytes = 0,
  ) {
    // A message reaches a connection once per matching channel: only several bindings can repeat it.
    this.recent = bindings.length > 1 ? new Array<string>(RECENT_IDS).fill('') : undefined;
    if (resumable) this.held = [];
    else if (bindings.length > 1) this.channelCursors = new Array<Cursor>(bindings.length).fill('');
  }

  get isLive(): boolean {
    return this.state === 'live';
  }

  get isClosed(): boolean {
    return this.state === 'closed';
  }

  /** v2: the cursor of the last message sent, or where the stream started ('' before that). */
  get cursor(): Cursor {
    return this.cursorNow;
  }

  /** v2: where the stream stands before it starts (its `error` events carry it). */
  set startingCursor(cursor: Cursor) {
    if (this.state === 'binding') this.cursorNow = cursor;
  }

  /** Lets node:http go of this stream's socket (see stream-socket.ts). */
  detach(): boolean {
    return this.writer.detach();
  }

  /** Writes raw bytes that belong before any event (the v2 `retry:` field). */
  preamble(frame: OutFrame): void {
    this.writer.write(frame);
  }

  /**
   * Writes `ready`, then (v2) the gap, the replay and the messages held meanwhile that are newer;
   * from now on messages and pings flow. Returns the messages and bytes written, or undefined if
   * the client was too slow.
   */
  start(
    s: StreamStart,
    now: number,
    pingIntervalMs: number,
  ): { messages: number; bytes: number } | undefined {
    if (this.state !== 'binding') return undefined;
    const frames: OutFrame[] = [s.ready];
    if (s.gap !== undefined) frames.push(s.gap);
    let messages = 0;
    if (this.resumable) {
      let cursor = s.cursor;
      for (const r of s.replay) {
        frames.push(r.frame);
        cursor = r.cursor;
        // Sent, like a live message: the history reads (and records) channel by channel, so a
        // message the replay found under one channel may still come live on another whose read
        // was just before it was retained there. The newest replayed are the ones that can.
        this.remember(r.cursor);
      }
      this.channelCursors = this.channels.map((_, i) => laterOf(s.cursor, s.readThrough[i] ?? ORIGIN_CURSOR));
      for (const { msg, channel } of this.held ?? []) {
        if (!this.isNew(msg, channel)) continue;
        frames.push(msg.v2);
        cursor = msg.cursor;
      }
      this.held = undefined;
      this.cursorNow = cursor;
      messages = frames.length - (s.gap !== undefined ? 2 : 1);
    }
    let bytes = 0;
    for (const frame of frames) {
      if (!this.writer.write(frame)) {
        this.close('slow', this.host.slowError);
        return undefined;
      }
      bytes += frame.bytes.length;
    }
    this.state = 'live';
    this.lastMessageAt = now;
    this.nextPingAt = now + pingIntervalMs;
    return { messages, bytes };
  }

  /**
   * Writes a `message` frame unless this connection already got it (v1: through another of its
   * bindings; v2: a cursor not after its own). Returns the bytes written (0: none).
   */
  deliver(msg: MessageFrames, channel: string, now: number): number {
    if (this.resumable) return this.deliverResumable(msg, channel, now);
    if (this.state !== 'live') return 0; // messages before `ready` were published before it
    const cursors = this.channelCursors;
    if (cursors !== undefined) {
      const i = this.channels.indexOf(channel);
      if (i < 0) return 0;
      if (msg.cursor > cursors[i]!) cursors[i] = msg.cursor;
      if (this.sentThroughAnother(msg, i)) return 0;
    }
    return this.write(msg.v1, now);
  }

  private deliverResumable(msg: MessageFrames, channel: string, now: number): number {
    if (this.state === 'live') {
      if (!this.isNew(msg, channel)) return 0;
      const written = this.write(msg.v2, now);
      if (written > 0) this.cursorNow = msg.cursor;
      return written;
    }
    if (this.held !== undefined) {
      this.held.push({ msg, channel });
      this.heldBytes += msg.v1.bytes.length;
      // A stream that cannot start before this much arrives is a slow one: it comes back and resumes.
      if (this.heldBytes > this.maxHeldBytes) this.close('slow', this.host.slowError);
    }
    return 0;
  }

  /**
   * v2: messages of one of its channels may have been lost (the edge's bus subscription was lost
   * and the history cannot prove what it missed): tells the client with a `gap` event from its
   * cursor up to `to`, which is where it resumes from if the stream ends now. v1 has no such event.
   */
  busGap(channel: string, to: Cursor): void {
    if (!this.resumable || this.state !== 'live') return;
    const i = this.channels.indexOf(channel);
    // `from`: the last message this channel sent it. Its cursor is not raised: messages of the
    // channel before `to` that did arrive are still delivered after the gap.
    const from = i < 0 ? undefined : this.channelCursors![i]!;
    if (from === undefined || to <= from) return;
    this.cursorNow = laterOf(this.cursorNow, to);
    if (!this.writer.write(new OutFrame(Buffer.from(gapFrame(from, to))))) {
      this.close('slow', this.host.slowError);
      return;
    }
    this.host.gapSent?.(this);
  }

  /** v2: whether the message is after what its channel sent or replayed, and not sent by another; notes it. */
  private isNew(msg: MessageFrames, channel: string): boolean {
    const cursors = this.channelCursors!;
    const i = this.channels.length === 1 ? 0 : this.channels.indexOf(channel);
    if (i < 0 || msg.cursor <= cursors[i]!) return false;
    cursors[i] = msg.cursor;
    return !this.sentThroughAnother(msg, i);
  }

  /**
   * Several bindings: whether the message, arriving through channel `i`, went out through another
   * of them already (see the class comment); notes it as sent.
   */
  private sentThroughAnother(msg: MessageFrames, i: number): boolean {
    if (this.recent === undefined) return false;
    if (!this.remember(msg.cursor)) return true;
    const cursors = this.channelCursors!;
    for (let j = 0; j < cursors.length; j++) {
      if (j !== i && msg.cursor <= cursors[j]! && msg.matches(this.bindings[j]!)) return true;
    }
    return false;
  }

  /** Whether the id is new to this connection (always, with one binding); remembers it. */
  private remember(id: string): boolean {
    const recent = this.recent;
    if (recent === undefined) return true;
    if (recent.includes(id)) return false;
    recent[this.recentNext] = id;
    this.recentNext = (this.recentNext + 1) % RECENT_IDS;
    return true;
  }

  private write(frame: OutFrame, now: number): number {
    if (!this.writer.write(frame)) {
      this.close('slow', this.host.slowError);
      return 0;
    }
    this.lastMessageAt = now;
    return frame.bytes.length;
  }

  /**
   * Writes a `ping`: v1 the shared frame, v2 one with this connection's cursor (taken from, or
   * added to, `v2Frames`: the tick's frames by cursor). Returns the bytes written: 0 if the
   * connection is not live or was closed as too slow.
   */
  ping(v1Frame: OutFrame, dataJson: string, v2Frames: Map<Cursor, OutFrame>): number {
    if (this.state !== 'live') return 0;
    let frame = v1Frame;
    if (this.resumable) {
      const cursor = this.cursorNow;
      let shared = v2Frames.get(cursor);
      if (shared === undefined) {
        shared = new OutFrame(Buffer.from(sseFrameWithId('ping', dataJson, cursor)));
        v2Frames.set(cursor, shared);
      }
      frame = shared;
    }
    if (!this.writer.write(frame)) {
      this.close('slow', this.host.slowError);
      return 0;
    }
    return frame.bytes.length;
  }

  /**
   * Ends the stream with an `error` event (a client that stopped reading is dropped at once). On
   * v2, a retryable error carries the cursor, so the browser reconnects and resumes from it.
   */
  close(reason: CloseReason, error: ErrorEvent): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.held = undefined;
    const frame = this.resumable && error.retryable ? this.retryableErrorFrame(error) : error.frame;
    this.writer.end(frame);
    if (reason === 'slow') this.writer.destroy();
    this.host.ended(this, reason, { ...error, frame });
  }

  /** v2 only: ends the stream without an event; the browser comes back and resumes (a drain). */
  endForResume(reason: CloseReason = 'shutdown'): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.held = undefined;
    this.writer.endAndCloseSocket();
    this.host.ended(this, reason, undefined);
  }

  private retryableErrorFrame(error: ErrorEvent): Buffer {
    const data = JSON.stringify(error.message);
    // Before its starting position is known there is no cursor to give: no id, so the browser
    // keeps none and comes back as a fresh connection.
    return Buffer.from(
      this.cursorNow === ''
        ? `event: error\ndata: ${data}\n\n`
        : sseFrameWithId('error', data, this.cursorNow),
    );
  }

  /** The client went away (the response's `close` event). */
  clientGone(): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.held = undefined;
    this.host.ended(this, 'client', undefined);
  }
}
