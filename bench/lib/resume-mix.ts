/**
 * The bindings of the rolling-restart clients, written as paths files for the C client (connection
 * i takes line i % 100), one for the v2 routes and one for v1, with the same bindings line for line.
 *
 * Each client watches one of `groups` group bindings (`bench.rr.g<n>.*`), and every other client a
 * second binding: half of those one that matches the same messages (`bench.rr.g<n>.#`, so a message
 * reaches the connection through two channels and must still arrive once, live and in a replay), half
 * a quiet one of its own line (nothing is published on it). Every client's stream therefore carries
 * exactly one routing key, `bench.rr.g<n>.k`, one message per publishing round, so after N rounds
 * every client has received seq 0..N-1 of its key.
 */
import fs from 'node:fs';
import path from 'node:path';
import { connectPath } from './targets.js';

const LINES = 100;

export interface ResumeMix {
  readonly v2PathsFile: string;
  readonly v1PathsFile: string;
  /** One routing key per group: a publishing round sends one message to each. */
  readonly keys: readonly string[];
  /** Distinct bindings the clients hold between them. */
  readonly distinctBindings: number;
  readonly description: string;
}

interface MixBinding {
  readonly exchange: string;
  readonly routingKeyPattern: string;
}

function lineBindings(exchange: string, line: number, groups: number): MixBinding[] {
  const b = (routingKeyPattern: string): MixBinding => ({ exchange, routingKeyPattern });
  const group = line % groups;
  const main = b(`bench.rr.g${group}.*`);
  if (line % 4 === 1) return [main, b(`bench.rr.g${group}.#`)];
  if (line % 4 === 3) return [main, b(`bench.rr.quiet.${line}`)];
  return [main];
}

/**
 * Writes both paths files into `dir` for clients on `exchange` over `groups` routing keys (1..100);
 * `label` keeps the files of two installations apart.
 */
export function writeResumeMix(exchange: string, groups: number, dir: string, label: string): ResumeMix {
  if (!Number.isInteger(groups) || groups < 1 || groups > LINES)
    throw new Error(`groups must be 1..${LINES}, not ${groups}`);
  const perLine = Array.from({ length: LINES }, (_, line) => lineBindings(exchange, line, groups));
  const write = (version: 1 | 2) => {
    const file = path.join(dir, `resume-mix-${label}-v${version}-${groups}.txt`);
    fs.writeFileSync(file, perLine.map((bindings) => connectPath(bindings, version)).join('\n') + '\n');
    return file;
  };
  const bindings = new Set(perLine.flat().map((b) => b.routingKeyPattern));
  return {
    v2PathsFile: write(2),
    v1PathsFile: write(1),
    keys: Array.from({ length: Math.min(groups, LINES) }, (_, g) => `bench.rr.g${g}.k`),
    distinctBindings: bindings.size,
    description:
      `each client on one of ${groups} group bindings; 25% also hold a second binding matching the ` +
      `same messages, 25% a quiet one`,
  };
}
