/**
 * `npm run bench [-- [scenario…] [--quick] [--targets edge,reference,c-reference] [--profile] [--edges N]
 *   [--clients N] [--v1-clients N] [--drain-seconds S] [--rate R] [--groups N]
 *   [--rebalance-tolerance T] [--rebalance-rate R] [--balance-timeout S] [--balancer P]]`
 * (reconnect-storm, rolling-restart, auth-connect, network-drops, scale-up and memory-fleet run the
 * edge system only, whatever --targets says)
 *
 * Runs the named scenarios (all by default) against the real services and the reference
 * broadcaster, prints a results table and writes bench/results/<timestamp>.json.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { guardChildren } from './lib/children.js';
import { BenchContext, TARGET_KINDS, type TargetKind } from './lib/context.js';
import { commitInfo, machineInfo } from './lib/machine.js';
import { formatProfiles, summarizeProfiles, type ProfileSummary } from './lib/cpu-profile.js';
import { formatTable, writeRecord, type ScenarioResult } from './lib/results.js';
import { ROOT, SERVICES_ROOT } from './lib/paths.js';
import { referenceVariant } from './lib/targets.js';
import { SCENARIOS } from './scenarios/index.js';
import { errorDetail } from '@events-proxy/runtime';
import { BALANCE_POLICIES } from '../test/support/tcp-balancer.js';

const USAGE = `usage: npm run bench -- [scenario…] [--quick] [--targets edge,reference,c-reference] [--profile] [--edges N]
scenarios: ${SCENARIOS.map((s) => s.name).join(', ')} (default: all)
  --quick     small loads and short steps (a CI smoke, about a minute)
  --targets   which systems to run (default: edge,reference,c-reference: the services, the Node
              and the C reference broadcasters)
  --profile   run edge and ingest with --cpu-prof; top self-time functions go into the record
  --edges N   edge processes in the edge system (default 1; reconnect-storm uses at least 2,
              rolling-restart 3 unless N > 1, memory-fleet 6 unless N > 1)
delivery-cost: CPU µs per delivery (user+sys) at a fixed rate, six edges (v1, v2 and mixed clients, auth
  off and AUTH_MODE=jwt) and the references (v1 clients) side by side on one ingest; --clients N per
  server (default 250, below saturation on 2 cores; quick 50), --rate R msg/s (default 40; quick 20); the median of 3 windows of
  20 s (quick 1 of 2 s); with --profile each edge writes its own profile (delivery-cost-<variant>)
memory-fleet: RSS per idle connection over several edges (--clients N, default 100000, quick 3000)
rolling-restart, auth-connect, network-drops and scale-up:
  --clients N         rolling-restart: v2 clients (default 10000; quick 200), the v1 group a tenth of it
                      unless --v1-clients; auth-connect: clients per burst (default 5000; quick 500);
                      network-drops: v2 clients (default 1000); scale-up: v2 clients (default 10000;
                      quick 300)
rolling-restart only:
  --v1-clients N      v1 clients on the same edges, for the latency comparison (default 1000; 0: none)
  --drain-seconds S   the edges' DRAIN_SECONDS (default 5; quick 1)
rolling-restart, network-drops and scale-up:
  --rate R            messages per second published throughout (default 100)
scale-up only:
  --balancer P        how the loopback balancers pick an edge: round-robin (default, as a Kubernetes
                      Service) or least-connections (as HAProxy leastconn or IPVS lc)
  --groups N          routing keys, one binding per client, round robin (default 50: 2 msg/s a client)
rolling-restart and scale-up:
  --rebalance-tolerance T  the edges' REBALANCE_TOLERANCE (default: the edges' own, 0.1; 0: off)
  --rebalance-rate R       the edges' REBALANCE_RATE_PER_SECOND (default: the edges' own, 50)
  --balance-timeout S      how long to wait for every edge within 10 % of the mean (scale-up: from
                           the third edge's start, default 300, quick 25; rolling-restart: after the
                           update, default 120 with rebalancing on, 15 with it off; quick 0:
                           the distribution right after the update only)`;

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      quick: { type: 'boolean', default: false },
      profile: { type: 'boolean', default: false },
      targets: { type: 'string', default: TARGET_KINDS.join(',') },
      edges: { type: 'string', default: '1' },
      clients: { type: 'string' },
      'v1-clients': { type: 'string' },
      'drain-seconds': { type: 'string' },
      rate: { type: 'string' },
      groups: { type: 'string' },
      'rebalance-tolerance': { type: 'string' },
      'rebalance-rate': { type: 'string' },
      'balance-timeout': { type: 'string' },
      balancer: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const unknown = positionals.filter((n) => !SCENARIOS.some((s) => s.name === n));
  const targets = values.targets.split(',').filter(Boolean) as TargetKind[];
  const edges = Number(values.edges);
  const optional = (v: string | undefined, integer: boolean, min: number) => {
    if (v === undefined) return { ok: true, value: undefined };
    const n = Number(v);
    return { ok: Number.isFinite(n) && n >= min && (!integer || Number.isInteger(n)), value: n };
  };
  const clients = optional(values.clients, true, 1);
  const v1Clients = optional(values['v1-clients'], true, 0);
  const drainSeconds = optional(values['drain-seconds'], false, 0);
  const rate = optional(values.rate, false, 0.1);
  const groups = optional(values.groups, true, 1);
  const rebalanceTolerance = optional(values['rebalance-tolerance'], false, 0);
  const rebalanceRate = optional(values['rebalance-rate'], true, 1);
  const balanceTimeout = optional(values['balance-timeout'], false, 1);
  const balancerPolicy = BALANCE_POLICIES.find((p) => p === values.balancer);
  if (
    unknown.length > 0 ||
    targets.some((t) => !TARGET_KINDS.includes(t)) ||
    !Number.isInteger(edges) ||
    edges < 1 ||
    (values.balancer !== undefined && balancerPolicy === undefined) ||
    ![
      clients,
      v1Clients,
      drainSeconds,
      rate,
      groups,
      rebalanceTolerance,
      rebalanceRate,
      balanceTimeout,
    ].every((o) => o.ok)
  ) {
    console.error(unknown.length > 0 ? `unknown scenario: ${unknown.join(', ')}\n${USAGE}` : USAGE);
    return 2;
  }
  const selected = positionals.length > 0 ? SCENARIOS.filter((s) => positionals.includes(s.name)) : SCENARIOS;

  guardChildren();
  if (SERVICES_ROOT !== ROOT) process.stderr.write(`services from ${SERVICES_ROOT} (BENCH_SERVICES_DIR)\n`);
  const startedAt = new Date().toISOString();
  const ctx = await BenchContext.create({
    quick: values.quick,
    profile: values.profile,
    edges,
    targets,
    ...(clients.value !== undefined ? { clients: clients.value } : {}),
    ...(v1Clients.value !== undefined ? { v1Clients: v1Clients.value } : {}),
    ...(drainSeconds.value !== undefined ? { drainSeconds: drainSeconds.value } : {}),
    ...(rate.value !== undefined ? { rate: rate.value } : {}),
    ...(groups.value !== undefined ? { groups: groups.value } : {}),
    ...(rebalanceTolerance.value !== undefined ? { rebalanceTolerance: rebalanceTolerance.value } : {}),
    ...(rebalanceRate.value !== undefined ? { rebalanceRate: rebalanceRate.value } : {}),
    ...(balanceTimeout.value !== undefined ? { balanceTimeout: balanceTimeout.value } : {}),
    ...(balancerPolicy !== undefined ? { balancerPolicy } : {}),
    amqpUrl: process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672',
    redisUrl: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    log: (line) => process.stderr.write(`${line}\n`),
  });
  const results: ScenarioResult[] = [];
  try {
    for (const scenario of selected) {
      ctx.log(`▶ ${scenario.name}: ${scenario.title}`);
      const started = Date.now();
      try {
        const result = await scenario.run(ctx, scenario.params(values.quick));
        const profiles = values.profile ? takeProfiles(ctx, scenario.name) : {};
        results.push(
          Object.keys(profiles).length > 0 ? { ...result, details: { ...result.details, profiles } } : result,
        );
        if (Object.keys(profiles).length > 0) ctx.log(formatProfiles(profiles));
      } catch (err) {
        const error = errorDetail(err);
        ctx.log(`  ${scenario.name} failed: ${error}`);
        results.push({
          scenario: scenario.name,
          title: scenario.title,
          params: {},
          figures: [],
          checks: [],
          details: {},
          error,
        });
      }
      ctx.log(`  ${scenario.name} took ${Math.round((Date.now() - started) / 1000)} s`);
    }
  } finally {
    await ctx.close();
  }

  const file = writeRecord({
    startedAt,
    finishedAt: new Date().toISOString(),
    command: `npm run bench -- ${process.argv.slice(2).join(' ')}`.trim(),
    quick: values.quick,
    reference: referenceVariant(),
    machine: machineInfo(),
    commit: commitInfo(),
    ...(SERVICES_ROOT !== ROOT
      ? { services: { dir: SERVICES_ROOT, commit: commitInfo(SERVICES_ROOT) } }
      : {}),
    scenarios: results,
  });
  console.log(formatTable(results));
  console.log(`\nrecord: ${file}`);
  const failed = results.some((r) => r.error || r.checks.some((c) => !c.ok));
  return failed ? 1 : 0;
}

/** Moves the profiles the scenario's processes wrote to profiles-<scenario>/ and summarises them. */
function takeProfiles(ctx: BenchContext, scenario: string): Record<string, ProfileSummary[]> {
  const fresh = path.join(ctx.runDir, 'profiles');
  if (!fs.existsSync(fresh)) return {};
  const kept = path.join(ctx.runDir, `profiles-${scenario}`);
  fs.renameSync(fresh, kept);
  return summarizeProfiles(kept);
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
