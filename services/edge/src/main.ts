/**
 * The edge role (`npm run start:edge`): serves clients' SSE streams from the Redis bus, asking the
 * ingest tier (over the BullMQ bind queue) to bind what they need.
 */
import { createDriversFor, createProcessRegistry } from '@events-proxy/cluster';
import {
  createLogger,
  guardProcess,
  redisTargetSummary,
  runService,
  startOpsServer,
  stopOnSignals,
} from '@events-proxy/runtime';
import { loadEdgeConfig } from './config.js';
import { createEdge } from './edge.js';

async function main(): Promise<void> {
  // Requires one of REDIS_URL, REDIS_CLUSTER_NODES and REDIS_SENTINELS, so the drivers are Redis-backed.
  const config = loadEdgeConfig(process.env);
  const logger = createLogger(config.logLevel, { service: 'events-proxy', role: 'edge' });
  guardProcess(logger);
  logger.info('starting', {
    keyPrefix: config.keyPrefix,
    busDriver: config.busDriver,
    redis: redisTargetSummary(config),
    maxConnections: config.maxConnections,
    allowedExchangePrefixes: config.allowedExchangePrefixes,
    auth: config.auth.mode,
    clientLimits: config.clientLimits,
  });

  const drivers = createDriversFor(config, logger, { clientLeaseMs: config.clientLimits.clientLeaseMs });
  const registry = createProcessRegistry(drivers);
  const edge = createEdge({ config, ...drivers, logger, registry });
  const { port } = await edge.listen(config.port);
  const ops = await startOpsServer({ port: config.metricsPort, registry, checks: edge.readiness() });
  const inspector = config.inspectorEnabled ? `; inspector at http://localhost:${port}/` : '';
  logger.info(`edge running${inspector}`, { port, metricsPort: ops.port });

  stopOnSignals(logger, async () => {
    await edge.drain();
    await edge.close();
    await ops.close();
    await drivers.close();
  });
}

runService('edge', main);
