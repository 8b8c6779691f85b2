import { Queue, QueueEvents, Worker, type Job } from 'bullmq';
import { bindingKey, names, type Binding, type Names } from '@events-proxy/protocol';
import { createLogger, errorText } from '@events-proxy/runtime';
import { withBindTimeout, type BindQueue } from '../bind-queue.js';
import { closeRedis, isReady, type DriverLogger, type RedisClient } from '../redis/client.js';
import { decodeBindFailure, encodeBindFailure } from './bind-failure.js';

export interface BullBindQueueOptions {
  /**
   * Needs `maxRetriesPerRequest: null` (BullMQ's rule); owned by the queue from now on. BullMQ
   * duplicates it for its blocking readers (QueueEvents, Worker).
   */
  readonly connection: RedisClient;
  readonly keyPrefix: string;
  /** Hash-tagged BullMQ prefix, required on a Redis Cluster (every key of a BullMQ script in one slot). */
  readonly hashTagged?: boolean;
  readonly logger?: DriverLogger;
  /** How long finished jobs are kept, so a waiter that looks late still reads the outcome. */
  readonly keepFinishedSeconds?: number;
  /**
   * Longest wait of BullMQ's blocking reads (default 4 s). BullMQ drops a blocking connection
   * whose read has not returned a second after this, so it also bounds how long a silent link
   * can hold the worker or the events reader (our PING watch cannot share a blocked connection).
   */
  readonly blockingTimeoutMs?: number;
}

/** How long after a request's deadline its wait for the job stops listening. */
const WAIT_UNHOOK_AFTER_MS = 1000;

/**
 * Bind requests as BullMQ jobs. Requests for a binding that is already queued or running join
 * that job (BullMQ deduplication on the binding key): a job id fixed per binding would instead make
 * a request after a finished job return the old outcome until that job is cleaned up.
 */
export class BullBindQueue implements BindQueue {
  private readonly connection: RedisClient;
  private readonly names: Names;
  private readonly logger: DriverLogger;
  private readonly keepFinishedSeconds: number;
  private readonly blockingTimeoutMs: number;
  private readonly queue: Queue<Binding>;
  private events: Promise<QueueEvents> | undefined;
  private worker: Worker<Binding> | undefined;
  private lastError = '';

  constructor(opts: BullBindQueueOptions) {
    this.connection = opts.connection;
    this.names = names(opts.keyPrefix, { hashTagged: opts.hashTagged });
    this.logger = opts.logger ?? createLogger('silent');
    this.keepFinishedSeconds = opts.keepFinishedSeconds ?? 60;
    this.blockingTimeoutMs = Math.max(1000, opts.blockingTimeoutMs ?? 4000);
    this.connection.on('ready', () => (this.lastError = ''));
    this.queue = new Queue<Binding>(this.names.bindQueue, {
      connection: this.connection,
      prefix: this.names.bullPrefix,
    });
    // Every waiting request listens for the queue's 'closing'; thousands may wait at once.
    this.queue.setMaxListeners(0);
    this.queue.on('error', (err) => this.logError('bind queue error', err));
  }

  request(binding: Binding, timeoutMs: number): Promise<void> {
    return withBindTimeout(this.addAndWait(binding, timeoutMs), binding, timeoutMs);
  }

  private async addAndWait(binding: Binding, timeoutMs: number): Promise<void> {
    const started = Date.now();
    const events = await this.queueEvents();
    const data: Binding = { exchange: binding.exchange, routingKeyPattern: binding.routingKeyPattern };
    const keep = { age: this.keepFinishedSeconds, count: 1000 };
    const job = await this.queue.add('bind', data, {
      deduplication: { id: Buffer.from(bindingKey(binding)).toString('base64url') },
      removeOnComplete: keep,
      removeOnFail: keep,
      attempts: 1,
    });
    // waitUntilFinished checks the job's state after it listens, so a job that finished before
    // that still resolves; its own ttl only unhooks the listeners. It runs past request()'s
    // deadline, so request()'s timer is always the one that decides a timeout.
    const ttl = Math.max(1, timeoutMs - (Date.now() - started)) + WAIT_UNHOOK_AFTER_MS;
    try {
      await job.waitUntilFinished(events, ttl);
    } catch (err) {
      throw decodeBindFailure(errorText(err));
    }
  }

  /**
   * One QueueEvents per queue object, started at the stream's current end: events after that are
   * read, and those before are seen by waitUntilFinished's state check, so none falls in between.
   */
  private queueEvents(): Promise<QueueEvents> {
    this.events ??= (async () => {
      const stream = `${this.names.bullPrefix}:${this.names.bindQueue}:events`;
      const [last] = await this.connection.xrevrange(stream, '+', '-', 'COUNT', 1);
      const events = new QueueEvents(this.names.bindQueue, {
        connection: this.connection,
        prefix: this.names.bullPrefix,
        lastEventId: last?.[0] ?? '0-0',
        blockingTimeout: this.blockingTimeoutMs,
      });
      events.setMaxListeners(0); // two listeners per waiting request
      events.on('error', (err) => this.logError('bind queue events error', err));
      await events.waitUntilReady();
      return events;
    })().catch((err: unknown) => {
      this.events = undefined;
      throw err;
    });
    return this.events;
  }

  async process(handler: (binding: Binding) => Promise<void>, concurrency: number): Promise<void> {
    if (this.worker) throw new Error('BullBindQueue.process() was already called');
    this.worker = new Worker<Binding>(
      this.names.bindQueue,
      async (job: Job<Binding>) => {
        try {
          await handler({ exchange: job.data.exchange, routingKeyPattern: job.data.routingKeyPattern });
        } catch (err) {
          throw new Error(encodeBindFailure(err), { cause: err });
        }
      },
      {
        connection: this.connection,
        prefix: this.names.bullPrefix,
        concurrency,
        drainDelay: Math.max(1, Math.floor(this.blockingTimeoutMs / 1000)),
      },
    );
    this.worker.on('error', (err) => this.logError('bind worker error', err));
    await this.worker.waitUntilReady();
  }

  isConnected(): boolean {
    return isReady(this.connection);
  }

  async close(): Promise<void> {
    await this.worker?.close();
    const events = await this.events?.catch(() => undefined);
    await events?.close();
    await this.queue.close();
    await closeRedis(this.connection);
  }

  /** BullMQ repeats its connections' errors on every retry: log each new one once per outage. */
  private logError(msg: string, err: Error): void {
    if (err.message === this.lastError) return;
    this.lastError = err.message;
    this.logger.warn(msg, { component: 'bind-queue', queue: this.names.bindQueue, error: err.message });
  }
}
