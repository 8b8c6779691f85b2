/**
 * A loopback TCP proxy that puts a faulty network link between one of our processes and Redis or
 * RabbitMQ, switchable at any time: silent (a partition, a lost node), reset, or refusing.
 *
 * Silence is the fault that matters and the one a plain proxy cannot show: a silenced connection
 * stops reading and stops writing on both of its sockets (both paused, nothing forwarded) and is
 * never ended or destroyed, so neither side sees a FIN or an RST. That is what a partition or a
 * node gone without a word looks like. Seen on these machines: ioredis never notices it by itself
 * (no command timeout by default), amqplib with a 10 s heartbeat only after about 26 s.
 * Bytes sent into a silent link stay where they are (the kernel's buffers, then the paused
 * socket's), in order: a link that is resumed forwards them as they were sent, then whatever
 * ended meanwhile (a FIN is held like data). What was already handed to a socket before the
 * silence may still be flushed: bytes already on the wire arrive.
 *
 * A silenced connection is either partitioned, and `heal()` lets it flow again (as TCP recovers
 * when a partition heals), or lost, and it stays silent until `reset()` or `close()` (the node
 * behind it was replaced: nothing will ever answer on it). A side whose socket failed or was reset
 * while its link was silent is only seen by the other side when the link resumes, as a reset (as
 * the peer's host would answer a segment for a connection it no longer has); a side that merely
 * ended has its end forwarded after its bytes.
 *
 * Loopback only: it listens on 127.0.0.1 and forwards only to a loopback address, as the rules of
 * these machines require.
 */
import net from 'node:net';
import type { AddressInfo } from 'node:net';

/** What happens to new connections. */
export type FaultMode = 'pass' | 'blackhole' | 'refuse';

export interface FaultProxyTarget {
  /** A loopback address: 127.x.x.x, ::1 or localhost (taken as 127.0.0.1). */
  readonly host: string;
  readonly port: number;
}

export interface FaultProxyOptions {
  /** The mode new connections start in (default 'pass'). */
  readonly mode?: FaultMode;
}

export interface FaultProxyStats {
  /** What happens to new connections now. */
  readonly mode: FaultMode;
  /** Connections accepted since the start, refused ones included. */
  readonly accepted: number;
  /** Connections held now: at least one of their two sockets is open. */
  readonly open: number;
  /** Of those, the ones silent now (partitioned or lost). */
  readonly silenced: number;
  /** Of the silent ones, those `heal()` will not resume. */
  readonly lost: number;
  /** Connections reset as they arrived, while refusing. */
  readonly refused: number;
  /** Connections reset by `reset()`. */
  readonly reset: number;
}

type LinkState = 'passing' | 'partitioned' | 'lost';

/** One proxied connection: the client's socket, and the upstream one once it is connected. */
interface Link {
  readonly client: net.Socket;
  upstream: net.Socket | undefined;
  state: LinkState;
}

const LOOPBACK = /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|::1|localhost)$/;

export class FaultProxy {
  private readonly links = new Set<Link>();
  private newMode: FaultMode;
  private accepted = 0;
  private refused = 0;
  private resets = 0;

  private constructor(
    private readonly server: net.Server,
    private readonly target: { host: string; port: number },
    opts: FaultProxyOptions,
  ) {
    this.newMode = opts.mode ?? 'pass';
    server.on('connection', (client) => this.accept(client));
  }

