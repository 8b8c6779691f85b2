/**
 * Scenario 9, auth-connect: what access control (DESIGN.md §3c, `AUTH_MODE=jwt`) costs a connect.
 * Our product is started two or three times in the same run, the same settings except auth: one
 * installation with `AUTH_MODE=none`, one with `AUTH_MODE=jwt` and `AUTH_JWT_SECRET` (HS256), and
 * (unless `jwks: false`) one with `AUTH_MODE=jwt` and `AUTH_JWT_PUBLIC_KEYS_FILE` holding an RS256
 * and an ES256 key. Each variant (off, HS256, RS256, ES256) gets bursts of N clients connecting as
 * fast as they are accepted (the connect scenario's pending window), each client with its own
 * valid token (signed before the clock starts, a distinct `sub` each) in the `access_token` query
 * key, to a binding a holder client keeps live. Measured per variant: connects per second to
 * `ready`, the time-to-ready distribution, the edges' CPU per connect, and refusals (must be 0);
 * reported as auth-on ÷ auth-off. The bursts are interleaved (off, HS256, RS256, ES256, then the
 * reverse order, …) so that a drift in what else the machine runs weighs on every variant alike.
 * Verification alone (jose, called as the edge calls it) is measured in this process beforehand,
 * to tell how much of the difference is the signature check and how much the rest of the path.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { BenchContext } from '../lib/context.js';
import { readGauge, readSum } from '../lib/edge-metrics.js';
import {
  median,
  mergeHistograms,
  summarize,
  type HistogramJson,
  type LatencySummary,
} from '../lib/histogram.js';
import { listenOverflows } from '../lib/listen-drops.js';
import { sleep } from '../lib/load.js';
import { CpuMeter, round } from '../lib/proc-stats.js';
import { figure, type Check, type Figure, type ScenarioResult } from '../lib/results.js';
import { ClientGroup, mergeReports } from '../lib/sse-clients.js';
import { connectPath, startTarget, type Target } from '../lib/targets.js';
import {
  hsSigner,
  keyPairSigner,
  measureVerifyCost,
  newSecret,
  signTokens,
  writeJwks,
  type TokenSigner,
  type VerifyCost,
} from '../lib/tokens.js';
import type { Scenario } from './scenario.js';

/**
 * The verification pass that matches the edge: its key ring imports the HS256 secret into WebCrypto
 * once (services/edge/src/auth/key-ring.ts); jose caches the CryptoKey of a public KeyObject itself.
 */
function asTheEdgeHoldsIt(cost: VerifyCost) {
  return cost.hs256 ? cost.cryptoKeyConcurrent : cost.concurrent;
}

export interface AuthConnectParams {
  /** Clients per burst. */
  readonly clients: number;
  /** Connections in flight (not yet `ready`) at most, per client process (the connect burst's window). */
  readonly pending: number;
  /** Measured bursts per variant, interleaved across the variants. */
  readonly rounds: number;
  /**
   * Clients of one unmeasured burst per variant first (0: none; by default as many as a burst), so
   * every edge has been JIT-compiled and has grown its heap for a burst before the measured ones.
   */
  readonly warmUpClients: number;
  /** Also the JWKS installation: RS256 and ES256 tokens. */
  readonly jwks: boolean;
  /** Edge processes per installation (the clients are spread over them). */
  readonly edges: number;
  /** Tokens per algorithm for the in-process measurement of verification alone (0: skip it). */
  readonly verifySamples: number;
}

export const AUTH_VARIANTS = ['off', 'hs256', 'rs256', 'es256'] as const;
export type AuthVariant = (typeof AUTH_VARIANTS)[number];

const LABEL: Record<AuthVariant, string> = {
  off: 'auth off',
  hs256: 'HS256',
  rs256: 'RS256',
  es256: 'ES256',
};

/** Which installation serves a variant. */
const INSTALLATION: Record<AuthVariant, InstallationName> = {
  off: 'none',
  hs256: 'hs256',
  rs256: 'jwks',
  es256: 'jwks',
};

export type InstallationName = 'none' | 'hs256' | 'jwks';

interface Installation {
  readonly name: InstallationName;
  readonly env: Record<string, string>;
  readonly target: Target;
  readonly holder: ClientGroup;
}

