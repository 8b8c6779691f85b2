/**
 * Every Redis driver through a Redis outage (a private redis-server, stopped and started again):
 * while Redis is down each call rejects, within a bounded time, with an error its caller handles;
 * nothing rejects unhandled; once Redis is back every driver works again without being rebuilt.
 */
import { expect } from 'chai';
import { createRedisDrivers, type Drivers } from '@events-proxy/cluster';
import { ORIGIN_CURSOR, cursorBefore, type Binding } from '@events-proxy/protocol';
import { waitUntil } from '../support/wait.js';
import { PrivateRedis, quietLogger, testPrefix, within } from './redis-support.js';

/** Resolves to the call's rejection; fails when the call resolves, or hangs past the bound. */
async function rejection(call: () => Promise<unknown>, what: string): Promise<void> {
  const resolved = Symbol('resolved');
  const outcome = await within(
    call().then(
      () => resolved,
      (err: unknown) => err,
    ),
    15_000,
    `${what} to settle while Redis is down`,
  );
  expect(outcome, `${what} while Redis is down`).to.be.instanceOf(Error);
}

describe('cluster: every Redis driver through a Redis outage', function () {
  this.timeout(90_000);
  let server: PrivateRedis;
  let ingest: Drivers;
  let edge: Drivers;
  let channel: string;
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  const binding = (name: string): Binding => ({ exchange: 'exchange/test/outage', routingKeyPattern: name });
  const bound: string[] = [];
  const received: string[] = [];
  const heard: string[] = [];

  before(async () => {
    process.on('unhandledRejection', onUnhandled);
    server = await PrivateRedis.start();
    const keyPrefix = testPrefix();
    channel = `${keyPrefix}outage`;
    const make = () => createRedisDrivers({ url: server.url, keyPrefix, bus: 'redis', logger: quietLogger });
    ingest = make();
    edge = make();
    await ingest.bindQueue.process(async (b) => {
      bound.push(b.routingKeyPattern);
    }, 2);
    edge.bus.onMessage((_channel, envelope) => received.push(envelope.toString()));
    await edge.bus.subscribe(channel);
    ingest.bindingChanges.onChange((c) => heard.push(c.key));
  });

  after(async () => {
    process.off('unhandledRejection', onUnhandled);
    await Promise.all([ingest?.close(), edge?.close()]);
    await server?.stop();
  });

  /** One round trip through each driver, from the edge's drivers to the ingest's and back. */
  async function roundTrips(tag: string): Promise<void> {
    let n = 0;
    // Re-subscribing after a reconnect is asynchronous: publish until one gets through.
    await waitUntil(
      async () => {
        await ingest.bus.publish([{ channel, envelope: Buffer.from(`${tag}-${n++}`) }]);
        return received.some((r) => r.startsWith(`${tag}-`));
      },
      `a bus message (${tag})`,
      15_000,
    );
    await edge.bindQueue.request(binding(tag), 10_000);
    expect(bound).to.include(tag);
    await edge.store.lease(`lease-${tag}`, 60_000);
    expect(await ingest.store.renewIfLeased([`lease-${tag}`], 60_000)).to.deep.equal([true]);
    expect(await ingest.store.withLock(`lock-${tag}`, async () => 'locked')).to.equal('locked');
    await waitUntil(
      async () => {
        await edge.bindingChanges.announce({ op: 'add', key: `change-${tag}` });
        return heard.includes(`change-${tag}`);
      },
      `a binding change (${tag})`,
      15_000,
    );
    const quota = { key: `ip:${tag}`, limit: 1 };
    const grant = await edge.clientLimits.acquireStream([quota]);
    expect(grant.ok).to.equal(true);
    expect(await ingest.clientLimits.acquireStream([quota])).to.deep.equal({ ok: false, full: quota });
    if (grant.ok) grant.release();
    expect(await edge.clientLimits.takeConnect(`ip:${tag}`, 1, 1)).to.equal(0);
    const [cursor] = await ingest.history.assign(1, Date.now());
    await ingest.history.record([
      { cursor: cursor!, receivedAt: Date.now(), frame: Buffer.from(tag), channels: [channel] },
    ]);
    const [replay] = await edge.history.read([channel], ORIGIN_CURSOR);
    expect(replay!.entries.map((e) => e.frame.toString())).to.include(tag);
  }

  it('rejects each call while Redis is down, and works again once it is back', async () => {
    await roundTrips('before');
    expect(ingest.isConnected() && edge.isConnected()).to.equal(true);

    await server.stop();
    await waitUntil(
      () => !ingest.isConnected() && !edge.isConnected(),
      'isConnected() to turn false',
      10_000,
    );
    await Promise.all([
      rejection(() => ingest.bus.publish([{ channel, envelope: Buffer.from('lost') }]), 'bus.publish'),
      rejection(() => edge.bus.subscribe(`${channel}:new`), 'bus.subscribe'),
      rejection(() => edge.store.renewIfLeased(['k'], 1000), 'store.renewIfLeased'),
      rejection(() => edge.store.lease('k', 1000), 'store.lease'),
      rejection(() => ingest.store.expired(10), 'store.expired'),
      rejection(() => ingest.store.removeIfExpired('k'), 'store.removeIfExpired'),
      rejection(() => ingest.store.all(), 'store.all'),
      rejection(() => ingest.store.withLock('k', async () => 'never'), 'store.withLock'),
      rejection(() => edge.bindQueue.request(binding('during'), 1000), 'bindQueue.request'),
      rejection(() => ingest.bindingChanges.announce({ op: 'remove', key: 'k' }), 'bindingChanges.announce'),
      rejection(() => ingest.history.assign(1, Date.now()), 'history.assign'),
      rejection(
        () =>
          ingest.history.record([
            {
              cursor: cursorBefore(Date.now()),
              receivedAt: Date.now(),
              frame: Buffer.from('lost'),
              channels: [channel],
            },
          ]),
        'history.record',
      ),
      rejection(() => edge.history.newest(), 'history.newest'),
      rejection(() => edge.history.read([channel, `${channel}:other`], ORIGIN_CURSOR), 'history.read'),
      rejection(() => ingest.history.begin(channel), 'history.begin'),
      rejection(
        () => edge.clientLimits.acquireStream([{ key: 'ip:during', limit: 5 }]),
        'clientLimits.acquireStream',
      ),
      rejection(() => edge.clientLimits.takeConnect('ip:during', 1, 1), 'clientLimits.takeConnect'),
      rejection(() => ingest.history.forget(channel), 'history.forget'),
    ]);

    await server.start();
    await waitUntil(
      () => ingest.isConnected() && edge.isConnected(),
      'isConnected() to turn true again',
      20_000,
    );
    await roundTrips('after');
    expect(unhandled, 'unhandled rejections').to.deep.equal([]);
  });
});
