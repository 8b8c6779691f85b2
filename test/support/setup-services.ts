/**
 * Loaded by mocha before any test file (.mocharc.json `require`): decides where RabbitMQ and Redis
 * come from (test/support/service-decision.ts) and, where that is Docker, starts the pinned images
 * with testcontainers once for the whole run and exports AMQP_URL / REDIS_URL, which the test files
 * (test/support/services.ts) and the processes they spawn then read. Given or local services are
 * used as they are, and nothing is printed.
 */
import { execFile } from 'node:child_process';
import type { StartedTestContainer } from 'testcontainers';
import { reachable } from './net-probe.js';
import { IMAGES, decideServices } from './service-decision.js';

/** `docker info` exits 0; without the docker command, testcontainers' own look for a runtime. */
async function dockerAvailable(): Promise<boolean> {
  const viaCli = await new Promise<boolean | undefined>((resolve) => {
    execFile('docker', ['info'], { timeout: 15_000 }, (err) => {
      if (!err) resolve(true);
      else resolve((err as NodeJS.ErrnoException).code === 'ENOENT' ? undefined : false);
    });
  });
  if (viaCli !== undefined) return viaCli;
  try {
    const { getContainerRuntimeClient } = await import('testcontainers');
    await getContainerRuntimeClient();
    return true;
  } catch {
    return false;
  }
}

const started: StartedTestContainer[] = [];

async function start(image: string, port: number, readyLog: string): Promise<StartedTestContainer> {
  const { GenericContainer, Wait } = await import('testcontainers');
  const container = await new GenericContainer(image)
    .withExposedPorts(port)
    .withWaitStrategy(Wait.forLogMessage(readyLog))
    .withStartupTimeout(120_000)
    .start();
  started.push(container);
  return container;
}

const decision = await decideServices({ env: process.env, reachable, dockerAvailable });

if (decision.rabbit.source === 'docker') {
  const c = await start(IMAGES.rabbit, 5672, 'Server startup complete');
  process.env.AMQP_URL = `amqp://guest:guest@${c.getHost()}:${c.getMappedPort(5672)}`;
  console.error(
    `tests: RabbitMQ from ${IMAGES.rabbit} (testcontainers) at ${c.getHost()}:${c.getMappedPort(5672)}`,
  );
}
if (decision.redis.source === 'docker') {
  const c = await start(IMAGES.redis, 6379, 'Ready to accept connections');
  process.env.REDIS_URL = `redis://${c.getHost()}:${c.getMappedPort(6379)}`;
  console.error(
    `tests: Redis from ${IMAGES.redis} (testcontainers) at ${c.getHost()}:${c.getMappedPort(6379)}`,
  );
}

/** Mocha calls this once after the whole run. */
export async function mochaGlobalTeardown(): Promise<void> {
  await Promise.all(started.splice(0).map((c) => c.stop()));
}
