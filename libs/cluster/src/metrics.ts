import { Gauge, type Registry } from 'prom-client';

/**
 * `events_redis_connected`: 1 while every Redis-backed driver of this process is connected
 * (`Drivers.isConnected`, the same function the readiness checks use). Registered by each
 * process's composition root, once, whichever roles it runs.
 */
export function registerRedisGauge(registry: Registry, isConnected: () => boolean): void {
  new Gauge({
    name: 'events_redis_connected',
    help: '1 while the connections to Redis (bus, leases, bind queue) are up, else 0.',
    registers: [registry],
    collect() {
      this.set(isConnected() ? 1 : 0);
    },
  });
}
