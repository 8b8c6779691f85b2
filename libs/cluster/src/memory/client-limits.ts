import {
  connectAllowance,
  distinctQuotas,
  type ClientLimits,
  type StreamGrant,
  type StreamQuota,
} from '../client-limits.js';

export interface MemoryClientLimitsOptions {
  /** The clock (ms); the process's by default. */
  readonly now?: () => number;
  /** How often, at most, connect entries whose allowance is whole again are dropped (default 10 s). */
  readonly sweepIntervalMs?: number;
}

/**
 * Single-node mode's client limits: counts and connect allowances in maps of this process (its one
 * edge is the only holder, and its counts end with it). A key is kept only while it holds a stream
 * or its connect allowance is not whole again, so the maps stay as large as the clients of the moment.
 */
export class MemoryClientLimits implements ClientLimits {
  private readonly streams = new Map<string, number>();
  /** Client key → theoretical arrival time (ms): the allowance is whole again once it is past. */
  private readonly arrivals = new Map<string, number>();
  private readonly now: () => number;
  private readonly sweepIntervalMs: number;
  private nextSweep = 0;

  constructor(opts: MemoryClientLimitsOptions = {}) {
    this.now = opts.now ?? Date.now;
    this.sweepIntervalMs = opts.sweepIntervalMs ?? 10_000;
  }

  async acquireStream(quotas: readonly StreamQuota[]): Promise<StreamGrant> {
    const distinct = distinctQuotas(quotas);
    const full = distinct.find((q) => (this.streams.get(q.key) ?? 0) >= q.limit);
    if (full !== undefined) return { ok: false, full };
    for (const q of distinct) this.streams.set(q.key, (this.streams.get(q.key) ?? 0) + 1);
    let released = false;
    return {
      ok: true,
      release: () => {
        if (released) return;
        released = true;
        for (const q of distinct) {
          const count = (this.streams.get(q.key) ?? 0) - 1;
          if (count > 0) this.streams.set(q.key, count);
          else this.streams.delete(q.key);
        }
      },
    };
  }

  async takeConnect(key: string, ratePerSecond: number, burst: number): Promise<number> {
    const { emissionMs, toleranceMs } = connectAllowance(ratePerSecond, burst);
    const now = this.now();
    this.sweep(now);
    const arrival = Math.max(this.arrivals.get(key) ?? now, now);
    if (arrival - now > toleranceMs) return Math.max(1, Math.ceil(arrival - toleranceMs - now));
    this.arrivals.set(key, arrival + emissionMs);
    return 0;
  }

  /** How many keys the maps hold (for tests: they must not grow without bound). */
  trackedKeys(): { streams: number; connects: number } {
    return { streams: this.streams.size, connects: this.arrivals.size };
  }

  private sweep(now: number): void {
    if (now < this.nextSweep) return;
    this.nextSweep = now + this.sweepIntervalMs;
    for (const [key, arrival] of this.arrivals) if (arrival <= now) this.arrivals.delete(key);
  }

  isConnected(): boolean {
    return true;
  }

  async close(): Promise<void> {
    this.streams.clear();
    this.arrivals.clear();
  }
}
