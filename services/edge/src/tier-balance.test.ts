import { expect } from 'chai';
import type { EdgeLoad } from '@events-proxy/cluster';
import { streamsToShed, tierView } from './tier-balance.js';

const load = (edge: string, v2: number, v1 = 0, ready = true): EdgeLoad => ({ edge, v1, v2, ready });

describe('edge: tier balance decisions', () => {
  it('takes the mean over ready edges only, with its own count as it is now', () => {
    const self = load('me', 90);
    const reports = [load('me', 500), load('b', 60, 10), load('c', 50), load('draining', 1000, 0, false)];
    expect(tierView(self, reports, 0)).to.deep.equal({ edges: 3, mean: (90 + 70 + 50) / 3, least: 50 });
    // Streams it just shed, still reconnecting, count towards the mean.
    expect(tierView(self, reports, 30).mean).to.equal((90 + 70 + 50 + 30) / 3);
    // Not ready itself: not in the mean.
    expect(tierView(load('me', 90, 0, false), reports, 0)).to.deep.equal({ edges: 2, mean: 60, least: 50 });
  });

  it('sheds nothing in a tier within the tolerance, however long it runs', () => {
    for (const total of [0, 50, 91, 100, 105, 110]) {
      const view = { edges: 3, mean: 100, least: 91 };
      expect(streamsToShed(load('me', total), view, 0.1, false), `${total}`).to.deep.equal({
        shed: 0,
        shedding: false,
      });
    }
    // A few streams per edge: one more than the mean is not worth a move.
    expect(streamsToShed(load('me', 6), { edges: 3, mean: 4, least: 3 }, 0.1, false).shed).to.equal(0);
  });

  it('starts above the tolerance and sheds back to the mean, never below it', () => {
    const view = { edges: 3, mean: 100, least: 95 };
    expect(streamsToShed(load('me', 111), view, 0.1, false)).to.deep.equal({ shed: 11, shedding: true });
    // Once shedding it goes on until the mean, not only to the threshold.
    expect(streamsToShed(load('me', 105), view, 0.1, true)).to.deep.equal({ shed: 5, shedding: true });
    expect(streamsToShed(load('me', 100), view, 0.1, true)).to.deep.equal({ shed: 0, shedding: false });
    // A fractional mean rounds up: never below it.
    expect(streamsToShed(load('me', 150), { edges: 3, mean: 100.4, least: 50 }, 0.1, false).shed).to.equal(
      49,
    );
  });

  it('fills an edge below the tolerance from the edges above the mean, even within their own tolerance', () => {
    // After a scale-up the old edges may stop a little above the mean while the new one is short.
    const view = { edges: 3, mean: 100, least: 85 };
    expect(streamsToShed(load('me', 108), view, 0.1, false)).to.deep.equal({ shed: 8, shedding: true });
    // Never from an edge at or below the mean.
    expect(streamsToShed(load('me', 100), view, 0.1, false).shed).to.equal(0);
  });

  it('moves only v2 streams', () => {
    const view = { edges: 2, mean: 100, least: 100 };
    expect(streamsToShed(load('me', 30, 170), view, 0.1, false)).to.deep.equal({ shed: 30, shedding: true });
    expect(streamsToShed(load('me', 0, 200), view, 0.1, false).shed).to.equal(0);
  });

  it('does nothing when off (tolerance 0), alone in the tier, or not ready', () => {
    const view = { edges: 3, mean: 10, least: 0 };
    expect(streamsToShed(load('me', 100), view, 0, false).shed).to.equal(0);
    expect(streamsToShed(load('me', 100), { edges: 1, mean: 100, least: 100 }, 0.1, false).shed).to.equal(0);
    expect(streamsToShed(load('me', 100, 0, false), view, 0.1, true).shed).to.equal(0);
  });
});
