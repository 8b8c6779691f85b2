import { Cluster, type Redis } from 'ioredis';
import type { DriverLogger } from './client.js';

/** REDIS_HEALTH_TIMEOUT_SECONDS's default: a silent link is dropped and reconnected within this. */
export const DEFAULT_REDIS_HEALTH_TIMEOUT_MS = 5000;

/** Where dropped links are counted (`events_redis_link_drops_total{connection}`). */
export class LinkDropCounts {
  private readonly counts = new Map<string, number>();

  dropped(connection: string): void {
    this.counts.set(connection, (this.counts.get(connection) ?? 0) + 1);
  }

  /** Drops so far, by connection kind. */
  snapshot(): ReadonlyMap<string, number> {
    return this.counts;
  }
}

export interface LinkHealthOptions {
  /** A link that answers nothing for this long is dropped (REDIS_HEALTH_TIMEOUT_SECONDS in ms). */
  readonly timeoutMs: number;
  /** The connection's kind, as counted (`bus-sub`, `leases`, …). */
  readonly kind: string;
  readonly counts?: LinkDropCounts;
}

/**
 * Watches one Redis link and drops it when it goes silent. Redis clients never notice a link that
 * stopped forwarding without a FIN or a reset (a lost node, a partition, a conntrack entry gone):
 * ioredis sets no command timeout, a subscriber sends nothing, so the kernel never retransmits
 * and never gives up. So every `tick` a PING goes out (allowed in subscriber mode too), and a PING
 * unanswered for `timeoutMs - tick` destroys the socket: ioredis sees a close and reconnects with
 * its backoff, re-subscribing a subscriber, and readiness follows the client's status meanwhile.
 * A connect whose handshake hangs (TCP accepted, no reply: a frozen server) is cut the same way.
 *
 * On a Redis Cluster every node connection and every sharded subscriber is watched; a dropped one
 * ends, and the cluster client refreshes its slots and connects again.
 */
export class LinkHealth {
  private readonly tickMs: number;
  private readonly deadlineMs: number;
  private readonly timer: NodeJS.Timeout;
  /** Per watched connection: when its unanswered PING went out, or when its handshake began. */
  private readonly pending = new Map<Redis, number>();
  /** Per watched connection: bytes read when its PING went out. */
  private readonly readAtPing = new WeakMap<Redis, number>();
  private stalled = false;

  constructor(
    private readonly client: Redis | Cluster,
    private readonly opts: LinkHealthOptions,
    private readonly logger: DriverLogger,
  ) {
    this.tickMs = Math.max(100, Math.min(1000, Math.floor(opts.timeoutMs / 5)));
    this.deadlineMs = Math.max(this.tickMs, opts.timeoutMs - this.tickMs);
    this.timer = setInterval(() => this.check(), this.tickMs);
    this.timer.unref();
    client.once('end', () => this.stop());
  }

  /** False from the moment a PING is overdue until the link answers again (or is dropped). */
  get healthy(): boolean {
    return !this.stalled;
  }

  stop(): void {
    clearInterval(this.timer);
    this.pending.clear();
  }

  private check(): void {
    const now = Date.now();
    let overdue = false;
    for (const link of this.links()) {
      const since = this.pending.get(link);
      if (link.status === 'ready') {
        if (since === undefined) {
          this.ping(link, now);
        } else if (now - since >= this.deadlineMs) {
          // Bytes arrived since the PING (a busy subscriber's messages queue ahead of its reply):
          // the link is alive, only slow; watch it from now.
          if (bytesRead(link) > (this.readAtPing.get(link) ?? 0)) {
            this.ping(link, now);
            continue;
          }
          overdue = true;
          // The event loop itself may have been blocked: let the poll phase read what arrived.
          setImmediate(() => this.dropIfStill(link, since, 'no reply to PING'));
        }
      } else if (link.status === 'connect') {
        // TCP is up but the handshake (AUTH, SELECT, the ready check) has no answer yet.
        if (since === undefined) this.pending.set(link, now);
        else if (now - since >= this.opts.timeoutMs)
          setImmediate(() => this.dropIfStill(link, since, 'no reply during connect'));
      } else {
        this.pending.delete(link);
      }
    }
    this.stalled = overdue;
  }

  private ping(link: Redis, now: number): void {
    this.pending.set(link, now);
    this.readAtPing.set(link, bytesRead(link));
    link.ping().then(
      () => {
        if (this.pending.get(link) === now) this.pending.delete(link);
      },
      // A failed PING means the link is already closing: ioredis reconnects by itself.
      () => {
        if (this.pending.get(link) === now) this.pending.delete(link);
      },
    );
  }

  private dropIfStill(link: Redis, since: number, why: string): void {
    if (this.pending.get(link) !== since) return;
    this.pending.delete(link);
    this.stalled = false;
    this.opts.counts?.dropped(this.opts.kind);
    this.logger.warn('redis link silent; dropping it to reconnect', {
      component: 'redis',
      connection: this.opts.kind,
      reason: why,
      silentMs: Date.now() - since,
      node: `${link.options.host ?? ''}:${link.options.port ?? ''}`,
    });
    // A reset, not end(): end() would wait for a FIN the other side never sends, and a plain close
    // would leave what was written but not delivered to be sent if the link comes back, so a
    // command given up on here (a publish tried again elsewhere) could still run, late.
    const stream = link.stream as
      (NodeJS.ReadableStream & { resetAndDestroy?: () => void; destroy: () => void }) | undefined;
    if (stream?.resetAndDestroy) stream.resetAndDestroy();
    else stream?.destroy();
  }

  private links(): Redis[] {
    const client = this.client;
    if (!(client instanceof Cluster)) return [client];
    return [...client.nodes('all'), ...shardedSubscriberInstances(client)];
  }
}

function bytesRead(link: Redis): number {
  return (link.stream as { bytesRead?: number } | undefined)?.bytesRead ?? 0;
}

/** The sharded subscribers' own connections (ioredis keeps them outside `nodes()`). */
export function shardedSubscriberInstances(cluster: Cluster): Redis[] {
  const group = (cluster as unknown as { shardedSubscribers?: { shardedSubscribers?: Map<string, unknown> } })
    .shardedSubscribers;
  const out: Redis[] = [];
  for (const sub of group?.shardedSubscribers?.values() ?? []) {
    const instance = (sub as { getInstance?: () => Redis | null }).getInstance?.();
    if (instance) out.push(instance);
  }
  return out;
}