export interface BurstMeasure {
  readonly variant: AuthVariant;
  /** 0 for a warm-up burst, else 1..rounds. */
  readonly round: number;
  readonly clients: number;
  readonly ready: number;
  /** Clients that did not get `ready` (refused, failed or closed before it). */
  readonly notReady: number;
  readonly errorEvents: number;
  readonly httpBad: number;
  readonly connectFailed: number;
  /** The edges' own count of refused connects meanwhile (events_edge_connections_rejected_total). */
  readonly serverRejected: number;
  /** The edges' events_edge_auth_refusals_total meanwhile. */
  readonly authRefusals: number;
  /** From the client processes' start until the last `ready` (their clock). */
  readonly seconds: number;
  /** That window on CLOCK_MONOTONIC (ns), the clock V8 stamps profile samples with (`--profile`). */
  readonly windowNs: readonly [number, number];
  readonly connectsPerSecond: number;
  readonly readyTime: LatencySummary;
  readonly readyUs: HistogramJson;
  /** CPU the installation's edges used in the burst (every thread), per client that got `ready` (µs). */
  readonly edgeCpuUsPerConnect: number;
  /** The part of it on the edges' main threads (the event loop; the rest: libuv pool, GC, V8 helpers). */
  readonly edgeMainThreadUsPerConnect: number;
  /** Cores used meanwhile by each process (the installation's, Redis, RabbitMQ, the harness), and the machine. */
  readonly cpu: Record<string, number>;
  /** Cores used meanwhile by the client processes. */
  readonly clientCores: number;
  readonly listenOverflows: number | undefined;
  readonly firstError: string;
}

export interface VariantSummary {
  readonly variant: AuthVariant;
  readonly label: string;
  readonly installation: InstallationName;
  /** Measured bursts (warm-up not included). */
  readonly bursts: number;
  readonly clients: number;
  readonly ready: number;
  /** Over every burst of the variant, the warm-up included: clients that did not get `ready`. */
  readonly notReady: number;
  /** Over every burst of the variant, the warm-up included: the edges' refused connects. */
  readonly serverRejected: number;
  readonly authRefusals: number;
  /** The median over the measured bursts. */
  readonly connectsPerSecond: number;
  readonly connectsPerSecondByRound: readonly number[];
  /** Every measured connect of the variant. */
  readonly readyTime: LatencySummary;
  /** The edges' CPU over the measured bursts ÷ their connects. */
  readonly edgeCpuUsPerConnect: number;
  readonly edgeCpuUsPerConnectByRound: readonly number[];
  /** The part of it on the edges' main threads. */
  readonly edgeMainThreadUsPerConnect: number;
  /** Mean token and request-target length (bytes). */
  readonly tokenBytes: number;
  readonly urlBytes: number;
  /** Verification alone in the harness (jose as the edge calls it), when measured. */
  readonly verify?: VerifyCost;
}

export interface AuthConnectMeasure {
  readonly params: AuthConnectParams;
  readonly variants: readonly VariantSummary[];
  readonly bursts: readonly BurstMeasure[];
  readonly warmUp: readonly BurstMeasure[];
  /** Seconds it took to sign each variant's tokens (before any clock started). */
  readonly signingSeconds: Partial<Record<AuthVariant, number>>;
  /** Per AUTH_MODE=jwt installation: whether a connect without a token was refused, and its error. */
  readonly enforced: Partial<Record<InstallationName, { readonly refused: boolean; readonly error: string }>>;
}

/** The edges' counters that tell a refused connect, summed over an installation's edges. */
async function serverCounters(target: Target): Promise<{ rejected: number; auth: number }> {
  const ports = target.edgeMetricsPorts ?? [];
  const rejected = await Promise.all(ports.map((p) => readSum(p, 'events_edge_connections_rejected_total')));
  const auth = await Promise.all(ports.map((p) => readSum(p, 'events_edge_auth_refusals_total')));
  const sum = (l: number[]) => l.reduce((a, b) => a + b, 0);
  return { rejected: sum(rejected), auth: sum(auth) };
}

/** CPU seconds the main thread (the event loop) of `pid` has run; its tid is the pid. */
function mainThreadSeconds(pid: number): number {
  try {
    return Number(fs.readFileSync(`/proc/${pid}/task/${pid}/schedstat`, 'latin1').split(' ', 1)[0]) / 1e9;
  } catch {
    return NaN;
  }
}

