import { expect } from 'chai';
import { READY_FRAME, errorFrame } from '@events-proxy/protocol';
import { SseClient } from '../support/sse-client.js';
import { startEdge, type TestEdge } from './harness.js';
import { RawResponse, fetchAll } from './raw-http.js';

const SHUTDOWN = 'Server is shutting down; please reconnect';

describe('edge: drain', function () {
  this.timeout(20_000);
  let t: TestEdge;
  const raws: RawResponse[] = [];
  let client: SseClient | undefined;

  before(async () => {
    t = await startEdge({ DRAIN_SECONDS: '1' });
  });

  after(async () => {
    for (const r of raws) r.close();
    client?.close();
    await t?.stop();
  });

  it('refuses newcomers, ends every open stream with an error event, then stops listening', async () => {
    const b = { exchange: 'exchange/test/drain', routingKeyPattern: '#' };
    for (let i = 0; i < 3; i++) {
      const r = await RawResponse.open(t.url([b]));
      raws.push(r);
      await r.waitFor((x) => x.body === READY_FRAME, 'ready');
    }
    client = new SseClient(t.url([b]));
    await client.waitReady();
    // One still waiting for its binding is closed the same way.
    t.ingest.gate.shut();
    const binding = await RawResponse.open(
      t.url([{ exchange: 'exchange/test/drain-pending', routingKeyPattern: '#' }]),
    );
    raws.push(binding);

    const readiness = () => Object.fromEntries(t.edge.readiness().map((c) => [c.name, c.ok()]));
    expect(readiness()).to.deep.equal({ redis: true, draining: true });
    const drained = t.edge.drain();
    expect(readiness()).to.deep.equal({ redis: true, draining: false });

    const refused = await fetchAll(t.url([b]));
    expect(refused.status).to.equal(503);
    expect(JSON.parse(refused.body)).to.have.property('message', SHUTDOWN);
    expect(await t.metric('events_edge_connections_rejected_total', { reason: 'draining' })).to.equal(1);

    await drained;
    for (const r of raws) {
      await r.waitEnd();
      expect(r.body).to.be.oneOf([READY_FRAME + errorFrame(SHUTDOWN), errorFrame(SHUTDOWN)]);
    }
    expect(binding.body).to.equal(errorFrame(SHUTDOWN));
    await client.waitFor((c) => c.of('error').length === 1, 'the shutdown error');
    expect(client.events.map((e) => e.type)).to.deep.equal(['ready', 'error']);
    expect(client.of('error')[0]!.data).to.equal(SHUTDOWN);
    expect(await t.metric('events_edge_closes_total', { reason: 'shutdown' })).to.equal(5);
    expect(t.edge.stats()).to.deep.equal({ connections: 0, busSubscriptions: 0, heldBindings: 0 });
    let refusedConnection = false;
    await fetchAll(t.url([b])).catch(() => (refusedConnection = true));
    expect(refusedConnection, 'the server stopped listening').to.equal(true);
  });
});
