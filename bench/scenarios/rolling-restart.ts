/**
 * Scenario 8, rolling restart with v2 resume: one ingest and three edges behind a load balancer
 * (a Kubernetes Service: new connections only to edges in service), N v2 clients and a v1 group
 * alongside, a steady 100 messages/s published to RabbitMQ throughout. The edges are restarted one
 * after the other (SIGTERM, drain over DRAIN_SECONDS, exit, replacement ready, next), and every v2
 * client must come back through another edge with its Last-Event-ID and miss nothing, repeat
 * nothing, see no `gap`.
 *
 * Also what the history costs, measured so that a shared 2-core machine's drift does not decide it:
 * before the restart, a second installation with HISTORY_SECONDS=0 (same edges count, same clients)
 * runs alongside, and the messages go to one installation at a time in steady windows alternating
 * on, off, off, on. In each window the v1 and v2 clients of the same edges get the same messages (v2
 * − v1: what v2 costs at the edge); across the windows, on − off is what retaining costs in the
 * ingest and Redis (CPU per message) and in every client's latency. Then the off installation stops
 * and the on installation's edges are restarted.
 */
import path from 'node:path';
import type { BenchContext } from '../lib/context.js';
import { startPrivateRedis } from '../lib/private-redis.js';
import { readSum } from '../lib/edge-metrics.js';
import { mergeHistograms, summarize, type HistogramJson, type LatencySummary } from '../lib/histogram.js';
import { SequencedSource, sleep } from '../lib/load.js';
import { CpuMeter, round } from '../lib/proc-stats.js';
import { figure, type Check, type Figure, type ScenarioResult } from '../lib/results.js';
import { writeResumeMix, type ResumeMix } from '../lib/resume-mix.js';
import { RoundPublisher } from '../lib/round-publisher.js';
import {
  addCounters,
  readResumeCounters,
  rollingUpdate,
  summarizePhases,
  waitAllBack,
  waitPhasesBack,
  worstEdgeShare,
  type PhaseSummary,
  UpdateSampler,
  type ResumeCounters,
  type UpdateSample,
  type UpdateStep,
} from '../lib/rolling-update.js';
import { ServiceEndpoints } from '../lib/service-endpoints.js';
import { ClientGroup, MAX_CONNS_PER_SHARD, type ClientReport } from '../lib/sse-clients.js';
import { startTarget, type ServiceProcess, type Target } from '../lib/targets.js';
import {
  idealMoves,
  isBalanced,
  largestDeviationPercent,
  readRebalanceCloses,
  readStreams,
  watchBalance,
} from '../lib/tier-balance.js';
import type { MessageSink } from '../lib/publishers.js';
import type { Scenario } from './scenario.js';

export interface RollingRestartParams {
  /** v2 clients (`--clients`). */
  readonly clients: number;
  /** v1 clients on the same edges, for the latency comparison (`--v1-clients`; 0: none). */
  readonly v1Clients: number;
  readonly edges: number;
  /** Messages per second published to RabbitMQ, the whole run (`--rate`). */
  readonly rate: number;
  /** Routing keys (one per group binding): each round publishes one message to each. */
  readonly groups: number;
  readonly payloadBytes: number;
  /** The edges' DRAIN_SECONDS (`--drain-seconds`). */
  readonly drainSeconds: number;
  /**
   * Seconds from taking an edge out of the Service to its SIGTERM (the chart's preStop sleep, 5 by
   * default; 0 here: the endpoint list changes at once, so only connections already in flight reach
   * the draining edge, and it tells them to come back).
   */
  readonly preStopSeconds: number;
  /** The edges' SSE_RETRY_MS: a v2 client reconnects 1–2× this after its stream ended. */
  readonly retryMs: number;
  /** A v1 client opens a new stream a random 0..this ms after the server ended its stream. */
  readonly v1ReconnectJitterMs: number;
  /** Publishing before each steady window and before the restart (the pipeline full again). */
  readonly warmupSeconds: number;
  /** Each steady window, in which latency and CPU per message are measured. */
  readonly windowSeconds: number;
  /** Steady windows per installation (alternating between the two: on, off, off, on, …). */
  readonly windowPairs: number;
  /** Connections in flight (not yet `ready`) at most, per client process. */
  readonly maxPending: number;
  /** Also run the installation with HISTORY_SECONDS=0 (the history-cost comparison). */
  readonly compareHistoryOff: boolean;
  /**
   * Run the installations on a redis-server of the run's own instead of the machine's, so that
   * Redis's CPU is theirs alone (the machine's serves other work too).
   */
  readonly privateRedis: boolean;
  /** The edges' REBALANCE_TOLERANCE (`--rebalance-tolerance`; undefined: their default, 0.1; 0: off). */
  readonly rebalanceTolerance: number | undefined;
  /** The edges' REBALANCE_RATE_PER_SECOND (`--rebalance-rate`; undefined: their default, 50). */
  readonly rebalanceRatePerSecond: number | undefined;
  /**
   * After the update, how long to wait for every edge within `balancedWithin` of the mean
   * (`--balance-timeout`; undefined: 120 s with rebalancing on, 15 s with it off; 0: no wait, the
   * distribution right after the update only, as `--quick` does to stay a short smoke).
   */
  readonly balanceTimeoutSeconds: number | undefined;
  readonly balancedWithin: number;
  readonly logLevel: string;
}

/** Sockets one process may hold here (ENVIRONMENT.md: `ulimit -n` 20,000), less room for the rest. */
const SOCKETS_PER_PROCESS = 19_000;

export interface GroupOutcome {
  readonly clients: number;
  readonly report: ClientReport;
  /** Summed over clients: messages of their key never received; received more than once. */
  readonly lost: number;
  readonly duplicated: number;
  readonly phases: readonly PhaseSummary[];
  readonly reconnectTime: LatencySummary;
  readonly problems: readonly string[];
}

export interface RestartMeasure {
  readonly steps: readonly UpdateStep[];
  readonly seconds: number;
  /** From the first SIGTERM until every client the drains moved (both groups) was streaming again (s). */
  readonly allBackSeconds: number;
  readonly rounds: number;
  readonly messagesPublished: number;
  readonly v2: GroupOutcome;
  readonly v1: GroupOutcome | undefined;
  /** What the edges counted (the old ones read just before their SIGTERM, the new ones at the end). */
  readonly server: ResumeCounters;
  /** Cores over the update, for the processes that lived through it and the machine. */
  readonly cpu: Record<string, number>;
  /** The edges' CPU over the update (cores, old and new edges summed), and CPU seconds by edge. */
  readonly edgeCores: number;
  readonly edgeCpuSeconds: Record<string, number>;
  /** Every 500 ms from the first SIGTERM: [s, v2 ready, v2 connecting, v2 waiting, v1 …]. */
  readonly timeline: readonly UpdateSample[];
  /** How the replacements held the streams after the update, and whether the tier rebalanced. */
  readonly tier: TierAfterUpdate;
}

