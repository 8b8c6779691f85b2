import net from 'node:net';
import { expect } from 'chai';
import { READY_FRAME } from '@events-proxy/protocol';
import { SseClient } from '../support/sse-client.js';
import { waitUntil } from '../support/wait.js';
import { startEdge, type TestEdge } from './harness.js';
import { RawResponse, fetchAll } from './raw-http.js';

describe('edge: connection limits', function () {
  this.timeout(30_000);

  describe('MAX_CONNECTIONS', () => {
    let t: TestEdge;
    const raws: RawResponse[] = [];

    before(async () => {
      t = await startEdge({ MAX_CONNECTIONS: '2' });
    });

    after(async () => {
      for (const r of raws) r.close();
      await t?.stop();
    });

    it('answers 503 beyond it, counts the rejection, and accepts again once a stream ends', async () => {
      const b = { exchange: 'exchange/test/max', routingKeyPattern: '#' };
      for (let i = 0; i < 2; i++) {
        const r = await RawResponse.open(t.url([b]));
        raws.push(r);
        await r.waitFor((x) => x.body === READY_FRAME, 'ready');
      }
      const refused = await fetchAll(t.url([b]));
      expect(refused.status).to.equal(503);
      expect(refused.headers['content-type']).to.match(/^application\/json/);
      expect(JSON.parse(refused.body))
        .to.have.property('message')
        .that.matches(/limit of 2 connections/);
      expect(
        await t.metric('events_edge_connections_rejected_total', { reason: 'max_connections' }),
      ).to.equal(1);
      expect(await t.metric('events_edge_connections')).to.equal(2);

      raws[0]!.close();
      await waitUntil(() => t.edge.stats().connections === 1, 'one stream to end', 5_000);
      expect(await t.metric('events_edge_disconnects_total')).to.equal(1);
      const again = await RawResponse.open(t.url([b]));
      raws.push(again);
      await again.waitFor((x) => x.body === READY_FRAME, 'ready');
    });
  });

  describe('MAX_BUFFERED_BYTES', () => {
    const CAP = 64 * 1024;
    let t: TestEdge;
    let stalled: net.Socket | undefined;
    let fast: SseClient | undefined;

    before(async () => {
      t = await startEdge({ MAX_BUFFERED_BYTES: String(CAP) });
    });

    after(async () => {
      stalled?.destroy();
      fast?.close();
      await t?.stop();
    });

    it('closes a client that stops reading once its unsent bytes pass the cap; others are unaffected', async () => {
      const b = { exchange: 'exchange/test/slow', routingKeyPattern: '#' };
      fast = new SseClient(t.url([b]));
      await fast.waitReady();

      // A client that sends its request and never reads a byte of the answer.
      const socket = net.connect(Number(new URL(t.base).port), '127.0.0.1');
      stalled = socket;
      socket.pause();
      await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
      const path = new URL(t.url([b])).pathname + new URL(t.url([b])).search;
      socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
      await waitUntil(() => t.edge.stats().connections === 2, 'the stalled client to be ready', 5_000);

      // Publish 16 KiB messages in small batches, each time letting the reading client catch up,
      // until the stalled one is closed (the kernel buffers take a few MiB first).
      const payload = 'x'.repeat(16 * 1024);
      let sent = 0;
      while (t.edge.stats().connections === 2) {
        if (sent >= 4_000) throw new Error('the stalled client was never closed');
        for (let i = 0; i < 8; i++) await t.publish([b], `big-${++sent}`, { payload });
        await fast
          .waitFor((c) => c.messages().length === sent, 'all messages')
          .catch(() => {
            throw new Error(
              `the reading client got ${fast!.messages().length} of ${sent} messages: ${JSON.stringify(fast!.of('error'))}`,
            );
          });
      }
      expect(await t.metric('events_edge_closes_total', { reason: 'slow' })).to.equal(1);

      // The reading client keeps getting everything, before and after.
      await t.publish([b], 'after', { payload: 'after' });
      sent++;
      await fast.waitFor((c) => c.messages().length === sent, 'the message after the close');
      expect(fast.of('error')).to.deep.equal([]);
      expect(t.edge.stats()).to.deep.equal({ connections: 1, busSubscriptions: 1, heldBindings: 1 });

      // The stalled client, once it reads, finds the connection closed.
      const ended = new Promise<void>((resolve) => socket.once('close', () => resolve()));
      socket.on('data', () => undefined);
      socket.resume();
      await ended;
    });
  });
});
