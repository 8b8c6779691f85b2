/**
 * Scenario delivery-cost: what one delivery on the broadcast path costs the edge, by the features
 * its connections use. Six variants, each on a freshly started edge system (one edge, one ingest,
 * its own log and `--profile` label): v1 clients only, v2 clients only, and half of each (mixed),
 * each with `AUTH_MODE=none` and with `AUTH_MODE=jwt` (HS256; every client its own valid token in
 * the `access_token` query key, signed before any clock starts). N clients on one binding, 1 KiB
 * messages at a fixed rate for S seconds after a short unmeasured warm-up. Per variant: the edge
 * process's CPU (every thread) from the first measured publish until the last delivery, ÷ the
 * deliveries; deliveries/s while publishing; publish-to-receive p50/p99 over the measured messages;
 * and exact delivery (every client every message once, in order; v2 clients are run in the C
 * client's resume mode, so each message's `id:` is checked to be a cursor after the previous one).
 * The reference broadcaster (target 'reference', when in the run) serves the same load to v1 clients
 * as the baseline: its CPU per delivery goes in the reference column of every variant's row.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { BenchContext } from '../lib/context.js';
import { checkDelivery, waitDelivered, type DeliveryCheck } from '../lib/delivery.js';
import { summarize, type HistogramJson, type LatencySummary } from '../lib/histogram.js';
import { DEFAULT_PAYLOAD_BYTES, SequencedSource, publishPaced } from '../lib/load.js';
import { CpuMeter, round } from '../lib/proc-stats.js';
import { figure, type Check, type Figure, type ScenarioResult } from '../lib/results.js';
import { ClientGroup, mergeReports, type ClientReport } from '../lib/sse-clients.js';
import { connectPath, startTarget, type Target } from '../lib/targets.js';
import { hsSigner, newSecret, signTokens } from '../lib/tokens.js';
import type { Scenario } from './scenario.js';
import { errorDetail } from '@events-proxy/runtime';

export const PROTOCOLS = ['v1', 'v2', 'mixed'] as const;
export type Protocol = (typeof PROTOCOLS)[number];

export interface DeliveryCostParams {
  /** Clients per variant (mixed: half v1, half v2). */
  readonly clients: number;
  /** Messages per second (deliveries per second: × clients). */
  readonly rate: number;
  /** Measured seconds of publishing per variant. */
  readonly seconds: number;
  /** Unmeasured seconds of the same load first (JIT, socket buffers). */
  readonly warmupSeconds: number;
  readonly payloadBytes: number;
  /** Clients per C client process. */
  readonly clientsPerShard: number;
  /** Which protocols and auth modes to run (default: all six combinations). */
  readonly protocols?: readonly Protocol[];
  readonly auth?: readonly boolean[];
}

export interface CostVariant {
  readonly key: string;
  /** `v1, auth off` … as the figures name it; `reference (v1)` for the baseline. */
  readonly label: string;
  readonly protocol: Protocol;
  readonly auth: boolean;
}

export interface VariantMeasure {
  readonly variant: CostVariant;
  readonly target: 'edge' | 'reference';
  readonly v1Clients: number;
  readonly v2Clients: number;
  /** Messages published in the measured window, and the deliveries they made. */
  readonly messages: number;
  readonly deliveries: number;
  readonly publishedRate: number;
  /** Deliveries received per second while the measured messages were being published. */
  readonly deliveriesPerSecond: number;
  /** CPU seconds of the serving process (edge0 or the broadcaster) over the window, every thread. */
  readonly serverCpuSeconds: number;
  readonly cpuUsPerDelivery: number;
  /** Cores used over the window, per process (serving side, Redis, RabbitMQ, harness, clients). */
  readonly cpu: Record<string, number>;
  readonly latency: LatencySummary;
  readonly delivery: DeliveryCheck;
  /** v2 clients: ids that were not cursors, and cursors not after the previous id (both must be 0). */
  readonly badIds: number;
  readonly cursorRegressions: number;
}

export type VariantOutcome =
  | { readonly ok: true; readonly value: VariantMeasure }
  | { readonly ok: false; readonly variant: CostVariant; readonly error: string };

export interface DeliveryCostMeasure {
  readonly reference: VariantOutcome | undefined;
  readonly variants: readonly VariantOutcome[];
}

