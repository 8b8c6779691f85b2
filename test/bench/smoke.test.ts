/**
 * The benchmark harness end to end at toy size, against the real services (built dist/) and the
 * Node and C reference broadcasters: the C client, both publishers and the exact-delivery check
 * must agree that every client got every message once and in order (so the C broadcaster, which
 * no other test exercises, is proven correct here).
 */
import { expect } from 'chai';
import { measureBindingScale } from '../../bench/scenarios/binding-scale.js';
import { measureLatency } from '../../bench/scenarios/latency.js';
import { measureReconnectStorm, reconnectStormScenario } from '../../bench/scenarios/reconnect-storm.js';
import { quickBench } from './quick-bench.js';
import { TARGET_KINDS } from '../../bench/lib/context.js';

describe('bench: smoke (quick scenarios against the real services)', function () {
  this.timeout(60_000);
  const bench = quickBench({ edges: 1, targets: TARGET_KINDS });

  it('delivers every message to every client once, in order, on one shared binding', async () => {
    const outcomes = await measureLatency(bench(), { clients: 50, rate: 40, seconds: 1, payloadBytes: 1024 });
    for (const kind of TARGET_KINDS) {
      const outcome = outcomes[kind];
      if (!outcome?.ok) throw new Error(`${kind} failed: ${outcome?.error}`);
      const { delivery, latency } = outcome.value;
      expect(delivery.problems, kind).to.deep.equal([]);
      expect(delivery).to.include({ exact: true, clients: 50, expectedPerClient: 40, received: 2000 });
      expect(latency.count, kind).to.equal(2000);
    }
  });

  it('routes each of many distinct bindings to its own client, and unbinds them after the lease', async () => {
    const outcomes = await measureBindingScale(bench(), {
      clients: 30,
      leaseSeconds: 1,
      messagesPerClient: 3,
      publishRate: 200,
      maxPending: 30,
      idleSeconds: 0,
    });
    for (const kind of TARGET_KINDS) {
      const outcome = outcomes[kind];
      if (!outcome?.ok) throw new Error(`${kind} failed: ${outcome?.error}`);
      expect(outcome.value.delivery.problems, kind).to.deep.equal([]);
      expect(outcome.value.delivery.received, kind).to.equal(90);
    }
    const edge = outcomes.edge?.ok ? outcomes.edge.value : undefined;
    expect(edge?.broker?.bindings).to.equal(30);
    expect(edge?.broker?.queues).to.have.length(1);
    expect(edge?.bindingsLeft).to.equal(0);
  });

  it('brings every client of a SIGKILLed edge back on the other edge, losing nothing after its new ready', async () => {
    const p = reconnectStormScenario.params(true);
    const m = await measureReconnectStorm(bench(), p);
    expect(m.initial.ready).to.equal(p.clients);
    expect(m.storm.ready, m.storm.firstError).to.equal(p.clients);
    expect(m.storm.reconnectTime.count, 'every client reconnected').to.be.at.least(p.clients);
    expect(m.storm.delivery.problems).to.deep.equal([]);
    expect(m.storm.delivery.rounds).to.be.above(0);
    expect(m.warmUp.ready).to.equal(p.clients);
    expect(m.burst.ready).to.equal(p.clients);
  });
});
