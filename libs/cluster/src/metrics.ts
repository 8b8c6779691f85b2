import { Counter, Gauge, type Registry } from 'prom-client';
import type { LinkDropCounts } from './redis/link-health.js';

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

/**
 * `events_redis_link_drops_total{connection}`: Redis links this process dropped because they went
 * silent (no reply to a PING within REDIS_HEALTH_TIMEOUT_SECONDS), by connection kind.
 */
export function registerLinkDropCounter(registry: Registry, counts: LinkDropCounts): void {
  const reported = new Map<string, number>();
  new Counter({
    name: 'events_redis_link_drops_total',
    help: 'Redis links dropped and reconnected because they went silent, by connection kind.',
    labelNames: ['connection'],
    registers: [registry],
    collect() {
      for (const [connection, n] of counts.snapshot()) {
        const delta = n - (reported.get(connection) ?? 0);
        if (delta > 0) this.inc({ connection }, delta);
        reported.set(connection, n);
      }
    },
  });
}
