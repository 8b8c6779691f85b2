/**
 * The scale-up benchmark at toy size (`--quick`) against the real services (built dist/): 300 v2
 * clients through a readiness-following balancer to two edges, 100 messages/s over 10 routing keys,
 * then a third edge starts (a backend of the balancer from the start, out of rotation until ready).
 * The edges must rebalance their streams onto it (DESIGN.md §3e): every edge within 10 % of the mean
 * at the end, every client every confirmed message exactly once, no gap.
 */
import { expect } from 'chai';
import { measureScaleUp, scaleUpFigures, scaleUpScenario } from '../../bench/scenarios/scale-up.js';
import { isBalanced } from '../../bench/lib/tier-balance.js';
import { quickBench } from './quick-bench.js';

describe('bench: scale-up (quick)', function () {
  this.timeout(75_000);
  const bench = quickBench({ edges: 2, targets: ['edge'] });

  it('rebalances v2 streams onto a third edge, every client getting every message once', async () => {
    const p = scaleUpScenario.params(true);
    const m = await measureScaleUp(bench(), p);
    const { figures, checks } = scaleUpFigures(m);
    console.log(
      `      scale-up figures:\n${figures
        .map((f) => `        ${f.name}: ${f.edge ?? '–'}${f.unit ? ` ${f.unit}` : ''}`)
        .join('\n')}`,
    );
    expect(
      m.before.reduce((s, n) => s + n, 0),
      'streams on the two edges before',
    ).to.equal(p.clients);
    expect(m.confirmed, 'confirmed rounds').to.be.above(100);
    expect(m.confirmed, 'every round confirmed').to.equal(m.published);
    expect(m.lost, 'messages lost, summed over clients').to.equal(0);
    expect(m.clientsMissingSome, 'clients that missed any').to.equal(0);
    expect(m.final.duplicates, 'messages duplicated, summed over clients').to.equal(0);
    expect(m.final.gapEvents, 'gap events').to.equal(0);
    expect(m.final.errorEvents, 'error events').to.equal(0);
    expect(m.final.readyNow, 'clients streaming at the end').to.equal(p.clients);
    expect(m.exited, 'service processes that exited').to.deep.equal([]);
    // The move happened, and through the edges' rebalancing (not by clients failing).
    const streams = m.edges.map((e) => e.streams);
    expect(streams, 'an edge per stream count').to.have.length(3);
    expect(m.balancedSeconds, `never balanced: ${streams.join(' / ')}`).to.not.equal(undefined);
    expect(isBalanced(streams, p.balancedWithin), `final distribution ${streams.join(' / ')}`).to.equal(true);
    expect(m.edges[2]!.streams, 'streams on the third edge').to.be.above(0);
    expect(
      m.edges.reduce((s, e) => s + e.rebalanceCloses, 0),
      'rebalance closes',
    ).to.be.at.least(m.edges[2]!.streams);
    expect(m.edges[2]!.tierEdges, 'ready edges the third edge sees').to.equal(3);
    expect(m.classes.during.reconnects, 'reconnects during the move').to.be.above(0);
    expect(m.classes.before.reconnects, 'reconnects before the third edge').to.equal(0);
    expect(checks.filter((c) => !c.ok)).to.deep.equal([]);
  });
});
