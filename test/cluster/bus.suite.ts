/**
 * The Bus contract, run against every driver. A fixture gives the ingest's side (publisher) and
 * the edge's side (subscriber): two handles on one driver instance in memory, two separate clients
 * for Redis. Negative checks ("nothing arrived on X") publish a marker on a subscribed channel
 * after X's message: a bus delivers one publisher's messages to a subscriber in order, so once the
 * marker is in, anything published before it would be too.
 */
import { expect } from 'chai';
import { encodeEnvelope } from '@events-proxy/protocol';
import type { Bus, BusMessage } from '@events-proxy/cluster';
import { randomId } from '../support/processes.js';
import { waitUntil } from '../support/wait.js';

export interface BusFixture {
  readonly publisher: Bus;
  readonly subscriber: Bus;
  close(): Promise<void>;
}

interface Received {
  readonly channel: string;
  readonly envelope: Buffer;
}

const text = (r: Received) => r.envelope.toString();
const msg = (channel: string, body: string | Buffer): BusMessage => ({
  channel,
  envelope: typeof body === 'string' ? Buffer.from(body) : body,
});

export function busSuite(driver: string, createFixture: () => Promise<BusFixture>): void {
  describe(`cluster: Bus contract (${driver})`, () => {
    let fixture: BusFixture;
    let received: Received[];
    let prefix: string;
    const channel = (name: string) => `${prefix}${name}`;
    const on = (name: string) => received.filter((r) => r.channel === channel(name)).map(text);
    const arrived = (count: number, what = `${count} messages`) =>
      waitUntil(() => received.length >= count, what, 10_000);

    beforeEach(async () => {
      // One hash tag per test keeps its channels on one shard of a Redis Cluster, where the
      // marker checks need one shard's ordering (spreading over shards: sharded-bus-cluster.test.ts).
      prefix = `test-{${randomId()}}:msg:`;
      received = [];
      fixture = await createFixture();
      fixture.subscriber.onMessage((ch, envelope) => received.push({ channel: ch, envelope }));
    });

    afterEach(async () => {
      await fixture.close();
    });

    it('delivers each channel in publish order, across one large batch and several calls', async () => {
      await fixture.subscriber.subscribe(channel('a'));
      await fixture.subscriber.subscribe(channel('b'));
      const batch: BusMessage[] = [];
      for (let i = 0; i < 1000; i++) batch.push(msg(channel(i % 3 === 0 ? 'b' : 'a'), `${i}`));
      await fixture.publisher.publish(batch);
      await fixture.publisher.publish([msg(channel('a'), 'after-1')]);
      await fixture.publisher.publish([msg(channel('b'), 'after-2'), msg(channel('a'), 'after-3')]);
      await arrived(1003);
      const expectedA = batch.filter((m) => m.channel === channel('a')).map((m) => m.envelope.toString());
      const expectedB = batch.filter((m) => m.channel === channel('b')).map((m) => m.envelope.toString());
      expect(on('a')).to.deep.equal([...expectedA, 'after-1', 'after-3']);
      expect(on('b')).to.deep.equal([...expectedB, 'after-2']);
    });

    it('delivers only the channels subscribed to', async () => {
      await fixture.subscriber.subscribe(channel('wanted'));
      await fixture.publisher.publish([msg(channel('other'), 'x'), msg(channel('wanted'), 'marker')]);
      await arrived(1, 'the marker');
      expect(received.map((r) => r.channel)).to.deep.equal([channel('wanted')]);
    });

    it('stops delivering a channel once unsubscribed', async () => {
      await fixture.subscriber.subscribe(channel('a'));
      await fixture.subscriber.subscribe(channel('marker'));
      await fixture.publisher.publish([msg(channel('a'), 'before')]);
      await arrived(1);
      await fixture.subscriber.unsubscribe(channel('a'));
      await fixture.publisher.publish([msg(channel('a'), 'after'), msg(channel('marker'), 'm')]);
      await arrived(2, 'the marker');
      expect(on('a')).to.deep.equal(['before']);
      expect(on('marker')).to.deep.equal(['m']);
    });

    it('carries envelopes byte for byte (every byte value, newlines, an SSE frame)', async () => {
      await fixture.subscriber.subscribe(channel('bin'));
      const allBytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
      const frame = Buffer.from('event: message\ndata: {"payload":"é ✓ \\u0000"}\nid: -\n\n');
      const envelopes = [
        allBytes,
        Buffer.from([0xff, 0xfe, 0x0a, 0x0d, 0x0a, 0x80, 0x00]),
        encodeEnvelope('id-1', 1_700_000_000_000, frame),
        Buffer.alloc(0),
      ];
      await fixture.publisher.publish(envelopes.map((e) => msg(channel('bin'), e)));
      await arrived(envelopes.length);
      for (const [i, r] of received.entries()) {
        expect(Buffer.isBuffer(r.envelope), `envelope ${i} is a Buffer`).to.equal(true);
        expect(r.envelope.equals(envelopes[i]!), `envelope ${i} unchanged`).to.equal(true);
      }
    });

    it('hands the channel name over as published, non-ASCII included', async () => {
      const name = channel('exchange/ünïcødé/✓#');
      await fixture.subscriber.subscribe(name);
      await fixture.publisher.publish([msg(name, 'x')]);
      await arrived(1);
      expect(received[0]!.channel).to.equal(name);
    });

    it('publishes an empty batch as a no-op and reports itself connected', async () => {
      await fixture.subscriber.subscribe(channel('a'));
      await fixture.publisher.publish([]);
      await waitUntil(
        () => fixture.publisher.isConnected() && fixture.subscriber.isConnected(),
        'connected',
        5000,
      );
    });
  });
}
