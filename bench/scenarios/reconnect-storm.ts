/**
 * Scenario 7, reconnect storm: N clients with a realistic mix of bindings on one edge of several;
 * that edge is SIGKILLed while messages flow, and every client opens a new connection to the
 * remaining edges (as browsers behind a load balancer do when their stream ends). Measures
 * connections per second to `ready` and the time from the kill until all are back, checks that no
 * message published after a client's new `ready` was lost, and compares with a fresh burst of the
 * same N clients to the same edges in the same run.
 */
import type { BenchContext } from '../lib/context.js';
import { writeBindingMix } from '../lib/binding-mix.js';
import { waitGauge } from '../lib/edge-metrics.js';
import { summarize, type LatencySummary } from '../lib/histogram.js';
import { SequencedSource } from '../lib/load.js';
import { round } from '../lib/proc-stats.js';
import { figure, type Check, type ScenarioResult } from '../lib/results.js';
import { RoundPublisher } from '../lib/round-publisher.js';
import { ClientGroup } from '../lib/sse-clients.js';
import {
  checkStormDelivery,
  nowNs,
  phaseMeter,
  phaseOf,
  watchStorm,
  type StormDelivery,
  type StormPhase,
} from '../lib/storm-phases.js';
import { startTarget } from '../lib/targets.js';
import type { Scenario } from './scenario.js';

export interface ReconnectStormParams {
  readonly clients: number;
  /** Edge processes (at least 2): the clients start on the first, which is killed. */
  readonly edges: number;
  /** Publishing rounds per second: one message to every stream's routing key each round. */
  readonly roundsPerSecond: number;
  readonly payloadBytes: number;
  /** Connections in flight (not yet `ready`) at most, per client process, in every phase alike. */
  readonly maxPending: number;
  /** A reconnect waits a random 0..jitterMs after its stream ended. */
  readonly jitterMs: number;
  /** The services' LOG_LEVEL: `info`, their default, is what operators run. */
  readonly logLevel: string;
}

export interface StormMeasure {
  readonly mix: string;
  readonly distinctBindings: number;
  readonly streamKeys: number;
  /** The first connect, every binding new (bind round trips through the ingest included). */
  readonly initial: StormPhase;
  /** A first burst to the survivors (their first connections), so that they are warm for the rest. */
  readonly warmUp: StormPhase;
  readonly storm: StormPhase & {
    /** Per client, from its stream's end to the `ready` of its new connection. */
    readonly reconnectTime: LatencySummary;
    readonly reconnectAttempts: number;
    /** From the kill until every client was ready again (s). */
    readonly allBackSeconds: number;
    /** From the kill until the clients saw the first and the last of their streams end (s). */
    readonly firstEndSeconds: number;
    readonly lastEndSeconds: number;
    /**
     * Connections per second to `ready` once every stream had ended: the edges' pace in the storm
     * without the killed process's teardown (which spreads the first reconnects over its length).
     */
    readonly connectionsPerSecondAfterLastEnd: number;
    /** [seconds since the kill, connections ready] every 250 ms. */
    readonly timeline: readonly (readonly [number, number])[];
    readonly delivery: StormDelivery;
  };
  readonly burst: StormPhase;
}

