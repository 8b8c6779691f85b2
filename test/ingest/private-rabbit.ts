/**
 * A RabbitMQ node of our own (ENVIRONMENT.md): started on free ports from its own directory, so a
 * test may stop and restart it without touching the machine's broker. Restarting with the same
 * directory keeps durable exchanges, queues and bindings. test/support/rabbit-cluster.ts forms a
 * cluster out of three of them.
 */
import { execFile, spawn } from 'node:child_process';
import { chmod, chown, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { LIST_BINDINGS_ARGS, bindingsIn } from '../support/broker.js';
import { freePort } from '../support/processes.js';
import { waitUntil } from '../support/wait.js';
import { randomName } from './support.js';

const run = promisify(execFile);

export function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

export interface PrivateRabbitOptions {
  /** The Erlang node name; a random `ingest-test-…@localhost` by default. */
  readonly node?: string;
  readonly port?: number;
  readonly distPort?: number;
  /** An Erlang cookie of its own, so the node cannot cluster with (or be reached from) any other. */
  readonly cookie?: string;
  /** More lines for rabbitmq.conf (e.g. cluster formation). */
  readonly config?: readonly string[];
  /** The parent of the node's directory (a new temp dir by default). */
  readonly parentDir?: string;
}

export class PrivateRabbit {
  private constructor(
    private readonly dir: string,
    readonly node: string,
    readonly port: number,
    private readonly distPort: number,
    private readonly cookie: string | undefined,
  ) {}

  static async create(opts: PrivateRabbitOptions = {}): Promise<PrivateRabbit> {
    const dir = await mkdtemp(path.join(opts.parentDir ?? os.tmpdir(), 'ingest-rabbit-'));
    const rabbit = new PrivateRabbit(
      dir,
      opts.node ?? `ingest-test-${randomName()}@localhost`,
      opts.port ?? (await freePort()),
      opts.distPort ?? (await freePort()),
      opts.cookie,
    );
    await mkdir(path.join(dir, 'mnesia'));
    await mkdir(path.join(dir, 'log'));
    await writeFile(path.join(dir, 'enabled_plugins'), '[].\n');
    const conf = [`listeners.tcp.local = 127.0.0.1:${rabbit.port}`, ...(opts.config ?? [])];
    await writeFile(path.join(dir, 'rabbitmq.conf'), conf.join('\n') + '\n');
    const { stdout } = await run('id', ['-u', 'rabbitmq']);
    const { stdout: gid } = await run('id', ['-g', 'rabbitmq']);
    await chmod(dir, 0o755);
    for (const p of ['', 'mnesia', 'log', 'enabled_plugins', 'rabbitmq.conf']) {
      await chown(path.join(dir, p), Number(stdout.trim()), Number(gid.trim()));
    }
    return rabbit;
  }

  get url(): string {
    return `amqp://guest:guest@127.0.0.1:${this.port}`;
  }

  /** Starts the node; resolves once its AMQP port accepts connections. */
  async start(timeoutMs = 30_000): Promise<void> {
    this.spawn();
    await waitUntil(() => portOpen(this.port), `the private RabbitMQ on port ${this.port}`, timeoutMs);
  }

  isListening(): Promise<boolean> {
    return portOpen(this.port);
  }

  /** Starts the node without waiting (nodes of a cluster are started together). */
  spawn(): void {
    const child = spawn('rabbitmq-server', [], {
      env: {
        ...process.env,
        RABBITMQ_CONFIG_FILE: path.join(this.dir, 'rabbitmq.conf'),
        RABBITMQ_NODENAME: this.node,
        RABBITMQ_DIST_PORT: String(this.distPort),
        RABBITMQ_MNESIA_BASE: path.join(this.dir, 'mnesia'),
        RABBITMQ_LOG_BASE: path.join(this.dir, 'log'),
        RABBITMQ_ENABLED_PLUGINS_FILE: path.join(this.dir, 'enabled_plugins'),
        ERL_CRASH_DUMP: path.join(this.dir, 'log', 'erl_crash.dump'),
        ...(this.cookie ? { RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS: `-setcookie ${this.cookie}` } : {}),
      },
      stdio: 'ignore',
      detached: true,
    });
    child.unref();
  }

  /** Runs `rabbitmqctl` against this node (with its cookie); resolves to its stdout. */
  async ctl(args: readonly string[], timeoutMs = 60_000): Promise<string> {
    const cookie = this.cookie ? ['--erlang-cookie', this.cookie] : [];
    const { stdout } = await run('rabbitmqctl', [...cookie, '-n', this.node, ...args], {
      timeout: timeoutMs,
      env: { ...process.env, RABBITMQ_CTL_DIST_PORT_MIN: '45700', RABBITMQ_CTL_DIST_PORT_MAX: '45799' },
    });
    return stdout;
  }

  async stop(): Promise<void> {
    await this.ctl(['shutdown']).catch(() => undefined);
    await waitUntil(async () => !(await portOpen(this.port)), 'the private RabbitMQ to stop', 15_000);
  }

  /** Stops the node (if running) and deletes its directory. */
  async destroy(): Promise<void> {
    await this.stop();
    await rm(this.dir, { recursive: true, force: true });
  }

  /** The routing keys bound from `exchange` to `queue` on this node. */
  async bindings(exchange: string, queue: string): Promise<string[]> {
    return bindingsIn(await this.ctl([...LIST_BINDINGS_ARGS]), exchange, queue);
  }
}
