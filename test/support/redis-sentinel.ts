/**
 * A private Redis Sentinel group for tests: a master, replicas (`--replicaof`) and sentinels
 * (`redis-server <conf> --sentinel`, each with its own conf file in a temp dir, since a sentinel
 * rewrites it), all on free private ports and stopped by pid. Never the machine's own Redis.
 *
 * Settings as docs/operations.md describes them: `sentinel resolve-hostnames no`, quorum 2,
 * down-after 2000 ms, failover-timeout 10000 ms. Optionally one password for every data node and
 * sentinel (as Bitnami's chart does).
 *
 * Every process started here is also killed when the test process exits (SIGCONT first, for a
 * node a test froze with SIGSTOP), so a failed or interrupted run leaves nothing behind.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './processes.js';
import { waitUntil } from './wait.js';

const run = promisify(execFile);

export const DEFAULT_MASTER_NAME = 'events-proxy';

const started = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of started) {
    if (child.exitCode !== null || child.signalCode !== null) continue;
    try {
      child.kill('SIGCONT');
      child.kill('SIGKILL');
    } catch {
      // gone already
    }
  }
});

/** One redis-server process (a data node or a sentinel) of the group. */
export class SentinelGroupNode {
  private child: ChildProcess;
  private frozenNow = false;

  constructor(
    readonly port: number,
    readonly kind: 'data' | 'sentinel',
    private readonly args: readonly string[],
  ) {
    this.child = this.spawn();
  }

  private spawn(): ChildProcess {
    const child = spawn('redis-server', [...this.args], { stdio: 'ignore' });
    started.add(child);
    child.once('exit', () => started.delete(child));
    return child;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  get frozen(): boolean {
    return this.frozenNow && this.running;
  }

  /** SIGSTOP: the process keeps its sockets open and answers nothing (a black-holed node). */
  freeze(): void {
    this.child.kill('SIGSTOP');
    this.frozenNow = true;
  }

  /** SIGCONT after freeze(). */
  thaw(): void {
    if (!this.frozenNow) return;
    this.frozenNow = false;
    if (this.running) this.child.kill('SIGCONT');
  }

  /** Sends `signal` (SIGTERM by default; SIGKILL for a dead node) and waits until it has exited. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const child = this.child;
    if (!this.running) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    if (this.frozenNow) this.thaw();
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }

  /** Starts the same process again (same port, same arguments). */
  async restart(): Promise<void> {
    if (this.running) throw new Error(`redis-server on ${this.port} is still running`);
    this.child = this.spawn();
    await waitUntil(() => this.answers(), `redis-server on port ${this.port}`, 10_000);
  }

  /** Runs a redis-cli command against this process; rejects when it cannot. */
  async cli(password: string | undefined, ...args: string[]): Promise<string> {
    const auth = password === undefined ? [] : ['--no-auth-warning', '-a', password];
    const { stdout } = await run(
      'redis-cli',
      ['-h', '127.0.0.1', '-p', String(this.port), ...auth, ...args],
      { timeout: 2000 },
    );
    return stdout;
  }

  async answers(password?: string): Promise<boolean> {
    try {
      return (await this.cli(password, 'ping')).trim() === 'PONG';
    } catch {
      return false;
    }
  }
}

export interface SentinelGroupOptions {
  /** The monitored master's name (REDIS_SENTINEL_MASTER); default `events-proxy`. */
  readonly masterName?: string;
  /** Replicas of the master (default 2). */
  readonly replicas?: number;
  /** Sentinels (default 3; quorum 2). */
  readonly sentinels?: number;
  /** One password for every data node and every sentinel (requirepass, masterauth, auth-pass). */
  readonly password?: string;
  /** The sentinels' own password, when it differs from `password`. */
  readonly sentinelPassword?: string;
}

export interface MasterAddress {
  readonly host: string;
  readonly port: number;
}

/** A master, its replicas and the sentinels watching them, on private ports. */
export class PrivateSentinelGroup {
  private constructor(
    readonly masterName: string,
    readonly dataNodes: readonly SentinelGroupNode[],
    readonly sentinels: readonly SentinelGroupNode[],
    readonly password: string | undefined,
    readonly sentinelPassword: string | undefined,
    private readonly dir: string,
  ) {}

