/**
 * Single-node mode (`npm start`): the ingest and edge roles in one process. With none of REDIS_URL,
 * REDIS_CLUSTER_NODES and REDIS_SENTINELS the bus, lease store, bind queue and binding changes are
 * the in-memory drivers, so a laptop needs only RabbitMQ; with one it uses Redis exactly as the
 * cluster does.
 */
import { createDriversFor, createProcessRegistry } from '@events-proxy/cluster';
import { createEdge, loadEdgeConfig } from '@events-proxy/edge';
import { createIngest, loadIngestConfig } from '@events-proxy/ingest';
import {
  createLogger,
  guardProcess,
  runService,
  startOpsServer,
  stopOnSignals,
  type CommonConfig,
} from '@events-proxy/runtime';

async function main(): Promise<void> {
  const edgeConfig = loadEdgeConfig(process.env, { requireRedis: false });
  const ingestConfig = loadIngestConfig(process.env, { requireRedis: false });
  const logger = createLogger(edgeConfig.logLevel, { service: 'events-proxy', role: 'single-node' });
  guardProcess(logger);

  const drivers = createDriversFor(edgeConfig, logger, {
    clientLeaseMs: edgeConfig.clientLimits.clientLeaseMs,
  });
  logger.info(
    drivers.usesRedis
      ? `using ${redisKind(edgeConfig)} for the bus and control plane`
      : 'using in-memory bus and control plane (no REDIS_URL, REDIS_CLUSTER_NODES nor REDIS_SENTINELS)',
  );
  const registry = createProcessRegistry(drivers);
  const ingest = createIngest({
    config: ingestConfig,
    ...drivers,
    logger: logger.child({ role: 'ingest' }),
    registry,
  });
  const edge = createEdge({
    config: edgeConfig,
    ...drivers,
    logger: logger.child({ role: 'edge' }),
    registry,
  });
  await ingest.start();
  const { port } = await edge.listen(edgeConfig.port);
  const ops = await startOpsServer({
    port: edgeConfig.metricsPort,
    registry,
    checks: [...ingest.readiness(), ...edge.readiness()],
  });
  const inspector = edgeConfig.inspectorEnabled ? `; inspector at http://localhost:${port}/` : '';
  logger.info(`single-node events proxy listening${inspector}`, {
    url: `http://localhost:${port}/api/events/v1/connect/`,
    metricsPort: ops.port,
  });

  stopOnSignals(logger, async () => {
    await edge.drain();
    await ingest.stop();
    await edge.close();
    await ops.close();
    await drivers.close();
  });
}

function redisKind(config: CommonConfig): string {
  if (config.redisClusterNodes) return 'a Redis Cluster';
  return config.redisSentinel ? 'Redis Sentinel' : 'Redis';
}

runService('events-proxy', main);
