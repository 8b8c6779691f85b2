import { randomBytes } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { EdgeControlPlane } from '@events-proxy/cluster';
import type { Binding } from '@events-proxy/protocol';
import type { Logger } from '@events-proxy/runtime';
import {
  SseConnection,
  errorEvent,
  type SseConnectionHost,
  type EndReason,
  type ErrorEvent,
} from './sse-connection.js';
import type { Hub } from './hub.js';
import type { EdgeMetrics } from './metrics.js';
import type { StreamSockets } from './stream-socket.js';
import type { TimerWheel } from './timer-wheel.js';
import { FrameWriter, RoundBatcher, type OutFrame } from './writer.js';
import type { StreamStart } from './sse-connection.js';

export interface ConnectionRegistryDeps {
  readonly hub: Hub;
  readonly controlPlane: EdgeControlPlane;
  readonly timerWheel: TimerWheel;
  readonly metrics: EdgeMetrics;
  readonly logger: Logger;
  readonly maxBufferedBytes: number;
  /** Takes streams' sockets from node:http once their headers are out (stream-socket.ts). */
  readonly sockets: StreamSockets;
  /** MAX_STREAM_SECONDS in ms: a v2 stream ends after 0.8 to 1.0 times this; 0: never. */
  readonly maxStreamMs?: number;
}

const ROUTINE_ENDS: ReadonlySet<EndReason> = new Set(['client', 'rebalance', 'max_lifetime']);

/** A v2 stream's lifetime is MAX_STREAM_SECONDS times a random factor from this to 1. */
const LIFETIME_JITTER_FROM = 0.8;

/**
 * The open streams of this edge and their lifecycle: what a connection takes when it opens
 * (binding holds, channel memberships) is given back exactly once when it ends, whoever ends it.
 */
export class ConnectionRegistry implements SseConnectionHost {
  /** Open streams, oldest first (a Set keeps insertion order). */
  private readonly open = new Set<SseConnection>();
  private v2Open = 0;
  private readonly idPrefix = randomBytes(3).toString('hex');
  private seq = 0;
  private readonly batcher = new RoundBatcher();
  /** The sockets of streams taken from node:http (stream-socket.ts). */
  readonly sockets: StreamSockets;
  private toDetach: SseConnection[] = [];
  readonly slowError: ErrorEvent;

  constructor(private readonly deps: ConnectionRegistryDeps) {
    this.sockets = deps.sockets;
    this.slowError = errorEvent(
      `Client too slow: more than ${deps.maxBufferedBytes} bytes buffered; closing`,
    );
  }

  get size(): number {
    return this.open.size;
  }

  /** Open streams by protocol version. */
  counts(): { v1: number; v2: number } {
    return { v1: this.open.size - this.v2Open, v2: this.v2Open };
  }

  /**
   * Ends up to `n` live v2 streams at least `minAgeMs` old, youngest first (long-settled streams
   * stay where they are), for their clients to resume through another edge. Returns how many.
   */
  shed(n: number, minAgeMs: number, reason: 'rebalance'): number {
    const list = this.list();
    const bornBefore = performance.now() - minAgeMs;
    let ended = 0;
    for (let i = list.length - 1; i >= 0 && ended < n; i--) {
      const conn = list[i]!;
      if (!conn.resumable || !conn.isLive || conn.openedAt > bornBefore) continue;
      conn.endForResume(reason);
      ended++;
    }
    return ended;
  }

  /** A copy of the open connections (closing them while iterating is then safe). */
  list(): SseConnection[] {
    return [...this.open];
  }

