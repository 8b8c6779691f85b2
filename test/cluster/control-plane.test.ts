/**
 * EdgeControlPlane and IngestControlPlane together, on the memory drivers and on Redis (an edge and an
 * ingest with separate clients sharing one key prefix). The broker is a fake that records what
 * is bound; the behaviour under test is the lease and lock logic around it.
 */
import { expect } from 'chai';
import { bindingKey, parseBindingKey, type Binding } from '@events-proxy/protocol';
import {
  EdgeControlPlane,
  IngestControlPlane,
  createMemoryDrivers,
  createRedisDrivers,
  type BindQueue,
  type BrokerBinder,
  type Drivers,
  type LeaseStore,
} from '@events-proxy/cluster';
import { randomId } from '../support/processes.js';
import { REDIS_URL, needRedis } from '../support/services.js';
import { waitUntil } from '../support/wait.js';
import { flushPrefix, gate, quietLogger, testPrefix } from './redis-support.js';

class FakeBroker implements BrokerBinder {
  readonly bound = new Set<string>();
  binds = 0;
  unbinds = 0;
  /** While set, unbind() reports it has started and then waits for the gate to open. */
  unbindGate: { entered: () => void; release: Promise<void> } | undefined;
  /** Unbinds running now, and the most seen at once. */
  private running = 0;
  maxConcurrentUnbinds = 0;

  async bind(b: Binding): Promise<void> {
    this.binds++;
    this.bound.add(bindingKey(b));
  }

  async unbind(b: Binding): Promise<void> {
    this.unbinds++;
    this.maxConcurrentUnbinds = Math.max(this.maxConcurrentUnbinds, ++this.running);
    try {
      if (this.unbindGate) {
        this.unbindGate.entered();
        await this.unbindGate.release;
      }
      await new Promise((resolve) => setImmediate(resolve));
      this.bound.delete(bindingKey(b));
    } finally {
      this.running--;
    }
  }

  has(b: Binding): boolean {
    return this.bound.has(bindingKey(b));
  }
}

/** Reports when the ingest's handler has been handed a request. */
function observed(queue: BindQueue, onHandled: () => void): BindQueue {
  return {
    request: (b, ms) => queue.request(b, ms),
    process: (handler, concurrency) =>
      queue.process(async (b) => {
        onHandled();
        await handler(b);
      }, concurrency),
    isConnected: () => queue.isConnected(),
    close: () => queue.close(),
  };
}

interface Roles {
  readonly edge: Drivers;
  readonly ingest: Drivers;
  close(): Promise<void>;
}

const setups: [string, () => Promise<Roles>][] = [
  [
    'memory',
    async () => {
      const drivers = createMemoryDrivers();
      return { edge: drivers, ingest: drivers, close: () => drivers.close() };
    },
  ],
  [
    'redis',
    async () => {
      await needRedis();
      const keyPrefix = testPrefix();
      const make = () => createRedisDrivers({ url: REDIS_URL, keyPrefix, bus: 'redis', logger: quietLogger });
      const [edge, ingest] = [make(), make()];
      return {
        edge,
        ingest,
        close: async () => {
          await Promise.all([edge.close(), ingest.close()]);
          await flushPrefix(keyPrefix);
        },
      };
    },
  ],
];