/** The stream distribution over the replacement edges after the update (each edge's events_edge_connections). */
export interface TierAfterUpdate {
  readonly rebalancing: boolean;
  /** When every client the update's drains moved was streaming again. */
  readonly afterUpdate: readonly number[];
  /** After waiting for a balanced, settled tier (or the timeout). */
  readonly final: readonly number[];
  /** From every client back to the first poll with every edge within `balancedWithin` of the mean. */
  readonly balancedSeconds: number | undefined;
  /** How long the wait was allowed (0: none) and took. */
  readonly timeoutSeconds: number;
  readonly waitedSeconds: number;
  readonly timedOut: boolean;
  /** v2 streams ended since the update's end (the last replacement in the Service): rebalancing. */
  readonly movedAfter: number;
  /** From the last replacement joining the Service to `afterUpdate` (its clients all back). */
  readonly sinceUpdateEndSeconds: number;
}

export interface InstallationMeasure {
  readonly historySeconds: number;
  readonly mix: string;
  readonly distinctBindings: number;
  readonly connectSeconds: number;
  readonly movedWhileConnecting: number;
  readonly window: SteadyWindows;
  readonly restart?: RestartMeasure;
}

export interface RollingRestartMeasure {
  readonly params: RollingRestartParams;
  /** When the requested client count could not run here: why, and what ran instead. */
  readonly capacityNote: string | undefined;
  /** Which Redis the installations used: a private redis-server of the run's, or the machine's. */
  readonly redis: 'private' | 'shared';
  readonly on: InstallationMeasure;
  readonly off: InstallationMeasure | undefined;
}

interface Clients {
  readonly v2: ClientGroup;
  readonly v1: ClientGroup | undefined;
  readonly all: readonly ClientGroup[];
  readonly pids: Record<string, number>;
}

function startClients(mix: ResumeMix, p: RollingRestartParams, ports: readonly number[]): Clients {
  // The v2 group runs in client processes of the v1 group's size (10 of 1,000 by default, against
  // one of 1,000), so that each process receives as much per second and the v2 − v1 latency is not
  // one client process's event loop against another's.
  const perShard = p.v1Clients > 0 ? Math.min(p.v1Clients, MAX_CONNS_PER_SHARD) : undefined;
  const common = { ports, endpoints: ports, path: '/', maxPending: p.maxPending };
  const v2 = ClientGroup.start({
    ...common,
    ...(perShard ? { perShard } : {}),
    pathsFile: mix.v2PathsFile,
    conns: p.clients,
    resume: true,
    // Used only when a stream ended before the server sent `retry:` (not expected).
    reconnectJitterMs: p.retryMs,
  });
  const v1 =
    p.v1Clients > 0
      ? ClientGroup.start({
          ...common,
          pathsFile: mix.v1PathsFile,
          conns: p.v1Clients,
          reconnectJitterMs: p.v1ReconnectJitterMs,
        })
      : undefined;
  const all = v1 ? [v2, v1] : [v2];
  const pids: Record<string, number> = {};
  for (const [name, g] of [
    ['v2', v2],
    ['v1', v1],
  ] as const)
    if (g) for (const [k, pid] of Object.entries(g.pids)) pids[`${name}-${k}`] = pid;
  return { v2, v1, all, pids };
}

/**
 * One window: publishing to one installation only (its clients receiving), or to none (quiet: what
 * every process costs while nothing is published, for the marginal figures).
 */
interface RawWindow {
  /** The installation published to; undefined for a quiet window. */
  readonly label: string | undefined;
  readonly wallSeconds: number;
  readonly messages: number;
  readonly deliveries: { readonly v1: number; readonly v2: number };
  readonly latencyUs: { readonly v1: HistogramJson | undefined; readonly v2: HistogramJson | undefined };
  /**
   * CPU seconds by role: `<label>:ingest` and `<label>:edges` for each installation, `redis`,
   * `rabbitmq`, and `machine` (everything busy on the machine, other tenants too).
   */
  readonly cpuSeconds: Readonly<Record<string, number>>;
  readonly batches: number;
  readonly recordCalls: number;
  readonly recordSeconds: number;
  readonly publishSeconds: number;
  readonly problems: readonly string[];
}

/** An installation's steady windows, together. */
export interface SteadyWindows {
  readonly windows: number;
  readonly seconds: number;
  readonly messagesPublished: number;
  readonly deliveries: { readonly v1: number; readonly v2: number };
  /** Publish (payload time) to client receipt. */
  readonly latency: { readonly v1: LatencySummary | undefined; readonly v2: LatencySummary };
  /** Average cores over the windows: this installation's ingest and edges, Redis, RabbitMQ, the machine. */
  readonly cores: Readonly<Record<string, number>>;
  /** The same while nothing was published (quiet windows): the fixed cost of timers, pings, renewals. */
  readonly quietCores: Readonly<Record<string, number>>;
  /**
   * CPU per message published (µs), beyond the quiet windows' rate: what one more message costs.
   * Redis serves both installations; their quiet load is taken out with the rest.
   */
  readonly cpuUsPerMessage: {
    readonly ingest: number;
    readonly redis: number | undefined;
    readonly ingestPlusRedis: number | undefined;
    readonly rabbitmq: number | undefined;
  };
  /** The edges' CPU per message delivered to a client (µs), beyond their quiet rate. */
  readonly edgeCpuUsPerDelivery: number;
  /** The ingest's own timers: mean time of one history record and one bus publish, per batch (ms). */
  readonly ingestBatches: number;
  readonly historyRecordMs: number | undefined;
  readonly busPublishMs: number | undefined;
  /** Duplicates, gaps and errors seen (none expected). */
  readonly problems: readonly string[];
}

async function ingestTimers(metricsPort: number) {
  const [historySum, historyCount, publishSum, publishCount] = await Promise.all([
    readSum(metricsPort, 'events_ingest_history_seconds_sum'),
    readSum(metricsPort, 'events_ingest_history_seconds_count'),
    readSum(metricsPort, 'events_ingest_publish_seconds_sum'),
    readSum(metricsPort, 'events_ingest_publish_seconds_count'),
  ]);
  return { historySum, historyCount, publishSum, publishCount };
}

