/**
 * Scenario 1, broadcast: many clients on one binding, 1 KiB messages, the rate stepped up until
 * the target stops keeping up. A step keeps up when the publisher achieved its rate, the clients
 * received at least 95 % of the deliveries offered over the step, and they are behind by at most
 * a second of deliveries at its end. After each step the backlog must drain before the next one
 * starts.
 */
import { TARGET_KINDS, type BenchContext } from '../lib/context.js';
import { checkDelivery, waitDelivered, type DeliveryCheck } from '../lib/delivery.js';
import { mergeHistograms, summarize, type LatencySummary } from '../lib/histogram.js';
import { DEFAULT_PAYLOAD_BYTES, SequencedSource, publishPaced } from '../lib/load.js';
import { CpuMeter } from '../lib/proc-stats.js';
import { figure, type ScenarioResult } from '../lib/results.js';
import { ClientGroup } from '../lib/sse-clients.js';
import { connectPath } from '../lib/targets.js';
import { serverCpu } from './latency.js';
import { errorsOf, perTarget, pickEach, valuesOf, type Scenario } from './scenario.js';

export interface BroadcastParams {
  readonly clients: number;
  /** Messages per second of the first step; each next step multiplies it by `growth`. */
  readonly startRate: number;
  readonly growth: number;
  readonly stepSeconds: number;
  readonly maxSteps: number;
  /** Bisection steps between the last rate that kept up and the first that did not. */
  readonly refineSteps: number;
  /** Unmeasured load at startRate before the first step. */
  readonly warmupSeconds: number;
  readonly payloadBytes: number;
  /** Clients per C client process (the load is spread over several). */
  readonly clientsPerShard: number;
}

export interface BroadcastStep {
  /** Messages per second offered, and achieved by the publisher. */
  readonly rate: number;
  readonly publishedRate: number;
  /** Deliveries per second received by all clients during the step. */
  readonly deliveriesPerSecond: number;
  /** Deliveries still missing at the step's end. */
  readonly backlog: number;
  /** How much the backlog grew over the step's second half. */
  readonly backlogGrowth: number;
  readonly keptUp: boolean;
  readonly drained: boolean;
  readonly latency: LatencySummary;
  readonly cpu: Record<string, number>;
}

export interface BroadcastMeasure {
  readonly steps: readonly BroadcastStep[];
  /** The highest deliveries/s of a step that kept up (undefined: none did). */
  readonly best: BroadcastStep | undefined;
  /** Exact delivery of every message up to the last step that drained with no client dropped. */
  readonly delivery: DeliveryCheck | undefined;
}

/** The step rates: startRate × growth^i, rounded to whole messages per second. */
export function stepRates(p: BroadcastParams): number[] {
  return Array.from({ length: p.maxSteps }, (_, i) => Math.round(p.startRate * p.growth ** i));
}

