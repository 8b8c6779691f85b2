import { Gauge, type Registry } from 'prom-client';

interface Connectable {
  isConnected(): boolean;
}

/**
 * `events_redis_connected`: 1 while every Redis-backed driver of this process is connected.
 * Registered by each process's composition root, once, whichever roles it runs.
 */
export function registerRedisGauge(registry: Registry, drivers: Record<string, Connectable | unknown>): void {
  const parts = Object.values(drivers).filter(
    (d): d is Connectable => typeof (d as Connectable | undefined)?.isConnected === 'function',
  );
  new Gauge({
    name: 'events_redis_connected',
    help: '1 while the connections to Redis (bus, leases, bind queue) are up, else 0.',
    registers: [registry],
    collect() {
      this.set(parts.every((p) => p.isConnected()) ? 1 : 0);
    },
  });
}
