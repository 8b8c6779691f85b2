/**
 * Scenario 5, binding scale: N clients with N distinct bindings on one exchange. At the peak the
 * broker must hold one queue with N bindings; each client gets exactly its own messages; after
 * every client has left, no binding may remain once the lease has run out (1.5 × lease). Also the
 * ingest's cost per message with N patterns, and the matcher's own cost in isolation.
 */
import { TARGET_KINDS, type BenchContext } from '../lib/context.js';
import { bindingsFrom } from '../lib/broker-admin.js';
import { checkDelivery, waitDelivered, type DeliveryCheck } from '../lib/delivery.js';
import { summarize, type LatencySummary } from '../lib/histogram.js';
import { DEFAULT_PAYLOAD_BYTES, SequencedSource, publishPaced, sleep } from '../lib/load.js';
import { measureBrokerBindingRate } from '../lib/broker-rate.js';
import { measureMatcher, type MatcherCost } from '../lib/matcher-bench.js';
import { CpuMeter, round } from '../lib/proc-stats.js';
import { figure, type Check, type ScenarioResult } from '../lib/results.js';
import { ClientGroup } from '../lib/sse-clients.js';
import { connectPath } from '../lib/targets.js';
import { errorsOf, perTarget, pickEach, valuesOf, type Scenario } from './scenario.js';

export interface BindingScaleParams {
  readonly clients: number;
  readonly leaseSeconds: number;
  /** Messages each client's key gets. */
  readonly messagesPerClient: number;
  /** Messages per second while publishing. */
  readonly publishRate: number;
  /** Connections in flight at once while binding. */
  readonly maxPending: number;
  /** Seconds of holding the bindings without messages, to measure the idle cost. */
  readonly idleSeconds: number;
}

export interface BrokerPeak {
  readonly bindings: number;
  /** Distinct destinations of the exchange's bindings (one: the shared queue). */
  readonly queues: readonly string[];
}

export interface BindingScaleMeasure {
  /** Bindings made live (clients ready) per second; for the reference, Redis subscriptions. */
  readonly bindsPerSecond: number;
  readonly readyTime: LatencySummary;
  readonly broker?: BrokerPeak;
  readonly delivery: DeliveryCheck;
  readonly latency: LatencySummary;
  /** CPU (cores) of every process while the clients were binding. */
  readonly bindCpu: Record<string, number>;
  /** CPU (cores) of the serving processes holding the bindings with no messages. */
  readonly idleCpu: Record<string, number>;
  /** Ingest CPU per message routed, net of idleCpu (edge system only), microseconds. */
  readonly ingestCpuUsPerMessage?: number;
  /** The same for every serving process together. */
  readonly serverCpuUsPerMessage: number;
  /** Seconds from the last client leaving to no binding left on the broker (edge system only). */
  readonly secondsToUnbound?: number;
  /** ± of secondsToUnbound (the polling period). */
  readonly unboundResolutionS?: number;
  /** The reaper's rate, from its first removal to its last (edge system only). */
  readonly unbindsPerSecond?: number;
  /** Seconds from the last client leaving to the first binding removed: the leases running out. */
  readonly secondsToFirstUnbind?: number;
  readonly bindingsLeft?: number;
}

/** The ingest's count of bindings it removed from the broker (each after the broker confirmed it). */
async function reapedCount(metricsPort: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  const m = /^events_ingest_bindings_reaped_total (\d+)/m.exec(text);
  return m ? Number(m[1]) : 0;
}

/**
 * Waits until the ingest has removed `count` bindings, polling its metrics every 100 ms (a
 * rabbitmqctl listing starts an Erlang VM that takes the broker's CPU for half a second, so
 * listing back to back would slow the very unbinding it measures), then asks the broker once
 * what is left. `resolutionS` is the polling period.
 */
