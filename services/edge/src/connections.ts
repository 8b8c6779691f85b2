import { randomBytes } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { EdgeBindings } from '@events-proxy/cluster';
import type { Binding } from '@events-proxy/protocol';
import type { Logger } from '@events-proxy/runtime';
import {
  Connection,
  errorEvent,
  type ConnectionHost,
  type EndReason,
  type ErrorEvent,
} from './connection.js';
import type { Hub } from './hub.js';
import type { EdgeMetrics } from './metrics.js';
import type { Ticker } from './tickers.js';
import { FrameWriter, TickBatcher, type OutFrame } from './writer.js';

export interface ConnectionsDeps {
  readonly hub: Hub;
  readonly bindings: EdgeBindings;
  readonly ticker: Ticker;
  readonly metrics: EdgeMetrics;
  readonly logger: Logger;
  readonly maxBufferedBytes: number;
}

/**
 * The open streams of this edge and their lifecycle: what a connection takes when it opens
 * (binding holds, channel memberships) is given back exactly once when it ends, whoever ends it.
 */
export class Connections implements ConnectionHost {
  private readonly open = new Set<Connection>();
  private readonly idPrefix = randomBytes(3).toString('hex');
  private seq = 0;
  private readonly batcher = new TickBatcher();
  readonly slowError: ErrorEvent;

  constructor(private readonly deps: ConnectionsDeps) {
    this.slowError = errorEvent(
      `Client too slow: more than ${deps.maxBufferedBytes} bytes buffered; closing`,
    );
  }

  get size(): number {
    return this.open.size;
  }

  /** A copy of the open connections (closing them while iterating is then safe). */
  list(): Connection[] {
    return [...this.open];
  }

  /**
   * Registers a stream whose headers are sent: holds its bindings (their leases are renewed from
   * now on) and joins their channels. `subscribed` resolves once every channel is subscribed.
   */
  add(
    res: ServerResponse,
    bindings: readonly Binding[],
    channels: readonly string[],
    openedAt: number,
  ): { conn: Connection; subscribed: Promise<void> } {
    const { hub, logger, maxBufferedBytes } = this.deps;
    const id = `${this.idPrefix}-${(++this.seq).toString(36)}`;
    const writer = new FrameWriter(res, maxBufferedBytes, this.batcher);
    const conn = new Connection(id, bindings, channels, openedAt, writer, this);
    this.open.add(conn);
    for (const b of bindings) this.deps.bindings.hold(b);
    res.on('close', () => conn.clientGone());
    logger.debug('connection opened', { conn: id, bindings: bindings.length });
    const subscribed = Promise.all(channels.map((ch) => hub.join(ch, conn))).then(() => undefined);
    return { conn, subscribed };
  }

  /** Sends `ready` and starts pings and the idle timer. False if the connection is gone. */
  ready(conn: Connection, frame: OutFrame): boolean {
    if (!conn.markReady(frame, Date.now(), this.deps.ticker.pingInterval)) return false;
    const seconds = (performance.now() - conn.openedAt) / 1000;
    const { metrics, ticker, logger } = this.deps;
    ticker.add(conn);
    metrics.connectionsTotal.inc();
    metrics.readySeconds.observe(seconds);
    metrics.bytesSent.inc(frame.bytes.length);
    // Per-connection lines at info cost a synchronous stdout write each, and in a reconnect storm
    // thousands a second; the metrics count them. Only the opening stays at info.
    logger.debug('connection ready', { conn: conn.id, ms: Math.round(seconds * 1000) });
    return true;
  }

  ended(conn: Connection, reason: EndReason, error: ErrorEvent | undefined): void {
    const { hub, bindings, ticker, metrics, logger } = this.deps;
    this.open.delete(conn);
    ticker.remove(conn);
    for (const ch of conn.channels) hub.leave(ch, conn);
    for (const b of conn.bindings) bindings.release(b);
    if (reason === 'client') {
      metrics.disconnects.inc();
    } else {
      metrics.closes.inc({ reason });
      if (reason === 'idle') metrics.idleClosures.inc();
      if (reason !== 'slow' && error) metrics.bytesSent.inc(error.frame.length);
    }
    // A client leaving is routine (debug); a close the server decided is worth a line at info.
    logger[reason === 'client' ? 'debug' : 'info']('connection closed', {
      conn: conn.id,
      reason,
      durationMs: Math.round(performance.now() - conn.openedAt),
      ...(error ? { error: error.message } : {}),
    });
  }
}