export async function measureReconnectStorm(
  ctx: BenchContext,
  p: ReconnectStormParams,
): Promise<StormMeasure> {
  if (p.edges < 2) throw new Error('the reconnect storm needs at least 2 edges (--edges N)');
  const target = await startTarget(ctx, 'edge', {
    label: 'storm',
    edges: p.edges,
    env: { LOG_LEVEL: p.logLevel },
  });
  const exchange = await ctx.topicExchange('storm');
  const groups: ClientGroup[] = [];
  let publisher: RoundPublisher | undefined;
  try {
    const [victimPort, ...survivors] = target.ports;
    const survivorMetrics = target.edgeMetricsPorts!.slice(1);
    const mix = writeBindingMix(exchange, p.clients, ctx.runDir);
    const survivorNames = survivors.map((_, i) => `edge${i + 1}`);
    const meter = (clientPids: Record<string, number> = {}) =>
      phaseMeter({ ...target.pids, ...ctx.infraPids, ...clientPids }, survivorNames, p.clients);
    const clientOptions = { pathsFile: mix.pathsFile, path: '/', conns: p.clients, maxPending: p.maxPending };

    ctx.log(`    ${p.clients} clients → edge0 (${mix.distinctBindings} distinct bindings)`);
    let cpu = meter();
    const startNs = nowNs();
    const clients = ClientGroup.start({
      ...clientOptions,
      ports: [victimPort!],
      reconnectPorts: survivors,
      reconnectJitterMs: p.jitterMs,
    });
    groups.push(clients);
    const settled = await clients.settled(300_000);
    const initial = phaseOf(settled, p.clients, startNs, cpu.read());
    if (initial.ready !== p.clients)
      throw new Error(`${initial.ready} of ${p.clients} clients got ready on edge0 (${settled.firstError})`);

    const sink = await target.sink(exchange, []);
    const source = new SequencedSource(mix.keys, p.payloadBytes);
    publisher = RoundPublisher.start(sink, source, p.roundsPerSecond);
    await publisher.waitRounds(2);

    /** N new clients to the survivors, until all are ready; then they leave again. */
    const freshBurst = async (what: string): Promise<StormPhase> => {
      ctx.log(`    ${what}: ${p.clients} clients → ${survivors.length} edge(s)`);
      const fromNs = nowNs();
      const group = ClientGroup.start({ ...clientOptions, ports: survivors });
      groups.push(group);
      const m = meter(group.pids);
      const phase = phaseOf(await group.settled(300_000), p.clients, fromNs, m.read());
      await group.finish();
      groups.splice(groups.indexOf(group), 1);
      await waitGauge(survivorMetrics, 'events_edge_connections', 0, 60_000);
      return phase;
    };
    // The survivors serve a burst first, as edges in service would have: the storm and the burst
    // it is compared with then both meet warm processes (JIT-compiled, heap grown).
    const warmUp = await freshBurst('warm-up burst');

    ctx.log(`    SIGKILL edge0; clients reconnect to ${survivors.length} edge(s)`);
    cpu = meter(clients.pids);
    const killNs = nowNs();
    await target.servers[0]!.stop('SIGKILL');
    const { r: back, timeline } = await watchStorm(clients, p.clients, killNs, 300_000);
    // The rate counts from the first stream end (no client can reconnect before): the burst's
    // counts from its first connection. "All back" counts from the kill.
    const stormPhase = phaseOf(back, p.clients, back.firstEndNs, cpu.read());
    const allBackSeconds = round((back.lastReadyNs - killNs) / 1e9, 2);
    await publisher.waitRounds(Math.max(2, p.roundsPerSecond));
    const rounds = await publisher.stop();
    publisher = undefined;
    const delivery = await checkStormDelivery(clients, p.clients, rounds);
    await clients.finish();
    groups.pop();
    await waitGauge(survivorMetrics, 'events_edge_connections', 0, 60_000);

    publisher = RoundPublisher.start(sink, source, p.roundsPerSecond);
    const burst = await freshBurst('fresh burst on the same, warm edge(s)');
    await publisher.stop();
    publisher = undefined;
    await sink.close();

    return {
      mix: mix.description,
      distinctBindings: mix.distinctBindings,
      streamKeys: mix.keys.length,
      initial,
      warmUp,
      storm: {
        ...stormPhase,
        reconnectTime: summarize(back.reconnectUs),
        reconnectAttempts: back.reconnects,
        allBackSeconds,
        firstEndSeconds: round((back.firstEndNs - killNs) / 1e9, 3),
        lastEndSeconds: round((back.lastEndNs - killNs) / 1e9, 3),
        connectionsPerSecondAfterLastEnd: Math.round(
          (back.reconnectReady - back.reconnectReadyAtLastEnd) / ((back.lastReadyNs - back.lastEndNs) / 1e9),
        ),
        timeline,
        delivery,
      },
      burst,
    };
  } finally {
    await publisher?.stop().catch(() => undefined);
    for (const g of groups) await g.finish().catch(() => undefined);
    await target.stop();
    await ctx.deleteExchange(exchange);
  }
}

