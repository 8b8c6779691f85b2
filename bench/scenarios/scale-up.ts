/**
 * Scenario 11, scale-up: a third edge joins a loaded tier, and the tier rebalances its v2 streams
 * onto it (DESIGN.md §3e) while every client keeps receiving every message exactly once.
 *
 * One ingest and two edges on a private Redis and the machine's RabbitMQ; N v2 clients (the
 * exact-delivery C client) reach the edges through loopback balancers that follow each edge's
 * /readyz, as a Kubernetes Service does (bench/lib/readiness-balancer.ts; several balancer
 * processes, as kube-proxy on several nodes, since one process may hold only ~20,000 sockets and a
 * balancer holds two a client). Each balancer has three backends from the start; the third edge's
 * ports are taken ahead but nothing listens there, so it stays out of rotation until it starts.
 * Numbered messages are published at a steady rate with confirms, in rounds over `groups` routing
 * keys (client i binds key i % groups; every client should get every round's seq once).
 *
 * After a baseline (the streams older than the 10 s the edges leave alone), the third edge starts.
 * Each edge's `events_edge_connections` is polled until every edge is within `balancedWithin` of
 * their mean and no edge has ended a stream for rebalancing for `quietSeconds` (or
 * `balanceTimeoutSeconds` passed). Messages are classed by publish time, and reconnects by the time
 * they happened: before the third edge started, during the move (the harness extends that window a
 * few seconds ahead while the move lasts), after it.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { BenchContext } from '../lib/context.js';
import { readSum } from '../lib/edge-metrics.js';
import { ExactGroup, mergeClasses, type ClassReport, type ExactReport } from '../lib/exact-clients.js';
import { freePort } from '../lib/free-port.js';
import { summarize, type LatencySummary } from '../lib/histogram.js';
import { sleep } from '../lib/load.js';
import { NumberedPublisher } from '../lib/numbered-publisher.js';
import { startPrivateRedis } from '../lib/private-redis.js';
import { cpuSeconds, CpuMeter, round } from '../lib/proc-stats.js';
import { ReadinessBalancer, type BalancerStats } from '../lib/readiness-balancer.js';
import { figure, type Check, type Figure, type ScenarioResult } from '../lib/results.js';
import { connectPath, startService, type ServiceProcess } from '../lib/targets.js';
import {
  idealMoves,
  isBalanced,
  largestDeviationPercent,
  readStreams,
  watchBalance,
  type DistributionSample,
} from '../lib/tier-balance.js';
import type { Scenario } from './scenario.js';
import type { BalancePolicy } from '../../test/support/tcp-balancer.js';

export interface ScaleUpParams {
  /** v2 clients, spread over the first two edges by the balancers. */
  readonly clients: number;
  /** Messages per second, all routing keys together, published throughout. */
  readonly rate: number;
  /** Routing keys; client i binds key i % groups, so each client gets rate / groups messages a second. */
  readonly groups: number;
  readonly payloadBytes: number;
  /** Balancer processes (0: one per 8,000 clients; a balancer holds two sockets a client). */
  readonly balancers: number;
  /** How the balancers pick an edge for a new connection (a Kubernetes Service: round robin). */
  readonly balancerPolicy: BalancePolicy;
  /** Publishing before the third edge starts: the latency baseline (the streams age meanwhile). */
  readonly baselineSeconds: number;
  /** Every edge within this fraction of the edges' mean: the tier is balanced. */
  readonly balancedWithin: number;
  /** Give up waiting for a balanced tier this long after the third edge started. */
  readonly balanceTimeoutSeconds: number;
  /** The move is over once balanced and no edge has ended a stream for rebalancing for this long. */
  readonly quietSeconds: number;
  /** Publishing after the move, before the publisher stops. */
  readonly tailSeconds: number;
  /** How long to wait after publishing stopped for every client to have every message. */
  readonly deliverTimeoutSeconds: number;
  /** The edges' REBALANCE_TOLERANCE (undefined: their default, 0.1; 0: off). */
  readonly rebalanceTolerance: number | undefined;
  /** The edges' REBALANCE_RATE_PER_SECOND (undefined: their default, 50). */
  readonly rebalanceRatePerSecond: number | undefined;
  /** The edges' SSE_RETRY_MS (a v2 client reconnects 1–2× this after its stream ended). */
  readonly retryMs: number;
  /** The balancers poll each edge's /readyz this often. */
  readonly readinessPollMs: number;
  /** The harness reads every edge's stream count this often. */
  readonly pollMs: number;
  /** Connections in flight (not yet `ready`) at most, per client process. */
  readonly maxPending: number;
  readonly logLevel: string;
}

