/**
 * Scenario 2, memory: many idle connections on one serving process; resident memory per
 * connection above the same process with none (after a short warm-up, so code and pools that
 * the first connections bring in are part of the empty baseline).
 */
import type { BenchContext } from '../lib/context.js';
import { sleep } from '../lib/load.js';
import { round, rssBytes } from '../lib/proc-stats.js';
import { figure, type ScenarioResult } from '../lib/results.js';
import { ClientGroup } from '../lib/sse-clients.js';
import { connectPath } from '../lib/targets.js';
import { errorsOf, perTarget, pickEach, valuesOf, type Scenario } from './scenario.js';

export interface MemoryParams {
  readonly clients: number;
  /** Connections opened and closed before the empty baseline is taken. */
  readonly warmupClients: number;
  /** Seconds to let the process settle before each RSS reading. */
  readonly settleSeconds: number;
}

export interface MemoryMeasure {
  readonly emptyRssMiB: number;
  readonly fullRssMiB: number;
  readonly perConnectionKiB: number;
  readonly ready: number;
}

/** The median of a few RSS readings, half a second apart (GC makes single readings jumpy). */
export async function steadyRss(pid: number): Promise<number> {
  const samples: number[] = [];
  for (let i = 0; i < 5; i++) {
    const rss = rssBytes(pid);
    if (rss === undefined) throw new Error(`process ${pid} is gone`);
    samples.push(rss);
    await sleep(500);
  }
  return samples.sort((a, b) => a - b)[2]!;
}

export async function measureMemory(ctx: BenchContext, p: MemoryParams) {
  return perTarget(ctx, { label: 'memory', edges: 1 }, async (target): Promise<MemoryMeasure> => {
    const exchange = await ctx.topicExchange('memory');
    const path = connectPath([{ exchange, routingKeyPattern: 'bench.memory.#' }]);
    const server = target.servers[0]!;
    try {
      const warmup = ClientGroup.start({ ports: target.ports, path, conns: p.warmupClients });
      await warmup.settled(60_000);
      await warmup.finish();
      await sleep(p.settleSeconds * 1000);
      const empty = await steadyRss(server.pid);

      const group = ClientGroup.start({ ports: target.ports, path, conns: p.clients, maxPending: 500 });
      try {
        const settled = await group.settled(300_000);
        if (settled.ready !== p.clients) {
          throw new Error(`${settled.ready} of ${p.clients} clients got ready (${settled.firstError})`);
        }
        await sleep(p.settleSeconds * 1000);
        const full = await steadyRss(server.pid);
        return {
          emptyRssMiB: round(empty / 2 ** 20),
          fullRssMiB: round(full / 2 ** 20),
          perConnectionKiB: round((full - empty) / p.clients / 1024, 2),
          ready: settled.ready,
        };
      } finally {
        await group.finish();
      }
    } finally {
      await ctx.deleteExchange(exchange);
    }
  });
}

export const memoryScenario: Scenario<MemoryParams> = {
  name: 'memory',
  title: 'Memory: idle connections on one serving process, RSS per connection above the empty process',
  params: (quick) =>
    quick
      ? { clients: 1000, warmupClients: 50, settleSeconds: 1 }
      : { clients: 19_000, warmupClients: 500, settleSeconds: 3 },
  async run(ctx, p): Promise<ScenarioResult> {
    const outcomes = await measureMemory(ctx, p);
    const v = valuesOf(outcomes);
    return {
      scenario: this.name,
      title: this.title,
      params: { ...p },
      figures: [
        figure(
          'RSS per connection',
          'KiB',
          pickEach(v, (m) => m.perConnectionKiB),
          { kind: 'atMost', value: 6 },
        ),
        figure(
          'RSS empty',
          'MiB',
          pickEach(v, (m) => m.emptyRssMiB),
        ),
        figure(
          `RSS with ${p.clients} connections`,
          'MiB',
          pickEach(v, (m) => m.fullRssMiB),
        ),
      ],
      checks: [],
      details: v,
      error: errorsOf(outcomes),
    };
  },
};