export function costVariants(p: DeliveryCostParams): CostVariant[] {
  const out: CostVariant[] = [];
  for (const auth of p.auth ?? [false, true])
    for (const protocol of p.protocols ?? PROTOCOLS)
      out.push({
        key: `${protocol}-auth-${auth ? 'on' : 'off'}`,
        label: `${protocol}, auth ${auth ? 'on' : 'off'}`,
        protocol,
        auth,
      });
  return out;
}

const REFERENCE_VARIANT: CostVariant = {
  key: 'reference',
  label: 'reference (v1)',
  protocol: 'v1',
  auth: false,
};

/** `after − before` of two cumulative histograms of the same client (max: after's). */
function histogramSince(after: HistogramJson, before: HistogramJson): HistogramJson {
  const earlier = new Map(before.buckets.map(([low, , count]) => [low, count]));
  const buckets = after.buckets
    .map(([low, high, count]) => [low, high, count - (earlier.get(low) ?? 0)] as const)
    .filter((b) => b[2] > 0);
  return { n: after.n - before.n, sum: after.sum - before.sum, max: after.max, buckets };
}

interface Groups {
  readonly all: readonly ClientGroup[];
  readonly v1: ClientGroup | undefined;
  readonly v2: ClientGroup | undefined;
}

async function reportAll(groups: Groups): Promise<ClientReport> {
  return mergeReports(await Promise.all(groups.all.map((g) => g.report())));
}

/** Polls every group until they have received `total` messages together (or stall); see waitDelivered. */
async function waitAll(
  groups: Groups,
  counts: readonly number[],
  perClient: number,
): Promise<ClientReport[]> {
  return Promise.all(groups.all.map((g, i) => waitDelivered(g, counts[i]! * perClient, 60_000)));
}