/** What one edge said at the end. */
export interface EdgeFinal {
  readonly name: string;
  readonly streams: number;
  readonly rebalanceCloses: number;
  readonly lifetimeCloses: number;
  readonly tierEdges: number;
  readonly tierMeanStreams: number;
  readonly resumesLossless: number;
  readonly resumesGap: number;
  readonly replayed: number;
  /** Requests the HTTP layer refused (408 headers timeout, …) and connects refused (limits, draining). */
  readonly httpRefusals: number;
  readonly rejected: number;
}

export interface ScaleUpMeasure {
  readonly params: ScaleUpParams;
  readonly balancers: number;
  /** Streams on edge0 and edge1 when the third edge started (their gauges). */
  readonly before: readonly number[];
  /** Third edge: process started → /readyz 200 (s). */
  readonly thirdReadySeconds: number;
  /**
   * From the third edge ready to the first poll that found every edge within `balancedWithin` of
   * the mean (undefined: never, within the timeout).
   */
  readonly balancedSeconds: number | undefined;
  /** From the third edge ready to the last poll that saw a rebalance close appear. */
  readonly lastCloseSeconds: number | undefined;
  /** From the third edge's start to the end of the "during the move" window. */
  readonly moveSeconds: number;
  readonly timedOut: boolean;
  /** Polls after the first balanced one that found the tier out of balance again. */
  readonly unbalancedAfter: number;
  /** The ideal number of streams to move: those above the final mean on the first two edges. */
  readonly idealMoves: number;
  readonly published: number;
  readonly messagesPublished: number;
  readonly confirmed: number;
  readonly nacked: number;
  /** Client × seq pairs never delivered (confirmed seqs only), summed over clients. */
  readonly lost: number;
  readonly clientsMissingSome: number;
  /** The most seqs one client missed. */
  readonly maxLostPerClient: number;
  readonly classes: {
    readonly before: ClassSummary;
    readonly during: ClassSummary;
    readonly after: ClassSummary;
  };
  readonly final: Omit<ExactReport, 'perConn' | 'missing' | 'classes'>;
  readonly edges: readonly EdgeFinal[];
  /** Connections each balancer routed to each edge after the third started, summed over balancers. */
  readonly routedAfter: Record<string, number>;
  readonly balancerFailed: number;
  /** The balancers' failed connections by reason, summed. */
  readonly balancerFailures: Record<string, number>;
  /** Stream end → `ready` again, per reconnect (every reconnect of the run). */
  readonly reconnectTime: LatencySummary;
  readonly timeline: readonly DistributionSample[];
  /** Cores from the third edge's start to the end of the move. */
  readonly cpu: Record<string, number>;
  readonly exited: readonly string[];
}

export type ClassSummary = Omit<ClassReport, 'latencyUs'> & { latency: LatencySummary };

const BEFORE = 1;
const DURING = 2;
const AFTER = 3;
/** The "during" window is announced this far ahead of now while the move lasts. */
const AHEAD_NS = 1_000_000_000n;
const FOREVER_NS = 86_400_000_000_000n;

const nowNs = () => process.hrtime.bigint();
const secondsSince = (from: bigint, to = nowNs()) => round(Number(to - from) / 1e9, 2);

async function sleepUntil(ns: bigint): Promise<void> {
  const left = Number(ns - nowNs()) / 1e6;
  if (left > 0) await sleep(left);
}

