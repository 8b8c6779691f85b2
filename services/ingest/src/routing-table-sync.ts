import { bindingKey, parseBindingKey, type Binding } from '@events-proxy/protocol';
import type { BindingChange, BindingChangeFeed, LeaseStore } from '@events-proxy/cluster';
import { errorText, type Logger } from '@events-proxy/runtime';
import type { RoutingTable } from './routing-table.js';

export interface RoutingTableSyncOptions {
  readonly store: LeaseStore;
  readonly routingTable: RoutingTable;
  /** Other replicas' binding changes, and this one's announcements (libs/cluster `BindingChangeFeed`). */
  readonly feed?: BindingChangeFeed;
  readonly logger: Logger;
  /** Full resync from the store, to heal lost notifications. */
  readonly resyncMs: number;
  /** The lease given to a binding that is routed here but that the store has lost. */
  readonly leaseMs: number;
  /** Puts a binding on the broker (idempotent), for bindings the store has lost. */
  readonly bind: (b: Binding) => Promise<void>;
}

/**
 * Keeps the router's bindings equal to the lease store's, which is the source of truth: a local
 * bind or reap updates them at once (before the bind job completes, so a message published after
 * the client's `ready` is matched); other replicas' changes arrive on the feed; a periodic resync
 * heals anything missed.
 *
 * Remaining window with several replicas: a peer's bind is announced before its job completes,
 * but the announcement travels asynchronously, so the consuming replica may route a message
 * published just after `ready` before it has heard of the binding, and that message is not
 * delivered. The window is one pub/sub hop (about a Redis round trip), or up to one resync
 * interval if the notification is lost. Single-node mode and a lone ingest have no such window.
 *
 * The resync adds what the store has at once, but acts on a binding routed here that the store
 * lacks only when two resyncs in a row did not find it, since a binding is added here a moment
 * before its lease is written. Such a binding is then bound again and leased afresh, under its lock
 * and only if still unleased, rather than dropped: the store loses leases when Redis restarts
 * without persistence or fails over, and the edges whose clients hold them renew them within a
 * lease period, so dropping would cut those clients' messages until then. A binding nobody holds
 * (a bind whose lease write failed, a re-bind after a reconnect that raced the reaper) is reaped
 * when that fresh lease runs out.
 */
export class RoutingTableSync {
  /** Keys held here but missing from the store at the last resync. */
  private missing = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private resyncing: Promise<void> | undefined;
  private readonly inFlight = new Set<Promise<void>>();

  constructor(private readonly opts: RoutingTableSyncOptions) {}

  start(): void {
    this.opts.feed?.onChange((change) => this.apply(change));
    this.timer = setInterval(() => void this.resync(), this.opts.resyncMs);
    this.timer.unref();
  }

  /** This ingest put the binding on the broker. */
  async added(b: Binding): Promise<void> {
    this.add(b);
    await this.announce({ op: 'add', key: bindingKey(b) });
  }

  /** This ingest removed the binding from the broker. */
  async removed(b: Binding): Promise<void> {
    this.opts.routingTable.remove(b);
    await this.announce({ op: 'remove', key: bindingKey(b) });
  }

  /** Adds bindings known to be on the broker (after a reconnect's re-bind). */
  restore(bindings: readonly Binding[]): void {
    for (const b of bindings) this.add(b);
  }

  resync(): Promise<void> {
    this.resyncing ??= this.resyncFromStore()
      .catch((err: unknown) => this.opts.logger.warn('binding resync failed', { error: errorText(err) }))
      .finally(() => (this.resyncing = undefined));
    return this.resyncing;
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.resyncing;
    await Promise.all(this.inFlight);
    // The feed belongs to the drivers, which close it; only stop listening.
    this.opts.feed?.onChange(() => undefined);
  }

  private add(b: Binding): void {
    this.opts.routingTable.add(b);
    this.missing.delete(bindingKey(b));
  }

  private apply(change: BindingChange): void {
    let binding: Binding;
    try {
      binding = parseBindingKey(change.key);
    } catch {
      this.opts.logger.warn('ignored a malformed binding change', { key: change.key });
      return;
    }
    if (change.op === 'add') this.add(binding);
    else this.track(this.applyRemoval(change.key, binding));
  }

  /**
   * A peer's removal may arrive after this replica has bound the binding again (the two messages
   * travel on different connections): drop it only if, under its lock, it is not leased.
   */
  private async applyRemoval(key: string, binding: Binding): Promise<void> {
    try {
      await this.opts.store.withLock(key, async () => {
        const [leased] = await this.opts.store.renewIfLeased([key], 0);
        if (!leased) this.opts.routingTable.remove(binding);
      });
    } catch (err) {
      this.opts.logger.warn('could not apply a peer removal; the next resync will', {
        ...binding,
        error: errorText(err),
      });
    }
  }

  private track(work: Promise<void>): void {
    this.inFlight.add(work);
    void work.finally(() => this.inFlight.delete(work));
  }

  private async announce(change: BindingChange): Promise<void> {
    if (!this.opts.feed) return;
    try {
      await this.opts.feed.announce(change);
    } catch (err) {
      // Peers catch up at their next resync.
      this.opts.logger.warn('could not announce a binding change', { ...change, error: errorText(err) });
    }
  }

  private async resyncFromStore(): Promise<void> {
    const { store, routingTable } = this.opts;
    const leased = new Set(await store.all());
    for (const key of leased) if (!routingTable.has(parseBindingKey(key))) this.add(parseBindingKey(key));
    const stillMissing = new Set<string>();
    const stale: string[] = [];
    for (const key of routingTable.keys()) {
      if (leased.has(key)) continue;
      if (this.missing.has(key)) stale.push(key);
      else stillMissing.add(key);
    }
    this.missing = stillMissing;
    for (const key of stale) await this.reclaim(key);
  }

  private async reclaim(key: string): Promise<void> {
    const binding = parseBindingKey(key);
    try {
      const reclaimed = await this.opts.store.withLock(key, async () => {
        const [leased] = await this.opts.store.renewIfLeased([key], 0);
        if (leased) return false; // leased again meanwhile
        await this.opts.bind(binding);
        await this.opts.store.lease(key, this.opts.leaseMs);
        this.add(binding);
        return true;
      });
      if (reclaimed) {
        this.opts.logger.info('leased again a binding the lease store had lost', { ...binding });
      }
    } catch (err) {
      this.missing.add(key); // retried at the next resync
      this.opts.logger.warn('could not lease again a binding the lease store had lost', {
        ...binding,
        error: errorText(err),
      });
    }
  }
}