/** Waits until the installation's edges hold only the holder's connection again. */
async function waitIdle(target: Target, timeoutMs = 60_000): Promise<void> {
  const ports = target.edgeMetricsPorts ?? [];
  const deadline = Date.now() + timeoutMs;
  let open: (number | undefined)[] = [];
  while (Date.now() < deadline) {
    open = await Promise.all(ports.map((p) => readGauge(p, 'events_edge_connections')));
    if (open.reduce<number>((a, b) => a + (b ?? 0), 0) === 1) return;
    await sleep(100);
  }
  throw new Error(`the edges still hold ${open.join(', ')} connections ${timeoutMs} ms after a burst`);
}

interface BurstInput {
  readonly variant: AuthVariant;
  readonly round: number;
  readonly installation: Installation;
  /** The request target, or a file of one per client (each with its own token). */
  readonly path: string;
  readonly pathsFile?: string;
  readonly clients: number;
  readonly pending: number;
}

async function burst(ctx: BenchContext, b: BurstInput): Promise<BurstMeasure> {
  const { target } = b.installation;
  const edgeNames = Object.keys(target.pids).filter((n) => n.startsWith('edge'));
  await sleep(300); // the previous burst's client processes are gone, its closes handled
  const before = await serverCounters(target);
  const overflows = listenOverflows();
  const edgePids = edgeNames.map((n) => target.pids[n]!);
  const mainBefore = edgePids.map(mainThreadSeconds);
  const meter = new CpuMeter({ ...target.pids, ...ctx.infraPids }, { precise: true });
  // One client process per edge (each at most 9,500), so N edges share the burst evenly.
  const group = ClientGroup.start({
    ports: target.ports,
    path: b.path,
    ...(b.pathsFile ? { pathsFile: b.pathsFile } : {}),
    conns: b.clients,
    maxPending: b.pending,
    perShard: Math.ceil(b.clients / target.ports.length),
  });
  const clientMeter = new CpuMeter(group.pids, { precise: true });
  let reports;
  let cpu: Record<string, number>;
  let edgeSeconds: number;
  let edgeMainSeconds: number;
  let clientCores: number;
  try {
    reports = await Promise.all(group.shards.map((s) => s.settled(300_000)));
    edgeSeconds = edgeNames.reduce((sum, n) => sum + meter.seconds(n), 0);
    edgeMainSeconds = edgePids.reduce((sum, pid, i) => sum + mainThreadSeconds(pid) - mainBefore[i]!, 0);
    cpu = meter.read();
    clientCores = clientMeter.read().total ?? 0;
  } finally {
    await group.finish();
  }
  const overflowsAfter = listenOverflows();
  const after = await serverCounters(target);
  await waitIdle(target);
  const r = mergeReports(reports);
  const startNs = Math.min(...reports.map((s) => s.nowNs - s.elapsedMs * 1e6));
  const seconds = r.lastReadyNs > startNs ? (r.lastReadyNs - startNs) / 1e9 : NaN;
  return {
    variant: b.variant,
    round: b.round,
    clients: b.clients,
    ready: r.ready,
    notReady: b.clients - r.ready,
    errorEvents: r.errorEvents,
    httpBad: r.httpBad,
    connectFailed: r.connectFailed,
    serverRejected: after.rejected - before.rejected,
    authRefusals: after.auth - before.auth,
    seconds: round(seconds, 3),
    windowNs: [Math.round(startNs), r.lastReadyNs],
    connectsPerSecond: Math.round(r.ready / seconds),
    readyTime: summarize(r.readyUs),
    readyUs: r.readyUs,
    edgeCpuUsPerConnect: Math.round((edgeSeconds * 1e6) / Math.max(1, r.ready)),
    edgeMainThreadUsPerConnect: Math.round((edgeMainSeconds * 1e6) / Math.max(1, r.ready)),
    cpu,
    clientCores: round(clientCores, 3),
    listenOverflows:
      overflows === undefined || overflowsAfter === undefined ? undefined : overflowsAfter - overflows,
    firstError: r.firstError,
  };
}