  /** Listens on 127.0.0.1 on a free port, forwarding to `target` (which must be on loopback). */
  static async start(target: FaultProxyTarget, opts: FaultProxyOptions = {}): Promise<FaultProxy> {
    if (!LOOPBACK.test(target.host)) {
      throw new Error(`fault proxy: target ${target.host} is not a loopback address`);
    }
    const host = target.host === 'localhost' ? '127.0.0.1' : target.host;
    // Half-open allowed on both sides: an end is forwarded one way while the other keeps flowing.
    const server = net.createServer({ noDelay: true, allowHalfOpen: true });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', () => undefined);
    return new FaultProxy(server, { host, port: target.port }, opts);
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** `<scheme>://127.0.0.1:<port>`. */
  url(scheme = 'redis'): string {
    return `${scheme}://127.0.0.1:${this.port}`;
  }

  /** `url` (e.g. AMQP_URL, with its credentials, vhost and query) pointed at this proxy. */
  rewrite(url: string): string {
    const u = new URL(url);
    u.hostname = '127.0.0.1';
    u.port = String(this.port);
    return u.toString();
  }

  get mode(): FaultMode {
    return this.newMode;
  }

  /**
   * A partition: every open connection goes silent both ways, and new ones are accepted (the
   * kernel completes the handshake on loopback anyway) but lead nowhere: nothing is connected
   * upstream and nothing they send is read. `heal()` lets them all flow.
   */
  blackhole(): void {
    this.newMode = 'blackhole';
    for (const link of this.links) if (link.state === 'passing') this.silence(link, 'partitioned');
  }

  /**
   * A node replaced behind a Service: the connections open now go silent for good (`heal()` does
   * not bring them back), new ones pass.
   */
  stallExisting(): void {
    this.newMode = 'pass';
    for (const link of this.links) this.silence(link, 'lost');
  }

  /** Resets every open connection, silent ones too, on both sides (RST); new ones pass. */
  reset(): void {
    this.newMode = 'pass';
    for (const link of this.links) {
      this.resets++;
      this.links.delete(link);
      resetSocket(link.client);
      if (link.upstream) resetSocket(link.upstream);
    }
  }

  /** New connections are reset as soon as they are accepted; open ones carry on as they are. */
  refuse(): void {
    this.newMode = 'refuse';
  }

  /**
   * New connections pass again, and (unless `resumeSilenced` is false) the partitioned ones flow
   * again: what was sent into them meanwhile is forwarded, in order. Lost ones stay silent.
   */
  heal(opts: { resumeSilenced?: boolean } = {}): void {
    this.newMode = 'pass';
    if (opts.resumeSilenced === false) {
      this.dropSilenced();
      return;
    }
    for (const link of this.links) if (link.state === 'partitioned') this.resume(link);
  }

  /**
   * The silent connections become lost: `heal()` will not resume them. They stay open and silent
   * (closing them would send a FIN or an RST) until `reset()` or `close()`.
   */
  dropSilenced(): void {
    for (const link of this.links) if (link.state === 'partitioned') link.state = 'lost';
  }

  stats(): FaultProxyStats {
    let silenced = 0;
    let lost = 0;
    for (const link of this.links) {
      if (link.state !== 'passing') silenced++;
      if (link.state === 'lost') lost++;
    }
    return {
      mode: this.newMode,
      accepted: this.accepted,
      open: this.links.size,
      silenced,
      lost,
      refused: this.refused,
      reset: this.resets,
    };
  }

  /** Stops listening and destroys every socket, silent ones included. */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const link of this.links) {
      link.client.destroy();
      link.upstream?.destroy();
    }
    this.links.clear();
    await closed;
  }

  private accept(client: net.Socket): void {
    this.accepted++;
    client.on('error', () => undefined);
    if (this.newMode === 'refuse') {
      this.refused++;
      client.resetAndDestroy();
      return;
    }
    const link: Link = { client, upstream: undefined, state: 'passing' };
    this.links.add(link);
    client.on('close', () => this.sideClosed(link));
    if (this.newMode === 'blackhole') {
      // Nothing read, nothing connected: connecting upstream waits for the heal.
      client.pause();
      link.state = 'partitioned';
      return;
    }
    this.connect(link);
  }

  /** Connects upstream and forwards both ways; a failure to connect resets the client. */
  private connect(link: Link): void {
    const upstream = net.connect({
      host: this.target.host,
      port: this.target.port,
      noDelay: true,
      allowHalfOpen: true,
    });
    link.upstream = upstream;
    upstream.on('error', () => undefined);
    upstream.on('close', () => this.sideClosed(link));
    forward(link, link.client, upstream);
    forward(link, upstream, link.client);
    // A client accepted into a blackhole was paused before it had a reader.
    link.client.resume();
  }

  private silence(link: Link, state: 'partitioned' | 'lost'): void {
    link.state = state;
    link.client.pause();
    link.upstream?.pause();
  }

  /** A partitioned link flows again; a side that closed meanwhile is a reset to the other. */
  private resume(link: Link): void {
    link.state = 'passing';
    if (link.upstream === undefined) {
      this.connect(link);
      return;
    }
    if (link.client.destroyed || link.upstream.destroyed) {
      this.sideClosed(link);
      return;
    }
    // A side whose peer needs a drain is resumed by that drain (see forward).
    if (!link.upstream.writableNeedDrain) link.client.resume();
    if (!link.client.writableNeedDrain) link.upstream.resume();
  }

  /**
   * One side closed. On a passing link the other side is closed the way this one was: a reset if
   * this one was reset or failed, else after what is in flight (the end was forwarded already).
   * On a silent link nothing is passed on until it resumes.
   */
  private sideClosed(link: Link): void {
    if (!this.links.has(link)) return;
    const { client, upstream } = link;
    if (client.destroyed && (upstream === undefined || upstream.destroyed)) {
      this.links.delete(link);
      return;
    }
    if (link.state !== 'passing' || upstream === undefined) return;
    const [gone, other] = client.destroyed ? [client, upstream] : [upstream, client];
    if (!gone.destroyed) return;
    // Closed after its ends both ways were forwarded: the other side ends by itself.
    if (gone.errored || !gone.readableEnded) resetSocket(other);
  }
}

/**
 * Forwards `from` to `to` with backpressure, while the link passes: a silenced link's sockets
 * are paused, and its drains resume nothing. An end is forwarded as an end.
 */
function forward(link: Link, from: net.Socket, to: net.Socket): void {
  from.on('data', (chunk: Buffer) => {
    if (!to.write(chunk)) from.pause();
  });
  to.on('drain', () => {
    if (link.state === 'passing') from.resume();
  });
  from.on('end', () => to.end());
}

/** An RST to the peer, unless the socket is gone already. */
function resetSocket(socket: net.Socket): void {
  // On a socket still connecting, resetAndDestroy() resets once it has connected.
  if (!socket.destroyed) socket.resetAndDestroy();
}
