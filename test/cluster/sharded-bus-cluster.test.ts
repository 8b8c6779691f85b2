/**
 * ShardedRedisBus on a real 3-primary Redis Cluster (started privately for this suite): channels
 * spread over the shards, each delivered in order, and SUNSUBSCRIBE honoured.
 */
import { expect } from 'chai';
import type { Cluster } from 'ioredis';
import { ShardedRedisBus, connectRedisCluster, type BusMessage } from '@events-proxy/cluster';
import { waitUntil } from '../support/wait.js';
import { PrivateRedisCluster, quietLogger } from './redis-support.js';

describe('cluster: ShardedRedisBus on a Redis Cluster', function () {
  this.timeout(30_000);
  let cluster: PrivateRedisCluster;
  let publisherBus: ShardedRedisBus;
  let subscriberBus: ShardedRedisBus;
  let publisher: Cluster;
  const received: { channel: string; body: string }[] = [];

  before(async () => {
    cluster = await PrivateRedisCluster.start();
    const nodes = cluster.nodes.map((n) => ({ host: '127.0.0.1', port: n.port }));
    const connect = (name: string) =>
      connectRedisCluster(nodes, { name, logger: quietLogger, maxRetriesPerRequest: 2 });
    publisher = connect('test-cluster-pub');
    publisherBus = new ShardedRedisBus({ publisher, subscriber: publisher });
    const subscriber = connect('test-cluster-sub');
    subscriberBus = new ShardedRedisBus({ publisher: subscriber, subscriber });
    subscriberBus.onMessage((channel, envelope) => received.push({ channel, body: envelope.toString() }));
  });

  after(async () => {
    await publisherBus?.close();
    await subscriberBus?.close();
    await cluster?.stop();
  });

  it('delivers channels that live on different shards, each in order', async () => {
    const channels = Array.from({ length: 24 }, (_, i) => `sharded:ch-${i}`);
    for (const ch of channels) await subscriberBus.subscribe(ch);
    await waitUntil(() => publisher.status === 'ready', 'the publisher to connect', 10_000);
    const owners = new Set<string>();
    for (const ch of channels) {
      const slot = Number(await publisher.cluster('KEYSLOT', ch));
      owners.add(publisher.slots[slot]![0]!);
    }
    expect(owners.size, 'primaries owning the channels').to.be.greaterThan(1);

    const batch: BusMessage[] = [];
    for (let i = 0; i < 20; i++) {
      for (const ch of channels) batch.push({ channel: ch, envelope: Buffer.from(`${i}`) });
    }
    await publisherBus.publish(batch);
    await waitUntil(() => received.length >= batch.length, 'every message', 10_000);
    const expected = Array.from({ length: 20 }, (_, i) => `${i}`);
    for (const ch of channels) {
      expect(
        received.filter((r) => r.channel === ch).map((r) => r.body),
        ch,
      ).to.deep.equal(expected);
    }
  });

  it('stops delivering an unsubscribed channel', async () => {
    // The same hash tag puts both channels on one shard, so the marker arrives after anything
    // published to the unsubscribed channel before it.
    const [gone, marker] = ['{unsub}gone', '{unsub}marker'];
    await subscriberBus.subscribe(gone);
    await subscriberBus.subscribe(marker);
    await subscriberBus.unsubscribe(gone);
    received.length = 0;
    await publisherBus.publish([
      { channel: gone, envelope: Buffer.from('x') },
      { channel: marker, envelope: Buffer.from('m') },
    ]);
    await waitUntil(() => received.length >= 1, 'the marker', 10_000);
    expect(received).to.deep.equal([{ channel: marker, body: 'm' }]);
    expect(publisherBus.isConnected() && subscriberBus.isConnected()).to.equal(true);
  });
});
