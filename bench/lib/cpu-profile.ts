/** Summaries of V8 CPU profiles (`node --cpu-prof`): the functions with the most self time. */
import fs from 'node:fs';
import path from 'node:path';
import { ROOT } from './paths.js';

/** A node of a V8 CPU profile's call tree. */
export interface ProfileNode {
  readonly id: number;
  readonly callFrame: {
    readonly functionName: string;
    readonly url: string;
    readonly lineNumber: number;
  };
  readonly hitCount?: number;
  readonly children?: readonly number[];
}

/** A `.cpuprofile` file: the call tree, and each sample's node and time since the one before (µs). */
export interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly startTime: number;
  readonly endTime: number;
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

export interface HotFunction {
  readonly function: string;
  /** `path:line`, relative to the repository when inside it. */
  readonly location: string;
  /** Share of the samples in which the process was not idle, percent. */
  readonly selfPercent: number;
  readonly selfMs: number;
}

export interface ProfileSummary {
  readonly file: string;
  readonly durationS: number;
  /** Share of the profile's wall time spent outside `(idle)`, percent. */
  readonly busyPercent: number;
  readonly top: readonly HotFunction[];
}

function location(url: string, line: number): string {
  if (url === '') return '';
  const file = url.startsWith('file://') ? new URL(url).pathname : url;
  const shown = file.startsWith(ROOT + '/') ? path.relative(ROOT, file) : file;
  return `${shown}:${line + 1}`;
}

export function summarizeProfile(file: string, top = 15): ProfileSummary {
  const profile = JSON.parse(fs.readFileSync(file, 'utf8')) as CpuProfile;
  const durationUs = profile.endTime - profile.startTime;
  const totalHits = profile.nodes.reduce((s, n) => s + (n.hitCount ?? 0), 0) || 1;
  const usPerHit = durationUs / totalHits;
  const byFunction = new Map<string, { fn: string; loc: string; hits: number }>();
  let idleHits = 0;
  for (const node of profile.nodes) {
    const hits = node.hitCount ?? 0;
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === '(idle)') {
      idleHits += hits;
      continue;
    }
    const fn = functionName || '(anonymous)';
    const loc = location(url, lineNumber);
    const key = `${fn}@${loc}`;
    const entry = byFunction.get(key);
    if (entry) entry.hits += hits;
    else byFunction.set(key, { fn, loc, hits });
  }
  const busyHits = totalHits - idleHits || 1;
  return {
    file: path.relative(ROOT, file),
    durationS: Math.round(durationUs / 1e5) / 10,
    busyPercent: Math.round((busyHits / totalHits) * 1000) / 10,
    top: [...byFunction.values()]
      .sort((a, b) => b.hits - a.hits)
      .slice(0, top)
      .map((e) => ({
        function: e.fn,
        location: e.loc,
        selfPercent: Math.round((e.hits / busyHits) * 1000) / 10,
        selfMs: Math.round(e.hits * usPerHit) / 1000,
      })),
  };
}

/** Summaries of every profile under `dir` (one subdirectory per process label). */
export function summarizeProfiles(dir: string): Record<string, ProfileSummary[]> {
  if (!fs.existsSync(dir)) return {};
  const out: Record<string, ProfileSummary[]> = {};
  for (const label of fs.readdirSync(dir).sort()) {
    const files = fs
      .readdirSync(path.join(dir, label))
      .filter((f) => f.endsWith('.cpuprofile'))
      .map((f) => summarizeProfile(path.join(dir, label, f)));
    if (files.length > 0) out[label] = files;
  }
  return out;
}

export function formatProfiles(profiles: Record<string, ProfileSummary[]>, top = 10): string {
  const lines: string[] = [];
  for (const [label, summaries] of Object.entries(profiles)) {
    for (const s of summaries) {
      lines.push(`\n${label}: ${s.durationS} s, ${s.busyPercent} % busy (${s.file})`);
      for (const f of s.top.slice(0, top)) {
        lines.push(`  ${String(f.selfPercent).padStart(5)} %  ${f.function}  ${f.location}`);
      }
    }
  }
  return lines.join('\n');
}