function windowProblems(name: string, r: ClientReport): string[] {
  const out: string[] = [];
  if (r.duplicates > 0) out.push(`${name}: ${r.duplicates} duplicates`);
  if (r.gaps > 0) out.push(`${name}: ${r.gaps} gaps (${r.missing} missing)`);
  if (r.errorEvents > 0) out.push(`${name}: ${r.errorEvents} error events (${r.firstError})`);
  if (r.gapEvents > 0) out.push(`${name}: ${r.gapEvents} gap events`);
  if (r.badFrames > 0) out.push(`${name}: ${r.badFrames} bad frames`);
  return out;
}

/** Every process to meter, as `<label>:<name>` for the installations' and by name for the rest. */
function meteredPids(insts: readonly Installation[], infra: Record<string, number>): Record<string, number> {
  const pids: Record<string, number> = {};
  for (const i of insts)
    for (const [name, pid] of Object.entries(i.target.pids)) pids[`${i.label}:${name}`] = pid;
  for (const name of ['redis', 'rabbitmq']) if (infra[name] !== undefined) pids[name] = infra[name];
  return pids;
}

async function measureWindow(
  insts: readonly Installation[],
  infra: Record<string, number>,
  active: { readonly inst: Installation; readonly publisher: RoundPublisher } | undefined,
  seconds: number,
): Promise<RawWindow> {
  const clients = active?.inst.clients;
  // A report restarts the interval figures: the window's latency is what arrives from here on.
  if (clients) await Promise.all(clients.all.map((g) => g.report()));
  const before = active ? await ingestTimers(active.inst.target.ingestMetricsPort!) : undefined;
  const pids = meteredPids(insts, infra);
  const meter = new CpuMeter(pids, { precise: true });
  const roundsBefore = active?.publisher.completed ?? 0;
  await sleep(seconds * 1000);
  const [v2, v1] = clients ? await Promise.all([clients.v2.report(), clients.v1?.report()]) : [];
  const messages = active ? (active.publisher.completed - roundsBefore) * active.inst.mix.keys.length : 0;
  const cpuSeconds: Record<string, number> = { machine: meter.machineSeconds() };
  for (const name of Object.keys(pids)) {
    const role = name.includes(':edge') ? name.replace(/:edge\d+$/, ':edges') : name;
    cpuSeconds[role] = (cpuSeconds[role] ?? 0) + meter.seconds(name);
  }
  const after = active ? await ingestTimers(active.inst.target.ingestMetricsPort!) : undefined;
  const delta = (f: (t: Awaited<ReturnType<typeof ingestTimers>>) => number) =>
    before && after ? f(after) - f(before) : 0;
  return {
    label: active?.inst.label,
    wallSeconds: meter.wallSeconds,
    messages,
    deliveries: { v1: v1?.intervalMessages ?? 0, v2: v2?.intervalMessages ?? 0 },
    latencyUs: { v1: v1?.intervalLatencyUs, v2: v2?.intervalLatencyUs },
    cpuSeconds,
    batches: delta((t) => t.publishCount),
    recordCalls: delta((t) => t.historyCount),
    recordSeconds: delta((t) => t.historySum),
    publishSeconds: delta((t) => t.publishSum),
    problems: [...(v2 ? windowProblems('v2', v2) : []), ...(v1 ? windowProblems('v1', v1) : [])],
  };
}

function combineWindows(
  label: string,
  list: readonly RawWindow[],
  quiet: readonly RawWindow[],
): SteadyWindows {
  const sum = (ws: readonly RawWindow[], f: (w: RawWindow) => number) => ws.reduce((s, w) => s + f(w), 0);
  const wall = sum(list, (w) => w.wallSeconds);
  const quietWall = sum(quiet, (w) => w.wallSeconds);
  const messages = sum(list, (w) => w.messages);
  const deliveries = { v1: sum(list, (w) => w.deliveries.v1), v2: sum(list, (w) => w.deliveries.v2) };
  const seconds = (ws: readonly RawWindow[], role: string) =>
    ws.length > 0 && ws.every((w) => w.cpuSeconds[role] !== undefined)
      ? sum(ws, (w) => w.cpuSeconds[role]!)
      : undefined;
  /** CPU seconds of `role` in the windows beyond what it spends at its quiet rate over as long. */
  const marginal = (role: string) => {
    const busy = seconds(list, role);
    const idle = seconds(quiet, role);
    return busy === undefined ? undefined : busy - (idle === undefined ? 0 : (idle / quietWall) * wall);
  };
  const perMessage = (role: string) => {
    const s = marginal(role);
    return s === undefined ? undefined : round((s * 1e6) / Math.max(1, messages), 1);
  };
  const roles = {
    ingest: `${label}:ingest`,
    edges: `${label}:edges`,
    redis: 'redis',
    rabbitmq: 'rabbitmq',
    machine: 'machine',
  };
  const cores: Record<string, number> = {};
  const quietCores: Record<string, number> = {};
  for (const [name, role] of Object.entries(roles)) {
    const busy = seconds(list, role);
    if (busy !== undefined) cores[name] = round(busy / wall, 3);
    const idle = seconds(quiet, role);
    if (idle !== undefined) quietCores[name] = round(idle / quietWall, 3);
  }
  const ingest = perMessage(roles.ingest)!;
  const redis = perMessage('redis');
  const v1 = list.map((w) => w.latencyUs.v1).filter((h): h is HistogramJson => h !== undefined);
  const v2 = list.map((w) => w.latencyUs.v2).filter((h): h is HistogramJson => h !== undefined);
  const batches = sum(list, (w) => w.batches);
  const recordCalls = sum(list, (w) => w.recordCalls);
  return {
    windows: list.length,
    seconds: round(wall, 1),
    messagesPublished: messages,
    deliveries,
    latency: {
      v1: v1.length > 0 ? summarize(mergeHistograms(v1)) : undefined,
      v2: summarize(mergeHistograms(v2)),
    },
    cores,
    quietCores,
    cpuUsPerMessage: {
      ingest,
      redis,
      ingestPlusRedis: redis === undefined ? undefined : round(ingest + redis, 1),
      rabbitmq: perMessage('rabbitmq'),
    },
    edgeCpuUsPerDelivery: round(
      ((marginal(roles.edges) ?? 0) * 1e6) / Math.max(1, deliveries.v1 + deliveries.v2),
      2,
    ),
    ingestBatches: batches,
    historyRecordMs:
      recordCalls > 0 ? round((sum(list, (w) => w.recordSeconds) * 1000) / recordCalls, 3) : undefined,
    busPublishMs: batches > 0 ? round((sum(list, (w) => w.publishSeconds) * 1000) / batches, 3) : undefined,
    problems: [...new Set(list.flatMap((w) => w.problems))],
  };
}

