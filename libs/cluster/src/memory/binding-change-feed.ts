import type { BindingChange, BindingChangeFeed, BindingChangeHandler } from '../binding-change-feed.js';

/**
 * Replicas in one process. `peer()` gives another replica's handle on the same feed; changes reach
 * the other handles asynchronously (on a microtask), as they would over the network.
 */
export class MemoryBindingChangeFeed implements BindingChangeFeed {
  private handler: BindingChangeHandler = () => undefined;
  private closed = false;

  constructor(private readonly replicas: Set<MemoryBindingChangeFeed> = new Set()) {
    replicas.add(this);
  }

  /** Another replica's handle on this feed. */
  peer(): MemoryBindingChangeFeed {
    return new MemoryBindingChangeFeed(this.replicas);
  }

  async announce(change: BindingChange): Promise<void> {
    if (this.closed) throw new Error('The binding change feed is closed');
    const copy: BindingChange = { op: change.op, key: change.key };
    for (const replica of this.replicas) {
      if (replica !== this) queueMicrotask(() => replica.deliver(copy));
    }
  }

  onChange(handler: BindingChangeHandler): void {
    this.handler = handler;
  }

  isConnected(): boolean {
    return !this.closed;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.replicas.delete(this);
  }

  private deliver(change: BindingChange): void {
    if (!this.closed) this.handler(change);
  }
}
