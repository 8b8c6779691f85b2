/**
 * The edge's composition root as a real process (run from source through tsx): bad configuration
 * exits 1 with the problems on stderr; with Redis it serves, reports readiness, and on SIGTERM
 * drains (every open stream gets an error event) and exits 0.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { expect } from 'chai';
import { Redis } from 'ioredis';
import { errorFrame } from '@events-proxy/protocol';
import { REDIS_URL, needRedis } from '../support/services.js';
import { freePort, randomId } from '../support/processes.js';
import { waitUntil } from '../support/wait.js';
import { RawResponse } from './raw-http.js';

interface Run {
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  output(): string;
}

function runMain(env: Record<string, string>): Run {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', '--conditions=events-proxy-source', 'services/edge/src/main.ts'],
    {
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, exited, output: () => out };
}

describe('edge: main', function () {
  this.timeout(30_000);
  const running: Run[] = [];

  after(() => {
    for (const r of running) if (r.child.exitCode === null) r.child.kill('SIGKILL');
  });

  it('exits 1 listing every configuration problem', async () => {
    const run = runMain({ PORT: 'eighty', MAX_CONNECTIONS: '0' });
    running.push(run);
    expect(await run.exited).to.equal(1);
    expect(run.output()).to.include('Invalid configuration');
    expect(run.output()).to.include('REDIS_URL is required');
    expect(run.output()).to.include('PORT=');
    expect(run.output()).to.include('MAX_CONNECTIONS=');
  });

  it('serves, is ready, and on SIGTERM closes open streams with an error event and exits 0', async () => {
    await needRedis();
    const keyPrefix = `test-${randomId()}:`;
    const port = await freePort();
    const metricsPort = await freePort();
    const run = runMain({
      REDIS_URL,
      KEY_PREFIX: keyPrefix,
      PORT: String(port),
      METRICS_PORT: String(metricsPort),
      BIND_TIMEOUT_SECONDS: '60',
      DRAIN_SECONDS: '0.2',
    });
    running.push(run);
    const redis = new Redis(REDIS_URL);
    try {
      await waitUntil(() => run.output().includes('"edge running'), 'the edge to start', 15_000);
      expect(run.output(), 'the start line names the page').to.include(
        `"edge running; inspector at http://localhost:${port}/"`,
      );
      // Readiness follows the Redis connections, which may come up just after the listener.
      let ready = await fetch(`http://127.0.0.1:${metricsPort}/readyz`);
      await waitUntil(
        async () => (ready = await fetch(`http://127.0.0.1:${metricsPort}/readyz`)).status === 200,
        '/readyz to answer 200',
        10_000,
      );
      expect(await ready.json()).to.deep.equal({ ready: true, checks: { redis: true, draining: true } });
      const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
      for (const name of ['events_edge_connections', 'events_redis_connected', 'process_cpu_seconds_total']) {
        expect(metrics).to.include(`# TYPE ${name} `);
      }

      // No ingest is running, so this stream waits for its binding until the drain ends it.
      const bindings = JSON.stringify({
        bindings: [{ exchange: 'exchange/test/main', routingKeyPattern: '#' }],
      });
      const stream = await RawResponse.open(
        `http://127.0.0.1:${port}/v1/connect?bindings=${encodeURIComponent(bindings)}`,
      );
      expect(stream.status).to.equal(200);
      await waitUntil(
        async () =>
          /^events_edge_connections 1$/m.test(
            await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text(),
          ),
        'the edge to count the connection',
        5_000,
      );

      run.child.kill('SIGTERM');
      await stream.waitEnd(10_000);
      expect(stream.body).to.equal(errorFrame('Server is shutting down; please reconnect'));
      expect(await run.exited).to.equal(0);
      const closed = run
        .output()
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .find((l) => l.msg === 'connection closed');
      expect(closed).to.include({ reason: 'shutdown', role: 'edge' });
      expect(closed).to.have.property('conn').that.is.a('string');
      expect(closed).to.have.property('durationMs').that.is.a('number');
    } finally {
      const keys = await redis.keys(`${keyPrefix}*`);
      if (keys.length > 0) await redis.del(...keys);
      redis.disconnect();
    }
  });
});
