/**
 * The rolling-restart benchmark at toy size against the real services (built dist/): 200 v2 and 20
 * v1 clients behind the Service-like endpoint list, three edges restarted one by one with a 1 s
 * drain, a HISTORY_SECONDS=0 installation alongside for the cost comparison. Every v2 client must
 * come back after each edge's SIGTERM with nothing lost, nothing repeated and no gap.
 */
import { expect } from 'chai';
import {
  measureRollingRestart,
  rollingRestartFigures,
  rollingRestartScenario,
} from '../../bench/scenarios/rolling-restart.js';
import { quickBench } from './quick-bench.js';

describe('bench: rolling restart with v2 resume (quick)', function () {
  this.timeout(60_000);
  const bench = quickBench({ edges: 3, targets: ['edge'] });

  it('brings every v2 client of each restarted edge back through another, losing and repeating nothing', async () => {
    const p = { ...rollingRestartScenario.params(true), windowSeconds: 1, warmupSeconds: 0.3 };
    const m = await measureRollingRestart(bench(), p);
    const r = m.on.restart!;
    expect(r.v2.problems, 'v2').to.deep.equal([]);
    expect(r.v2.lost, 'lost').to.equal(0);
    expect(r.v2.duplicated, 'duplicated').to.equal(0);
    expect(r.v2.report.gapEvents, 'gap events').to.equal(0);
    expect(r.v2.report.readyNow, 'all back').to.equal(p.clients);
    expect(r.rounds).to.be.above(0);
    expect(r.v2.report.nextSeqMin).to.equal(r.rounds);
    expect(r.steps.map((s) => s.exitCode)).to.deep.equal([0, 0, 0]);
    for (const phase of r.v2.phases) {
      expect(phase.streamsEnded, `edge${phase.edge}'s streams`).to.be.above(0);
      expect(phase.streamsBack, `edge${phase.edge}'s streams back`).to.equal(phase.streamsEnded);
      expect(phase.allBackSeconds, `edge${phase.edge}: SIGTERM → all back`).to.be.below(15);
    }
    expect(r.server.gap, 'resumes with a gap (edges)').to.equal(0);
    expect(r.server.lossless, 'resumes counted by the edges').to.be.at.least(p.clients);
    expect(r.v1?.problems, 'v1').to.deep.equal([]);
    expect(r.v1?.report.readyNow).to.equal(p.v1Clients);
    // Both installations measured: latency for both groups, CPU per message for both.
    expect(m.on.window.latency.v2.count).to.be.above(0);
    expect(m.on.window.latency.v1?.count).to.be.above(0);
    expect(m.off?.window.latency.v2.count).to.be.above(0);
    expect(m.off?.window.historyRecordMs, 'no history records with HISTORY_SECONDS=0').to.equal(undefined);
    expect(m.on.window.historyRecordMs).to.be.above(0);
    const { checks, notes } = rollingRestartFigures(m);
    expect(checks.filter((c) => !c.ok)).to.deep.equal([]);
    expect(notes.join(' ')).to.include('HISTORY_SECONDS=0');
  });
});
