/**
 * The EdgeLoads contract (DESIGN.md §3e), run against every driver. A fixture gives two handles on
 * one store, like two edges (one instance in memory, where single-node mode has one edge).
 */
import { expect } from 'chai';
import type { EdgeLoad, EdgeLoads } from '@events-proxy/cluster';
import { randomId } from '../support/processes.js';
import { waitUntil } from '../support/wait.js';

export interface EdgeLoadsFixture {
  readonly a: EdgeLoads;
  readonly b: EdgeLoads;
  close(): Promise<void>;
}

export type EdgeLoadsFixtureFactory = (keyPrefix: string) => Promise<EdgeLoadsFixture>;

const LONG_TTL = 30_000;
const byEdge = (loads: readonly EdgeLoad[]) => [...loads].sort((x, y) => (x.edge < y.edge ? -1 : 1));

export function edgeLoadsSuite(driver: string, createFixture: EdgeLoadsFixtureFactory): void {
  describe(`cluster: EdgeLoads contract (${driver})`, () => {
    let fixture: EdgeLoadsFixture;
    const edge = (name: string) => `${name}-${randomId()}`;

    beforeEach(async () => {
      fixture = await createFixture(`test-${randomId()}:`);
    });

    afterEach(async () => {
      await fixture.close();
    });

    it('reads back what every edge reported, the newest report of each', async () => {
      const [x, y] = [edge('x'), edge('y')];
      await fixture.a.report({ edge: x, v1: 3, v2: 40, ready: true }, LONG_TTL);
      await fixture.b.report({ edge: y, v1: 0, v2: 7, ready: false }, LONG_TTL);
      await fixture.a.report({ edge: x, v1: 2, v2: 41, ready: true }, LONG_TTL);
      const expected = byEdge([
        { edge: x, v1: 2, v2: 41, ready: true },
        { edge: y, v1: 0, v2: 7, ready: false },
      ]);
      expect(byEdge(await fixture.a.read())).to.deep.equal(expected);
      expect(byEdge(await fixture.b.read())).to.deep.equal(expected);
    });

    it('forgets a report that was not renewed within its TTL (a dead edge), and keeps a renewed one', async () => {
      const [dead, live] = [edge('dead'), edge('live')];
      await fixture.a.report({ edge: dead, v1: 0, v2: 5, ready: true }, 300);
      await fixture.b.report({ edge: live, v1: 0, v2: 6, ready: true }, 300);
      const renew = setInterval(
        () => void fixture.b.report({ edge: live, v1: 0, v2: 6, ready: true }, 300),
        100,
      );
      try {
        await waitUntil(
          async () => (await fixture.b.read()).every((l) => l.edge !== dead),
          'the dead edge forgotten',
          5_000,
        );
        expect((await fixture.a.read()).map((l) => l.edge)).to.deep.equal([live]);
      } finally {
        clearInterval(renew);
      }
    });

    it('takes a withdrawn report back at once', async () => {
      const [x, y] = [edge('x'), edge('y')];
      await fixture.a.report({ edge: x, v1: 1, v2: 1, ready: true }, LONG_TTL);
      await fixture.b.report({ edge: y, v1: 1, v2: 1, ready: true }, LONG_TTL);
      await fixture.a.withdraw(x);
      expect((await fixture.b.read()).map((l) => l.edge)).to.deep.equal([y]);
    });

    it('keeps installations apart (each its own key prefix)', async () => {
      const other = await createFixture(`test-${randomId()}:`);
      try {
        await fixture.a.report({ edge: edge('mine'), v1: 0, v2: 1, ready: true }, LONG_TTL);
        expect(await other.a.read()).to.deep.equal([]);
      } finally {
        await other.close();
      }
    });
  });
}
