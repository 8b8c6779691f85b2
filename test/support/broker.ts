/** Test-side RabbitMQ access: declare exchanges, publish like a Pulse publisher, inspect bindings. */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import amqp from 'amqplib';
import { AMQP_URL } from './services.js';

const run = promisify(execFile);

export class TestBroker {
  private constructor(
    private readonly conn: amqp.ChannelModel,
    private readonly ch: amqp.ConfirmChannel,
  ) {}

  private readonly exchanges: string[] = [];

  static async connect(url = AMQP_URL): Promise<TestBroker> {
    const conn = await amqp.connect(url);
    return new TestBroker(conn, await conn.createConfirmChannel());
  }

  async topicExchange(name: string): Promise<string> {
    await this.ch.assertExchange(name, 'topic', { durable: false, autoDelete: false });
    this.exchanges.push(name);
    return name;
  }

  /** Publishes and waits for the broker's confirm. `cc` becomes the CC header. */
  async publish(
    exchange: string,
    routingKey: string,
    body: unknown,
    opts: { cc?: string[]; raw?: Buffer } = {},
  ): Promise<void> {
    const content = opts.raw ?? Buffer.from(JSON.stringify(body));
    this.ch.publish(exchange, routingKey, content, opts.cc ? { CC: opts.cc } : {});
    await this.ch.waitForConfirms();
  }

  /** Publishes every message, then waits once for the broker's confirms (a burst). */
  async publishAll(
    exchange: string,
    messages: readonly { routingKey: string; body: unknown }[],
  ): Promise<void> {
    for (const m of messages) this.ch.publish(exchange, m.routingKey, Buffer.from(JSON.stringify(m.body)));
    await this.ch.waitForConfirms();
  }

  async deleteQueue(name: string): Promise<void> {
    await this.ch.deleteQueue(name).catch(() => undefined);
  }

  async close(): Promise<void> {
    for (const ex of this.exchanges) await this.ch.deleteExchange(ex).catch(() => undefined);
    await this.conn.close().catch(() => undefined);
  }
}

/** The arguments of a `rabbitmqctl` binding listing that `bindingsIn` reads. */
export const LIST_BINDINGS_ARGS = [
  '-q',
  'list_bindings',
  'source_name',
  'destination_name',
  'routing_key',
  '--no-table-headers',
] as const;

/** The routing keys bound from `exchange` to `queue` in a listing made with LIST_BINDINGS_ARGS. */
export function bindingsIn(listing: string, exchange: string, queue: string): string[] {
  return listing
    .split('\n')
    .map((l) => l.split('\t'))
    .filter(([src, dst]) => src === exchange && dst === queue)
    .map(([, , key]) => key ?? '');
}

/**
 * The routing keys bound from `exchange` to `queue`, as RabbitMQ reports them (the machine's
 * broker, or the named node).
 */
export async function brokerBindings(exchange: string, queue: string, node?: string): Promise<string[]> {
  const { stdout } = await run('rabbitmqctl', [
    ...(node === undefined ? [] : ['-n', node]),
    ...LIST_BINDINGS_ARGS,
  ]);
  return bindingsIn(stdout, exchange, queue);
}