async function readEdge(name: string, metricsPort: number): Promise<EdgeFinal> {
  const r = (metric: string, labels: string[] = []) => readSum(metricsPort, metric, labels);
  const [
    streams,
    rebalanceCloses,
    lifetimeCloses,
    tierEdges,
    tierMeanStreams,
    lossless,
    gap,
    replayed,
    httpRefusals,
    rejected,
  ] = await Promise.all([
    r('events_edge_connections'),
    r('events_edge_closes_total', ['reason="rebalance"']),
    r('events_edge_closes_total', ['reason="max_lifetime"']),
    r('events_edge_tier_edges'),
    r('events_edge_tier_mean_streams'),
    r('events_edge_resumes_total', ['result="lossless"']),
    r('events_edge_resumes_total', ['result="gap"']),
    r('events_edge_replayed_messages_total'),
    r('events_edge_http_refusals_total'),
    r('events_edge_connections_rejected_total'),
  ]);
  return {
    name,
    streams,
    rebalanceCloses,
    lifetimeCloses,
    tierEdges,
    tierMeanStreams: round(tierMeanStreams, 1),
    resumesLossless: lossless,
    resumesGap: gap,
    replayed,
    httpRefusals,
    rejected,
  };
}

function summarizeClass(cls: number, classes: readonly ClassReport[]): ClassSummary {
  const { latencyUs, ...rest } = mergeClasses(
    cls,
    classes.filter((c) => c.cls === cls),
  );
  return { ...rest, latency: summarize(latencyUs) };
}

function addStats(list: readonly BalancerStats[], key: 'routedTo' | 'open'): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of list) for (const [name, n] of Object.entries(s[key])) out[name] = (out[name] ?? 0) + n;
  return out;
}

