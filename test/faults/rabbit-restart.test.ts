/**
 * The broker restarted under one ingest and two edges with open streams and a publisher that keeps
 * publishing: the ingest reconnects promptly once the broker is back, /readyz tells the truth
 * throughout (the ingest is not ready while the broker is away, the edges stay ready), the streams
 * stay open, and no message the broker confirmed is lost.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { PrivateRabbit } from '../ingest/private-rabbit.js';
import { randomId, stopAll } from '../support/processes.js';
import { REDIS_URL, needRedis } from '../support/services.js';
import {
  FaultScene,
  declareDurableExchange,
  duplicates,
  expectNoneLost,
  expectStreamOpen,
  report,
  waitAllReceived,
} from './support.js';

const OUTAGE_MS = 3000;

describe('faults: RabbitMQ restarted under live streams', function () {
  this.timeout(150_000);
  const run = randomId();
  const exchange = `exchange/faults/${run}/rabbit`;
  let rabbit: PrivateRabbit;
  let scene: FaultScene | undefined;

  before(async function () {
    this.timeout(60_000);
    await needRedis();
    rabbit = await PrivateRabbit.create();
    await rabbit.start();
    await declareDurableExchange(rabbit.url, exchange);
  });

  after(async function () {
    this.timeout(60_000);
    await scene?.stop();
    await stopAll();
    await rabbit?.destroy();
  });

  it('reconnects promptly, keeps every stream open and loses no confirmed message', async () => {
    scene = await FaultScene.start({
      amqpUrl: rabbit.url,
      redisUrl: REDIS_URL,
      exchange,
      env: { KEY_PREFIX: `faults-${run}:`, BINDING_LEASE_SECONDS: '10' },
    });
    const { publisher, streams, ingest, edges } = scene;

    const stoppingAt = Date.now();
    await rabbit.stop();
    const stoppedAt = Date.now();
    await sleep(OUTAGE_MS);
    const restartingAt = Date.now();
    await rabbit.start(); // returns once the broker accepts connections
    const backAt = Date.now();
    const readyAt = await scene.waitReadyAgain(backAt);
    scene.expectReadiness(ingest, false, stoppedAt + 1000, restartingAt);
    for (const edge of edges) scene.expectReadiness(edge, true, stoppingAt, Date.now());

    const upTo = await publisher.confirmedFromNow();
    await waitAllReceived(streams, upTo);
    const deliveringAt = Date.now();
    const fresh = await scene.open(edges[1], 'seq.*.new');
    const freshReadyMs = Date.now() - deliveringAt;

    scene.watch.expectHealthy();
    for (const [i, c] of [...streams, fresh].entries()) expectStreamOpen(c, `stream ${i}`);
    expectNoneLost(publisher, streams, upTo);
    report('rabbitmq restart', {
      outageMs: restartingAt - stoppedAt,
      ingestReadyAfterBrokerBackMs: readyAt - backAt,
      deliveringAfterBrokerBackMs: deliveringAt - backAt,
      newBindingReadyMs: freshReadyMs,
      confirmed: upTo,
      lost: 0,
      repeatedPerStream: streams.map((c) => duplicates(c).length).join('/'),
    });
  });
});
