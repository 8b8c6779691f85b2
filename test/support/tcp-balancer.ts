/**
 * A TCP load balancer for tests, like a Kubernetes Service in front of edge pods: each new
 * connection goes to the next backend, round robin, among those marked up (or, with the
 * `least-connections` policy, to the one with the fewest open connections, as HAProxy's
 * `leastconn` or kube-proxy's IPVS `lc` do); the test marks a
 * backend down when it kills or drains it (as Kubernetes takes a pod that is not ready out of a
 * Service's endpoints). Bytes are piped both ways untouched.
 *
 * A connection the balancer cannot serve fails the way a client can see: with no backend up it is
 * reset at once; when its backend refuses or resets, so is the client's side, and when the backend
 * closes, the client's side is closed too. An EventSource retries after all of these.
 *
 * Every connection is kept in `routed` (which backend, from which client port, bytes each way,
 * when it opened and closed), so a test can tell which backend a client's stream is on.
 */
import net from 'node:net';
import type { AddressInfo } from 'node:net';

export interface RoutedConnection {
  readonly id: number;
  /** The backend's name, or undefined when no backend was up. */
  readonly backend: string | undefined;
  /** The client's port (its side of the connection to the balancer). */
  readonly clientPort: number;
  readonly openedAt: number;
  /**
   * When the client first sent bytes on it. HTTP clients open sockets ahead of use (undici opens
   * new ones as it aborts streams): a request may start long after its connection opened.
   */
  firstSentAt: number | undefined;
  closedAt: number | undefined;
  /** Why it ended other than by a clean close from either side (e.g. `ECONNREFUSED`). */
  failure: string | undefined;
  bytesToBackend: number;
  bytesToClient: number;
}

interface Backend {
  readonly name: string;
  readonly port: number;
  up: boolean;
  /** Connections routed to it and still open. */
  open: number;
}

/** How a new connection picks among the backends that are up. */
export const BALANCE_POLICIES = ['round-robin', 'least-connections'] as const;
export type BalancePolicy = (typeof BALANCE_POLICIES)[number];

export class TcpBalancer {
  /** Every connection accepted, in order. */
  readonly routed: RoutedConnection[] = [];
  private readonly backends: Backend[] = [];
  private readonly sockets = new Set<net.Socket>();
  private next = 0;
  private closed = false;
  private readonly followers: Promise<void>[] = [];

  private constructor(
    private readonly server: net.Server,
    private readonly policy: BalancePolicy,
  ) {
    server.on('connection', (client) => this.route(client));
  }

  static async start(policy: BalancePolicy = 'round-robin'): Promise<TcpBalancer> {
    const server = net.createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    return new TcpBalancer(server, policy);
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** `http://127.0.0.1:<port>`. */
  get base(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Adds a backend on 127.0.0.1:`port`, up. */
  add(name: string, port: number): void {
    if (this.backends.some((b) => b.name === name)) throw new Error(`backend ${name} already added`);
    this.backends.push({ name, port, up: true, open: 0 });
  }

  /**
   * Follows a backend's readiness as a Kubernetes Service does: polls its `/readyz` every
   * `intervalMs` and marks it up while it answers 200, down otherwise, until close().
   */
  followReadiness(name: string, readyzUrl: string, intervalMs = 100): void {
    const poll = async (): Promise<void> => {
      while (!this.closed && this.backends.some((b) => b.name === name)) {
        let ready: boolean;
        try {
          const res = await fetch(readyzUrl, { signal: AbortSignal.timeout(1000) });
          ready = res.status === 200;
          await res.arrayBuffer();
        } catch {
          ready = false;
        }
        if (this.closed) return;
        if (ready) this.markUp(name);
        else this.markDown(name);
        await new Promise((resolve) => setTimeout(resolve, intervalMs));
      }
    };
    this.followers.push(poll());
  }

  markDown(name: string): void {
    this.backend(name).up = false;
  }

  markUp(name: string): void {
    this.backend(name).up = true;
  }

  /** Names of the backends marked up. */
  get up(): string[] {
    return this.backends.filter((b) => b.up).map((b) => b.name);
  }

  /** Connections still open. */
  open(): RoutedConnection[] {
    return this.routed.filter((c) => c.closedAt === undefined);
  }

  /** Connections to `backend` on which the client sent something at or after `since` (Date.now()). */
  usedSince(backend: string, since = 0): RoutedConnection[] {
    return this.routed.filter((c) => c.backend === backend && (c.firstSentAt ?? -1) >= since);
  }

  /** Open connections carrying a response whose client first sent at or after `since`. */
  streamsSince(since: number): RoutedConnection[] {
    return this.open().filter((c) => c.bytesToClient > 0 && (c.firstSentAt ?? -1) >= since);
  }

  /**
   * The backend of the one open connection that is carrying a response (bytes came back from the
   * backend): where a lone streaming client is. Throws unless there is exactly one such connection
   * (an idle or preconnected socket has carried nothing back and does not count).
   */
  streamingBackend(): string {
    const streaming = this.open().filter((c) => c.bytesToClient > 0 && c.backend !== undefined);
    if (streaming.length !== 1) {
      throw new Error(
        `expected one open connection carrying a response, found ${streaming.length}: ${JSON.stringify(this.open())}`,
      );
    }
    return streaming[0]!.backend!;
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.followers);
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const s of this.sockets) s.destroy();
    await closed;
  }

