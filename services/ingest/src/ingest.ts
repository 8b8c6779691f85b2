import { randomBytes } from 'node:crypto';
import type { Registry } from 'prom-client';
import type { Binding } from '@events-proxy/protocol';
import {
  IngestBindings,
  type BindQueue,
  type BindingChangeFeed,
  type BrokerBindings,
  type Bus,
  type LeaseStore,
} from '@events-proxy/cluster';
import type { Logger, ReadinessCheck } from '@events-proxy/runtime';
import { ActiveBindings } from './active-bindings.js';
import { ReconnectingAmqpConnection, errorText } from './amqp-connection.js';
import { AmqpBrokerBindings } from './broker-bindings.js';
import type { IngestConfig } from './config.js';
import { SharedQueueConsumer } from './consumer.js';
import { Membership } from './membership.js';
import { createIngestMetrics } from './metrics.js';

export interface IngestDeps {
  readonly config: IngestConfig;
  readonly bus: Bus;
  readonly store: LeaseStore;
  readonly queue: BindQueue;
  readonly logger: Logger;
  readonly registry: Registry;
  /** Binding changes from and to other ingest replicas (the drivers' `changes`). */
  readonly changes?: BindingChangeFeed;
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
  const { config, bus, store, queue, registry } = deps;
  const logger = deps.logger.child({ component: 'ingest' });
  const active = new ActiveBindings(config.keyPrefix);
  const amqpBindings = new AmqpBrokerBindings(config.queueName, logger);
  const membership = new Membership({
    store,
    active,
    feed: deps.changes,
    logger,
    resyncMs: resyncIntervalMs(config.bindingLeaseMs),
    leaseMs: config.bindingLeaseMs,
    bind: (b) => amqpBindings.bind(b),
  });
  // Membership is updated inside the bind job's lock, before the lease and the job's completion.
  const broker: BrokerBindings = {
    bind: async (b) => {
      await amqpBindings.bind(b);
      await membership.added(b);
    },
    unbind: async (b) => {
      await amqpBindings.unbind(b);
      await membership.removed(b);
    },
  };

  // `connection` is declared below; these closures only run after it exists.
  const isConnected = () => connection.isConnected();
  const metrics = createIngestMetrics(registry, { bindings: () => active.size, amqpConnected: isConnected });

  const fields = (b: Binding) => ({ exchange: b.exchange, routingKeyPattern: b.routingKeyPattern });
  const control = new IngestBindings({
    store,
    queue,
    broker,
    leaseMs: config.bindingLeaseMs,
    concurrency: config.bindConcurrency,
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
  let sequence = 0;
  const consumer = new SharedQueueConsumer({
    queue: {
      name: config.queueName,
      type: config.queueType,
      maxLength: config.queueMaxLength,
      messageTtlMs: config.queueMessageTtlMs,
      singleActiveConsumer: config.singleActiveConsumer,
    },
    prefetch: config.prefetch,
    maxMessageBytes: config.maxMessageBytes,
    store,
    broker: amqpBindings,
    membership,
    active,
    bus,
    metrics,
    logger,
    nextId: () => `${instanceId}.${(sequence++).toString(36)}`,
    onConsumerLost: (model, reason) => connection.reconnect(reason, model),
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
      membership.start();
      void membership.resync();
      await control.start();
      connection.start();
    },
    async stop() {
      await control.stop();
      await consumer.stop();
      await connection.stop();
      amqpBindings.detach();
      await membership.stop();
    },
    readiness: () => [{ name: 'amqp', ok: isConnected }],
  };
}
