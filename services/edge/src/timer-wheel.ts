import { pingData, pingFrame } from '@events-proxy/protocol';
import { errorEvent, type SseConnection, type ErrorEvent } from './sse-connection.js';
import { OutFrame } from './writer.js';

export interface TimerWheelOptions {
  readonly pingIntervalSeconds: number;
  /** 0 turns idle closure off. */
  readonly idleTimeoutSeconds: number;
  /** Told once per tick how many pings were written and their bytes. */
  readonly onPings: (count: number, bytes: number) => void;
}

/** The terminal error a stream whose token has expired is ended with (rare: rendered each time). */
export function expiredError(expiresAt: number): ErrorEvent {
  return errorEvent(
    `Unauthorized: the token expired at ${new Date(expiresAt).toISOString()}; reconnect with a new token`,
  );
}

export function idleMessage(idleTimeoutSeconds: number): string {
  return `No messages received for ${idleTimeoutSeconds}s. Aborting...`;
}

/**
 * One 1-second interval for every ready connection, instead of timers per connection: sends each
 * its `ping` every PING_INTERVAL_SECONDS (the v1 frame rendered once per tick, the same bytes to
 * all; a v2 ping carries its connection's cursor, rendered once per tick for each cursor)
 * closes those with no `message` for IDLE_TIMEOUT_SECONDS, ends those whose token has expired, and
 * those of v2 past their lifetime (MAX_STREAM_SECONDS), for their clients to resume.
 * Coarse by at most one second.
 */
export class TimerWheel {
  private readonly live = new Set<SseConnection>();
  private readonly pingIntervalMs: number;
  private readonly idleTimeoutMs: number;
  private readonly idleError: ErrorEvent;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly opts: TimerWheelOptions) {
    this.pingIntervalMs = opts.pingIntervalSeconds * 1000;
    this.idleTimeoutMs = opts.idleTimeoutSeconds * 1000;
    this.idleError = errorEvent(idleMessage(opts.idleTimeoutSeconds));
  }

  get pingInterval(): number {
    return this.pingIntervalMs;
  }

  add(conn: SseConnection): void {
    this.live.add(conn);
  }

  remove(conn: SseConnection): void {
    this.live.delete(conn);
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.tick(Date.now()), 1000);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  tick(now: number): void {
    let frame: OutFrame | undefined;
    let data = '';
    // v2 pings carry the connection's cursor; streams on the same channel share it, and its frame.
    const v2Frames = new Map<string, OutFrame>();
    let pinged = 0;
    let bytes = 0;
    // Closing a connection removes it from the set during the loop, which a Set allows.
    for (const conn of this.live) {
      if (conn.expiresAt !== 0 && now >= conn.expiresAt) {
        conn.close('expired', expiredError(conn.expiresAt));
        continue;
      }
      if (conn.endsAt !== 0 && now >= conn.endsAt) {
        conn.endForResume('max_lifetime');
        continue;
      }
      if (this.idleTimeoutMs > 0 && now - conn.lastMessageAt >= this.idleTimeoutMs) {
        conn.close('idle', this.idleError);
        continue;
      }
      if (now < conn.nextPingAt) continue;
      if (frame === undefined) {
        data = pingData(new Date(now));
        frame = new OutFrame(Buffer.from(pingFrame(new Date(now))));
      }
      const n = conn.ping(frame, data, v2Frames);
      if (n > 0) {
        pinged++;
        bytes += n;
      }
      conn.nextPingAt += this.pingIntervalMs;
      if (conn.nextPingAt <= now) conn.nextPingAt = now + this.pingIntervalMs;
    }
    if (pinged > 0) this.opts.onPings(pinged, bytes);
  }
}
