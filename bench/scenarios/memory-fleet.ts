/**
 * Scenario memory-fleet: idle connections over a fleet of edge processes on this machine (edge
 * system only). E edges (default 6) with MAX_CONNECTIONS above their share; each gets a small
 * warm-up of connections opened and closed, then its steady RSS empty is read (as the memory
 * scenario does); then C idle clients (default 100,000) are opened, spread evenly over the edges
 * (one client group per edge, each in shards of at most 9,500 connections from their own source
 * addresses), and once all are ready and have settled each edge's RSS is read again. Reported:
 * RSS growth summed over the edges ÷ connections (goal ≤ 6 KiB), and the worst edge's own figure.
 */
import type { BenchContext } from '../lib/context.js';
import { sleep } from '../lib/load.js';
import { round } from '../lib/proc-stats.js';
import { figure, type ScenarioResult } from '../lib/results.js';
import { ClientGroup, mergeReports } from '../lib/sse-clients.js';
import { connectPath, startTarget, type Target } from '../lib/targets.js';
import { steadyRss } from './memory.js';
import type { Scenario } from './scenario.js';
import { errorDetail } from '@events-proxy/runtime';

export interface MemoryFleetParams {
  readonly edges: number;
  /** Idle clients over the whole fleet. */
  readonly clients: number;
  /** Connections per edge opened and closed before the empty baseline is taken. */
  readonly warmupClients: number;
  /** Seconds to let the processes settle before each RSS reading. */
  readonly settleSeconds: number;
  /** Connections in flight per client process. */
  readonly maxPending: number;
}

export interface EdgeMemory {
  readonly edge: string;
  readonly connections: number;
  readonly ready: number;
  readonly emptyRssMiB: number;
  readonly fullRssMiB: number;
  readonly perConnectionKiB: number;
}

export interface MemoryFleetMeasure {
  readonly edges: readonly EdgeMemory[];
  readonly clients: number;
  readonly ready: number;
  readonly firstError: string;
  /** Seconds from the first connect to every client settled. */
  readonly connectSeconds: number;
  /** Sum over the edges of RSS growth ÷ connections. */
  readonly perConnectionKiB: number;
  readonly worstEdgePerConnectionKiB: number;
  readonly emptyRssMiB: number;
  readonly fullRssMiB: number;
}

/** `total` spread over `parts`: the first `total % parts` get one more. */
function spread(total: number, parts: number): number[] {
  return Array.from({ length: parts }, (_, i) => Math.floor(total / parts) + (i < total % parts ? 1 : 0));
}

