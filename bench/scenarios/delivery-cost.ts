/**
 * Scenario delivery-cost: what one delivery on the broadcast path costs the edge, by the features
 * its connections use, every variant measured side by side in the same seconds. One installation
 * (one ingest, one key prefix and queue) runs six edges at once: v1 clients only, v2 clients only,
 * and half of each (mixed), each with `AUTH_MODE=none` and with `AUTH_MODE=jwt` (HS256; every
 * client its own valid token in the `access_token` query key, signed before any clock starts).
 * The Node and the C reference broadcasters (targets 'reference' and 'c-reference', when in the
 * run) subscribe under the same key prefix, to the same channel, with v1 clients: the edges hold
 * the binding's lease, so the ingest feeds them all the same messages without a BindingHolder.
 *
 * Every server gets its own N clients on the same binding; one publisher sends 1 KiB messages at a
 * fixed rate for S seconds after an unmeasured warm-up, so every server delivers the same messages
 * in the same window; the window is repeated R times and each figure is the median over them, so one
 * noisy second does not decide. Per server and window: the process's user and system CPU (utime and
 * stime of /proc/<pid>/stat, every thread) from the first publish until its clients have the last
 * message, ÷ its deliveries; deliveries/s while publishing; publish-to-receive p50/p99. After the
 * last window: exact delivery (every client every message once, in order; v2 clients are run in the
 * C client's resume mode, so each message's `id:` is checked to be a cursor after the previous one).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Child } from '../lib/children.js';
import type { BenchContext, TargetKind } from '../lib/context.js';
import { checkDelivery, waitDelivered, type DeliveryCheck } from '../lib/delivery.js';
import { median, summarize, type HistogramJson, type LatencySummary } from '../lib/histogram.js';
import { DEFAULT_PAYLOAD_BYTES, SequencedSource, publishPaced } from '../lib/load.js';
import { CpuMeter, cpuTimes, round, taskCpuSeconds } from '../lib/proc-stats.js';
import { AmqpSink, type MessageSink } from '../lib/publishers.js';
import { figure, type Check, type Figure, type ScenarioResult } from '../lib/results.js';
import { ClientGroup, mergeReports, type ClientReport } from '../lib/sse-clients.js';
import { connectPath, servicesEnv, startBroadcaster, startService } from '../lib/targets.js';
import { hsSigner, newSecret, signTokens } from '../lib/tokens.js';
import type { Scenario } from './scenario.js';

export const PROTOCOLS = ['v1', 'v2', 'mixed'] as const;
export type Protocol = (typeof PROTOCOLS)[number];

/** Log files and profile directories: `delivery-cost-<server key>` (the ingest: `delivery-cost-ingest`). */
const LABEL = 'delivery-cost';
const PATTERN = 'bench.cost.#';

export interface DeliveryCostParams {
  /** Clients per server (mixed: half v1, half v2). */
  readonly clients: number;
  /** Messages per second (each server's deliveries per second: × clients). */
  readonly rate: number;
  /** Measured seconds of publishing per window. */
  readonly seconds: number;
  /** Measured windows; each figure is the median over them. */
  readonly repeats: number;
  /** Unmeasured seconds of the same load first (JIT, socket buffers). */
  readonly warmupSeconds: number;
  readonly payloadBytes: number;
  /** Clients per C client process. */
  readonly clientsPerShard: number;
  /** Which edge variants to run (default: all six combinations). */
  readonly protocols?: readonly Protocol[];
  readonly auth?: readonly boolean[];
}

/** One process serving clients: an edge variant, or a reference broadcaster (v1 clients). */
export interface CostServer {
  /** `v1-auth-off` …, `reference`, `c-reference`: its log file, profile label and child name. */
  readonly key: string;
  /** `v1, auth off` … as the figures name it; `v1` for the references. */
  readonly label: string;
  readonly kind: TargetKind;
  readonly protocol: Protocol;
  readonly auth: boolean;
}

/** One server over one measured window. */
export interface WindowMeasure {
  /** Messages published in the window, and the deliveries the server's clients got of them. */
  readonly messages: number;
  readonly deliveries: number;
  /** CPU seconds of the process, from /proc/<pid>/stat (utime, stime), and schedstat's total. */
  readonly userSeconds: number;
  readonly systemSeconds: number;
  readonly preciseSeconds: number;
  readonly userUsPerDelivery: number | undefined;
  readonly systemUsPerDelivery: number | undefined;
  /** user + system. */
  readonly cpuUsPerDelivery: number | undefined;
  /** The same from the per-thread nanosecond counters (a cross-check of the tick-based figure). */
  readonly preciseUsPerDelivery: number | undefined;
  /** Deliveries received per second while the window's messages were being published. */
  readonly deliveriesPerSecond: number;
  readonly latency: LatencySummary;
}

