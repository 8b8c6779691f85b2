/**
 * Scenario 10, network drops: repeated two-second drops on every network hop of a small
 * installation under live v2 streams, and what reaches the clients.
 *
 * Two ingests (single-active-consumer on one shared queue: one consumes, one stands by) and two
 * edges on a private Redis and the machine's RabbitMQ. Every process's Redis link, and each
 * ingest's AMQP link, goes through its own loopback fault proxy (bench/lib/fault-proxy.ts). The v2
 * clients (the exact-delivery C client) reach the edges through a loopback balancer that follows
 * each edge's /readyz, as a Kubernetes Service does (test/support/tcp-balancer.ts, in a process of
 * its own: bench/lib/readiness-balancer.ts). Numbered
 * messages are published at a steady rate with confirms, directly (the publisher's own link is not
 * faulted), on one routing key every client's binding matches.
 *
 * Each kind of drop gets its own stretch of the run, one after the other: a baseline with no fault,
 * then a drop every few seconds on the next hop in turn (an edge's Redis link, the two edges taking
 * turns; the active ingest's Redis link; the active ingest's RabbitMQ link), each lasting
 * `dropSeconds`:
 *   - `blackhole`: the link goes silent (no FIN, no RST), then heals and TCP carries on;
 *   - `cut`: every connection of the link is reset and new ones are refused, then it heals.
 * "The active ingest" is read from the ingests' consumed counters just before each drop, so a drop
 * that moved the queue to the standby is followed by drops on the new active one.
 *
 * Loss is counted exactly: each client keeps a bitmap of the seqs it received, and every message
 * confirmed by the broker must be in every client's bitmap. Each message is classed by the time it
 * was published (the `t` the payload carries): a kind's baseline, during a drop of a hop, or after a
 * heal until the next drop; latency is publish (send) to receipt, first copy per client.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { BenchContext } from '../lib/context.js';
import { readSum } from '../lib/edge-metrics.js';
import { ExactGroup, mergeClasses, type ClassReport, type ExactReport } from '../lib/exact-clients.js';
import { FaultProxy, type FaultProxyStats } from '../lib/fault-proxy.js';
import { summarize, type LatencySummary } from '../lib/histogram.js';
import { sleep } from '../lib/load.js';
import { NumberedPublisher } from '../lib/numbered-publisher.js';
import { startPrivateRedis, type PrivateRedis } from '../lib/private-redis.js';
import { CpuMeter, round } from '../lib/proc-stats.js';
import { ReadinessBalancer, type BalancerStats } from '../lib/readiness-balancer.js';
import { figure, type Check, type Figure, type ScenarioResult } from '../lib/results.js';
import { connectPath, startService, type ServiceProcess } from '../lib/targets.js';
import type { Scenario } from './scenario.js';

export type DropKind = 'blackhole' | 'cut';
export type Hop = 'edge-redis' | 'ingest-redis' | 'ingest-amqp';
export const HOPS: readonly Hop[] = ['edge-redis', 'ingest-redis', 'ingest-amqp'];

export interface NetworkDropsParams {
  /** v2 clients, spread over the two edges by the balancer. */
  readonly clients: number;
  /** Messages per second, published throughout. */
  readonly rate: number;
  readonly payloadBytes: number;
  /** The kinds of drop, each in its own stretch of the run, in this order. */
  readonly kinds: readonly DropKind[];
  /** Publishing before each kind's baseline, not classed (the previous kind's last drop settles). */
  readonly settleSeconds: number;
  /** No fault: the latency every drop is compared with. */
  readonly baselineSeconds: number;
  /** Drops per kind; hop i of them is HOPS[i % 3]. */
  readonly drops: number;
  readonly dropSeconds: number;
  /** From each heal to the next drop. */
  readonly healedSeconds: number;
  /** Publishing after the last kind, before the publisher stops (not classed). */
  readonly tailSeconds: number;
  /** How long to wait after publishing stopped for every client to have every message. */
  readonly deliverTimeoutSeconds: number;
  /** The edges' SSE_RETRY_MS (a v2 client reconnects 1–2× this after its stream ended). */
  readonly retryMs: number;
  /** The balancer polls each edge's /readyz this often. */
  readonly readinessPollMs: number;
  /** Connections in flight (not yet `ready`) at most, per client process. */
  readonly maxPending: number;
  readonly logLevel: string;
}

