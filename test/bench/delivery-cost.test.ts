/**
 * The delivery-cost and memory-fleet benchmarks at toy size against the real services (built dist/):
 * delivery-cost's six edges (v1, v2, mixed; auth off and on) and both references, side by side on
 * one installation, each deliver exactly and report CPU per delivery; memory-fleet gets every
 * client ready over two edges and reports RSS per connection. Asserts that the scenarios run and
 * report sane figures, not their values.
 */
import { expect } from 'chai';
import {
  costServers,
  deliveryCostFigures,
  measureDeliveryCost,
} from '../../bench/scenarios/delivery-cost.js';
import { measureMemoryFleet } from '../../bench/scenarios/memory-fleet.js';
import { quickBench } from './quick-bench.js';

describe('bench: delivery-cost and memory-fleet (quick)', function () {
  this.timeout(60_000);
  const bench = quickBench({ edges: 1, targets: ['edge', 'reference', 'c-reference'] });

  it('delivers exactly from six edges (v1, v2, mixed; auth off and on) and both references at once, and reports CPU per delivery', async function () {
    this.timeout(120_000);
    const p = {
      clients: 20,
      rate: 20,
      seconds: 1,
      repeats: 2,
      warmupSeconds: 0.5,
      payloadBytes: 1024,
      clientsPerShard: 20,
    };
    const m = await measureDeliveryCost(bench(), p);
    const servers = costServers(p, ['edge', 'reference', 'c-reference']);
    expect(m.servers.map((s) => s.server.key)).to.deep.equal(servers.map((s) => s.key));
    expect(m.servers).to.have.length(8);
    for (const s of m.servers) {
      const name = s.server.key;
      expect(s.delivery.problems, name).to.deep.equal([]);
      expect(s.delivery.exact, name).to.equal(true);
      expect(s.v1Clients + s.v2Clients, name).to.equal(p.clients);
      expect(s.windows, name).to.have.length(p.repeats);
      for (const w of s.windows) {
        expect(w.deliveries, name).to.equal(p.clients * w.messages);
        expect(w.latency.count, name).to.equal(w.deliveries);
        expect(w.preciseUsPerDelivery, name).to.be.above(0);
        expect(w.cpuUsPerDelivery, name).to.be.closeTo(w.userUsPerDelivery! + w.systemUsPerDelivery!, 0.002);
      }
      expect(s.median.preciseUsPerDelivery, name).to.be.above(0);
      // Ticks of 10 ms: a Node process spends some over a window; the C one may not at this size.
      if (s.server.kind === 'c-reference') expect(s.median.cpuUsPerDelivery, name).to.be.at.least(0);
      else expect(s.median.cpuUsPerDelivery, name).to.be.above(0);
    }
    expect(m.servers.find((s) => s.server.key === 'v2-auth-on')?.v2Clients).to.equal(p.clients);
    expect(m.servers.find((s) => s.server.key === 'mixed-auth-off')?.v2Clients).to.equal(p.clients / 2);
    const { figures, checks } = deliveryCostFigures(m);
    expect(checks).to.have.length(8);
    expect(checks.filter((c) => !c.ok)).to.deep.equal([]);
    expect(figures).to.have.length(8);
    for (const f of figures.slice(0, 6)) {
      expect(f.edge, f.name).to.be.above(0);
      expect(f.reference, f.name).to.be.above(0);
      expect(f.cReference, f.name).to.be.at.least(0);
    }
    expect(figures.map((f) => f.name)).to.include('µs CPU per delivery (user+sys), mixed, auth on');
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