  /**
   * Registers a stream whose headers are sent: holds its bindings (their leases are renewed from
   * now on) and joins their channels. `subscribed` resolves once every channel is subscribed.
   * `resumable`: a v2 stream.
   */
  add(
    res: ServerResponse,
    bindings: readonly Binding[],
    channels: readonly string[],
    openedAt: number,
    resumable = false,
  ): { conn: SseConnection; subscribed: Promise<void> } {
    const { hub, logger, maxBufferedBytes } = this.deps;
    const id = `${this.idPrefix}-${(++this.seq).toString(36)}`;
    const writer = new FrameWriter(res, maxBufferedBytes, this.batcher, this.sockets);
    const conn = new SseConnection(
      id,
      bindings,
      channels,
      openedAt,
      writer,
      this,
      resumable,
      maxBufferedBytes,
    );
    this.open.add(conn);
    if (resumable) this.v2Open++;
    for (const b of bindings) this.deps.controlPlane.hold(b);
    if (res.socket !== null) this.sockets.watchClose(res.socket, conn);
    this.detachSoon(conn);
    logger.debug('connection opened', { conn: id, bindings: bindings.length });
    const subscribed = Promise.all(channels.map((ch) => hub.join(ch, conn))).then(() => undefined);
    return { conn, subscribed };
  }

  /**
   * Detaches the connection's socket from node:http on the next macrotask (not inside the parser's
   * callbacks, which is where `add` runs), for every connection added in this tick at once.
   */
  private detachSoon(conn: SseConnection): void {
    if (this.toDetach.push(conn) === 1) setImmediate(this.detachAll);
  }

  private readonly detachAll = (): void => {
    const conns = this.toDetach;
    this.toDetach = [];
    for (const conn of conns) if (!conn.isClosed) conn.detach();
  };

  /** v1: sends `ready` and starts pings and the idle timer. False if the connection is gone. */
  ready(conn: SseConnection, frame: OutFrame): boolean {
    return this.start(conn, { ready: frame, cursor: '', replay: [], readThrough: [] }) !== undefined;
  }

  /**
   * Sends `ready` (v2: then the gap, the replay and what arrived meanwhile) and starts pings and
   * the idle timer. Returns the messages written, or undefined if the connection is gone.
   */
  start(conn: SseConnection, start: StreamStart): number | undefined {
    const sent = conn.start(start, Date.now(), this.deps.timerWheel.pingInterval);
    if (sent === undefined) return undefined;
    const seconds = (performance.now() - conn.openedAt) / 1000;
    const { metrics, timerWheel, logger, maxStreamMs = 0 } = this.deps;
    if (conn.resumable && maxStreamMs > 0) {
      conn.endsAt =
        Date.now() + maxStreamMs * (LIFETIME_JITTER_FROM + (1 - LIFETIME_JITTER_FROM) * Math.random());
    }
    timerWheel.add(conn);
    metrics.connectionsTotal.inc();
    metrics.readySeconds.observe(seconds);
    metrics.bytesSent.inc(sent.bytes);
    if (sent.messages > 0) metrics.messagesSent.inc(sent.messages);
    // Per-connection lines at info cost a synchronous stdout write each, and in a reconnect storm
    // thousands a second; the metrics count them. Only the opening stays at info.
    logger.debug('connection ready', { conn: conn.id, ms: Math.round(seconds * 1000) });
    return sent.messages;
  }

  gapSent(): void {
    this.deps.metrics.gaps.inc();
  }

  ended(conn: SseConnection, reason: EndReason, error: ErrorEvent | undefined): void {
    const { hub, controlPlane, timerWheel, metrics, logger } = this.deps;
    if (this.open.delete(conn) && conn.resumable) this.v2Open--;
    timerWheel.remove(conn);
    for (const ch of conn.channels) hub.leave(ch, conn);
    for (const b of conn.bindings) controlPlane.release(b);
    conn.releaseLimits?.();
    if (reason === 'client') {
      metrics.disconnects.inc();
    } else {
      metrics.closes.inc({ reason });
      if (reason === 'idle') metrics.idleClosures.inc();
      if (reason !== 'slow' && error) metrics.bytesSent.inc(error.frame.length);
    }
    // A client leaving is routine (debug), and so is a stream moved or rotated (the rebalancer logs
    // each episode); any other close the server decided is worth a line at info.
    logger[ROUTINE_ENDS.has(reason) ? 'debug' : 'info']('connection closed', {
      conn: conn.id,
      reason,
      durationMs: Math.round(performance.now() - conn.openedAt),
      ...(error ? { error: error.message } : {}),
    });
  }
}