  static async start(opts: SentinelGroupOptions = {}): Promise<PrivateSentinelGroup> {
    const masterName = opts.masterName ?? DEFAULT_MASTER_NAME;
    const password = opts.password;
    const sentinelPassword = opts.sentinelPassword ?? password;
    const dir = await mkdtemp(path.join(os.tmpdir(), 'events-proxy-sentinel-'));
    const dataNodes: SentinelGroupNode[] = [];
    const sentinels: SentinelGroupNode[] = [];
    const group = new PrivateSentinelGroup(masterName, dataNodes, sentinels, password, sentinelPassword, dir);
    try {
      const auth = password === undefined ? [] : ['--requirepass', password, '--masterauth', password];
      const dataArgs = (port: number) => [
        ...['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
        ...['--dir', dir, '--dbfilename', `dump-${port}.rdb`],
        // A replica's first sync starts at once, not after Redis's default 5 s wait for others.
        ...['--repl-diskless-sync-delay', '0'],
        ...auth,
      ];
      const masterPort = await freePort();
      dataNodes.push(new SentinelGroupNode(masterPort, 'data', dataArgs(masterPort)));
      await waitUntil(() => dataNodes[0]!.answers(password), `master on ${masterPort}`, 10_000);
      for (let i = 0; i < (opts.replicas ?? 2); i++) {
        const port = await freePort();
        const args = [...dataArgs(port), '--replicaof', '127.0.0.1', String(masterPort)];
        const node = new SentinelGroupNode(port, 'data', args);
        dataNodes.push(node);
        await waitUntil(() => node.answers(password), `replica on ${port}`, 10_000);
      }
      for (let i = 0; i < (opts.sentinels ?? 3); i++) {
        const port = await freePort();
        const conf = path.join(dir, `sentinel-${port}.conf`);
        const lines = [
          `port ${port}`,
          'bind 127.0.0.1',
          `dir ${dir}`,
          'sentinel resolve-hostnames no',
          `sentinel monitor ${masterName} 127.0.0.1 ${masterPort} 2`,
          `sentinel down-after-milliseconds ${masterName} 2000`,
          `sentinel failover-timeout ${masterName} 10000`,
          `sentinel parallel-syncs ${masterName} 1`,
          ...(password === undefined ? [] : [`sentinel auth-pass ${masterName} ${password}`]),
          ...(sentinelPassword === undefined
            ? []
            : [`requirepass ${sentinelPassword}`, `sentinel sentinel-pass ${sentinelPassword}`]),
        ];
        await writeFile(conf, lines.join('\n') + '\n');
        const node = new SentinelGroupNode(port, 'sentinel', [conf, '--sentinel']);
        sentinels.push(node);
        await waitUntil(() => node.answers(sentinelPassword), `sentinel on ${port}`, 10_000);
      }
      await group.waitAgreed(30_000);
      return group;
    } catch (err) {
      await group.stop();
      throw err;
    }
  }

  /** REDIS_SENTINELS in its plain form: `127.0.0.1:P1,127.0.0.1:P2,…`. */
  get addresses(): string {
    return this.sentinels.map((s) => `127.0.0.1:${s.port}`).join(',');
  }

  /** REDIS_SENTINELS as `redis://[:password@]127.0.0.1:P,…` URLs (the group's one password in each). */
  get urls(): string {
    const auth = this.password === undefined ? '' : `:${encodeURIComponent(this.password)}@`;
    return this.sentinels.map((s) => `redis://${auth}127.0.0.1:${s.port}`).join(',');
  }

  /** The master each running, unfrozen sentinel names now (undefined where one cannot answer). */
  async mastersSeen(): Promise<(MasterAddress | undefined)[]> {
    return Promise.all(
      this.sentinels
        .filter((s) => s.running && !s.frozen)
        .map(async (s) => {
          try {
            const out = await s.cli(
              this.sentinelPassword,
              'sentinel',
              'get-master-addr-by-name',
              this.masterName,
            );
            const [host, port] = out.trim().split('\n');
            return host && port ? { host, port: Number(port) } : undefined;
          } catch {
            return undefined;
          }
        }),
    );
  }

  /** The data node the sentinels agree is the master now. */
  async master(): Promise<SentinelGroupNode> {
    const seen = await this.mastersSeen();
    const ports = new Set(seen.map((m) => m?.port));
    const port = seen[0]?.port;
    const node = this.dataNodes.find((n) => n.port === port);
    if (ports.size !== 1 || node === undefined) {
      throw new Error(`the sentinels do not agree on a master: ${JSON.stringify(seen)}`);
    }
    return node;
  }

  /**
   * Waits until every running sentinel names the same master, that node says it is a master with
   * every other running data node linked to it and in sync, and each sentinel knows the others.
   */
  async waitAgreed(timeoutMs: number): Promise<SentinelGroupNode> {
    let agreed: SentinelGroupNode | undefined;
    await waitUntil(
      async () => {
        agreed = await this.agreedMaster();
        return agreed !== undefined;
      },
      `the sentinels of ${this.masterName} to agree on a master with its replicas and each other`,
      timeoutMs,
    );
    return agreed!;
  }

  /** Waits until the sentinels agree on a master other than `previous`; returns it. */
  async waitPromoted(previous: SentinelGroupNode, timeoutMs: number): Promise<SentinelGroupNode> {
    let promoted: SentinelGroupNode | undefined;
    await waitUntil(
      async () => {
        const seen = await this.mastersSeen();
        const port = seen[0]?.port;
        if (port === undefined || port === previous.port) return false;
        if (!seen.every((m) => m?.port === port)) return false;
        const node = this.dataNodes.find((n) => n.port === port);
        if (!node) return false;
        const role = await node.cli(this.password, 'role').catch(() => '');
        promoted = role.startsWith('master') ? node : undefined;
        return promoted !== undefined;
      },
      `a replica promoted in place of the master on ${previous.port}`,
      timeoutMs,
    );
    return promoted!;
  }

  private async agreedMaster(): Promise<SentinelGroupNode | undefined> {
    let master: SentinelGroupNode;
    try {
      master = await this.master();
    } catch {
      return undefined;
    }
    const others = this.dataNodes.filter((n) => n !== master && n.running && !n.frozen);
    const replication = await master.cli(this.password, 'info', 'replication').catch(() => '');
    if (!replication.includes('role:master')) return undefined;
    if (!replication.includes(`connected_slaves:${others.length}`)) return undefined;
    // In sync, not merely connected: a replica still waiting for its first full copy, promoted,
    // would start from an empty dataset (the history lost: an honest `gap`, not what these tests
    // look at). A production group fails over long after its replicas synced.
    const states = [...replication.matchAll(/^slave\d+:.*\bstate=(\w+)/gm)].map((m) => m[1]);
    if (states.length !== others.length || states.some((state) => state !== 'online')) return undefined;
    const live = this.sentinels.filter((s) => s.running && !s.frozen);
    for (const s of live) {
      const info = await s.cli(this.sentinelPassword, 'sentinel', 'master', this.masterName).catch(() => '');
      const fields = info.trim().split('\n');
      const value = (name: string) => fields[fields.indexOf(name) + 1];
      if (!fields.includes('num-other-sentinels')) return undefined;
      if (Number(value('num-other-sentinels')) < this.sentinels.length - 1) return undefined;
      if (Number(value('num-slaves')) < others.length) return undefined;
      if (value('flags') !== 'master') return undefined;
    }
    return master;
  }

  /** Stops every process (thawing frozen ones first) and deletes the temp dir. */
  async stop(): Promise<void> {
    await Promise.all([...this.sentinels, ...this.dataNodes].map((n) => n.stop('SIGKILL')));
    await rm(this.dir, { recursive: true, force: true });
  }
}
