/**
 * Where an auth-on connect spends the edge's main thread, from `npm run bench -- auth-connect
 * --profile`: for each variant, the samples of its installation's edge0 profile inside that
 * variant's measured bursts (their windows on CLOCK_MONOTONIC, the clock V8 stamps samples with),
 * per connect: the busy time, the time inclusive of a few areas (jose, WebCrypto's JavaScript side,
 * the edge's auth code, node:http, GC), and the functions whose self time differs most from the
 * auth-off edge's. A profile holds the main thread only: WebCrypto's jobs on the libuv pool are not
 * in it (the scenario's CPU figures count every thread).
 *
 *   node --import tsx bench/tools/auth-profile.ts <run dir>/profiles-auth-connect <bench/results/….json> [rows]
 *
 * The variants are different processes: differences of a few tens of µs per connect in code they
 * share (node:http, the connect handler) are that noise, not auth.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { CpuProfile } from '../lib/cpu-profile.js';

interface Burst {
  readonly variant: string;
  readonly round: number;
  readonly ready: number;
  readonly windowNs?: readonly [number, number];
}

const [profilesDir, recordFile, rowsArg] = process.argv.slice(2);
if (!profilesDir || !recordFile) {
  console.error('usage: auth-profile.ts <run dir>/profiles-auth-connect <bench/results/….json> [rows]');
  process.exit(2);
}
const record = JSON.parse(fs.readFileSync(recordFile, 'utf8')) as {
  scenarios: { scenario: string; details: { edge?: { bursts: readonly Burst[] } } }[];
};
const bursts = record.scenarios.find((s) => s.scenario === 'auth-connect')?.details.edge?.bursts;
if (!bursts?.every((b) => b.windowNs)) {
  console.error(`${recordFile} has no auth-connect bursts with windows`);
  process.exit(2);
}
const INSTALLATION: Record<string, string> = { off: 'none', hs256: 'hs256', rs256: 'jwks', es256: 'jwks' };

const AREAS: readonly (readonly [string, (url: string, fn: string) => boolean])[] = [
  ['jose (inclusive)', (url) => url.includes('/jose/')],
  ['  of it: node:internal/crypto', (url) => url.startsWith('node:internal/crypto')],
  ['edge auth/ and admission.js', (url) => /services\/edge\/dist\/(auth\/|admission\.js)/.test(url)],
  ['node:_http_* (server, parser)', (url) => /^node:_http_(server|common|incoming|outgoing)/.test(url)],
  ['(garbage collector)', (_url, fn) => fn === '(garbage collector)'],
];

function loadProfile(dir: string): CpuProfile {
  const file = fs.readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
  if (!file) throw new Error(`no .cpuprofile in ${dir}`);
  return JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8')) as CpuProfile;
}

interface Cut {
  readonly connects: number;
  readonly busyUs: number;
  readonly areas: Map<string, number>;
  readonly self: Map<string, number>;
}

function cut(profile: CpuProfile, windows: readonly (readonly [number, number])[], connects: number): Cut {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const areasOf = new Map<number, ReadonlySet<string>>();
  const areasOfNode = (id: number): ReadonlySet<string> => {
    const known = areasOf.get(id);
    if (known) return known;
    const up = parent.get(id);
    const set = new Set(up === undefined ? [] : areasOfNode(up));
    const { url, functionName } = byId.get(id)!.callFrame;
    for (const [area, match] of AREAS) if (match(url, functionName)) set.add(area);
    areasOf.set(id, set);
    return set;
  };
  const areas = new Map<string, number>();
  const self = new Map<string, number>();
  let busyUs = 0;
  let t = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i]!;
    const weight = profile.timeDeltas[i + 1] ?? 0;
    const id = profile.samples[i]!;
    const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
    if (functionName === '(idle)' || !windows.some(([a, b]) => t * 1000 >= a && t * 1000 <= b)) continue;
    busyUs += weight;
    for (const area of areasOfNode(id)) areas.set(area, (areas.get(area) ?? 0) + weight);
    const where = url.replace(/.*\/(services|node_modules)\//, '$1/');
    const name = `${functionName || '(anonymous)'} ${where}${where ? `:${lineNumber + 1}` : ''}`;
    self.set(name, (self.get(name) ?? 0) + weight);
  }
  return { connects, busyUs, areas, self };
}

const cuts = new Map<string, Cut>();
for (const variant of ['off', 'hs256', 'rs256', 'es256']) {
  const mine = bursts.filter((b) => b.variant === variant && b.round > 0);
  if (mine.length === 0) continue;
  const dir = path.join(profilesDir, `auth-${INSTALLATION[variant]}-edge0`);
  const connects = mine.reduce((s, b) => s + b.ready, 0);
  cuts.set(
    variant,
    cut(
      loadProfile(dir),
      mine.map((b) => b.windowNs!),
      connects,
    ),
  );
}
const per = (us: number, c: Cut) => (us / c.connects).toFixed(1).padStart(7);
console.log(`µs per connect, main thread     ${[...cuts.keys()].map((v) => v.padStart(7)).join('')}`);
console.log(`busy                            ${[...cuts.values()].map((c) => per(c.busyUs, c)).join('')}`);
for (const [area] of AREAS) {
  console.log(`${area.padEnd(32)}${[...cuts.values()].map((c) => per(c.areas.get(area) ?? 0, c)).join('')}`);
}
const off = cuts.get('off');
if (off) {
  for (const [variant, c] of cuts) {
    if (variant === 'off') continue;
    console.log(`\n${variant} − off, self µs per connect, largest differences:`);
    const names = new Set([...c.self.keys(), ...off.self.keys()]);
    const rows = [...names]
      .map((n) => [n, (c.self.get(n) ?? 0) / c.connects - (off.self.get(n) ?? 0) / off.connects] as const)
      .sort((a, b) => Math.abs(b[1]) - Math.abs(a[1]))
      .slice(0, Number(rowsArg ?? 15));
    for (const [n, d] of rows) console.log(`  ${d.toFixed(1).padStart(7)}  ${n}`);
  }
}
