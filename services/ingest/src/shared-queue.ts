import type { Channel } from 'amqplib';
import type { Logger } from '@events-proxy/runtime';

/** `classic`: lives on one broker node. `quorum`: replicated (Raft) over a cluster's nodes. */
export type SharedQueueType = 'classic' | 'quorum';

export interface SharedQueueOptions {
  readonly name: string;
  readonly type: SharedQueueType;
  readonly maxLength: number;
  readonly messageTtlMs: number;
  readonly singleActiveConsumer: boolean;
}

/**
 * The shared queue's arguments. It is bounded both ways (length, dropping the oldest, and age)
 * so that an ingest outage cannot fill the broker; single-active-consumer keeps message order
 * with several replicas and gives fail-over. RabbitMQ 3.10 accepts all of these on a quorum
 * queue too. A classic queue is declared without `x-queue-type`, as before quorum was offered, so
 * existing queues still match.
 */
export function sharedQueueArguments(opts: SharedQueueOptions): Record<string, unknown> {
  return {
    ...(opts.type === 'quorum' ? { 'x-queue-type': 'quorum' } : {}),
    'x-max-length': opts.maxLength,
    'x-overflow': 'drop-head',
    'x-message-ttl': opts.messageTtlMs,
    ...(opts.singleActiveConsumer ? { 'x-single-active-consumer': true } : {}),
  };
}

/** A queue already declared with other arguments; says what the operator should do. */
export class SharedQueueMismatchError extends Error {
  constructor(queue: string, brokerMessage: string) {
    const typeChange = /x-queue-type/.test(brokerMessage)
      ? ' RabbitMQ cannot change an existing queue between classic and quorum (AMQP_QUEUE_TYPE).'
      : '';
    super(
      `The queue \`${queue}\` already exists with other arguments (${brokerMessage}).${typeChange} ` +
        `Delete it (\`rabbitmqctl delete_queue ${queue}\`, or in the management UI; the messages ` +
        `waiting in it are lost) so it is re-declared with the current settings, or set AMQP_QUEUE ` +
        `to another name.`,
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
