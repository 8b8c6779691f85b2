import { randomBytes } from 'node:crypto';
import type { Registry } from 'prom-client';
import { names, type Binding } from '@events-proxy/protocol';
import {
  IngestControlPlane,
  type BindQueue,
  type BindingChangeFeed,
  type BrokerBinder,
  type Bus,
  type History,
  type LeaseStore,
} from '@events-proxy/cluster';
import { errorText, type Logger, type ReadinessCheck } from '@events-proxy/runtime';
import { RoutingTable } from './routing-table.js';
import { ReconnectingAmqpConnection } from './amqp-connection.js';
import { AmqpBinder } from './amqp-binder.js';
import type { IngestConfig } from './config.js';
import { SharedQueueConsumer } from './shared-queue-consumer.js';
import { RoutingTableSync } from './routing-table-sync.js';
import { createIngestMetrics } from './metrics.js';

export interface IngestDeps {
  readonly config: IngestConfig;
  readonly bus: Bus;
  readonly store: LeaseStore;
  readonly bindQueue: BindQueue;
  /** Cursors and retained messages for v2 resumes (the drivers' `history`). */
  readonly history: History;
  readonly logger: Logger;
  readonly registry: Registry;
  /**
   * Whether every driver is connected (the drivers' `isConnected`): when to consume again after a
   * handoff. Default: the bus and the history.
   */
  readonly isConnected?: () => boolean;
  /** Binding changes from and to other ingest replicas (the drivers' `bindingChanges`). */
  readonly bindingChanges?: BindingChangeFeed;
  /** Reconnect timing (default: 0.5 s doubling to AMQP_RECONNECT_MAX_DELAY_SECONDS, probes every 250 ms). */
  readonly reconnect?: {
    readonly initialDelayMs?: number;
    readonly maxDelayMs?: number;
    readonly probeIntervalMs?: number;
  };
}

export interface Ingest {
  /** Starts the bind worker and the reaper, and connects to RabbitMQ in the background. */
  start(): Promise<void>;
  /** Stops consuming (publishing and acking what was received), then disconnects. */
  stop(): Promise<void>;
  readiness(): ReadinessCheck[];
}

/** Resync often enough to heal a lost notification well within a lease, at most every 5 s. */
export const resyncIntervalMs = (leaseMs: number): number => Math.max(100, Math.min(leaseMs / 2, 5000));

/** The ingest role: AMQP → match → render once → bus, plus the bind worker and lease reaper. */
export function createIngest(deps: IngestDeps): Ingest {
  const { config, bus, store, bindQueue, history, registry } = deps;
  const channelOf = names(config.keyPrefix).channel;
  const logger = deps.logger.child({ component: 'ingest' });
  const routingTable = new RoutingTable(config.keyPrefix);
  const amqpBinder = new AmqpBinder(config.queueName, logger);
  const tableSync = new RoutingTableSync({
    store,
    routingTable,
    feed: deps.bindingChanges,
    logger,
    resyncMs: resyncIntervalMs(config.bindingLeaseMs),
    leaseMs: config.bindingLeaseMs,
    bind: (b) => amqpBinder.bind(b),
  });
  // The routing table is updated inside the bind job's lock, before the lease and the job's completion.
  const binder: BrokerBinder = {
    bind: async (b) => {
      await amqpBinder.bind(b);
      await tableSync.added(b);
    },
    unbind: async (b) => {
      await amqpBinder.unbind(b);
      await tableSync.removed(b);
    },
  };

  // `connection` is declared below; these closures only run after it exists.
  const amqpConnected = () => connection.isConnected();
  const metrics = createIngestMetrics(registry, {
    bindings: () => routingTable.size,
    amqpConnected,
  });

  const fields = (b: Binding) => ({ exchange: b.exchange, routingKeyPattern: b.routingKeyPattern });
  const controlPlane = new IngestControlPlane({
    store,
    bindQueue,
    binder,
    leaseMs: config.bindingLeaseMs,
    concurrency: config.bindConcurrency,
    // A binding put on the broker after a time without it has no history from before: v2 resumes
    // from a cursor older than this get a gap. One removed drops its history.
    bindingHistory: {
      begin: (b) => history.begin(channelOf(b)),
      forget: (b) => history.forget(channelOf(b)),
    },
    onBindResult: (b, err) => {
      metrics.bindRequests.inc({ result: err === undefined ? 'ok' : 'error' });
      if (err === undefined) logger.info('binding in place', fields(b));
      else logger.warn('bind request failed', { ...fields(b), error: errorText(err) });
    },
    onReaped: (b) => {
      metrics.reaped.inc();
      logger.info('binding removed: no client holds it any more', fields(b));
    },
    onReapError: (b, err) =>
      logger.warn('could not remove an expired binding', { ...fields(b), error: errorText(err) }),
    onReapRoundError: (err) =>
      logger.warn('could not look for expired bindings; retrying', { error: errorText(err) }),
  });

  const instanceId = randomBytes(4).toString('hex');
  const consumer = new SharedQueueConsumer({
    sharedQueue: {
      name: config.queueName,
      type: config.queueType,
      maxLength: config.queueMaxLength,
      messageTtlMs: config.queueMessageTtlMs,
      singleActiveConsumer: config.singleActiveConsumer,
    },
    prefetch: config.prefetch,
    maxMessageBytes: config.maxMessageBytes,
    store,
    binder: amqpBinder,
    tableSync,
    routingTable,
    bus,
    metrics,
    logger,
    history,
    onConsumerLost: (model, reason) => connection.reconnect(reason, model),
    handoffMs: config.handoffMs,
    canPublish: deps.isConnected ?? (() => bus.isConnected() && history.isConnected()),
  });

  const connection = new ReconnectingAmqpConnection({
    urls: config.amqpUrls,
    logger,
    maxDelayMs: config.amqpReconnectMaxDelayMs,
    setup: (model) => consumer.setup(model),
    connectionName: `events-proxy ingest ${instanceId}`,
    ...deps.reconnect,
  });
  connection.on('connected', () => metrics.amqpConnects.inc());

  return {
    async start() {
      tableSync.start();
      void tableSync.resync();
      await controlPlane.start();
      connection.start();
    },
    async stop() {
      await controlPlane.stop();
      await consumer.stop();
      await connection.stop();
      amqpBinder.detach();
      await tableSync.stop();
    },
    readiness: () => [
      { name: 'amqp', ok: amqpConnected },
      { name: 'consuming', ok: () => !consumer.handedOff },
    ],
  };
}
