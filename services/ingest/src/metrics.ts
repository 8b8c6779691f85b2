import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** Results of a bind request; each is exported from the start, at 0, so rate() sees the first one. */
export const BIND_RESULTS = ['ok', 'error'] as const;

export interface IngestMetrics {
  readonly consumed: Counter;
  readonly framesPublished: Counter;
  readonly unmatched: Counter;
  readonly tooLarge: Counter;
  readonly bindRequests: Counter<'result'>;
  readonly publishFailures: Counter;
  readonly publishSeconds: Histogram;
  readonly historyFailures: Counter;
  readonly historySeconds: Histogram;
  readonly reaped: Counter;
  /** Times this ingest gave up its consumer because it could not publish (INGEST_HANDOFF_SECONDS). */
  readonly handoffs: Counter;
  readonly amqpConnects: Counter;
}

export interface IngestMetricSources {
  /** Bindings the router delivers for. */
  readonly bindings: () => number;
  readonly amqpConnected: () => boolean;
}

/**
 * The ingest role's metrics (DESIGN.md §6). Default process metrics and events_redis_connected are
 * registered by the composition root, once per process.
 */
export function createIngestMetrics(registry: Registry, sources: IngestMetricSources): IngestMetrics {
  const registers = [registry];
  new Gauge({
    name: 'events_ingest_bindings',
    help: 'Bindings (exchange, routing-key pattern) on the shared queue that the router delivers for.',
    registers,
    collect() {
      this.set(sources.bindings());
    },
  });
  new Gauge({
    name: 'events_amqp_connected',
    help: '1 while the connection to RabbitMQ is up and the shared queue is being consumed, else 0.',
    registers,
    collect() {
      this.set(sources.amqpConnected() ? 1 : 0);
    },
  });
  const bindRequests = new Counter({
    name: 'events_ingest_bind_requests_total',
    help: 'Bind requests handled by this ingest, by result (ok, error).',
    labelNames: ['result'] as const,
    registers,
  });
  for (const result of BIND_RESULTS) bindRequests.inc({ result }, 0);
  return {
    consumed: new Counter({
      name: 'events_ingest_messages_consumed_total',
      help: 'Messages consumed from the shared queue.',
      registers,
    }),
    framesPublished: new Counter({
      name: 'events_ingest_frames_published_total',
      help: 'Message frames published on the bus (one per matching binding channel).',
      registers,
    }),
    unmatched: new Counter({
      name: 'events_ingest_messages_unmatched_total',
      help: 'Messages that matched no active binding (acked and dropped).',
      registers,
    }),
    tooLarge: new Counter({
      name: 'events_ingest_messages_too_large_total',
      help: 'Matching messages not published because their body or frame passed MAX_MESSAGE_BYTES (also counted as unmatched).',
      registers,
    }),
    bindRequests,
    publishFailures: new Counter({
      name: 'events_ingest_publish_failures_total',
      help: 'Failed bus publishes (each attempt); the batch is tried again every second.',
      registers,
    }),
    publishSeconds: new Histogram({
      name: 'events_ingest_publish_seconds',
      help: 'Time to publish one batch of frames on the bus.',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers,
    }),
    historyFailures: new Counter({
      name: 'events_ingest_history_failures_total',
      help: 'Failed history calls (taking cursors or retaining a batch, each attempt); the batch waits and is tried again every second.',
      registers,
    }),
    historySeconds: new Histogram({
      name: 'events_ingest_history_seconds',
      help: 'Time to retain one batch of messages in the history (HISTORY_SECONDS > 0).',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers,
    }),
    reaped: new Counter({
      name: 'events_ingest_bindings_reaped_total',
      help: 'Bindings removed from the broker because no client held them any more.',
      registers,
    }),
    handoffs: new Counter({
      name: 'events_ingest_handoffs_total',
      help: 'Times this ingest gave up its consumer (its deliveries back to the queue, a standby consuming) because a batch could not reach Redis for INGEST_HANDOFF_SECONDS.',
      registers,
    }),
    amqpConnects: new Counter({
      name: 'events_amqp_connects_total',
      help: 'Successful connections to RabbitMQ (the first one and every reconnect).',
      registers,
    }),
  };
}