/** Medians over the windows. */
export interface MedianMeasure {
  readonly cpuUsPerDelivery: number | undefined;
  readonly userUsPerDelivery: number | undefined;
  readonly systemUsPerDelivery: number | undefined;
  readonly preciseUsPerDelivery: number | undefined;
  readonly deliveriesPerSecond: number | undefined;
  readonly p50Ms: number | undefined;
  readonly p99Ms: number | undefined;
}

export interface ServerMeasure {
  readonly server: CostServer;
  readonly v1Clients: number;
  readonly v2Clients: number;
  readonly windows: readonly WindowMeasure[];
  readonly median: MedianMeasure;
  /** Over everything published (warm-up and every window), checked after the last window. */
  readonly delivery: DeliveryCheck;
  /** v2 clients: ids that were not cursors, and cursors not after the previous id (both must be 0). */
  readonly badIds: number;
  readonly cursorRegressions: number;
}

export interface DeliveryCostMeasure {
  readonly servers: readonly ServerMeasure[];
  /** Messages published in all, warm-up included. */
  readonly published: number;
  /** Per window: messages per second actually published. */
  readonly publishedRates: readonly number[];
  /** Per window: cores used by each server, the ingest, Redis, RabbitMQ, the harness, all clients, the machine. */
  readonly cpu: readonly Record<string, number>[];
}

export function costVariants(p: DeliveryCostParams): CostServer[] {
  const out: CostServer[] = [];
  for (const auth of p.auth ?? [false, true])
    for (const protocol of p.protocols ?? PROTOCOLS)
      out.push({
        key: `${protocol}-auth-${auth ? 'on' : 'off'}`,
        label: `${protocol}, auth ${auth ? 'on' : 'off'}`,
        kind: 'edge',
        protocol,
        auth,
      });
  return out;
}

/** The edge variants, then the references in the run's targets. */
export function costServers(p: DeliveryCostParams, targets: readonly TargetKind[]): CostServer[] {
  const refs = (['reference', 'c-reference'] as const)
    .filter((k) => targets.includes(k))
    .map((kind): CostServer => ({ key: kind, label: 'v1', kind, protocol: 'v1', auth: false }));
  return [...costVariants(p), ...refs];
}

/** `after − before` of two cumulative histograms of the same clients (max: after's). */
function histogramSince(after: HistogramJson, before: HistogramJson): HistogramJson {
  const earlier = new Map(before.buckets.map(([low, , count]) => [low, count]));
  const buckets = after.buckets
    .map(([low, high, count]) => [low, high, count - (earlier.get(low) ?? 0)] as const)
    .filter((b) => b[2] > 0);
  return { n: after.n - before.n, sum: after.sum - before.sum, max: after.max, buckets };
}

/** A server running with its clients. */
interface Serving {
  readonly server: CostServer;
  readonly child: Child;
  readonly v1Clients: number;
  readonly v2Clients: number;
  readonly groups: readonly ClientGroup[];
  /** Clients of each group. */
  readonly counts: readonly number[];
  readonly v2: ClientGroup | undefined;
}

async function reportOf(s: Serving): Promise<ClientReport[]> {
  return Promise.all(s.groups.map((g) => g.report()));
}

/** Polls the server's groups until each has `perClient` messages per client (or stalls); see waitDelivered. */
async function waitServer(s: Serving, perClient: number): Promise<ClientReport[]> {
  return Promise.all(s.groups.map((g, i) => waitDelivered(g, s.counts[i]! * perClient, 60_000)));
}

interface CpuReading {
  readonly user: number;
  readonly system: number;
  readonly precise: number;
}

function readCpu(pid: number): CpuReading {
  const t = cpuTimes(pid);
  return { user: t?.user ?? NaN, system: t?.system ?? NaN, precise: taskCpuSeconds(pid) ?? NaN };
}

const perDelivery = (seconds: number, deliveries: number) =>
  Number.isFinite(seconds) && deliveries > 0 ? round((seconds * 1e6) / deliveries, 3) : undefined;