/** One drop as it ran. */
export interface DropRecord {
  readonly kind: DropKind;
  readonly hop: Hop;
  /** The process whose link dropped (edge0, ingest1, …). */
  readonly process: string;
  readonly cls: number;
  /** Seconds from the start of the run's plan to the drop, as planned. */
  readonly atSeconds: number;
  /** How late the fault and the heal were applied, against the plan (ms). */
  readonly lateMs: number;
  readonly healLateMs: number;
  /** The proxy when the drop began (connections it held) and when it healed. */
  readonly before: FaultProxyStats;
  readonly atHeal: FaultProxyStats;
}

/** What the clients saw of one kind's messages. */
export interface KindOutcome {
  readonly kind: DropKind;
  readonly seconds: number;
  /** Messages published in the kind's stretch (baseline, drops, healed) that the broker confirmed. */
  readonly confirmed: number;
  /** Per client: distinct confirmed messages of the kind received; the fewest, and the sum. */
  readonly minPerClient: number;
  readonly delivered: number;
  /** Client × message pairs never delivered (exact, from each client's bitmap). */
  readonly lost: number;
  readonly clientsMissingSome: number;
  readonly duplicates: number;
  readonly dupRedelivered: number;
  readonly firstRedelivered: number;
  readonly reordered: number;
  readonly gapEvents: number;
  readonly errorEvents: number;
  readonly streamEnds: number;
  readonly reconnects: number;
  readonly httpBad: number;
  readonly latency: {
    readonly baseline: LatencySummary;
    readonly drops: LatencySummary;
    readonly healed: LatencySummary;
    readonly byHop: Readonly<Record<Hop, { drop: LatencySummary; healed: LatencySummary }>>;
  };
  /** Seqs of the kind some client missed: [seq, clients, first client's index, class]. */
  readonly missing: readonly (readonly [number, number, number, string])[];
}

export interface NetworkDropsMeasure {
  readonly params: NetworkDropsParams;
  readonly published: number;
  readonly confirmed: number;
  readonly nacked: number;
  /** Every confirmed message: client × message pairs never delivered, over the whole run. */
  readonly lostTotal: number;
  readonly kinds: readonly KindOutcome[];
  readonly drops: readonly DropRecord[];
  readonly clientsAtStart: { readonly edge0: number; readonly edge1: number };
  readonly final: Omit<ExactReport, 'perConn' | 'missing' | 'classes'>;
  /** Per class: its label and what it saw (latency summarised). */
  readonly classes: Record<string, Omit<ClassReport, 'latencyUs'> & { latency: LatencySummary }>;
  readonly server: Record<string, Record<string, number>>;
  /** Service processes that exited during the run (none expected). */
  readonly exited: readonly string[];
  readonly cpu: Record<string, number>;
  /** What the balancer did: connections routed, failed, edges taken out of rotation (readiness). */
  readonly balancer: BalancerStats;
}

const nowNs = () => process.hrtime.bigint();
const NS_PER_S = 1_000_000_000n;
const toNs = (seconds: number) => BigInt(Math.round(seconds * 1e9));

async function sleepUntil(ns: bigint): Promise<number> {
  const left = Number(ns - nowNs()) / 1e6;
  if (left > 0) await sleep(left);
  return Number(nowNs() - ns) / 1e6;
}

/** Class numbers: per kind i, 8 classes from 1 + 8i: baseline, drop by hop, healed by hop. */
const classBase = (kindIndex: number) => 1 + 8 * kindIndex;
const baselineClass = (k: number) => classBase(k);
const dropClass = (k: number, hop: number) => classBase(k) + 1 + hop;
const healedClass = (k: number, hop: number) => classBase(k) + 4 + hop;

interface Window {
  readonly cls: number;
  readonly startNs: bigint;
  readonly endNs: bigint;
}

interface PlannedDrop {
  readonly kindIndex: number;
  readonly hopIndex: number;
  readonly startNs: bigint;
  readonly healNs: bigint;
}