/** One installation of the services (ingest and edges), its exchange, its clients, its message source. */
interface Installation {
  readonly historyOn: boolean;
  readonly label: string;
  readonly target: Target;
  readonly exchange: string;
  readonly mix: ResumeMix;
  readonly source: SequencedSource;
  readonly sink: MessageSink;
  readonly clients: Clients;
  readonly connectSeconds: number;
  /** v2 streams the edges ended to rebalance while the clients were connecting (their counts uneven for a moment). */
  readonly movedWhileConnecting: number;
}

async function startInstallation(
  ctx: BenchContext,
  p: RollingRestartParams,
  historyOn: boolean,
  redisUrl: string | undefined,
): Promise<Installation> {
  const label = historyOn ? 'rolling-on' : 'rolling-off';
  const exchange = await ctx.topicExchange(label);
  const mix = writeResumeMix(exchange, p.groups, ctx.runDir, label);
  const target = await startTarget(ctx, 'edge', {
    label,
    edges: p.edges,
    ...(redisUrl ? { redisUrl } : {}),
    env: {
      LOG_LEVEL: p.logLevel,
      DRAIN_SECONDS: String(p.drainSeconds),
      ...(p.rebalanceRatePerSecond !== undefined
        ? { REBALANCE_RATE_PER_SECOND: String(p.rebalanceRatePerSecond) }
        : {}),
      SSE_RETRY_MS: String(p.retryMs),
      // Without history a moved v2 stream can only resume with a gap: the HISTORY_SECONDS=0
      // installation, there for the cost comparison only, never rebalances.
      ...(historyOn
        ? p.rebalanceTolerance !== undefined
          ? { REBALANCE_TOLERANCE: String(p.rebalanceTolerance) }
          : {}
        : { HISTORY_SECONDS: '0', REBALANCE_TOLERANCE: '0' }),
    },
  });
  let clients: Clients | undefined;
  try {
    ctx.log(
      `    ${historyOn ? 'history on' : 'HISTORY_SECONDS=0'}: ${p.clients} v2 + ${p.v1Clients} v1 clients → ` +
        `${p.edges} edges (${mix.distinctBindings} distinct bindings)`,
    );
    const connectStart = performance.now();
    clients = startClients(mix, p, target.ports);
    const [s2, s1] = await Promise.all([clients.v2.settled(300_000), clients.v1?.settled(300_000)]);
    const connectSeconds = round((performance.now() - connectStart) / 1000, 2);
    // A v2 stream the edges moved while the others were still connecting gets ready twice.
    if (s2.ready < p.clients || (s1 && s1.ready !== p.v1Clients))
      throw new Error(
        `${s2.ready} of ${p.clients} v2 and ${s1?.ready ?? 0} of ${p.v1Clients} v1 clients got ready ` +
          `(${s2.firstError || s1?.firstError})`,
      );
    const movedWhileConnecting = (
      await Promise.all(target.edgeMetricsPorts!.map((port) => readRebalanceCloses(port)))
    ).reduce((sum, n) => sum + n, 0);
    if (movedWhileConnecting > 0)
      ctx.log(`    the edges moved ${movedWhileConnecting} v2 streams while the clients connected`);
    const sink = await target.sink(exchange, []);
    const source = new SequencedSource(mix.keys, p.payloadBytes);
    return {
      historyOn,
      label,
      target,
      exchange,
      mix,
      source,
      sink,
      clients,
      connectSeconds,
      movedWhileConnecting,
    };
  } catch (err) {
    for (const g of clients?.all ?? []) await g.finish().catch(() => undefined);
    await target.stop();
    throw err;
  }
}

async function stopInstallation(ctx: BenchContext, inst: Installation): Promise<void> {
  await inst.sink.close().catch(() => undefined);
  for (const g of inst.clients.all) await g.finish().catch(() => undefined);
  await inst.target.stop();
  await ctx.deleteExchange(inst.exchange);
}

/** Publishes `rate` messages/s to one installation at a time (the other gets nothing meanwhile). */
class Publishing {
  private current: { inst: Installation; publisher: RoundPublisher } | undefined;

  constructor(private readonly rate: number) {}

  get publisher(): RoundPublisher {
    return this.current!.publisher;
  }

  async to(inst: Installation): Promise<RoundPublisher> {
    if (this.current?.inst !== inst) {
      await this.stop();
      this.current = {
        inst,
        publisher: RoundPublisher.start(inst.sink, inst.source, this.rate / inst.mix.keys.length, {
          spread: true,
        }),
      };
    }
    return this.current.publisher;
  }

  async stop(): Promise<void> {
    const c = this.current;
    this.current = undefined;
    await c?.publisher.stop();
  }
}

/** After publishing stopped: waits until every stream has the last round, then takes the outcome. */
async function finalOutcome(
  group: ClientGroup,
  clients: number,
  rounds: number,
  edges: number,
  resume: boolean,
): Promise<GroupOutcome> {
  const deadline = Date.now() + 30_000;
  let r = await group.report();
  while ((r.nextSeqMin !== rounds || r.nextSeqMax !== rounds) && Date.now() < deadline) {
    await sleep(100);
    r = await group.report();
  }
  // Per client: rounds - (next seq - skipped) never arrived. A v1 stream restarts its sequence at
  // its first message after a reconnect, so what v1 missed is what it did not receive at all.
  const lost = resume ? clients * rounds - r.nextSeqSum + r.missing : clients * rounds - (r.inOrder + r.gaps);
  const problems: string[] = [];
  const expect = (ok: boolean, problem: string) => ok || problems.push(problem);
  expect(r.readyNow === clients, `${r.readyNow} of ${clients} streams open and ready at the end`);
  expect(r.duplicates === 0, `${r.duplicates} duplicate or out-of-order messages`);
  expect(r.badFrames === 0, `${r.badFrames} frames that did not parse`);
  expect(r.phaseUnattributed === 0, `${r.phaseUnattributed} reconnects outside a timed phase`);
  if (resume) {
    expect(lost === 0, `${lost} messages lost (${r.gaps} gaps, ${r.missing} skipped)`);
    expect(r.gapEvents === 0, `${r.gapEvents} gap events`);
    expect(r.cursorRegressions === 0, `${r.cursorRegressions} message cursors not after the previous id`);
    expect(r.badIds === 0, `${r.badIds} ids that are not cursors`);
    expect(r.errorEvents === 0, `${r.errorEvents} error events (${r.firstError})`);
    expect(
      r.nextSeqMin === rounds && r.nextSeqMax === rounds,
      `per-stream next seq ${r.nextSeqMin}..${r.nextSeqMax}, expected ${rounds}`,
    );
  } else {
    expect(
      r.lostAfterReady === 0,
      `${r.lostAfterReady} streams lost a message published after their new ready`,
    );
  }
  return {
    clients,
    report: r,
    lost,
    duplicated: r.duplicates,
    phases: summarizePhases(r, edges),
    reconnectTime: summarize(r.reconnectUs),
    problems,
  };
}

