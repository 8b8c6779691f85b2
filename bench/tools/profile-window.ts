/**
 * Compares what a process did in two windows of one V8 CPU profile, per unit of work: e.g. the
 * surviving edge during the reconnect storm against the same edge during the fresh burst.
 * Inclusive time per function (µs per client), largest differences first.
 *
 *   node --import tsx bench/tools/profile-window.ts <edge.cpuprofile> <bench/results/….json> [rows]
 *
 * The record must come from `npm run bench -- reconnect-storm --profile`: its phases carry their
 * windows on CLOCK_MONOTONIC, the clock V8 stamps profile samples with.
 */
import fs from 'node:fs';
import type { CpuProfile } from '../lib/cpu-profile.js';

interface Phase {
  readonly clients: number;
  readonly windowNs: readonly [number, number];
}

const [profileFile, recordFile, rowsArg] = process.argv.slice(2);
if (!profileFile || !recordFile) {
  console.error('usage: profile-window.ts <edge.cpuprofile> <bench/results/….json> [rows]');
  process.exit(2);
}
const profile = JSON.parse(fs.readFileSync(profileFile, 'utf8')) as CpuProfile;
const record = JSON.parse(fs.readFileSync(recordFile, 'utf8')) as {
  scenarios: { scenario: string; details: { edge?: Record<string, Phase> } }[];
};
const found = record.scenarios.find((s) => s.scenario === 'reconnect-storm')?.details.edge;
if (!found?.storm?.windowNs || !found.burst?.windowNs) {
  console.error(`${recordFile} has no reconnect-storm phases with windows`);
  process.exit(2);
}
const phases = { storm: found.storm, burst: found.burst };

const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const nameOf = (id: number): string => {
  const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
  const where = url.replace(/.*\/(libs|services|node_modules)\//, '$1/').replace(/^node:/, '');
  return `${functionName || '(anonymous)'} ${where}:${lineNumber + 1}`;
};

/** Inclusive µs per function over the samples taken inside [fromNs, toNs], idle left out. */
function inclusive([fromNs, toNs]: readonly [number, number]): {
  busyUs: number;
  byName: Map<string, number>;
} {
  const byName = new Map<string, number>();
  let busyUs = 0;
  let t = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i]!;
    const weight = profile.timeDeltas[i + 1] ?? 0;
    const id = profile.samples[i]!;
    if (t * 1000 < fromNs || t * 1000 > toNs || byId.get(id)!.callFrame.functionName === '(idle)') continue;
    busyUs += weight;
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const name = nameOf(cur);
      if (seen.has(name)) continue; // recursion: count a function once per sample
      seen.add(name);
      byName.set(name, (byName.get(name) ?? 0) + weight);
    }
  }
  return { busyUs, byName };
}

const storm = inclusive(phases.storm.windowNs);
const burst = inclusive(phases.burst.windowNs);
const per = (us: number, phase: Phase) => us / phase.clients;
for (const [label, w, phase] of [
  ['storm', storm, phases.storm],
  ['burst', burst, phases.burst],
] as const) {
  const wall = (phase.windowNs[1] - phase.windowNs[0]) / 1e9;
  console.log(
    `${label}: ${wall.toFixed(2)} s, busy ${(w.busyUs / 1e6).toFixed(2)} s = ${per(w.busyUs, phase).toFixed(0)} µs per client`,
  );
}
const names = new Set([...storm.byName.keys(), ...burst.byName.keys()]);
const rows = [...names]
  .map((name) => ({
    name,
    storm: per(storm.byName.get(name) ?? 0, phases.storm),
    burst: per(burst.byName.get(name) ?? 0, phases.burst),
  }))
  .filter((r) => Math.max(r.storm, r.burst) >= 2)
  .sort((a, b) => Math.abs(b.storm - b.burst) - Math.abs(a.storm - a.burst))
  .slice(0, Number(rowsArg ?? 30));
console.log('µs per client, inclusive:  storm  burst   diff');
for (const r of rows) {
  const cells = [r.storm, r.burst, r.storm - r.burst].map((v) => v.toFixed(0).padStart(6)).join(' ');
  console.log(`                          ${cells}  ${r.name}`);
}
