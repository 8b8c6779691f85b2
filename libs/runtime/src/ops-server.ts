import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { registerProcessGuardMetrics } from './lifecycle.js';

export interface ReadinessCheck {
  /** Name shown in the /readyz body, e.g. `redis`, `amqp`, `draining`. */
  readonly name: string;
  readonly ok: () => boolean;
}

export interface OpsServer {
  readonly port: number;
  close(): Promise<void>;
}

/**
 * The operations endpoints on METRICS_PORT: `/metrics` (Prometheus), `/healthz` (the process is
 * alive: stays 200 through a dependency outage, so Kubernetes does not restart a pod that is
 * waiting for Redis) and `/readyz` (200 only when every check passes).
 */
export async function startOpsServer(opts: {
  port: number;
  host?: string;
  registry: Registry;
  checks: readonly ReadinessCheck[];
}): Promise<OpsServer> {
  registerProcessGuardMetrics(opts.registry);
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/metrics') {
      opts.registry.metrics().then(
        (body) => {
          res.writeHead(200, { 'Content-Type': opts.registry.contentType });
          res.end(body);
        },
        (err: Error) => {
          res.writeHead(500, { 'Content-Type': 'text/plain' });
          res.end(`metrics failed: ${err.message}\n`);
        },
      );
    } else if (path === '/healthz') {
      json(res, 200, { alive: true });
    } else if (path === '/readyz') {
      const checks = Object.fromEntries(opts.checks.map((c) => [c.name, c.ok()]));
      const ready = Object.values(checks).every(Boolean);
      json(res, ready ? 200 : 503, { ready, checks });
    } else {
      json(res, 404, { error: 'Not found: try /metrics, /healthz or /readyz' });
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host ?? '0.0.0.0', () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function json(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify(body));
}