/**
 * After the update: the replacements' stream counts once the drained clients are all back, then
 * (publishing on) polled until every edge is within `balancedWithin` of the mean and no rebalance
 * close has appeared for 5 s, or the timeout; then every client back again. Streams ended since the
 * update's end count in `phase` (from `updateEnd`).
 */
async function settleTier(
  ctx: BenchContext,
  p: RollingRestartParams,
  edges: readonly ServiceProcess[],
  groups: readonly { readonly group: ClientGroup; readonly conns: number }[],
  phase: number,
  updateEnd: bigint,
): Promise<TierAfterUpdate> {
  const origin = process.hrtime.bigint();
  const ports = edges.map((e) => e.metricsPort);
  const afterUpdate = await Promise.all(ports.map(readStreams));
  const rebalancing = p.rebalanceTolerance !== 0;
  const timeoutSeconds = p.balanceTimeoutSeconds ?? (rebalancing ? 120 : 15);
  ctx.log(
    `    after the update: ${afterUpdate.join(' / ')} streams (rebalancing ${rebalancing ? 'on' : 'off'})` +
      (timeoutSeconds > 0 ? `; waiting up to ${timeoutSeconds} s for a balanced tier` : ''),
  );
  const watch = await watchBalance({
    edges: () => ports,
    complete: () => true,
    slots: ports.length,
    within: p.balancedWithin,
    quietSeconds: 5,
    originNs: origin,
    timeoutNs: origin + BigInt(Math.round(timeoutSeconds * 1e9)),
    pollMs: 250,
  });
  await waitAllBack(groups, 120_000);
  const final = await Promise.all(ports.map(readStreams));
  if (timeoutSeconds > 0)
    ctx.log(
      `    ${watch.balancedNs !== undefined ? 'balanced' : 'not balanced'} within ${timeoutSeconds} s; ` +
        `then ${final.join(' / ')} streams`,
    );
  const v2 = (await groups[0]!.group.report()).phases.find((x) => x.phase === phase);
  return {
    rebalancing,
    afterUpdate,
    final,
    balancedSeconds:
      watch.balancedNs !== undefined ? round(Number(watch.balancedNs - origin) / 1e9, 2) : undefined,
    waitedSeconds: round(Number(watch.endNs - origin) / 1e9, 2),
    timedOut: watch.timedOut,
    timeoutSeconds,
    movedAfter: v2?.ends ?? 0,
    sinceUpdateEndSeconds: round(Number(origin - updateEnd) / 1e9, 2),
  };
}

/** The rolling update of the installation's edges, publishing to it throughout, and its outcome. */
async function restartEdges(
  ctx: BenchContext,
  p: RollingRestartParams,
  inst: Installation,
  publishing: Publishing,
  infra: Record<string, number>,
): Promise<RestartMeasure> {
  const { target, clients } = inst;
  const publisher = await publishing.to(inst);
  await sleep(p.warmupSeconds * 1000);
  const service = new ServiceEndpoints(clients.all, target.ports);
  const survivors = ['ingest', 'redis', 'rabbitmq', 'harness'];
  const meter = new CpuMeter(
    Object.fromEntries(
      Object.entries({ ...target.pids, ...infra, ...clients.pids }).filter(
        ([n]) => survivors.includes(n) || n.startsWith('v'),
      ),
    ),
  );
  const replacements: ServiceProcess[] = [];
  const sampler = new UpdateSampler(clients.all);
  try {
    const firstTerm = performance.now();
    const update = await rollingUpdate(
      ctx,
      target.servers.map((child, i) => ({
        child,
        port: target.ports[i]!,
        metricsPort: target.edgeMetricsPorts![i]!,
      })),
      service,
      clients.all,
      {
        env: target.serviceEnv!,
        label: inst.label,
        exitTimeoutMs: (p.drainSeconds + 30) * 1000,
        sampler,
        preStopSeconds: p.preStopSeconds,
      },
    );
    replacements.push(...update.replacements);
    const groups = [{ group: clients.v2, conns: p.clients }];
    if (clients.v1) groups.push({ group: clients.v1, conns: p.v1Clients });
    // Streams ended from here on (the edges rebalancing onto the replacements) count in a phase of
    // their own, so that the update's own phases time only what the drains moved.
    const afterPhase = p.edges + 1;
    await Promise.all(groups.map((g) => g.group.startPhase(afterPhase)));
    const updateEnd = process.hrtime.bigint();
    for (const g of groups) g.group.setPhaseOrigin(afterPhase, updateEnd);
    await waitPhasesBack(
      groups.map((g) => g.group),
      Array.from({ length: p.edges }, (_, k) => k + 1),
      120_000,
    );
    const allBackSeconds = round((performance.now() - firstTerm) / 1000, 2);
    const cpu = meter.read();
    const sampled = await sampler.stop();
    ctx.log(`    every restarted edge's clients streaming again ${allBackSeconds} s after the first SIGTERM`);
    const tier = await settleTier(ctx, p, update.replacements, groups, afterPhase, updateEnd);
    // Messages keep flowing through the replaced edges a moment, then publishing stops.
    await publisher.waitRounds(Math.max(2, Math.ceil(p.rate / inst.mix.keys.length)));
    await publishing.stop();
    const rounds = inst.source.count / inst.mix.keys.length;
    const v2 = await finalOutcome(clients.v2, p.clients, rounds, p.edges, true);
    const v1 = clients.v1 ? await finalOutcome(clients.v1, p.v1Clients, rounds, p.edges, false) : undefined;
    const fresh = await Promise.all(update.replacements.map((r) => readResumeCounters(r.metricsPort)));
    return {
      steps: update.steps,
      seconds: update.seconds,
      allBackSeconds,
      rounds,
      messagesPublished: inst.source.count,
      v2,
      v1,
      server: addCounters([...update.steps.map((s) => s.resumedBefore), ...fresh]),
      cpu,
      edgeCores: sampled.edgeCores,
      edgeCpuSeconds: sampled.byEdge,
      timeline: sampler.timeline,
      tier,
    };
  } finally {
    await sampler.stop();
    await Promise.all(replacements.map((r) => r.child.stop()));
  }
}

