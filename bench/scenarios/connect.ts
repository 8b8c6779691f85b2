/**
 * Scenario 4, connect: GET-to-`ready` time for a binding that is already live (a holder client
 * keeps it) and for new bindings (each client its own pattern: the bind round trip through the
 * ingest is included), both at a gentle pace; then a burst of connections as fast as they are
 * accepted, for connections per second sustained.
 */
import { TARGET_KINDS, type BenchContext } from '../lib/context.js';
import { summarize, type LatencySummary } from '../lib/histogram.js';
import { round } from '../lib/proc-stats.js';
import { figure, type Check, type ScenarioResult } from '../lib/results.js';
import { ClientGroup, type ClientReport } from '../lib/sse-clients.js';
import { connectPath } from '../lib/targets.js';
import { errorsOf, perTarget, pickEach, valuesOf, type Scenario } from './scenario.js';

export interface ConnectParams {
  /** Clients joining the live binding, and how many per second. */
  readonly liveClients: number;
  readonly liveRate: number;
  /** Clients each with a new binding, and how many per second. */
  readonly newClients: number;
  readonly newRate: number;
  /** Clients of the burst, and how many may be in flight (not yet ready) at once. */
  readonly burstClients: number;
  readonly burstPending: number;
}

export interface ConnectPhase {
  readonly clients: number;
  readonly ready: number;
  readonly readyTime: LatencySummary;
  readonly seconds: number;
  readonly firstError: string;
}

export interface ConnectMeasure {
  readonly live: ConnectPhase;
  readonly fresh: ConnectPhase;
  readonly burst: ConnectPhase & { readonly connectionsPerSecond: number };
}

async function phase(group: ClientGroup, clients: number): Promise<ConnectPhase> {
  let settled: ClientReport;
  try {
    settled = await group.settled(300_000);
  } finally {
    await group.finish();
  }
  return {
    clients,
    ready: settled.ready,
    readyTime: summarize(settled.readyUs),
    seconds: round(settled.elapsedMs / 1000, 2),
    firstError: settled.firstError,
  };
}

export async function measureConnect(ctx: BenchContext, p: ConnectParams) {
  return perTarget(ctx, { label: 'connect' }, async (target): Promise<ConnectMeasure> => {
    const exchange = await ctx.topicExchange('connect');
    const live = connectPath([{ exchange, routingKeyPattern: 'bench.live.#' }]);
    const holder = ClientGroup.start({ ports: target.ports, path: live, conns: 1 });
    try {
      const held = await holder.settled(30_000);
      if (held.ready !== 1) throw new Error(`the holder client did not get ready: ${held.firstError}`);
      const ports = target.ports;
      const liveResult = await phase(
        ClientGroup.start({
          ports,
          path: live,
          conns: p.liveClients,
          connectRate: p.liveRate,
          maxPending: 1000,
        }),
        p.liveClients,
      );
      const freshPath = connectPath([{ exchange, routingKeyPattern: `bench.new.${ctx.runId}.__I__` }]);
      const freshResult = await phase(
        ClientGroup.start({
          ports,
          path: freshPath,
          conns: p.newClients,
          connectRate: p.newRate,
          maxPending: 1000,
        }),
        p.newClients,
      );
      const burst = await phase(
        ClientGroup.start({ ports, path: live, conns: p.burstClients, maxPending: p.burstPending }),
        p.burstClients,
      );
      return {
        live: liveResult,
        fresh: freshResult,
        burst: { ...burst, connectionsPerSecond: Math.round(burst.ready / burst.seconds) },
      };
    } finally {
      await holder.finish();
      await ctx.deleteExchange(exchange);
    }
  });
}

export const connectScenario: Scenario<ConnectParams> = {
  name: 'connect',
  title: 'Connect: GET-to-ready for a live and for a new binding; connections per second sustained',
  params: (quick) =>
    quick
      ? { liveClients: 100, liveRate: 100, newClients: 20, newRate: 20, burstClients: 500, burstPending: 100 }
      : {
          liveClients: 2000,
          liveRate: 200,
          newClients: 300,
          newRate: 30,
          burstClients: 10_000,
          burstPending: 200,
        },
  async run(ctx, p): Promise<ScenarioResult> {
    const outcomes = await measureConnect(ctx, p);
    const v = valuesOf(outcomes);
    const checks: Check[] = [];
    for (const kind of TARGET_KINDS) {
      const m = v[kind];
      if (!m) continue;
      for (const [name, ph] of [
        ['live', m.live],
        ['new', m.fresh],
        ['burst', m.burst],
      ] as const) {
        checks.push({
          name: `every ${name}-binding client ready`,
          target: kind,
          ok: ph.ready === ph.clients,
          detail: `${ph.ready} of ${ph.clients} (${ph.firstError})`,
        });
      }
    }
    return {
      scenario: this.name,
      title: this.title,
      params: { ...p },
      figures: [
        figure(
          'live binding: ready p50',
          'ms',
          pickEach(v, (m) => m.live.readyTime.p50Ms),
        ),
        figure(
          'live binding: ready p99',
          'ms',
          pickEach(v, (m) => m.live.readyTime.p99Ms),
          {
            kind: 'atMost',
            value: 20,
          },
        ),
        figure(
          'new binding: ready p50',
          'ms',
          pickEach(v, (m) => m.fresh.readyTime.p50Ms),
        ),
        figure(
          'new binding: ready p99',
          'ms',
          pickEach(v, (m) => m.fresh.readyTime.p99Ms),
          {
            kind: 'atMost',
            value: 150,
          },
        ),
        figure(
          'burst: connections/s to ready',
          '/s',
          pickEach(v, (m) => m.burst.connectionsPerSecond),
          { kind: 'ratioAtLeast', value: 1 },
        ),
        figure(
          'burst: ready p99',
          'ms',
          pickEach(v, (m) => m.burst.readyTime.p99Ms),
        ),
      ],
      checks,
      details: v,
      error: errorsOf(outcomes),
    };
  },
};
