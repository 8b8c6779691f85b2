/**
 * The systems every scenario runs against: the real services (one ingest and N edges, started
 * from their built dist/), and in place of the edges the Node reference broadcaster
 * (`reference`) or the C one (`c-reference`). All get their messages the same way, published to
 * RabbitMQ and routed to Redis by a real ingest (for the references, a BindingHolder takes the
 * leases an edge would), so the figures differ only by what serves the clients. All expose ports
 * for the clients and pids for the figures.
 */
import fs from 'node:fs';
import path from 'node:path';
import { spawnChild, type Child } from './children.js';
import type { BenchContext, TargetKind } from './context.js';
import { BindingHolder } from './binding-holder.js';
import { AmqpSink, type MessageSink } from './publishers.js';
import { BENCH_DIR, ROOT, SERVICES_ROOT } from './paths.js';
import { transpileEntry } from './transpile.js';
import { sleep } from './load.js';
import { freePort } from './free-port.js';
import { compileCBroadcaster } from './c-broadcaster.js';

export interface Target {
  readonly kind: TargetKind;
  /** Ports the clients connect to (one per edge process). */
  readonly ports: readonly number[];
  /** The processes that serve clients (edges, or the broadcaster). */
  readonly servers: readonly Child[];
  /** Every process of this target by name, for CPU figures (ingest, edge0…, broadcaster). */
  readonly pids: Record<string, number>;
  /** The ingest process feeding the servers. */
  readonly ingest?: Child;
  readonly ingestMetricsPort?: number;
  /** The metrics port of each edge process, in the order of `ports` (edge system only). */
  readonly edgeMetricsPorts?: readonly number[];
  readonly queue?: string;
  /** The environment the services were started with (edge system only), to start more. */
  readonly serviceEnv?: NodeJS.ProcessEnv;
  readonly keyPrefix: string;
  /** A sink publishing into this target for clients bound to `patterns` on `exchange`. */
  sink(exchange: string, patterns: readonly string[]): Promise<MessageSink>;
  /** Stops the processes (profiles, when enabled, are written on this graceful stop). */
  stop(): Promise<void>;
}

export interface TargetOptions {
  /** Extra environment for the services (e.g. BINDING_LEASE_SECONDS). */
  readonly env?: Record<string, string>;
  readonly edges?: number;
  /** Label for log files and profile directories. */
  readonly label: string;
  /** The services' Redis, when not the run's (ctx.options.redisUrl). Edge system only. */
  readonly redisUrl?: string;
}

/** Polls an HTTP URL until it answers 200; fails early if `child` exits. */
async function waitHttpOk(url: string, child: Child, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!child.isRunning()) throw new Error(`${child.name} exited before it was ready (see its log)`);
    try {
      if ((await fetch(url)).status === 200) return;
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  throw new Error(`${child.name} did not answer 200 on ${url} within ${timeoutMs} ms`);
}

export function startTarget(ctx: BenchContext, kind: TargetKind, opts: TargetOptions): Promise<Target> {
  return kind === 'edge' ? startEdgeSystem(ctx, opts) : startReference(ctx, kind, opts);
}

export type ServiceRole = 'ingest' | 'edge';

export interface ServiceProcess {
  readonly child: Child;
  readonly port: number;
  readonly metricsPort: number;
}

/**
 * Starts one service process from its dist/ on free ports (or on `ports`, taken ahead, e.g. for a
 * load balancer that already follows it); resolves once /readyz answers 200.
 */
export async function startService(
  ctx: BenchContext,
  role: ServiceRole,
  name: string,
  env: NodeJS.ProcessEnv,
  label: string,
  ports?: { readonly port: number; readonly metricsPort: number },
): Promise<ServiceProcess> {
  const port = ports?.port ?? (await freePort());
  const metricsPort = ports?.metricsPort ?? (await freePort());
  const child = spawnChild(
    name,
    process.execPath,
    nodeArgs(ctx, `${label}-${name}`, path.join(SERVICES_ROOT, 'services', role, 'dist', 'main.js')),
    {
      cwd: SERVICES_ROOT,
      env: { ...env, PORT: String(port), METRICS_PORT: String(metricsPort) },
      logFile: path.join(ctx.runDir, `${label}-${name}.log`),
    },
  );
  await waitHttpOk(`http://127.0.0.1:${metricsPort}/readyz`, child);
  return { child, port, metricsPort };
}

function nodeArgs(ctx: BenchContext, label: string, entry: string): string[] {
  if (!ctx.options.profile) return [entry];
  const dir = path.join(ctx.runDir, 'profiles', label);
  fs.mkdirSync(dir, { recursive: true });
  return ['--cpu-prof', `--cpu-prof-dir=${dir}`, entry];
}

function requireBuild(): void {
  for (const role of ['ingest', 'edge']) {
    if (!fs.existsSync(path.join(SERVICES_ROOT, 'services', role, 'dist', 'main.js'))) {
      throw new Error(`services/${role}/dist/main.js is missing: run \`npm run build\` first`);
    }
  }
}

/** The environment of one installation of the services (its own key prefix and queue). */
export function servicesEnv(
  ctx: BenchContext,
  opts: TargetOptions,
  keyPrefix: string,
  queue: string,
): NodeJS.ProcessEnv {
  return {
    ...process.env,
    AMQP_URL: ctx.options.amqpUrl,
    REDIS_URL: opts.redisUrl ?? ctx.options.redisUrl,
    KEY_PREFIX: keyPrefix,
    AMQP_QUEUE: queue,
    ALLOWED_EXCHANGE_PREFIXES: 'exchange/bench/',
    MAX_CONNECTIONS: '20000',
    LOG_LEVEL: 'warn',
    ...opts.env,
  };
}

