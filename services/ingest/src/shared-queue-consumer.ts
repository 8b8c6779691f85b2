import type { Channel, ChannelModel } from 'amqplib';
import { bindingKey, parseBindingKey, type Binding } from '@events-proxy/protocol';
import type { Bus, History, LeaseStore } from '@events-proxy/cluster';
import { errorText, type Logger } from '@events-proxy/runtime';
import type { RoutingTable } from './routing-table.js';
import type { AmqpBinder } from './amqp-binder.js';
import type { RoutingTableSync } from './routing-table-sync.js';
import type { IngestMetrics } from './metrics.js';
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
}

/**
 * What happens on each new AMQP connection: declare the shared queue, restore every leased
 * binding at the broker and in the router, then consume into a fresh Router.
 */
export class SharedQueueConsumer {
  private channel: Channel | undefined;
  private router: Router | undefined;
  private consumerTag: string | undefined;

  constructor(private readonly opts: SharedQueueConsumerOptions) {}

  async setup(model: ChannelModel): Promise<void> {
    const { opts } = this;
    const ch = await model.createChannel();
    ch.on('error', (err: Error) => opts.logger.warn('consumer channel error', { error: err.message }));
    await declareSharedQueue(ch, opts.sharedQueue, opts.logger);
    opts.binder.attach(model);

    const restored = await opts.binder.rebindAll(await this.leasedBindings());
    opts.tableSync.restore(restored);
    opts.logger.info('shared queue ready', { queue: opts.sharedQueue.name, bindings: restored.length });

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
    void this.dropUncertainBindings();
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
