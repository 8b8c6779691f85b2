/**
 * Latency histograms as the C client reports them: log-linear buckets in microseconds
 * (`[low, high, count]`, about 3 % wide), merged across client processes.
 */
export interface HistogramJson {
  readonly n: number;
  readonly max: number;
  readonly sum: number;
  readonly buckets: readonly (readonly [low: number, high: number, count: number])[];
}

export const EMPTY_HISTOGRAM: HistogramJson = { n: 0, max: 0, sum: 0, buckets: [] };

export function mergeHistograms(list: readonly HistogramJson[]): HistogramJson {
  const byLow = new Map<number, [number, number, number]>();
  let n = 0;
  let max = 0;
  let sum = 0;
  for (const h of list) {
    n += h.n;
    sum += h.sum;
    max = Math.max(max, h.max);
    for (const [low, high, count] of h.buckets) {
      const b = byLow.get(low);
      if (b) b[2] += count;
      else byLow.set(low, [low, high, count]);
    }
  }
  const buckets = [...byLow.values()].sort((a, b) => a[0] - b[0]);
  return { n, max, sum, buckets };
}

/**
 * The value at quantile `q` (0..1), in microseconds, interpolated inside its bucket and never
 * above the recorded maximum. Undefined for an empty histogram.
 */
export function quantile(h: HistogramJson, q: number): number | undefined {
  if (h.n === 0) return undefined;
  const rank = Math.max(1, Math.ceil(q * h.n));
  let seen = 0;
  for (const [low, high, count] of h.buckets) {
    if (seen + count >= rank) {
      const within = (rank - seen) / count;
      return Math.min(h.max, low + (high - low) * within);
    }
    seen += count;
  }
  return h.max;
}

/** p50, p99 and max in milliseconds (undefined when nothing was recorded). */
export interface LatencySummary {
  readonly count: number;
  readonly p50Ms: number | undefined;
  readonly p99Ms: number | undefined;
  readonly maxMs: number | undefined;
}

export function summarize(h: HistogramJson): LatencySummary {
  const ms = (us: number | undefined) => (us === undefined ? undefined : Math.round(us / 10) / 100);
  return {
    count: h.n,
    p50Ms: ms(quantile(h, 0.5)),
    p99Ms: ms(quantile(h, 0.99)),
    maxMs: h.n === 0 ? undefined : ms(h.max),
  };
}

/** The median of the finite values given (undefined when there are none). */
export function median(values: readonly (number | undefined)[]): number | undefined {
  const v = values.filter((x): x is number => x !== undefined && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return undefined;
  const m = v.length >> 1;
  return v.length % 2 === 1 ? v[m] : (v[m - 1]! + v[m]!) / 2;
}
