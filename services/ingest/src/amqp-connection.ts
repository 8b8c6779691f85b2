import { EventEmitter } from 'node:events';
import amqp, { type ChannelModel } from 'amqplib';
import { errorText, type Logger } from '@events-proxy/runtime';
import { closeQuietly } from './amqp-close.js';
import { amqpEndpoint, redactAmqpUrl, redactAmqpUrls, withDefaultHeartbeat } from './amqp-url.js';
import { LifeWatch } from './broker-probe.js';

export interface AmqpConnectionOptions {
  /**
   * The broker's URLs (the nodes of one RabbitMQ cluster, or just one), tried in turn on every
   * (re)connect. They may hold credentials: only their redacted forms are ever logged.
   */
  readonly urls: readonly string[];
  readonly logger: Logger;
  /**
   * Runs on every new connection before it counts as connected (declare, re-bind, consume).
   * If it throws, the connection is closed and the next URL is tried.
   */
  readonly setup: (model: ChannelModel) => Promise<void>;
  /** Shown in the RabbitMQ management UI. */
  readonly connectionName?: string;
  /** The first wait after every URL failed; it doubles on each failed round. */
  readonly initialDelayMs?: number;
  /** The cap on that wait. */
  readonly maxDelayMs?: number;
  /** How often, while waiting, the brokers' ports are probed for a sign of life. */
  readonly probeIntervalMs?: number;
}

export const DEFAULT_RECONNECT_INITIAL_MS = 500;
export const DEFAULT_RECONNECT_MAX_MS = 5000;
/** A probe round is a TCP connect per unreachable URL: cheap enough to run several times a second. */
export const DEFAULT_PROBE_INTERVAL_MS = 250;
/**
 * AMQP heartbeat unless a URL sets its own (`?heartbeat=<seconds>`); see withDefaultHeartbeat.
 * amqplib gives up on a link after two silent intervals, so a broker link that goes silent (a
 * partition, a lost node) is noticed within 8-12 s, and the broker notices a lost ingest as fast.
 */
export const DEFAULT_HEARTBEAT_SECONDS = 4;
/** How long one URL's TCP and AMQP handshake may take before the next URL is tried. */
const CONNECT_TIMEOUT_MS = 10_000;
/**
 * A connection lost sooner than this after it was set up is retried on the backoff rather than at
 * once, so a broker that closes every connection right away is not hammered.
 */
const STABLE_AFTER_MS = 5000;

