import { ChannelsFailed } from '@events-proxy/cluster';

type FlightState = 'pending' | 'ok' | 'failed';

/**
 * The channels a router holds back after their history or bus call failed, each with its items in
 * order (later messages of a held channel queue behind the failed ones, so the channel keeps its
 * order), and, on a Redis Cluster, the channels whose publish is still in flight (the cluster
 * client holds it for a shard failing over): those are waited for, never sent again, which could
 * deliver them twice.
 */
export class HeldChannels<T extends { readonly channel: string }> {
  private readonly queues = new Map<string, T[]>();
  private readonly inFlight = new Map<string, { readonly items: T[]; state: FlightState }>();

  /** `settled`: a publish in flight ended (the router looks again at once). */
  constructor(private readonly settled: () => void) {}

  /** Channels held back now. */
  get size(): number {
    return this.queues.size;
  }

  /** Queues the item behind its channel's held ones; false when its channel is not held back. */
  queueIfHeld(item: T): boolean {
    const queue = this.queues.get(item.channel);
    if (queue === undefined) return false;
    queue.push(item);
    return true;
  }

  /**
   * Holds back the channels a failure concerns (all of the items', unless it says which), with
   * their items in order. With `waitInFlight` (a publish failed), a channel the failure reports
   * still in flight is waited for. Returns the items of the channels that succeeded, and how many
   * channels failed.
   */
  holdBack(
    items: readonly T[],
    err: unknown,
    waitInFlight: boolean,
  ): { ok: T[]; failed: number; partial: boolean } {
    const partial = err instanceof ChannelsFailed;
    const failed = partial ? err.channels : new Set(items.map((i) => i.channel));
    const pending = partial && waitInFlight ? err.pending : new Map<string, Promise<boolean>>();
    const ok: T[] = [];
    for (const item of items) {
      if (!failed.has(item.channel)) {
        ok.push(item);
        continue;
      }
      let queue = this.queues.get(item.channel);
      if (queue === undefined) this.queues.set(item.channel, (queue = []));
      const outcome = pending.get(item.channel);
      if (outcome === undefined) queue.push(item);
      else this.flightOf(item.channel, outcome).items.push(item);
    }
    return { ok, failed: failed.size, partial };
  }

  /**
   * What to try again now, each channel's items in order, and the items whose publish in flight
   * ended well meanwhile (published). A channel whose publish is still in flight waits for it; one
   * whose publish failed puts those items first in its queue.
   */
  take(): { retry: T[]; published: T[] } {
    const published: T[] = [];
    for (const [channel, flight] of this.inFlight) {
      if (flight.state === 'pending') continue;
      this.inFlight.delete(channel);
      if (flight.state === 'ok') published.push(...flight.items);
      else this.queues.get(channel)!.unshift(...flight.items);
    }
    const retry: T[] = [];
    for (const [channel, queue] of this.queues) {
      if (this.inFlight.has(channel)) continue;
      retry.push(...queue);
      this.queues.delete(channel);
    }
    return { retry, published };
  }

  clear(): void {
    this.queues.clear();
    this.inFlight.clear();
  }

  private flightOf(channel: string, outcome: Promise<boolean>): { items: T[]; state: FlightState } {
    let flight = this.inFlight.get(channel);
    if (flight === undefined) {
      const entry = { items: [] as T[], state: 'pending' as FlightState };
      this.inFlight.set(channel, (flight = entry));
      void outcome.then((done) => {
        entry.state = done ? 'ok' : 'failed';
        this.settled();
      });
    }
    return flight;
  }
}
