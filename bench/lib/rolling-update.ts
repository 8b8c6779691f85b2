/**
 * A rolling update of the edge tier as Kubernetes runs one with maxSurge 0 / maxUnavailable 1: for
 * each edge in turn, take it out of the Service, SIGTERM it, wait until it has exited, start its
 * replacement, wait until the replacement's readiness probe passes, put it into the Service; then the
 * next edge. The clients (load-balancer mode) count each step as a phase, from the SIGTERM on.
 */
import type { BenchContext } from './context.js';
import type { Child } from './children.js';
import { readGauge, readSum } from './edge-metrics.js';
import { quantile, type HistogramJson } from './histogram.js';
import { sleep } from './load.js';
import { cpuSeconds, machineBusySeconds, round } from './proc-stats.js';
import type { ServiceEndpoints } from './service-endpoints.js';
import type { ClientGroup, ClientReport } from './sse-clients.js';
import { startService, type ServiceProcess } from './targets.js';

export interface EdgeInService {
  readonly child: Child;
  readonly port: number;
  readonly metricsPort: number;
}

/** What an edge's metrics say about the v2 streams it resumed (read before it goes, or at the end). */
export interface ResumeCounters {
  readonly lossless: number;
  readonly gap: number;
  readonly gapEvents: number;
  readonly replayed: number;
  /** v2 streams the edge ended to rebalance the tier (DESIGN.md §3e). */
  readonly rebalanced: number;
}

export async function readResumeCounters(metricsPort: number): Promise<ResumeCounters> {
  const [lossless, gap, gapEvents, replayed, rebalanced] = await Promise.all([
    readSum(metricsPort, 'events_edge_resumes_total', ['result="lossless"']),
    readSum(metricsPort, 'events_edge_resumes_total', ['result="gap"']),
    readSum(metricsPort, 'events_edge_gaps_total'),
    readSum(metricsPort, 'events_edge_replayed_messages_total'),
    readSum(metricsPort, 'events_edge_closes_total', ['reason="rebalance"']),
  ]);
  return { lossless, gap, gapEvents, replayed, rebalanced };
}

export function addCounters(list: readonly ResumeCounters[]): ResumeCounters {
  return list.reduce(
    (a, c) => ({
      lossless: a.lossless + c.lossless,
      gap: a.gap + c.gap,
      gapEvents: a.gapEvents + c.gapEvents,
      replayed: a.replayed + c.replayed,
      rebalanced: a.rebalanced + c.rebalanced,
    }),
    { lossless: 0, gap: 0, gapEvents: 0, replayed: 0, rebalanced: 0 },
  );
}

export interface UpdateStep {
  readonly edge: number;
  /** Streams the edge held when it was taken out of the Service. */
  readonly streams: number;
  readonly exitCode: number | string;
  readonly sigtermToExitSeconds: number;
  /** From the old edge's exit until its replacement answered /readyz. */
  readonly exitToReadySeconds: number;
  /** From the SIGTERM until the replacement was in the Service. */
  readonly sigtermToInServiceSeconds: number;
  /** What the old edge's metrics said just before its SIGTERM (streams it resumed until then). */
  readonly resumedBefore: ResumeCounters;
  /**
   * Connects the edge answered while draining (v2: 200, `retry:`, end; v1: 503), from its metrics
   * read until it stopped answering. The load balancer sends it none after it left the Service;
   * these were on their way before (in its accept queue, or not yet read).
   */
  readonly connectsWhileDraining: number;
}

/** Polls `events_edge_connections_rejected_total{reason="draining"}` until the edge is gone; the last value. */
async function watchDrainRejections(metricsPort: number, exited: Promise<unknown>): Promise<number> {
  let last = 0;
  let gone = false;
  void exited.then(() => (gone = true));
  while (!gone) {
    try {
      last = await readSum(metricsPort, 'events_edge_connections_rejected_total', ['reason="draining"']);
    } catch {
      return last; // the ops server closed: the edge is stopping
    }
    await sleep(100);
  }
  return last;
}

export interface RollingUpdate {
  readonly steps: readonly UpdateStep[];
  /** The replacements, in the order of the edges they replaced (the caller stops them). */
  readonly replacements: readonly ServiceProcess[];
  /** From the first SIGTERM until the last replacement was in the Service. */
  readonly seconds: number;
}

