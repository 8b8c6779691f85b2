/**
 * An edge and an ingest in this process, each on its own real drivers: the machine's Redis (one
 * KEY_PREFIX per run) and RabbitMQ (one shared queue per run), the edge on a free port and the ops
 * endpoints (/healthz, /readyz, /metrics) on another.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { createRedisDrivers, type Drivers } from '@events-proxy/cluster';
import { createEdge, loadEdgeConfig, type Edge, type EdgeConfig } from '@events-proxy/edge';
import { createIngest, loadIngestConfig, type Ingest, type IngestConfig } from '@events-proxy/ingest';
import { createLogger, startOpsServer, type OpsServer } from '@events-proxy/runtime';
import { AMQP_URL, REDIS_URL } from '../support/services.js';
import { waitUntil } from '../support/wait.js';

export interface LogLine {
  readonly level: string;
  readonly msg: string;
  readonly [field: string]: unknown;
}

export interface RealProxy {
  readonly edge: Edge;
  readonly ingest: Ingest;
  readonly config: EdgeConfig;
  readonly ingestConfig: IngestConfig;
  readonly registry: Registry;
  readonly port: number;
  readonly opsPort: number;
  /** Every log line of both roles so far. */
  readonly logs: LogLine[];
  /** A client of the same Redis, for inspecting keys under the prefix. */
  readonly redis: Redis;
  /** Every Redis key under this run's KEY_PREFIX. */
  keys(): Promise<string[]>;
  stop(): Promise<void>;
}

export async function startRealProxy(env: Record<string, string> = {}): Promise<RealProxy> {
  const id = randomBytes(5).toString('hex');
  const base = {
    AMQP_URL,
    REDIS_URL,
    KEY_PREFIX: `test-hostile-${id}:`,
    AMQP_QUEUE: `queue/guest/test-hostile-${id}`,
    PING_INTERVAL_SECONDS: '60',
    ...env,
  };
  const config = loadEdgeConfig(base);
  const ingestConfig = loadIngestConfig(base);
  const logs: LogLine[] = [];
  const logger = createLogger('info', {}, (line) => logs.push(JSON.parse(line) as LogLine));
  const registry = new Registry();
  const driversOf = (role: string): Drivers =>
    createRedisDrivers({
      url: REDIS_URL,
      keyPrefix: config.keyPrefix,
      bus: config.busDriver,
      logger: logger.child({ role }),
    });
  const edgeDrivers = driversOf('edge');
  const ingestDrivers = driversOf('ingest');
  const ingest = createIngest({
    config: ingestConfig,
    ...ingestDrivers,
    logger: logger.child({ role: 'ingest' }),
    registry,
  });
  const edge = createEdge({ config, ...edgeDrivers, logger: logger.child({ role: 'edge' }), registry });
  await ingest.start();
  const { port } = await edge.listen(0);
  const ops: OpsServer = await startOpsServer({
    port: 0,
    host: '127.0.0.1',
    registry,
    checks: [...ingest.readiness(), ...edge.readiness()],
  });
  const ready = () => [...ingest.readiness(), ...edge.readiness()].every((c) => c.ok());
  await waitUntil(ready, 'the ingest and edge to be ready (Redis and RabbitMQ connected)', 15_000);
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 2 });
  const keys = async (): Promise<string[]> => {
    const found: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await redis.scan(cursor, 'MATCH', `${config.keyPrefix}*`, 'COUNT', 1000);
      found.push(...batch);
      cursor = next;
    } while (cursor !== '0');
    return found.sort();
  };
  return {
    edge,
    ingest,
    config,
    ingestConfig,
    registry,
    port,
    opsPort: ops.port,
    logs,
    redis,
    keys,
    async stop() {
      await edge.close();
      await ingest.stop();
      await ops.close();
      await edgeDrivers.close();
      await ingestDrivers.close();
      const leftover = await keys();
      if (leftover.length > 0) await redis.del(...leftover);
      redis.disconnect();
    },
  };
}
