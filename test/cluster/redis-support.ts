/**
 * Redis helpers for the cluster suites: unique key prefixes and their cleanup, private
 * redis-server processes (to stop and restart without touching the machine's own), and a
 * private 3-node Redis Cluster.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import {
  RedisBindingChangeFeed,
  connectTarget,
  type DriverLogger,
  type RedisTarget,
} from '@events-proxy/cluster';
import { names } from '@events-proxy/protocol';
import { createLogger } from '@events-proxy/runtime';
import { freePort, randomId } from '../support/processes.js';
import { REDIS_URL } from '../support/services.js';
import { waitUntil } from '../support/wait.js';

const run = promisify(execFile);

export const quietLogger = createLogger('silent');

/** A Redis binding change feed of the installation `keyPrefix`, sharded on a Redis Cluster. */
export function redisChangeFeed(
  target: RedisTarget,
  keyPrefix: string,
  logger: DriverLogger = quietLogger,
): RedisBindingChangeFeed {
  const connect = (role: string, maxRetriesPerRequest: number | null) =>
    connectTarget(target, { name: `test-changes-${role}`, logger, maxRetriesPerRequest });
  return new RedisBindingChangeFeed({
    connect: () => ({ publisher: connect('pub', 2), subscriber: connect('sub', null) }),
    channel: names(keyPrefix).bindingChanges,
    sharded: 'clusterNodes' in target,
    logger,
  });
}

/** A key prefix no other suite or run uses. */
export function testPrefix(): string {
  return `test-${randomId()}:`;
}

