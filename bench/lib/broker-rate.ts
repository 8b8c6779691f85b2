/**
 * What RabbitMQ itself can do with bindings on this machine, the ceiling for the ingest's bind and
 * reap throughput: a durable queue (as the ingest's shared queue is) bound to one topic exchange
 * `count` times, then unbound, by a bare amqplib client issuing one operation at a time on each of
 * four channels (the ingest uses eight: it also waits on Redis between its unbinds, which a bare
 * client does not).
 */
import type { BenchContext } from './context.js';

export interface BrokerBindingRate {
  readonly bindings: number;
  readonly bindsPerSecond: number;
  readonly unbindsPerSecond: number;
}

const CHANNELS = 4;

export async function measureBrokerBindingRate(ctx: BenchContext, count: number): Promise<BrokerBindingRate> {
  const exchange = await ctx.topicExchange('raw-bind');
  const queue = ctx.queueName();
  const connection = ctx.amqpConnection;
  const setup = await connection.createChannel();
  await setup.assertQueue(queue, { durable: true });
  const channels = await Promise.all(Array.from({ length: CHANNELS }, () => connection.createChannel()));
  const each = (op: (ch: (typeof channels)[number], i: number) => Promise<unknown>) =>
    Promise.all(
      channels.map(async (ch, k) => {
        for (let i = k; i < count; i += CHANNELS) await op(ch, i);
      }),
    );
  try {
    let started = performance.now();
    await each((ch, i) => ch.bindQueue(queue, exchange, `bench.k${i}`));
    const bindsPerSecond = Math.round(count / ((performance.now() - started) / 1000));
    started = performance.now();
    await each((ch, i) => ch.unbindQueue(queue, exchange, `bench.k${i}`));
    const unbindsPerSecond = Math.round(count / ((performance.now() - started) / 1000));
    return { bindings: count, bindsPerSecond, unbindsPerSecond };
  } finally {
    await Promise.all(channels.map((ch) => ch.close().catch(() => undefined)));
    await setup.close().catch(() => undefined);
    await ctx.deleteQueue(queue);
    await ctx.deleteExchange(exchange);
  }
}
