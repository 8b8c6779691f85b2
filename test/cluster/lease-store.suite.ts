/**
 * The LeaseStore contract, run against every driver. A fixture gives two handles on one shared
 * store (`a`, `b`), like two ingests: the same instance in memory, two clients for Redis. No
 * assertion depends on timing: a lease that must still be live is one of a minute, and waiting
 * for expiry polls a short "clock" lease taken at the same moment.
 */
import { expect } from 'chai';
import type { LeaseStore } from '@events-proxy/cluster';
import { randomId } from '../support/processes.js';
import { waitUntil } from '../support/wait.js';
import { gate, within } from './redis-support.js';

export interface LeaseStoreFixture {
  readonly a: LeaseStore;
  readonly b: LeaseStore;
  close(): Promise<void>;
}

const MINUTE = 60_000;

export function leaseStoreSuite(driver: string, createFixture: () => Promise<LeaseStoreFixture>): void {
  describe(`cluster: LeaseStore contract (${driver})`, () => {
    let a: LeaseStore;
    let b: LeaseStore;
    let fixture: LeaseStoreFixture;
    let id: string;
    const key = (name: string) => `exchange/test/${id}\u0000${name}.#`;

    /** Resolves once a lease of `ms` taken now has ended, by the store's own clock. */
    async function leaseOf(ms: number): Promise<() => Promise<void>> {
      const clock = key(`clock-${randomId()}`);
      await a.lease(clock, ms);
      return () =>
        waitUntil(async () => (await a.expired(1000)).includes(clock), `a ${ms} ms lease to end`, 10_000);
    }

    beforeEach(async () => {
      id = randomId();
      fixture = await createFixture();
      ({ a, b } = fixture);
    });

    afterEach(async () => {
      await fixture.close();
    });

    it('renews only keys that are leased now, and never adds others', async () => {
      await a.lease(key('live'), MINUTE);
      await a.lease(key('ended'), 0);
      const flags = await b.renewIfLeased([key('live'), key('unknown'), key('ended')], MINUTE);
      expect(flags).to.deep.equal([true, false, false]);
      expect((await b.all()).sort()).to.deep.equal([key('ended'), key('live')].sort());
      expect(await b.expired(10)).to.deep.equal([key('ended')]);
      expect(await b.renewIfLeased([], MINUTE)).to.deep.equal([]);
    });

    it('extends a live lease on renewal', async () => {
      await a.lease(key('k'), 1000);
      expect(await b.renewIfLeased([key('k')], MINUTE)).to.deep.equal([true]);
      // Outlasts k's first lease, so k is still live only because the renewal extended it.
      const waitForClock = await leaseOf(1200);
      await waitForClock();
      expect(await a.expired(1000)).not.to.include(key('k'));
      expect(await a.renewIfLeased([key('k')], MINUTE)).to.deep.equal([true]);
    });

    it('never shortens a lease, by lease() or by renewal', async () => {
      await a.lease(key('k'), MINUTE);
      const waitForClock = await leaseOf(200);
      await b.lease(key('k'), 1);
      await b.renewIfLeased([key('k')], 1);
      await waitForClock();
      expect(await a.expired(1000)).not.to.include(key('k'));
      expect(await a.removeIfExpired(key('k'))).to.equal(false);
    });

    it('lists ended leases up to the limit and removes only ended ones', async () => {
      for (let i = 0; i < 5; i++) await a.lease(key(`old-${i}`), 0);
      await a.lease(key('live'), MINUTE);
      expect(await b.expired(2)).to.have.length(2);
      expect((await b.expired(100)).sort()).to.deep.equal([0, 1, 2, 3, 4].map((i) => key(`old-${i}`)).sort());

      expect(await b.removeIfExpired(key('live'))).to.equal(false);
      expect(await b.removeIfExpired(key('unknown'))).to.equal(false);
      expect(await b.removeIfExpired(key('old-0'))).to.equal(true);
      expect(await a.removeIfExpired(key('old-0'))).to.equal(false, 'removed once only');
      expect(await a.all()).not.to.include(key('old-0'));
      expect(await a.all()).to.include(key('live'));
    });

    it('lets a lease run out, after which it can be removed', async () => {
      await a.lease(key('short'), 150);
      expect(await b.removeIfExpired(key('short'))).to.equal(false);
      await waitUntil(async () => (await b.expired(100)).includes(key('short')), 'the lease to end', 10_000);
      expect(await b.renewIfLeased([key('short')], MINUTE)).to.deep.equal(
        [false],
        'an ended lease is not revived',
      );
      expect(await b.removeIfExpired(key('short'))).to.equal(true);
    });

    it('lists every key, however many', async () => {
      const keys = Array.from({ length: 2500 }, (_, i) => key(`many-${i}`));
      await Promise.all(keys.map((k) => a.lease(k, MINUTE)));
      const all = await b.all();
      expect(all).to.have.length(keys.length);
      expect(new Set(all)).to.deep.equal(new Set(keys));
    });

    it('never runs two holders of the same key at once, across handles', async () => {
      const log: string[] = [];
      let inside = 0;
      let most = 0;
      const work = (who: string) => async () => {
        most = Math.max(most, ++inside);
        log.push(`${who}:in`);
        await new Promise((r) => setTimeout(r, 20));
        log.push(`${who}:out`);
        inside--;
        return who;
      };
      const results = await Promise.all(
        ['a1', 'b1', 'a2', 'b2', 'a3', 'b3'].map((who) =>
          (who.startsWith('a') ? a : b).withLock(key('k'), work(who)),
        ),
      );
      expect(results).to.deep.equal(['a1', 'b1', 'a2', 'b2', 'a3', 'b3']);
      expect(most, `overlap in ${log.join(' ')}`).to.equal(1);
    });

    it('runs holders of different keys in parallel', async () => {
      const first = gate();
      const second = gate();
      // Each waits for the other to be inside its lock: completes only if both hold at once.
      const one = a.withLock(key('one'), async () => {
        first.open();
        await second.promise;
      });
      const two = b.withLock(key('two'), async () => {
        second.open();
        await first.promise;
      });
      await within(Promise.all([one, two]), 5000, 'locks on two different keys to be held together');
    });

    it('releases the lock when the work throws, and passes the error on', async () => {
      const boom = new Error('boom');
      const failed = await a.withLock(key('k'), () => Promise.reject(boom)).catch((err: unknown) => err);
      expect(failed).to.equal(boom);
      const next = await within(
        b.withLock(key('k'), async () => 'next'),
        5000,
        'the lock to be free again',
      );
      expect(next).to.equal('next');
    });
  });
}
