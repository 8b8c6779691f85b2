/**
 * A RabbitMQ node of our own (ENVIRONMENT.md): started on free ports from its own directory, so a
 * test may stop and restart it without touching the machine's broker. Restarting with the same
 * directory keeps durable exchanges, queues and bindings.
 */
import { execFile, spawn } from 'node:child_process';
import { chown, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { brokerBindings } from '../support/broker.js';
import { freePort } from '../support/processes.js';
import { waitUntil } from '../support/wait.js';
import { randomName } from './support.js';

const run = promisify(execFile);

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

export class PrivateRabbit {
  private constructor(
    private readonly dir: string,
    readonly node: string,
    readonly port: number,
    private readonly distPort: number,
  ) {}

  static async create(): Promise<PrivateRabbit> {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'ingest-rabbit-'));
    const rabbit = new PrivateRabbit(
      dir,
      `ingest-test-${randomName()}@localhost`,
      await freePort(),
      await freePort(),
    );
    await mkdir(path.join(dir, 'mnesia'));
    await mkdir(path.join(dir, 'log'));
    await writeFile(path.join(dir, 'enabled_plugins'), '[].\n');
    await writeFile(path.join(dir, 'rabbitmq.conf'), `listeners.tcp.local = 127.0.0.1:${rabbit.port}\n`);
    const { stdout } = await run('id', ['-u', 'rabbitmq']);
    const { stdout: gid } = await run('id', ['-g', 'rabbitmq']);
    for (const p of ['', 'mnesia', 'log', 'enabled_plugins', 'rabbitmq.conf']) {
      await chown(path.join(dir, p), Number(stdout.trim()), Number(gid.trim()));
    }
    return rabbit;
  }

  get url(): string {
    return `amqp://guest:guest@127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const child = spawn('rabbitmq-server', [], {
      env: {
        ...process.env,
        RABBITMQ_CONFIG_FILE: path.join(this.dir, 'rabbitmq.conf'),
        RABBITMQ_NODENAME: this.node,
        RABBITMQ_DIST_PORT: String(this.distPort),
        RABBITMQ_MNESIA_BASE: path.join(this.dir, 'mnesia'),
        RABBITMQ_LOG_BASE: path.join(this.dir, 'log'),
        RABBITMQ_ENABLED_PLUGINS_FILE: path.join(this.dir, 'enabled_plugins'),
      },
      stdio: 'ignore',
      detached: true,
    });
    child.unref();
    await waitUntil(() => portOpen(this.port), `the private RabbitMQ on port ${this.port}`, 30_000);
  }

  async stop(): Promise<void> {
    await run('rabbitmqctl', ['-n', this.node, 'shutdown']).catch(() => undefined);
    await waitUntil(async () => !(await portOpen(this.port)), 'the private RabbitMQ to stop', 15_000);
  }

  /** Stops the node (if running) and deletes its directory. */
  async destroy(): Promise<void> {
    await this.stop();
    await rm(this.dir, { recursive: true, force: true });
  }

  /** The routing keys bound from `exchange` to `queue` on this node. */
  async bindings(exchange: string, queue: string): Promise<string[]> {
    return brokerBindings(exchange, queue, this.node);
  }
}