/** Exponential backoff, doubling from `initialMs` up to `maxMs`, with ±20% jitter. */
export function reconnectDelayMs(
  attempt: number,
  initialMs = DEFAULT_RECONNECT_INITIAL_MS,
  maxMs = DEFAULT_RECONNECT_MAX_MS,
  random: () => number = Math.random,
): number {
  const base = Math.min(maxMs, initialMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(Math.min(maxMs, base * (0.8 + 0.4 * random())));
}

interface ConnectionEvents {
  connected: [model: ChannelModel];
}

/**
 * One AMQP connection that keeps itself up: it connects in the background (start() never waits for
 * RabbitMQ), runs `setup` on each new connection, and reconnects after any loss, logging what it
 * waits for. On a loss it tries the other URLs first, starting after the one just lost. When every
 * URL failed it waits with capped backoff, but probes the brokers' ports meanwhile and tries again
 * at once when one that refused connections starts accepting them: a restarted broker is used as
 * soon as it listens, not when the backoff happens to end. Emits `connected` once setup succeeded.
 */
export class ReconnectingAmqpConnection extends EventEmitter<ConnectionEvents> {
  private readonly where: string[];
  private current: ChannelModel | undefined;
  /** Index of the URL the current (or last) connection went to. */
  private currentIndex = -1;
  private connectedAt = 0;
  /** Connections that closed before their setup finished. */
  private readonly lost = new WeakSet<ChannelModel>();
  private attempt = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private watch: LifeWatch | undefined;
  private connecting: Promise<void> | undefined;
  private started = false;
  private stopped = false;

  constructor(private readonly opts: AmqpConnectionOptions) {
    super();
    if (opts.urls.length === 0) throw new Error('ReconnectingAmqpConnection needs at least one URL');
    this.where = opts.urls.map(redactAmqpUrl);
  }

  /** True while connected and set up. */
  isConnected(): boolean {
    return this.current !== undefined;
  }

  /** The redacted URL of the live connection, if any. */
  get connectedTo(): string | undefined {
    return this.current ? this.where[this.currentIndex] : undefined;
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    this.connect(0);
  }

  /**
   * Drops the connection (e.g. its consumer was cancelled) so it is re-established. With `model`,
   * only if that is still the current connection (a late report about an old one is ignored).
   */
  reconnect(reason: string, model: ChannelModel | undefined = this.current): void {
    if (!model || model !== this.current) return;
    this.opts.logger.warn('reconnecting to RabbitMQ', { amqp: this.where[this.currentIndex], reason });
    void closeQuietly(model);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.cancelWait();
    await this.connecting;
    const model = this.current;
    this.current = undefined;
    if (model) await closeQuietly(model);
  }

  /** One round over every URL, beginning with `first`; never rejects. */
  private connect(first: number): void {
    this.cancelWait();
    const round = this.connectRound(first);
    this.connecting = round;
    void round.finally(() => {
      if (this.connecting === round) this.connecting = undefined;
    });
  }

  private async connectRound(first: number): Promise<void> {
    const { urls } = this.opts;
    const failures: string[] = [];
    for (let i = 0; i < urls.length; i++) {
      const index = (first + i) % urls.length;
      if (this.stopped) return;
      const failure = await this.connectTo(index);
      if (failure === undefined) return;
      failures.push(urls.length > 1 ? `${this.where[index]}: ${failure}` : failure);
    }
    if (!this.stopped) this.waitAndRetry(failures.join('; '), first);
  }

  /** Connects to one URL and runs setup; returns why it failed, or undefined once connected. */
  private async connectTo(index: number): Promise<string | undefined> {
    let model: ChannelModel | undefined;
    try {
      model = await amqp.connect(withDefaultHeartbeat(this.opts.urls[index]!, DEFAULT_HEARTBEAT_SECONDS), {
        clientProperties: { connection_name: this.opts.connectionName ?? 'events-proxy ingest' },
        timeout: CONNECT_TIMEOUT_MS,
      });
      this.listen(model);
      if (this.stopped) throw new Error('stopping');
      await this.opts.setup(model);
      if (this.stopped) throw new Error('stopping');
      if (this.lost.has(model)) throw new Error('the connection closed during setup');
    } catch (err) {
      if (model) await closeQuietly(model);
      return errorText(err);
    }
    this.current = model;
    this.currentIndex = index;
    this.connectedAt = performance.now();
    this.opts.logger.info('connected to RabbitMQ', { amqp: this.where[index] });
    this.emit('connected', model);
    return undefined;
  }

  private listen(model: ChannelModel): void {
    const { logger } = this.opts;
    const where = () =>
      this.current === model ? this.where[this.currentIndex] : redactAmqpUrls(this.opts.urls);
    // Without an 'error' listener, a connection error would crash the process.
    model.on('error', (err: Error) =>
      logger.warn('RabbitMQ connection error', { amqp: where(), error: errorText(err) }),
    );
    model.on('blocked', (reason: string) =>
      logger.warn('RabbitMQ blocked this connection', { amqp: where(), reason }),
    );
    model.on('unblocked', () => logger.info('RabbitMQ unblocked this connection', { amqp: where() }));
    model.on('close', (err?: Error) => {
      // A connection that closes during setup is handled by connectTo, not here.
      if (this.current !== model) {
        this.lost.add(model);
        return;
      }
      this.current = undefined;
      logger.warn('lost the connection to RabbitMQ', {
        amqp: this.where[this.currentIndex],
        error: err ? errorText(err) : 'closed',
      });
      if (this.stopped) return;
      // The other nodes first: the one just lost is likely going down.
      const next = (this.currentIndex + 1) % this.opts.urls.length;
      if (performance.now() - this.connectedAt < STABLE_AFTER_MS) {
        this.waitAndRetry('the connection closed soon after it was set up', next);
      } else {
        this.attempt = 0;
        this.connect(next);
      }
    });
  }

  private waitAndRetry(failure: string, first: number): void {
    const delay = reconnectDelayMs(++this.attempt, this.opts.initialDelayMs, this.opts.maxDelayMs);
    const where = this.opts.urls.length > 1 ? redactAmqpUrls(this.opts.urls) : this.where[0];
    this.opts.logger.warn(
      `waiting for RabbitMQ at ${where}: ${failure}; retrying in ${(delay / 1000).toFixed(1)}s`,
      { amqp: where, attempt: this.attempt, delayMs: delay },
    );
    this.retryTimer = setTimeout(() => this.connect(first), delay);
    this.retryTimer.unref();
    this.watch = new LifeWatch({
      endpoints: this.opts.urls.map(amqpEndpoint),
      intervalMs: this.opts.probeIntervalMs ?? DEFAULT_PROBE_INTERVAL_MS,
      onLife: (index) => {
        this.opts.logger.info('RabbitMQ accepts connections again; reconnecting now', {
          amqp: this.where[index],
        });
        // A broker that has just begun to listen may still refuse the first try: start the
        // backoff over, so the next tries come quickly too.
        this.attempt = 0;
        this.connect(index);
      },
    });
    this.watch.start();
  }

  private cancelWait(): void {
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.watch?.stop();
    this.watch = undefined;
  }
}
