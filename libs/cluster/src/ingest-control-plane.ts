import { bindingKey, parseBindingKey, type Binding } from '@events-proxy/protocol';
import type { BindQueue } from './bind-queue.js';
import type { LeaseStore } from './lease-store.js';

/** Expired leases taken per store call while reaping. */
const REAP_PAGE = 1000;

/** What the ingest does at the broker; both throw on failure (a BindError for the client to see). */
export interface BrokerBinder {
  bind(binding: Binding): Promise<void>;
  unbind(binding: Binding): Promise<void>;
}

/** What follows a binding's life on the broker besides the lease (the v2 history of its channel). */
export interface BindingHistoryHooks {
  /** The binding was just put on the broker after a time without it (it had no lease). */
  begin(binding: Binding): Promise<void>;
  /** The binding was just removed from the broker. */
  forget(binding: Binding): Promise<void>;
}

export interface IngestControlPlaneOptions {
  readonly store: LeaseStore;
  readonly bindQueue: BindQueue;
  readonly binder: BrokerBinder;
  readonly leaseMs: number;
  /** Bind jobs run at once, and unbinds at once while reaping. */
  readonly concurrency: number;
  readonly bindingHistory?: BindingHistoryHooks;
  readonly onReaped?: (binding: Binding) => void;
  readonly onBindResult?: (binding: Binding, error: unknown) => void;
  readonly onReapError?: (binding: Binding, err: unknown) => void;
  /** A reaping round could not list the expired leases (Redis unreachable): retried next round. */
  readonly onReapRoundError?: (err: unknown) => void;
}

/**
 * The ingest's side of the control plane: binds what edges ask for, and removes bindings whose
 * leases ran out. Both hold the binding's lock, so a binding that an edge has just been told is
 * live is never removed by a reaper that decided on a stale lease.
 */
export class IngestControlPlane {
  private timer: NodeJS.Timeout | undefined;
  private reaping: Promise<number> | undefined;
  private stopped = false;

  constructor(private readonly opts: IngestControlPlaneOptions) {}

  async start(): Promise<void> {
    const { store, bindQueue, binder, leaseMs, concurrency } = this.opts;
    await bindQueue.process(async (binding) => {
      try {
        const key = bindingKey(binding);
        await store.withLock(key, async () => {
          // Under the lock, a lease means the binding stayed on the broker (the reaper removes the
          // lease with the binding): only one without is new, and its history begins now.
          const history = this.opts.bindingHistory;
          const isNew = history !== undefined && (await store.renewIfLeased([key], leaseMs))[0] !== true;
          await binder.bind(binding);
          if (isNew) await history.begin(binding);
          await store.lease(key, leaseMs);
        });
        this.opts.onBindResult?.(binding, undefined);
      } catch (err) {
        this.opts.onBindResult?.(binding, err);
        throw err;
      }
    }, concurrency);
    // A binding nobody renews is unbound soon after its lease ends: expired leases are looked for
    // every second (one cheap Redis query), or four times per lease when leases are shorter.
    // A round that fails (Redis down) is reported and retried at the next tick; it must never
    // reject unhandled, which would end the process.
    const round = () => this.reap().catch((err: unknown) => this.opts.onReapRoundError?.(err));
    this.timer = setInterval(() => void round(), Math.min(1000, Math.max(100, Math.floor(leaseMs / 4))));
    this.timer.unref();
  }

  /** Removes every binding whose lease has ended; returns how many were removed. */
  reap(): Promise<number> {
    this.reaping ??= this.reapExpired().finally(() => (this.reaping = undefined));
    return this.reaping;
  }

  /**
   * Takes the expired leases a page at a time, each page by `concurrency` workers, until none is
   * left: ten thousand clients leaving at once are unbound in one round, not one page per round.
   */
  private async reapExpired(): Promise<number> {
    let removed = 0;
    for (;;) {
      const page = await this.opts.store.expired(REAP_PAGE);
      let next = 0;
      let removedInPage = 0;
      const worker = async (): Promise<void> => {
        while (next < page.length) if (await this.reapOne(page[next++]!)) removedInPage++;
      };
      await Promise.all(Array.from({ length: Math.min(this.opts.concurrency, page.length) }, worker));
      removed += removedInPage;
      // A full page may have more behind it. One where nothing could be removed (the broker is
      // down, say) would only come back the same: those keys wait for the next round.
      if (page.length < REAP_PAGE || removedInPage === 0 || this.stopped) return removed;
    }
  }

  private async reapOne(key: string): Promise<boolean> {
    const { store, binder } = this.opts;
    const binding = parseBindingKey(key);
    try {
      return await store.withLock(key, async () => {
        if (!(await store.removeIfExpired(key))) return false; // renewed meanwhile
        try {
          await binder.unbind(binding);
        } catch (err) {
          await store.lease(key, 0); // keep it listed as expired, so the next round retries
          throw err;
        }
        // Only memory is at stake if this fails: the next bind begins the channel's history anew.
        await this.opts.bindingHistory
          ?.forget(binding)
          .catch((err: unknown) => this.opts.onReapError?.(binding, err));
        this.opts.onReaped?.(binding);
        return true;
      });
    } catch (err) {
      this.opts.onReapError?.(binding, err);
      return false;
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    // A round that fails now was reported by its own catch; it must not fail the shutdown.
    await this.reaping?.catch(() => undefined);
  }
}
