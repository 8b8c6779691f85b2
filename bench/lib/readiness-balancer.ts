/**
 * A loopback TCP balancer in front of the edges that follows each edge's /readyz, as a Kubernetes
 * Service does (new connections round robin to the ready edges; open ones never move): the test
 * suites' TcpBalancer, run in a process of its own (readiness-balancer-main.ts) so that the bytes
 * of every stream it forwards do not share the harness's event loop.
 */
import path from 'node:path';
import { spawnChild, type Child } from './children.js';
import { JsonLines } from './json-lines.js';
import type { BalancePolicy } from '../../test/support/tcp-balancer.js';
import { BENCH_DIR, ROOT } from './paths.js';

export interface BalancerStats {
  readonly routed: number;
  /** Open connections per backend now. */
  readonly open: Readonly<Record<string, number>>;
  /** Connections routed to each backend since the start. */
  readonly routedTo: Readonly<Record<string, number>>;
  /** Connections whose backend failed (refused or reset); connections reset for want of a ready backend. */
  readonly failed: number;
  readonly noBackend: number;
  /** Connections by why they failed (`ECONNREFUSED`, `client ECONNRESET`, `no backend up`, …). */
  readonly failures: Readonly<Record<string, number>>;
  readonly up: readonly string[];
  /** When each backend went out of (up: false) and back into rotation (ms since the epoch). */
  readonly transitions: readonly { name: string; up: boolean; at: number }[];
}

type Line = { port: number } | { stats: BalancerStats };

export class ReadinessBalancer {
  private constructor(
    readonly child: Child,
    readonly port: number,
    private readonly lines: JsonLines<Line>,
  ) {}

  static async start(
    backends: readonly { name: string; port: number; readyzUrl: string }[],
    pollMs: number,
    policy: BalancePolicy = 'round-robin',
  ): Promise<ReadinessBalancer> {
    const entry = path.join(BENCH_DIR, 'lib', 'readiness-balancer-main.ts');
    const child = spawnChild(
      'balancer',
      process.execPath,
      ['--import', 'tsx', entry, JSON.stringify({ backends, pollMs, policy })],
      { cwd: ROOT, stdinPipe: true },
    );
    const lines = new JsonLines<Line>(child);
    const first = await lines.next((l) => 'port' in l, 0, 30_000, 'its port');
    return new ReadinessBalancer(child, (first as { port: number }).port, lines);
  }

  get pid(): number {
    return this.child.pid;
  }

  async stats(): Promise<BalancerStats> {
    const from = this.lines.lines.length;
    this.child.process.stdin!.write('s\n');
    const line = await this.lines.next((l) => 'stats' in l, from, 10_000, 'its stats');
    return (line as { stats: BalancerStats }).stats;
  }

  async stop(): Promise<void> {
    if (this.child.isRunning()) this.child.process.stdin!.end();
    await Promise.race([this.child.exited, new Promise((r) => setTimeout(r, 5000))]);
    await this.child.stop('SIGTERM', 2000);
  }
}
