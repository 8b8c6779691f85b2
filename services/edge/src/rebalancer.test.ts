import { expect } from 'chai';
import { Registry, Gauge } from 'prom-client';
import { MemoryEdgeLoads } from '@events-proxy/cluster';
import { createLogger } from '@events-proxy/runtime';
import { Rebalancer, REPORT_TTL_MS } from './rebalancer.js';

/** One edge's Rebalancer over a real (in-process) EdgeLoads, beside two other edges' reports. */
function scene(opts: { lossless: boolean; tolerance?: number }) {
  const loads = new MemoryEdgeLoads();
  const registers = [new Registry()];
  const own = { v1: 0, v2: 300 };
  const shed: number[] = [];
  const rebalancer = new Rebalancer({
    loads,
    config: { tolerance: opts.tolerance ?? 0.1, ratePerSecond: 50, maxStreamMs: 0 },
    lossless: opts.lossless,
    counts: () => own,
    isReady: () => true,
    shed: (n) => {
      shed.push(n);
      own.v2 -= n;
      return n;
    },
    metrics: {
      tierEdges: new Gauge({ name: 'tier_edges', help: 'x', registers }),
      tierMeanStreams: new Gauge({ name: 'tier_mean', help: 'x', registers }),
    },
    logger: createLogger('silent'),
  });
  const others = async (a: number, b: number) => {
    await loads.report({ edge: 'a', v1: 0, v2: a, ready: true }, REPORT_TTL_MS);
    await loads.report({ edge: 'b', v1: 0, v2: b, ready: true }, REPORT_TTL_MS);
  };
  return { rebalancer, shed, own, others };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('edge: the rebalancer over real edge loads', function () {
  this.timeout(15_000);

  it('moves streams to an empty edge once the tier has held steady, back to the mean', async () => {
    const s = scene({ lossless: true });
    await s.others(300, 0); // a third edge joined two with 300 each
    s.rebalancer.start();
    try {
      await sleep(1500);
      expect(s.shed, 'nothing before the tier was seen steady for three looks').to.deep.equal([]);
      for (let i = 0; i < 8 && s.own.v2 > 200; i++) {
        // The moved clients land on the empty edge (its report follows them).
        await s.others(300, 300 - s.own.v2);
        await sleep(1000);
      }
      expect(s.own.v2, 'streams left here').to.equal(200);
      expect(Math.max(...s.shed), 'most streams ended at once (50 a second, in ten steps)').to.be.at.most(5);
    } finally {
      await s.rebalancer.stop();
    }
  });

  it('moves nothing while the tier total changes (clients arriving), nor without a history', async () => {
    for (const lossless of [true, false]) {
      const s = scene({ lossless });
      s.rebalancer.start();
      try {
        for (let i = 0; i < 5; i++) {
          if (lossless) {
            // A ramp-up: every edge gains 60 streams a second, and this one looks ahead of the others.
            s.own.v2 += 60;
            await s.others(s.own.v2 - 100, s.own.v2 - 100);
          } else {
            await s.others(300, 0);
          }
          await sleep(1000);
        }
        expect(s.shed, lossless ? 'during a ramp-up' : 'with HISTORY_SECONDS=0').to.deep.equal([]);
      } finally {
        await s.rebalancer.stop();
      }
    }
  });
});
