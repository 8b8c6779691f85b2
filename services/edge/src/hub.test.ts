import { expect } from 'chai';
import { createLogger } from '@events-proxy/runtime';
import { SpyBus } from '../../../test/edge/harness.js';
import { Hub } from './hub.js';
import type { SseConnection } from './sse-connection.js';
import type { MessageFrames } from './message-frames.js';

/** The hub only calls deliver() on its members. */
function member(): SseConnection & { got: string[] } {
  const got: string[] = [];
  return {
    got,
    deliver: (m: MessageFrames) => {
      got.push(m.cursor);
      return 1;
    },
  } as unknown as SseConnection & { got: string[] };
}

const noStats = { delivered: () => undefined };

describe('edge: shared bus subscriptions', () => {
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
      const frames: MessageFrames[] = [];
      const seen = (): SseConnection =>
        ({
          deliver: (m: MessageFrames) => {
            frames.push(m);
            return m.v1.bytes.length;
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
      expect(frames[0]!.v1.bytes.toString()).to.equal('event: message\n');
      expect(stats).to.deep.equal([3]);
      await bus.publish([{ channel: 'ch', envelope: Buffer.from('not an envelope') }]);
      expect(frames).to.have.length(3);
    });
  });
});