interface Plan {
  readonly originNs: bigint;
  readonly windows: readonly Window[];
  readonly drops: readonly PlannedDrop[];
  readonly kindSpans: readonly { startNs: bigint; endNs: bigint }[];
  readonly endNs: bigint;
  readonly labels: Record<number, string>;
}

export function planDrops(p: NetworkDropsParams, originNs: bigint): Plan {
  const windows: Window[] = [];
  const drops: PlannedDrop[] = [];
  const kindSpans: { startNs: bigint; endNs: bigint }[] = [];
  const labels: Record<number, string> = { 0: 'unclassed (settle, tail)' };
  let at = originNs;
  p.kinds.forEach((kind, k) => {
    at += toNs(p.settleSeconds);
    const start = at;
    windows.push({ cls: baselineClass(k), startNs: at, endNs: at + toNs(p.baselineSeconds) });
    labels[baselineClass(k)] = `${kind}: baseline`;
    at += toNs(p.baselineSeconds);
    for (let d = 0; d < p.drops; d++) {
      const hopIndex = d % HOPS.length;
      const healNs = at + toNs(p.dropSeconds);
      const nextNs = healNs + toNs(p.healedSeconds);
      windows.push({ cls: dropClass(k, hopIndex), startNs: at, endNs: healNs });
      windows.push({ cls: healedClass(k, hopIndex), startNs: healNs, endNs: nextNs });
      labels[dropClass(k, hopIndex)] = `${kind}: during a drop of ${HOPS[hopIndex]}`;
      labels[healedClass(k, hopIndex)] = `${kind}: after a heal of ${HOPS[hopIndex]}`;
      drops.push({ kindIndex: k, hopIndex, startNs: at, healNs });
      at = nextNs;
    }
    kindSpans.push({ startNs: start, endNs: at });
  });
  return { originNs, windows, drops, kindSpans, endNs: at + toNs(p.tailSeconds), labels };
}

/** The class of a publish time, as the C client finds it (first window that holds it; else 0). */
function classOf(windows: readonly Window[], t: bigint): number {
  for (const w of windows) if (t >= w.startNs && t < w.endNs) return w.cls;
  return 0;
}

/** Which ingest consumes the shared queue now: the one whose consumed counter moved last. */
class ActiveIngest {
  private readonly last: number[];
  private readonly movedAt: number[];
  private stopped = false;
  private readonly loop: Promise<void>;

  constructor(private readonly ingests: readonly ServiceProcess[]) {
    this.last = ingests.map(() => 0);
    this.movedAt = ingests.map(() => 0);
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      const values = await Promise.all(
        this.ingests.map((i) =>
          readSum(i.metricsPort, 'events_ingest_messages_consumed_total').catch(() => undefined),
        ),
      );
      const now = performance.now();
      values.forEach((v, i) => {
        if (v !== undefined && v > this.last[i]!) {
          this.last[i] = v;
          this.movedAt[i] = now;
        }
      });
      await sleep(100);
    }
  }

  /** The index of the active ingest (undefined before either consumed anything). */
  get index(): number | undefined {
    let best: number | undefined;
    this.movedAt.forEach((t, i) => {
      if (t > 0 && (best === undefined || t > this.movedAt[best]!)) best = i;
    });
    return best;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
  }
}

const EDGE_METRICS: readonly [string, string, string[]][] = [
  ['resumes lossless', 'events_edge_resumes_total', ['result="lossless"']],
  ['resumes with gap', 'events_edge_resumes_total', ['result="gap"']],
  ['gap events sent', 'events_edge_gaps_total', []],
  ['bus catch-ups lossless', 'events_edge_bus_catch_ups_total', ['result="lossless"']],
  ['bus catch-ups gap', 'events_edge_bus_catch_ups_total', ['result="gap"']],
  ['bus catch-up messages', 'events_edge_bus_catch_up_messages_total', []],
  ['late messages dropped', 'events_edge_late_messages_dropped_total', []],
  ['streams ended, bus lost', 'events_edge_closes_total', ['reason="bus_lost"']],
  ['redis link drops', 'events_redis_link_drops_total', []],
  ['messages sent', 'events_edge_messages_sent_total', []],
];
const INGEST_METRICS: readonly [string, string, string[]][] = [
  ['consumed', 'events_ingest_messages_consumed_total', []],
  ['frames published', 'events_ingest_frames_published_total', []],
  ['publish failures', 'events_ingest_publish_failures_total', []],
  ['history failures', 'events_ingest_history_failures_total', []],
  ['handoffs', 'events_ingest_handoffs_total', []],
  ['amqp connects', 'events_amqp_connects_total', []],
  ['redis link drops', 'events_redis_link_drops_total', []],
];

