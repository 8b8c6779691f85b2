import { bindingKey, parseBindingKey, type Binding } from '@events-proxy/protocol';
import type { BindQueue } from './bind-queue.js';
import type { LeaseStore } from './lease-store.js';

/** What the ingest does at the broker; both throw on failure (a BindError for the client to see). */
export interface BrokerBindings {
  bind(binding: Binding): Promise<void>;
  unbind(binding: Binding): Promise<void>;
}

export interface IngestBindingsOptions {
  readonly store: LeaseStore;
  readonly queue: BindQueue;
  readonly broker: BrokerBindings;
  readonly leaseMs: number;
  readonly concurrency: number;
  readonly onReaped?: (binding: Binding) => void;
  readonly onBindResult?: (binding: Binding, error: unknown) => void;
  readonly onReapError?: (binding: Binding, err: unknown) => void;
}

/**
 * The ingest's side of the control plane: binds what edges ask for, and removes bindings whose
 * leases ran out. Both hold the binding's lock, so a binding that an edge has just been told is
 * live is never removed by a reaper that decided on a stale lease.
 */
export class IngestBindings {
  private timer: NodeJS.Timeout | undefined;
  private reaping: Promise<number> | undefined;

  constructor(private readonly opts: IngestBindingsOptions) {}

  async start(): Promise<void> {
    const { store, queue, broker, leaseMs, concurrency } = this.opts;
    await queue.process(async (binding) => {
      try {
        await store.withLock(bindingKey(binding), async () => {
          await broker.bind(binding);
          await store.lease(bindingKey(binding), leaseMs);
        });
        this.opts.onBindResult?.(binding, undefined);
      } catch (err) {
        this.opts.onBindResult?.(binding, err);
        throw err;
      }
    }, concurrency);
    // A binding nobody renews is gone within 1.5 leases: it expires after one, is seen within half.
    this.timer = setInterval(() => void this.reap(), Math.max(100, Math.floor(leaseMs / 2)));
    this.timer.unref();
  }

  /** Removes every binding whose lease has ended; returns how many were removed. */
  reap(): Promise<number> {
    this.reaping ??= this.reapExpired().finally(() => (this.reaping = undefined));
    return this.reaping;
  }

  private async reapExpired(): Promise<number> {
    const { store, broker } = this.opts;
    let removed = 0;
    for (const key of await store.expired(1000)) {
      const binding = parseBindingKey(key);
      try {
        await store.withLock(key, async () => {
          if (!(await store.removeIfExpired(key))) return; // renewed meanwhile
          try {
            await broker.unbind(binding);
          } catch (err) {
            await store.lease(key, 0); // keep it listed as expired, so the next round retries
            throw err;
          }
          removed++;
          this.opts.onReaped?.(binding);
        });
      } catch (err) {
        this.opts.onReapError?.(binding, err);
      }
    }
    return removed;
  }

  /** Every binding that should be on the broker (to restore after a reconnect). */
  async live(): Promise<Binding[]> {
    return (await this.opts.store.all()).map(parseBindingKey);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.reaping;
  }
}
