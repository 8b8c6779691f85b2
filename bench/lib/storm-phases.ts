/**
 * The reconnect storm's phases, measured alike: a phase's window, rate, per-connection ready time,
 * CPU and accept-queue drops; the storm's progress; the delivery check once publishing stopped.
 */
import { summarize, type LatencySummary } from './histogram.js';
import { sleep } from './load.js';
import { listenOverflows } from './listen-drops.js';
import { CpuMeter, round } from './proc-stats.js';
import type { ClientGroup, ClientReport } from './sse-clients.js';

export interface StormPhase {
  readonly clients: number;
  readonly ready: number;
  /** From the first connection (the storm: the first stream end) until the last client was ready. */
  readonly seconds: number;
  readonly connectionsPerSecond: number;
  /** Per connection, request to `ready`. */
  readonly readyTime: LatencySummary;
  /** The phase's window on CLOCK_MONOTONIC (ns), as the seconds count it: to cut CPU profiles by. */
  readonly windowNs: readonly [number, number];
  readonly cpu: Record<string, number>;
  /**
   * CPU time the surviving edges spent in the phase, per client (µs): less sensitive to other
   * tenants of the machine than the wall-clock rate. Includes delivering the messages meanwhile.
   */
  readonly survivorCpuUsPerConnection: number;
  /** Connections the kernel dropped meanwhile because an accept queue was full (machine-wide). */
  readonly listenOverflows: number | undefined;
  readonly firstError: string;
}

export interface StormDelivery {
  readonly rounds: number;
  readonly lostAfterReady: number;
  readonly problems: readonly string[];
}

export const nowNs = () => Number(process.hrtime.bigint());

/** CPU (and the survivors' CPU per connection) and accept-queue drops from now until read. */
export function phaseMeter(pids: Record<string, number>, survivors: readonly string[], clients: number) {
  const cpu = new CpuMeter(pids);
  const overflows = listenOverflows();
  return {
    read: () => {
      const now = listenOverflows();
      const seconds = survivors.reduce((sum, name) => sum + cpu.seconds(name), 0);
      return {
        cpu: cpu.read(),
        survivorCpuUsPerConnection: Math.round((seconds * 1e6) / clients),
        listenOverflows: now === undefined || overflows === undefined ? undefined : now - overflows,
      };
    },
  };
}

export function phaseOf(
  r: ClientReport,
  clients: number,
  fromNs: number,
  meter: {
    cpu: Record<string, number>;
    survivorCpuUsPerConnection: number;
    listenOverflows: number | undefined;
  },
): StormPhase {
  const seconds = r.lastReadyNs > fromNs ? (r.lastReadyNs - fromNs) / 1e9 : NaN;
  return {
    clients,
    ready: r.readyNow,
    seconds: round(seconds, 2),
    connectionsPerSecond: Math.round(clients / seconds),
    readyTime: summarize(r.readyUs),
    windowNs: [fromNs, r.lastReadyNs],
    ...meter,
    firstError: r.firstError,
  };
}

/** Waits until all `clients` are ready again, sampling how many are every 250 ms. */
export async function watchStorm(group: ClientGroup, clients: number, killNs: number, timeoutMs: number) {
  const timeline: [number, number][] = [];
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await group.report();
    timeline.push([round((r.nowNs - killNs) / 1e9, 2), r.readyNow]);
    if ((r.readyNow === clients && r.waitingReconnect === 0) || Date.now() > deadline) return { r, timeline };
    await sleep(250);
  }
}

/** After publishing stopped: every stream has every round since its (new) `ready`, once, in order. */
export async function checkStormDelivery(
  group: ClientGroup,
  clients: number,
  rounds: number,
): Promise<StormDelivery> {
  const deadline = Date.now() + 30_000;
  let r = await group.report();
  while ((r.nextSeqMin !== rounds || r.readyWithoutMessage > 0) && Date.now() < deadline) {
    await sleep(100);
    r = await group.report();
  }
  const problems: string[] = [];
  const expect = (ok: boolean, problem: string) => ok || problems.push(problem);
  expect(r.readyNow === clients, `${r.readyNow} of ${clients} streams open and ready at the end`);
  expect(
    r.lostAfterReady === 0,
    `${r.lostAfterReady} streams lost a message published after their new ready`,
  );
  expect(r.gaps === 0, `${r.gaps} gaps (${r.missing} messages skipped)`);
  expect(r.duplicates === 0, `${r.duplicates} duplicate or out-of-order messages`);
  expect(r.badFrames === 0, `${r.badFrames} frames that did not parse`);
  expect(r.readyWithoutMessage === 0, `${r.readyWithoutMessage} reconnected streams got no message at all`);
  expect(
    r.nextSeqMin === rounds && r.nextSeqMax === rounds,
    `per-stream last seq ${r.nextSeqMin}..${r.nextSeqMax}, expected ${rounds} rounds`,
  );
  return { rounds, lostAfterReady: r.lostAfterReady, problems };
}
