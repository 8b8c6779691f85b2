/**
 * An edge in-process on port 0 over the memory drivers, a small fake ingest behind the memory bind
 * queue, and helpers to publish envelopes straight onto the bus and read metrics.
 */
import { Registry } from 'prom-client';
import {
  MemoryBindQueue,
  MemoryClientLimits,
  MemoryEdgeLoads,
  MemoryHistory,
  type ClientLimits,
  type History,
  MemoryBus,
  MemoryLeaseStore,
  type Bus,
  type BusHandler,
  type BusMessage,
  type BusResubscribedHandler,
} from '@events-proxy/cluster';
import {
  BindError,
  bindingKey,
  decodeEnvelope,
  exchangeNotFoundMessage,
  names,
  encodeEnvelope,
  renderMessageEnvelope,
  renderMessageFrame,
  type Delivery,
  type Binding,
} from '@events-proxy/protocol';
import { createLogger } from '@events-proxy/runtime';
import { createEdge, loadEdgeConfig, type Edge, type EdgeConfig } from '@events-proxy/edge';
import { metricValue } from '../support/prometheus.js';
import { randomId } from '../support/processes.js';

/** A gate that bus or ingest steps wait on while it is shut. */
export class Gate {
  private waiting: Promise<void> | undefined;
  private release: (() => void) | undefined;

  shut(): void {
    this.waiting ??= new Promise((resolve) => (this.release = resolve));
  }

  open(): void {
    this.release?.();
    this.waiting = this.release = undefined;
  }

  async pass(): Promise<void> {
    await this.waiting;
  }
}

/** A MemoryBus that counts subscription calls, lists live channels, and can hold subscribes back. */
export class SpyBus implements Bus {
  private readonly inner = new MemoryBus();
  readonly live = new Set<string>();
  subscribeCalls = 0;
  unsubscribeCalls = 0;
  readonly subscribeGate = new Gate();
  readonly unsubscribeGate = new Gate();
  private lost = false;
  private resubscribedHandler: BusResubscribedHandler = () => undefined;
  private inPlace: (() => void) | undefined;

