import { bindTimeoutError, bindingKey, type Binding } from '@events-proxy/protocol';
import type { BindQueue } from './bind-queue.js';
import type { LeaseStore } from './lease-store.js';

export interface EdgeBindingsOptions {
  readonly store: LeaseStore;
  readonly queue: BindQueue;
  /** How long a binding stays on the broker after the last edge stopped renewing it. */
  readonly leaseMs: number;
  readonly onRenewError?: (err: unknown) => void;
}

/**
 * The edge's side of the control plane: makes bindings live before a client is told `ready`,
 * and keeps leasing every binding some local client holds.
 */
export class EdgeBindings {
  private readonly held = new Map<string, number>(); // binding key → local holders
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly opts: EdgeBindingsOptions) {}

  /** Starts renewing held leases, three times per lease period. */
  start(): void {
    const period = Math.max(250, Math.floor(this.opts.leaseMs / 3));
    this.timer = setInterval(() => void this.renewHeld(), period);
    this.timer.unref();
  }

  /**
   * Resolves once the binding is on the broker and leased. A binding that is already live costs
   * one atomic lease renewal; otherwise the ingest tier is asked and awaited.
   */
  async ensure(binding: Binding, timeoutMs: number): Promise<void> {
    const key = bindingKey(binding);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const [live] = await this.opts.store.renewIfLeased([key], this.opts.leaseMs);
      if (live) return;
      const left = deadline - Date.now();
      if (left <= 0) throw bindTimeoutError(binding, timeoutMs);
      await this.opts.queue.request(binding, left);
      // The request resolved: the binding was leased by the ingest. Loop to renew and confirm it,
      // in case the lease was reaped in between (which makes the next request re-bind it).
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
    else this.held.delete(key);
  }

  get heldCount(): number {
    return this.held.size;
  }

  async renewHeld(): Promise<void> {
    const keys = [...this.held.keys()];
    try {
      for (let i = 0; i < keys.length; i += 1000) {
        await this.opts.store.renewIfLeased(keys.slice(i, i + 1000), this.opts.leaseMs);
      }
    } catch (err) {
      this.opts.onRenewError?.(err);
    }
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
