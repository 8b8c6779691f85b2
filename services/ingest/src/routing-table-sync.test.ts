/** Keeping the router's bindings equal to the lease store, across replicas. */
import { expect } from 'chai';
import { MemoryLeaseStore, type BindingChange, type BindingChangeFeed } from '@events-proxy/cluster';
import { bindingKey, type Binding } from '@events-proxy/protocol';
import { createLogger } from '@events-proxy/runtime';
import { RoutingTable } from './routing-table.js';
import { RoutingTableSync } from './routing-table-sync.js';

class FakeFeed implements BindingChangeFeed {
  readonly sent: BindingChange[] = [];
  private cb: (c: BindingChange) => void = () => undefined;
  async announce(change: BindingChange): Promise<void> {
    this.sent.push(change);
  }
  onChange(cb: (c: BindingChange) => void): void {
    this.cb = cb;
  }
  deliver(change: BindingChange): void {
    this.cb(change);
  }
  isConnected(): boolean {
    return true;
  }
  async close(): Promise<void> {}
}

const a: Binding = { exchange: 'exchange/a', routingKeyPattern: 'a.#' };
const b: Binding = { exchange: 'exchange/b', routingKeyPattern: 'b.*' };

describe('ingest: routing table sync', () => {
  let store: MemoryLeaseStore;
  let routingTable: RoutingTable;
  let feed: FakeFeed;
  let rebound: Binding[];
  let tableSync: RoutingTableSync;

  beforeEach(() => {
    store = new MemoryLeaseStore();
    routingTable = new RoutingTable('test:');
    feed = new FakeFeed();
    rebound = [];
    tableSync = new RoutingTableSync({
      store,
      routingTable,
      feed,
      logger: createLogger('silent'),
      resyncMs: 60_000, // resyncs are driven by hand here
      leaseMs: 60_000,
      bind: async (x) => {
        rebound.push(x);
      },
    });
    tableSync.start();
  });

  afterEach(() => tableSync.stop());

  it('routes for a local bind at once and announces it; a local removal likewise', async () => {
    await tableSync.added(a);
    expect(routingTable.channelsFor('exchange/a', 'a.x', [])).to.deep.equal(['test:msg:' + bindingKey(a)]);
    await tableSync.removed(a);
    expect(routingTable.size).to.equal(0);
    expect(feed.sent).to.deep.equal([
      { op: 'add', key: bindingKey(a) },
      { op: 'remove', key: bindingKey(a) },
    ]);
  });

  it("applies other replicas' changes", async () => {
    feed.deliver({ op: 'add', key: bindingKey(b) });
    expect(routingTable.has(b)).to.equal(true);
    feed.deliver({ op: 'remove', key: bindingKey(b) });
    await tableSync.stop(); // waits for the removal's lease check
    expect(routingTable.has(b)).to.equal(false);
    feed.deliver({ op: 'add', key: 'not a key' }); // ignored, logged
    expect(routingTable.size).to.equal(0);
  });

  it("ignores a peer's late removal of a binding that is leased again", async () => {
    await tableSync.added(b);
    await store.lease(bindingKey(b), 60_000); // this replica's bind job finished
    feed.deliver({ op: 'remove', key: bindingKey(b) }); // from the peer's earlier reap
    await tableSync.stop();
    expect(routingTable.has(b)).to.equal(true);
  });

  it('a resync adds what the store has at once', async () => {
    await store.lease(bindingKey(a), 60_000);
    await tableSync.resync();
    expect(routingTable.has(a)).to.equal(true);
  });

  it('a binding the store lost is bound and leased again when two resyncs in a row miss it', async () => {
    await tableSync.added(a); // bound here, but its lease is gone (e.g. Redis restarted empty)
    await tableSync.resync();
    expect(rebound).to.deep.equal([]);
    expect(await store.all()).to.deep.equal([]);
    await tableSync.resync();
    expect(routingTable.has(a)).to.equal(true);
    expect(rebound).to.deep.equal([a]);
    expect(await store.all()).to.deep.equal([bindingKey(a)]);
    expect(await store.expired(10)).to.deep.equal([]); // a fresh lease: reaped only if nobody renews it
  });

  it('a binding leased between the two resyncs stays', async () => {
    await tableSync.added(a);
    await tableSync.resync();
    await store.lease(bindingKey(a), 60_000);
    await tableSync.resync();
    await tableSync.resync();
    expect(routingTable.has(a)).to.equal(true);
    expect(rebound).to.deep.equal([]);
  });

  it('a binding added again after the first miss starts over', async () => {
    feed.deliver({ op: 'add', key: bindingKey(b) });
    await tableSync.resync();
    await tableSync.added(b); // e.g. re-bound by this replica, lease not yet written
    await tableSync.resync();
    expect(routingTable.has(b)).to.equal(true);
  });
});
