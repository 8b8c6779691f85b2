import { expect } from 'chai';
import {
  MemoryLeaseStore,
  RedisLeaseStore,
  connectRedis,
  connectTarget,
  type RedisLeaseStoreOptions,
} from '@events-proxy/cluster';
import { REDIS_URL, needRedis } from '../support/services.js';
import { leaseStoreSuite } from './lease-store.suite.js';
import { flushPrefix, gate, quietLogger, sharedRedisCluster, testPrefix } from './redis-support.js';

leaseStoreSuite('memory', async () => {
  const store = new MemoryLeaseStore();
  return { a: store, b: store, close: () => store.close() };
});

function redisStore(keyPrefix: string, opts: Partial<RedisLeaseStoreOptions> = {}): RedisLeaseStore {
  const redis = connectRedis(REDIS_URL, {
    name: 'test-leases',
    logger: quietLogger,
    maxRetriesPerRequest: 2,
  });
  return new RedisLeaseStore({ redis, keyPrefix, logger: quietLogger, lockWaitMs: 4000, ...opts });
}

leaseStoreSuite('redis', async () => {
  await needRedis();
  const prefix = testPrefix();
  const a = redisStore(prefix);
  const b = redisStore(prefix);
  return {
    a,
    b,
    close: async () => {
      await Promise.all([a.close(), b.close()]);
      await flushPrefix(prefix);
    },
  };
});

leaseStoreSuite('redis cluster, hash-tagged keys', async () => {
  const cluster = await sharedRedisCluster();
  // The cluster is private to this run and deleted after it: no keys to flush.
  const keyPrefix = testPrefix();
  const store = () =>
    new RedisLeaseStore({
      redis: connectTarget(
        { clusterNodes: cluster.urls },
        { name: 'test-leases', logger: quietLogger, maxRetriesPerRequest: 2 },
      ),
      keyPrefix,
      hashTagged: true,
      logger: quietLogger,
      lockWaitMs: 4000,
    });
  const [a, b] = [store(), store()];
  return { a, b, close: async () => void (await Promise.all([a.close(), b.close()])) };
});

describe('cluster: RedisLeaseStore locks', () => {
  let prefix: string;
  const stores: RedisLeaseStore[] = [];
  const store = (opts: Partial<RedisLeaseStoreOptions> = {}) => {
    const s = redisStore(prefix, opts);
    stores.push(s);
    return s;
  };

  beforeEach(async () => {
    await needRedis();
    prefix = testPrefix();
  });

  afterEach(async () => {
    await Promise.all(stores.splice(0).map((s) => s.close()));
    await flushPrefix(prefix);
  });

  it('gives up waiting for a held lock after the bounded wait, with a clear error', async () => {
    const holder = store();
    const waiter = store({ lockWaitMs: 200 });
    const release = gate();
    const entered = gate();
    const held = holder.withLock('k', async () => {
      entered.open();
      await release.promise;
    });
    await entered.promise;
    const err = await waiter.withLock('k', async () => 'never').catch((e: unknown) => e);
    release.open();
    await held;
    expect(err).to.be.instanceOf(Error);
    expect((err as Error).message).to.match(/Timed out after 200 ms waiting for the lock on binding k/);
  });

  it('keeps the lock past its TTL while the work still runs', async () => {
    const holder = store({ lockTtlMs: 300 });
    const waiter = store({ lockTtlMs: 300, lockWaitMs: 5000 });
    const log: string[] = [];
    const entered = gate();
    const held = holder.withLock('k', async () => {
      log.push('holder:in');
      entered.open();
      await new Promise((r) => setTimeout(r, 1000)); // more than three TTLs
      log.push('holder:out');
    });
    await entered.promise;
    await waiter.withLock('k', async () => {
      log.push('waiter:in');
    });
    await held;
    expect(log).to.deep.equal(['holder:in', 'holder:out', 'waiter:in']);
  });
});