async function measureVariant(
  ctx: BenchContext,
  p: DeliveryCostParams,
  kind: 'edge' | 'reference',
  variant: CostVariant,
  exchange: string,
  auth: { secret: string; pathFiles: Record<1 | 2, string> },
): Promise<VariantMeasure> {
  const pattern = 'bench.cost.#';
  const env: Record<string, string> =
    kind === 'reference'
      ? {}
      : variant.auth
        ? { AUTH_MODE: 'jwt', AUTH_JWT_SECRET: auth.secret }
        : { AUTH_MODE: 'none' };
  const target: Target = await startTarget(ctx, kind, {
    label: `delivery-cost-${variant.key}`,
    edges: 1,
    env: { ...env, MAX_CONNECTIONS: String(Math.max(20_000, p.clients + 100)) },
  });
  const v2Clients =
    variant.protocol === 'v2' ? p.clients : variant.protocol === 'mixed' ? Math.floor(p.clients / 2) : 0;
  const v1Clients = p.clients - v2Clients;
  const binding = [{ exchange, routingKeyPattern: pattern }];
  const start = (version: 1 | 2, conns: number, indexOffset: number): ClientGroup =>
    ClientGroup.start({
      ports: target.ports,
      path: connectPath(binding, version),
      ...(variant.auth ? { pathsFile: auth.pathFiles[version] } : {}),
      conns,
      indexOffset,
      perShard: p.clientsPerShard,
      maxPending: 500,
      // v2: the resume mode checks every id (it reconnects only if a stream ends, which fails the check).
      ...(version === 2 ? { resume: true, reconnectPorts: target.ports } : {}),
    });
  const v1 = v1Clients > 0 ? start(1, v1Clients, 0) : undefined;
  const v2 = v2Clients > 0 ? start(2, v2Clients, v1Clients) : undefined;
  const groups: Groups = { all: [v1, v2].filter((g): g is ClientGroup => g !== undefined), v1, v2 };
  const counts = [v1 ? v1Clients : undefined, v2 ? v2Clients : undefined].filter(
    (n): n is number => n !== undefined,
  );
  const sink = await target.sink(exchange, [pattern]);
  try {
    const settled = mergeReports(await Promise.all(groups.all.map((g) => g.settled(180_000))));
    if (settled.ready !== p.clients) {
      throw new Error(`${settled.ready} of ${p.clients} clients got ready (${settled.firstError})`);
    }
    const source = new SequencedSource(['bench.cost.k'], p.payloadBytes);
    await publishPaced(sink, source, p.rate, p.rate * p.warmupSeconds);
    await waitAll(groups, counts, source.count);
    const before = await reportAll(groups);
    const server = kind === 'edge' ? 'edge0' : 'broadcaster';
    const clientPids = Object.fromEntries(
      groups.all.flatMap((g, gi) => Object.entries(g.pids).map(([n, pid]) => [`g${gi}-${n}`, pid])),
    );
    const meter = new CpuMeter({ ...target.pids, ...ctx.infraPids, ...clientPids }, { precise: true });
    const publish = await publishPaced(sink, source, p.rate, p.rate * p.seconds);
    const published = await reportAll(groups);
    const finals = await waitAll(groups, counts, source.count);
    const serverCpuSeconds = meter.seconds(server);
    const cpu = meter.read();
    const after = mergeReports(finals);
    const messages = publish.sent;
    const deliveries = after.messages - before.messages;
    // `before` restarted the interval figures: the report at the end of publishing spans it.
    const deliveriesPerSecond = published.intervalMessages / (published.intervalMs / 1000);
    const delivery = groups.all
      .map((g, i) => checkDelivery(finals[i]!, counts[i]!, source.count))
      .reduce((a, b) => ({
        exact: a.exact && b.exact,
        clients: a.clients + b.clients,
        expectedPerClient: a.expectedPerClient,
        received: a.received + b.received,
        problems: [...a.problems, ...b.problems],
      }));
    const v2Final = v2 ? finals[groups.all.indexOf(v2)] : undefined;
    const problems = [...delivery.problems];
    if (v2Final && (v2Final.badIds > 0 || v2Final.cursorRegressions > 0))
      problems.push(`v2: ${v2Final.badIds} bad ids, ${v2Final.cursorRegressions} cursor regressions`);
    // Each v2 stream starts with a `retry:` field (v1 streams have none): the v2 routes answered.
    if (v2Final && v2Final.retryFields < v2Clients)
      problems.push(`v2: ${v2Final.retryFields} retry fields for ${v2Clients} streams`);
    if (v2Final && v2Final.reconnects > 0) problems.push(`v2: ${v2Final.reconnects} reconnects`);
    const m: VariantMeasure = {
      variant,
      target: kind,
      v1Clients,
      v2Clients,
      messages,
      deliveries,
      publishedRate: round(publish.rate, 1),
      deliveriesPerSecond: Math.round(deliveriesPerSecond),
      serverCpuSeconds: round(serverCpuSeconds, 3),
      cpuUsPerDelivery: round((serverCpuSeconds * 1e6) / Math.max(1, deliveries), 3),
      cpu,
      latency: summarize(histogramSince(after.latencyUs, before.latencyUs)),
      delivery: { ...delivery, exact: problems.length === 0, problems },
      badIds: v2Final?.badIds ?? 0,
      cursorRegressions: v2Final?.cursorRegressions ?? 0,
    };
    ctx.log(
      `    ${variant.label} [${kind}]: ${m.cpuUsPerDelivery} µs CPU per delivery (${m.serverCpuSeconds} s for ` +
        `${deliveries} deliveries), ${m.deliveriesPerSecond} deliveries/s, p50 ${m.latency.p50Ms} ms, ` +
        `p99 ${m.latency.p99Ms} ms${m.delivery.exact ? '' : `; NOT exact: ${problems.join('; ')}`}`,
    );
    return m;
  } finally {
    await sink.close();
    await Promise.all(groups.all.map((g) => g.finish()));
    await target.stop().catch((err: unknown) => ctx.log(`  stopping ${variant.key} failed: ${String(err)}`));
  }
}

export async function measureDeliveryCost(
  ctx: BenchContext,
  p: DeliveryCostParams,
): Promise<DeliveryCostMeasure> {
  const exchange = await ctx.topicExchange('cost');
  const variants = costVariants(p);
  // Tokens for every client, signed before any clock starts (one a client: a distinct `sub` each).
  const secret = newSecret();
  const pathFiles = { 1: '', 2: '' } as Record<1 | 2, string>;
  if (variants.some((v) => v.auth)) {
    const tokens = await signTokens(hsSigner(secret), [exchange], p.clients, 'cost-');
    for (const version of [1, 2] as const) {
      const base = connectPath([{ exchange, routingKeyPattern: 'bench.cost.#' }], version);
      const file = path.join(ctx.runDir, `delivery-cost-v${version}-paths.txt`);
      fs.writeFileSync(file, tokens.map((t) => `${base}&access_token=${t}`).join('\n') + '\n');
      pathFiles[version] = file;
    }
  }
  const run = async (kind: 'edge' | 'reference', v: CostVariant): Promise<VariantOutcome> => {
    ctx.log(`  delivery-cost → ${v.label} [${kind}]`);
    try {
      return { ok: true, value: await measureVariant(ctx, p, kind, v, exchange, { secret, pathFiles }) };
    } catch (err) {
      const error = errorDetail(err);
      ctx.log(`  delivery-cost → ${v.label} [${kind}] failed: ${error}`);
      return { ok: false, variant: v, error };
    }
  };
  try {
    const reference = ctx.options.targets.includes('reference')
      ? await run('reference', REFERENCE_VARIANT)
      : undefined;
    const out: VariantOutcome[] = [];
    for (const v of variants) out.push(await run('edge', v));
    return { reference, variants: out };
  } finally {
    await ctx.deleteExchange(exchange);
  }
}