  private backend(name: string): Backend {
    const b = this.backends.find((x) => x.name === name);
    if (b === undefined) throw new Error(`no backend ${name}`);
    return b;
  }

  /** The backend marked up that the policy picks (ties round robin), or undefined when none is. */
  private pick(): Backend | undefined {
    if (this.policy === 'least-connections') {
      let best: Backend | undefined;
      for (let i = 0; i < this.backends.length; i++) {
        const b = this.backends[(this.next + i) % this.backends.length]!;
        if (b.up && (best === undefined || b.open < best.open)) best = b;
      }
      this.next = (this.next + 1) % Math.max(1, this.backends.length);
      return best;
    }
    for (let i = 0; i < this.backends.length; i++) {
      const b = this.backends[(this.next + i) % this.backends.length]!;
      if (b.up) {
        this.next = (this.next + i + 1) % this.backends.length;
        return b;
      }
    }
    return undefined;
  }

  private route(client: net.Socket): void {
    const target = this.pick();
    const conn: RoutedConnection = {
      id: this.routed.length + 1,
      backend: target?.name,
      clientPort: client.remotePort ?? 0,
      openedAt: Date.now(),
      firstSentAt: undefined,
      closedAt: undefined,
      failure: undefined,
      bytesToBackend: 0,
      bytesToClient: 0,
    };
    this.routed.push(conn);
    this.sockets.add(client);
    if (target !== undefined) target.open++;
    client.once('close', () => {
      conn.closedAt ??= Date.now();
      this.sockets.delete(client);
      if (target !== undefined) target.open--;
    });
    if (target === undefined) {
      conn.failure = 'no backend up';
      client.on('error', () => undefined);
      client.resetAndDestroy();
      return;
    }
    const upstream = net.connect({ host: '127.0.0.1', port: target.port });
    this.sockets.add(upstream);
    upstream.once('close', () => this.sockets.delete(upstream));
    upstream.setNoDelay(true);
    client.setNoDelay(true);
    client.on('data', (d: Buffer) => {
      conn.firstSentAt ??= Date.now();
      conn.bytesToBackend += d.length;
    });
    upstream.on('data', (d: Buffer) => (conn.bytesToClient += d.length));
    // A clean end on either side ends the other after what is in flight (pipe's end()).
    client.pipe(upstream);
    upstream.pipe(client);
    upstream.on('error', (err: NodeJS.ErrnoException) => {
      conn.failure ??= err.code ?? err.message;
      // A backend that refused or reset: the client sees a reset too, not a clean end.
      if (!client.destroyed) client.resetAndDestroy();
    });
    client.on('error', (err: NodeJS.ErrnoException) => {
      conn.failure ??= `client ${err.code ?? err.message}`;
      upstream.destroy();
    });
  }
}