const nowNs = () => process.hrtime.bigint();

/** One sample of the update: seconds since it began, then per group: ready, connecting, waiting to reconnect. */
export type UpdateSample = readonly [seconds: number, ...counts: number[]];

/**
 * Samples the clients every `everyMs` while the update runs (how many streams are ready, in flight,
 * waiting for their retry delay) and the CPU of every edge process it is told about, old and new.
 */
export class UpdateSampler {
  readonly timeline: UpdateSample[] = [];
  private readonly cpu = new Map<string, { pid: number; first: number; last: number }>();
  private readonly began = performance.now();
  private readonly machineBefore = machineBusySeconds();
  private stopped = false;
  private readonly loop: Promise<void>;

  constructor(
    private readonly groups: readonly ClientGroup[],
    private readonly everyMs = 500,
  ) {
    this.loop = this.run();
  }

  watch(name: string, pid: number): void {
    const now = cpuSeconds(pid) ?? 0;
    this.cpu.set(name, { pid, first: now, last: now });
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      const reports = await Promise.all(this.groups.map((g) => g.report()));
      for (const c of this.cpu.values()) c.last = cpuSeconds(c.pid) ?? c.last;
      const t = round((performance.now() - this.began) / 1000, 2);
      this.timeline.push([
        t,
        ...reports.flatMap((r) => [r.readyNow, r.open - r.readyNow, r.waitingReconnect]),
      ]);
      await sleep(this.everyMs);
    }
  }

  /** Stops sampling; the edges' CPU (cores, summed over every edge process) and the machine's, since the start. */
  async stop(): Promise<{ edgeCores: number; machineCores: number; byEdge: Record<string, number> }> {
    this.stopped = true;
    await this.loop;
    const wall = (performance.now() - this.began) / 1000;
    const byEdge: Record<string, number> = {};
    let total = 0;
    for (const [name, c] of this.cpu) {
      byEdge[name] = round(c.last - c.first, 2);
      total += c.last - c.first;
    }
    return {
      edgeCores: round(total / wall, 3),
      machineCores: round((machineBusySeconds() - this.machineBefore) / wall, 3),
      byEdge,
    };
  }
}
const secondsBetween = (a: bigint, b: bigint) => round(Number(b - a) / 1e9, 3);

export async function rollingUpdate(
  ctx: BenchContext,
  edges: readonly EdgeInService[],
  service: ServiceEndpoints,
  groups: readonly ClientGroup[],
  opts: {
    readonly env: NodeJS.ProcessEnv;
    readonly label: string;
    readonly exitTimeoutMs: number;
    readonly sampler?: UpdateSampler;
    /**
     * Seconds between taking the edge out of the Service and its SIGTERM (the chart's preStop
     * sleep): connections already on their way to it are served instead of told to come back.
     */
    readonly preStopSeconds?: number;
  },
): Promise<RollingUpdate> {
  for (const [k, e] of edges.entries()) opts.sampler?.watch(`edge${k}`, e.child.pid);
  const steps: UpdateStep[] = [];
  const replacements: ServiceProcess[] = [];
  const began = nowNs();
  for (const [k, old] of edges.entries()) {
    const phase = k + 1;
    await Promise.all(groups.map((g) => g.startPhase(phase)));
    await service.remove(old.port);
    const [streams, resumedBefore] = await Promise.all([
      readGauge(old.metricsPort, 'events_edge_connections'),
      readResumeCounters(old.metricsPort),
    ]);
    if (opts.preStopSeconds) await sleep(opts.preStopSeconds * 1000);
    ctx.log(`    SIGTERM edge${k} (${streams} streams)`);
    const term = nowNs();
    old.child.process.kill('SIGTERM');
    for (const g of groups) g.setPhaseOrigin(phase, term);
    const drainRejections = watchDrainRejections(old.metricsPort, old.child.exited);
    const exitCode = await Promise.race([
      old.child.exited,
      sleep(opts.exitTimeoutMs).then(() => old.child.stop('SIGKILL', 1000).then((c) => `killed (${c})`)),
    ]);
    const exited = nowNs();
    const fresh = await startService(ctx, 'edge', `edge${k}-new`, opts.env, opts.label);
    replacements.push(fresh);
    opts.sampler?.watch(`edge${k}-new`, fresh.child.pid);
    const ready = nowNs();
    await service.add(fresh.port);
    const inService = nowNs();
    ctx.log(
      `    edge${k} exited after ${secondsBetween(term, exited)} s (${exitCode}); ` +
        `replacement ready ${secondsBetween(exited, ready)} s later`,
    );
    steps.push({
      edge: k,
      streams: streams ?? NaN,
      exitCode,
      sigtermToExitSeconds: secondsBetween(term, exited),
      exitToReadySeconds: secondsBetween(exited, ready),
      sigtermToInServiceSeconds: secondsBetween(term, inService),
      resumedBefore,
      connectsWhileDraining: await drainRejections,
    });
  }
  return { steps, replacements, seconds: secondsBetween(began, nowNs()) };
}

