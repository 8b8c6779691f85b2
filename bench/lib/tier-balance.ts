/**
 * How evenly the edge tier holds its streams (DESIGN.md §3e), as the benchmarks see it from outside:
 * each edge's `events_edge_connections`, polled until every edge is within a fraction of their mean
 * and no edge has ended a stream for rebalancing for a while.
 */
import { readSum } from './edge-metrics.js';
import { sleep } from './load.js';
import { round } from './proc-stats.js';

/** Every edge within `within` (a fraction) of the mean of the counts. */
export function isBalanced(counts: readonly number[], within: number): boolean {
  const mean = counts.reduce((s, c) => s + c, 0) / counts.length;
  return mean > 0 && counts.every((c) => Math.abs(c - mean) <= within * mean);
}

/** The largest distance of a count from their mean, as a percentage of the mean. */
export function largestDeviationPercent(counts: readonly number[]): number | undefined {
  if (counts.length === 0) return undefined;
  const mean = counts.reduce((s, c) => s + c, 0) / counts.length;
  if (mean === 0) return undefined;
  return round((Math.max(...counts.map((c) => Math.abs(c - mean))) / mean) * 100, 1);
}

/** Streams that must move for `counts` to reach their mean over `edges` edges: those above it. */
export function idealMoves(counts: readonly number[], edges: number): number {
  const mean = counts.reduce((s, c) => s + c, 0) / edges;
  return Math.round(counts.reduce((s, c) => s + Math.max(0, c - mean), 0));
}

export const readStreams = (metricsPort: number): Promise<number> =>
  readSum(metricsPort, 'events_edge_connections');

export const readRebalanceCloses = (metricsPort: number): Promise<number> =>
  readSum(metricsPort, 'events_edge_closes_total', ['reason="rebalance"']);

/** One poll: seconds since the watch began, then each edge's open streams (null: not watched yet). */
export type DistributionSample = readonly [seconds: number, ...streams: (number | null)[]];

export interface BalanceWatch {
  /** When a poll first found the tier balanced (hrtime ns), if one did. */
  readonly balancedNs: bigint | undefined;
  /** The last poll that saw a rebalance close appear (hrtime ns), if any did. */
  readonly lastCloseNs: bigint | undefined;
  /** When the watch ended (hrtime ns). */
  readonly endNs: bigint;
  readonly timedOut: boolean;
  /** Polls after the first balanced one that found the tier out of balance again. */
  readonly unbalancedAfter: number;
  readonly last: readonly number[];
  readonly timeline: readonly DistributionSample[];
}

/**
 * Polls the edges every `pollMs` until the tier is balanced (every edge within `within` of the
 * mean) and no rebalance close has appeared for `quietSeconds`, or until `timeoutNs`. `edges` is
 * asked at each poll (an edge still starting is left out: `complete` says whether all are in);
 * `slots` is how many edges the timeline has columns for. `onPoll` runs after each poll.
 */
export async function watchBalance(opts: {
  readonly edges: () => readonly number[];
  readonly complete: () => boolean;
  readonly slots: number;
  readonly within: number;
  readonly quietSeconds: number;
  readonly originNs: bigint;
  readonly timeoutNs: bigint;
  readonly pollMs: number;
  readonly onPoll?: (ns: bigint) => Promise<void> | void;
  readonly onBalanced?: (counts: readonly number[]) => void;
}): Promise<BalanceWatch> {
  const timeline: DistributionSample[] = [];
  let balancedNs: bigint | undefined;
  let lastCloseNs: bigint | undefined;
  let closesSeen = 0;
  let unbalancedAfter = 0;
  const quietNs = BigInt(Math.round(opts.quietSeconds * 1e9));
  for (;;) {
    const t = process.hrtime.bigint();
    const ports = opts.edges();
    const complete = opts.complete();
    const [counts, closes] = await Promise.all([
      Promise.all(ports.map(readStreams)),
      Promise.all(ports.map(readRebalanceCloses)),
    ]);
    const last = counts;
    timeline.push([
      round(Number(t - opts.originNs) / 1e9, 2),
      ...counts,
      ...Array.from({ length: Math.max(0, opts.slots - counts.length) }, () => null),
    ]);
    const closed = closes.reduce((s, c) => s + c, 0);
    if (closed > closesSeen) {
      closesSeen = closed;
      lastCloseNs = t;
    }
    const balanced = complete && isBalanced(counts, opts.within);
    if (balanced && balancedNs === undefined) {
      balancedNs = t;
      opts.onBalanced?.(counts);
    } else if (!balanced && balancedNs !== undefined) unbalancedAfter++;
    if (balanced && balancedNs !== undefined) {
      const since = lastCloseNs !== undefined && lastCloseNs > balancedNs ? lastCloseNs : balancedNs;
      if (t - since >= quietNs)
        return { balancedNs, lastCloseNs, endNs: t, timedOut: false, unbalancedAfter, last, timeline };
    }
    if (t >= opts.timeoutNs)
      return { balancedNs, lastCloseNs, endNs: t, timedOut: true, unbalancedAfter, last, timeline };
    await opts.onPoll?.(t);
    await sleep(opts.pollMs);
  }
}