export async function measureScaleUp(ctx: BenchContext, p: ScaleUpParams): Promise<ScaleUpMeasure> {
  const stack: (() => Promise<unknown>)[] = [];
  const cleanup = async () => {
    for (const f of stack.splice(0).reverse()) await f().catch(() => undefined);
  };
  try {
    const redis = await startPrivateRedis(path.join(ctx.runDir, 'scale-up-redis.log'));
    stack.push(() => redis.stop());
    const exchange = await ctx.topicExchange('scale-up');
    stack.push(() => ctx.deleteExchange(exchange));
    const queue = ctx.queueName();
    stack.push(() => ctx.deleteQueue(queue));
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      AMQP_URL: ctx.options.amqpUrl,
      REDIS_URL: redis.url,
      KEY_PREFIX: ctx.keyPrefix(),
      AMQP_QUEUE: queue,
      ALLOWED_EXCHANGE_PREFIXES: 'exchange/bench/',
      MAX_CONNECTIONS: '20000',
      LOG_LEVEL: p.logLevel,
      SSE_RETRY_MS: String(p.retryMs),
      ...(p.rebalanceTolerance !== undefined ? { REBALANCE_TOLERANCE: String(p.rebalanceTolerance) } : {}),
      ...(p.rebalanceRatePerSecond !== undefined
        ? { REBALANCE_RATE_PER_SECOND: String(p.rebalanceRatePerSecond) }
        : {}),
    };
    const label = 'scale-up';
    const started: ServiceProcess[] = [];
    stack.push(async () => {
      await Promise.all(started.filter((s) => s.child.name.startsWith('edge')).map((s) => s.child.stop()));
      await Promise.all(started.filter((s) => s.child.name === 'ingest').map((s) => s.child.stop()));
    });
    const start = async (
      role: 'ingest' | 'edge',
      name: string,
      ports?: { port: number; metricsPort: number },
    ) => {
      const s = await startService(ctx, role, name, env, label, ports);
      started.push(s);
      return s;
    };
    await start('ingest', 'ingest');
    const [edge0, edge1] = await Promise.all([start('edge', 'edge0'), start('edge', 'edge1')]);
    const thirdPorts = { port: await freePort(), metricsPort: await freePort() };
    const backends = [
      { name: 'edge0', port: edge0!.port, readyzUrl: `http://127.0.0.1:${edge0!.metricsPort}/readyz` },
      { name: 'edge1', port: edge1!.port, readyzUrl: `http://127.0.0.1:${edge1!.metricsPort}/readyz` },
      {
        name: 'edge2',
        port: thirdPorts.port,
        readyzUrl: `http://127.0.0.1:${thirdPorts.metricsPort}/readyz`,
      },
    ];
    const balancerCount = p.balancers > 0 ? p.balancers : Math.max(1, Math.ceil(p.clients / 8000));
    const balancers: ReadinessBalancer[] = [];
    for (let i = 0; i < balancerCount; i++) {
      const b = await ReadinessBalancer.start(backends, p.readinessPollMs, p.balancerPolicy);
      stack.push(() => b.stop());
      balancers.push(b);
    }
    // A backend is up until its first readiness poll fails: wait until every balancer has edge2 out.
    const outDeadline = Date.now() + 10_000;
    while ((await Promise.all(balancers.map((b) => b.stats()))).some((s) => s.up.join() !== 'edge0,edge1')) {
      if (Date.now() > outDeadline) throw new Error('the balancers did not settle on edge0 and edge1');
      await sleep(50);
    }

    const keys = Array.from({ length: p.groups }, (_, g) => `scale.g${g}`);
    ctx.log(
      `    ${p.clients} v2 clients → ${balancerCount} balancer(s) → 2 edges (a third to come); ${p.rate} msg/s ` +
        `over ${p.groups} keys (${round(p.rate / p.groups, 2)} a second per client)`,
    );
    const clients = ExactGroup.start({
      port: balancers[0]!.port,
      ports: balancers.map((b) => b.port),
      path: connectPath([{ exchange, routingKeyPattern: 'scale.g__G__' }], 2),
      groups: p.groups,
      conns: p.clients,
      maxPending: p.maxPending,
      reconnectJitterMs: p.retryMs,
    });
    stack.push(() => clients.finish(0));
    const settled = await clients.settled(300_000);
    if (settled.readyNow !== p.clients)
      throw new Error(`${settled.readyNow} of ${p.clients} clients got ready (${settled.firstError})`);

    const originNs = nowNs() + 500_000_000n;
    const thirdAtNs = originNs + BigInt(Math.round(p.baselineSeconds * 1e9));
    await clients.windows([{ cls: BEFORE, startNs: originNs, endNs: thirdAtNs }]);
    let announcedTo = thirdAtNs;
    const announce = async (cls: number, endNs: bigint) => {
      if (endNs <= announcedTo) return;
      const startNs = announcedTo;
      announcedTo = endNs;
      await clients.windows([{ cls, startNs, endNs }]);
    };
    await announce(DURING, thirdAtNs + AHEAD_NS);

    const publisher = await NumberedPublisher.start({
      url: ctx.options.amqpUrl,
      exchange,
      routingKeys: keys,
      rate: p.rate,
      payloadBytes: p.payloadBytes,
    });
    stack.push(() => publisher.close());

    await sleepUntil(thirdAtNs);
    const before = await Promise.all([edge0!, edge1!].map((e) => readStreams(e.metricsPort)));
    const statsAtThird = await Promise.all(balancers.map((b) => b.stats()));
    ctx.log(`    third edge starting; edge0 ${before[0]} streams, edge1 ${before[1]}`);
    const pids = () => ({
      ...Object.fromEntries(started.map((s) => [s.child.name, s.child.pid])),
      redis: redis.pid,
      ...(ctx.infraPids.rabbitmq ? { rabbitmq: ctx.infraPids.rabbitmq } : {}),
      harness: process.pid,
      ...Object.fromEntries(balancers.map((b, i) => [`balancer${i}`, b.pid])),
      ...clients.pids,
    });
    const meter = new CpuMeter(pids());
    const thirdStartNs = nowNs();
    let edge2: ServiceProcess | undefined;
    let thirdFailed: unknown;
    let thirdReadyNs: bigint | undefined;
    void start('edge', 'edge2', thirdPorts).then(
      (s) => {
        edge2 = s;
        thirdReadyNs = nowNs();
      },
      (err: unknown) => (thirdFailed = err),
    );

    const watch = await watchBalance({
      edges: () => (edge2 ? [edge0!, edge1!, edge2] : [edge0!, edge1!]).map((e) => e.metricsPort),
      complete: () => {
        if (thirdFailed !== undefined) throw thirdFailed;
        return edge2 !== undefined;
      },
      slots: 3,
      within: p.balancedWithin,
      quietSeconds: p.quietSeconds,
      originNs: thirdStartNs,
      timeoutNs: thirdStartNs + BigInt(Math.round(p.balanceTimeoutSeconds * 1e9)),
      pollMs: p.pollMs,
      onPoll: (t) => announce(DURING, t + AHEAD_NS),
      onBalanced: (counts) =>
        ctx.log(
          `    balanced ${secondsSince(thirdReadyNs!)} s after the third edge was ready: ${counts.join(' / ')}`,
        ),
    });
    if (watch.timedOut)
      ctx.log(`    not settled within ${p.balanceTimeoutSeconds} s: ${watch.last.join(' / ')}`);
    const moveEndNs = nowNs();
    await announce(AFTER, moveEndNs + FOREVER_NS);
    const cpu = meter.read();
    if (edge2)
      cpu.edge2 = round((cpuSeconds(edge2.child.pid) ?? 0) / (Number(moveEndNs - thirdStartNs) / 1e9), 3);
    ctx.log(`    move over ${secondsSince(thirdStartNs, moveEndNs)} s after the third edge started`);

    await sleep(p.tailSeconds * 1000);
    const published = await publisher.stop();
    const confirmedSeqs = publisher.confirmed.flatMap((c, seq) => (c === true ? [seq] : []));
    ctx.log(`    published ${published} rounds × ${p.groups} keys; waiting for every client`);
    const deadline = Date.now() + p.deliverTimeoutSeconds * 1000;
    let r = await clients.report();
    while ((r.distinctMin < published || r.readyNow < p.clients) && Date.now() < deadline) {
      await sleep(250);
      r = await clients.report();
    }
    const exited = started.filter((s) => !s.child.isRunning()).map((s) => s.child.name);
    const edgesAll = edge2 ? [edge0!, edge1!, edge2] : [edge0!, edge1!];
    const finals = await Promise.all(
      edgesAll.filter((e) => e.child.isRunning()).map((e) => readEdge(e.child.name, e.metricsPort)),
    );
    const statsEnd = await Promise.all(balancers.map((b) => b.stats()));
    const routedAt = addStats(statsAtThird, 'routedTo');
    const routedEnd = addStats(statsEnd, 'routedTo');
    const routedAfter = Object.fromEntries(
      Object.entries(routedEnd).map(([name, n]) => [name, n - (routedAt[name] ?? 0)]),
    );
    const final = await clients.finish(published);
    const confirmedSet = new Set(confirmedSeqs);
    const lost = (final.missing ?? [])
      .filter(([seq]) => confirmedSet.has(seq))
      .reduce((s, [, n]) => s + n, 0);
    const perClient = (final.perConn ?? []).map((pairs) => pairs.reduce((s, [, n]) => s + n, 0));
    const shortBy = perClient.map((n) => Math.max(0, confirmedSeqs.length - n));
    const { perConn: _perConn, missing: _missing, classes: _classes, ...finalRest } = final;
    void _perConn;
    void _classes;
    fs.writeFileSync(
      path.join(ctx.runDir, 'scale-up.json'),
      JSON.stringify({ missing: _missing, timeline: watch.timeline }),
    );
    const thirdReadySeconds = thirdReadyNs !== undefined ? secondsSince(thirdStartNs, thirdReadyNs) : NaN;
    return {
      params: p,
      balancers: balancerCount,
      before,
      thirdReadySeconds,
      balancedSeconds:
        watch.balancedNs !== undefined && thirdReadyNs !== undefined
          ? secondsSince(thirdReadyNs, watch.balancedNs)
          : undefined,
      lastCloseSeconds:
        watch.lastCloseNs !== undefined && thirdReadyNs !== undefined
          ? secondsSince(thirdReadyNs, watch.lastCloseNs)
          : undefined,
      moveSeconds: secondsSince(thirdStartNs, moveEndNs),
      timedOut: watch.timedOut,
      unbalancedAfter: watch.unbalancedAfter,
      idealMoves: idealMoves(before, 3),
      published,
      messagesPublished: publisher.messagesSent,
      confirmed: confirmedSeqs.length,
      nacked: publisher.nackedCount,
      lost,
      clientsMissingSome: shortBy.filter((n) => n > 0).length,
      maxLostPerClient: shortBy.length > 0 ? Math.max(...shortBy) : 0,
      classes: {
        before: summarizeClass(BEFORE, final.classes),
        during: summarizeClass(DURING, final.classes),
        after: summarizeClass(AFTER, final.classes),
      },
      final: finalRest,
      edges: finals,
      routedAfter,
      balancerFailed: statsEnd.reduce((s, b) => s + b.failed + b.noBackend, 0),
      balancerFailures: statsEnd.reduce<Record<string, number>>((out, b) => {
        for (const [why, n] of Object.entries(b.failures)) out[why] = (out[why] ?? 0) + n;
        return out;
      }, {}),
      reconnectTime: summarize(final.reconnectUs),
      timeline: watch.timeline,
      cpu,
      exited,
    };
  } finally {
    await cleanup();
  }
}

