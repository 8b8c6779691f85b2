import { EnvReader, readCommonConfig, checkRedisConfigured, type CommonConfig } from '@events-proxy/runtime';
import { defaultQueueName, pulseUrl } from './amqp-url.js';

export interface IngestConfig extends CommonConfig {
  /** Holds credentials: log it only through redactAmqpUrl. */
  readonly amqpUrl: string;
  /** The one shared queue every binding routes into. */
  readonly queueName: string;
  /** Unacknowledged deliveries the broker may send ahead of the acks. */
  readonly prefetch: number;
  /** x-max-length: beyond it the oldest messages are dropped (x-overflow drop-head). */
  readonly queueMaxLength: number;
  /** x-message-ttl: a message older than this is dropped unread. */
  readonly queueMessageTtlMs: number;
  /** x-single-active-consumer: one replica consumes at a time, which keeps message order. */
  readonly singleActiveConsumer: boolean;
  /** Bind requests handled at once by this replica. */
  readonly bindConcurrency: number;
}

export const DEFAULT_AMQP_URL = 'amqp://guest:guest@localhost:5672';

/** Reads the ingest role's configuration; throws a ConfigError listing every problem at once. */
export function loadIngestConfig(
  env: NodeJS.ProcessEnv = process.env,
  opts: { requireRedis?: boolean } = {},
): IngestConfig {
  const reader = new EnvReader(env);
  const config = readIngestConfig(reader, opts.requireRedis !== false);
  reader.done();
  return config;
}

function readIngestConfig(env: EnvReader, requireRedis: boolean): IngestConfig {
  const common = readCommonConfig(env);
  if (requireRedis) checkRedisConfigured(env, common, 'ingest');
  const amqpUrl = readAmqpUrl(env);
  return {
    ...common,
    amqpUrl,
    queueName: env.string('AMQP_QUEUE', defaultQueueName(amqpUrl)),
    prefetch: env.int('AMQP_PREFETCH', 1000, 1, 65_535),
    queueMaxLength: env.int('AMQP_QUEUE_MAX_LENGTH', 100_000, 1),
    queueMessageTtlMs: env.seconds('AMQP_QUEUE_MESSAGE_TTL_SECONDS', 300, 1, 86_400 * 7),
    singleActiveConsumer: env.bool('AMQP_SINGLE_ACTIVE_CONSUMER', true),
    bindConcurrency: env.int('BIND_CONCURRENCY', 32, 1, 256),
  };
}

/** AMQP_URL, else the original service's PULSE_* variables, else the local default. */
function readAmqpUrl(env: EnvReader): string {
  const explicit = env.url('AMQP_URL', ['amqp:', 'amqps:']);
  const username = env.string('PULSE_USERNAME');
  const password = env.string('PULSE_PASSWORD');
  const hostname = env.string('PULSE_HOSTNAME');
  const vhost = env.string('PULSE_VHOST');
  if (explicit !== undefined) return explicit;
  if (hostname === undefined) return DEFAULT_AMQP_URL;
  const missing = [username === undefined && 'PULSE_USERNAME', password === undefined && 'PULSE_PASSWORD'];
  for (const name of missing) {
    if (name) env.problem(`${name} is required when PULSE_HOSTNAME is set (and AMQP_URL is not)`);
  }
  return pulseUrl({ hostname, username: username ?? '', password: password ?? '', vhost });
}

/** Every environment variable the ingest role reads, taken from the reader so it cannot drift. */
export const ENV_NAMES: readonly string[] = (() => {
  const reader = new EnvReader({});
  readIngestConfig(reader, true);
  return Object.freeze([...reader.names]);
})();
