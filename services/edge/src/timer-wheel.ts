import { pingFrame } from '@events-proxy/protocol';
import { errorEvent, type SseConnection, type ErrorEvent } from './sse-connection.js';
import { OutFrame } from './writer.js';

export interface TimerWheelOptions {
  readonly pingIntervalSeconds: number;
  /** 0 turns idle closure off. */
  readonly idleTimeoutSeconds: number;
  /** Told once per tick how many pings were written and the size of one. */
  readonly onPings: (count: number, frameBytes: number) => void;
}

export function idleMessage(idleTimeoutSeconds: number): string {
  return `No messages received for ${idleTimeoutSeconds}s. Aborting...`;
}

/**
 * One 1-second interval for every ready connection, instead of timers per connection: sends each
 * its `ping` every PING_INTERVAL_SECONDS (the frame rendered once per tick, the same bytes to all)
 * and closes those with no `message` for IDLE_TIMEOUT_SECONDS. Coarse by at most one second.
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
    let pinged = 0;
    // Closing a connection removes it from the set during the loop, which a Set allows.
    for (const conn of this.live) {
      if (this.idleTimeoutMs > 0 && now - conn.lastMessageAt >= this.idleTimeoutMs) {
        conn.close('idle', this.idleError);
        continue;
      }
      if (now < conn.nextPingAt) continue;
      frame ??= new OutFrame(Buffer.from(pingFrame(new Date(now))));
      if (conn.ping(frame)) pinged++;
      conn.nextPingAt += this.pingIntervalMs;
      if (conn.nextPingAt <= now) conn.nextPingAt = now + this.pingIntervalMs;
    }
    if (frame !== undefined && pinged > 0) this.opts.onPings(pinged, frame.bytes.length);
  }
}
