import { roleConfig, type CommonConfig, type EnvReader } from '@events-proxy/runtime';
import { MAX_FRAME_BYTES } from './router.js';
import { amqpVhost, defaultQueueName, pulseUrl, redactAmqpUrl } from './amqp-url.js';
import type { SharedQueueType } from './shared-queue.js';

export interface IngestConfig extends CommonConfig {
  /**
   * The broker's URLs, one per node of a RabbitMQ cluster (or just one), tried in turn on every
   * (re)connect. They hold credentials: log them only through redactAmqpUrl(s).
   */
  readonly amqpUrls: readonly string[];
  /** The first of `amqpUrls` (it names the default queue). Holds credentials. */
  readonly amqpUrl: string;
  /** The cap on the wait between reconnect rounds when no broker answers. */
  readonly amqpReconnectMaxDelayMs: number;
  /** `quorum` replicates the shared queue over a cluster's nodes; `classic` lives on one node. */
  readonly queueType: SharedQueueType;
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
  /** A message whose body or rendered frame is larger is not published on the bus (MAX_MESSAGE_BYTES). */
  readonly maxMessageBytes: number;
  /** Bind requests handled at once by this replica. */
  readonly bindConcurrency: number;
  /**
   * INGEST_HANDOFF_SECONDS in ms: a batch that cannot reach Redis for this long gives the shared
   * queue to a standby ingest (0: never).
   */
  readonly handoffMs: number;
}

export const DEFAULT_AMQP_URL = 'amqp://guest:guest@localhost:5672';

function readIngestConfig(env: EnvReader, common: CommonConfig): IngestConfig {
  const amqpUrls = readAmqpUrls(env);
  const amqpUrl = amqpUrls[0]!;
  return {
    ...common,
    amqpUrls,
    amqpUrl,
    amqpReconnectMaxDelayMs: env.seconds('AMQP_RECONNECT_MAX_DELAY_SECONDS', 5, 0.5, 300),
    queueName: env.string('AMQP_QUEUE', defaultQueueName(amqpUrl)),
    queueType: env.oneOf('AMQP_QUEUE_TYPE', ['classic', 'quorum'], 'classic'),
    prefetch: env.int('AMQP_PREFETCH', 1000, 1, 65_535),
    queueMaxLength: env.int('AMQP_QUEUE_MAX_LENGTH', 100_000, 1),
    queueMessageTtlMs: env.seconds('AMQP_QUEUE_MESSAGE_TTL_SECONDS', 300, 1, 86_400 * 7),
    singleActiveConsumer: env.bool('AMQP_SINGLE_ACTIVE_CONSUMER', true),
    bindConcurrency: env.int('BIND_CONCURRENCY', 32, 1, 256),
    handoffMs: readHandoff(env),
    // Redis closes a subscriber whose output buffer passes 32 MiB (its default pub/sub hard limit):
    // a larger frame would cut every edge off the bus, so the cap stays well under it.
    maxMessageBytes: env.int('MAX_MESSAGE_BYTES', MAX_FRAME_BYTES, 1024, 24 * 1024 * 1024),
  };
}

/** AMQP_URL (one URL or a comma list), else the original service's PULSE_* variables, else the local default. */
function readAmqpUrls(env: EnvReader): string[] {
  const explicit = env.list('AMQP_URL', []);
  const username = env.string('PULSE_USERNAME');
  const password = env.string('PULSE_PASSWORD');
  const hostname = env.string('PULSE_HOSTNAME');
  const vhost = env.string('PULSE_VHOST');
  if (explicit.length > 0) return checkAmqpUrls(env, explicit);
  if (hostname === undefined) return [DEFAULT_AMQP_URL];
  const missing = [username === undefined && 'PULSE_USERNAME', password === undefined && 'PULSE_PASSWORD'];
  for (const name of missing) {
    if (name) env.problem(`${name} is required when PULSE_HOSTNAME is set (and AMQP_URL is not)`);
  }
  return [pulseUrl({ hostname, username: username ?? '', password: password ?? '', vhost })];
}

/** Checks each URL of AMQP_URL; problems name an entry by position and redacted form, never its text. */
function checkAmqpUrls(env: EnvReader, urls: string[]): string[] {
  const entry = (i: number) => (urls.length > 1 ? `AMQP_URL entry ${i + 1} of ${urls.length}` : 'AMQP_URL');
  const valid: string[] = [];
  urls.forEach((url, i) => {
    let protocol: string;
    try {
      protocol = new URL(url).protocol;
    } catch {
      env.problem(`${entry(i)}: expected a URL starting with amqp:// or amqps://`);
      return;
    }
    if (protocol !== 'amqp:' && protocol !== 'amqps:') {
      env.problem(`${entry(i)}: expected a URL starting with amqp:// or amqps://`);
    } else valid.push(url);
  });
  const redacted = valid.map(redactAmqpUrl);
  const repeated = redacted.filter((r, i) => redacted.indexOf(r) !== i);
  if (repeated.length > 0) env.problem(`AMQP_URL lists ${repeated[0]} more than once`);
  const vhosts = new Set(valid.map(amqpVhost));
  if (vhosts.size > 1) {
    env.problem(
      `AMQP_URL: every URL must name the same virtual host (the nodes of one RabbitMQ cluster); found ${[...vhosts].join(', ')}`,
    );
  }
  return urls;
}

const ingestConfig = roleConfig('ingest', readIngestConfig);

/** Reads the ingest role's configuration; throws a ConfigError listing every problem at once. */
export const loadIngestConfig = ingestConfig.load;

/** Every environment variable the ingest role reads. */
export const ENV_NAMES = ingestConfig.envNames;

/** INGEST_HANDOFF_SECONDS: 0 (never), or at least 2 s (a late publish must be recognisable as late at the edges). */
function readHandoff(env: EnvReader): number {
  const ms = env.seconds('INGEST_HANDOFF_SECONDS', 10, 0, 3_600);
  if (ms > 0 && ms < 2000) {
    env.problem('INGEST_HANDOFF_SECONDS must be 0 (never hand off) or at least 2');
    return 10_000;
  }
  return ms;
}
