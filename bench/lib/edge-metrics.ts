/** Reads gauges and counters from a service's /metrics (Prometheus text), for waiting on conditions and figures. */
import { sleep } from './load.js';

export async function readGauge(metricsPort: number, name: string): Promise<number | undefined> {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
}

/**
 * The sum of every sample of `name` (a counter or gauge, any labels) whose labels include each of
 * `labels` (e.g. `result="gap"`); a `_sum` or `_count` of a histogram works as a name too. 0 when absent.
 */
export async function readSum(
  metricsPort: number,
  name: string,
  labels: readonly string[] = [],
): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== ' ' && rest[0] !== '{') continue;
    const labelText = rest[0] === '{' ? rest.slice(1, rest.indexOf('}')) : '';
    if (labels.every((l) => labelText.split(',').includes(l)))
      sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

/** Polls until every port's gauge equals `value`; throws with the last values after `timeoutMs`. */
export async function waitGauge(
  metricsPorts: readonly number[],
  name: string,
  value: number,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: (number | undefined)[] = [];
  while (Date.now() < deadline) {
    last = await Promise.all(metricsPorts.map((p) => readGauge(p, name)));
    if (last.every((v) => v === value)) return;
    await sleep(100);
  }
  throw new Error(`${name} did not reach ${value} within ${timeoutMs} ms (last: ${last.join(', ')})`);
}
