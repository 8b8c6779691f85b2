import { expect } from 'chai';
import {
  MSG_BINDINGS_NOT_ARRAY,
  MSG_BINDING_FIELDS,
  MSG_ONLY_BINDINGS_KEY,
  READY_FRAME,
  errorFrame,
  formatCursor,
  names,
} from '@events-proxy/protocol';
import { SseClient } from '../support/sse-client.js';
import { waitUntil } from '../support/wait.js';
import { startEdge, type TestEdge } from './harness.js';
import { RawResponse, frame } from './raw-http.js';

describe('edge: stream events', () => {
  let t: TestEdge;
  const raws: RawResponse[] = [];
  const clients: SseClient[] = [];
  let n = 0;
  /** A binding no other test uses, so its bind goes through the (fake) ingest. */
  const fresh = (pattern = '#') => ({ exchange: `exchange/test/stream-${++n}`, routingKeyPattern: pattern });

  before(async () => {
    t = await startEdge({ MAX_BINDINGS_PER_CONNECTION: '3' });
  });

  afterEach(() => {
    t.ingest.gate.open();
    t.bus.subscribeGate.open();
    for (const r of raws.splice(0)) r.close();
    for (const c of clients.splice(0)) c.close();
  });

  after(async () => {
    await t?.stop();
  });

  const raw = async (url: string) => {
    const r = await RawResponse.open(url);
    raws.push(r);
    return r;
  };
  const sse = (url: string) => {
    const c = new SseClient(url);
    clients.push(c);
    return c;
  };
  const nothingHeld = () =>
    waitUntil(
      () => {
        const s = t.edge.stats();
        return (
          s.connections === 0 && s.busSubscriptions === 0 && s.heldBindings === 0 && t.bus.live.size === 0
        );
      },
      'no connection, subscription or held binding left',
      5_000,
    );

  it('writes ready, then each message, byte for byte and nothing else', async () => {
    const b = fresh();
    const r = await raw(t.url([b]));
    await r.waitFor((x) => x.body.length > 0, 'ready');
    expect(r.body).to.equal(READY_FRAME);
    expect(READY_FRAME).to.equal(frame('ready', '{}'));
    const sent = await t.publish([b], 'm1', { hello: 'wörld', n: [1, 2] }, 'x.y');
    await r.waitFor((x) => x.body.length > READY_FRAME.length, 'the message');
    expect(r.body).to.equal(
      READY_FRAME +
        frame(
          'message',
          '{"payload":{"hello":"wörld","n":[1,2]},"exchange":"' +
            b.exchange +
            '","routingKey":"x.y","redelivered":false,"routes":[]}',
        ),
    );
    expect(r.body).to.equal(READY_FRAME + sent.toString());
  });

  describe('bad bindings: 200, one error event, end of stream', () => {
    const cases: [what: string, query: string | undefined, message: string | RegExp][] = [
      ['missing', undefined, /^Missing `bindings` query parameter/],
      ['empty', '', /^Missing `bindings` query parameter/],
      ['invalid JSON', '{"bindings":[', /^The `bindings` query parameter is not valid JSON/],
      ['another top-level key', JSON.stringify({ bindings: [], foo: 'bar' }), MSG_ONLY_BINDINGS_KEY],
      ['not an array', JSON.stringify({ bindings: { exchange: 'exchange/a' } }), MSG_BINDINGS_NOT_ARRAY],
      [
        'a binding without a pattern',
        JSON.stringify({ bindings: [{ exchange: 'exchange/a' }] }),
        MSG_BINDING_FIELDS,
      ],
      ['an empty list', JSON.stringify({ bindings: [] }), /must not be empty/],
      [
        'a field that is not a string',
        JSON.stringify({ bindings: [{ exchange: 'exchange/a', routingKeyPattern: 7 }] }),
        'Binding 0: `routingKeyPattern` must be a string',
      ],
      [
        'a pattern over 255 bytes',
        JSON.stringify({ bindings: [{ exchange: 'exchange/a', routingKeyPattern: 'a'.repeat(256) }] }),
        /longer than 255 bytes/,
      ],
      [
        'more than MAX_BINDINGS_PER_CONNECTION',
        JSON.stringify({
          bindings: [1, 2, 3, 4].map((i) => ({ exchange: 'exchange/a', routingKeyPattern: `k${i}` })),
        }),
        'Too many bindings: 4 given, at most 3 are allowed per connection',
      ],
      [
        'an exchange outside the allowed prefixes',
        JSON.stringify({ bindings: [{ exchange: 'amq.topic', routingKeyPattern: '#' }] }),
        'Exchange `amq.topic` is not allowed: exchange names must start with `exchange/`',
      ],
    ];
    for (const [what, query, message] of cases) {
      it(what, async () => {
        const before = await t.metric('events_edge_connections_rejected_total', { reason: 'bindings' });
        const url =
          query === undefined
            ? `${t.base}/v1/connect/`
            : `${t.base}/v1/connect/?bindings=${encodeURIComponent(query)}`;
        const r = await raw(url);
        await r.waitEnd();
        expect(r.status).to.equal(200);
        expect(r.headers['content-type']).to.equal('text/event-stream');
        const m = /^event: error\ndata: ("[^\n]*")\nid: -\n\n$/.exec(r.body);
        expect(m, r.body).to.not.equal(null);
        const text = JSON.parse(m![1]!) as string;
        if (typeof message === 'string') expect(text).to.equal(message);
        else expect(text).to.match(message);
        expect(r.body).to.equal(errorFrame(text));
        expect(await t.metric('events_edge_connections_rejected_total', { reason: 'bindings' })).to.equal(
          before + 1,
        );
        expect(t.edge.stats().connections).to.equal(0);
      });
    }

    it('keeps the original wording for the eventsource client too', async () => {
      const c = sse(t.url(JSON.stringify({ bindings: [{ exchange: 'exchange/a', routingKeyPattern: '' }] })));
      await c.waitFor((x) => x.of('error').length === 1, 'the error event');
      expect(c.events).to.deep.equal([{ type: 'error', data: MSG_BINDING_FIELDS, lastEventId: '-' }]);
    });
  });

  it('fails a connection with an unknown exchange by name, keeping none of its bindings', async () => {
    const ok = fresh();
    const missing = { exchange: `exchange/missing-${n}`, routingKeyPattern: '#' };
    const before = await t.metric('events_edge_connections_rejected_total', { reason: 'bind_failed' });
    const r = await raw(t.url([ok, missing]));
    await r.waitEnd();
    expect(r.body).to.equal(errorFrame(`Exchange \`${missing.exchange}\` does not exist on the broker`));
    await nothingHeld();
    expect(await t.metric('events_edge_connections_rejected_total', { reason: 'bind_failed' })).to.equal(
      before + 1,
    );
    expect(await t.metric('events_edge_closes_total', { reason: 'error' })).to.be.greaterThan(0);
  });

  it('subscribes before asking for the binding, and sends ready only once it is in place', async () => {
    const b = fresh();
    const asked = t.ingest.requests.length;
    const subscribes = t.bus.subscribeCalls;
    t.bus.subscribeGate.shut();
    t.ingest.gate.shut();
    const r = await raw(t.url([b]));
    await waitUntil(() => t.bus.subscribeCalls === subscribes + 1, 'the subscribe', 5_000);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(t.ingest.requests.length, 'bind requested before the subscription was in place').to.equal(asked);
    t.bus.subscribeGate.open();
    await waitUntil(() => t.ingest.requests.length === asked + 1, 'the bind request', 5_000);
    expect(t.bus.live.has(names(t.config.keyPrefix).channel(b))).to.equal(true);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(r.body, 'ready before the binding was in place').to.equal('');
    t.ingest.gate.open();
    await r.waitFor((x) => x.body === READY_FRAME, 'ready');
  });

  it('cleans up fully when the client leaves while its bindings are being put in place', async () => {
    const b = fresh();
    t.ingest.gate.shut();
    const asked = t.ingest.requests.length;
    const r = await raw(t.url([b, fresh()]));
    await waitUntil(() => t.ingest.requests.length === asked + 2, 'the bind requests', 5_000);
    expect(t.edge.stats()).to.deep.equal({ connections: 1, busSubscriptions: 2, heldBindings: 2 });
    r.close();
    await nothingHeld();
    t.ingest.gate.open();
    await nothingHeld();
  });

  it('delivers a message once to a connection whose several bindings match it', async () => {
    const a = fresh('a.#');
    const all = { exchange: a.exchange, routingKeyPattern: '#' };
    const both = sse(t.url([a, all]));
    const one = sse(t.url([all]));
    await both.waitReady();
    await one.waitReady();
    // Envelope ids are cursors, in publish order (the ingest takes them from the history).
    const at = Date.now();
    await t.publish([a, all], formatCursor(at, 1), { n: 1 });
    await t.publish([all], formatCursor(at, 2), { n: 2 });
    await t.publish([a, all], formatCursor(at, 3), { n: 3 });
    await both.waitFor((c) => c.messages().length >= 3, 'three messages');
    await one.waitFor((c) => c.messages().length >= 3, 'three messages');
    // A sentinel after the rest: anything duplicated would have arrived before it.
    await t.publish([all], formatCursor(at, 4), { n: 4 });
    await both.waitFor((c) => c.messages().length >= 4, 'the sentinel');
    await one.waitFor((c) => c.messages().length >= 4, 'the sentinel');
    const payloads = (c: SseClient) => c.messages<{ payload: { n: number } }>().map((m) => m.payload.n);
    expect(payloads(both)).to.deep.equal([1, 2, 3, 4]);
    expect(payloads(one)).to.deep.equal([1, 2, 3, 4]);
    expect(await t.metric('events_edge_messages_sent_total')).to.be.at.least(8);
  });

  // After a lost link the copies of a message on two channels can come far apart: an ingest
  // publishes its held-back channels one after the other, a channel catches up from the history.
  for (const [version, prefix] of [
    ['v1', undefined],
    ['v2', '/api/events/v2/connect/'],
  ] as const) {
    it(`${version}: delivers a message once when its copies on two channels come hundreds of messages apart`, async () => {
      const a = fresh('a.#');
      const all = { exchange: a.exchange, routingKeyPattern: '#' };
      const both = sse(t.url([a, all], prefix));
      await both.waitReady();
      const at = Date.now();
      const ids = Array.from({ length: 300 }, (_, k) => formatCursor(at, k));
      // Every third message matches only `#` (routing key b.c), the rest both bindings.
      const keyOf = (k: number) => (k % 3 === 2 ? 'b.c' : 'a.b');
      for (let k = 0; k < ids.length; k++) {
        if (keyOf(k) === 'a.b') await t.publish([a], ids[k]!, { n: k }, 'a.b');
      }
      for (let k = 0; k < ids.length; k++) await t.publish([all], ids[k]!, { n: k }, keyOf(k));
      await t.publish([all], formatCursor(at, 300), { n: 300 }, 'b.c');
      await both.waitFor((c) => c.messages().length >= 301, 'every message');
      await new Promise((resolve) => setTimeout(resolve, 100));
      const got = both.messages<{ payload: { n: number } }>().map((m) => m.payload.n);
      expect(got.length, 'messages received').to.equal(301);
      expect(new Set(got).size, 'distinct messages').to.equal(301);
    });
  }

  it('delivers messages only to the connections whose channels they came on', async () => {
    const x = fresh();
    const y = fresh();
    const cx = sse(t.url([x]));
    const cy = sse(t.url([y]));
    await cx.waitReady();
    await cy.waitReady();
    await t.publish([x], 'to-x', { to: 'x' });
    await t.publish([y], 'to-y', { to: 'y' });
    await t.publish([x], 'to-x-2', { to: 'x' });
    await cx.waitFor((c) => c.messages().length === 2, 'two messages for x');
    await cy.waitFor((c) => c.messages().length === 1, 'one message for y');
    await t.publish([y], 'sentinel', { to: 'y' });
    await cy.waitFor((c) => c.messages().length === 2, 'the sentinel');
    expect(cx.messages().map((m) => (m.payload as { to: string }).to)).to.deep.equal(['x', 'x']);
    expect(cy.messages().map((m) => (m.payload as { to: string }).to)).to.deep.equal(['y', 'y']);
    expect(cx.of('message').every((e) => e.lastEventId === '-')).to.equal(true);
  });

  it('records time to ready, delivery lag and bytes sent', async () => {
    const readyCount = await t.metric('events_edge_ready_seconds_count');
    const lagCount = await t.metric('events_edge_delivery_lag_seconds_count');
    const bytes = await t.metric('events_edge_bytes_sent_total');
    const b = fresh();
    const r = await raw(t.url([b]));
    await r.waitFor((x) => x.body === READY_FRAME, 'ready');
    const sent = await t.publish([b], 'lag', { n: 1 });
    await r.waitFor((x) => x.body.length > READY_FRAME.length, 'the message');
    expect(await t.metric('events_edge_ready_seconds_count')).to.equal(readyCount + 1);
    expect(await t.metric('events_edge_delivery_lag_seconds_count')).to.equal(lagCount + 1);
    expect(await t.metric('events_edge_bytes_sent_total')).to.equal(bytes + READY_FRAME.length + sent.length);
  });
});
