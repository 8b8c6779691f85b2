/**
 * The benchmark harness as the smoke tests use it: quick sizes, no profiles, against the real
 * services (built dist/) on the machine's Redis and RabbitMQ. Registers the before/after hooks of
 * the calling suite and returns the context they made.
 */
import { BenchContext, type TargetKind } from '../../bench/lib/context.js';
import { AMQP_URL, REDIS_URL, needRabbit, needRedis } from '../support/services.js';

export function quickBench(opts: { edges: number; targets: readonly TargetKind[] }): () => BenchContext {
  let ctx: BenchContext | undefined;
  before(async () => {
    await needRabbit();
    await needRedis();
    ctx = await BenchContext.create({
      quick: true,
      profile: false,
      edges: opts.edges,
      targets: [...opts.targets],
      amqpUrl: AMQP_URL,
      redisUrl: REDIS_URL,
      log: () => undefined,
    });
  });
  after(async () => {
    await ctx?.close();
  });
  return () => {
    if (ctx === undefined) throw new Error('the bench context is made in before()');
    return ctx;
  };
}