function finalCheck(s: Serving, finals: readonly ClientReport[], perClient: number): DeliveryCheck {
  const delivery = s.groups
    .map((_, i) => checkDelivery(finals[i]!, s.counts[i]!, perClient))
    .reduce((a, b) => ({
      exact: a.exact && b.exact,
      clients: a.clients + b.clients,
      expectedPerClient: a.expectedPerClient,
      received: a.received + b.received,
      problems: [...a.problems, ...b.problems],
    }));
  const v2Final = s.v2 ? finals[s.groups.indexOf(s.v2)] : undefined;
  const problems = [...delivery.problems];
  if (!s.child.isRunning()) problems.push(`${s.server.key} exited`);
  if (v2Final && (v2Final.badIds > 0 || v2Final.cursorRegressions > 0))
    problems.push(`v2: ${v2Final.badIds} bad ids, ${v2Final.cursorRegressions} cursor regressions`);
  // Each v2 stream starts with a `retry:` field (v1 streams have none): the v2 routes answered.
  if (v2Final && v2Final.retryFields < s.v2Clients)
    problems.push(`v2: ${v2Final.retryFields} retry fields for ${s.v2Clients} streams`);
  if (v2Final && v2Final.reconnects > 0) problems.push(`v2: ${v2Final.reconnects} reconnects`);
  return { ...delivery, exact: problems.length === 0, problems };
}

const show = (v: number | undefined) => (v === undefined ? '–' : String(v));

