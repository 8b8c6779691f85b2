import { EventEmitter } from 'node:events';
import amqp, { type ChannelModel } from 'amqplib';
import type { Logger } from '@events-proxy/runtime';
import { redactAmqpUrl } from './amqp-url.js';

export interface AmqpConnectionOptions {
  /** May hold credentials: only its redacted form is ever logged. */
  readonly url: string;
  readonly logger: Logger;
  /**
   * Runs on every new connection before it counts as connected (declare, re-bind, consume).
   * If it throws, the connection is closed and retried with the usual backoff.
   */
  readonly setup: (model: ChannelModel) => Promise<void>;
  /** Shown in the RabbitMQ management UI. */
  readonly connectionName?: string;
  readonly initialDelayMs?: number;
  readonly maxDelayMs?: number;
}

/** Exponential backoff, doubling from `initialMs` up to `maxMs`, with ±20% jitter. */
export function reconnectDelayMs(
  attempt: number,
  initialMs = 500,
  maxMs = 30_000,
  random: () => number = Math.random,
): number {
  const base = Math.min(maxMs, initialMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(Math.min(maxMs, base * (0.8 + 0.4 * random())));
}

/** An error's text; Node reports a refused dual-stack connect as an AggregateError with no message. */
export function errorText(err: unknown): string {
  if (err instanceof AggregateError && err.message === '') {
    return err.errors.map((e: unknown) => errorText(e)).join('; ');
  }
  return err instanceof Error ? err.message : String(err);
}

interface ConnectionEvents {
  connected: [model: ChannelModel];
  disconnected: [error: Error | undefined];
}

/**
 * One AMQP connection that keeps itself up: it connects in the background (start() never waits for
 * RabbitMQ), runs `setup` on each new connection, and reconnects with backoff after any loss,
 * logging what it waits for. Emits `connected` once setup succeeded and `disconnected` on loss.
 */
export class ReconnectingAmqpConnection extends EventEmitter<ConnectionEvents> {
  private readonly where: string;
  private current: ChannelModel | undefined;
  /** Connections that closed before their setup finished. */
  private readonly lost = new WeakSet<ChannelModel>();
  private attempt = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private connecting: Promise<void> | undefined;
  private started = false;
  private stopped = false;

  constructor(private readonly opts: AmqpConnectionOptions) {
    super();
    this.where = redactAmqpUrl(opts.url);
  }

  /** True while connected and set up. */
  isConnected(): boolean {
    return this.current !== undefined;
  }

  /** The live connection, if any. */
  get model(): ChannelModel | undefined {
    return this.current;
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    this.connect();
  }

  /** Drops the current connection (e.g. its consumer was cancelled) so it is re-established. */
  reconnect(reason: string): void {
    const model = this.current;
    if (!model) return;
    this.opts.logger.warn('reconnecting to RabbitMQ', { amqp: this.where, reason });
    model.close().catch(() => undefined);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    await this.connecting;
    const model = this.current;
    this.current = undefined;
    await model?.close().catch(() => undefined);
  }

  private connect(): void {
    this.connecting = this.connectOnce().finally(() => (this.connecting = undefined));
  }

  private async connectOnce(): Promise<void> {
    const { logger } = this.opts;
    let model: ChannelModel | undefined;
    try {
      model = await amqp.connect(this.opts.url, {
        clientProperties: { connection_name: this.opts.connectionName ?? 'events-proxy ingest' },
        timeout: 10_000,
      });
      this.watch(model);
      if (this.stopped) throw new Error('stopping');
      await this.opts.setup(model);
      if (this.stopped) throw new Error('stopping');
      if (this.lost.has(model)) throw new Error('the connection closed during setup');
    } catch (err) {
      await model?.close().catch(() => undefined);
      if (!this.stopped) this.retry(err);
      return;
    }
    this.current = model;
    this.attempt = 0;
    logger.info('connected to RabbitMQ', { amqp: this.where });
    this.emit('connected', model);
  }

  private watch(model: ChannelModel): void {
    const { logger } = this.opts;
    // Without an 'error' listener, a connection error would crash the process.
    model.on('error', (err: Error) =>
      logger.warn('RabbitMQ connection error', { amqp: this.where, error: err.message }),
    );
    model.on('blocked', (reason: string) =>
      logger.warn('RabbitMQ blocked this connection', { amqp: this.where, reason }),
    );
    model.on('unblocked', () => logger.info('RabbitMQ unblocked this connection', { amqp: this.where }));
    model.on('close', (err?: Error) => {
      // A connection that closes during setup is handled by connectOnce, not here.
      if (this.current !== model) {
        this.lost.add(model);
        return;
      }
      this.current = undefined;
      logger.warn('lost the connection to RabbitMQ', {
        amqp: this.where,
        error: err ? errorText(err) : 'closed',
      });
      this.emit('disconnected', err);
      if (!this.stopped) this.retry(err ?? new Error('connection closed'));
    });
  }

  private retry(err: unknown): void {
    const delay = reconnectDelayMs(++this.attempt, this.opts.initialDelayMs, this.opts.maxDelayMs);
    this.opts.logger.warn(
      `waiting for RabbitMQ at ${this.where}: ${errorText(err)}; retrying in ${(delay / 1000).toFixed(1)}s`,
      { amqp: this.where, attempt: this.attempt, delayMs: delay },
    );
    this.retryTimer = setTimeout(() => this.connect(), delay);
    this.retryTimer.unref();
  }
}
