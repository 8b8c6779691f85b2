/**
 * Scenario 6, ingest throughput: messages per second from AMQP to Redis, against a bare amqplib
 * consume-and-ack loop draining the same queue in the same run.
 *
 * The ingest's durable shared queue is bound through a real client, then every service is
 * stopped (the lease is long, so the binding stays) and the queue is filled with N messages.
 * The baseline drains it; the queue is filled again, and a fresh ingest drains it while a Redis
 * subscriber counts its frames. Both rates run from the first to the last message, so start-up
 * is not counted.
 */
import path from 'node:path';
import amqp from 'amqplib';
import { names } from '@events-proxy/protocol';
import { spawnChild } from '../lib/children.js';
import type { BenchContext } from '../lib/context.js';
import { JsonLines } from '../lib/json-lines.js';
import { DEFAULT_PAYLOAD_BYTES, SequencedSource, sleep } from '../lib/load.js';
import { BENCH_DIR, ROOT } from '../lib/paths.js';
import { CpuMeter, round } from '../lib/proc-stats.js';
import { figure, type ScenarioResult } from '../lib/results.js';
import { ClientGroup } from '../lib/sse-clients.js';
import { connectPath, startService, startTarget, type Target } from '../lib/targets.js';
import { transpileEntry } from '../lib/transpile.js';
import type { Scenario } from './scenario.js';
import { errorDetail } from '@events-proxy/runtime';

export interface IngestThroughputParams {
  readonly messages: number;
  readonly payloadBytes: number;
  /** The ingest's AMQP_PREFETCH, used by the baseline too. */
  readonly prefetch: number;
}

export interface DrainMeasure {
  /** Messages drained (for the ingest: frames seen on Redis, extras included). */
  readonly messages: number;
  readonly messagesPerSecond: number;
  /** CPU per message of the draining process, microseconds. */
  readonly cpuUsPerMessage: number;
}

export interface IngestThroughputMeasure {
  readonly ingest: DrainMeasure;
  readonly bareConsumer: DrainMeasure;
}

interface DrainTimes {
  readonly count: number;
  readonly firstNs: number;
  readonly lastNs: number;
}

interface CounterLine extends Partial<DrainTimes> {
  readonly subscribed?: boolean;
  readonly first?: boolean;
  /** Frames counted in all, a second after the expected count was reached. */
  readonly total?: number;
}

const rateOf = (t: DrainTimes) => Math.round((t.count - 1) / ((t.lastNs - t.firstNs) / 1e9));

/** Publishes `count` messages with confirms, then waits until the queue holds them all. */
async function fillQueue(
  url: string,
  exchange: string,
  queue: string,
  count: number,
  bytes: number,
): Promise<void> {
  const connection = await amqp.connect(url);
  try {
    const channel = await connection.createConfirmChannel();
    const before = (await channel.checkQueue(queue)).messageCount;
    if (before !== 0)
      throw new Error(`the queue ${queue} should be empty before filling, but holds ${before}`);
    const source = new SequencedSource(['bench.ingest.k'], bytes);
    for (let sent = 0; sent < count;) {
      for (const m of source.next(Math.min(1000, count - sent)))
        channel.publish(exchange, m.routingKey, m.body);
      await channel.waitForConfirms();
      sent = source.count;
    }
    for (let i = 0; i < 100; i++) {
      const { messageCount } = await channel.checkQueue(queue);
      if (messageCount >= count) return;
      await sleep(100);
    }
    throw new Error(`the queue ${queue} did not fill up to ${count} messages`);
  } finally {
    await connection.close().catch(() => undefined);
  }
}

async function runBareConsumer(
  ctx: BenchContext,
  queue: string,
  p: IngestThroughputParams,
): Promise<DrainMeasure> {
  const entry = transpileEntry(path.join(BENCH_DIR, 'reference', 'amqp-drain.ts'));
  const child = spawnChild('amqp-drain', process.execPath, [entry], {
    cwd: ROOT,
    env: {
      ...process.env,
      AMQP_URL: ctx.options.amqpUrl,
      QUEUE: queue,
      COUNT: String(p.messages),
      PREFETCH: String(p.prefetch),
    },
  });
  const meter = new CpuMeter({ drain: child.pid });
  const lines = new JsonLines<DrainTimes>(child);
  const times = await lines.next((l) => l.count !== undefined, 0, 300_000, 'the drain result');
  const cpu = meter.seconds('drain');
  await child.stop(); // it has closed its connection before printing
  return {
    messages: times.count,
    messagesPerSecond: rateOf(times),
    cpuUsPerMessage: round((cpu / times.count) * 1e6, 1),
  };
}

