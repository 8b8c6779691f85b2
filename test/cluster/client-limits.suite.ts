/**
 * The ClientLimits contract, run against every driver. A fixture gives two handles on one store,
 * like two edges (one instance in memory, where the one process is the only holder). Drivers whose
 * counts are shared between processes (Redis) also run the lease tests: a holder that stops without
 * giving back (a SIGKILLed edge), a clean close, and a store that lost every key (a Redis restart
 * without persistence).
 */
import { expect } from 'chai';
import type { ClientLimits, StreamGrant, StreamQuota } from '@events-proxy/cluster';
import { randomId } from '../support/processes.js';
import { waitUntil } from '../support/wait.js';

export interface ClientLimitsFixture {
  readonly a: ClientLimits;
  readonly b: ClientLimits;
  /** Shared stores only: `a` stops as a killed process would (no renewal, nothing given back). */
  crashA?(): Promise<void>;
  /** Shared stores only: every key of the installation gone, the holders running on. */
  loseStore?(): Promise<void>;
  close(): Promise<void>;
}

export interface ClientLimitsFixtureOptions {
  readonly leaseMs: number;
}

export type ClientLimitsFixtureFactory = (
  opts: ClientLimitsFixtureOptions,
  keyPrefix: string,
) => Promise<ClientLimitsFixture>;

export interface ClientLimitsSuiteOptions {
  /** The counts are shared between processes and leased (the lease tests apply). */
  readonly shared: boolean;
}