async function waitUnbound(exchange: string, metricsPort: number, count: number, timeoutMs: number) {
  const started = performance.now();
  const base = await reapedCount(metricsPort);
  let firstReapedAt: number | undefined;
  for (;;) {
    const reaped = (await reapedCount(metricsPort)) - base;
    if (reaped > 0) firstReapedAt ??= performance.now();
    if (reaped >= count || performance.now() - started > timeoutMs) break;
    await sleep(100);
  }
  const ended = performance.now();
  return {
    seconds: round((ended - started) / 1000, 2),
    resolutionS: 0.1,
    left: (await bindingsFrom(exchange)).length,
    /** When the first binding was removed. */
    firstSeconds: firstReapedAt === undefined ? undefined : round((firstReapedAt - started) / 1000, 2),
    /** Bindings removed per second from the first removal to the last. */
    unbindsPerSecond:
      firstReapedAt === undefined
        ? undefined
        : Math.round(count / Math.max(0.1, (ended - firstReapedAt) / 1000)),
  };
}

export async function measureBindingScale(ctx: BenchContext, p: BindingScaleParams) {
  const env = { BINDING_LEASE_SECONDS: String(p.leaseSeconds) };
  return perTarget(ctx, { label: 'binding-scale', env }, async (target): Promise<BindingScaleMeasure> => {
    const exchange = await ctx.topicExchange('scale');
    const keys = Array.from({ length: p.clients }, (_, i) => `bench.k${i}`);
    const bindMeter = new CpuMeter({ ...target.pids, ...ctx.infraPids });
    const group = ClientGroup.start({
      ports: target.ports,
      path: connectPath([{ exchange, routingKeyPattern: 'bench.k__I__' }]),
      conns: p.clients,
      maxPending: p.maxPending,
    });
    const sink = await target.sink(exchange, keys);
    let left = false;
    try {
      const settled = await group.settled(600_000);
      if (settled.ready !== p.clients) {
        throw new Error(`${settled.ready} of ${p.clients} clients got ready (${settled.firstError})`);
      }
      const bindsPerSecond = Math.round(settled.ready / (settled.elapsedMs / 1000));
      const bindCpu = bindMeter.read();
      let broker: BrokerPeak | undefined;
      if (target.kind === 'edge') {
        const bindings = await bindingsFrom(exchange);
        broker = { bindings: bindings.length, queues: [...new Set(bindings.map((b) => b.destination))] };
      }
      // What holding N bindings costs with no messages (lease renewals, resyncs), to net it out.
      const idleMeter = new CpuMeter(target.pids);
      await sleep(p.idleSeconds * 1000);
      const idleCpu = idleMeter.read();
      const source = new SequencedSource(keys, DEFAULT_PAYLOAD_BYTES);
      const meter = new CpuMeter(target.pids);
      const started = performance.now();
      const total = p.clients * p.messagesPerClient;
      await publishPaced(sink, source, p.publishRate, total);
      const report = await waitDelivered(group, total, 60_000);
      const seconds = (performance.now() - started) / 1000;
      const perMessageUs = (names: string[]) => {
        const used = names.reduce((sum, n) => sum + meter.seconds(n) - (idleCpu[n] ?? 0) * seconds, 0);
        return round((used / total) * 1e6, 1);
      };
      const measure = {
        bindsPerSecond,
        bindCpu,
        idleCpu,
        readyTime: summarize(settled.readyUs),
        broker,
        delivery: checkDelivery(report, p.clients, p.messagesPerClient),
        latency: summarize(report.latencyUs),
        ingestCpuUsPerMessage: target.ingest ? perMessageUs(['ingest']) : undefined,
        serverCpuUsPerMessage: perMessageUs(Object.keys(target.pids)),
      };
      await group.finish();
      left = true;
      if (target.kind !== 'edge') return measure;
      const unbound = await waitUnbound(
        exchange,
        target.ingestMetricsPort!,
        p.clients,
        (p.leaseSeconds * 3 + 30) * 1000,
      );
      return {
        ...measure,
        secondsToUnbound: unbound.seconds,
        unboundResolutionS: unbound.resolutionS,
        unbindsPerSecond: unbound.unbindsPerSecond,
        secondsToFirstUnbind: unbound.firstSeconds,
        bindingsLeft: unbound.left,
      };
    } finally {
      if (!left) await group.finish();
      await sink.close();
      await ctx.deleteExchange(exchange);
    }
  });
}