const minus = (a: number | undefined, b: number | undefined) =>
  a === undefined || b === undefined ? undefined : round(a - b, 2);

export function scaleUpFigures(m: ScaleUpMeasure): { figures: Figure[]; checks: Check[]; notes: string[] } {
  const p = m.params;
  const { before, during, after } = m.classes;
  const moved = during.ends + after.ends;
  const reconnects = during.reconnects + after.reconnects;
  const figures: Figure[] = [
    figure('v2 clients', '', { edge: p.clients }),
    figure('messages a second per client', '', { edge: round(p.rate / p.groups, 2) }),
    figure('streams on edge0 when the third edge started', '', { edge: m.before[0] }),
    figure('streams on edge1 when the third edge started', '', { edge: m.before[1] }),
    figure('third edge: start → ready', 's', { edge: m.thirdReadySeconds }),
    figure(`third edge ready → every edge within ${Math.round(p.balancedWithin * 100)} % of the mean`, 's', {
      edge: m.balancedSeconds,
    }),
    figure('third edge ready → last rebalance close seen', 's', { edge: m.lastCloseSeconds }),
    figure('polls out of balance again after the first balanced one', '', { edge: m.unbalancedAfter }),
    figure('messages published (rounds × keys)', '', { edge: m.messagesPublished }),
    figure('messages lost, summed over clients', '', { edge: m.lost }, { kind: 'atMost', value: 0 }),
    figure('clients that missed any', '', { edge: m.clientsMissingSome }, { kind: 'atMost', value: 0 }),
    figure('most messages one client missed', '', { edge: m.maxLostPerClient }),
    figure(
      'messages duplicated, summed over clients',
      '',
      { edge: m.final.duplicates },
      { kind: 'atMost', value: 0 },
    ),
    figure('gap events', '', { edge: m.final.gapEvents }, { kind: 'atMost', value: 0 }),
    figure('error events', '', { edge: m.final.errorEvents }, { kind: 'atMost', value: 0 }),
    figure('streams that had to move (ideal: above the 3-edge mean)', '', { edge: m.idealMoves }),
    figure('streams ended during and after the move (clients)', '', { edge: moved }),
    figure('reconnects during and after the move (clients)', '', { edge: reconnects }),
    figure('reconnects ÷ ideal', '×', {
      edge: m.idealMoves > 0 ? round(reconnects / m.idealMoves, 2) : undefined,
    }),
    figure('reconnects before the third edge (baseline)', '', { edge: before.reconnects }),
    figure('stream end → ready again, p50', 'ms', { edge: m.reconnectTime.p50Ms }),
    figure('stream end → ready again, p99', 'ms', { edge: m.reconnectTime.p99Ms }),
    figure('stream end → ready again, max', 'ms', { edge: m.reconnectTime.maxMs }),
    figure('reconnects answered other than 200 (clients)', '', { edge: m.final.httpBad }),
    figure('connections closed before ready (clients)', '', { edge: m.final.closedBeforeReady }),
    figure('balancer connections that failed (refused, reset)', '', { edge: m.balancerFailed }),
    figure('edges: requests refused by the HTTP layer (408, …)', '', {
      edge: m.edges.reduce((s, e) => s + e.httpRefusals, 0),
    }),
    figure('edges: connects rejected (limits, draining)', '', {
      edge: m.edges.reduce((s, e) => s + e.rejected, 0),
    }),
    ...m.edges.map((e) => figure(`${e.name}: rebalance closes`, '', { edge: e.rebalanceCloses })),
    figure('max-lifetime closes (all edges)', '', {
      edge: m.edges.reduce((s, e) => s + e.lifetimeCloses, 0),
    }),
    ...Object.entries(m.routedAfter).map(([name, n]) =>
      figure(`connections routed to ${name} after the third edge started`, '', { edge: n }),
    ),
    figure('latency p50, before the third edge', 'ms', { edge: before.latency.p50Ms }),
    figure('latency p99, before the third edge', 'ms', { edge: before.latency.p99Ms }),
    figure('latency p50, published during the move', 'ms', { edge: during.latency.p50Ms }),
    figure('latency p99, published during the move', 'ms', { edge: during.latency.p99Ms }),
    figure('latency max, published during the move', 'ms', { edge: during.latency.maxMs }),
    figure('p99 extra latency the move adds', 'ms', {
      edge: minus(during.latency.p99Ms, before.latency.p99Ms),
    }),
    figure('latency p99, published after the move', 'ms', { edge: after.latency.p99Ms }),
    ...m.edges.map((e) => figure(`final: streams on ${e.name}`, '', { edge: e.streams })),
    figure('final: largest distance from the mean', '%', {
      edge: largestDeviationPercent(m.edges.map((e) => e.streams)),
    }),
    figure("edges' own view at the end: ready edges (edge0)", '', { edge: m.edges[0]?.tierEdges }),
    figure('edges: resumes without a gap', '', { edge: m.edges.reduce((s, e) => s + e.resumesLossless, 0) }),
    figure(
      'edges: resumes with a gap',
      '',
      { edge: m.edges.reduce((s, e) => s + e.resumesGap, 0) },
      { kind: 'atMost', value: 0 },
    ),
    ...['edge0', 'edge1', 'edge2', 'ingest', 'redis', 'machine'].map((name) =>
      figure(`CPU during the move: ${name}`, 'cores', { edge: m.cpu[name] }),
    ),
    figure('CPU during the move: balancers', 'cores', {
      edge: round(
        Object.entries(m.cpu)
          .filter(([n]) => n.startsWith('balancer'))
          .reduce((s, [, c]) => s + c, 0),
        3,
      ),
    }),
  ];
  const checks: Check[] = [
    {
      name: 'every client got every confirmed message',
      target: 'edge',
      ok: m.lost === 0 && m.clientsMissingSome === 0,
      detail: `${m.lost} lost (${m.clientsMissingSome} clients, at most ${m.maxLostPerClient} each)`,
    },
    {
      name: 'nothing delivered twice',
      target: 'edge',
      ok: m.final.duplicates === 0,
      detail: `${m.final.duplicates} duplicates (${m.final.dupRedelivered} flagged redelivered)`,
    },
    {
      name: 'every message published was confirmed',
      target: 'edge',
      ok: m.confirmed === m.published,
      detail: `${m.published} published, ${m.confirmed} confirmed, ${m.nacked} nacked`,
    },
    {
      name: 'no gap or error event',
      target: 'edge',
      ok: m.final.gapEvents === 0 && m.final.errorEvents === 0,
      detail: `${m.final.gapEvents} gap, ${m.final.errorEvents} error events`,
    },
    {
      name: `tier balanced: every edge within ${Math.round(p.balancedWithin * 100)} % of the mean at the end`,
      target: 'edge',
      ok:
        m.edges.length === 3 &&
        !m.timedOut &&
        isBalanced(
          m.edges.map((e) => e.streams),
          p.balancedWithin,
        ),
      detail:
        (m.balancedSeconds === undefined ? `never balanced within ${p.balanceTimeoutSeconds} s: ` : '') +
        m.edges.map((e) => `${e.name} ${e.streams}`).join(', '),
    },
    {
      name: 'every client streaming at the end',
      target: 'edge',
      ok: m.final.readyNow === p.clients,
      detail: `${m.final.readyNow} of ${p.clients}`,
    },
    {
      name: 'no service process exited',
      target: 'edge',
      ok: m.exited.length === 0,
      detail: m.exited.join(', '),
    },
  ];
  const tolerance = p.rebalanceTolerance === undefined ? 'default (0.1)' : String(p.rebalanceTolerance);
  const rateNote = p.rebalanceRatePerSecond === undefined ? 'default (50)' : String(p.rebalanceRatePerSecond);
  const notes = [
    `Edges: REBALANCE_TOLERANCE ${tolerance}, REBALANCE_RATE_PER_SECOND ${rateNote}, SSE_RETRY_MS ${p.retryMs}. ` +
      `${m.balancers} balancer process(es) (readiness-following, ${p.balancerPolicy} among the ready edges), each with the ` +
      'third edge as a backend from the start, out of rotation until its /readyz answered.',
    `Messages: ${p.rate}/s in rounds over ${p.groups} routing keys (client i binds key i % ${p.groups}), numbered ` +
      'by round; loss and duplicates are exact per client (a bitmap of the seqs each received).',
    `Latency: publish to receipt, first copy per client, by publish time: ${p.baselineSeconds} s before the third ` +
      'edge started; during the move (from its start until balanced and no rebalance close for ' +
      `${p.quietSeconds} s; the window is announced up to 1 s ahead, so it may run up to 1 s past that); after.`,
    "Ideal moves: the streams above the 3-edge mean on the first two edges. Reconnects are the clients' own " +
      '(every stream end and failed attempt), during and after the move; a moved client goes back through the ' +
      'balancer, which may send it to an edge that is still above the mean.',
  ];
  if (m.final.httpBad > 0 || m.balancerFailed > 0 || m.final.firstError)
    notes.push(
      `Failed attempts (each retried by its client): first client error "${m.final.firstError}"; balancer ` +
        `connections by failure: ${
          Object.entries(m.balancerFailures)
            .map(([why, n]) => `${why} ${n}`)
            .join(', ') || 'none'
        }.`,
    );
  if (m.timedOut)
    notes.unshift(`The tier never balanced within ${p.balanceTimeoutSeconds} s of the third edge's start.`);
  return { figures, checks, notes };
}

