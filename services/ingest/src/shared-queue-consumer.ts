import type { Channel, ChannelModel } from 'amqplib';
import { bindingKey, parseBindingKey, type Binding } from '@events-proxy/protocol';
import type { Bus, History, LeaseStore } from '@events-proxy/cluster';
import { errorText, type Logger } from '@events-proxy/runtime';
import type { RoutingTable } from './routing-table.js';
import type { AmqpBinder } from './amqp-binder.js';
import type { RoutingTableSync } from './routing-table-sync.js';
import type { IngestMetrics } from './metrics.js';
import { closeQuietly } from './amqp-close.js';
import { Router } from './router.js';
import { declareSharedQueue, type SharedQueueOptions } from './shared-queue.js';

export interface SharedQueueConsumerOptions {
  readonly sharedQueue: SharedQueueOptions;
  readonly prefetch: number;
  /** Larger messages are not published (the router's `maxFrameBytes`). */
  readonly maxMessageBytes: number;
  readonly store: LeaseStore;
  readonly binder: AmqpBinder;
  readonly tableSync: RoutingTableSync;
  readonly routingTable: RoutingTable;
  readonly bus: Bus;
  readonly metrics: IngestMetrics;
  readonly logger: Logger;
  readonly history: History;
  /**
   * The consumer is gone while its connection is up (the broker cancelled it, e.g. the queue was
   * deleted, or closed its channel): start over on a new connection.
   */
  readonly onConsumerLost: (model: ChannelModel, reason: string) => void;
  /**
   * INGEST_HANDOFF_SECONDS in ms: a consumer whose batch could not reach Redis for this long gives up
   * its deliveries and its place (a standby ingest takes over); 0 never does.
   */
  readonly handoffMs: number;
  /** Whether Redis is reachable again (every driver connected): when to consume again. */
  readonly canPublish: () => boolean;
}

/** How often a consumer looks at how long its batch has been stuck, and at Redis after a handoff. */
const HANDOFF_CHECK_MS = 500;
/** Redis must stay reachable this long before a consumer that handed off consumes again. */
const HANDOFF_STABLE_MS = 2000;

/**
 * What happens on each new AMQP connection: declare the shared queue, restore every leased
 * binding at the broker and in the router, then consume into a fresh Router.
 */
export class SharedQueueConsumer {
  private channel: Channel | undefined;
  private router: Router | undefined;
  private consumerTag: string | undefined;
  /** Set while handed off: the connection to consume on again, and since when Redis is back. */
  private handoff: { model: ChannelModel; reachableSince: number | undefined } | undefined;
  private resuming = false;
  /** The connection the consumer channel is on. */
  private modelOf: ChannelModel | undefined;
  private readonly watch: NodeJS.Timeout | undefined;

  constructor(private readonly opts: SharedQueueConsumerOptions) {
    if (opts.handoffMs > 0) {
      this.watch = setInterval(() => this.checkHandoff(), Math.min(HANDOFF_CHECK_MS, opts.handoffMs));
      this.watch.unref();
    }
  }

  /** Not consuming because Redis could not be reached (a standby ingest consumes meanwhile). */
  get handedOff(): boolean {
    return this.handoff !== undefined;
  }

  async setup(model: ChannelModel): Promise<void> {
    const { opts } = this;
    const ch = await model.createChannel();
    ch.on('error', (err: Error) => opts.logger.warn('consumer channel error', { error: err.message }));
    await declareSharedQueue(ch, opts.sharedQueue, opts.logger);
    opts.binder.attach(model);

    const restored = await opts.binder.rebindAll(await this.leasedBindings());
    opts.tableSync.restore(restored);
    opts.logger.info('shared queue ready', { queue: opts.sharedQueue.name, bindings: restored.length });

    if (this.handoff !== undefined && !opts.canPublish()) {
      // Still cut off from Redis: consume once it is back (checkHandoff), on this connection.
      this.handoff = { model, reachableSince: undefined };
      await closeQuietly(ch);
    } else {
      this.handoff = undefined;
      await this.consume(model, ch);
    }
    void this.dropUncertainBindings();
  }

  /**
   * A batch stuck for INGEST_HANDOFF_SECONDS (Redis unreachable or silent from here) hands the
   * queue off; once Redis has been reachable for HANDOFF_STABLE_MS the consumer starts again.
   */
  private checkHandoff(): void {
    const now = Date.now();
    const handoff = this.handoff;
    if (handoff !== undefined) {
      if (!this.opts.canPublish()) {
        handoff.reachableSince = undefined;
        return;
      }
      handoff.reachableSince ??= now;
      if (now - handoff.reachableSince >= HANDOFF_STABLE_MS && !this.resuming)
        void this.resume(handoff.model);
      return;
    }
    const since = this.router?.publishingSince;
    if (since !== undefined && now - since >= this.opts.handoffMs) void this.handOff(now - since);
  }