const LONG_LEASE = 30_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function clientLimitsSuite(
  driver: string,
  createFixture: ClientLimitsFixtureFactory,
  suite: ClientLimitsSuiteOptions,
): void {
  describe(`cluster: ClientLimits contract (${driver})`, () => {
    let fixtures: ClientLimitsFixture[];
    let prefix: string;
    /** A client key of this test: every test has its own installation prefix too. */
    const key = (name: string) => `ip:${name}-${randomId()}`;
    const open = async (leaseMs = LONG_LEASE) => {
      const f = await createFixture({ leaseMs }, prefix);
      fixtures.push(f);
      return f;
    };
    const granted = (g: StreamGrant): Extract<StreamGrant, { ok: true }> => {
      expect(g.ok, g.ok ? 'granted' : `refused: ${JSON.stringify(g.full)}`).to.equal(true);
      return g as Extract<StreamGrant, { ok: true }>;
    };
    /** Grants `n` streams on `limits`, one after the other. */
    const fill = async (limits: ClientLimits, quotas: StreamQuota[], n: number) => {
      const grants = [];
      for (let i = 0; i < n; i++) grants.push(granted(await limits.acquireStream(quotas)));
      return grants;
    };
    /** Waits until `limits` grants a stream against the quotas (a grant got while polling is kept). */
    const untilGranted = async (limits: ClientLimits, quotas: StreamQuota[], ms: number, what: string) => {
      let grant: StreamGrant | undefined;
      await waitUntil(async () => (grant = await limits.acquireStream(quotas)).ok, what, ms);
      return granted(grant!);
    };

    beforeEach(() => {
      fixtures = [];
      prefix = `test-${randomId()}:`;
    });

    afterEach(async () => {
      await Promise.all(fixtures.map((f) => f.close()));
    });

    it('grants up to the limit, then refuses naming the quota that is full', async () => {
      const { a } = await open();
      const ip = { key: key('full'), limit: 2 };
      const other = { key: key('other'), limit: 2 };
      await fill(a, [ip], 2);
      const refused = await a.acquireStream([ip]);
      expect(refused).to.deep.equal({ ok: false, full: ip });
      // Another client key has its own count.
      await fill(a, [other], 2);
    });

    it('refuses every stream of a quota whose limit is 0', async () => {
      const { a } = await open();
      const none = { key: key('none'), limit: 0 };
      expect(await a.acquireStream([none])).to.deep.equal({ ok: false, full: none });
    });

    it('frees room when a stream is released', async () => {
      const { a } = await open();
      const ip = { key: key('release'), limit: 2 };
      const [first] = await fill(a, [ip], 2);
      expect((await a.acquireStream([ip])).ok).to.equal(false);
      first!.release();
      granted(await a.acquireStream([ip]));
      expect((await a.acquireStream([ip])).ok).to.equal(false);
    });

    it('counts a release given twice once', async () => {
      const { a } = await open();
      const ip = { key: key('twice'), limit: 2 };
      const [first] = await fill(a, [ip], 2);
      first!.release();
      first!.release();
      granted(await a.acquireStream([ip]));
      // One room was freed, not two.
      expect(await a.acquireStream([ip])).to.deep.equal({ ok: false, full: ip });
    });

    it('shares one count between two holders (two edges)', async () => {
      const { a, b } = await open();
      const ip = { key: key('shared'), limit: 3 };
      const [fromA] = await fill(a, [ip], 2);
      await fill(b, [ip], 1);
      expect(await a.acquireStream([ip])).to.deep.equal({ ok: false, full: ip });
      expect(await b.acquireStream([ip])).to.deep.equal({ ok: false, full: ip });
      fromA!.release();
      // a's release reaches the store on a's own connection: b sees the room once it has.
      await untilGranted(b, [ip], 3000, "b to get the room a's release freed");
      expect((await a.acquireStream([ip])).ok).to.equal(false);
    });

    it('grants exactly the limit to many acquires at once from both holders', async () => {
      const { a, b } = await open();
      const ip = { key: key('race'), limit: 7 };
      const grants = await Promise.all(
        Array.from({ length: 30 }, (_, i) => (i % 2 === 0 ? a : b).acquireStream([ip])),
      );
      expect(grants.filter((g) => g.ok)).to.have.length(7);
    });

    it('counts all quotas or none: a full later quota leaves the earlier ones uncounted', async () => {
      const { a, b } = await open();
      const ip = { key: key('multi-ip'), limit: 1 };
      const sub = { key: `sub:${randomId()}`, limit: 1 };
      granted(await b.acquireStream([sub]));
      expect(await a.acquireStream([ip, sub])).to.deep.equal({ ok: false, full: sub });
      // Nothing stayed counted against ip: its one room is free (for a, and for b once a's give-back
      // of the ip stream it took first has reached the store).
      await untilGranted(b, [ip], 3000, 'the ip quota to be free again');
      expect(await a.acquireStream([ip])).to.deep.equal({ ok: false, full: ip });
    });

    it('counts a stream against every quota, and releases it from every quota', async () => {
      const { a } = await open();
      const ip = { key: key('both-ip'), limit: 2 };
      const sub = { key: `sub:${randomId()}`, limit: 1 };
      const grant = granted(await a.acquireStream([ip, sub]));
      expect(await a.acquireStream([sub])).to.deep.equal({ ok: false, full: sub });
      granted(await a.acquireStream([ip]));
      expect(await a.acquireStream([ip])).to.deep.equal({ ok: false, full: ip });
      grant.release();
      granted(await a.acquireStream([sub]));
      granted(await a.acquireStream([ip]));
    });

    it('counts a key given twice in one acquire once, against the smaller limit', async () => {
      const { a } = await open();
      const k = key('dup');
      const grant = granted(
        await a.acquireStream([
          { key: k, limit: 5 },
          { key: k, limit: 2 },
        ]),
      );
      granted(await a.acquireStream([{ key: k, limit: 2 }]));
      expect((await a.acquireStream([{ key: k, limit: 2 }])).ok).to.equal(false);
      grant.release();
      granted(await a.acquireStream([{ key: k, limit: 2 }]));
    });

    it('keeps a live holder counted well past its lease (it renews)', async function () {
      this.timeout(10_000);
      const { a, b } = await open(300);
      const ip = { key: key('renewed'), limit: 1 };
      granted(await a.acquireStream([ip]));
      await sleep(1200); // four leases
      expect(await b.acquireStream([ip])).to.deep.equal({ ok: false, full: ip });
    });

    if (suite.shared) {
      it("ends a crashed holder's counts with its lease, so the other holder gets the room", async function () {
        this.timeout(15_000);
        const leaseMs = 600;
        const f = await open(leaseMs);
        const ip = { key: key('crash'), limit: 3 };
        await fill(f.a, [ip], 2);
        // b holds one too, and renews it: the key lives on, so only the end of a's lease frees room.
        await fill(f.b, [ip], 1);
        await f.crashA!();
        const crashedAt = Date.now();
        // Still counted right after the crash: the lease runs.
        expect(await f.b.acquireStream([ip])).to.deep.equal({ ok: false, full: ip });
        await untilGranted(f.b, [ip], 5000, "the crashed holder's lease to end");
        // Its last renewal was at most a third of a lease before the crash.
        expect(Date.now() - crashedAt).to.be.at.least(leaseMs / 2);
        granted(await f.b.acquireStream([ip]));
        expect(await f.b.acquireStream([ip])).to.deep.equal({ ok: false, full: ip });
      });

      it('gives back what a holder holds when it closes cleanly, long before its lease ends', async () => {
        const f = await open(LONG_LEASE);
        const ip = { key: key('close'), limit: 1 };
        granted(await f.a.acquireStream([ip]));
        await f.a.close();
        granted(await f.b.acquireStream([ip]));
      });

      it('restores the counts within a renewal after the store lost every key', async function () {
        this.timeout(10_000);
        const f = await open(300);
        const ip = { key: key('restore'), limit: 2 };
        await fill(f.a, [ip], 2);
        await f.loseStore!();
        // a renews every 100 ms and writes its 2 streams back; until then b may find room, which it
        // gives back again.
        await waitUntil(
          async () => {
            const g = await f.b.acquireStream([ip]);
            if (g.ok) g.release();
            return !g.ok;
          },
          "a's counts to be written back",
          2000,
        );
        expect(await f.b.acquireStream([ip])).to.deep.equal({ ok: false, full: ip });
      });
    }

    it('allows a burst of connects, then refuses with the wait until the next', async () => {
      const { a } = await open();
      const k = key('rate');
      const [rate, burst] = [2, 3]; // one connect per 500 ms, three at once
      for (let i = 0; i < burst; i++) expect(await a.takeConnect(k, rate, burst), `connect ${i}`).to.equal(0);
      const wait = await a.takeConnect(k, rate, burst);
      expect(wait).to.be.above(0).and.at.most(500);
      // A refused connect takes nothing: the wait does not grow.
      const again = await a.takeConnect(k, rate, burst);
      expect(again).to.be.above(0).and.at.most(wait);
      // Waited by the wall clock the driver reads: a timer may fire up to a millisecond early by it
      // (Node measures from the start of the loop's turn).
      const until = Date.now() + again;
      while (Date.now() < until) await sleep(until - Date.now());
      expect(await a.takeConnect(k, rate, burst)).to.equal(0);
      expect(await a.takeConnect(k, rate, burst)).to.be.above(0);
    });

    it('keeps the connect allowances of keys apart, and shares one between holders', async () => {
      const { a, b } = await open();
      const [k1, k2] = [key('rate-1'), key('rate-2')];
      expect(await a.takeConnect(k1, 1, 2)).to.equal(0);
      expect(await b.takeConnect(k1, 1, 2)).to.equal(0);
      expect(await a.takeConnect(k1, 1, 2)).to.be.within(1, 1000);
      expect(await b.takeConnect(k1, 1, 2)).to.be.within(1, 1000);
      expect(await a.takeConnect(k2, 1, 2)).to.equal(0);
      expect(await b.takeConnect(k2, 1, 2)).to.equal(0);
    });

    it('refills the connect allowance at the rate, up to the burst', async () => {
      const { a } = await open();
      const k = key('refill');
      // 20 a second: a connect back every 50 ms; burst 2.
      expect(await a.takeConnect(k, 20, 2)).to.equal(0);
      expect(await a.takeConnect(k, 20, 2)).to.equal(0);
      expect(await a.takeConnect(k, 20, 2)).to.be.within(1, 50);
      await sleep(300); // long enough for many, but the burst caps the allowance at 2
      expect(await a.takeConnect(k, 20, 2)).to.equal(0);
      expect(await a.takeConnect(k, 20, 2)).to.equal(0);
      expect(await a.takeConnect(k, 20, 2)).to.be.within(1, 50);
    });

    it('rejects a rate or burst that means nothing', async () => {
      const { a } = await open();
      for (const [rate, burst] of [
        [0, 1],
        [-1, 1],
        [Number.NaN, 1],
        [1, 0],
        [1, 1.5],
      ] as const) {
        const err = await a.takeConnect(key('bad'), rate, burst).catch((e: unknown) => e);
        expect(err, `${rate}/${burst}`).to.be.instanceOf(RangeError);
      }
    });
  });
}
