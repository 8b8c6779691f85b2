/**
 * A Redis restart under a live bus: the client reconnects and re-subscribes by itself, and
 * isConnected() follows. Runs against a private redis-server, never the machine's own.
 */
import { expect } from 'chai';
import { RedisBus, ShardedRedisBus, connectRedis, type Bus } from '@events-proxy/cluster';
import { waitUntil } from '../support/wait.js';
import { PrivateRedis, quietLogger } from './redis-support.js';

type MakeBus = (url: string) => Bus;

function connections(url: string) {
  const connect = (name: string) => connectRedis(url, { name, logger: quietLogger, maxRetriesPerRequest: 2 });
  return { publisher: connect('test-reconnect-pub'), subscriber: connect('test-reconnect-sub') };
}

const drivers: [string, MakeBus][] = [
  ['redis', (url) => new RedisBus(connections(url))],
  ['redis-sharded', (url) => new ShardedRedisBus(connections(url))],
];

for (const [driver, makeBus] of drivers) {
  describe(`cluster: Bus survives a Redis restart (${driver})`, function () {
    this.timeout(30_000);
    let server: PrivateRedis;
    let bus: Bus;

    before(async () => {
      server = await PrivateRedis.start();
    });

    after(async () => {
      await bus?.close();
      await server?.stop();
    });

    it('goes disconnected, then connected again, and its subscriptions deliver again', async () => {
      bus = makeBus(server.url);
      const received: string[] = [];
      bus.onMessage((_channel, envelope) => received.push(envelope.toString()));
      await bus.subscribe('restart:ch');
      await bus.publish([{ channel: 'restart:ch', envelope: Buffer.from('before') }]);
      await waitUntil(() => received.includes('before'), 'the message before the restart', 5000);
      expect(bus.isConnected()).to.equal(true);

      await server.stop();
      await waitUntil(() => !bus.isConnected(), 'isConnected() to turn false', 10_000);
      await server.start();
      await waitUntil(() => bus.isConnected(), 'isConnected() to turn true again', 10_000);

      // Re-subscribing follows 'ready' asynchronously: publish until one gets through.
      let n = 0;
      await waitUntil(
        async () => {
          await bus.publish([{ channel: 'restart:ch', envelope: Buffer.from(`after-${n++}`) }]);
          return received.some((r) => r.startsWith('after-'));
        },
        'a message published after the restart to arrive',
        10_000,
      );
    });
  });
}