export async function measureDeliveryCost(
  ctx: BenchContext,
  p: DeliveryCostParams,
): Promise<DeliveryCostMeasure> {
  const servers = costServers(p, ctx.options.targets);
  const exchange = await ctx.topicExchange('cost');
  const binding = [{ exchange, routingKeyPattern: PATTERN }];
  const keyPrefix = ctx.keyPrefix();
  const queue = ctx.queueName();
  const children: Child[] = [];
  const groups: ClientGroup[] = [];
  let ingest: Child | undefined;
  let sink: MessageSink | undefined;
  try {
    // Tokens for every client of a server, signed before any clock starts (one a client: a
    // distinct `sub` each; the auth-on edges share them, each client index its own line).
    const secret = newSecret();
    const pathFiles = { 1: '', 2: '' } as Record<1 | 2, string>;
    if (servers.some((s) => s.auth)) {
      const tokens = await signTokens(hsSigner(secret), [exchange], p.clients, 'cost-');
      for (const version of [1, 2] as const) {
        const file = path.join(ctx.runDir, `delivery-cost-v${version}-paths.txt`);
        const base = connectPath(binding, version);
        fs.writeFileSync(file, tokens.map((t) => `${base}&access_token=${t}`).join('\n') + '\n');
        pathFiles[version] = file;
      }
    }
    // One installation: one ingest, the edges with its env, the references on its key prefix.
    const env = servicesEnv(
      ctx,
      { label: LABEL, env: { MAX_CONNECTIONS: String(Math.max(20_000, p.clients + 100)) } },
      keyPrefix,
      queue,
    );
    ctx.log(`  delivery-cost: starting the ingest, then ${servers.map((s) => s.key).join(', ')}`);
    ingest = (await startService(ctx, 'ingest', 'ingest', env, LABEL)).child;
    const started = await Promise.all(
      servers.map(async (s) => {
        const { child, port } =
          s.kind === 'edge'
            ? await startService(
                ctx,
                'edge',
                s.key,
                {
                  ...env,
                  ...(s.auth ? { AUTH_MODE: 'jwt', AUTH_JWT_SECRET: secret } : { AUTH_MODE: 'none' }),
                },
                LABEL,
              )
            : await startBroadcaster(
                ctx,
                s.kind,
                LABEL,
                { REDIS_URL: env.REDIS_URL!, KEY_PREFIX: keyPrefix },
                s.key,
              );
        children.push(child);
        return { child, port };
      }),
    );
    const serving: Serving[] = servers.map((server, i) => {
      const { child, port } = started[i]!;
      const v2Clients =
        server.protocol === 'v2' ? p.clients : server.protocol === 'mixed' ? Math.floor(p.clients / 2) : 0;
      const v1Clients = p.clients - v2Clients;
      const start = (version: 1 | 2, conns: number, indexOffset: number): ClientGroup => {
        const g = ClientGroup.start({
          ports: [port],
          path: connectPath(binding, version),
          ...(server.auth ? { pathsFile: pathFiles[version] } : {}),
          conns,
          indexOffset,
          perShard: p.clientsPerShard,
          maxPending: 500,
          // v2: the resume mode checks every id (it reconnects only if a stream ends, which fails the check).
          ...(version === 2 ? { resume: true, reconnectPorts: [port] } : {}),
        });
        groups.push(g);
        return g;
      };
      const v1 = v1Clients > 0 ? start(1, v1Clients, 0) : undefined;
      const v2 = v2Clients > 0 ? start(2, v2Clients, v1Clients) : undefined;
      return {
        server,
        child,
        v1Clients,
        v2Clients,
        groups: [v1, v2].filter((g): g is ClientGroup => g !== undefined),
        counts: [v1 ? v1Clients : 0, v2 ? v2Clients : 0].filter((n) => n > 0),
        v2,
      };
    });
    const settled = await Promise.all(
      serving.map(async (s) => mergeReports(await Promise.all(s.groups.map((g) => g.settled(180_000))))),
    );
    serving.forEach((s, i) => {
      if (settled[i]!.ready !== p.clients)
        ctx.log(
          `    ${s.server.key}: ${settled[i]!.ready} of ${p.clients} clients got ready (${settled[i]!.firstError})`,
        );
    });
    ctx.log(
      `  delivery-cost: ${settled.reduce((n, r) => n + r.ready, 0)} clients ready on ${serving.length} servers; ` +
        `warm-up ${p.warmupSeconds} s, then ${p.repeats} × ${p.seconds} s at ${p.rate} msg/s`,
    );

    sink = await AmqpSink.open(ctx.options.amqpUrl, exchange);
    const source = new SequencedSource(['bench.cost.k'], p.payloadBytes);
    await publishPaced(sink, source, p.rate, p.rate * p.warmupSeconds);
    let finals = await Promise.all(serving.map((s) => waitServer(s, source.count)));

    const windows: WindowMeasure[][] = serving.map(() => []);
    const publishedRates: number[] = [];
    const cpu: Record<string, number>[] = [];
    const clientPids = Object.fromEntries(
      groups.flatMap((g, gi) => Object.entries(g.pids).map(([n, pid]) => [`clients-${gi}-${n}`, pid])),
    );
    for (let w = 0; w < p.repeats; w++) {
      const before = await Promise.all(serving.map(reportOf));
      const meter = new CpuMeter({
        ingest: ingest.pid,
        ...Object.fromEntries(serving.map((s) => [s.server.key, s.child.pid])),
        ...ctx.infraPids,
        ...clientPids,
      });
      const cpuBefore = serving.map((s) => readCpu(s.child.pid));
      const publish = await publishPaced(sink, source, p.rate, p.rate * p.seconds);
      const published = await Promise.all(serving.map(reportOf));
      // Each server's CPU is read as soon as its clients have the window's last message.
      const ended = await Promise.all(
        serving.map(async (s) => {
          const reports = await waitServer(s, source.count);
          return { reports, cpu: readCpu(s.child.pid) };
        }),
      );
      const cores = meter.read();
      const clientCores = Object.keys(clientPids).reduce((sum, k) => sum + (cores[k] ?? 0), 0);
      for (const k of Object.keys(clientPids)) delete cores[k];
      cpu.push({ ...cores, clients: round(clientCores, 3) });
      publishedRates.push(round(publish.rate, 1));
      finals = ended.map((e) => e.reports);
      ctx.log(
        `  window ${w + 1} of ${p.repeats}: ${publish.sent} messages at ${round(publish.rate, 1)} msg/s`,
      );
      serving.forEach((s, i) => {
        const b = mergeReports(before[i]!);
        const pub = mergeReports(published[i]!);
        const a = mergeReports(ended[i]!.reports);
        const c0 = cpuBefore[i]!;
        const c1 = ended[i]!.cpu;
        const deliveries = a.messages - b.messages;
        const userSeconds = c1.user - c0.user;
        const systemSeconds = c1.system - c0.system;
        const preciseSeconds = c1.precise - c0.precise;
        const m: WindowMeasure = {
          messages: publish.sent,
          deliveries,
          userSeconds: round(userSeconds, 3),
          systemSeconds: round(systemSeconds, 3),
          preciseSeconds: round(preciseSeconds, 3),
          userUsPerDelivery: perDelivery(userSeconds, deliveries),
          systemUsPerDelivery: perDelivery(systemSeconds, deliveries),
          cpuUsPerDelivery: perDelivery(userSeconds + systemSeconds, deliveries),
          preciseUsPerDelivery: perDelivery(preciseSeconds, deliveries),
          // `before` restarted the interval figures: the report at the end of publishing spans it.
          deliveriesPerSecond: Math.round(pub.intervalMessages / Math.max(0.001, pub.intervalMs / 1000)),
          latency: summarize(histogramSince(a.latencyUs, b.latencyUs)),
        };
        windows[i]!.push(m);
        ctx.log(
          `    ${s.server.label} [${s.server.key}]: ${show(m.cpuUsPerDelivery)} µs CPU per delivery ` +
            `(${show(m.userUsPerDelivery)} user + ${show(m.systemUsPerDelivery)} sys; precise ` +
            `${show(m.preciseUsPerDelivery)}), ${deliveries} deliveries, ${m.deliveriesPerSecond}/s, ` +
            `p50 ${show(m.latency.p50Ms)} ms, p99 ${show(m.latency.p99Ms)} ms`,
        );
      });
      ctx.log(`    cores: ${JSON.stringify(cpu[cpu.length - 1])}`);
    }

    const measures = serving.map((s, i): ServerMeasure => {
      const ws = windows[i]!;
      const med = (pick: (w: WindowMeasure) => number | undefined) => {
        const v = median(ws.map(pick));
        return v === undefined ? undefined : round(v, 3);
      };
      const delivery = finalCheck(s, finals[i]!, source.count);
      const v2Final = s.v2 ? finals[i]![s.groups.indexOf(s.v2)] : undefined;
      const m: ServerMeasure = {
        server: s.server,
        v1Clients: s.v1Clients,
        v2Clients: s.v2Clients,
        windows: ws,
        median: {
          cpuUsPerDelivery: med((w) => w.cpuUsPerDelivery),
          userUsPerDelivery: med((w) => w.userUsPerDelivery),
          systemUsPerDelivery: med((w) => w.systemUsPerDelivery),
          preciseUsPerDelivery: med((w) => w.preciseUsPerDelivery),
          deliveriesPerSecond: med((w) => w.deliveriesPerSecond),
          p50Ms: med((w) => w.latency.p50Ms),
          p99Ms: med((w) => w.latency.p99Ms),
        },
        delivery,
        badIds: v2Final?.badIds ?? 0,
        cursorRegressions: v2Final?.cursorRegressions ?? 0,
      };
      ctx.log(
        `  ${s.server.label} [${s.server.key}], median of ${ws.length}: ${show(m.median.cpuUsPerDelivery)} µs ` +
          `CPU per delivery (${show(m.median.userUsPerDelivery)} user + ${show(m.median.systemUsPerDelivery)} ` +
          `sys), p50 ${show(m.median.p50Ms)} ms, p99 ${show(m.median.p99Ms)} ms` +
          `${delivery.exact ? '' : `; NOT exact: ${delivery.problems.join('; ')}`}`,
      );
      return m;
    });
    return { servers: measures, published: source.count, publishedRates, cpu };
  } finally {
    await sink?.close().catch(() => undefined);
    await Promise.all(groups.map((g) => g.finish().catch(() => undefined)));
    await Promise.all(
      children.map((c) =>
        c.stop().catch((err: unknown) => ctx.log(`  stopping ${c.name} failed: ${String(err)}`)),
      ),
    );
    await ingest?.stop().catch((err: unknown) => ctx.log(`  stopping the ingest failed: ${String(err)}`));
    await ctx.deleteQueue(queue);
    await ctx.deleteExchange(exchange);
  }
}