async function readMetrics(
  p: ServiceProcess,
  list: readonly [string, string, string[]][],
): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const [label, name, labels] of list)
    out[label] = await readSum(p.metricsPort, name, labels).catch(() => NaN);
  return out;
}

export async function measureNetworkDrops(
  ctx: BenchContext,
  p: NetworkDropsParams,
): Promise<NetworkDropsMeasure> {
  const stack: (() => Promise<unknown>)[] = [];
  const cleanup = async () => {
    for (const f of stack.splice(0).reverse()) await f().catch(() => undefined);
  };
  try {
    const redis: PrivateRedis = await startPrivateRedis(path.join(ctx.runDir, 'network-drops-redis.log'));
    stack.push(() => redis.stop());
    const redisPort = Number(new URL(redis.url).port);
    const amqp = new URL(ctx.options.amqpUrl);
    const amqpTarget = { host: amqp.hostname, port: Number(amqp.port || 5672) };
    const proxy = async (target: { host: string; port: number }) => {
      const fp = await FaultProxy.start(target);
      stack.push(() => fp.close());
      return fp;
    };
    const redisLinks = {
      ingest0: await proxy({ host: '127.0.0.1', port: redisPort }),
      ingest1: await proxy({ host: '127.0.0.1', port: redisPort }),
      edge0: await proxy({ host: '127.0.0.1', port: redisPort }),
      edge1: await proxy({ host: '127.0.0.1', port: redisPort }),
    };
    const amqpLinks = { ingest0: await proxy(amqpTarget), ingest1: await proxy(amqpTarget) };

    const exchange = await ctx.topicExchange('drops');
    stack.push(() => ctx.deleteExchange(exchange));
    const queue = ctx.queueName();
    stack.push(() => ctx.deleteQueue(queue));
    const base: NodeJS.ProcessEnv = {
      ...process.env,
      AMQP_URL: ctx.options.amqpUrl,
      KEY_PREFIX: ctx.keyPrefix(),
      AMQP_QUEUE: queue,
      ALLOWED_EXCHANGE_PREFIXES: 'exchange/bench/',
      MAX_CONNECTIONS: '20000',
      LOG_LEVEL: p.logLevel,
      SSE_RETRY_MS: String(p.retryMs),
    };
    const label = 'network-drops';
    const started: ServiceProcess[] = [];
    stack.push(async () => {
      await Promise.all(started.filter((s) => s.child.name.startsWith('edge')).map((s) => s.child.stop()));
      await Promise.all(started.filter((s) => s.child.name.startsWith('ingest')).map((s) => s.child.stop()));
    });
    // Started one after the other, ingest0 is the single active consumer, ingest1 stands by.
    const ingests: ServiceProcess[] = [];
    for (const name of ['ingest0', 'ingest1'] as const) {
      const s = await startService(
        ctx,
        'ingest',
        name,
        {
          ...base,
          REDIS_URL: redisLinks[name].url(),
          AMQP_URL: amqpLinks[name].rewrite(ctx.options.amqpUrl),
        },
        label,
      );
      started.push(s);
      ingests.push(s);
    }
    const edges = await Promise.all(
      (['edge0', 'edge1'] as const).map((name) =>
        startService(ctx, 'edge', name, { ...base, REDIS_URL: redisLinks[name].url() }, label).then((s) => {
          started.push(s);
          return s;
        }),
      ),
    );
    const balancer = await ReadinessBalancer.start(
      edges.map((e, i) => ({
        name: `edge${i}`,
        port: e.port,
        readyzUrl: `http://127.0.0.1:${e.metricsPort}/readyz`,
      })),
      p.readinessPollMs,
    );
    stack.push(() => balancer.stop());

    const bindings = [{ exchange, routingKeyPattern: 'drops.#' }];
    ctx.log(`    ${p.clients} v2 clients → balancer → 2 edges; 2 ingests (one active), ${p.rate} msg/s`);
    const clients = ExactGroup.start({
      port: balancer.port,
      path: connectPath(bindings, 2),
      conns: p.clients,
      maxPending: p.maxPending,
      reconnectJitterMs: p.retryMs,
    });
    stack.push(() => clients.finish(0));
    const settled = await clients.settled(120_000);
    if (settled.readyNow !== p.clients)
      throw new Error(`${settled.readyNow} of ${p.clients} clients got ready (${settled.firstError})`);
    const atStart = await balancer.stats();
    const clientsAtStart = { edge0: atStart.open.edge0 ?? 0, edge1: atStart.open.edge1 ?? 0 };

    const plan = planDrops(p, nowNs() + NS_PER_S / 2n);
    await clients.windows(plan.windows);
    const active = new ActiveIngest(ingests);
    stack.push(() => active.stop());
    const publisher = await NumberedPublisher.start({
      url: ctx.options.amqpUrl,
      exchange,
      routingKey: 'drops.seq',
      rate: p.rate,
      payloadBytes: p.payloadBytes,
    });
    stack.push(() => publisher.close());
    const meter = new CpuMeter({
      ...Object.fromEntries(started.map((s) => [s.child.name, s.child.pid])),
      redis: redis.pid,
      ...(ctx.infraPids.rabbitmq ? { rabbitmq: ctx.infraPids.rabbitmq } : {}),
      harness: process.pid,
      balancer: balancer.pid,
      ...clients.pids,
    });

    const records: DropRecord[] = [];
    let edgeTurn = 0;
    for (const d of plan.drops) {
      const kind = p.kinds[d.kindIndex]!;
      const hop = HOPS[d.hopIndex]!;
      let name: string;
      let link: FaultProxy;
      if (hop === 'edge-redis') {
        name = `edge${edgeTurn++ % 2}`;
        link = redisLinks[name as 'edge0' | 'edge1'];
      } else {
        const i = active.index ?? 0;
        name = `ingest${i}`;
        link = (hop === 'ingest-redis' ? redisLinks : amqpLinks)[name as 'ingest0' | 'ingest1'];
      }
      const lateMs = await sleepUntil(d.startNs);
      const before = link.stats();
      if (kind === 'blackhole') link.blackhole();
      else {
        link.reset();
        link.refuse();
      }
      ctx.log(
        `    ${((Number(d.startNs - plan.originNs) / 1e9).toFixed(1) + ' s').padStart(7)}  ${kind} ${hop} (${name}, ` +
          `${before.open} connections)`,
      );
      const healLateMs = await sleepUntil(d.healNs);
      const atHeal = link.stats();
      link.heal();
      records.push({
        kind,
        hop,
        process: name,
        cls: dropClass(d.kindIndex, d.hopIndex),
        atSeconds: round(Number(d.startNs - plan.originNs) / 1e9, 2),
        lateMs: round(lateMs, 1),
        healLateMs: round(healLateMs, 1),
        before,
        atHeal,
      });
    }
    await sleepUntil(plan.endNs);
    const published = await publisher.stop();
    const cpu = meter.read();
    const confirmedSeqs = publisher.confirmed.flatMap((c, seq) => (c === true ? [seq] : []));
    ctx.log(`    published ${published}, confirmed ${confirmedSeqs.length}; waiting for every client`);

    // Every client should get to every message; wait for that (or the timeout), then count.
    const deadline = Date.now() + p.deliverTimeoutSeconds * 1000;
    let r = await clients.report();
    while (r.distinctMin < published && Date.now() < deadline) {
      await sleep(250);
      r = await clients.report();
    }
    const exited = started.filter((s) => !s.child.isRunning()).map((s) => s.child.name);
    const server: Record<string, Record<string, number>> = {};
    for (const s of started)
      if (s.child.isRunning())
        server[s.child.name] = await readMetrics(
          s,
          s.child.name.startsWith('edge') ? EDGE_METRICS : INGEST_METRICS,
        );
    const balancerStats = await balancer.stats();
    await active.stop();
    const final = await clients.finish(published);
    const kinds = p.kinds.map((kind, k) => kindOutcome(kind, k, plan, publisher, confirmedSeqs, final));
    const confirmedSet = new Set(confirmedSeqs);
    const lostTotal = (final.missing ?? [])
      .filter(([seq]) => confirmedSet.has(seq))
      .reduce((s, [, n]) => s + n, 0);
    const classes: NetworkDropsMeasure['classes'] = {};
    for (const c of final.classes) {
      const { latencyUs, ...rest } = c;
      classes[`${c.cls} ${plan.labels[c.cls] ?? '?'}`] = { ...rest, latency: summarize(latencyUs) };
    }
    const { perConn: _perConn, missing: _missing, classes: _classes, ...finalRest } = final;
    void _perConn;
    void _missing;
    void _classes;
    fs.writeFileSync(
      path.join(ctx.runDir, 'network-drops-missing.json'),
      JSON.stringify({ missing: final.missing, drops: records }),
    );
    return {
      params: p,
      published,
      confirmed: confirmedSeqs.length,
      nacked: publisher.nackedCount,
      lostTotal,
      kinds,
      drops: records,
      clientsAtStart,
      final: finalRest,
      classes,
      server,
      exited,
      cpu,
      balancer: balancerStats,
    };
  } finally {
    await cleanup();
  }
}

