/**
 * A realistic mix of bindings for many clients, written as a paths file for the C client
 * (connection i takes line i % 100): most clients watch one popular binding, a good share one of a
 * few dozen group bindings, a few their very own binding, and one in ten holds two more bindings
 * on which nothing is published (a dashboard watching several exchanges' quiet corners).
 *
 * Every client's stream carries exactly one routing key, one message per publishing round, so
 * after N rounds every client that was ready throughout has received seq 0..N-1 of its key.
 */
import fs from 'node:fs';
import path from 'node:path';
import { connectPath } from './targets.js';

const LINES = 100;
/** Lines 0..HOT-1 watch the popular binding. */
const HOT = 60;
/** Lines HOT..UNIQUE_FROM-1 watch one of GROUPS group bindings. */
const GROUPS = 19;
/** Lines UNIQUE_FROM..99 each watch a binding of their own (`__I__` is the connection index). */
const UNIQUE_FROM = 98;

export interface BindingMix {
  readonly pathsFile: string;
  /** One routing key per distinct stream: a publishing round sends one message to each. */
  readonly keys: readonly string[];
  /** Distinct bindings the clients hold between them. */
  readonly distinctBindings: number;
  readonly description: string;
}

interface MixBinding {
  readonly exchange: string;
  readonly routingKeyPattern: string;
}

function lineBindings(exchange: string, line: number): MixBinding[] {
  const b = (routingKeyPattern: string): MixBinding => ({ exchange, routingKeyPattern });
  const main =
    line < HOT
      ? b('bench.storm.hot.#')
      : line < UNIQUE_FROM
        ? b(`bench.storm.g${(line - HOT) % GROUPS}.*`)
        : b('bench.storm.u.__I__');
  return line % 10 === 5 ? [main, b(`bench.storm.quiet.${line}.#`), b('bench.storm.quiet.all')] : [main];
}

/** The routing key that the stream of a connection with `main` as its first binding carries. */
function keyOf(main: MixBinding, index: number): string {
  return main.routingKeyPattern.replace('__I__', String(index)).replace(/\.[#*]$/, '.k');
}

/** Writes the paths file into `dir` for `conns` clients (indexes 0..conns-1) on `exchange`. */
export function writeBindingMix(exchange: string, conns: number, dir: string): BindingMix {
  const perLine = Array.from({ length: LINES }, (_, line) => lineBindings(exchange, line));
  const pathsFile = path.join(dir, `binding-mix-${conns}.txt`);
  fs.writeFileSync(pathsFile, perLine.map((bindings) => connectPath(bindings)).join('\n') + '\n');
  const keys = new Set<string>();
  const bindings = new Set<string>();
  for (let i = 0; i < conns; i++) {
    const line = perLine[i % LINES]!;
    keys.add(keyOf(line[0]!, i));
    for (const b of line) bindings.add(b.routingKeyPattern.replace('__I__', String(i)));
  }
  return {
    pathsFile,
    keys: [...keys],
    distinctBindings: bindings.size,
    description:
      `${HOT}% on one binding, ${UNIQUE_FROM - HOT}% over ${GROUPS} group bindings, ` +
      `${LINES - UNIQUE_FROM}% on a binding of their own; 10% hold two more quiet bindings`,
  };
}