/** The largest v2 count (with the v1 group in proportion) whose busiest edge stays within one process's sockets. */
export function fitClients(p: RollingRestartParams): {
  params: RollingRestartParams;
  note: string | undefined;
} {
  const share = worstEdgeShare(p.edges);
  const total = p.clients + p.v1Clients;
  if (total * share <= SOCKETS_PER_PROCESS) return { params: p, note: undefined };
  const scale = SOCKETS_PER_PROCESS / share / total;
  const clients = Math.floor(p.clients * scale);
  const v1Clients = Math.floor(p.v1Clients * scale);
  return {
    params: { ...p, clients, v1Clients },
    note:
      `${p.clients} v2 + ${p.v1Clients} v1 clients cannot run here: during the update one of ${p.edges} edges ` +
      `holds up to ${Math.round(share * 100)}% of them, past the ~${SOCKETS_PER_PROCESS.toLocaleString('en-US')} ` +
      `sockets a process may open on this machine (ulimit -n 20,000); ran ${clients} v2 + ${v1Clients} v1 instead`,
  };
}

export async function measureRollingRestart(
  ctx: BenchContext,
  requested: RollingRestartParams,
): Promise<RollingRestartMeasure> {
  if (requested.edges < 2) throw new Error('a rolling restart needs at least 2 edges (--edges N)');
  const { params: p, note } = fitClients(requested);
  if (note) ctx.log(`    ${note}`);
  const publishing = new Publishing(p.rate);
  const started: Installation[] = [];
  const privateRedis = p.privateRedis
    ? await startPrivateRedis(path.join(ctx.runDir, 'redis-private.log'))
    : undefined;
  const infra = { ...ctx.infraPids, ...(privateRedis ? { redis: privateRedis.pid } : {}) };
  const redisUrl = privateRedis?.url;
  try {
    const [on, off] = await Promise.all([
      startInstallation(ctx, p, true, redisUrl).then((i) => (started.push(i), i)),
      p.compareHistoryOff
        ? startInstallation(ctx, p, false, redisUrl).then((i) => (started.push(i), i))
        : undefined,
    ]);
    // Steady windows, publishing to one installation at a time, in the order on, off, off, on, …
    // (so a drift of the machine's load over the run weighs on both alike), and after each pair a
    // quiet one, publishing nothing (what the processes cost without messages).
    const insts = off ? [on, off] : [on];
    const windows: RawWindow[] = [];
    for (let pair = 0; pair < p.windowPairs; pair++) {
      const order = off ? (pair % 2 === 0 ? [on, off] : [off, on]) : [on];
      for (const inst of order) {
        const publisher = await publishing.to(inst);
        await sleep(p.warmupSeconds * 1000);
        ctx.log(`    steady window ${inst.label}, ${p.windowSeconds} s at ${p.rate} msg/s`);
        windows.push(await measureWindow(insts, infra, { inst, publisher }, p.windowSeconds));
      }
      await publishing.stop();
      await sleep(p.warmupSeconds * 1000);
      ctx.log(`    quiet window, ${p.windowSeconds} s`);
      windows.push(await measureWindow(insts, infra, undefined, p.windowSeconds));
    }
    const quiet = windows.filter((w) => w.label === undefined);
    const summary = (inst: Installation): InstallationMeasure => ({
      historySeconds: Number(inst.target.serviceEnv?.HISTORY_SECONDS ?? 300),
      mix: inst.mix.description,
      distinctBindings: inst.mix.distinctBindings,
      connectSeconds: inst.connectSeconds,
      movedWhileConnecting: inst.movedWhileConnecting,
      window: combineWindows(
        inst.label,
        windows.filter((w) => w.label === inst.label),
        quiet,
      ),
    });
    const onSummary = summary(on);
    const offSummary = off ? summary(off) : undefined;
    if (off) {
      await stopInstallation(ctx, off);
      started.splice(started.indexOf(off), 1);
    }
    const restart = await restartEdges(ctx, p, on, publishing, infra);
    return {
      params: p,
      capacityNote: note,
      redis: privateRedis ? 'private' : 'shared',
      on: { ...onSummary, restart },
      off: offSummary,
    };
  } finally {
    await publishing.stop().catch(() => undefined);
    for (const inst of started) await stopInstallation(ctx, inst).catch(() => undefined);
    await privateRedis?.stop();
  }
}

function latencyFigures(label: string, w: SteadyWindows | undefined): Figure[] {
  return [
    figure(`${label}: v1 latency p50`, 'ms', { edge: w?.latency.v1?.p50Ms }),
    figure(`${label}: v1 latency p99`, 'ms', { edge: w?.latency.v1?.p99Ms }),
    figure(`${label}: v2 latency p50`, 'ms', { edge: w?.latency.v2.p50Ms }),
    figure(`${label}: v2 latency p99`, 'ms', { edge: w?.latency.v2.p99Ms }),
  ];
}

const diff = (a: number | undefined, b: number | undefined, digits = 2) =>
  a === undefined || b === undefined ? undefined : round(a - b, digits);

function tierFigures(t: TierAfterUpdate, within: number, rebalanced: number): Figure[] {
  const pct = Math.round(within * 100);
  return [
    figure('edges: v2 streams ended to rebalance (history on, whole run)', '', { edge: rebalanced }),
    ...t.afterUpdate.map((n, k) => figure(`after the update: streams on edge${k}-new`, '', { edge: n })),
    figure('after the update: largest distance from the mean', '%', {
      edge: largestDeviationPercent(t.afterUpdate),
    }),
    figure('after the update: streams to move to even it out (above the mean)', '', {
      edge: idealMoves(t.afterUpdate, t.afterUpdate.length),
    }),
    ...(t.timeoutSeconds > 0
      ? [
          figure(`after the update → every edge within ${pct} % of the mean`, 's', {
            edge: t.balancedSeconds,
          }),
          ...t.final.map((n, k) =>
            figure(`${t.waitedSeconds} s later: streams on edge${k}-new`, '', { edge: n }),
          ),
          figure(`${t.waitedSeconds} s later: largest distance from the mean`, '%', {
            edge: largestDeviationPercent(t.final),
          }),
          figure('v2 streams ended after the update (rebalancing)', '', { edge: t.movedAfter }),
        ]
      : []),
  ];
}