function kindOutcome(
  kind: DropKind,
  k: number,
  plan: Plan,
  publisher: NumberedPublisher,
  confirmedSeqs: readonly number[],
  final: ExactReport,
): KindOutcome {
  const own = new Set<number>([
    baselineClass(k),
    ...HOPS.map((_, h) => dropClass(k, h)),
    ...HOPS.map((_, h) => healedClass(k, h)),
  ]);
  const seqClass = (seq: number) => classOf(plan.windows, publisher.sentAt[seq]!);
  const mine = confirmedSeqs.filter((seq) => own.has(seqClass(seq)));
  const confirmed = mine.length;
  const perClient = (final.perConn ?? []).map((pairs) =>
    pairs.reduce((s, [cls, n]) => s + (own.has(cls) ? n : 0), 0),
  );
  const mineSet = new Set(mine);
  const missing = (final.missing ?? [])
    .filter(([seq]) => mineSet.has(seq))
    .map(([seq, n, first]) => [seq, n, first, plan.labels[seqClass(seq)] ?? '?'] as const);
  const lost = missing.reduce((s, [, n]) => s + n, 0);
  const byClass = (cls: number) => final.classes.find((c) => c.cls === cls);
  const merged = (list: readonly number[]) =>
    mergeClasses(
      -1,
      list.flatMap((cls) => {
        const c = byClass(cls);
        return c ? [c] : [];
      }),
    );
  const all = merged([...own]);
  const span = plan.kindSpans[k]!;
  const byHop = Object.fromEntries(
    HOPS.map((hop, h) => [
      hop,
      {
        drop: summarize(merged([dropClass(k, h)]).latencyUs),
        healed: summarize(merged([healedClass(k, h)]).latencyUs),
      },
    ]),
  ) as KindOutcome['latency']['byHop'];
  return {
    kind,
    seconds: round(Number(span.endNs - span.startNs) / 1e9, 1),
    confirmed,
    minPerClient: perClient.length > 0 ? Math.min(...perClient) : 0,
    delivered: perClient.reduce((s, n) => s + n, 0),
    lost,
    clientsMissingSome: perClient.filter((n) => n < confirmed).length,
    duplicates: all.duplicates,
    dupRedelivered: all.dupRedelivered,
    firstRedelivered: all.firstRedelivered,
    reordered: all.reordered,
    gapEvents: all.gapEvents,
    errorEvents: all.errorEvents,
    streamEnds: all.ends,
    reconnects: all.reconnects,
    httpBad: all.httpBad,
    latency: {
      baseline: summarize(merged([baselineClass(k)]).latencyUs),
      drops: summarize(merged(HOPS.map((_, h) => dropClass(k, h))).latencyUs),
      healed: summarize(merged(HOPS.map((_, h) => healedClass(k, h))).latencyUs),
      byHop,
    },
    missing: missing.slice(0, 200),
  };
}

