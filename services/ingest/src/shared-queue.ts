import type { Channel } from 'amqplib';
import type { Logger } from '@events-proxy/runtime';

export interface SharedQueueOptions {
  readonly name: string;
  readonly maxLength: number;
  readonly messageTtlMs: number;
  readonly singleActiveConsumer: boolean;
}

/**
 * The shared queue's arguments. It is bounded both ways (length, dropping the oldest, and age)
 * so that an ingest outage cannot fill the broker; single-active-consumer keeps message order
 * with several replicas and gives fail-over.
 */
export function sharedQueueArguments(opts: SharedQueueOptions): Record<string, unknown> {
  return {
    'x-max-length': opts.maxLength,
    'x-overflow': 'drop-head',
    'x-message-ttl': opts.messageTtlMs,
    ...(opts.singleActiveConsumer ? { 'x-single-active-consumer': true } : {}),
  };
}

/** A queue already declared with other arguments; says what the operator should do. */
export class SharedQueueMismatchError extends Error {
  constructor(queue: string, brokerMessage: string) {
    super(
      `The queue \`${queue}\` already exists with other arguments (${brokerMessage}). ` +
        `Delete it (\`rabbitmqctl delete_queue ${queue}\`, or in the management UI) so it is ` +
        `re-declared with the current settings, or set AMQP_QUEUE to another name.`,
    );
    this.name = 'SharedQueueMismatchError';
  }
}

/**
 * Declares the durable shared queue. On a mismatch RabbitMQ closes the channel with
 * PRECONDITION_FAILED (406), so use a channel that may be lost.
 */
export async function declareSharedQueue(
  ch: Channel,
  opts: SharedQueueOptions,
  logger: Logger,
): Promise<void> {
  try {
    await ch.assertQueue(opts.name, { durable: true, arguments: sharedQueueArguments(opts) });
  } catch (err) {
    if ((err as { code?: unknown }).code === 406) {
      const mismatch = new SharedQueueMismatchError(opts.name, (err as Error).message);
      logger.error(mismatch.message, { queue: opts.name });
      throw mismatch;
    }
    throw err;
  }
}
