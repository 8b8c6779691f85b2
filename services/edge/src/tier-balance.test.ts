import { expect } from 'chai';
import type { EdgeLoad } from '@events-proxy/cluster';
import { excessOver, settled, steady, tierView, unbalanced } from './tier-balance.js';

const load = (edge: string, v2: number, v1 = 0, ready = true): EdgeLoad => ({ edge, v1, v2, ready });

describe('edge: tier balance decisions', () => {
  it('takes the mean over ready edges only, with its own count as it is now', () => {
    const self = load('me', 90);
    const reports = [load('me', 500), load('b', 60, 10), load('c', 50), load('draining', 1000, 0, false)];
    expect(tierView(self, reports)).to.deep.equal({ edges: 3, mean: (90 + 70 + 50) / 3, least: 50 });
    // Not ready itself: not in the mean.
    expect(tierView(load('me', 90, 0, false), reports)).to.deep.equal({ edges: 2, mean: 60, least: 50 });
    expect(tierView(load('me', 1, 0, false), [])).to.deep.equal({ edges: 0, mean: 0, least: 0 });
  });

  it('leaves a tier within the tolerance alone, however long it runs', () => {
    for (const total of [0, 50, 91, 100, 105, 110]) {
      expect(unbalanced(load('me', total), { edges: 3, mean: 100, least: 91 }, 0.1), `${total}`).to.equal(
        false,
      );
    }
    // A few streams per edge: one more than the mean is not worth a move.
    expect(unbalanced(load('me', 6), { edges: 3, mean: 4, least: 3 }, 0.1)).to.equal(false);
  });

  it('starts above the tolerance, and above the mean when another edge is short by as much', () => {
    expect(unbalanced(load('me', 111), { edges: 3, mean: 100, least: 95 }, 0.1)).to.equal(true);
    // After a scale-up the new edge is short: the edges above the mean fill it.
    expect(unbalanced(load('me', 108), { edges: 3, mean: 100, least: 85 }, 0.1)).to.equal(true);
    // Never from an edge at or below the mean.
    expect(unbalanced(load('me', 100), { edges: 3, mean: 100, least: 0 }, 0.1)).to.equal(false);
  });

  it('does nothing when off (tolerance 0), alone in the tier, or not ready', () => {
    const view = { edges: 3, mean: 10, least: 0 };
    expect(unbalanced(load('me', 100), view, 0)).to.equal(false);
    expect(unbalanced(load('me', 100), { edges: 1, mean: 100, least: 100 }, 0.1)).to.equal(false);
    expect(unbalanced(load('me', 100, 0, false), view, 0.1)).to.equal(false);
  });

  it('stops moving once every edge is within half the tolerance (a margin before the next start)', () => {
    // Mean 100, tolerance 10 %: started at 111; still moving at 106, or while the new edge is at 94.
    expect(settled(load('me', 106), { edges: 3, mean: 100, least: 97 }, 0.1)).to.equal(false);
    expect(settled(load('me', 104), { edges: 3, mean: 100, least: 94 }, 0.1)).to.equal(false);
    expect(settled(load('me', 105), { edges: 3, mean: 100, least: 95 }, 0.1)).to.equal(true);
    // At or below the mean there is nothing left to move from here.
    expect(settled(load('me', 100), { edges: 3, mean: 100, least: 0 }, 0.1)).to.equal(true);
  });

  it('sheds back to the mean, never below it, and only v2 streams', () => {
    expect(excessOver(load('me', 111), 100)).to.equal(11);
    expect(excessOver(load('me', 100), 100)).to.equal(0);
    expect(excessOver(load('me', 90), 100)).to.equal(0);
    // A fractional mean rounds up.
    expect(excessOver(load('me', 150), 100.4)).to.equal(49);
    expect(excessOver(load('me', 30, 170), 100)).to.equal(30);
    expect(excessOver(load('me', 0, 200), 100)).to.equal(0);
  });

  it('counts the tier steady only while its total holds within the tolerance of the mean', () => {
    // A third edge joining: the total stays, the mean drops.
    expect(steady([3000, 3000, 3001], 1000, 0.1)).to.equal(true);
    // Clients arriving (a ramp-up, the clients of a draining edge coming back): not steady.
    expect(steady([2400, 2700, 3000], 1000, 0.1)).to.equal(false);
    // Few streams: a couple of connects or leaves do not count.
    expect(steady([10, 12, 11], 4, 0.1)).to.equal(true);
    expect(steady([], 4, 0.1)).to.equal(false);
  });
});
