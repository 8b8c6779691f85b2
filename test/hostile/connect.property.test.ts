/**
 * The connect endpoint with random query strings and Last-Event-ID headers, against a real edge and
 * ingest: every request gets a valid, finished HTTP answer (a 200 stream of well-framed events that
 * starts with `ready` or is one `error` and ends, a 204, or a 400 with a JSON body), never a hang.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { TestBroker } from '../support/broker.js';
import { randomId } from '../support/processes.js';
import { needRabbit, needRedis } from '../support/services.js';
import { waitUntil } from '../support/wait.js';
import { SEED, checkAsync } from './property-runs.js';
import { exchange, getRequest, parseEvents, type RawAnswer } from './raw-exchange.js';
import { startRealProxy, type RealProxy } from './real-proxy.js';

describe('hostile input: the connect endpoint with random query strings', function () {
  this.timeout(60_000);
  const existing = `exchange/test/hostile/${randomId()}/prop`;
  let p: RealProxy;
  let broker: TestBroker;

  before(async () => {
    await needRabbit();
    await needRedis();
    broker = await TestBroker.connect();
    await broker.topicExchange(existing);
    p = await startRealProxy({ BINDING_LEASE_SECONDS: '1', MAX_BINDINGS_PER_CONNECTION: '5' });
  });

  after(async () => {
    await p?.stop();
    if (p) await broker?.deleteQueue(p.ingestConfig.queueName);
    await broker?.close();
  });

  /** Characters a request target may carry as they are (RFC 3986), and some it may not. */
  const targetChar = fc.oneof(
    { weight: 8, arbitrary: fc.constantFrom(..."abz09-._~!$&'()*+,;=:@/?%".split('')) },
    {
      weight: 2,
      arbitrary: fc.constantFrom(
        '%00',
        '%0A',
        '%0D',
        '%22',
        '%7B',
        '%7D',
        '%5B',
        '%5D',
        '%E2%80%A8',
        '%F0%9F%98%80',
        '%FF',
        '%',
      ),
    },
  );
  const rawQuery = fc.array(targetChar, { maxLength: 60 }).map((c) => c.join(''));
  const field = fc.oneof(
    fc.constant(existing),
    fc.constantFrom('exchange/', 'amq.topic', '', `${existing}/missing`),
    fc.string({ unit: 'binary', maxLength: 20 }),
    fc.jsonValue({ maxDepth: 1 }),
  );
  const validPattern = fc
    .array(fc.constantFrom('a', '*', '#', 'é'), { minLength: 1, maxLength: 4 })
    .map((w) => w.join('.'));
  const bindingsValue = fc.oneof(
    fc
      .array(fc.record({ exchange: fc.constant(existing), routingKeyPattern: validPattern }), {
        minLength: 1,
        maxLength: 3,
      })
      .map((list) => JSON.stringify({ bindings: list })),
    fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
    fc
      .array(
        fc.oneof(fc.record({ exchange: field, routingKeyPattern: field }), fc.jsonValue({ maxDepth: 1 })),
        { maxLength: 7 },
      )
      .map((list) => JSON.stringify({ bindings: list })),
    fc.string({ unit: 'binary', maxLength: 40 }),
  );
  const param = fc.oneof(
    { weight: 5, arbitrary: bindingsValue.map((v) => `bindings=${encodeURIComponent(v)}`) },
    {
      weight: 1,
      arbitrary: fc
        .tuple(fc.constantFrom('foo', 'Bindings', '', 'since'), rawQuery)
        .map(([k, v]) => `${k}=${v}`),
    },
    { weight: 1, arbitrary: rawQuery },
  );
  const query = fc.array(param, { maxLength: 3 }).map((ps) => (ps.length === 0 ? '' : `?${ps.join('&')}`));
  const lastEventId = fc.oneof(
    { weight: 4, arbitrary: fc.constant(undefined) },
    { weight: 1, arbitrary: fc.constantFrom('-', '1', 'abc', ' ', '') },
  );
  const path = fc.constantFrom('/api/events/v1/connect/', '/events/v1/connect', '/v1/connect/');

  it(`always answers with a valid, finished HTTP response (seed ${SEED})`, async () => {
    const seen = new Map<string, number>();
    await checkAsync(
      fc.asyncProperty(path, query, lastEventId, async (route, q, id) => {
        const headers = id === undefined ? [] : [`Last-Event-ID: ${id}`];
        const a = await exchange(p.port, getRequest(route + q, headers), {
          until: (x: RawAnswer) => x.ended || x.body.startsWith('event: ready\n'),
          timeoutMs: 15_000,
        });
        const shown = `${route}${q} ${JSON.stringify(headers)} → ${a.status} ${JSON.stringify(a.body.slice(0, 300))}`;
        expect(a.status, `an answer, not a hang: ${shown}`).to.not.equal(0);
        if (a.status === 200) {
          expect(a.headers['content-type'], shown).to.equal('text/event-stream');
          const kinds = parseEvents(a.body).map((e) => e.kind);
          if (a.ended) expect(kinds, shown).to.deep.equal(['error']);
          else expect(kinds, shown).to.deep.equal(['ready']);
          seen.set(kinds[0]!, (seen.get(kinds[0]!) ?? 0) + 1);
        } else if (a.status === 204) {
          expect(a.body, shown).to.equal('');
          seen.set('204', (seen.get('204') ?? 0) + 1);
        } else {
          expect(a.status, shown).to.be.oneOf([400]);
          expect(a.ended, shown).to.equal(true);
          expect(JSON.parse(a.body), shown).to.have.keys(['code', 'message']);
          seen.set(String(a.status), (seen.get(String(a.status)) ?? 0) + 1);
        }
      }),
      { numRuns: 300, timeLimitMs: 25_000 },
    );
    console.log(`      answers seen: ${JSON.stringify(Object.fromEntries(seen))}`);
    await waitUntil(() => p.edge.stats().connections === 0, 'every stream to be let go', 10_000);
    const health = await exchange(p.opsPort, getRequest('/healthz', ['Connection: close']));
    expect(health.status).to.equal(200);
  });
});
