/**
 * The edge's local fast path that the reconnect storm relies on: a binding this edge holds and
 * has just renewed is ensured without a Redis round trip, and only while that is certainly safe
 * (held here, within half a lease of a successful renewal, the store connected); an ensure() that
 * comes while its binding's renewal is on the way joins it. Real Redis.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import { expect } from 'chai';
import { Redis } from 'ioredis';
import { EdgeControlPlane, RedisLeaseStore, type BindQueue, type LeaseStore } from '@events-proxy/cluster';
import { bindingKey, type Binding } from '@events-proxy/protocol';
import { randomId } from '../support/processes.js';
import { REDIS_URL, needRedis } from '../support/services.js';
import { waitUntil } from '../support/wait.js';

/** A bind queue that must not be used: every binding in these tests is leased already. */
const noQueue: BindQueue = {
  request: () => Promise.reject(new Error('no bind request expected: the binding is leased')),
} as unknown as BindQueue;

describe('bench: the edge answers ensure() locally for bindings it holds and has just renewed', function () {
  let store: RedisLeaseStore;
  let admin: Redis;
  let prefix: string;
  let calls: number;
  let connected: boolean;
  let counting: LeaseStore;
  const binding: Binding = { exchange: 'exchange/test/fast-path', routingKeyPattern: 'a.#' };

  before(async () => {
    await needRedis();
    admin = new Redis(REDIS_URL);
  });

  beforeEach(async () => {
    prefix = `test-${randomId()}:`;
    store = new RedisLeaseStore({ redis: new Redis(REDIS_URL), keyPrefix: prefix });
    await store.lease(bindingKey(binding), 60_000);
    calls = 0;
    connected = true;
    counting = Object.assign(Object.create(store) as LeaseStore, {
      renewIfLeased: (keys: readonly string[], ms: number) => {
        calls++;
        return store.renewIfLeased(keys, ms);
      },
      isConnected: () => connected && store.isConnected(),
    });
  });

  afterEach(async () => {
    await store.close();
    const keys = await admin.keys(`${prefix}*`);
    if (keys.length > 0) await admin.del(...keys);
  });

  after(() => admin?.disconnect());

  it('renews once, then serves every later ensure() of a held binding from memory', async () => {
    const edge = new EdgeControlPlane({ store: counting, bindQueue: noQueue, leaseMs: 60_000 });
    edge.hold(binding);
    await edge.ensure(binding, 5000);
    expect(calls).to.equal(1);
    for (let i = 0; i < 50; i++) await edge.ensure(binding, 5000);
    expect(calls).to.equal(1);
  });

  it('asks Redis again once no local client holds the binding', async () => {
    const edge = new EdgeControlPlane({ store: counting, bindQueue: noQueue, leaseMs: 60_000 });
    edge.hold(binding);
    await edge.ensure(binding, 5000);
    edge.release(binding);
    await edge.ensure(binding, 5000);
    expect(calls).to.equal(2);
  });

  it('asks Redis while the store reports itself disconnected', async () => {
    const edge = new EdgeControlPlane({ store: counting, bindQueue: noQueue, leaseMs: 60_000 });
    edge.hold(binding);
    await edge.ensure(binding, 5000);
    connected = false;
    await edge.ensure(binding, 5000);
    expect(calls).to.equal(2);
  });

  it('asks Redis again once half a lease has passed since the renewal', async () => {
    const leaseMs = 400;
    const edge = new EdgeControlPlane({ store: counting, bindQueue: noQueue, leaseMs });
    edge.hold(binding);
    const renewedBefore = performance.now();
    await edge.ensure(binding, 5000);
    await waitUntil(() => performance.now() > renewedBefore + leaseMs / 2, 'half a lease to pass', 5000);
    await edge.ensure(binding, 5000);
    expect(calls).to.equal(2);
  });

  it('asks Redis after a renewal of held leases failed', async () => {
    const edge = new EdgeControlPlane({
      store: Object.assign(Object.create(counting) as LeaseStore, {
        renewIfLeased: (keys: readonly string[], ms: number) =>
          keys.length > 1 ? Promise.reject(new Error('Redis went away')) : counting.renewIfLeased(keys, ms),
      }),
      bindQueue: noQueue,
      leaseMs: 60_000,
    });
    const other: Binding = { ...binding, routingKeyPattern: 'b.#' };
    edge.hold(binding);
    edge.hold(other);
    await edge.ensure(binding, 5000);
    await edge.renewHeld(); // two held keys: this store fails that call
    await edge.ensure(binding, 5000);
    expect(calls).to.equal(2);
  });

  it('joins a renewal already on its way to Redis instead of sending another', async () => {
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const edge = new EdgeControlPlane({
      store: Object.assign(Object.create(counting) as LeaseStore, {
        renewIfLeased: async (keys: readonly string[], ms: number) => {
          const answer = counting.renewIfLeased(keys, ms);
          await gate;
          return answer;
        },
      }),
      bindQueue: noQueue,
      leaseMs: 60_000,
    });
    const first = edge.ensure(binding, 5000);
    await waitUntil(() => calls === 1, 'the first renewal to be sent', 5000);
    await nextTurn(); // a later turn of the event loop: not batched with the first
    const second = edge.ensure(binding, 5000);
    await nextTurn();
    open();
    await Promise.all([first, second]);
    expect(calls).to.equal(1);
    await edge.ensure(binding, 5000); // answered: the next one asks again (the binding is not held)
    expect(calls).to.equal(2);
  });
});
