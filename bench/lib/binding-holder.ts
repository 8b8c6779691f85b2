/**
 * Holds bindings the way an edge does (EdgeControlPlane: ensure, then renew the lease), for the
 * reference broadcaster, which has no control plane of its own: with it, the real ingest binds
 * the reference's patterns and feeds it the same Redis channels it feeds the edges.
 */
import { EdgeControlPlane, createRedisDrivers, type Drivers } from '@events-proxy/cluster';
import type { Binding } from '@events-proxy/protocol';
import { createLogger } from '@events-proxy/runtime';

/** Bind requests in flight at once while taking the holds. */
const IN_FLIGHT = 200;

export class BindingHolder {
  private readonly held: Binding[] = [];

  private constructor(
    private readonly drivers: Drivers,
    private readonly bindings: EdgeControlPlane,
  ) {}

  static open(redisUrl: string, keyPrefix: string, leaseMs: number): BindingHolder {
    const logger = createLogger('error', { service: 'bench', role: 'binding-holder' }, (line) =>
      process.stderr.write(line),
    );
    const drivers = createRedisDrivers({ url: redisUrl, keyPrefix, bus: 'redis', logger });
    const bindings = new EdgeControlPlane({ store: drivers.store, bindQueue: drivers.bindQueue, leaseMs });
    bindings.start();
    return new BindingHolder(drivers, bindings);
  }

  /** Resolves once every binding is on the broker and leased, and keeps renewing them. */
  async hold(list: readonly Binding[], timeoutMs = 120_000): Promise<void> {
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < list.length) {
        const b = list[next++]!;
        await this.bindings.ensure(b, timeoutMs);
        this.bindings.hold(b);
        this.held.push(b);
      }
    };
    await Promise.all(Array.from({ length: Math.min(IN_FLIGHT, list.length) }, worker));
  }

  async close(): Promise<void> {
    for (const b of this.held.splice(0)) this.bindings.release(b);
    this.bindings.stop();
    await this.drivers.close();
  }
}
