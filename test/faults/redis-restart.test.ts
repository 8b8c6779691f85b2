/**
 * Redis stopped for three seconds and started again, empty (no persistence), under one ingest and
 * two edges with open streams and messages flowing: no process exits, /readyz says "not ready"
 * while Redis is away and "ready" once it is back, every stream stays open, delivery resumes, and
 * the bindings survive the loss of their leases. A v2 stream rides it out the same way, and a v2
 * resume from a cursor given before the restart gets `gap` (the history went with Redis's data).
 */
import { expect } from 'chai';
import { setTimeout as sleep } from 'node:timers/promises';
import { PrivateRedis } from '../cluster/redis-support.js';
import { RawResponse } from '../edge/raw-http.js';
import { TestBroker } from '../support/broker.js';
import { SseClient, connectUrl } from '../support/sse-client.js';
import { randomId, stopAll } from '../support/processes.js';
import { AMQP_URL, needRabbit } from '../support/services.js';
import {
  FaultScene,
  duplicates,
  expectNoneLost,
  expectStreamOpen,
  report,
  seqsOf,
  waitAllReceived,
} from './support.js';

const LEASE_SECONDS = 4;
const OUTAGE_MS = 3000;

describe('faults: Redis restarted under live streams', function () {
  this.timeout(120_000);
  const run = randomId();
  const exchange = `exchange/faults/${run}/redis`;
  const queue = `queue/guest/faults-${run}-redis`;
  let redis: PrivateRedis;
  let broker: TestBroker;
  let scene: FaultScene | undefined;

  before(async () => {
    await needRabbit();
    redis = await PrivateRedis.start();
    broker = await TestBroker.connect();
    await broker.topicExchange(exchange);
  });

  after(async () => {
    await scene?.stop();
    await stopAll();
    await broker?.deleteQueue(queue);
    await broker?.close();
    await redis?.stop();
  });

  it('keeps every process up and every stream open, and resumes delivery without loss', async () => {
    scene = await FaultScene.start({
      amqpUrl: AMQP_URL,
      redisUrl: redis.url,
      exchange,
      env: {
        KEY_PREFIX: `faults-${run}:`,
        // The outage (with the connect made during it) outlasts the default bus-loss grace, which
        // would end the streams this test keeps open.
        BUS_LOSS_GRACE_SECONDS: '0',
        AMQP_QUEUE: queue,
        BINDING_LEASE_SECONDS: String(LEASE_SECONDS),
        // The per-client limits live in Redis too: their calls fail and recover with it.
        MAX_STREAMS_PER_IP: '1000',
        CONNECT_RATE_PER_IP: '1000',
        CLIENT_LEASE_SECONDS: String(LEASE_SECONDS),
      },
    });
    const { publisher, streams } = scene;
    const v2Url = connectUrl(
      scene.edges[0].url(''),
      { bindings: [{ exchange, routingKeyPattern: 'seq.#' }] },
      '/api/events/v2/connect/',
    );
    const v2 = new SseClient(v2Url);
    await v2.waitReady(20_000);
    const v2From = await publisher.confirmedFromNow(); // the first published after its ready
    await waitAllReceived([v2], v2From);
    const cursorBefore = v2.of('message').at(-1)!.lastEventId;

    const stoppedAt = Date.now();
    await redis.stop();
    // A connect while Redis is away: the limits cannot be checked, so it is let through (not a
    // 429, not a crash) and fails on the bus like any stream would, or starts once Redis is back.
    const during = await RawResponse.open(
      scene.edges[0].url(new URL(v2Url).pathname + new URL(v2Url).search),
    );
    await during.waitFor(
      (r) => r.ended || r.body.includes('event: ready'),
      'the connect during the outage',
      15_000,
    );
    expect(during.status).to.equal(200);
    during.close();
    await sleep(Math.max(0, OUTAGE_MS - (Date.now() - stoppedAt)));
    const restartedAt = Date.now();
    await redis.start();
    // Redis's socket closes at once on SIGTERM: from a second after the stop until the restart,
    // every process must say "not ready".
    const readyAt = await scene.waitReadyAgain(restartedAt);
    for (const p of scene.processes) scene.expectReadiness(p, false, stoppedAt + 1000, restartedAt);

    const firstAfter = await publisher.confirmedFromNow();
    await waitAllReceived([...streams, v2], firstAfter);
    const recoveredAt = Date.now();

    // The restarted Redis is empty: the leases are gone. Two lease periods later the bindings must
    // still be on the broker (leased again by the ingest and the edges), so messages still arrive.
    await sleep(2 * LEASE_SECONDS * 1000);
    await waitAllReceived(streams, await publisher.confirmedFromNow());
    const fresh = await scene.open(scene.edges[1], 'seq.#');
    const upTo = await publisher.confirmedFromNow(); // published after the new stream's ready
    await waitAllReceived([...streams, fresh, v2], upTo);

    // Resuming from before the restart: that history is gone, and the stream says so.
    const resumed = await RawResponse.open(v2Url, { 'Last-Event-ID': cursorBefore });
    try {
      await resumed.waitFor((r) => r.body.includes('event: gap\n'), 'a gap for a pre-restart cursor', 10_000);
    } finally {
      resumed.close();
    }
    const gap = /event: gap\ndata: (.*)\n/.exec(resumed.body)!;
    expect((JSON.parse(gap[1]!) as { from: string }).from).to.equal(cursorBefore);

    scene.watch.expectHealthy();
    for (const [i, c] of [...streams, v2].entries()) expectStreamOpen(c, `stream ${i}`);
    expectNoneLost(publisher, streams, upTo);
    const v2Wanted = publisher.confirmed.map((c) => c.seq).filter((q) => q >= v2From && q <= upTo);
    const v2Got = new Set(seqsOf(v2));
    expect(
      v2Wanted.filter((q) => !v2Got.has(q)),
      'v2 stream: confirmed messages not delivered',
    ).to.deep.equal([]);
    expect(duplicates(v2), 'v2 stream: messages delivered twice').to.deep.equal([]);
    for (const c of [...streams, v2]) {
      const got = seqsOf(c);
      expect(got, 'in order').to.deep.equal([...got].sort((a, b) => a - b));
    }
    v2.close();
    report('redis restart', {
      outageMs: OUTAGE_MS,
      allReadyAfterRestartMs: readyAt - restartedAt,
      deliveringAfterRestartMs: recoveredAt - restartedAt,
      confirmed: upTo,
      lost: 0,
      repeatedPerStream: streams.map((c) => duplicates(c).length).join('/'),
    });
  });
});