export function rollingRestartFigures(m: RollingRestartMeasure): {
  figures: Figure[];
  checks: Check[];
  notes: string[];
} {
  const r = m.on.restart!;
  const { v2, v1 } = r;
  const on = m.on.window;
  const off = m.off?.window;
  const figures: Figure[] = [
    figure('v2 clients', '', { edge: v2.clients }),
    figure('v1 clients (same edges)', '', { edge: v1?.clients ?? 0 }),
    figure('messages published (history-on run)', '', { edge: r.messagesPublished }),
    figure('v2: messages lost, summed over clients', '', { edge: v2.lost }, { kind: 'atMost', value: 0 }),
    figure(
      'v2: messages duplicated, summed over clients',
      '',
      { edge: v2.duplicated },
      { kind: 'atMost', value: 0 },
    ),
    figure('v2: gap events', '', { edge: v2.report.gapEvents }, { kind: 'atMost', value: 0 }),
    ...v2.phases.flatMap((ph) => [
      figure(`edge${ph.edge}: v2 streams moved`, '', { edge: ph.streamsEnded }),
      figure(`edge${ph.edge}: SIGTERM → all its v2 clients streaming again (max)`, 's', {
        edge: ph.allBackSeconds,
      }),
      figure(`edge${ph.edge}: SIGTERM → its v2 clients streaming again, p99`, 's', {
        edge: ph.p99BackSeconds,
      }),
    ]),
    figure('v2: stream end → ready again, p50', 'ms', { edge: v2.reconnectTime.p50Ms }),
    figure('v2: stream end → ready again, p99', 'ms', { edge: v2.reconnectTime.p99Ms }),
    figure('first SIGTERM → every client the drains moved streaming again', 's', { edge: r.allBackSeconds }),
    figure('connects in flight at a SIGTERM, answered 200 + retry: by the draining edge', '', {
      edge: r.steps.reduce((s, x) => s + x.connectsWhileDraining, 0),
    }),
    figure('v2 responses that ended before any event (retry-only)', '', { edge: v2.report.retryOnly }),
    figure("edges' CPU during the update (all edge processes)", 'cores', { edge: r.edgeCores }),
    figure("edges' CPU in the history-on steady windows", 'cores', { edge: on.cores.edges }),
    figure('edges: resumes without a gap', '', { edge: r.server.lossless }),
    figure('edges: resumes with a gap', '', { edge: r.server.gap }, { kind: 'atMost', value: 0 }),
    figure('edges: messages replayed', '', { edge: r.server.replayed }),
    figure('edges: v2 streams moved to rebalance while the clients connected (history on)', '', {
      edge: m.on.movedWhileConnecting,
    }),
    ...tierFigures(r.tier, m.params.balancedWithin, r.server.rebalanced),
    ...(v1
      ? [figure('v1: messages missed during the restart (no resume in v1)', '', { edge: v1.lost })]
      : []),
    ...latencyFigures('history on', on),
    figure('history on: v2 − v1 latency p50', 'ms', {
      edge: diff(on.latency.v2.p50Ms, on.latency.v1?.p50Ms),
    }),
    figure('history on: v2 − v1 latency p99', 'ms', {
      edge: diff(on.latency.v2.p99Ms, on.latency.v1?.p99Ms),
    }),
    ...(off
      ? [
          ...latencyFigures('history off', off),
          figure('v2 latency p50, history on − off', 'ms', {
            edge: diff(on.latency.v2.p50Ms, off.latency.v2.p50Ms),
          }),
          figure('v2 latency p99, history on − off', 'ms', {
            edge: diff(on.latency.v2.p99Ms, off.latency.v2.p99Ms),
          }),
          figure('v1 latency p50, history on − off', 'ms', {
            edge: diff(on.latency.v1?.p50Ms, off.latency.v1?.p50Ms),
          }),
        ]
      : []),
    figure('history on: ingest CPU per message (beyond its quiet rate)', 'µs', {
      edge: on.cpuUsPerMessage.ingest,
    }),
    figure('history on: Redis CPU per message (beyond its quiet rate)', 'µs', {
      edge: on.cpuUsPerMessage.redis,
    }),
    figure('history on: ingest history record per batch (mean)', 'ms', { edge: on.historyRecordMs }),
    figure('history on: ingest bus publish per batch (mean)', 'ms', { edge: on.busPublishMs }),
    ...(off
      ? [
          figure('history off: ingest CPU per message (beyond its quiet rate)', 'µs', {
            edge: off.cpuUsPerMessage.ingest,
          }),
          figure('history off: Redis CPU per message (beyond its quiet rate)', 'µs', {
            edge: off.cpuUsPerMessage.redis,
          }),
          figure('history off: ingest bus publish per batch (mean)', 'ms', { edge: off.busPublishMs }),
          figure('ingest + Redis CPU per message, history on − off', 'µs', {
            edge: diff(on.cpuUsPerMessage.ingestPlusRedis, off.cpuUsPerMessage.ingestPlusRedis, 1),
          }),
        ]
      : []),
    figure("edges' CPU per delivery (beyond their quiet rate), history on", 'µs', {
      edge: on.edgeCpuUsPerDelivery,
    }),
    figure('quiet: ingest + Redis while nothing is published', 'cores', {
      edge: round((on.quietCores.ingest ?? 0) + (on.quietCores.redis ?? 0), 3),
    }),
    figure('machine CPU in the history-on windows (of 2 cores)', 'cores', { edge: on.cores.machine }),
    ...(off ? [figure('machine CPU in the history-off windows', 'cores', { edge: off.cores.machine })] : []),
    figure('machine CPU in the quiet windows', 'cores', { edge: on.quietCores.machine }),
  ];

  const checks: Check[] = [
    {
      name: 'v2: nothing lost, nothing repeated, no gap, every client back',
      target: 'edge',
      ok: v2.problems.length === 0,
      detail: v2.problems.join('; '),
    },
    {
      name: "v2: every edge's clients back after its SIGTERM",
      target: 'edge',
      ok: v2.phases.every((ph) => ph.streamsEnded > 0 && ph.streamsBack === ph.streamsEnded),
      detail: v2.phases.map((ph) => `edge${ph.edge} ${ph.streamsBack}/${ph.streamsEnded}`).join(', '),
    },
    {
      name: 'edges counted no resume with a gap',
      target: 'edge',
      ok: r.server.gap === 0 && r.server.gapEvents === 0,
      detail: `${r.server.gap} resumes with a gap, ${r.server.gapEvents} gap events`,
    },
    {
      name: 'every edge exited on SIGTERM by itself',
      target: 'edge',
      ok: r.steps.every((s) => s.exitCode === 0),
      detail: r.steps.map((s) => `edge${s.edge}: ${s.exitCode}`).join(', '),
    },
    {
      name: 'steady windows: no duplicate, gap or error',
      target: 'edge',
      ok: on.problems.length === 0 && (off?.problems.length ?? 0) === 0,
      detail: [...on.problems, ...(off?.problems ?? [])].join('; '),
    },
  ];
  if (r.tier.rebalancing && r.tier.timeoutSeconds > 0)
    checks.push({
      name: `tier balanced after the update: every edge within ${Math.round(m.params.balancedWithin * 100)} % of the mean`,
      target: 'edge',
      ok: isBalanced(r.tier.final, m.params.balancedWithin),
      detail: `streams per replacement edge: ${r.tier.final.join(', ')}`,
    });
  if (v1)
    checks.push({
      name: 'v1: every client back, nothing lost after its new ready, nothing repeated',
      target: 'edge',
      ok: v1.problems.length === 0,
      detail: v1.problems.join('; '),
    });

  const notes = [
    'Load balancer: the C clients pick, round robin, among the edges in service (a Kubernetes Service: ' +
      'an edge leaves it before its SIGTERM and its replacement joins once /readyz answers), so no proxy hop.',
    `v1 vs v2: ${v2.clients} v2 and ${v1?.clients ?? 0} v1 clients on the same edges get the same messages ` +
      `in the same steady windows (${on.windows} × ${m.params.windowSeconds} s before the restart): the ` +
      `difference is what v2 (cursor ids, held-message dedupe) costs at the edge; the history's cost in the ` +
      `ingest is in both.`,
    off
      ? `History on vs off: a second installation with HISTORY_SECONDS=0 (its own ingest, ${m.params.edges} ` +
        `edges, exchange and the same clients) runs alongside; the ${m.params.rate} msg/s go to one ` +
        `installation at a time, in windows alternating on, off, off, on, …, each pair followed by a quiet ` +
        `window publishing nothing, so both meet the same machine. CPU per message: a process's CPU in its ` +
        `installation's windows beyond its rate in the quiet windows (timers, pings, lease renewals), per ` +
        `message, from per-thread counters (/proc/<pid>/task/*/schedstat). Redis: ` +
        (m.redis === 'private'
          ? "a redis-server of this run (the machine's serves other work too)."
          : "the machine's, shared with other work: its figure carries that work as noise.")
      : 'History on vs off: not run (compareHistoryOff false).',
  ];
  const t = m.params.rebalanceTolerance;
  notes.push(
    `Rebalancing: ${t === 0 ? 'off (REBALANCE_TOLERANCE=0)' : `on (REBALANCE_TOLERANCE ${t ?? 'default, 0.1'})`}` +
      `, REBALANCE_RATE_PER_SECOND ${m.params.rebalanceRatePerSecond ?? 'default (50)'} on the restarted ` +
      'installation (the HISTORY_SECONDS=0 one never rebalances: without history a moved v2 stream resumes with ' +
      'a gap). The distribution is each ' +
      "replacement edge's events_edge_connections (v1 streams included), read once every client was back after " +
      'the update' +
      (r.tier.timeoutSeconds > 0
        ? `, then after waiting (publishing on) until every edge was within ${Math.round(m.params.balancedWithin * 100)} % ` +
          `of the mean with no rebalance close for 5 s, or ${r.tier.timeoutSeconds} s (waited ${r.tier.waitedSeconds} s)`
        : ' (no wait for a balanced tier: --balance-timeout 0)') +
      '. Streams the edges ended to rebalance during the update count in that edge\'s step (its "v2 streams moved").',
  );
  if (m.capacityNote) notes.unshift(m.capacityNote);
  return { figures, checks, notes };
}