export const bindingScaleScenario: Scenario<BindingScaleParams> = {
  name: 'binding-scale',
  title: 'Binding scale: one distinct binding per client on one exchange, then all leave',
  params: (quick) =>
    quick
      ? {
          clients: 300,
          leaseSeconds: 3,
          messagesPerClient: 2,
          publishRate: 300,
          maxPending: 100,
          idleSeconds: 1,
        }
      : {
          clients: 10_000,
          leaseSeconds: 10,
          messagesPerClient: 2,
          publishRate: 2000,
          maxPending: 500,
          idleSeconds: 5,
        },
  async run(ctx, p): Promise<ScenarioResult> {
    const outcomes = await measureBindingScale(ctx, p);
    const v = valuesOf(outcomes);
    const matcher: MatcherCost = measureMatcher(p.clients, 200_000);
    const matcherOne: MatcherCost = measureMatcher(1, 200_000);
    const broker = await measureBrokerBindingRate(ctx, p.clients);
    const edge = v.edge;
    const checks: Check[] = [];
    for (const kind of TARGET_KINDS) {
      const m = v[kind];
      if (m) {
        checks.push({
          name: 'exact delivery (each client its own key)',
          target: kind,
          ok: m.delivery.exact,
          detail: m.delivery.problems.join('; '),
        });
      }
    }
    if (edge?.broker) {
      checks.push({
        name: `broker holds 1 queue and ${p.clients} bindings at the peak`,
        target: 'edge',
        ok: edge.broker.bindings === p.clients && edge.broker.queues.length === 1,
        detail: `${edge.broker.bindings} bindings to ${edge.broker.queues.length} queue(s)`,
      });
    }
    if (edge?.secondsToUnbound !== undefined) {
      checks.push({
        name: `no binding left within 1.5 × lease (${1.5 * p.leaseSeconds} s) after all left`,
        target: 'edge',
        ok: edge.bindingsLeft === 0 && edge.secondsToUnbound <= 1.5 * p.leaseSeconds,
        detail: `${edge.bindingsLeft} left after ${edge.secondsToUnbound} ± ${edge.unboundResolutionS} s`,
      });
    }
    return {
      scenario: this.name,
      title: this.title,
      params: { ...p },
      figures: [
        figure(
          'bind throughput (reference: subscribes)',
          'bindings/s',
          pickEach(v, (m) => m.bindsPerSecond),
        ),
        figure(
          'ready p99 while binding',
          'ms',
          pickEach(v, (m) => m.readyTime.p99Ms),
        ),
        figure(
          'time to no binding after all left',
          's',
          { edge: edge?.secondsToUnbound },
          {
            kind: 'atMost',
            value: 1.5 * p.leaseSeconds,
          },
        ),
        figure('of which waiting for the leases to run out (first unbind)', 's', {
          edge: edge?.secondsToFirstUnbind,
        }),
        figure('unbind throughput while reaping (reference: RabbitMQ alone)', 'bindings/s', {
          edge: edge?.unbindsPerSecond,
          reference: broker.unbindsPerSecond,
        }),
        figure('RabbitMQ alone: binds (raw amqplib, 4 channels)', 'bindings/s', {
          reference: broker.bindsPerSecond,
        }),
        figure(`ingest CPU per message, ${p.clients} patterns, net of idle`, 'µs', {
          edge: edge?.ingestCpuUsPerMessage,
        }),
        figure(
          'server CPU per message, net of idle',
          'µs',
          pickEach(v, (m) => m.serverCpuUsPerMessage),
        ),
        figure(
          'server CPU holding the bindings idle',
          'cores',
          pickEach(v, (m) => m.idleCpu.total),
        ),
        figure(`TopicMatcher.match, ${p.clients} patterns (reference: 1 pattern)`, 'ns', {
          edge: matcher.nsPerMatch,
          reference: matcherOne.nsPerMatch,
        }),
        figure(
          'p99 latency',
          'ms',
          pickEach(v, (m) => m.latency.p99Ms),
        ),
      ],
      checks,
      details: { ...v, matcher, matcherOnePattern: matcherOne },
      error: errorsOf(outcomes),
    };
  },
};