/** Deletes every key under the prefix (and only those), on the machine's Redis. */
export async function flushPrefix(prefix: string, url = REDIS_URL): Promise<void> {
  const redis = new Redis(url, { lazyConnect: true });
  await redis.connect();
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${globEscape(prefix)}*`, 'COUNT', 1000);
      if (keys.length > 0) await redis.del(...keys);
      cursor = next;
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

/**
 * Deletes every key under the prefix on every node of a private Redis Cluster (each node holds the
 * keys of its own slots; the private cluster has no replicas), as a Redis Cluster restarted empty has none.
 */
export async function flushClusterPrefix(cluster: PrivateRedisCluster, prefix: string): Promise<void> {
  for (const node of cluster.nodes) {
    const direct = new Redis({ host: '127.0.0.1', port: node.port });
    try {
      let cursor = '0';
      do {
        const [next, keys] = await direct.scan(cursor, 'MATCH', `${globEscape(prefix)}*`, 'COUNT', 1000);
        // One DEL per key: a node refuses a DEL of keys in different slots (CROSSSLOT).
        for (const key of keys) await direct.del(key);
        cursor = next;
      } while (cursor !== '0');
    } finally {
      direct.disconnect();
    }
  }
}

function globEscape(s: string): string {
  return s.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}

async function pings(port: number): Promise<boolean> {
  try {
    const { stdout } = await run('redis-cli', ['-h', '127.0.0.1', '-p', String(port), 'ping']);
    return stdout.trim() === 'PONG';
  } catch {
    return false;
  }
}

/** A redis-server of our own on a free port, which tests may stop and start again. */
export class PrivateRedis {
  private child: ChildProcess | undefined;

  private constructor(
    readonly port: number,
    private readonly extraArgs: readonly string[],
  ) {}

  static async start(extraArgs: readonly string[] = []): Promise<PrivateRedis> {
    const server = new PrivateRedis(await freePort(), extraArgs);
    await server.start();
    return server;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'];
    this.child = spawn('redis-server', [...args, ...this.extraArgs], { stdio: 'ignore' });
    await waitUntil(() => pings(this.port), `redis-server on port ${this.port}`, 10_000);
  }

  get running(): boolean {
    const child = this.child;
    return child !== undefined && child.exitCode === null && child.signalCode === null;
  }

  /** SIGTERM (or the signal given), and wait until it has exited. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill(signal);
    await exited;
  }
}

export interface PrivateRedisClusterOptions {
  /** Primaries (default 3). */
  readonly primaries?: number;
  /** Replicas of each primary (default 0). */
  readonly replicas?: number;
}

/** A private Redis Cluster (3 primaries, no replicas by default), stopped and deleted by stop(). */
export class PrivateRedisCluster {
  private constructor(
    readonly nodes: readonly PrivateRedis[],
    private readonly dir: string,
  ) {}

  static async start(opts: PrivateRedisClusterOptions = {}): Promise<PrivateRedisCluster> {
    const primaries = opts.primaries ?? 3;
    const replicas = opts.replicas ?? 0;
    const dir = await mkdtemp(path.join(os.tmpdir(), 'events-proxy-cluster-'));
    const nodes: PrivateRedis[] = [];
    try {
      for (let i = 0; i < primaries * (1 + replicas); i++) {
        const args = [
          ...['--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${i}.conf`, '--dir', dir],
          ...['--cluster-node-timeout', '2000', '--cluster-port', String(await freePort())],
        ];
        nodes.push(await PrivateRedis.start(args));
      }
      const addresses = nodes.map((n) => `127.0.0.1:${n.port}`);
      const create = ['--cluster', 'create', ...addresses, '--cluster-replicas', String(replicas)];
      await run('redis-cli', [...create, '--cluster-yes']);
      const cluster = new PrivateRedisCluster(nodes, dir);
      await cluster.waitHealthy(30_000);
      return cluster;
    } catch (err) {
      await Promise.all(nodes.map((n) => n.stop()));
      await rm(dir, { recursive: true, force: true });
      throw err;
    }
  }

  /** Seed URLs, as REDIS_CLUSTER_NODES takes them. */
  get urls(): string[] {
    return this.nodes.map((n) => n.url);
  }

  /** Waits until every running node reports cluster_state:ok and every replica's link is up. */
  async waitHealthy(timeoutMs: number): Promise<void> {
    await waitUntil(
      async () => {
        const running = this.nodes.filter((n) => n.running);
        const states = await Promise.all(running.map((n) => nodeHealthy(n.port)));
        return states.every(Boolean);
      },
      'the private Redis Cluster to report cluster_state:ok with every replica linked',
      timeoutMs,
    );
  }

  /** The running node that is primary for the hash slot of `key` (a channel or a key). */
  async primaryOf(key: string): Promise<PrivateRedis> {
    const seed = this.nodes.find((n) => n.running)!;
    const slot = Number((await cli(seed.port, 'cluster', 'keyslot', key)).trim());
    const table = await cli(seed.port, 'cluster', 'nodes');
    for (const line of table.split('\n')) {
      const [, address, flags, , , , , , ...ranges] = line.split(' ');
      if (!flags?.includes('master') || flags.includes('fail')) continue;
      const owns = ranges.some((r) => {
        const [from, to] = r.split('-').map(Number);
        return slot >= from! && slot <= (to ?? from)!;
      });
      const port = Number(address?.split('@')[0]?.split(':')[1]);
      const node = this.nodes.find((n) => n.port === port);
      if (owns && node) return node;
    }
    throw new Error(`no running primary owns slot ${slot} (of ${key})`);
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.stop()));
    await rm(this.dir, { recursive: true, force: true });
  }
}

let shared: Promise<PrivateRedisCluster> | undefined;

/**
 * One three-primary cluster for every contract suite of a run, started on first use and stopped
 * after the whole run (the root hook below), so the suites do not each pay its start-up.
 */
export function sharedRedisCluster(): Promise<PrivateRedisCluster> {
  shared ??= PrivateRedisCluster.start();
  return shared;
}

after(async () => {
  const cluster = await shared?.catch(() => undefined);
  shared = undefined;
  await cluster?.stop();
});

async function cli(port: number, ...args: string[]): Promise<string> {
  const { stdout } = await run('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args]);
  return stdout;
}

async function nodeHealthy(port: number): Promise<boolean> {
  try {
    if (!(await cli(port, 'cluster', 'info')).includes('cluster_state:ok')) return false;
    const replication = await cli(port, 'info', 'replication');
    return !replication.includes('role:slave') || replication.includes('master_link_status:up');
  } catch {
    return false;
  }
}

/** A promise with its resolve function, for steering concurrent code step by step. */
export function gate<T = void>(): { promise: Promise<T>; open: (value: T) => void } {
  let open!: (value: T) => void;
  const promise = new Promise<T>((resolve) => (open = resolve));
  return { promise, open };
}

/** Rejects with `what` if the promise has not settled within `ms` (instead of a bare mocha timeout). */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
