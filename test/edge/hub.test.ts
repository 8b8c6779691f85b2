import { expect } from 'chai';
import { READY_FRAME, names } from '@events-proxy/protocol';
import { SseClient } from '../support/sse-client.js';
import { waitUntil } from '../support/wait.js';
import { startEdge, type TestEdge } from './harness.js';
import { RawResponse } from './raw-http.js';

describe('edge: shared bus subscriptions', () => {
  describe('through the edge', () => {
    let t: TestEdge;
    const clients: SseClient[] = [];

    before(async () => {
      t = await startEdge();
    });

    after(async () => {
      for (const c of clients) c.close();
      await t?.stop();
    });

    it('holds one subscription per channel for many clients, released when the last one leaves', async () => {
      const b = { exchange: 'exchange/test/shared', routingKeyPattern: '#' };
      const other = { exchange: 'exchange/test/shared', routingKeyPattern: 'other.*' };
      const channel = names(t.config.keyPrefix).channel(b);
      const many = Array.from({ length: 5 }, () => new SseClient(t.url([b])));
      const mixed = new SseClient(t.url([b, other]));
      clients.push(...many, mixed);
      for (const c of [...many, mixed]) await c.waitReady();
      expect(t.bus.subscribeCalls).to.equal(2);
      expect([...t.bus.live].sort()).to.deep.equal(
        [channel, names(t.config.keyPrefix).channel(other)].sort(),
      );
      expect(await t.metric('events_edge_bus_subscriptions')).to.equal(2);

      await t.publish([b], 'one', { n: 1 });
      for (const c of [...many, mixed]) await c.waitFor((x) => x.messages().length === 1, 'the message');

      mixed.close();
      await waitUntil(() => t.bus.live.size === 1, 'the unshared channel to be dropped', 5_000);
      for (const c of many.slice(0, 4)) c.close();
      await waitUntil(() => t.edge.stats().connections === 1, 'four clients gone', 5_000);
      expect(t.bus.live.has(channel)).to.equal(true);
      expect(t.bus.unsubscribeCalls).to.equal(1);
      many[4]!.close();
      await waitUntil(() => t.bus.live.size === 0, 'the last subscription to be dropped', 5_000);
      expect(t.bus.unsubscribeCalls).to.equal(2);
      expect(t.edge.stats()).to.deep.equal({ connections: 0, busSubscriptions: 0, heldBindings: 0 });
      expect(await t.metric('events_edge_bus_subscriptions')).to.equal(0);
    });

    it('subscribes again for a client arriving while the unsubscribe is in flight', async () => {
      const b = { exchange: 'exchange/test/resubscribe', routingKeyPattern: '#' };
      const first = await RawResponse.open(t.url([b]));
      await first.waitFor((x) => x.body === READY_FRAME, 'ready');
      const unsubscribes = t.bus.unsubscribeCalls;
      const subscribes = t.bus.subscribeCalls;
      t.bus.unsubscribeGate.shut();
      first.close();
      await waitUntil(() => t.bus.unsubscribeCalls === unsubscribes + 1, 'the unsubscribe to start', 5_000);
      const second = new SseClient(t.url([b]));
      clients.push(second);
      await waitUntil(() => t.edge.stats().connections === 1, 'the second client to join', 5_000);
      expect(t.bus.subscribeCalls).to.equal(subscribes); // waits behind the unsubscribe
      t.bus.unsubscribeGate.open();
      await second.waitReady();
      expect(t.bus.subscribeCalls).to.equal(subscribes + 1);
      expect(t.bus.live.has(names(t.config.keyPrefix).channel(b))).to.equal(true);
      await t.publish([b], 'after', { n: 1 });
      await second.waitFor((x) => x.messages().length === 1, 'the message');
    });
  });
});
