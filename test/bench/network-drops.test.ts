/**
 * The network-drops benchmark at toy size (`--quick`) against the real services (built dist/): 100
 * v2 clients through a readiness-following balancer to two edges, two ingests (one active), every
 * Redis and AMQP link through a fault proxy, 100 messages/s; for each kind of drop (blackhole, cut)
 * a short baseline, then a 2 s drop on each hop in turn. Every client must get every confirmed
 * message. The figures are printed, not asserted.
 */
import { expect } from 'chai';
import {
  measureNetworkDrops,
  networkDropsFigures,
  networkDropsScenario,
} from '../../bench/scenarios/network-drops.js';
import { quickBench } from './quick-bench.js';

describe('bench: network drops (quick)', function () {
  this.timeout(90_000);
  const bench = quickBench({ edges: 2, targets: ['edge'] });

  it('delivers every confirmed message to every v2 client through repeated 2 s drops on every hop', async () => {
    const p = networkDropsScenario.params(true);
    const m = await measureNetworkDrops(bench(), p);
    const { figures, checks } = networkDropsFigures(m);
    console.log(
      `      network-drops figures:\n${figures
        .map((f) => `        ${f.name}: ${f.edge ?? '–'}${f.unit ? ` ${f.unit}` : ''}`)
        .join('\n')}\n        drops: ${m.drops
        .map((d) => `${d.kind} ${d.hop} (${d.process})`)
        .join(', ')}\n        duplicates not flagged redelivered: ${m.kinds
        .map((o) => `${o.kind} ${o.duplicates - o.dupRedelivered}`)
        .join(', ')}`,
    );
    // Where a loss happened: the first seqs some client missed, with the class of their publish time.
    const lostWhere = m.kinds
      .flatMap((o) => o.missing.slice(0, 3).map(([seq, n, , cls]) => `seq ${seq} (${cls}): ${n} clients`))
      .join('; ');
    expect(m.confirmed, 'confirmed').to.be.above(2000);
    expect(m.confirmed, 'every message confirmed').to.equal(m.published);
    expect(m.lostTotal, `lost over the whole run: ${lostWhere}`).to.equal(0);
    for (const o of m.kinds) {
      expect(o.confirmed, `${o.kind}: confirmed`).to.be.above(500);
      expect(o.lost, `${o.kind}: lost (${lostWhere})`).to.equal(0);
      expect(o.minPerClient, `${o.kind}: the client that got fewest`).to.equal(o.confirmed);
    }
    expect(m.final.readyNow, 'clients streaming at the end').to.equal(p.clients);
    expect(m.exited, 'service processes that exited').to.deep.equal([]);
    expect(m.drops.map((d) => `${d.kind} ${d.hop}`)).to.deep.equal([
      'blackhole edge-redis',
      'blackhole ingest-redis',
      'blackhole ingest-amqp',
      'cut edge-redis',
      'cut ingest-redis',
      'cut ingest-amqp',
    ]);
    const delivery = checks.find((c) => c.name === 'every client got every confirmed message');
    expect(delivery?.ok, delivery?.detail).to.equal(true);
  });
});
