import net from 'node:net';

/**
 * Whether something accepts TCP connections at host:port: a cheap sign of life for a broker that
 * was unreachable, checked without speaking AMQP (so no login, no broker-side connection).
 */
export function tcpAccepts(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    socket.unref();
    const done = (open: boolean) => {
      socket.destroy();
      resolve(open);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

export interface LifeWatchOptions {
  /** The endpoints to watch, by index (the index is what `onLife` reports). */
  readonly endpoints: readonly { readonly host: string; readonly port: number }[];
  /** Mean time between probe rounds; each wait is jittered ±25% so replicas do not probe in step. */
  readonly intervalMs: number;
  /** Called once, with the first endpoint seen to go from refusing to accepting connections. */
  readonly onLife: (index: number) => void;
  readonly probe?: (host: string, port: number) => Promise<boolean>;
}

/**
 * Watches endpoints that just failed for the moment one of them starts accepting connections.
 * Only a change from refusing to accepting counts: an endpoint whose first probe already connects
 * (its port is open but AMQP failed, e.g. a wrong password or a load balancer in front) is dropped,
 * so a broker that accepts TCP but refuses AMQP is retried on the backoff, never in a tight loop.
 */
export class LifeWatch {
  private readonly refusing = new Set<number>();
  private readonly candidates = new Set<number>();
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly opts: LifeWatchOptions) {
    opts.endpoints.forEach((_, i) => this.candidates.add(i));
  }

  start(): void {
    void this.round();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  private async round(): Promise<void> {
    const probe = this.opts.probe ?? tcpAccepts;
    const indexes = [...this.candidates];
    const results = await Promise.all(
      indexes.map(async (i) => {
        const { host, port } = this.opts.endpoints[i]!;
        return { i, open: await probe(host, port).catch(() => false) };
      }),
    );
    if (this.stopped) return;
    for (const { i, open } of results) {
      if (!open) this.refusing.add(i);
      else if (this.refusing.has(i)) {
        this.stop();
        this.opts.onLife(i);
        return;
      } else this.candidates.delete(i);
    }
    if (this.candidates.size === 0) return;
    const wait = this.opts.intervalMs * (0.75 + 0.5 * Math.random());
    this.timer = setTimeout(() => void this.round(), wait);
    this.timer.unref();
  }
}