const pct = (part: number, whole: number) => (whole > 0 ? round((part / whole) * 100, 3) : undefined);
const minus = (a: number | undefined, b: number | undefined) =>
  a === undefined || b === undefined ? undefined : round(a - b, 2);

export function networkDropsFigures(m: NetworkDropsMeasure): {
  figures: Figure[];
  checks: Check[];
  notes: string[];
} {
  const clients = m.params.clients;
  const figures: Figure[] = [
    figure('v2 clients', '', { edge: clients }),
    figure('clients on edge0 at the start', '', { edge: m.clientsAtStart.edge0 }),
    figure('clients on edge1 at the start', '', { edge: m.clientsAtStart.edge1 }),
    figure('messages confirmed by the broker (whole run)', '', { edge: m.confirmed }),
    figure(
      'messages lost over the whole run, summed over clients',
      '',
      { edge: m.lostTotal },
      { kind: 'atMost', value: 0 },
    ),
  ];
  for (const o of m.kinds) {
    const k = o.kind;
    figures.push(
      figure(`${k}: confirmed messages`, '', { edge: o.confirmed }),
      figure(
        `${k}: delivered to the client that got fewest`,
        '%',
        { edge: pct(o.minPerClient, o.confirmed) },
        { kind: 'atLeast', value: 100 },
      ),
      figure(`${k}: delivered, all clients together`, '%', { edge: pct(o.delivered, o.confirmed * clients) }),
      figure(`${k}: messages lost, summed over clients`, '', { edge: o.lost }, { kind: 'atMost', value: 0 }),
      figure(`${k}: clients that missed any`, '', { edge: o.clientsMissingSome }),
      figure(`${k}: duplicates received, summed over clients`, '', { edge: o.duplicates }),
      figure(`${k}: of them flagged redelivered`, '', { edge: o.dupRedelivered }),
      figure(`${k}: gap events`, '', { edge: o.gapEvents }),
      figure(`${k}: client reconnects (streams ended: ${o.streamEnds})`, '', { edge: o.reconnects }),
      figure(`${k}: latency p50, baseline`, 'ms', { edge: o.latency.baseline.p50Ms }),
      figure(`${k}: latency p99, baseline`, 'ms', { edge: o.latency.baseline.p99Ms }),
      figure(`${k}: latency p50, published during a drop`, 'ms', { edge: o.latency.drops.p50Ms }),
      figure(`${k}: latency p99, published during a drop`, 'ms', { edge: o.latency.drops.p99Ms }),
      figure(`${k}: p99 extra latency the drops add`, 'ms', {
        edge: minus(o.latency.drops.p99Ms, o.latency.baseline.p99Ms),
      }),
      ...HOPS.map((hop) =>
        figure(`${k}: latency p99, published during a drop of ${hop}`, 'ms', {
          edge: o.latency.byHop[hop].drop.p99Ms,
        }),
      ),
      ...HOPS.map((hop) =>
        figure(`${k}: latency max, published during a drop of ${hop}`, 'ms', {
          edge: o.latency.byHop[hop].drop.maxMs,
        }),
      ),
      figure(`${k}: latency p99, published after a heal`, 'ms', { edge: o.latency.healed.p99Ms }),
    );
  }
  const sum = (prefix: string, key: string) =>
    Object.entries(m.server)
      .filter(([name]) => name.startsWith(prefix))
      .reduce((s, [, v]) => s + (v[key] ?? 0), 0);
  figures.push(
    figure('whole run: edges taken out of the balancer (readiness false)', '', {
      edge: m.balancer.transitions.filter((t) => !t.up).length,
    }),
    figure('whole run: edges: bus catch-ups after a lost subscription (lossless)', '', {
      edge: sum('edge', 'bus catch-ups lossless'),
    }),
    figure('whole run: edges: bus catch-ups that could only say gap', '', {
      edge: sum('edge', 'bus catch-ups gap'),
    }),
    figure('whole run: edges: messages delivered from the history by catch-ups', '', {
      edge: sum('edge', 'bus catch-up messages'),
    }),
    figure('whole run: edges: late bus messages dropped', '', { edge: sum('edge', 'late messages dropped') }),
    figure('whole run: edges: streams ended for a lost bus', '', {
      edge: sum('edge', 'streams ended, bus lost'),
    }),
    figure('whole run: ingests: handoffs (INGEST_HANDOFF_SECONDS)', '', { edge: sum('ingest', 'handoffs') }),
    figure('whole run: ingests: AMQP connects (2 at the start)', '', {
      edge: sum('ingest', 'amqp connects'),
    }),
  );
  const unflagged = m.kinds.reduce((s, o) => s + o.duplicates - o.dupRedelivered, 0);
  const checks: Check[] = [
    {
      name: 'every client got every confirmed message',
      target: 'edge',
      ok: m.lostTotal === 0 && m.kinds.every((o) => o.lost === 0 && o.minPerClient === o.confirmed),
      detail: m.kinds.map((o) => `${o.kind}: ${o.lost} lost (${o.clientsMissingSome} clients)`).join('; '),
    },
    {
      name: 'every message published was confirmed',
      target: 'edge',
      ok: m.confirmed === m.published,
      detail: `${m.published} published, ${m.confirmed} confirmed, ${m.nacked} nacked`,
    },
    {
      name: 'repeats only flagged redelivered',
      target: 'edge',
      ok: unflagged === 0,
      detail: `${unflagged} repeats without the flag`,
    },
    {
      name: 'no gap event',
      target: 'edge',
      ok: m.final.gapEvents === 0,
      detail: `${m.final.gapEvents} gap events`,
    },
    {
      name: 'no service process exited',
      target: 'edge',
      ok: m.exited.length === 0,
      detail: m.exited.join(', '),
    },
    {
      name: 'every client streaming at the end',
      target: 'edge',
      ok: m.final.readyNow === clients,
      detail: `${m.final.readyNow} of ${clients}`,
    },
  ];
  const p = m.params;
  const notes = [
    `Each kind ran in its own stretch, one after the other: ${p.baselineSeconds} s baseline, then ${p.drops} drops of ` +
      `${p.dropSeconds} s, one every ${p.dropSeconds + p.healedSeconds} s, on ${HOPS.join(', ')} in turn (edge ` +
      `Redis drops alternate between the two edges; ingest drops hit the ingest consuming at that moment).`,
    'blackhole: the link goes silent both ways (no FIN, no RST) and heals; cut: every connection of the link is ' +
      'reset and new ones are refused, then it heals.',
    'Latency: publish (send, before the confirm) to receipt, first copy per client, classed by publish time: ' +
      'baseline, published during a drop, published after a heal until the next drop.',
    'Loss is exact: each client keeps a bitmap of the seqs it received; every confirmed message must be in ' +
      'every bitmap. Duplicates are later copies of a seq a client already had.',
  ];
  return { figures, checks, notes };
}