for (const [driver, setup] of setups) {
  describe(`cluster: control plane, edge and ingest together (${driver})`, function () {
    this.timeout(20_000);
    let roles: Roles;
    let broker: FakeBroker;
    let edge: EdgeControlPlane;
    let ingest: IngestControlPlane;
    let handled: number;
    let binding: Binding;

    async function start(leaseMs: number): Promise<void> {
      edge = new EdgeControlPlane({ store: roles.edge.store, bindQueue: roles.edge.bindQueue, leaseMs });
      const queue = observed(roles.ingest.bindQueue, () => handled++);
      ingest = new IngestControlPlane({
        store: roles.ingest.store,
        bindQueue: queue,
        binder: broker,
        leaseMs,
        concurrency: 4,
      });
      await ingest.start();
    }

    beforeEach(async () => {
      roles = await setup();
      broker = new FakeBroker();
      handled = 0;
      binding = { exchange: `exchange/test/${randomId()}`, routingKeyPattern: '#' };
    });

    afterEach(async () => {
      broker.unbindGate = undefined;
      edge?.stop();
      await ingest?.stop();
      await roles.close();
    });

    it('binds on the first ensure() and takes the fast path afterwards', async () => {
      await start(10_000);
      await edge.ensure(binding, 5000);
      expect(broker.has(binding)).to.equal(true);
      await edge.ensure(binding, 5000);
      await edge.ensure(binding, 5000);
      expect(broker.binds).to.equal(1);
      expect(handled).to.equal(1, 'one request reached the ingest');
    });

    it('unbinds a binding nobody holds once its lease has run out', async () => {
      await start(300);
      await edge.ensure(binding, 5000);
      expect(broker.has(binding)).to.equal(true);
      await waitUntil(() => !broker.has(binding), 'the unheld binding to be unbound', 5000);
      expect(await roles.edge.store.all()).not.to.include(bindingKey(binding));
      expect((await roles.ingest.store.all()).map(parseBindingKey)).to.deep.equal([]);
    });

    it('never unbinds a binding that an edge holds and renews', async () => {
      await start(900);
      const unheld: Binding = { exchange: binding.exchange, routingKeyPattern: 'unheld' };
      edge.hold(binding);
      edge.start();
      await edge.ensure(binding, 5000);
      // Two full lease cycles of an unheld binding, measured by the reaper itself.
      for (let round = 1; round <= 2; round++) {
        await edge.ensure(unheld, 5000);
        await waitUntil(() => !broker.has(unheld), `the unheld binding to be reaped (round ${round})`, 5000);
      }
      expect(broker.has(binding)).to.equal(true);
      expect(broker.unbinds).to.equal(2, 'only the unheld binding was unbound');
      expect((await roles.ingest.store.all()).map(parseBindingKey)).to.deep.equal([binding]);
    });

    it('leaves the binding in place when ensure() races a reaper that is removing it', async () => {
      await start(600);
      await edge.ensure(binding, 5000);
      const entered = gate();
      const release = gate();
      broker.unbindGate = { entered: entered.open, release: release.promise };

      // The lease runs out; the reaper takes the lock, removes the lease and is held inside unbind.
      await entered.promise;
      const handledBefore = handled;
      const ensured = edge.ensure(binding, 10_000);
      await waitUntil(() => handled > handledBefore, 'the bind request to reach the ingest', 5000);
      expect(broker.binds).to.equal(1, 'no bind while the reaper holds the lock');

      release.open();
      await ensured;
      expect(broker.has(binding), 'bound after ensure() resolved').to.equal(true);
      expect(broker.binds).to.equal(2);
      expect(await roles.edge.store.renewIfLeased([bindingKey(binding)], 600)).to.deep.equal([true]);
    });

    it('reaps every expired binding in one round, more than a page of them, a few at a time', async () => {
      const keys = Array.from({ length: 2500 }, (_, i) => `${binding.exchange}.${i}`).map((pattern) =>
        bindingKey({ exchange: binding.exchange, routingKeyPattern: pattern }),
      );
      // Every lease is written before the reaper starts: its timer's first round (a second after
      // start) would otherwise reap the part written so far, and reap() below would join that round.
      for (const key of keys) await roles.ingest.store.lease(key, 0);
      for (const key of keys) broker.bound.add(key);
      await start(60_000);
      expect(await ingest.reap()).to.equal(2500);
      expect(broker.bound.size).to.equal(0);
      expect(await roles.ingest.store.all()).to.deep.equal([]);
      expect(broker.maxConcurrentUnbinds).to.be.within(2, 4);
    });

    it('renews the leases of every binding asked for in one tick with one store call', async () => {
      await start(60_000);
      const bindings = Array.from({ length: 50 }, (_, i) => ({
        exchange: binding.exchange,
        routingKeyPattern: `live.${i}`,
      }));
      for (const b of bindings) await roles.edge.store.lease(bindingKey(b), 60_000);
      const calls: number[] = [];
      const store = roles.edge.store;
      const counting: LeaseStore = Object.assign(Object.create(store) as LeaseStore, {
        renewIfLeased: (keys: readonly string[], ms: number) => {
          calls.push(keys.length);
          return store.renewIfLeased(keys, ms);
        },
      });
      const burst = new EdgeControlPlane({
        store: counting,
        bindQueue: roles.edge.bindQueue,
        leaseMs: 60_000,
      });
      // Twice each: connections sharing a binding share its renewal too.
      await Promise.all([...bindings, ...bindings].map((b) => burst.ensure(b, 5000)));
      expect(calls).to.deep.equal([50]);
      expect(handled).to.equal(0, 'no bind request for a live binding');
    });
  });
}