export function deliveryCostFigures(m: DeliveryCostMeasure): {
  figures: Figure[];
  checks: Check[];
  error: string | undefined;
} {
  const ref = m.reference?.ok ? m.reference.value : undefined;
  const figures: Figure[] = [];
  const checks: Check[] = [];
  const errors: string[] = [];
  const rows = (label: string, e: VariantMeasure | undefined) => [
    figure(`µs edge CPU per delivery, ${label}`, 'µs', {
      edge: e?.cpuUsPerDelivery,
      reference: ref?.cpuUsPerDelivery,
    }),
    figure(`deliveries/s, ${label}`, '/s', {
      edge: e?.deliveriesPerSecond,
      reference: ref?.deliveriesPerSecond,
    }),
    figure(`p50 latency, ${label}`, 'ms', { edge: e?.latency.p50Ms, reference: ref?.latency.p50Ms }),
    figure(`p99 latency, ${label}`, 'ms', { edge: e?.latency.p99Ms, reference: ref?.latency.p99Ms }),
  ];
  for (const o of m.variants) {
    const v = o.ok ? o.value.variant : o.variant;
    figures.push(...rows(v.label, o.ok ? o.value : undefined));
    if (!o.ok) errors.push(`${v.label}: ${o.error}`);
    else
      checks.push({
        name: `exact delivery, ${v.label}`,
        target: 'edge',
        ok: o.value.delivery.exact,
        detail: o.value.delivery.problems.join('; '),
      });
  }
  if (m.reference) {
    if (!m.reference.ok) errors.push(`reference: ${m.reference.error}`);
    else
      checks.push({
        name: 'exact delivery, v1',
        target: 'reference',
        ok: m.reference.value.delivery.exact,
        detail: m.reference.value.delivery.problems.join('; '),
      });
  }
  return { figures, checks, error: errors.length > 0 ? errors.join('\n') : undefined };
}

export const deliveryCostScenario: Scenario<DeliveryCostParams> = {
  name: 'delivery-cost',
  title: 'Delivery cost: edge CPU per delivery at a fixed rate, v1 / v2 / mixed clients, auth off and on',
  params: (quick) =>
    quick
      ? {
          clients: 200,
          rate: 20,
          seconds: 2,
          warmupSeconds: 1,
          payloadBytes: DEFAULT_PAYLOAD_BYTES,
          clientsPerShard: 100,
        }
      : {
          clients: 5000,
          rate: 40,
          seconds: 10,
          warmupSeconds: 3,
          payloadBytes: DEFAULT_PAYLOAD_BYTES,
          clientsPerShard: 2500,
        },
  async run(ctx, p): Promise<ScenarioResult> {
    const m = await measureDeliveryCost(ctx, p);
    const { figures, checks, error } = deliveryCostFigures(m);
    return {
      scenario: this.name,
      title: this.title,
      params: { ...p, deliveriesPerSecond: p.clients * p.rate },
      figures,
      checks,
      details: { reference: m.reference, variants: m.variants },
      notes: [
        `edge CPU: the edge process's every thread from the first measured publish until the last delivery, ` +
          `÷ deliveries; the reference column: the reference broadcaster with v1 clients at the same load` +
          `${m.reference ? '' : ' (not in this run: --targets without reference)'}`,
        'auth on: AUTH_MODE=jwt (HS256), each client its own token in access_token; v2 ids checked by the client',
      ],
      ...(error !== undefined ? { error } : {}),
    };
  },
};