export async function measureBroadcast(ctx: BenchContext, p: BroadcastParams) {
  return perTarget(ctx, { label: 'broadcast' }, async (target): Promise<BroadcastMeasure> => {
    const exchange = await ctx.topicExchange('broadcast');
    const pattern = 'bench.broadcast.#';
    const group = ClientGroup.start({
      ports: target.ports,
      path: connectPath([{ exchange, routingKeyPattern: pattern }]),
      conns: p.clients,
      perShard: p.clientsPerShard,
    });
    const sink = await target.sink(exchange, [pattern]);
    try {
      const settled = await group.settled(180_000);
      if (settled.ready !== p.clients) {
        throw new Error(`${settled.ready} of ${p.clients} clients got ready (${settled.firstError})`);
      }
      const source = new SequencedSource(['bench.broadcast.k'], p.payloadBytes);
      // Warm-up (JIT, socket buffers), not measured.
      await publishPaced(sink, source, p.startRate, p.startRate * p.warmupSeconds);
      await waitDelivered(group, p.clients * source.count, 30_000);
      const steps: BroadcastStep[] = [];
      let delivery: DeliveryCheck | undefined;
      const runStep = async (rate: number): Promise<BroadcastStep> => {
        await group.report(); // restarts the interval figures
        const meter = new CpuMeter({ ...target.pids, ...ctx.infraPids, ...group.pids });
        const half = Math.round((rate * p.stepSeconds) / 2);
        const first = await publishPaced(sink, source, rate, half);
        const mid = await group.report();
        const backlogMid = p.clients * source.count - mid.messages;
        const second = await publishPaced(sink, source, rate, half);
        const atEnd = await group.report();
        const cpu = meter.read();
        const expected = p.clients * source.count;
        const backlog = expected - atEnd.messages;
        const publishedRate = (first.sent + second.sent) / (first.seconds + second.seconds);
        const growth = backlog - backlogMid;
        const intervalMessages = mid.intervalMessages + atEnd.intervalMessages;
        const intervalMs = mid.intervalMs + atEnd.intervalMs;
        const deliveriesPerSecond = intervalMessages / (intervalMs / 1000);
        // Delivered at 95 % of the offered rate or better over the whole step, and behind by at most
        // a second of deliveries at its end. (Backlog snapshots alone swing by the deliveries in
        // flight at the moment they are taken, as much as the growth they would have to detect.)
        const keptUp =
          publishedRate >= rate * 0.95 &&
          deliveriesPerSecond >= publishedRate * p.clients * 0.95 &&
          backlog <= p.clients * rate;
        const drainedReport = await waitDelivered(group, expected, 30_000);
        const drained = drainedReport.messages >= expected && drainedReport.closedAfterReady === 0;
        if (drained) delivery = checkDelivery(drainedReport, p.clients, source.count);
        const step: BroadcastStep = {
          rate,
          publishedRate: Math.round(publishedRate * 10) / 10,
          deliveriesPerSecond: Math.round(deliveriesPerSecond),
          backlog,
          backlogGrowth: growth,
          keptUp,
          drained,
          latency: summarize(mergeHistograms([mid.intervalLatencyUs, atEnd.intervalLatencyUs])),
          cpu,
        };
        steps.push(step);
        ctx.log(
          `    ${rate} msg/s: ${step.deliveriesPerSecond} deliveries/s, backlog ${backlog} (${growth >= 0 ? '+' : ''}${growth} over the 2nd half), ` +
            `p99 ${step.latency.p99Ms} ms, server CPU ${serverCpu(cpu)}, machine ${cpu.machine}` +
            `${keptUp ? '' : ' — fell behind'}${drained ? '' : ', did not drain'}`,
        );
        return step;
      };
      let good: number | undefined;
      let bad: BroadcastStep | undefined;
      for (const rate of stepRates(p)) {
        const step = await runStep(rate);
        if (!step.keptUp || !step.drained) {
          bad = step;
          break;
        }
        good = rate;
      }
      // Narrow the gap between the last rate that kept up and the first that did not.
      for (
        let i = 0;
        i < p.refineSteps && good !== undefined && bad?.drained && bad.rate / good > 1.08;
        i++
      ) {
        const step = await runStep(Math.round((good + bad.rate) / 2));
        if (step.keptUp && step.drained) good = step.rate;
        else bad = step;
      }
      const kept = steps.filter((s) => s.keptUp && s.drained);
      const best = kept.reduce<BroadcastStep | undefined>(
        (b, s) => (b === undefined || s.deliveriesPerSecond > b.deliveriesPerSecond ? s : b),
        undefined,
      );
      return { steps, best, delivery };
    } finally {
      await sink.close();
      await group.finish();
      await ctx.deleteExchange(exchange);
    }
  });
}

export const broadcastScenario: Scenario<BroadcastParams> = {
  name: 'broadcast',
  title: 'Broadcast: clients on one binding, 1 KiB messages, rate stepped up until it falls behind',
  params: (quick) =>
    quick
      ? {
          clients: 200,
          startRate: 20,
          growth: 2,
          stepSeconds: 2,
          maxSteps: 2,
          refineSteps: 0,
          warmupSeconds: 1,
          payloadBytes: DEFAULT_PAYLOAD_BYTES,
          clientsPerShard: 100,
        }
      : {
          clients: 10_000,
          startRate: 10,
          growth: 1.25,
          stepSeconds: 6,
          maxSteps: 20,
          refineSteps: 3,
          warmupSeconds: 3,
          payloadBytes: DEFAULT_PAYLOAD_BYTES,
          clientsPerShard: 5000,
        },
  async run(ctx, p): Promise<ScenarioResult> {
    const outcomes = await measureBroadcast(ctx, p);
    const v = valuesOf(outcomes);
    return {
      scenario: this.name,
      title: this.title,
      params: { ...p, rates: stepRates(p) },
      figures: [
        figure(
          'deliveries/s kept up',
          '/s',
          pickEach(v, (m) => m.best?.deliveriesPerSecond),
          [
            { kind: 'ratioAtLeast', value: 1.2 },
            { kind: 'ratioToCAtLeast', value: 0.5 },
          ],
        ),
        figure(
          'messages/s at that step',
          '/s',
          pickEach(v, (m) => m.best?.rate),
        ),
        figure(
          'p50 latency at that step',
          'ms',
          pickEach(v, (m) => m.best?.latency.p50Ms),
        ),
        figure(
          'p99 latency at that step',
          'ms',
          pickEach(v, (m) => m.best?.latency.p99Ms),
        ),
        figure(
          'max latency at that step',
          'ms',
          pickEach(v, (m) => m.best?.latency.maxMs),
        ),
        figure(
          'server CPU at that step',
          'cores',
          pickEach(v, (m) => (m.best ? serverCpu(m.best.cpu) : undefined)),
        ),
      ],
      checks: TARGET_KINDS.flatMap((kind) => {
        const m = v[kind];
        if (!m) return [];
        return [
          {
            name: 'exact delivery (drained steps)',
            target: kind,
            ok: m.delivery?.exact ?? false,
            detail: m.delivery?.problems.join('; ') ?? 'no step kept up',
          },
        ];
      }),
      details: v,
      error: errorsOf(outcomes),
    };
  },
};
