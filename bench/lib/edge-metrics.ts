/** Reads one gauge from a service's /metrics (Prometheus text), for waiting on conditions. */
import { sleep } from './load.js';

export async function readGauge(metricsPort: number, name: string): Promise<number | undefined> {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
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
