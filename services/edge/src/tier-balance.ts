import type { EdgeLoad } from '@events-proxy/cluster';

/** The tier as one edge sees it: its ready edges, their mean streams, and the least any holds. */
export interface TierView {
  /** Ready edges, this one included when it is ready. */
  readonly edges: number;
  /** Mean open streams per ready edge (0 when there is none). */
  readonly mean: number;
  /** The fewest streams a ready edge holds (the newest edge, after a scale-up). */
  readonly least: number;
}

/**
 * The ready edges' mean, from the reports of the others and this edge's own count as it is now.
 * `inFlight`: streams this edge ended lately to move them, whose clients are still reconnecting and
 * so counted nowhere yet (without them the mean would dip after each shed and the edge overshoot).
 */
export function tierView(self: EdgeLoad, reports: readonly EdgeLoad[], inFlight: number): TierView {
  let edges = 0;
  let streams = 0;
  let least = Infinity;
  const count = (l: EdgeLoad) => {
    const n = l.v1 + l.v2;
    edges++;
    streams += n;
    least = Math.min(least, n);
  };
  for (const r of reports) if (r.edge !== self.edge && r.ready) count(r);
  if (self.ready) count(self);
  if (edges === 0) return { edges: 0, mean: 0, least: 0 };
  return { edges, mean: (streams + inFlight) / edges, least };
}

/**
 * Streams within this many of the mean always count as balanced: with few streams per edge a
 * fraction of the mean is less than one stream, and single connects and leaves would move streams.
 */
export const MIN_SLACK_STREAMS = 2;

/**
 * How many streams this edge should shed now, and whether it is shedding. It starts when it holds
 * more than the mean by more than `tolerance` of it, or, being above the mean, when another edge
 * holds less than the mean by more than that (the newest edge after a scale-up, which only the
 * edges above the mean can fill). It then sheds back to the mean, never below it, so a tier whose
 * edges are all within the tolerance sheds nothing. Only v2 streams can move.
 */
export function streamsToShed(
  self: EdgeLoad,
  view: TierView,
  tolerance: number,
  wasShedding: boolean,
): { readonly shed: number; readonly shedding: boolean } {
  const total = self.v1 + self.v2;
  if (tolerance <= 0 || !self.ready || view.edges < 2) return { shed: 0, shedding: false };
  const target = Math.ceil(view.mean);
  const slack = Math.max(view.mean * tolerance, MIN_SLACK_STREAMS);
  const unbalanced = total > view.mean + slack || view.least < view.mean - slack;
  const shedding = total > target && (wasShedding || unbalanced);
  if (!shedding) return { shed: 0, shedding: false };
  return { shed: Math.min(total - target, self.v2), shedding: true };
}
