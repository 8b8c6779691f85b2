/**
 * The ingest role (`npm run start:ingest`): consumes RabbitMQ, publishes frames on Redis, handles
 * bind requests and reaps unused bindings.
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
import { redactAmqpUrls } from './amqp-url.js';
import { loadIngestConfig } from './config.js';
import { createIngest } from './ingest.js';

async function main(): Promise<void> {
  // Requires one of REDIS_URL, REDIS_CLUSTER_NODES and REDIS_SENTINELS, so the drivers are Redis-backed.
  const config = loadIngestConfig(process.env);
  const logger = createLogger(config.logLevel, { service: 'events-proxy', role: 'ingest' });
  guardProcess(logger);
  logger.info('starting', {
    amqp: redactAmqpUrls(config.amqpUrls),
    queue: config.queueName,
    keyPrefix: config.keyPrefix,
    redis: redisTargetSummary(config),
    bindingLeaseSeconds: config.bindingLeaseMs / 1000,
  });

  const drivers = createDriversFor(config, logger);
  const registry = createProcessRegistry(drivers);
  const ingest = createIngest({
    config,
    ...drivers,
    logger,
    registry,
  });
  await ingest.start();
  const ops = await startOpsServer({
    port: config.metricsPort,
    registry,
    checks: [{ name: 'redis', ok: drivers.isConnected }, ...ingest.readiness()],
  });
  logger.info('ingest running', { metricsPort: ops.port });

  stopOnSignals(logger, async () => {
    await ingest.stop();
    await ops.close();
    await drivers.close();
  });
}

runService('ingest', main);