/** Writes one request target per client, each with its token; returns the file and the mean length. */
function writePaths(
  file: string,
  base: string,
  tokens: readonly string[],
): { file: string; urlBytes: number } {
  const lines = tokens.map((t) => `${base}&access_token=${t}`);
  fs.writeFileSync(file, lines.join('\n') + '\n');
  return { file, urlBytes: Math.round(lines.reduce((s, l) => s + l.length, 0) / lines.length) };
}

export async function measureAuthConnect(
  ctx: BenchContext,
  p: AuthConnectParams,
): Promise<AuthConnectMeasure> {
  const variants: AuthVariant[] = p.jwks ? [...AUTH_VARIANTS] : ['off', 'hs256'];
  const exchange = await ctx.topicExchange('auth');
  const base = connectPath([{ exchange, routingKeyPattern: 'bench.auth.#' }]);
  const grants = [exchange];

  const secret = newSecret();
  const signers: Partial<Record<AuthVariant, TokenSigner>> = { hs256: hsSigner(secret) };
  if (p.jwks) {
    signers.rs256 = await keyPairSigner('RS256', `bench-rs-${ctx.runId}`);
    signers.es256 = await keyPairSigner('ES256', `bench-es-${ctx.runId}`);
  }
  const jwksFile = p.jwks
    ? writeJwks(path.join(ctx.runDir, 'auth-jwks.json'), [signers.rs256!, signers.es256!])
    : undefined;

  // Every token is signed before any clock starts.
  const paths: Partial<Record<AuthVariant, { file: string; urlBytes: number; tokenBytes: number }>> = {};
  const tokens: Partial<Record<AuthVariant, string[]>> = {};
  const signingSeconds: Partial<Record<AuthVariant, number>> = {};
  for (const v of variants) {
    const signer = signers[v];
    if (!signer) continue;
    const started = performance.now();
    const list = await signTokens(signer, grants, p.clients);
    signingSeconds[v] = round((performance.now() - started) / 1000, 2);
    tokens[v] = list;
    const written = writePaths(path.join(ctx.runDir, `auth-${v}-paths.txt`), base, list);
    paths[v] = { ...written, tokenBytes: Math.round(list.reduce((s, t) => s + t.length, 0) / list.length) };
    ctx.log(
      `    ${p.clients} ${LABEL[v]} tokens signed in ${signingSeconds[v]} s (${paths[v].tokenBytes} bytes)`,
    );
  }
  const verify: Partial<Record<AuthVariant, VerifyCost>> = {};
  if (p.verifySamples > 0) {
    for (const v of variants) {
      const signer = signers[v];
      if (!signer) continue;
      verify[v] = await measureVerifyCost(signer, tokens[v]!.slice(0, p.verifySamples));
      const c = asTheEdgeHoldsIt(verify[v]);
      ctx.log(
        `    ${LABEL[v]} verification alone, ${verify[v].concurrency} in flight: ${c.cpuUs} µs CPU per token ` +
          `(${c.mainThreadUs} µs on the main thread)`,
      );
    }
  }

  const holderPath = async (name: InstallationName): Promise<string> => {
    const signer = name === 'hs256' ? signers.hs256 : name === 'jwks' ? signers.es256 : undefined;
    if (!signer) return base;
    const [token] = await signTokens(signer, grants, 1, 'holder-');
    return `${base}&access_token=${token}`;
  };
  const envs: Record<InstallationName, Record<string, string>> = {
    none: { AUTH_MODE: 'none' },
    hs256: { AUTH_MODE: 'jwt', AUTH_JWT_SECRET: secret },
    jwks: { AUTH_MODE: 'jwt', AUTH_JWT_PUBLIC_KEYS_FILE: jwksFile ?? '' },
  };
  const needed = [...new Set(variants.map((v) => INSTALLATION[v]))];
  const installations = new Map<InstallationName, Installation>();
  const started: Target[] = [];
  const holders: ClientGroup[] = [];
  try {
    for (const name of needed) {
      ctx.log(
        `    starting the ${name === 'none' ? 'AUTH_MODE=none' : `AUTH_MODE=jwt (${name})`} installation`,
      );
      const target = await startTarget(ctx, 'edge', {
        label: `auth-${name}`,
        edges: p.edges,
        env: envs[name],
      });
      started.push(target);
      const holder = ClientGroup.start({ ports: [target.ports[0]!], path: await holderPath(name), conns: 1 });
      holders.push(holder);
      const held = await holder.settled(30_000);
      if (held.ready !== 1)
        throw new Error(`the ${name} holder client did not get ready: ${held.firstError}`);
      installations.set(name, { name, env: envs[name], target, holder });
    }

    const input = (v: AuthVariant, round: number, clients: number): BurstInput => ({
      variant: v,
      round,
      installation: installations.get(INSTALLATION[v])!,
      path: base,
      ...(paths[v] ? { pathsFile: paths[v].file } : {}),
      clients,
      pending: p.pending,
    });
    const warmUp: BurstMeasure[] = [];
    if (p.warmUpClients > 0) {
      for (const v of variants) {
        const m = await burst(ctx, input(v, 0, Math.min(p.warmUpClients, p.clients)));
        ctx.log(`    warm-up ${LABEL[v]}: ${m.ready} of ${m.clients} ready, ${m.connectsPerSecond}/s`);
        warmUp.push(m);
      }
    }
    const bursts: BurstMeasure[] = [];
    for (let r = 1; r <= p.rounds; r++) {
      const order = r % 2 === 1 ? variants : [...variants].reverse();
      for (const v of order) {
        const m = await burst(ctx, input(v, r, p.clients));
        ctx.log(
          `    round ${r} ${LABEL[v]}: ${m.ready} of ${m.clients} ready, ${m.connectsPerSecond}/s, ` +
            `p99 ${m.readyTime.p99Ms} ms, edge ${m.edgeCpuUsPerConnect} µs/connect`,
        );
        bursts.push(m);
      }
    }

    // A connect without a token must be refused where AUTH_MODE=jwt: the bursts measured auth on.
    const enforced: AuthConnectMeasure['enforced'] = {};
    for (const inst of installations.values()) {
      if (inst.name === 'none') continue;
      const before = await serverCounters(inst.target);
      const probe = ClientGroup.start({ ports: [inst.target.ports[0]!], path: base, conns: 1 });
      const r = await probe.settled(30_000).finally(() => probe.finish());
      const after = await serverCounters(inst.target);
      enforced[inst.name] = {
        refused: r.ready === 0 && r.errorEvents === 1 && after.auth - before.auth === 1,
        error: r.firstError,
      };
    }

    const summaries = variants.map((v): VariantSummary => {
      const mine = bursts.filter((b) => b.variant === v);
      const all = [...warmUp.filter((b) => b.variant === v), ...mine];
      const ready = mine.reduce((s, b) => s + b.ready, 0);
      const cpuUs = mine.reduce((s, b) => s + b.edgeCpuUsPerConnect * b.ready, 0);
      const mainUs = mine.reduce((s, b) => s + b.edgeMainThreadUsPerConnect * b.ready, 0);
      return {
        variant: v,
        label: LABEL[v],
        installation: INSTALLATION[v],
        bursts: mine.length,
        clients: mine.reduce((s, b) => s + b.clients, 0),
        ready,
        notReady: all.reduce((s, b) => s + b.notReady, 0),
        serverRejected: all.reduce((s, b) => s + b.serverRejected, 0),
        authRefusals: all.reduce((s, b) => s + b.authRefusals, 0),
        connectsPerSecond: Math.round(median(mine.map((b) => b.connectsPerSecond)) ?? 0),
        connectsPerSecondByRound: mine.map((b) => b.connectsPerSecond),
        readyTime: summarize(mergeHistograms(mine.map((b) => b.readyUs))),
        edgeCpuUsPerConnect: Math.round(cpuUs / Math.max(1, ready)),
        edgeCpuUsPerConnectByRound: mine.map((b) => b.edgeCpuUsPerConnect),
        edgeMainThreadUsPerConnect: Math.round(mainUs / Math.max(1, ready)),
        tokenBytes: paths[v]?.tokenBytes ?? 0,
        urlBytes: paths[v]?.urlBytes ?? base.length,
        ...(verify[v] ? { verify: verify[v] } : {}),
      };
    });
    return { params: p, variants: summaries, bursts, warmUp, signingSeconds, enforced };
  } finally {
    for (const h of holders) await h.finish().catch(() => undefined);
    for (const t of started)
      await t.stop().catch((err: unknown) => ctx.log(`  stopping failed: ${String(err)}`));
    await ctx.deleteExchange(exchange);
  }
}

