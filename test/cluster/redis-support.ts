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
import { createLogger } from '@events-proxy/runtime';
import { freePort, randomId } from '../support/processes.js';
import { REDIS_URL } from '../support/services.js';
import { waitUntil } from '../support/wait.js';

const run = promisify(execFile);

export const quietLogger = createLogger('silent');

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

  /** SIGTERM, and wait until it has exited. */
  async stop(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  }
}

/** A private Redis Cluster of three primaries (no replicas), stopped and deleted by stop(). */
export class PrivateRedisCluster {
  private constructor(
    readonly nodes: readonly PrivateRedis[],
    private readonly dir: string,
  ) {}

  static async start(): Promise<PrivateRedisCluster> {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'events-proxy-cluster-'));
    const nodes: PrivateRedis[] = [];
    try {
      for (let i = 0; i < 3; i++) {
        const args = ['--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${i}.conf`, '--dir', dir];
        nodes.push(await PrivateRedis.start([...args, '--cluster-node-timeout', '2000']));
      }
      const addresses = nodes.map((n) => `127.0.0.1:${n.port}`);
      await run('redis-cli', [
        '--cluster',
        'create',
        ...addresses,
        '--cluster-replicas',
        '0',
        '--cluster-yes',
      ]);
      await waitUntil(
        async () => (await Promise.all(nodes.map((n) => clusterOk(n.port)))).every(Boolean),
        'the private Redis Cluster to report cluster_state:ok',
        15_000,
      );
      return new PrivateRedisCluster(nodes, dir);
    } catch (err) {
      await Promise.all(nodes.map((n) => n.stop()));
      await rm(dir, { recursive: true, force: true });
      throw err;
    }
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.stop()));
    await rm(this.dir, { recursive: true, force: true });
  }
}

async function clusterOk(port: number): Promise<boolean> {
  const { stdout } = await run('redis-cli', ['-h', '127.0.0.1', '-p', String(port), 'cluster', 'info']);
  return stdout.includes('cluster_state:ok');
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
