/**
 * The delivery-cost and memory-fleet benchmarks at toy size against the real services (built dist/):
 * every variant of delivery-cost (v1, v2, mixed; auth off and on) delivers exactly and reports a CPU
 * figure per delivery; memory-fleet gets every client ready over two edges and reports RSS per
 * connection. Asserts that the scenarios run and report sane figures, not their values.
 */
import { expect } from 'chai';
import {
  costVariants,
  deliveryCostFigures,
  measureDeliveryCost,
} from '../../bench/scenarios/delivery-cost.js';
import { measureMemoryFleet } from '../../bench/scenarios/memory-fleet.js';
import { quickBench } from './quick-bench.js';

describe('bench: delivery-cost and memory-fleet (quick)', function () {
  this.timeout(60_000);
  const bench = quickBench({ edges: 1, targets: ['edge'] });

  it('delivers exactly on v1, v2 and mixed streams with auth off and on, and reports edge CPU per delivery', async () => {
    const p = {
      clients: 20,
      rate: 10,
      seconds: 1,
      warmupSeconds: 0.5,
      payloadBytes: 1024,
      clientsPerShard: 20,
    };
    const m = await measureDeliveryCost(bench(), p);
    expect(m.reference).to.equal(undefined);
    expect(m.variants.map((o) => (o.ok ? o.value.variant.key : o.error))).to.deep.equal(
      costVariants(p).map((v) => v.key),
    );
    for (const o of m.variants) {
      if (!o.ok) throw new Error(`${o.variant.label}: ${o.error}`);
      const v = o.value;
      expect(v.delivery.problems, v.variant.label).to.deep.equal([]);
      expect(v.delivery.exact, v.variant.label).to.equal(true);
      expect(v.deliveries, v.variant.label).to.equal(p.clients * v.messages);
      expect(v.cpuUsPerDelivery, v.variant.label).to.be.above(0);
      expect(v.latency.count, v.variant.label).to.equal(v.deliveries);
      expect(v.v1Clients + v.v2Clients).to.equal(p.clients);
    }
    const { figures, checks, error } = deliveryCostFigures(m);
    expect(error).to.equal(undefined);
    expect(checks).to.have.length(6);
    expect(checks.filter((c) => !c.ok)).to.deep.equal([]);
    expect(figures.find((f) => f.name === 'µs edge CPU per delivery, mixed, auth on')?.edge).to.be.above(0);
  });

  it('gets every idle client ready over two edges and reports RSS per connection', async () => {
    const m = await measureMemoryFleet(bench(), {
      edges: 2,
      clients: 400,
      warmupClients: 20,
      settleSeconds: 0.5,
      maxPending: 200,
    });
    expect(m.ready, m.firstError).to.equal(400);
    expect(m.edges.map((e) => e.ready)).to.deep.equal([200, 200]);
    expect(m.perConnectionKiB).to.be.above(0);
    expect(m.worstEdgePerConnectionKiB).to.be.at.least(m.perConnectionKiB);
  });
});
