/**
 * Redis and the broker both down for 30 seconds under one ingest and two edges with open streams:
 * every process stays up and says "not ready" meanwhile, every stream stays open (pings go on),
 * and once both are back delivery resumes and no confirmed message is lost.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { PrivateRedis } from '../cluster/redis-support.js';
import { PrivateRabbit } from '../ingest/private-rabbit.js';
import { randomId, stopAll } from '../support/processes.js';
import {
  FaultScene,
  declareDurableExchange,
  duplicates,
  expectNoneLost,
  expectStreamOpen,
  report,
  waitAllReceived,
} from './support.js';

const OUTAGE_MS = 30_000;

describe('faults: Redis and RabbitMQ both down for 30 s', function () {
  this.timeout(180_000);
  const run = randomId();
  const exchange = `exchange/faults/${run}/both`;
  let rabbit: PrivateRabbit;
  let redis: PrivateRedis;
  let scene: FaultScene | undefined;

  before(async function () {
    this.timeout(60_000);
    redis = await PrivateRedis.start();
    rabbit = await PrivateRabbit.create();
    await rabbit.start();
    await declareDurableExchange(rabbit.url, exchange);
  });

  after(async function () {
    this.timeout(60_000);
    await scene?.stop();
    await stopAll();
    await rabbit?.destroy();
    await redis?.stop();
  });

  it('rides out the outage and resumes delivery', async () => {
    scene = await FaultScene.start({
      amqpUrl: rabbit.url,
      redisUrl: redis.url,
      exchange,
      // Streams ride out a whole-Redis outage only with the bus-loss grace off (by default an edge
      // without a bus for 5 s lets its clients go: test/faults/network.test.ts).
      env: {
        KEY_PREFIX: `faults-${run}:`,
        BINDING_LEASE_SECONDS: '10',
        PING_INTERVAL_SECONDS: '5',
        BUS_LOSS_GRACE_SECONDS: '0',
      },
    });
    const { publisher, streams } = scene;

    await Promise.all([redis.stop(), rabbit.stop()]);
    const downAt = Date.now();
    await sleep(OUTAGE_MS);
    const restartingAt = Date.now();
    await Promise.all([redis.start(), rabbit.start()]);
    const backAt = Date.now();
    const readyAt = await scene.waitReadyAgain(backAt);
    for (const p of scene.processes) scene.expectReadiness(p, false, downAt + 1000, restartingAt);

    const upTo = await publisher.confirmedFromNow();
    await waitAllReceived(streams, upTo);
    const deliveringAt = Date.now();
    const fresh = await scene.open(scene.edges[1], 'seq.#');
    await waitAllReceived([...streams, fresh], await publisher.confirmedFromNow());

    scene.watch.expectHealthy();
    for (const [i, c] of [...streams, fresh].entries()) expectStreamOpen(c, `stream ${i}`);
    for (const c of streams) {
      const pings = c.of('ping').length;
      if (pings < 5) throw new Error(`a stream got ${pings} pings over a 30 s outage with 5 s pings`);
    }
    expectNoneLost(publisher, streams, upTo);
    report('redis and rabbitmq down together', {
      outageMs: OUTAGE_MS,
      allReadyAfterBothBackMs: readyAt - backAt,
      deliveringAfterBothBackMs: deliveringAt - backAt,
      confirmed: upTo,
      lost: 0,
      repeatedPerStream: streams.map((c) => duplicates(c).length).join('/'),
    });
  });
});
