/**
 * The edge role (`npm run start:edge`): serves clients' SSE streams from the Redis bus, asking the
 * ingest tier (over the BullMQ bind queue) to bind what they need.
 */
import { collectDefaultMetrics, Registry } from 'prom-client';
import { createRedisDrivers, registerRedisGauge } from '@events-proxy/cluster';
import { createLogger, guardProcess, runService, startOpsServer, stopOnSignals } from '@events-proxy/runtime';
import { loadEdgeConfig } from './config.js';
import { createEdge } from './edge.js';

async function main(): Promise<void> {
  const config = loadEdgeConfig(process.env);
  const logger = createLogger(config.logLevel, { service: 'events-proxy', role: 'edge' });
  guardProcess(logger);
  logger.info('starting', {
    keyPrefix: config.keyPrefix,
    busDriver: config.busDriver,
    redis: config.redisClusterNodes ? { clusterNodes: config.redisClusterNodes.length } : 'standalone',
    maxConnections: config.maxConnections,
    allowedExchangePrefixes: config.allowedExchangePrefixes,
  });

  // loadEdgeConfig requires REDIS_URL or REDIS_CLUSTER_NODES (and never both).
  const drivers = createRedisDrivers({
    url: config.redisUrl,
    clusterNodes: config.redisClusterNodes,
    keyPrefix: config.keyPrefix,
    bus: config.busDriver,
    logger,
  });
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  registerRedisGauge(registry, drivers);

  const edge = createEdge({ config, ...drivers, logger, registry });
  const { port } = await edge.listen(config.port);
  const ops = await startOpsServer({ port: config.metricsPort, registry, checks: edge.readiness() });
  logger.info('edge running', { port, metricsPort: ops.port });

  stopOnSignals(logger, async () => {
    await edge.drain();
    await edge.close();
    await ops.close();
    await drivers.close();
  });
}

runService('edge', main);