/** Every connection open and ready again, none waiting to reconnect, every phase's streams back. */
export function allBack(r: ClientReport, conns: number): boolean {
  return (
    r.readyNow === conns &&
    r.waitingReconnect === 0 &&
    r.phases.every((p) => p.phase === 0 || p.ends === p.backUs.n)
  );
}

/** Polls the groups until all their streams are back (or `timeoutMs`); returns the last reports. */
export async function waitAllBack(
  groups: readonly { readonly group: ClientGroup; readonly conns: number }[],
  timeoutMs: number,
): Promise<ClientReport[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const reports = await Promise.all(groups.map((g) => g.group.report()));
    if (reports.every((r, i) => allBack(r, groups[i]!.conns)) || Date.now() > deadline) return reports;
    await sleep(250);
  }
}

/**
 * Polls the groups until every stream that ended in one of `phases` is ready again (or
 * `timeoutMs`); streams ending in other phases (e.g. moved by the edges' rebalancing meanwhile)
 * are not waited for. Returns the last reports.
 */
export async function waitPhasesBack(
  groups: readonly ClientGroup[],
  phases: readonly number[],
  timeoutMs: number,
): Promise<ClientReport[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const reports = await Promise.all(groups.map((g) => g.report()));
    const back = reports.every((r) =>
      r.phases.filter((p) => phases.includes(p.phase)).every((p) => p.ends === p.backUs.n),
    );
    if (back || Date.now() > deadline) return reports;
    await sleep(250);
  }
}

/** One phase (one edge's restart) as the clients saw it. */
export interface PhaseSummary {
  readonly edge: number;
  /** Ready streams that ended in the phase (the edge's clients, and any it got back from earlier). */
  readonly streamsEnded: number;
  readonly streamsBack: number;
  /** Responses in the phase that ended before any event (a draining edge's answer, or a stream it ended while binding). */
  readonly retryOnly: number;
  /** From the edge's SIGTERM until each of them was `ready` again: max and p99 (s). */
  readonly allBackSeconds: number | undefined;
  readonly p99BackSeconds: number | undefined;
  readonly p50BackSeconds: number | undefined;
}

function seconds(h: HistogramJson, q: number): number | undefined {
  const us = q >= 1 ? (h.n > 0 ? h.max : undefined) : quantile(h, q);
  return us === undefined ? undefined : round(us / 1e6, 3);
}

export function summarizePhases(r: ClientReport, edges: number): PhaseSummary[] {
  return Array.from({ length: edges }, (_, k) => {
    const p = r.phases.find((x) => x.phase === k + 1);
    const h = p?.backUs ?? { n: 0, max: 0, sum: 0, buckets: [] };
    return {
      edge: k,
      streamsEnded: p?.ends ?? 0,
      streamsBack: h.n,
      retryOnly: p?.retryOnly ?? 0,
      allBackSeconds: seconds(h, 1),
      p99BackSeconds: seconds(h, 0.99),
      p50BackSeconds: seconds(h, 0.5),
    };
  });
}

/**
 * The largest share of all clients that one edge holds during such an update, when each drained
 * edge's clients spread evenly over the edges in service (3 edges: 3/4, the last edge standing
 * before the third step).
 */
export function worstEdgeShare(edges: number): number {
  const load = Array.from({ length: edges }, () => 1 / edges);
  let worst = 1 / edges;
  for (let k = 0; k < edges; k++) {
    const moved = load[k]!;
    load[k] = 0;
    for (let j = 0; j < edges; j++) if (j !== k) load[j]! += moved / (edges - 1);
    worst = Math.max(worst, ...load);
  }
  return worst;
}