  publish(messages: readonly BusMessage[]): Promise<void> {
    return this.inner.publish(messages);
  }
  async subscribe(channel: string): Promise<void> {
    this.subscribeCalls++;
    await this.subscribeGate.pass();
    await this.inner.subscribe(channel);
    this.live.add(channel);
  }
  async unsubscribe(channel: string): Promise<void> {
    this.unsubscribeCalls++;
    await this.unsubscribeGate.pass();
    await this.inner.unsubscribe(channel);
    this.live.delete(channel);
  }
  onMessage(handler: BusHandler): void {
    this.inner.onMessage((channel, envelope) => {
      if (!this.lost) handler(channel, envelope);
    });
  }
  onResubscribed(handler: BusResubscribedHandler): void {
    this.resubscribedHandler = handler;
  }
  /** The subscriber's link is lost: what is published now never arrives. */
  loseLink(): void {
    this.lost = true;
  }
  /**
   * The link is back: the hub is told at once; the subscriptions are in place at once, or (with
   * `hold`) when `subscriptionsInPlace()` is called, and messages published meanwhile arrive.
   */
  restoreLink(opts: { hold?: boolean } = {}): void {
    this.lost = false;
    this.resubscribedHandler(
      opts.hold ? new Promise<void>((resolve) => (this.inPlace = resolve)) : Promise.resolve(),
    );
  }
  subscriptionsInPlace(): void {
    this.inPlace?.();
    this.inPlace = undefined;
  }
  isConnected(): boolean {
    return !this.lost;
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

/**
 * Stands in for the ingest tier: leases every requested binding, and fails exchanges named
 * `exchange/missing…` as the real one does for an exchange the broker does not have.
 */
export class FakeIngest {
  readonly requests: Binding[] = [];
  readonly gate = new Gate();

  constructor(
    private readonly store: MemoryLeaseStore,
    private readonly leaseMs: number,
    /** Called for a binding put in place without a lease, as the real ingest begins its history. */
    private readonly begin: (binding: Binding) => Promise<void> = async () => undefined,
  ) {}

  async start(queue: MemoryBindQueue): Promise<void> {
    await queue.process(async (binding) => {
      this.requests.push(binding);
      await this.gate.pass();
      if (binding.exchange.startsWith('exchange/missing')) {
        throw new BindError('ExchangeNotFound', exchangeNotFoundMessage(binding.exchange));
      }
      const [leased] = await this.store.renewIfLeased([bindingKey(binding)], this.leaseMs);
      if (leased !== true) await this.begin(binding);
      await this.store.lease(bindingKey(binding), this.leaseMs);
    });
  }
}

export interface TestEdge {
  readonly edge: Edge;
  readonly config: EdgeConfig;
  readonly bus: SpyBus;
  readonly store: MemoryLeaseStore;
  readonly ingest: FakeIngest;
  readonly registry: Registry;
  readonly base: string;
  /** A connect URL with these bindings (JSON-encoded unless given as a string). */
  url(bindings: readonly Binding[] | string, prefix?: string): string;
  /** Publishes one message on each binding's channel under one envelope id. */
  publish(bindings: readonly Binding[], id: string, payload: unknown, routingKey?: string): Promise<Buffer>;
  readonly history: History;
  /**
   * Does what the ingest's router does with one message matching these bindings: takes its
   * cursor, retains it in the history, then publishes it on each binding's channel.
   */
  route(
    bindings: readonly Binding[],
    payload: unknown,
    routingKey?: string,
    /** Runs between retaining and publishing (a message still on its way to the bus). */
    beforePublish?: () => Promise<void>,
  ): Promise<{ cursor: string; frame: Buffer }>;
  metric(name: string, labels?: Record<string, string>): Promise<number>;
  stop(): Promise<void>;
}

/** A delivery from the first binding's exchange with a JSON payload, as the broker would hand it over. */
function delivery(bindings: readonly Binding[], payload: unknown, routingKey: string): Delivery {
  return {
    exchange: bindings[0]!.exchange,
    routingKey,
    redelivered: false,
    cc: [],
    body: Buffer.from(JSON.stringify(payload)),
  };
}

export interface StartEdgeOptions {
  /** The history the edge reads (default: a memory one, 300 s and 1000 messages per channel). */
  readonly history?: History;
  /** The per-client limits' store (default: a memory one, leased as CLIENT_LEASE_SECONDS says). */
  readonly clientLimits?: ClientLimits;
  /** Collects the edge's log lines (at debug) instead of discarding them. */
  readonly logLines?: string[];
}

export async function startEdge(
  env: Record<string, string> = {},
  opts: StartEdgeOptions = {},
): Promise<TestEdge> {
  const config = loadEdgeConfig(
    { KEY_PREFIX: `test-${randomId()}:`, PING_INTERVAL_SECONDS: '60', ...env },
    { requireRedis: false },
  );
  const bus = new SpyBus();
  const store = new MemoryLeaseStore();
  const bindQueue = new MemoryBindQueue();
  const history = opts.history ?? new MemoryHistory({ retentionMs: 300_000, maxMessages: 1000 });
  const channelOf = names(config.keyPrefix).channel;
  const ingest = new FakeIngest(store, config.bindingLeaseMs, (b) => history.begin(channelOf(b)));
  await ingest.start(bindQueue);
  const registry = new Registry();
  const edge = createEdge({
    config,
    bus,
    store,
    bindQueue,
    history,
    clientLimits: opts.clientLimits ?? new MemoryClientLimits(),
    edgeLoads: new MemoryEdgeLoads(),
    isConnected: () => bus.isConnected() && store.isConnected(),
    logger: opts.logLines
      ? createLogger('debug', {}, (line) => opts.logLines!.push(line))
      : createLogger('silent'),
    registry,
  });
  const { port } = await edge.listen(0);
  const base = `http://127.0.0.1:${port}`;
  return {
    edge,
    config,
    bus,
    store,
    ingest,
    registry,
    base,
    url: (bindings, prefix = '/api/events/v1/connect/') =>
      `${base}${prefix}?bindings=${encodeURIComponent(
        typeof bindings === 'string' ? bindings : JSON.stringify({ bindings }),
      )}`,
    async publish(bindings, id, payload, routingKey = 'a.b') {
      const envelope = renderMessageEnvelope(id, Date.now(), delivery(bindings, payload, routingKey));
      const frame = decodeEnvelope(envelope)!.frame;
      await bus.publish(bindings.map((b) => ({ channel: channelOf(b), envelope })));
      return frame;
    },
    history,
    async route(bindings, payload, routingKey = 'a.b', beforePublish) {
      const receivedAt = Date.now();
      const [cursor] = await history.assign(1, receivedAt);
      const envelope = encodeEnvelope(
        cursor!,
        receivedAt,
        Buffer.from(renderMessageFrame(delivery(bindings, payload, routingKey))),
      );
      const frame = decodeEnvelope(envelope)!.frame;
      const channels = bindings.map(channelOf);
      await history.record([{ cursor: cursor!, receivedAt, frame, channels }]);
      await beforePublish?.();
      await bus.publish(channels.map((channel) => ({ channel, envelope })));
      return { cursor: cursor!, frame };
    },
    metric: async (name, labels) => metricValue(await registry.metrics(), name, labels) ?? 0,
    async stop() {
      ingest.gate.open();
      bus.subscribeGate.open();
      bus.unsubscribeGate.open();
      await edge.close();
      await bindQueue.close();
    },
  };
}
