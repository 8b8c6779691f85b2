import { errorFrame, type Binding } from '@events-proxy/protocol';
import type { CloseReason } from './metrics.js';
import type { FrameWriter, OutFrame } from './writer.js';

/** An `error` event, rendered once however many connections it goes to. */
export interface ErrorEvent {
  readonly message: string;
  readonly frame: Buffer;
}

export function errorEvent(message: string): ErrorEvent {
  return { message, frame: Buffer.from(errorFrame(message)) };
}

/** How a connection ended: a server-side close, or the client going away. */
export type EndReason = CloseReason | 'client';

/** Told once when a connection ends, whoever ended it (one shared object, not a closure each). */
export interface SseConnectionHost {
  ended(conn: SseConnection, reason: EndReason, error: ErrorEvent | undefined): void;
  /** The error event a slow client is closed with. */
  readonly slowError: ErrorEvent;
}

type State = 'binding' | 'live' | 'closed';

/** Envelope ids a multi-binding connection remembers, to deliver a message that matched several once. */
const RECENT_IDS = 32;

/**
 * One client's SSE stream: its bindings and channels, the fields the timer wheel reads, and the
 * delivery rule. Kept small: no timers, no closures per message.
 */
export class SseConnection {
  private state: State = 'binding';
  /** When the last `message` was written (ms since the epoch); the idle timer starts at `ready`. */
  lastMessageAt = 0;
  /** When the next `ping` is due (ms since the epoch). */
  nextPingAt = 0;
  private readonly recent: string[] | undefined;
  private recentNext = 0;

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
  ) {
    // A message reaches a connection once per matching channel: only several bindings can repeat it.
    this.recent = bindings.length > 1 ? new Array<string>(RECENT_IDS).fill('') : undefined;
  }

  get isLive(): boolean {
    return this.state === 'live';
  }

  get isClosed(): boolean {
    return this.state === 'closed';
  }

  /** Writes `ready`; from now on messages and pings flow. False if the client was too slow already. */
  markReady(frame: OutFrame, now: number, pingIntervalMs: number): boolean {
    if (this.state !== 'binding') return false;
    if (!this.writer.write(frame)) {
      this.close('slow', this.host.slowError);
      return false;
    }
    this.state = 'live';
    this.lastMessageAt = now;
    this.nextPingAt = now + pingIntervalMs;
    return true;
  }

  /**
   * Writes a `message` frame unless this connection already got the same envelope through another
   * of its bindings. Returns whether it was written.
   */
  deliver(envelopeId: string, frame: OutFrame, now: number): boolean {
    if (this.state !== 'live') return false; // messages before `ready` were published before it
    const recent = this.recent;
    if (recent !== undefined) {
      if (recent.includes(envelopeId)) return false;
      recent[this.recentNext] = envelopeId;
      this.recentNext = (this.recentNext + 1) % RECENT_IDS;
    }
    if (!this.writer.write(frame)) {
      this.close('slow', this.host.slowError);
      return false;
    }
    this.lastMessageAt = now;
    return true;
  }

  /** Writes a `ping` frame; false if the connection is not live or was closed as too slow. */
  ping(frame: OutFrame): boolean {
    if (this.state !== 'live') return false;
    if (!this.writer.write(frame)) {
      this.close('slow', this.host.slowError);
      return false;
    }
    return true;
  }

  /** Ends the stream with an `error` event (a client that stopped reading is dropped at once). */
  close(reason: CloseReason, error: ErrorEvent): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.writer.end(error.frame);
    if (reason === 'slow') this.writer.destroy();
    this.host.ended(this, reason, error);
  }

  /** The client went away (the response's `close` event). */
  clientGone(): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.host.ended(this, 'client', undefined);
  }
}
