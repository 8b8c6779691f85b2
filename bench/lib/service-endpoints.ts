/**
 * The load balancer in front of the edges, as a Kubernetes Service with kube-proxy behaves: new
 * connections go round robin to the endpoints that are ready, and an edge leaves the list when it
 * starts terminating (its open streams are not touched: the edge ends them itself). An edge joins the
 * list once its readiness probe passes.
 *
 * It lives in the C clients (load-balancer mode, `--endpoints`): each client process picks the next
 * ready endpoint for every new connection, and this class pushes the list to every process. So there
 * is no proxy hop adding latency, CPU or a second socket per connection (a node:net proxy would hold
 * 2 × 11,000 sockets, past the 20,000 a process may open here), and connections are placed exactly as
 * an iptables Service places them: at connect time, never moved afterwards.
 */
import type { ClientGroup } from './sse-clients.js';

export class ServiceEndpoints {
  private ports: number[];

  constructor(
    private readonly groups: readonly ClientGroup[],
    ports: readonly number[],
  ) {
    this.ports = [...ports];
  }

  get ready(): readonly number[] {
    return this.ports;
  }

  /** Takes `port` out of rotation; resolves once every client process has applied it. */
  async remove(port: number): Promise<void> {
    this.ports = this.ports.filter((p) => p !== port);
    await this.push();
  }

  /** Puts `port` into rotation; resolves once every client process has applied it. */
  async add(port: number): Promise<void> {
    if (!this.ports.includes(port)) this.ports.push(port);
    await this.push();
  }

  private async push(): Promise<void> {
    await Promise.all(this.groups.map((g) => g.setEndpoints(this.ports)));
  }
}