export const reconnectStormScenario: Scenario<ReconnectStormParams> = {
  name: 'reconnect-storm',
  title:
    'Reconnect storm: an edge with N clients is SIGKILLed; all reconnect to the others (vs a fresh burst)',
  params: (quick) =>
    quick
      ? {
          clients: 300,
          edges: 2,
          roundsPerSecond: 5,
          payloadBytes: 256,
          maxPending: 300,
          jitterMs: 100,
          logLevel: 'info',
        }
      : {
          clients: 10_000,
          edges: 2,
          roundsPerSecond: 2,
          payloadBytes: 512,
          maxPending: 200,
          jitterMs: 250,
          logLevel: 'info',
        },
  async run(ctx, p): Promise<ScenarioResult> {
    const params = { ...p, edges: Math.max(p.edges, ctx.options.edges) };
    const m = await measureReconnectStorm(ctx, params);
    const checks: Check[] = [
      { name: 'every client ready on edge0', target: 'edge', ok: m.initial.ready === p.clients },
      {
        name: 'every client back after the kill',
        target: 'edge',
        ok: m.storm.ready === p.clients,
        detail: `${m.storm.ready} of ${p.clients} (${m.storm.firstError})`,
      },
      {
        name: 'no message lost after a new ready, none repeated',
        target: 'edge',
        ok: m.storm.delivery.problems.length === 0,
        detail: m.storm.delivery.problems.join('; '),
      },
      {
        name: 'every warm-up client ready',
        target: 'edge',
        ok: m.warmUp.ready === p.clients,
        detail: `${m.warmUp.ready} of ${p.clients} (${m.warmUp.firstError})`,
      },
      {
        name: 'every fresh-burst client ready',
        target: 'edge',
        ok: m.burst.ready === p.clients,
        detail: `${m.burst.ready} of ${p.clients} (${m.burst.firstError})`,
      },
    ];
    const ratio = round(m.storm.connectionsPerSecond / m.burst.connectionsPerSecond, 2);
    return {
      scenario: this.name,
      title: this.title,
      params: { ...params },
      figures: [
        figure('first connect, new bindings: connections/s to ready', '/s', {
          edge: m.initial.connectionsPerSecond,
        }),
        figure('storm: connections/s to ready', '/s', { edge: m.storm.connectionsPerSecond }),
        figure('fresh burst: connections/s to ready', '/s', { edge: m.burst.connectionsPerSecond }),
        figure('storm ÷ fresh burst, connections/s', '×', { edge: ratio }, { kind: 'atLeast', value: 1 }),
        figure('storm: kill → all back', 's', { edge: m.storm.allBackSeconds }),
        figure('storm: kill → last stream seen ending', 's', { edge: m.storm.lastEndSeconds }),
        figure('storm: connections/s to ready after the last stream ended', '/s', {
          edge: m.storm.connectionsPerSecondAfterLastEnd,
        }),
        figure("storm: survivors' CPU per client", 'µs', { edge: m.storm.survivorCpuUsPerConnection }),
        figure("fresh burst: survivors' CPU per client", 'µs', { edge: m.burst.survivorCpuUsPerConnection }),
        figure('warm-up burst (cold edges): connections/s to ready', '/s', {
          edge: m.warmUp.connectionsPerSecond,
        }),
        figure('fresh burst: start → all ready', 's', { edge: m.burst.seconds }),
        figure('storm: stream end → new ready p50', 'ms', { edge: m.storm.reconnectTime.p50Ms }),
        figure('storm: stream end → new ready p99', 'ms', { edge: m.storm.reconnectTime.p99Ms }),
      ],
      checks,
      details: { edge: m },
    };
  },
};