export const networkDropsScenario: Scenario<NetworkDropsParams> = {
  name: 'network-drops',
  title:
    'Network drops: repeated 2 s drops (blackhole, cut) on every hop under v2 streams; every confirmed message to every client',
  params: (quick) =>
    quick
      ? {
          clients: 100,
          rate: 100,
          payloadBytes: 256,
          kinds: ['blackhole', 'cut'],
          settleSeconds: 1,
          baselineSeconds: 2,
          drops: 3,
          dropSeconds: 2,
          healedSeconds: 1.5,
          tailSeconds: 1,
          deliverTimeoutSeconds: 10,
          retryMs: 1000,
          readinessPollMs: 100,
          maxPending: 200,
          logLevel: 'warn',
        }
      : {
          clients: 1000,
          rate: 100,
          payloadBytes: 256,
          kinds: ['blackhole', 'cut'],
          settleSeconds: 5,
          baselineSeconds: 10,
          drops: 10,
          dropSeconds: 2,
          healedSeconds: 3,
          tailSeconds: 3,
          deliverTimeoutSeconds: 30,
          retryMs: 1000,
          readinessPollMs: 100,
          maxPending: 200,
          logLevel: 'warn',
        },
  async run(ctx, p): Promise<ScenarioResult> {
    const params: NetworkDropsParams = {
      ...p,
      ...(ctx.options.clients !== undefined ? { clients: ctx.options.clients } : {}),
      ...(ctx.options.rate !== undefined ? { rate: ctx.options.rate } : {}),
    };
    const m = await measureNetworkDrops(ctx, params);
    const { figures, checks, notes } = networkDropsFigures(m);
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