export function deliveryCostFigures(m: DeliveryCostMeasure): { figures: Figure[]; checks: Check[] } {
  const byKey = new Map(m.servers.map((s) => [s.server.key, s]));
  const node = byKey.get('reference')?.median;
  const c = byKey.get('c-reference')?.median;
  const figures: Figure[] = [];
  const row = (name: string, e: MedianMeasure | undefined, pick: (v: MedianMeasure) => number | undefined) =>
    figure(name, 'µs', {
      edge: e && pick(e),
      reference: node && pick(node),
      'c-reference': c && pick(c),
    });
  for (const s of m.servers.filter((x) => x.server.kind === 'edge'))
    figures.push(
      row(`µs CPU per delivery (user+sys), ${s.server.label}`, s.median, (v) => v.cpuUsPerDelivery),
    );
  const base = byKey.get('v1-auth-off');
  if (base) {
    figures.push(row('µs CPU per delivery (user), v1, auth off', base.median, (v) => v.userUsPerDelivery));
    figures.push(row('µs CPU per delivery (sys), v1, auth off', base.median, (v) => v.systemUsPerDelivery));
  }
  const checks: Check[] = m.servers.map((s) => ({
    name: `exact delivery, ${s.server.label}`,
    target: s.server.kind,
    ok: s.delivery.exact,
    detail: s.delivery.problems.join('; '),
  }));
  return { figures, checks };
}