export const rollingRestartScenario: Scenario<RollingRestartParams> = {
  name: 'rolling-restart',
  title:
    'Rolling restart with v2 resume: 3 edges restarted one by one under load; nothing lost, nothing twice',
  params: (quick) =>
    quick
      ? {
          clients: 200,
          v1Clients: 20,
          edges: 3,
          rate: 100,
          groups: 20,
          payloadBytes: 256,
          drainSeconds: 1,
          preStopSeconds: 0,
          retryMs: 200,
          v1ReconnectJitterMs: 200,
          warmupSeconds: 0.5,
          windowSeconds: 2,
          windowPairs: 1,
          maxPending: 200,
          compareHistoryOff: true,
          privateRedis: true,
          rebalanceTolerance: undefined,
          rebalanceRatePerSecond: undefined,
          balanceTimeoutSeconds: 0,
          balancedWithin: 0.1,
          logLevel: 'warn',
        }
      : {
          clients: 10_000,
          v1Clients: 1_000,
          edges: 3,
          rate: 100,
          groups: 50,
          payloadBytes: 512,
          drainSeconds: 5,
          preStopSeconds: 0,
          retryMs: 1000,
          v1ReconnectJitterMs: 1000,
          warmupSeconds: 3,
          windowSeconds: 10,
          windowPairs: 3,
          maxPending: 200,
          compareHistoryOff: true,
          privateRedis: true,
          rebalanceTolerance: undefined,
          rebalanceRatePerSecond: undefined,
          balanceTimeoutSeconds: undefined,
          balancedWithin: 0.1,
          logLevel: 'warn',
        },
  async run(ctx, p): Promise<ScenarioResult> {
    const o = ctx.options;
    const params: RollingRestartParams = {
      ...p,
      edges: o.edges > 1 ? o.edges : p.edges,
      ...(o.clients !== undefined ? { clients: o.clients } : {}),
      ...(o.v1Clients !== undefined
        ? { v1Clients: o.v1Clients }
        : o.clients !== undefined
          ? { v1Clients: Math.round(o.clients / 10) }
          : {}),
      ...(o.drainSeconds !== undefined ? { drainSeconds: o.drainSeconds } : {}),
      ...(o.rate !== undefined ? { rate: o.rate } : {}),
      ...(o.rebalanceTolerance !== undefined ? { rebalanceTolerance: o.rebalanceTolerance } : {}),
      ...(o.rebalanceRate !== undefined ? { rebalanceRatePerSecond: o.rebalanceRate } : {}),
      ...(o.balanceTimeout !== undefined ? { balanceTimeoutSeconds: o.balanceTimeout } : {}),
    };
    const m = await measureRollingRestart(ctx, params);
    const { figures, checks, notes } = rollingRestartFigures(m);
    return {
      scenario: this.name,
      title: this.title,
      params: { ...m.params, requested: params },
      figures,
      checks,
      notes,
      details: { edge: m },
    };
  },
};
