import type { Channel, ChannelModel } from 'amqplib';
import { BindError, bindingKey, exchangeNotFoundMessage, type Binding } from '@events-proxy/protocol';
import type { BrokerBinder } from '@events-proxy/cluster';
import { errorText, type Logger } from '@events-proxy/runtime';
import { closeQuietly } from './amqp-close.js';

const NOT_FOUND = 404;
const ACCESS_REFUSED = 403;
const CONNECTION_FORCED = 320;

/** The AMQP reply code of a failed operation; absent when the failure was not this operation's. */
function replyCode(err: unknown): number | undefined {
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === 'number' ? code : undefined;
}

export const brokerUnavailable = (): BindError =>
  new BindError('BrokerUnavailable', 'RabbitMQ is not reachable; retry shortly');

/**
 * Channels binds and unbinds are spread over. amqplib runs one RPC at a time per channel, and each
 * bind or unbind also waits on Redis (lock, lease) around its RPC: with a few channels the broker
 * sits idle in between. Eight keep it busy (binding-scale benchmark: four channels unbound
 * 1,524-1,687/s, eight and sixteen 1,844/s, a bare client on four 2,100-2,200/s).
 */
const CONTROL_CHANNELS = 8;

/** How long an exchange seen to exist is taken to still exist before a bind checks it again. */
const EXCHANGE_SEEN_MS = 10_000;

/**
 * Binds and unbinds the shared queue at the broker. Before binding to an exchange not seen
 * lately, it is checked passively on a throw-away channel, because a missing exchange makes
 * RabbitMQ close the channel it was asked on: one bad request must not break the channel other
 * requests (or the consumer) use. Exchanges seen within EXCHANGE_SEEN_MS skip the check (two
 * channel round trips fewer per bind); if one was deleted meanwhile, the bind itself reports it,
 * and operations caught on the closed channel are retried once on a new one.
 */
export class AmqpBinder implements BrokerBinder {
  private model: ChannelModel | undefined;
  private readonly controls: (Promise<Channel> | undefined)[] = new Array(CONTROL_CHANNELS);
  private nextControl = 0;
  /** Exchange → when it was last seen to exist (performance.now() ms). */
  private readonly seen = new Map<string, number>();
  /**
   * Binds whose connection was lost with the request sent and no reply: the broker may have made
   * the binding although the bind failed, and nobody holds a lease on it (see takeUncertain).
   */
  private readonly uncertain = new Map<string, Binding>();

  constructor(
    private readonly queueName: string,
    private readonly logger: Logger,
  ) {}

  /** Starts using a new connection (called during its setup, once the queue is declared). */
  attach(model: ChannelModel): void {
    this.model = model;
    this.controls.fill(undefined);
    this.seen.clear();
    model.once('close', () => {
      if (this.model === model) this.detach();
    });
  }

  detach(): void {
    this.model = undefined;
    this.controls.fill(undefined);
  }

  async bind(b: Binding): Promise<void> {
    if (!this.seenLately(b.exchange) && !(await this.exchangeExists(b.exchange))) {
      throw new BindError('ExchangeNotFound', exchangeNotFoundMessage(b.exchange));
    }
    try {
      await this.onControlChannel((ch) => ch.bindQueue(this.queueName, b.exchange, b.routingKeyPattern));
    } catch (err) {
      if (replyCode(err) === NOT_FOUND) this.seen.delete(b.exchange);
      const failure = this.bindError(err, b);
      if (failure.code === 'BrokerUnavailable') this.uncertain.set(bindingKey(b), b);
      throw failure;
    }
  }

  /**
   * Hands over (and forgets) the bindings that may have been made although their bind failed with
   * the connection. The caller removes each that no lease holds, under its lock, once connected
   * again; otherwise such a binding would stay on the broker with nobody to reap it.
   */
  takeUncertain(): Binding[] {
    const list = [...this.uncertain.values()];
    this.uncertain.clear();
    return list;
  }

  /** Gives back bindings takeUncertain handed over that could not be checked. */
  restoreUncertain(list: readonly Binding[]): void {
    for (const b of list) this.uncertain.set(bindingKey(b), b);
  }

  /** A binding whose exchange is gone is gone too: that counts as done. */
  async unbind(b: Binding): Promise<void> {
    if (!this.seenLately(b.exchange) && !(await this.exchangeExists(b.exchange))) return;
    try {
      await this.onControlChannel((ch) => ch.unbindQueue(this.queueName, b.exchange, b.routingKeyPattern));
    } catch (err) {
      if (replyCode(err) === NOT_FOUND) {
        this.seen.delete(b.exchange); // deleted in between
        return;
      }
      throw this.bindError(err, b);
    }
  }

