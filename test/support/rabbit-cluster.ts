/**
 * A private three-node RabbitMQ cluster for fault tests (ENVIRONMENT.md "Clusters on one machine"):
 * each node on its own free ports and directory, all with an Erlang cookie of their own (so they
 * cannot reach, or be reached from, the machine's broker), formed by classic peer discovery. Nodes
 * are stopped by node name and may be started again from the same directory, rejoining the cluster.
 * Start it once per suite; destroy() stops every node and removes every directory, even after a
 * failed start.
 */
import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PrivateRabbit } from '../ingest/private-rabbit.js';
import { freePort } from './processes.js';
import { waitUntil } from './wait.js';

export interface QueueReplicas {
  readonly type: string;
  /** Node name of the queue's leader. */
  readonly leader: string;
  readonly members: readonly string[];
  readonly online: readonly string[];
}

export class RabbitCluster {
  private constructor(
    private readonly dir: string,
    readonly nodes: readonly PrivateRabbit[],
  ) {}

  /** Creates and starts `size` nodes and waits until they run as one cluster. */
  static async start(size = 3, timeoutMs = 120_000): Promise<RabbitCluster> {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'rabbit-cluster-'));
    await chmod(dir, 0o755); // the nodes run as the rabbitmq user and must reach their directories
    const id = randomBytes(3).toString('hex');
    const cookie = `events-proxy-test-${randomBytes(12).toString('hex')}`;
    const names = Array.from({ length: size }, (_, i) => `c${id}n${i + 1}@localhost`);
    const config = [
      'cluster_formation.peer_discovery_backend = classic_config',
      ...names.map((n, i) => `cluster_formation.classic_config.nodes.${i + 1} = ${n}`),
    ];
    const nodes: PrivateRabbit[] = [];
    const cluster = new RabbitCluster(dir, nodes);
    try {
      for (const node of names) {
        nodes.push(
          await PrivateRabbit.create({
            node,
            cookie,
            config,
            parentDir: dir,
            port: await freePort(),
            distPort: await freePort(),
          }),
        );
      }
      for (const n of nodes) n.spawn();
      await cluster.awaitRunning(size, timeoutMs);
    } catch (err) {
      await cluster.destroy();
      throw err;
    }
    return cluster;
  }

  /** One AMQP URL per node, in node order. */
  get urls(): string[] {
    return this.nodes.map((n) => n.url);
  }

  /** The node with this AMQP port. */
  byPort(port: number): PrivateRabbit {
    const node = this.nodes.find((n) => n.port === port);
    if (!node) throw new Error(`no node of the cluster listens on ${port}`);
    return node;
  }

  byName(name: string): PrivateRabbit {
    const node = this.nodes.find((n) => n.node === name);
    if (!node) throw new Error(`no node of the cluster is called ${name}`);
    return node;
  }

  /** Waits until `count` nodes run in one cluster, as seen from any running node. */
  async awaitRunning(count: number, timeoutMs = 90_000): Promise<void> {
    await waitUntil(
      async () => {
        for (const n of this.nodes) {
          const running = await this.runningNodes(n).catch((): string[] => []);
          if (running.length >= count) return true;
        }
        return false;
      },
      `${count} RabbitMQ nodes running as one cluster`,
      timeoutMs,
    );
    // Every running node's AMQP listener is up too (a node joins the cluster before it listens).
    for (const n of this.nodes) {
      if ((await this.runningNodes(n).catch((): string[] => [])).includes(n.node)) {
        await waitUntil(() => n.isListening(), `${n.node} to listen`, timeoutMs);
      }
    }
  }

  /** Where a queue's replicas are, as `via` (a running node) sees it. */
  async queue(name: string, via: PrivateRabbit): Promise<QueueReplicas | undefined> {
    const stdout = await via.ctl([
      '-q',
      'list_queues',
      'name',
      'type',
      'leader',
      'members',
      'online',
      '--formatter',
      'json',
    ]);
    const rows = JSON.parse(stdout) as {
      name: string;
      type: string;
      leader: string;
      members: string[];
      online: string[];
    }[];
    const row = rows.find((r) => r.name === name);
    return row && { type: row.type, leader: row.leader, members: row.members, online: row.online };
  }

  /** Stops every node and deletes every directory. */
  async destroy(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.destroy().catch(() => undefined)));
    await rm(this.dir, { recursive: true, force: true });
  }

  private async runningNodes(via: PrivateRabbit): Promise<string[]> {
    const stdout = await via.ctl(['-q', 'cluster_status', '--formatter', 'json'], 10_000);
    return (JSON.parse(stdout) as { running_nodes?: string[] }).running_nodes ?? [];
  }
}
