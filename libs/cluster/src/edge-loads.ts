/**
 * The edge loads seam (DESIGN.md §3e): each edge reports how many streams it holds, and reads what
 * the others hold, so that an edge above the tier's mean can shed streams to the rest. A report
 * lasts `ttlMs` unless renewed: an edge that dies (SIGKILL, a lost host) drops out of the mean
 * within that. Drivers: memory (single-node mode: one edge) and Redis (standalone, Cluster or
 * Sentinel). One behavioural suite (test/cluster/edge-loads.suite.ts) runs against each.
 */

/** What one edge holds now. */
export interface EdgeLoad {
  /** The edge's id, unique per process. */
  readonly edge: string;
  /** Open v1 streams (never moved: they cannot resume). */
  readonly v1: number;
  /** Open v2 streams. */
  readonly v2: number;
  /** Whether the edge takes new streams (not draining, its bus up): only ready edges set the mean. */
  readonly ready: boolean;
}

export interface EdgeLoads {
  /** Reports this edge's load; it counts for `ttlMs` unless reported again. */
  report(load: EdgeLoad, ttlMs: number): Promise<void>;
  /** Takes this edge's report back at once (a stopping edge). */
  withdraw(edge: string): Promise<void>;
  /** Every report still within its TTL, in no particular order. */
  read(): Promise<EdgeLoad[]>;
  close(): Promise<void>;
}

/** Parses a stored report; undefined for anything else. */
export function parseEdgeLoad(edge: string, text: string | null | undefined): EdgeLoad | undefined {
  if (text === null || text === undefined) return undefined;
  try {
    const v = JSON.parse(text) as Partial<EdgeLoad>;
    if (typeof v.v1 !== 'number' || typeof v.v2 !== 'number' || typeof v.ready !== 'boolean')
      return undefined;
    return { edge, v1: v.v1, v2: v.v2, ready: v.ready };
  } catch {
    return undefined;
  }
}

export function formatEdgeLoad(load: EdgeLoad): string {
  return JSON.stringify({ v1: load.v1, v2: load.v2, ready: load.ready });
}