export async function measureMemoryFleet(
  ctx: BenchContext,
  p: MemoryFleetParams,
): Promise<MemoryFleetMeasure> {
  const exchange = await ctx.topicExchange('fleet');
  const path = connectPath([{ exchange, routingKeyPattern: 'bench.fleet.#' }]);
  const shares = spread(p.clients, p.edges);
  let target: Target | undefined;
  const groups: ClientGroup[] = [];
  try {
    target = await startTarget(ctx, 'edge', {
      label: 'memory-fleet',
      edges: p.edges,
      env: { MAX_CONNECTIONS: String(Math.max(...shares) + p.warmupClients + 1000) },
    });
    const t = target;
    const warmups = t.ports.map((port) => ClientGroup.start({ ports: [port], path, conns: p.warmupClients }));
    await Promise.all(warmups.map((g) => g.settled(60_000)));
    await Promise.all(warmups.map((g) => g.finish()));
    await sleep(p.settleSeconds * 1000);
    const empty = await Promise.all(t.servers.map((s) => steadyRss(s.pid)));
    ctx.log(`    empty: ${empty.map((b) => round(b / 2 ** 20)).join(', ')} MiB`);

    const started = performance.now();
    let offset = 0;
    t.ports.forEach((port, i) => {
      groups.push(
        ClientGroup.start({
          ports: [port],
          path,
          conns: shares[i]!,
          indexOffset: offset,
          maxPending: p.maxPending,
        }),
      );
      offset += shares[i]!;
    });
    const settled = await Promise.all(groups.map((g) => g.settled(900_000)));
    const connectSeconds = round((performance.now() - started) / 1000, 1);
    const all = mergeReports(settled);
    ctx.log(
      `    ${all.ready} of ${p.clients} ready in ${connectSeconds} s${all.firstError ? ` (${all.firstError})` : ''}`,
    );
    await sleep(p.settleSeconds * 1000);
    const full = await Promise.all(t.servers.map((s) => steadyRss(s.pid)));
    const edges: EdgeMemory[] = t.servers.map((s, i) => ({
      edge: s.name,
      connections: shares[i]!,
      ready: settled[i]!.ready,
      emptyRssMiB: round(empty[i]! / 2 ** 20),
      fullRssMiB: round(full[i]! / 2 ** 20),
      perConnectionKiB: round((full[i]! - empty[i]!) / Math.max(1, settled[i]!.ready) / 1024, 2),
    }));
    for (const e of edges)
      ctx.log(
        `    ${e.edge}: ${e.ready} connections, ${e.emptyRssMiB} → ${e.fullRssMiB} MiB, ${e.perConnectionKiB} KiB each`,
      );
    const sum = (l: number[]) => l.reduce((a, b) => a + b, 0);
    const growth = sum(full) - sum(empty);
    return {
      edges,
      clients: p.clients,
      ready: all.ready,
      firstError: all.firstError,
      connectSeconds,
      perConnectionKiB: round(growth / Math.max(1, all.ready) / 1024, 2),
      worstEdgePerConnectionKiB: Math.max(...edges.map((e) => e.perConnectionKiB)),
      emptyRssMiB: round(sum(empty) / 2 ** 20),
      fullRssMiB: round(sum(full) / 2 ** 20),
    };
  } finally {
    await Promise.all(groups.map((g) => g.finish().catch(() => undefined)));
    await target?.stop().catch((err: unknown) => ctx.log(`  stopping the fleet failed: ${errorDetail(err)}`));
    await ctx.deleteExchange(exchange);
  }
}

export const memoryFleetScenario: Scenario<MemoryFleetParams> & {
  /** The parameters with the command line's --edges (if > 1) and --clients applied. */
  paramsFor(ctx: BenchContext, p: MemoryFleetParams): MemoryFleetParams;
} = {
  name: 'memory-fleet',
  title: 'Memory over a fleet: idle connections spread over several edge processes, RSS per connection',
  params: (quick) =>
    quick
      ? { edges: 6, clients: 3000, warmupClients: 50, settleSeconds: 1, maxPending: 500 }
      : { edges: 6, clients: 100_000, warmupClients: 500, settleSeconds: 3, maxPending: 500 },
  paramsFor(ctx, p) {
    return {
      ...p,
      ...(ctx.options.edges > 1 ? { edges: ctx.options.edges } : {}),
      ...(ctx.options.clients !== undefined ? { clients: ctx.options.clients } : {}),
    };
  },
  async run(ctx, params): Promise<ScenarioResult> {
    const p = this.paramsFor(ctx, params);
    const m = await measureMemoryFleet(ctx, p);
    return {
      scenario: this.name,
      title: this.title,
      params: { ...p },
      figures: [
        figure(
          `RSS per connection, ${m.ready} over ${p.edges} edges`,
          'KiB',
          { edge: m.perConnectionKiB },
          {
            kind: 'atMost',
            value: 6,
          },
        ),
        figure('RSS per connection, worst edge', 'KiB', { edge: m.worstEdgePerConnectionKiB }),
        figure('RSS empty, all edges', 'MiB', { edge: m.emptyRssMiB }),
        figure(`RSS with ${m.ready} connections, all edges`, 'MiB', { edge: m.fullRssMiB }),
        figure('connect to all ready', 's', { edge: m.connectSeconds }),
      ],
      checks: [
        {
          name: `every client ready (${p.clients} over ${p.edges} edges)`,
          target: 'edge',
          ok: m.ready === p.clients,
          detail: `${m.ready} of ${p.clients} ready${m.firstError ? ` (${m.firstError})` : ''}`,
        },
      ],
      details: { ...m },
    };
  },
};
