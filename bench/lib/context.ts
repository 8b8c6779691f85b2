/**
 * What every scenario shares in one run: options, a run id for unique names, the broker and Redis
 * (admin connections, their pids for CPU figures), and clean-up of everything created.
 */
import fs from 'node:fs';
import path from 'node:path';
import amqp from 'amqplib';
import { Redis } from 'ioredis';
import { stopAllChildren } from './children.js';
import { findPid } from './proc-stats.js';
import { TMP_DIR } from './paths.js';
import type { BalancePolicy } from '../../test/support/tcp-balancer.js';

/** The real services, the Node reference broadcaster, the C reference broadcaster. */
export type TargetKind = 'edge' | 'reference' | 'c-reference';

/** Every target kind, in the order a run takes them. */
export const TARGET_KINDS: readonly TargetKind[] = ['edge', 'reference', 'c-reference'];

export interface BenchOptions {
  readonly quick: boolean;
  /** Run the edge and ingest with --cpu-prof and summarise the profiles. */
  readonly profile: boolean;
  /** Edge processes per edge system (clients are spread over them). */
  readonly edges: number;
  readonly targets: readonly TargetKind[];
  /** Overrides of a scenario's own parameters (rolling-restart reads them), from the command line. */
  readonly clients?: number;
  readonly v1Clients?: number;
  readonly drainSeconds?: number;
  /** Messages per second. */
  readonly rate?: number;
  /** scale-up: routing keys the clients are spread over (each client binds one). */
  readonly groups?: number;
  /** The edges' REBALANCE_TOLERANCE (scale-up, rolling-restart; 0: rebalancing off). */
  readonly rebalanceTolerance?: number;
  /** The edges' REBALANCE_RATE_PER_SECOND (scale-up, rolling-restart). */
  readonly rebalanceRate?: number;
  /** scale-up, rolling-restart: how long to wait for the tier to balance (s). */
  readonly balanceTimeout?: number;
  /** scale-up: how the balancers pick an edge for a new connection (default round robin). */
  readonly balancerPolicy?: BalancePolicy;
  readonly amqpUrl: string;
  readonly redisUrl: string;
  /** Progress lines (stderr by default). */
  readonly log: (line: string) => void;
}

export class BenchContext {
  readonly runId = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
  readonly runDir: string;
  readonly redis: Redis;
  /** Pids of the shared services and of this runner, for CPU figures (absent when not found). */
  readonly infraPids: Record<string, number> = {};
  private readonly exchanges = new Set<string>();
  private readonly queues = new Set<string>();
  private counter = 0;

  private constructor(
    readonly options: BenchOptions,
    /** The run's own AMQP connection (setup, clean-up, raw broker measurements). */
    readonly amqpConnection: amqp.ChannelModel,
  ) {
    this.runDir = path.join(TMP_DIR, `run-${this.runId}`);
    fs.mkdirSync(this.runDir, { recursive: true });
    this.redis = new Redis(options.redisUrl);
  }

  static async create(options: BenchOptions): Promise<BenchContext> {
    const ctx = new BenchContext(options, await amqp.connect(options.amqpUrl));
    ctx.infraPids.harness = process.pid;
    const info = await ctx.redis.info('server');
    const redisPid = Number(/process_id:(\d+)/.exec(info)?.[1]);
    if (redisPid) ctx.infraPids.redis = redisPid;
    const rabbitPid = findPid(['beam.smp', 'rabbit']);
    if (rabbitPid) ctx.infraPids.rabbitmq = rabbitPid;
    return ctx;
  }

  log(line: string): void {
    this.options.log(line);
  }

  /** A name unique to this run: `<prefix><runId>-<n>`. */
  uniqueName(prefix: string): string {
    return `${prefix}${this.runId}-${++this.counter}`;
  }

  /** The Redis key prefix of one service installation started by this run. */
  keyPrefix(): string {
    return `${this.uniqueName('bench-')}:`;
  }

  /** A fresh topic exchange under exchange/bench/, deleted at the end of the run. */
  async topicExchange(label: string): Promise<string> {
    const name = `exchange/bench/${this.uniqueName(`${label}-`)}`;
    const ch = await this.amqpConnection.createChannel();
    await ch.assertExchange(name, 'topic', { durable: false, autoDelete: false });
    await ch.close();
    this.exchanges.add(name);
    return name;
  }

  /** A queue name for an ingest, deleted at the end of the run. */
  queueName(): string {
    const name = `queue/bench/${this.uniqueName('q-')}`;
    this.queues.add(name);
    return name;
  }

  async deleteExchange(name: string): Promise<void> {
    const ch = await this.amqpConnection.createChannel();
    await ch.deleteExchange(name).catch(() => undefined);
    await ch.close().catch(() => undefined);
    this.exchanges.delete(name);
  }

  async deleteQueue(name: string): Promise<void> {
    // A failed delete closes the channel, so each gets its own.
    const ch = await this.amqpConnection.createChannel();
    ch.on('error', () => undefined);
    await ch.deleteQueue(name).catch(() => undefined);
    await ch.close().catch(() => undefined);
    this.queues.delete(name);
  }

  /** Stops every child process, then removes this run's exchanges, queues and Redis keys. */
  async close(): Promise<void> {
    await stopAllChildren();
    for (const q of [...this.queues]) await this.deleteQueue(q);
    for (const ex of [...this.exchanges]) await this.deleteExchange(ex);
    await this.amqpConnection.close().catch(() => undefined);
    let cursor = '0';
    do {
      const [next, keys] = await this.redis.scan(cursor, 'MATCH', `bench-${this.runId}-*`, 'COUNT', 1000);
      if (keys.length > 0) await this.redis.unlink(...keys);
      cursor = next;
    } while (cursor !== '0');
    this.redis.disconnect();
  }
}
