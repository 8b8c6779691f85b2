import { Redis, type RedisOptions } from 'ioredis';
import { errorText } from '@events-proxy/runtime';
import type { DriverLogger } from './client.js';
import { RepeatFilter } from './repeat-filter.js';

/** The sentinels' announcement that a group's master moved: `<name> <old ip> <old port> <new ip> <new port>`. */
const SWITCH_MASTER = '+switch-master';

/** What a watch needs of the connections' options (the Sentinel part of them). */
export interface SentinelWatchOptions {
  readonly sentinels: readonly { readonly host: string; readonly port: number }[];
  readonly name: string;
  readonly sentinelUsername?: string;
  readonly sentinelPassword?: string;
  readonly sentinelTLS?: RedisOptions['tls'];
  readonly retryStrategy: (attempt: number) => number;
}

/**
 * Moves this process's connections to a Sentinel group's new master as soon as the sentinels
 * announce it (`+switch-master`), instead of when the old master drops them. A master that is
 * still alive after a graceful fail-over (SENTINEL FAILOVER, a rolling update) keeps answering,
 * as a master, until the sentinels reconfigure it about ten seconds later, and what is written
 * to it meanwhile is lost when it resyncs as a replica; a frozen one keeps its links silent until
 * the health watch gives up on them. Each watched connection that is linked to another node than
 * the announced master has its socket destroyed: ioredis reconnects, asks the sentinels, and
 * reaches the new master. (Not ioredis's own `failoverDetector`: that one subscribes per
 * connection, and ends a connection for good when it fires while the connection is still asking
 * the sentinels.)
 *
 * One watch per group and process, shared by all its connections (BullMQ's duplicates included),
 * with one subscriber per sentinel so a lost sentinel does not blind it; closed with the last
 * connection.
 */
export class SentinelWatch {
  private readonly clients = new Set<Redis>();
  private readonly subscribers: Redis[];
  private readonly errors = new RepeatFilter(10_000);
  private master = '';
  private closed = false;

  private constructor(
    private readonly key: string,
    private readonly options: SentinelWatchOptions,
    private readonly logger: DriverLogger,
  ) {
    this.subscribers = options.sentinels.map((s) => this.subscribe(s.host, s.port));
  }

  /** Watches `client` (and every duplicate made of it) with the group's one watch. */
  static follow(client: Redis, options: SentinelWatchOptions, logger: DriverLogger): void {
    const key = JSON.stringify([options.name, options.sentinels, options.sentinelUsername ?? '']);
    let watch = watches.get(key);
    if (watch === undefined || watch.closed) {
      watch = new SentinelWatch(key, options, logger);
      watches.set(key, watch);
    }
    watch.add(client);
  }

  private add(client: Redis): void {
    this.clients.add(client);
    client.once('end', () => {
      this.clients.delete(client);
      if (this.clients.size === 0) this.close();
    });
    const duplicate = client.duplicate.bind(client);
    client.duplicate = (override?: Partial<RedisOptions>) => {
      const copy = duplicate(override);
      if (!this.closed) this.add(copy);
      return copy;
    };
  }

  private subscribe(host: string, port: number): Redis {
    const o = this.options;
    const sub = new Redis({
      host,
      port,
      ...(o.sentinelUsername !== undefined ? { username: o.sentinelUsername } : {}),
      ...(o.sentinelPassword !== undefined ? { password: o.sentinelPassword } : {}),
      ...(o.sentinelTLS !== undefined ? { tls: o.sentinelTLS } : {}),
      retryStrategy: o.retryStrategy,
      // A sentinel has no INFO keyspace to wait for.
      enableReadyCheck: false,
      maxRetriesPerRequest: null,
      autoResubscribe: true,
    });
    sub.on('error', (err: Error) => {
      const suppressed = this.errors.pass(err.message);
      if (suppressed === undefined) return;
      this.logger.debug('redis sentinel watch error', {
        component: 'redis',
        sentinel: `${host}:${port}`,
        error: err.message,
        repeatsSuppressed: suppressed,
      });
    });
    sub.on('message', (channel: string, message: string) => {
      if (channel === SWITCH_MASTER) this.switched(message);
    });
    sub.subscribe(SWITCH_MASTER).catch((err: unknown) => {
      // Only when closed before it connected; a reconnect subscribes again by itself.
      if (!this.closed)
        this.logger.debug('redis sentinel watch: subscribe failed', { error: errorText(err) });
    });
    return sub;
  }

  private switched(message: string): void {
    const [name, oldHost, oldPort, host, port] = message.split(' ');
    if (name !== this.options.name || host === undefined || port === undefined) return;
    const master = `${host}:${port}`;
    // Every sentinel announces the same switch.
    if (master === this.master) return;
    this.master = master;
    let moved = 0;
    for (const client of this.clients) {
      if (client.status !== 'ready' && client.status !== 'connect') continue;
      const stream = client.stream;
      if (sameNode(stream?.remoteAddress, stream?.remotePort, host, Number(port))) continue;
      stream?.destroy();
      moved++;
    }
    this.logger.warn('redis sentinel: master switched; moving connections to the new master', {
      component: 'redis',
      master: this.options.name,
      from: `${oldHost ?? ''}:${oldPort ?? ''}`,
      to: master,
      connectionsMoved: moved,
    });
  }

  private close(): void {
    this.closed = true;
    if (watches.get(this.key) === this) watches.delete(this.key);
    for (const sub of this.subscribers) sub.disconnect();
  }
}

const watches = new Map<string, SentinelWatch>();

function sameNode(
  address: string | undefined,
  port: number | undefined,
  host: string,
  want: number,
): boolean {
  if (address === undefined || port !== want) return false;
  return address.replace(/^::ffff:/, '') === host.replace(/^::ffff:/, '');
}
