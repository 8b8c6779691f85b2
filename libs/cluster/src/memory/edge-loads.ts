import type { EdgeLoad, EdgeLoads } from '../edge-loads.js';

/** Edge loads in one process (single-node mode, tests): reports expire by the clock, as in Redis. */
export class MemoryEdgeLoads implements EdgeLoads {
  private readonly reports = new Map<string, { load: EdgeLoad; expiresAt: number }>();

  report(load: EdgeLoad, ttlMs: number): Promise<void> {
    this.reports.set(load.edge, { load: { ...load }, expiresAt: Date.now() + ttlMs });
    return Promise.resolve();
  }

  withdraw(edge: string): Promise<void> {
    this.reports.delete(edge);
    return Promise.resolve();
  }

  read(): Promise<EdgeLoad[]> {
    const now = Date.now();
    const out: EdgeLoad[] = [];
    for (const [edge, r] of this.reports) {
      if (r.expiresAt <= now) this.reports.delete(edge);
      else out.push(r.load);
    }
    return Promise.resolve(out);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
