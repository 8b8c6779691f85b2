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

/** The ready edges' mean and least, from the others' reports and this edge's own count as it is now. */
export function tierView(self: EdgeLoad, reports: readonly EdgeLoad[]): TierView {
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
  return { edges, mean: streams / edges, least };
}

/**
 * Streams within this many of the mean always count as balanced: with few streams per edge a
 * fraction of the mean is less than one stream, and single connects and leaves would move streams.
 */
export const MIN_SLACK_STREAMS = 2;

const slackOf = (mean: number, tolerance: number) => Math.max(mean * tolerance, MIN_SLACK_STREAMS);

/**
 * Whether the tier's total streams held steady over the last looks: changed by no more than the
 * tolerance's share of the mean. While clients are arriving or leaving in numbers (a ramp-up, an
 * edge draining), each edge's own count is fresher than the others' reports (up to a second old),
 * so every edge would see itself above the mean: nothing starts moving then.
 */
export function steady(totals: readonly number[], mean: number, tolerance: number): boolean {
  if (totals.length === 0) return false;
  return Math.max(...totals) - Math.min(...totals) <= slackOf(mean, tolerance);
}

/**
 * Whether this edge should start moving streams: it holds more than the mean by more than
 * `tolerance` of it, or, being above the mean, another edge holds less than the mean by more than
 * that (the newest edge after a scale-up, which only the edges above the mean can fill). A tier
 * whose edges are all within the tolerance moves nothing.
 */
export function unbalanced(self: EdgeLoad, view: TierView, tolerance: number): boolean {
  if (tolerance <= 0 || !self.ready || view.edges < 2) return false;
  const total = self.v1 + self.v2;
  const slack = slackOf(view.mean, tolerance);
  return total > Math.ceil(view.mean) && (total > view.mean + slack || view.least < view.mean - slack);
}

/**
 * Whether a move under way can stop: nothing is unbalanced within half the tolerance. Starting at
 * the tolerance and stopping inside half of it leaves a margin, so a client or two arriving or
 * leaving right after does not start another move.
 */
export function settled(self: EdgeLoad, view: TierView, tolerance: number): boolean {
  return !unbalanced(self, view, tolerance / 2);
}

/** The v2 streams to end to come down to `mean`, never below it (only v2 streams can move). */
export function excessOver(self: EdgeLoad, mean: number): number {
  return Math.max(0, Math.min(self.v1 + self.v2 - Math.ceil(mean), self.v2));
}