  /**
   * Gives up the consumer: the channel closes, so its unacked deliveries return to the queue (the
   * broker flags them `redelivered`) and single-active-consumer hands the queue to a standby ingest
   * whose Redis works. Nothing unpublished was acked, so nothing is lost; a batch that did reach
   * Redis before its reply was lost comes again, flagged.
   */
  private async handOff(stuckMs: number): Promise<void> {
    const { channel, router } = this;
    const model = this.modelOf;
    if (channel === undefined || router === undefined || model === undefined) return;
    this.handoff = { model, reachableSince: undefined };
    this.channel = this.router = this.consumerTag = undefined;
    router.abandon();
    this.opts.metrics.handoffs.inc();
    this.opts.logger.warn(
      'could not publish to Redis for INGEST_HANDOFF_SECONDS; handing the shared queue to a standby',
      {
        queue: this.opts.sharedQueue.name,
        stuckMs,
        handoffSeconds: this.opts.handoffMs / 1000,
      },
    );
    await closeQuietly(channel);
  }

  private async resume(model: ChannelModel): Promise<void> {
    this.resuming = true;
    try {
      const ch = await model.createChannel();
      ch.on('error', (err: Error) => this.opts.logger.warn('consumer channel error', { error: err.message }));
      await this.consume(model, ch);
      this.handoff = undefined;
      this.opts.logger.info('Redis reachable again; consuming the shared queue again', {
        queue: this.opts.sharedQueue.name,
      });
    } catch (err) {
      // The connection went too: its replacement's setup consumes (or waits) instead.
      this.opts.logger.debug('could not consume again yet', { error: errorText(err) });
    } finally {
      this.resuming = false;
    }
  }

  /** Consumes the shared queue on `ch` into a fresh Router. */
  private async consume(model: ChannelModel, ch: Channel): Promise<void> {
    const { opts } = this;
    await ch.prefetch(opts.prefetch);
    const router = new Router({
      channel: ch,
      routingTable: opts.routingTable,
      bus: opts.bus,
      metrics: opts.metrics,
      logger: opts.logger,
      history: opts.history,
      maxFrameBytes: opts.maxMessageBytes,
    });
    ch.on('close', () => {
      router.abandon();
      // When the whole connection closes, its 'close' comes right after this one and the
      // connection handles it; only a channel lost on its own needs a new start.
      setImmediate(() => {
        if (this.channel === ch) {
          this.channel = this.router = this.consumerTag = undefined;
          opts.onConsumerLost(model, 'the consumer channel closed');
        }
      });
    });
    const { consumerTag } = await ch.consume(opts.sharedQueue.name, (msg) => {
      if (msg) router.handle(msg);
      else {
        opts.logger.warn('RabbitMQ cancelled the consumer (was the queue deleted?)', {
          queue: opts.sharedQueue.name,
        });
        opts.onConsumerLost(model, 'the consumer was cancelled by the broker');
      }
    });
    this.channel = ch;
    this.router = router;
    this.consumerTag = consumerTag;
    this.modelOf = model;
  }

  /**
   * Removes the bindings a lost connection may have left on the broker without a lease (their bind
   * failed after the request went out). Each is checked under its lock, as the reaper does, so one
   * that a client has bound properly since is kept. Best effort: what cannot be checked now (Redis
   * or the broker gone again) waits for the next connection.
   */
  private async dropUncertainBindings(): Promise<void> {
    const { binder, store, logger } = this.opts;
    const pending = binder.takeUncertain();
    const left: Binding[] = [];
    for (const b of pending) {
      const key = bindingKey(b);
      try {
        await store.withLock(key, async () => {
          const [leased] = await store.renewIfLeased([key], 0);
          if (!leased) await binder.unbind(b);
        });
      } catch (err) {
        left.push(b);
        logger.debug('could not check a binding left by a lost connection', { ...b, error: errorText(err) });
      }
    }
    binder.restoreUncertain(left);
    const dropped = pending.length - left.length;
    if (dropped > 0) logger.info('checked bindings left by a lost connection', { checked: dropped });
  }

  /** Stops consuming and waits for the messages already received to be published and acked. */
  async stop(): Promise<void> {
    clearInterval(this.watch);
    const { channel, router, consumerTag } = this;
    this.channel = this.router = this.consumerTag = undefined;
    if (channel && consumerTag) await channel.cancel(consumerTag).catch(() => undefined);
    await router?.close();
  }

  private async leasedBindings(): Promise<Binding[]> {
    try {
      return (await this.opts.store.all()).map(parseBindingKey);
    } catch (err) {
      throw new Error(`could not read the leased bindings to restore them: ${errorText(err)}`, {
        cause: err,
      });
    }
  }
}
