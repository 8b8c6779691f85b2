/**
 * The client limits seam: how many streams a client (an IP, a token subject) holds open and how
 * fast it connects, counted for the whole installation rather than per edge, so a client cannot
 * pass a limit by spreading its connections over the edges. Drivers: memory (single-node mode) and
 * Redis (standalone or Cluster), where each edge is one holder whose counts are leased: an edge
 * that dies without giving its streams back (SIGKILL, a lost host) stops renewing, and its counts
 * end with the lease. One behavioural suite (test/cluster/client-limits.suite.ts) runs against each.
 */

/** One count a stream is held against: a client key (e.g. `ip:203.0.113.7`, `sub:<hash>`) and its limit. */
export interface StreamQuota {
  readonly key: string;
  /** Most streams the key may hold at once (0: none). */
  readonly limit: number;
}

export type StreamGrant =
  | {
      readonly ok: true;
      /** Gives the stream back; idempotent. */
      release(): void;
    }
  | {
      readonly ok: false;
      /** The quota that was full (nothing is counted then). */
      readonly full: StreamQuota;
    };

export interface ClientLimits {
  /**
   * Counts one stream against every quota if each has room, atomically per quota; if one is full,
   * counts nothing. A key given twice is counted once, against the smaller limit. Rejects when the
   * store cannot be reached (nothing stays counted then, or not beyond a lease).
   */
  acquireStream(quotas: readonly StreamQuota[]): Promise<StreamGrant>;
  /**
   * Takes one connect from the key's allowance (GCRA: `ratePerSecond` sustained, up to `burst` at
   * once). Returns 0 when allowed, else the milliseconds until a connect would be (nothing taken then).
   */
  takeConnect(key: string, ratePerSecond: number, burst: number): Promise<number>;
  isConnected(): boolean;
  /** Stops renewing (a clean shutdown also gives back what it holds). */
  close(): Promise<void>;
}

/** CLIENT_LEASE_SECONDS's default in ms: how long a holder's counts outlive its last renewal. */
export const DEFAULT_CLIENT_LEASE_MS = 30_000;

/** The quotas with each key once, at its smallest limit (a stream counts once against a key). */
export function distinctQuotas(quotas: readonly StreamQuota[]): StreamQuota[] {
  const byKey = new Map<string, StreamQuota>();
  for (const q of quotas) {
    if (!Number.isInteger(q.limit) || q.limit < 0) {
      throw new RangeError(`stream quota ${q.key}: the limit must be a whole number ≥ 0, not ${q.limit}`);
    }
    const seen = byKey.get(q.key);
    if (seen === undefined || q.limit < seen.limit) byKey.set(q.key, q);
  }
  return [...byKey.values()];
}

/** GCRA's two figures for a rate, or a RangeError for a rate or burst that means nothing. */
export function connectAllowance(
  ratePerSecond: number,
  burst: number,
): { emissionMs: number; toleranceMs: number } {
  if (!(ratePerSecond > 0) || !Number.isFinite(ratePerSecond)) {
    throw new RangeError(`connect rate: ratePerSecond must be a number > 0, not ${ratePerSecond}`);
  }
  if (!Number.isInteger(burst) || burst < 1) {
    throw new RangeError(`connect rate: burst must be a whole number ≥ 1, not ${burst}`);
  }
  const emissionMs = 1000 / ratePerSecond;
  return { emissionMs, toleranceMs: emissionMs * (burst - 1) };
}