async function runIngest(
  ctx: BenchContext,
  target: Target,
  channel: string,
  p: IngestThroughputParams,
): Promise<DrainMeasure> {
  const entry = transpileEntry(path.join(BENCH_DIR, 'reference', 'redis-count.ts'));
  const counter = spawnChild('redis-count', process.execPath, [entry], {
    cwd: ROOT,
    env: { ...process.env, REDIS_URL: ctx.options.redisUrl, CHANNEL: channel, COUNT: String(p.messages) },
  });
  const lines = new JsonLines<CounterLine>(counter);
  try {
    await lines.next((l) => l.subscribed === true, 0, 10_000, 'the subscription');
    const ingest = await startService(
      ctx,
      'ingest',
      'ingest-drain',
      target.serviceEnv!,
      'ingest-throughput-edge',
    );
    try {
      await lines.next((l) => l.first === true, 0, 60_000, 'the first frame');
      const meter = new CpuMeter({ ingest: ingest.child.pid });
      const times = (await lines.next((l) => l.count !== undefined, 0, 300_000, 'every frame')) as DrainTimes;
      const cpu = meter.seconds('ingest');
      const { total } = await lines.next((l) => l.total !== undefined, 0, 10_000, 'the total');
      return {
        messages: total!,
        messagesPerSecond: rateOf(times),
        cpuUsPerMessage: round((cpu / times.count) * 1e6, 1),
      };
    } finally {
      await ingest.child.stop();
    }
  } finally {
    await counter.stop();
  }
}

export async function measureIngestThroughput(
  ctx: BenchContext,
  p: IngestThroughputParams,
): Promise<IngestThroughputMeasure> {
  const env = {
    BINDING_LEASE_SECONDS: '3600',
    AMQP_PREFETCH: String(p.prefetch),
    AMQP_QUEUE_MAX_LENGTH: String(p.messages * 2),
  };
  const target = await startTarget(ctx, 'edge', { label: 'ingest-throughput-edge', env, edges: 1 });
  const exchange = await ctx.topicExchange('ingest');
  try {
    const binding = { exchange, routingKeyPattern: 'bench.ingest.#' };
    const holder = ClientGroup.start({ ports: target.ports, path: connectPath([binding]), conns: 1 });
    const held = await holder.settled(60_000);
    await holder.finish();
    if (held.ready !== 1) throw new Error(`the binding was not put in place: ${held.firstError}`);
    // Nothing but the measured process may consume or subscribe from here on.
    await Promise.all(target.servers.map((s) => s.stop()));
    await target.ingest!.stop();
    const queue = target.queue!;

    await fillQueue(ctx.options.amqpUrl, exchange, queue, p.messages, p.payloadBytes);
    ctx.log(`    bare amqplib consumer draining ${p.messages} messages`);
    const bareConsumer = await runBareConsumer(ctx, queue, p);

    await fillQueue(ctx.options.amqpUrl, exchange, queue, p.messages, p.payloadBytes);
    ctx.log(`    ingest draining ${p.messages} messages`);
    const ingest = await runIngest(ctx, target, names(target.keyPrefix).channel(binding), p);
    return { ingest, bareConsumer };
  } finally {
    await target.stop();
    await ctx.deleteExchange(exchange);
  }
}

export const ingestThroughputScenario: Scenario<IngestThroughputParams> = {
  name: 'ingest-throughput',
  title: 'Ingest throughput: AMQP to Redis messages/s against a bare amqplib consume-and-ack loop',
  params: (quick) =>
    quick
      ? { messages: 5000, payloadBytes: DEFAULT_PAYLOAD_BYTES, prefetch: 1000 }
      : { messages: 50_000, payloadBytes: DEFAULT_PAYLOAD_BYTES, prefetch: 1000 },
  async run(ctx, p): Promise<ScenarioResult> {
    let m: IngestThroughputMeasure | undefined;
    let error: string | undefined;
    try {
      m = await measureIngestThroughput(ctx, p);
    } catch (err) {
      error = errorDetail(err);
    }
    return {
      scenario: this.name,
      title: this.title,
      params: { ...p },
      figures: [
        figure(
          'messages/s AMQP → Redis (reference: bare consumer)',
          '/s',
          { edge: m?.ingest.messagesPerSecond, reference: m?.bareConsumer.messagesPerSecond },
          { kind: 'ratioAtLeast', value: 0.8 },
        ),
        figure('CPU per message', 'µs', {
          edge: m?.ingest.cpuUsPerMessage,
          reference: m?.bareConsumer.cpuUsPerMessage,
        }),
      ],
      checks: m
        ? [
            {
              name: 'each message published to Redis exactly once',
              target: 'edge',
              ok: m.ingest.messages === p.messages,
              detail: `${m.ingest.messages} frames for ${p.messages} messages`,
            },
          ]
        : [],
      details: m ? { edge: m.ingest, reference: m.bareConsumer } : {},
      error,
    };
  },
};
