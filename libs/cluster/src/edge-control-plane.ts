import { bindTimeoutError, bindingKey, parseBindingKey, type Binding } from '@events-proxy/protocol';
import type { BindQueue } from './bind-queue.js';
import type { LeaseStore } from './lease-store.js';

/** Keys per renewIfLeased call. */
const RENEW_CHUNK = 1000;

interface PendingRenewal {
  readonly settle: (live: boolean) => void;
  readonly fail: (err: unknown) => void;
  readonly promise: Promise<boolean>;
}

function pendingRenewal(): PendingRenewal {
  let settle!: (live: boolean) => void;
  let fail!: (err: unknown) => void;
  const promise = new Promise<boolean>((resolve, reject) => {
    settle = resolve;
    fail = reject;
  });
  return { settle, fail, promise };
}

export interface EdgeControlPlaneOptions {
  readonly store: LeaseStore;
  readonly bindQueue: BindQueue;
  /** How long a binding stays on the broker after the last edge stopped renewing it. */
  readonly leaseMs: number;
  readonly onRenewError?: (err: unknown) => void;
  /**
   * A held binding had no lease when it was renewed (Redis lost its data, say), so it was asked
   * for again; `err` is set when that request failed (it is retried at the next renewal).
   */
  readonly onRebind?: (binding: Binding, err: unknown) => void;
  /** How long such a re-request may wait for the ingest tier (default 30 s). */
  readonly rebindTimeoutMs?: number;
}

/**
 * The edge's side of the control plane: makes bindings live before a client is told `ready`,
 * and keeps leasing every binding some local client holds.
 */
export class EdgeControlPlane {
  private readonly held = new Map<string, number>(); // binding key → local holders
  private timer: NodeJS.Timeout | undefined;
  /** Renewals asked for in this tick, sent together in one store call on the next. */
  private renewals = new Map<string, PendingRenewal>();
  /** Held bindings being asked for again because their lease was gone. */
  private readonly rebinding = new Set<string>();
  /**
   * Renewals taken from `renewals` and not answered yet. An ensure() meanwhile joins its key's:
   * the lease it extends lasts a full lease from when Redis ran it, past this ensure()'s `ready`.
   * Connections that arrive spread out (a reconnect storm) then share one call per binding too.
   */
  private readonly inFlight = new Map<string, PendingRenewal>();
  /**
   * Held binding key → until when (performance.now() ms) a renewal of ours has proved it leased.
   * A renewal sent at t leases until at least t + leaseMs on Redis's clock, and the reaper removes
   * only expired leases, so until t + leaseMs / 2 the binding is certainly still in place: ensure()
   * answers from here without a round trip (in a reconnect storm, most connections share a few
   * bindings this edge already holds). Not while the store is disconnected, nor after a failed
   * renewal: then ensure() fails as it always did.
   */
  private readonly confirmed = new Map<string, number>();

  constructor(private readonly opts: EdgeControlPlaneOptions) {}

  /** Starts renewing held leases, three times per lease period. */
  start(): void {
    const period = Math.max(250, Math.floor(this.opts.leaseMs / 3));
    this.timer = setInterval(() => void this.renewHeld(), period);
    this.timer.unref();
  }

  /**
   * Resolves once the binding is on the broker and leased. A binding that is already live costs
   * one atomic lease renewal, shared with every other ensure() of the same tick and with those that
   * come while it is on its way (a burst of connections makes one store call, not one each), and
   * nothing while this edge holds it and renewed it recently; otherwise the ingest tier is asked.
   */
  async ensure(binding: Binding, timeoutMs: number): Promise<void> {
    const key = bindingKey(binding);
    if ((this.confirmed.get(key) ?? 0) > performance.now() && this.opts.store.isConnected()) return;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (await this.renewSoon(key)) return;
      const left = deadline - Date.now();
      if (left <= 0) throw bindTimeoutError(binding, timeoutMs);
      await this.opts.bindQueue.request(binding, left);
      // The request resolved: the binding was leased by the ingest. Loop to renew and confirm it,
      // in case the lease was reaped in between (which makes the next request re-bind it).
    }
  }

  private renewSoon(key: string): Promise<boolean> {
    const flying = this.inFlight.get(key);
    if (flying !== undefined) return flying.promise;
    let pending = this.renewals.get(key);
    if (pending === undefined) {
      pending = pendingRenewal();
      if (this.renewals.size === 0) setImmediate(() => void this.renewPending());
      this.renewals.set(key, pending);
    }
    return pending.promise;
  }

  private async renewPending(): Promise<void> {
    const batch = [...this.renewals];
    this.renewals = new Map();
    for (const [key, pending] of batch) this.inFlight.set(key, pending);
    for (let i = 0; i < batch.length; i += RENEW_CHUNK) {
      const chunk = batch.slice(i, i + RENEW_CHUNK);
      try {
        const sentAt = performance.now();
        const live = await this.opts.store.renewIfLeased(
          chunk.map(([key]) => key),
          this.opts.leaseMs,
        );
        chunk.forEach(([key, pending], j) => {
          this.noteRenewal(key, live[j] === true, sentAt);
          pending.settle(live[j] === true);
        });
      } catch (err) {
        this.confirmed.clear();
        for (const [, pending] of chunk) pending.fail(err);
      } finally {
        for (const [key, pending] of chunk) if (this.inFlight.get(key) === pending) this.inFlight.delete(key);
      }
    }
  }

  /** Counts a local holder of the binding (its lease is renewed while any holder remains). */
  hold(binding: Binding): void {
    const key = bindingKey(binding);
    this.held.set(key, (this.held.get(key) ?? 0) + 1);
  }

  release(binding: Binding): void {
    const key = bindingKey(binding);
    const n = (this.held.get(key) ?? 0) - 1;
    if (n > 0) this.held.set(key, n);
    else {
      this.held.delete(key);
      this.confirmed.delete(key);
    }
  }

  private noteRenewal(key: string, live: boolean, sentAt: number): void {
    if (live && this.held.has(key)) this.confirmed.set(key, sentAt + this.opts.leaseMs / 2);
    else this.confirmed.delete(key);
  }

  get heldCount(): number {
    return this.held.size;
  }

  /**
   * Renews the lease of every binding a local client holds. One that is not leased any more (the
   * lease store lost it: a Redis restart without persistence, a fail-over) is asked for again, so
   * the ingest tier puts it back if it had to; clients keep their streams meanwhile.
   */
  async renewHeld(): Promise<void> {
    const keys = [...this.held.keys()];
    const lost: string[] = [];
    try {
      for (let i = 0; i < keys.length; i += RENEW_CHUNK) {
        const chunk = keys.slice(i, i + RENEW_CHUNK);
        const sentAt = performance.now();
        const live = await this.opts.store.renewIfLeased(chunk, this.opts.leaseMs);
        chunk.forEach((key, j) => {
          this.noteRenewal(key, live[j] === true, sentAt);
          if (live[j] !== true) lost.push(key);
        });
      }
    } catch (err) {
      this.confirmed.clear();
      this.opts.onRenewError?.(err);
    }
    for (const key of lost) this.rebind(key);
  }

  private rebind(key: string): void {
    if (this.rebinding.has(key) || !this.held.has(key)) return;
    this.rebinding.add(key);
    const binding = parseBindingKey(key);
    this.opts.bindQueue
      .request(binding, this.opts.rebindTimeoutMs ?? 30_000)
      .then(
        () => this.opts.onRebind?.(binding, undefined),
        (err: unknown) => this.opts.onRebind?.(binding, err),
      )
      .finally(() => this.rebinding.delete(key));
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