/** The table's figures and checks for one measurement. */
export function authConnectFigures(m: AuthConnectMeasure): { figures: Figure[]; checks: Check[] } {
  const off = m.variants.find((v) => v.variant === 'off');
  const figures: Figure[] = [];
  for (const v of m.variants) {
    figures.push(
      figure(`${v.label}: connects/s to ready (median of ${v.bursts})`, '/s', { edge: v.connectsPerSecond }),
    );
    if (v.variant !== 'off' && off) {
      figures.push(
        figure(`${v.label} ÷ auth off: connects/s`, '×', {
          edge: round(v.connectsPerSecond / off.connectsPerSecond, 2),
        }),
      );
    }
    figures.push(figure(`${v.label}: ready p50`, 'ms', { edge: v.readyTime.p50Ms }));
    figures.push(figure(`${v.label}: ready p99`, 'ms', { edge: v.readyTime.p99Ms }));
    figures.push(figure(`${v.label}: edge CPU per connect`, 'µs', { edge: v.edgeCpuUsPerConnect }));
    figures.push(
      figure(`${v.label}: of which the edge's main thread`, 'µs', { edge: v.edgeMainThreadUsPerConnect }),
    );
    if (v.variant !== 'off' && off) {
      figures.push(
        figure(`${v.label} − auth off: edge CPU per connect`, 'µs', {
          edge: v.edgeCpuUsPerConnect - off.edgeCpuUsPerConnect,
        }),
        figure(`${v.label} − auth off: edge main thread per connect`, 'µs', {
          edge: v.edgeMainThreadUsPerConnect - off.edgeMainThreadUsPerConnect,
        }),
      );
    }
    if (v.verify) {
      const c = asTheEdgeHoldsIt(v.verify);
      figures.push(
        figure(`${v.label}: verification alone (jose), CPU per token`, 'µs', { edge: c.cpuUs }),
        figure(`${v.label}: verification alone, main thread per token`, 'µs', { edge: c.mainThreadUs }),
      );
    }
  }
  const checks: Check[] = m.variants.map((v) => ({
    name: `${v.label}: every client ready, none refused`,
    target: 'edge',
    ok: v.notReady === 0 && v.serverRejected === 0 && v.authRefusals === 0,
    detail:
      `${v.notReady} not ready, ${v.serverRejected} refused by the edges (${v.authRefusals} for the token)` +
      (m.bursts.find((b) => b.variant === v.variant && b.firstError)
        ? `: ${m.bursts.find((b) => b.variant === v.variant && b.firstError)!.firstError}`
        : ''),
  }));
  for (const [name, e] of Object.entries(m.enforced)) {
    checks.push({
      name: `the ${name} installation refuses a connect without a token`,
      target: 'edge',
      ok: e.refused,
      detail: e.error || 'no error event',
    });
  }
  return { figures, checks };
}

