export { createIngest, type Ingest, type IngestDeps } from './ingest.js';
export { loadIngestConfig, ENV_NAMES, DEFAULT_AMQP_URL, type IngestConfig } from './config.js';
export { redactAmqpUrl, redactAmqpUrls, withDefaultHeartbeat } from './amqp-url.js';
export { MAX_FRAME_BYTES } from './router.js';
export { createIngestMetrics } from './metrics.js';
export {
  ReconnectingAmqpConnection,
  reconnectDelayMs,
  DEFAULT_RECONNECT_MAX_MS,
  DEFAULT_HEARTBEAT_SECONDS,
  type AmqpConnectionOptions,
} from './amqp-connection.js';
export { sharedQueueArguments, type SharedQueueType } from './shared-queue.js';