export const scaleUpScenario: Scenario<ScaleUpParams> = {
  name: 'scale-up',
  title:
    'Scale-up: a third edge joins two loaded ones; v2 streams rebalance onto it, nothing lost or repeated',
  params: (quick) =>
    quick
      ? {
          clients: 300,
          rate: 100,
          groups: 10,
          payloadBytes: 256,
          balancers: 1,
          baselineSeconds: 11,
          balancedWithin: 0.1,
          balanceTimeoutSeconds: 25,
          quietSeconds: 2,
          tailSeconds: 2,
          deliverTimeoutSeconds: 10,
          rebalanceTolerance: undefined,
          rebalanceRatePerSecond: undefined,
          balancerPolicy: 'round-robin',
          retryMs: 500,
          readinessPollMs: 100,
          pollMs: 250,
          maxPending: 200,
          logLevel: 'warn',
        }
      : {
          clients: 10_000,
          rate: 100,
          groups: 50,
          payloadBytes: 256,
          balancers: 0,
          baselineSeconds: 20,
          balancedWithin: 0.1,
          balanceTimeoutSeconds: 300,
          quietSeconds: 5,
          tailSeconds: 5,
          deliverTimeoutSeconds: 30,
          rebalanceTolerance: undefined,
          rebalanceRatePerSecond: undefined,
          balancerPolicy: 'round-robin',
          retryMs: 1000,
          readinessPollMs: 100,
          pollMs: 250,
          maxPending: 200,
          logLevel: 'warn',
        },
  async run(ctx, p): Promise<ScenarioResult> {
    const o = ctx.options;
    const params: ScaleUpParams = {
      ...p,
      ...(o.clients !== undefined ? { clients: o.clients } : {}),
      ...(o.rate !== undefined ? { rate: o.rate } : {}),
      ...(o.groups !== undefined ? { groups: o.groups } : {}),
      ...(o.rebalanceTolerance !== undefined ? { rebalanceTolerance: o.rebalanceTolerance } : {}),
      ...(o.rebalanceRate !== undefined ? { rebalanceRatePerSecond: o.rebalanceRate } : {}),
      ...(o.balanceTimeout !== undefined ? { balanceTimeoutSeconds: o.balanceTimeout } : {}),
      ...(o.balancerPolicy !== undefined ? { balancerPolicy: o.balancerPolicy } : {}),
    };
    const m = await measureScaleUp(ctx, params);
    const { figures, checks, notes } = scaleUpFigures(m);
    return {
      scenario: this.name,
      title: this.title,
      params: { ...params },
      figures,
      checks,
      notes,
      details: { edge: m },
    };
  },
};