  /**
   * Re-binds every binding after a (re)connect; returns those in place. Bindings on exchanges
   * that no longer exist are skipped (their leases lapse and the reaper drops them).
   */
  async rebindAll(bindings: readonly Binding[]): Promise<Binding[]> {
    const byExchange = new Map<string, Binding[]>();
    for (const b of bindings) {
      const list = byExchange.get(b.exchange);
      if (list) list.push(b);
      else byExchange.set(b.exchange, [b]);
    }
    const bound: Binding[] = [];
    for (const [exchange, list] of byExchange) {
      if (!(await this.exchangeExists(exchange))) {
        this.logger.warn('exchange no longer exists; its bindings are not restored', {
          exchange,
          bindings: list.length,
        });
        continue;
      }
      // Issued together: amqplib pipelines them on the channel in order.
      const results = await Promise.allSettled(
        list.map((b) =>
          this.onControlChannel((ch) => ch.bindQueue(this.queueName, exchange, b.routingKeyPattern)),
        ),
      );
      results.forEach((r, i) => {
        if (r.status === 'fulfilled') bound.push(list[i]!);
        else this.logger.warn('could not restore a binding', { ...list[i], error: errorText(r.reason) });
      });
      if (!this.model) throw brokerUnavailable();
    }
    return bound;
  }

  private requireModel(): ChannelModel {
    if (!this.model) throw brokerUnavailable();
    return this.model;
  }

  private seenLately(exchange: string): boolean {
    const at = this.seen.get(exchange);
    return at !== undefined && performance.now() - at < EXCHANGE_SEEN_MS;
  }

  private async exchangeExists(exchange: string): Promise<boolean> {
    const model = this.requireModel();
    let ch: Channel;
    try {
      ch = await model.createChannel();
    } catch {
      throw brokerUnavailable();
    }
    ch.on('error', () => undefined); // the 404 also arrives as a channel 'error' event
    try {
      await ch.checkExchange(exchange);
      if (this.seen.size >= 10_000) this.seen.clear(); // a bound on the memory; it only costs checks
      this.seen.set(exchange, performance.now());
      return true;
    } catch (err) {
      if (replyCode(err) === NOT_FOUND) return false;
      throw this.bindError(err, { exchange, routingKeyPattern: '' });
    } finally {
      await closeQuietly(ch);
    }
  }

  /**
   * Runs `op` on one of the control channels (in turn). An operation that failed only because another one
   * closed the channel (no reply code of its own) is retried once on a fresh channel.
   */
  private async onControlChannel<T>(op: (ch: Channel) => Promise<T>): Promise<T> {
    try {
      return await op(await this.controlChannel());
    } catch (err) {
      if (replyCode(err) !== undefined || !this.model) throw err;
      return op(await this.controlChannel());
    }
  }

  private controlChannel(): Promise<Channel> {
    const slot = this.nextControl;
    this.nextControl = (slot + 1) % CONTROL_CHANNELS;
    const existing = this.controls[slot];
    if (existing) return existing;
    const model = this.requireModel();
    const opened: Promise<Channel> = model.createChannel().then((ch) => {
      ch.on('error', (err: Error) =>
        this.logger.debug('control channel closed by an error', { error: err.message }),
      );
      ch.on('close', () => {
        if (this.controls[slot] === opened) this.controls[slot] = undefined;
      });
      return ch;
    });
    opened.catch(() => {
      if (this.controls[slot] === opened) this.controls[slot] = undefined;
    });
    this.controls[slot] = opened;
    return opened;
  }

  private bindError(err: unknown, b: Binding): BindError {
    if (err instanceof BindError) return err;
    const code = replyCode(err);
    if (code === NOT_FOUND) return new BindError('ExchangeNotFound', exchangeNotFoundMessage(b.exchange));
    // No reply code: the channel or connection went away under the operation; 320 and 5xx are
    // connection-level (forced close, broker errors).
    if (code === undefined || code === CONNECTION_FORCED || code >= 500) return brokerUnavailable();
    this.logger.warn('RabbitMQ refused a binding operation', { ...b, code, error: errorText(err) });
    if (code === ACCESS_REFUSED) {
      return new BindError(
        'Internal',
        `RabbitMQ refused access to exchange \`${b.exchange}\`: ${errorText(err)}`,
      );
    }
    return new BindError('Internal', `RabbitMQ could not bind to \`${b.exchange}\`: ${errorText(err)}`);
  }
}