async function startEdgeSystem(ctx: BenchContext, opts: TargetOptions): Promise<Target> {
  requireBuild();
  const keyPrefix = ctx.keyPrefix();
  const queue = ctx.queueName();
  const baseEnv = servicesEnv(ctx, opts, keyPrefix, queue);
  const start = (role: ServiceRole, name: string) => startService(ctx, role, name, baseEnv, opts.label);
  const ingest = await start('ingest', 'ingest');
  const edges = await Promise.all(
    Array.from({ length: opts.edges ?? ctx.options.edges }, (_, i) => start('edge', `edge${i}`)),
  );
  const pids: Record<string, number> = { ingest: ingest.child.pid };
  edges.forEach((e, i) => (pids[`edge${i}`] = e.child.pid));
  return {
    kind: 'edge',
    ports: edges.map((e) => e.port),
    servers: edges.map((e) => e.child),
    pids,
    ingest: ingest.child,
    ingestMetricsPort: ingest.metricsPort,
    edgeMetricsPorts: edges.map((e) => e.metricsPort),
    queue,
    serviceEnv: baseEnv,
    keyPrefix,
    sink: (exchange) => AmqpSink.open(ctx.options.amqpUrl, exchange),
    stop: async () => {
      await Promise.all(edges.map((e) => e.child.stop()));
      await ingest.child.stop();
      await ctx.deleteQueue(queue);
    },
  };
}

/**
 * The broadcaster's design switches (see its header), from BENCH_REFERENCE_WRITE_MODE and
 * BENCH_REFERENCE_ROUTER: for A/B runs that measure what one design choice costs.
 */
export function referenceVariant(): { WRITE_MODE: string; ROUTER: string } {
  return {
    WRITE_MODE: process.env.BENCH_REFERENCE_WRITE_MODE ?? 'socket-corked',
    ROUTER: process.env.BENCH_REFERENCE_ROUTER ?? 'http',
  };
}

/**
 * Starts a reference broadcaster (Node, or C: bench/reference/broadcaster.{ts,c}) on a free port,
 * subscribed under `env.KEY_PREFIX` on `env.REDIS_URL`; resolves once it answers /ping. It holds no
 * bindings: something else must (an edge of the same installation, or a BindingHolder).
 */
export async function startBroadcaster(
  ctx: BenchContext,
  kind: Exclude<TargetKind, 'edge'>,
  label: string,
  env: Record<string, string>,
  name = 'broadcaster',
): Promise<{ readonly child: Child; readonly port: number }> {
  const port = await freePort();
  const [command, args] =
    kind === 'c-reference'
      ? [compileCBroadcaster(), []]
      : [
          process.execPath,
          nodeArgs(
            ctx,
            `${label}-${name}`,
            transpileEntry(path.join(BENCH_DIR, 'reference', 'broadcaster.ts')),
          ),
        ];
  const child = spawnChild(name, command, args, {
    cwd: ROOT,
    env: {
      ...process.env,
      ...env,
      ...(kind === 'reference' ? referenceVariant() : {}),
      PORT: String(port),
    },
    logFile: path.join(ctx.runDir, `${label}-${name}.log`),
  });
  await waitHttpOk(`http://127.0.0.1:${port}/ping`, child);
  return { child, port };
}

/** A reference broadcaster fed by a real ingest of its own (a BindingHolder takes the edges' leases). */
async function startReference(
  ctx: BenchContext,
  kind: Exclude<TargetKind, 'edge'>,
  opts: TargetOptions,
): Promise<Target> {
  requireBuild();
  const keyPrefix = ctx.keyPrefix();
  const queue = ctx.queueName();
  const env = servicesEnv(ctx, opts, keyPrefix, queue);
  const leaseMs = Number(env.BINDING_LEASE_SECONDS ?? 60) * 1000;
  const ingest = await startService(ctx, 'ingest', 'ingest', env, opts.label);
  const { child, port } = await startBroadcaster(ctx, kind, opts.label, {
    ...opts.env,
    REDIS_URL: ctx.options.redisUrl,
    KEY_PREFIX: keyPrefix,
  });
  return {
    kind,
    ports: [port],
    servers: [child],
    pids: { ingest: ingest.child.pid, broadcaster: child.pid },
    ingest: ingest.child,
    ingestMetricsPort: ingest.metricsPort,
    queue,
    keyPrefix,
    sink: async (exchange, patterns) => {
      const holder = BindingHolder.open(ctx.options.redisUrl, keyPrefix, leaseMs);
      await holder.hold(patterns.map((routingKeyPattern) => ({ exchange, routingKeyPattern })));
      const amqp = await AmqpSink.open(ctx.options.amqpUrl, exchange);
      return {
        send: (messages) => amqp.send(messages),
        close: async () => {
          await amqp.close();
          await holder.close();
        },
      };
    },
    stop: async () => {
      await child.stop();
      await ingest.child.stop();
      await ctx.deleteQueue(queue);
    },
  };
}

/**
 * The connect path for one binding list (URL-encoded; `__I__` survives encoding for per-client keys),
 * on the v1 routes or the resumable v2 ones.
 */
export function connectPath(
  bindings: readonly { exchange: string; routingKeyPattern: string }[],
  version: 1 | 2 = 1,
): string {
  return `/api/events/v${version}/connect/?bindings=${encodeURIComponent(JSON.stringify({ bindings }))}`;
}
