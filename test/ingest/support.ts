/** Shared set-up for the ingest suites: an ingest on the memory drivers, a recording bus, log capture. */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { Registry } from 'prom-client';
import {
  ChannelsFailed,
  MemoryBindQueue,
  MemoryHistory,
  MemoryLeaseStore,
  type Bus,
  type BusHandler,
  type BusMessage,
} from '@events-proxy/cluster';
import {
  createIngest,
  loadIngestConfig,
  type Ingest,
  type IngestConfig,
  type IngestDeps,
} from '@events-proxy/ingest';
import { createLogger, type Logger } from '@events-proxy/runtime';
import { AMQP_URL } from '../support/services.js';
import { waitUntil } from '../support/wait.js';

const run = promisify(execFile);

export const randomName = (): string => randomBytes(5).toString('hex');

/** A bus that records every publish call; `failing` makes publishes reject (Redis down). */
export class RecordingBus implements Bus {
  readonly calls: BusMessage[][] = [];
  failing = false;
  failures = 0;

  get messages(): BusMessage[] {
    return this.calls.flat();
  }

  /** Channels whose messages fail while the others publish (a Redis Cluster shard failing over). */
  readonly failingChannels = new Set<string>();

  async publish(messages: readonly BusMessage[]): Promise<void> {
    if (this.failing) {
      this.failures++;
      throw new Error('bus down (test)');
    }
    const ok = messages.filter(
      (m) => !this.failingChannels.has(m.channel) && !this.stalledChannels.has(m.channel),
    );
    if (ok.length > 0) this.calls.push(ok);
    if (ok.length < messages.length) {
      this.failures++;
      const failed = new Set(messages.filter((m) => !ok.includes(m)).map((m) => m.channel));
      const pending = new Map<string, Promise<boolean>>();
      for (const channel of failed) {
        if (!this.stalledChannels.has(channel)) continue;
        const held = messages.filter((m) => m.channel === channel);
        this.stalledPublishes++;
        pending.set(
          channel,
          new Promise<boolean>((resolve) =>
            this.stalled.push(() => {
              this.calls.push(held);
              resolve(true);
            }),
          ),
        );
      }
      throw new ChannelsFailed(failed, new Error('CLUSTERDOWN The cluster is down (test)'), pending);
    }
  }

  /** Channels whose publishes hang (a shard failing over) until `releaseStalled()`, then succeed. */
  readonly stalledChannels = new Set<string>();
  stalledPublishes = 0;
  private stalled: (() => void)[] = [];

  /** The hung publishes go through (as a Redis Cluster client sends them to the promoted replica). */
  releaseStalled(): void {
    this.stalledChannels.clear();
    for (const release of this.stalled.splice(0)) release();
  }
  async subscribe(): Promise<void> {}
  async unsubscribe(): Promise<void> {}
  onMessage(_handler: BusHandler): void {}
  onResubscribed(): void {}
  isConnected(): boolean {
    return !this.failing;
  }
  async close(): Promise<void> {}
}

export interface LogLine {
  readonly level: string;
  readonly msg: string;
  readonly [field: string]: unknown;
}

export function captureLogger(): { logger: Logger; lines: LogLine[]; text: () => string } {
  const lines: LogLine[] = [];
  const raw: string[] = [];
  const logger = createLogger('debug', {}, (line) => {
    raw.push(line);
    lines.push(JSON.parse(line) as LogLine);
  });
  return { logger, lines, text: () => raw.join('') };
}

export interface IngestFixture {
  readonly ingest: Ingest;
  readonly config: IngestConfig;
  readonly bus: RecordingBus;
  readonly store: MemoryLeaseStore;
  readonly bindQueue: MemoryBindQueue;
  readonly registry: Registry;
  readonly logs: LogLine[];
  readonly logText: () => string;
  stop(): Promise<void>;
}

/** Starts an ingest with its own queue name and key prefix (pass `env` to override settings). */
export async function startIngest(
  env: Record<string, string> = {},
  extra: Partial<Pick<IngestDeps, 'reconnect' | 'bindingChanges'>> & {
    config?: Partial<IngestConfig>;
    /** Shared by replicas of one installation. */
    store?: MemoryLeaseStore;
  } = {},
): Promise<IngestFixture> {
  const id = randomName();
  const config: IngestConfig = {
    ...loadIngestConfig(
      { AMQP_URL, AMQP_QUEUE: `queue/guest/test-ingest-${id}`, KEY_PREFIX: `test-${id}:`, ...env },
      { requireRedis: false },
    ),
    ...extra.config, // e.g. leases shorter than BINDING_LEASE_SECONDS allows
  };
  const bus = new RecordingBus();
  const store = extra.store ?? new MemoryLeaseStore();
  const bindQueue = new MemoryBindQueue();
  const registry = new Registry();
  const { logger, lines, text } = captureLogger();
  const ingest = createIngest({
    config,
    bus,
    store,
    bindQueue,
    history: new MemoryHistory({ retentionMs: 300_000, maxMessages: 1000 }),
    logger,
    registry,
    reconnect: extra.reconnect,
    bindingChanges: extra.bindingChanges,
  });
  await ingest.start();
  return {
    ingest,
    config,
    bus,
    store,
    bindQueue,
    registry,
    logs: lines,
    logText: text,
    stop: async () => {
      await ingest.stop();
      await bindQueue.close();
    },
  };
}

export const isReady = (f: IngestFixture): boolean => f.ingest.readiness().every((c) => c.ok());

export async function waitConnected(f: IngestFixture, ms = 10_000): Promise<void> {
  await waitUntil(() => isReady(f), 'the ingest to connect to RabbitMQ', ms);
}

/** A metric's value (unlabelled, or the series with `labels`). */
export async function metricValue(
  registry: Registry,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const metric = registry.getSingleMetric(name);
  if (!metric) throw new Error(`no metric ${name}`);
  const { values } = await metric.get();
  const series = values.find((v) => Object.entries(labels).every(([k, val]) => v.labels[k] === val));
  return series?.value ?? 0;
}

/** The arguments and durability of a queue, as RabbitMQ reports them. */
export async function queueInfo(
  name: string,
  node?: string,
): Promise<{ durable: boolean; arguments: Record<string, unknown> } | undefined> {
  const { stdout } = await run('rabbitmqctl', [
    ...(node ? ['-n', node] : []),
    '-q',
    'list_queues',
    'name',
    'durable',
    'arguments',
    '--formatter',
    'json',
  ]);
  const queues = JSON.parse(stdout) as {
    name: string;
    durable: boolean;
    arguments: [string, string, unknown][];
  }[];
  const q = queues.find((x) => x.name === name);
  if (!q) return undefined;
  return { durable: q.durable, arguments: Object.fromEntries(q.arguments.map(([k, , v]) => [k, v])) };
}