export const deliveryCostScenario: Scenario<DeliveryCostParams> = {
  name: 'delivery-cost',
  title:
    'Delivery cost: CPU per delivery at a fixed rate, v1 / v2 / mixed clients, auth off and on, ' +
    'six edges and the references side by side',
  params: (quick) =>
    quick
      ? {
          clients: 50,
          rate: 20,
          seconds: 2,
          repeats: 1,
          warmupSeconds: 1,
          payloadBytes: DEFAULT_PAYLOAD_BYTES,
          clientsPerShard: 2500,
        }
      : {
          clients: 250,
          rate: 40,
          seconds: 20,
          repeats: 3,
          warmupSeconds: 3,
          payloadBytes: DEFAULT_PAYLOAD_BYTES,
          clientsPerShard: 2500,
        },
  async run(ctx, base): Promise<ScenarioResult> {
    const p: DeliveryCostParams = {
      ...base,
      ...(ctx.options.clients !== undefined ? { clients: ctx.options.clients } : {}),
      ...(ctx.options.rate !== undefined ? { rate: ctx.options.rate } : {}),
    };
    const m = await measureDeliveryCost(ctx, p);
    const { figures, checks } = deliveryCostFigures(m);
    const refs = m.servers.filter((s) => s.server.kind !== 'edge').map((s) => s.server.kind);
    // A saturated machine makes the figures converge: each server gets its fair share of the CPU,
    // falls behind, and writes more messages per system call, so its CPU per delivery is that share
    // ÷ the deliveries, whatever its code costs.
    const cores = os.availableParallelism();
    const busy = median(m.cpu.map((c) => c.machine));
    const saturated = busy !== undefined && busy >= 0.9 * cores;
    return {
      scenario: this.name,
      title: this.title,
      params: { ...p, servers: m.servers.length, deliveriesPerSecondPerServer: p.clients * p.rate },
      figures,
      checks,
      details: {
        servers: m.servers.map((s) => ({
          key: s.server.key,
          kind: s.server.kind,
          protocol: s.server.protocol,
          auth: s.server.auth,
          v1Clients: s.v1Clients,
          v2Clients: s.v2Clients,
          median: s.median,
          windows: s.windows,
          delivery: s.delivery,
          badIds: s.badIds,
          cursorRegressions: s.cursorRegressions,
        })),
        published: m.published,
        publishedRates: m.publishedRates,
        cpu: m.cpu,
        machineCores: cores,
        saturated,
      },
      notes: [
        `one ingest, ${m.servers.filter((s) => s.server.kind === 'edge').length} edges` +
          `${refs.length > 0 ? ` and the ${refs.join(' and ')} broadcaster` : ''}${refs.length > 1 ? 's' : ''} ` +
          `at once, ${p.clients} clients each, the same ${p.rate} msg/s; the median of ${p.repeats} window${p.repeats === 1 ? '' : 's'} of ` +
          `${p.seconds} s`,
        'CPU: utime + stime of the serving process (every thread) from the first publish of a window until its ' +
          'clients have the last message, ÷ its deliveries; the node ref and C ref columns: the references ' +
          `with v1 clients in the same windows${refs.length === 2 ? '' : ' (missing ones: not in --targets)'}`,
        'auth on: AUTH_MODE=jwt (HS256), each client its own token in access_token; v2 ids checked by the client',
        ...(saturated
          ? [
              `SATURATED: the machine was busy ${busy} of ${cores} cores in the windows, so every server got a ` +
                'share of the CPU and batched deliveries to keep up: the figures show that share, not what a ' +
                'delivery costs (they converge); run with fewer --clients or a lower --rate',
            ]
          : []),
      ],
    };
  },
};
