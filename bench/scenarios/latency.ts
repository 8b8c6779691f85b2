/**
 * Scenario 3, latency at moderate load: N clients on one binding, a steady message rate for a
 * while; publish-to-receive p50/p99/max, and nothing lost.
 */
import type { BenchContext, TargetKind } from '../lib/context.js';
import { checkDelivery, waitDelivered, type DeliveryCheck } from '../lib/delivery.js';
import { summarize, type LatencySummary } from '../lib/histogram.js';
import { DEFAULT_PAYLOAD_BYTES, SequencedSource, publishPaced, type PacedResult } from '../lib/load.js';
import { CpuMeter } from '../lib/proc-stats.js';
import { figure, type ScenarioResult } from '../lib/results.js';
import { ClientGroup } from '../lib/sse-clients.js';
import { connectPath } from '../lib/targets.js';
import { errorsOf, perTarget, pickEach, valuesOf, type Scenario } from './scenario.js';

export interface LatencyParams {
  readonly clients: number;
  /** Messages per second. */
  readonly rate: number;
  readonly seconds: number;
  readonly payloadBytes: number;
}

export interface LatencyMeasure {
  readonly latency: LatencySummary;
  readonly delivery: DeliveryCheck;
  readonly publish: PacedResult;
  readonly cpu: Record<string, number>;
}

export async function measureLatency(ctx: BenchContext, p: LatencyParams) {
  return perTarget(ctx, { label: 'latency' }, async (target): Promise<LatencyMeasure> => {
    const exchange = await ctx.topicExchange('latency');
    const pattern = 'bench.latency.#';
    const group = ClientGroup.start({
      ports: target.ports,
      path: connectPath([{ exchange, routingKeyPattern: pattern }]),
      conns: p.clients,
    });
    const settled = await group.settled(120_000);
    if (settled.ready !== p.clients) {
      throw new Error(`${settled.ready} of ${p.clients} clients got ready (${settled.firstError})`);
    }
    const sink = await target.sink(exchange, [pattern]);
    try {
      const source = new SequencedSource(['bench.latency.k'], p.payloadBytes);
      const meter = new CpuMeter({ ...target.pids, ...ctx.infraPids, ...group.pids });
      const publish = await publishPaced(sink, source, p.rate, p.rate * p.seconds);
      const report = await waitDelivered(group, p.clients * source.count, 30_000);
      const cpu = meter.read();
      return {
        latency: summarize(report.latencyUs),
        delivery: checkDelivery(report, p.clients, source.count),
        publish,
        cpu,
      };
    } finally {
      await sink.close();
      await group.finish();
      await ctx.deleteExchange(exchange);
    }
  });
}

export const latencyScenario: Scenario<LatencyParams> = {
  name: 'latency',
  title: 'Latency at moderate load: clients × messages/s on one binding; p99 and nothing lost',
  params: (quick) =>
    quick
      ? { clients: 100, rate: 50, seconds: 3, payloadBytes: DEFAULT_PAYLOAD_BYTES }
      : { clients: 1000, rate: 100, seconds: 20, payloadBytes: DEFAULT_PAYLOAD_BYTES },
  async run(ctx, p): Promise<ScenarioResult> {
    const outcomes = await measureLatency(ctx, p);
    const v = valuesOf(outcomes);
    return {
      scenario: this.name,
      title: this.title,
      params: { ...p },
      figures: [
        figure(
          'p50 latency',
          'ms',
          pickEach(v, (m) => m.latency.p50Ms),
        ),
        figure(
          'p99 latency',
          'ms',
          pickEach(v, (m) => m.latency.p99Ms),
          { kind: 'ratioAtMost', value: 1.25 },
        ),
        figure(
          'max latency',
          'ms',
          pickEach(v, (m) => m.latency.maxMs),
        ),
        figure(
          'server CPU',
          'cores',
          pickEach(v, (m) => serverCpu(m.cpu)),
        ),
      ],
      checks: Object.entries(v).map(([kind, m]) => ({
        name: 'exact delivery',
        target: kind as TargetKind,
        ok: m.delivery.exact,
        detail: m.delivery.problems.join('; '),
      })),
      details: v,
      error: errorsOf(outcomes),
    };
  },
};

/** CPU of the serving side: edges + ingest, or the broadcaster. */
export function serverCpu(cpu: Record<string, number>): number {
  const names = Object.keys(cpu).filter((n) => /^(edge\d+|ingest|broadcaster)$/.test(n));
  return Math.round(names.reduce((s, n) => s + cpu[n]!, 0) * 1000) / 1000;
}
