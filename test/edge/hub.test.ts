import { expect } from 'chai';
import { READY_FRAME, names } from '@events-proxy/protocol';
import { createLogger } from '@events-proxy/runtime';
import { Hub } from '../../services/edge/src/hub.js';
import type { SseConnection } from '../../services/edge/src/sse-connection.js';
import type { OutFrame } from '../../services/edge/src/writer.js';
import { SseClient } from '../support/sse-client.js';
import { waitUntil } from '../support/wait.js';
import { SpyBus, startEdge, type TestEdge } from './harness.js';
import { RawResponse } from './raw-http.js';

/** The hub only calls deliver() on its members. */
function member(): SseConnection & { got: string[] } {
  const got: string[] = [];
  return {
    got,
    deliver: (id: string) => {
      got.push(id);
      return true;
    },
  } as unknown as SseConnection & { got: string[] };
}

const noStats = { delivered: () => undefined };

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

  describe('the hub alone', () => {
    it('makes members that join during a subscribe wait for it, and subscribes once', async () => {
      const bus = new SpyBus();
      const hub = new Hub(bus, noStats, createLogger('silent'));
      bus.subscribeGate.shut();
      const a = member();
      const b = member();
      let aIn = false;
      let bIn = false;
      const ja = hub.join('ch', a).then(() => (aIn = true));
      const jb = hub.join('ch', b).then(() => (bIn = true));
      await new Promise((resolve) => setImmediate(resolve));
      expect([aIn, bIn]).to.deep.equal([false, false]);
      bus.subscribeGate.open();
      await Promise.all([ja, jb]);
      expect(bus.subscribeCalls).to.equal(1);
      expect(hub.subscriptions).to.equal(1);
    });

    it('keeps the subscription when the only member leaves and another joins before it is in place', async () => {
      const bus = new SpyBus();
      const hub = new Hub(bus, noStats, createLogger('silent'));
      bus.subscribeGate.shut();
      const a = member();
      const b = member();
      const ja = hub.join('ch', a);
      hub.leave('ch', a);
      const jb = hub.join('ch', b);
      bus.subscribeGate.open();
      await Promise.all([ja, jb, hub.settled()]);
      expect([bus.subscribeCalls, bus.unsubscribeCalls]).to.deep.equal([1, 0]);
      expect([...bus.live]).to.deep.equal(['ch']);
      hub.leave('ch', b);
      await hub.settled();
      expect([bus.subscribeCalls, bus.unsubscribeCalls]).to.deep.equal([1, 1]);
      expect(hub.subscriptions).to.equal(0);
      expect(hub.members('ch')).to.equal(0);
    });

    it('reports a failed subscribe to the joiner and retries for the next one', async () => {
      const bus = new SpyBus();
      let fail = true;
      const subscribe = bus.subscribe.bind(bus);
      bus.subscribe = async (channel) => {
        if (fail) throw new Error('Redis is down');
        await subscribe(channel);
      };
      const hub = new Hub(bus, noStats, createLogger('silent'));
      const a = member();
      let error: unknown;
      await hub.join('ch', a).catch((err: unknown) => (error = err));
      expect(error).to.be.instanceOf(Error);
      hub.leave('ch', a);
      fail = false;
      await hub.join('ch', member());
      expect(hub.subscriptions).to.equal(1);
      expect([...bus.live]).to.deep.equal(['ch']);
    });

    it('decodes each bus message once and hands the same frame to every member', async () => {
      const bus = new SpyBus();
      const frames: OutFrame[] = [];
      const seen = (): SseConnection =>
        ({
          deliver: (_id: string, frame: OutFrame) => {
            frames.push(frame);
            return true;
          },
        }) as unknown as SseConnection;
      const stats: number[] = [];
      const hub = new Hub(bus, { delivered: (count) => stats.push(count) }, createLogger('silent'));
      await hub.join('ch', seen());
      await hub.join('ch', seen());
      await hub.join('ch', seen());
      await bus.publish([{ channel: 'ch', envelope: Buffer.from('id-1 1700000000000\nevent: message\n') }]);
      expect(frames).to.have.length(3);
      expect(frames[1]).to.equal(frames[0]); // the same frame object, not a copy
      expect(frames[2]).to.equal(frames[0]);
      expect(frames[0]!.bytes.toString()).to.equal('event: message\n');
      expect(stats).to.deep.equal([3]);
      await bus.publish([{ channel: 'ch', envelope: Buffer.from('not an envelope') }]);
      expect(frames).to.have.length(3);
    });
  });
});
