/**
 * The BindingChangeFeed contract, run against every driver. A fixture gives two replicas of one
 * installation (`one`, `two`) and a replica of another installation (`stranger`, another key
 * prefix). Subscribing is asynchronous on Redis, so a test first announces until the peer hears
 * one (`linked`); after that, a feed delivers one replica's changes to a peer in order.
 */
import { expect } from 'chai';
import { bindingKey } from '@events-proxy/protocol';
import type { BindingChange, BindingChangeFeed } from '@events-proxy/cluster';
import { randomId } from '../support/processes.js';
import { waitUntil } from '../support/wait.js';

export interface BindingChangeFeedFixture {
  readonly one: BindingChangeFeed;
  readonly two: BindingChangeFeed;
  readonly stranger: BindingChangeFeed;
  close(): Promise<void>;
}

export function bindingChangeFeedSuite(
  driver: string,
  createFixture: () => Promise<BindingChangeFeedFixture>,
): void {
  describe(`cluster: BindingChangeFeed contract (${driver})`, () => {
    let fixture: BindingChangeFeedFixture;
    let got: { one: BindingChange[]; two: BindingChange[]; stranger: BindingChange[] };
    let id: string;
    const key = (name: string) =>
      bindingKey({ exchange: `exchange/test/${id}`, routingKeyPattern: `${name}.#` });
    const probe = () => ({ op: 'add' as const, key: key('probe') });

    /**
     * Announces until each replica hears the other, so both are subscribed. Then one sync change each
     * way, sent once: it arrives after every earlier probe of its sender (one publisher's changes
     * arrive in order), so no straggling probe can arrive after the reset.
     */
    async function linked(): Promise<void> {
      const until = (from: BindingChangeFeed, to: BindingChange[]) =>
        waitUntil(
          async () => {
            await from.announce(probe());
            return to.length > 0;
          },
          'a replica to hear its peer',
          10_000,
        );
      await until(fixture.one, got.two);
      await until(fixture.two, got.one);
      const [syncOne, syncTwo] = [key('sync-one'), key('sync-two')];
      await fixture.one.announce({ op: 'add', key: syncOne });
      await fixture.two.announce({ op: 'add', key: syncTwo });
      await waitUntil(
        () => got.two.some((c) => c.key === syncOne) && got.one.some((c) => c.key === syncTwo),
        'the sync changes',
        10_000,
      );
      got.one.length = 0;
      got.two.length = 0;
    }

    beforeEach(async () => {
      id = randomId();
      got = { one: [], two: [], stranger: [] };
      fixture = await createFixture();
      fixture.one.onChange((c) => got.one.push(c));
      fixture.two.onChange((c) => got.two.push(c));
      fixture.stranger.onChange((c) => got.stranger.push(c));
    });

    afterEach(async () => {
      await fixture.close();
    });

    it("hands each replica the others' changes, in order, and never its own", async () => {
      await linked();
      const sent: BindingChange[] = [
        { op: 'add', key: key('a') },
        { op: 'add', key: key('b') },
        { op: 'remove', key: key('a') },
      ];
      for (const change of sent) await fixture.one.announce(change);
      // A marker from the peer: once it is back at `one`, anything `one` had sent itself would be too.
      await fixture.two.announce({ op: 'add', key: key('marker') });
      await waitUntil(() => got.two.length >= sent.length, 'the peer to hear every change', 10_000);
      await waitUntil(() => got.one.length >= 1, 'the marker', 10_000);
      expect(got.two).to.deep.equal(sent);
      expect(got.one).to.deep.equal([{ op: 'add', key: key('marker') }]);
    });

    it('keeps changes within one installation (key prefix)', async () => {
      await linked();
      await fixture.one.announce({ op: 'add', key: key('mine') });
      await waitUntil(() => got.two.length >= 1, 'the peer', 10_000);
      expect(got.stranger).to.deep.equal([]);
    });

    it('carries binding keys byte for byte (the NUL separator, non-ASCII, CR/LF)', async () => {
      await linked();
      const odd = bindingKey({ exchange: `exchange/ünï/${id}\r\n"`, routingKeyPattern: 'a.✓.#' });
      await fixture.one.announce({ op: 'remove', key: odd });
      await waitUntil(() => got.two.length >= 1, 'the change', 10_000);
      expect(got.two).to.deep.equal([{ op: 'remove', key: odd }]);
    });

    it('reports itself connected, and rejects an announcement after close', async () => {
      await linked();
      await waitUntil(() => fixture.one.isConnected() && fixture.two.isConnected(), 'connected', 5000);
      await fixture.one.close();
      const err = await fixture.one.announce(probe()).catch((e: unknown) => e);
      expect(err).to.be.instanceOf(Error);
    });
  });
}