export const authConnectScenario: Scenario<AuthConnectParams> = {
  name: 'auth-connect',
  title: 'Auth connect: connects/s to ready with AUTH_MODE=jwt (HS256, RS256, ES256) against AUTH_MODE=none',
  params: (quick) =>
    quick
      ? {
          clients: 500,
          pending: 100,
          rounds: 1,
          warmUpClients: 500,
          jwks: true,
          edges: 1,
          verifySamples: 200,
        }
      : {
          clients: 5000,
          pending: 200,
          rounds: 3,
          warmUpClients: 5000,
          jwks: true,
          edges: 1,
          verifySamples: 2000,
        },
  async run(ctx, p): Promise<ScenarioResult> {
    const o = ctx.options;
    const params: AuthConnectParams = {
      ...p,
      edges: o.edges,
      ...(o.clients !== undefined ? { clients: o.clients, warmUpClients: o.clients } : {}),
    };
    const m = await measureAuthConnect(ctx, params);
    const { figures, checks } = authConnectFigures(m);
    const notes = [
      `${params.rounds} burst(s) of ${params.clients} per variant, interleaved; connects/s is their median, ` +
        `p50/p99 over all their connects, CPU their total ÷ connects; the edge system only`,
      `tokens in the access_token query key: ${m.variants
        .filter((v) => v.tokenBytes > 0)
        .map((v) => `${v.label} ${v.tokenBytes} bytes`)
        .join(', ')}; request targets ${m.variants.map((v) => v.urlBytes).join(' / ')} bytes`,
    ];
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
