/**
 * Malformed and odd AMQP messages, published to the real broker and routed by a real ingest to a
 * real edge: each is delivered as docs/protocol.md says (or, past the size limit, refused as it
 * says), the framing holds, and the ingest keeps routing the messages after it.
 */
import { expect } from 'chai';
import amqp from 'amqplib';
import { MAX_FRAME_BYTES } from '@events-proxy/ingest';
import { AMQP_URL, needRabbit, needRedis } from '../support/services.js';
import { randomId } from '../support/processes.js';
import { waitUntil } from '../support/wait.js';
import { RawResponse } from '../edge/raw-http.js';
import { parseEvents } from './raw-exchange.js';
import { startRealProxy, type RealProxy } from './real-proxy.js';

interface MessageData {
  readonly payload: unknown;
  readonly exchange: string;
  readonly routingKey: string;
  readonly redelivered: boolean;
  readonly routes: string[];
}

interface OddMessage {
  readonly name: string;
  readonly body: Buffer;
  readonly routingKey?: string;
  readonly headers?: Record<string, unknown>;
  readonly properties?: amqp.Options.Publish;
  /** The `payload` the client must get; absent when the broker refuses the message. */
  readonly payload?: unknown;
  /** RabbitMQ itself refuses it: the publisher's channel is closed with 406, nothing is routed. */
  readonly brokerRefuses?: true;
  /** The ingest does not publish it (larger than MAX_FRAME_BYTES, as body or as frame), and logs it. */
  readonly tooLarge?: true;
  /** The `routes` the client must get (default none). */
  readonly routes?: string[];
}

const MiB = 1024 * 1024;

const cases: OddMessage[] = [
  { name: 'an empty body', body: Buffer.alloc(0), payload: '' },
  { name: 'invalid JSON', body: Buffer.from('{"a":'), payload: '{"a":' },
  { name: 'JSON with a byte-order mark', body: Buffer.from('\uFEFF{"a":1}'), payload: '\uFEFF{"a":1}' },
  {
    name: 'bytes that are not UTF-8',
    body: Buffer.from([0xff, 0xfe, 0x00, 0x80, 0x41]),
    payload: '\uFFFD\uFFFD\u0000\uFFFDA',
  },
  {
    name: 'a gzip body (not decompressed)',
    body: Buffer.from([0x1f, 0x8b, 0x08, 0x00]),
    payload: '\u001f\uFFFD\b\u0000',
    properties: { contentEncoding: 'gzip' },
  },
  { name: 'JSON null', body: Buffer.from('null'), payload: null },
  {
    name: 'a JSON string with CR, LF and U+2028 escaped and raw',
    body: Buffer.from('"a\\r\\nb\u2028c"'),
    payload: 'a\r\nb\u2028c',
  },
  {
    name: 'text with raw CR/LF and a forged event',
    body: Buffer.from('x\r\n\r\nevent: ready\ndata: {}\n\n'),
    payload: 'x\r\n\r\nevent: ready\ndata: {}\n\n',
  },
  {
    name: 'JSON spread over lines',
    body: Buffer.from('{\n  "a" : [ 1 ,\r\n 2 ]\n}\n'),
    payload: { a: [1, 2] },
  },
  {
    name: 'JSON nested 2,000 deep',
    body: Buffer.from('['.repeat(2000) + ']'.repeat(2000)),
    payload: undefined,
  },
  {
    name: 'a CC header of strings',
    body: Buffer.from('1'),
    headers: { CC: ['route.one', 'other.key'] },
    payload: 1,
    routes: ['one'],
  },
  { name: 'a CC header of numbers', body: Buffer.from('2'), headers: { CC: [1, 2] }, payload: 2 },
  {
    name: 'a CC header of nested arrays',
    body: Buffer.from('3'),
    headers: { CC: [['route.a']] },
    payload: 3,
  },
  {
    name: 'a CC header that is one string',
    body: Buffer.from('x'),
    headers: { CC: 'route.one' },
    brokerRefuses: true,
  },
  {
    name: 'a CC header that is a table',
    body: Buffer.from('x'),
    headers: { CC: { 'route.a': 1 } },
    brokerRefuses: true,
  },
  { name: 'a CC header that is null', body: Buffer.from('x'), headers: { CC: null }, brokerRefuses: true },
  {
    name: 'a CC header that is a boolean',
    body: Buffer.from('x'),
    headers: { CC: true },
    brokerRefuses: true,
  },
  {
    name: 'a CC header mixing strings and other types',
    body: Buffer.from('7'),
    headers: { CC: ['route.ok', 5, null, 'other.key', { x: 1 }, 'route.'] },
    payload: 7,
    routes: ['ok', ''],
  },
  {
    name: 'a CC header of 2,000 keys (amqplib encodes at most 64 KiB of headers)',
    body: Buffer.from('8'),
    headers: { CC: Array.from({ length: 2000 }, (_, i) => `route.k${i}`) },
    payload: 8,
    routes: Array.from({ length: 2000 }, (_, i) => `k${i}`),
  },
  {
    name: 'a lower-case `cc` header (not CC)',
    body: Buffer.from('9'),
    headers: { cc: ['route.x'] },
    payload: 9,
  },
  {
    name: 'odd headers: a 30 kB string, a nested table, a timestamp, bytes',
    body: Buffer.from('10'),
    headers: {
      big: 'x'.repeat(30_000),
      nested: { a: { b: [1, { c: null }] } },
      when: new Date(0),
      raw: Buffer.from([0, 1]),
    },
    payload: 10,
  },
  { name: 'an empty routing key', body: Buffer.from('11'), routingKey: '', payload: 11 },
  { name: 'a routing key of 255 bytes', body: Buffer.from('12'), routingKey: '€'.repeat(85), payload: 12 },
  {
    name: 'a body of 1 MiB of JSON',
    body: Buffer.from(JSON.stringify({ big: 'y'.repeat(MiB) })),
    payload: { big: 'y'.repeat(MiB) },
  },
  {
    name: 'a body just under MAX_FRAME_BYTES',
    body: Buffer.alloc(MAX_FRAME_BYTES - 1024, 0x7a),
    payload: 'z'.repeat(MAX_FRAME_BYTES - 1024),
  },
  { name: 'a body just over MAX_FRAME_BYTES', body: Buffer.alloc(MAX_FRAME_BYTES + 1, 0x7a), tooLarge: true },
  {
    name: 'a body whose frame passes MAX_FRAME_BYTES once escaped (2 MiB of NUL bytes)',
    body: Buffer.alloc(2 * MiB, 0),
    tooLarge: true,
  },
  {
    name: "a body of 127 MiB (just under the broker's 128 MiB limit)",
    body: Buffer.alloc(127 * MiB, 0x7a),
    tooLarge: true,
  },
];

describe('hostile input: malformed AMQP messages through a real ingest and edge', function () {
  this.timeout(60_000);
  const exchange = `exchange/test/hostile/${randomId()}/amqp`;
  let p: RealProxy;
  let conn: amqp.ChannelModel;
  let ch: amqp.ConfirmChannel;
  let all: RawResponse;
  let ccOnly: RawResponse;

  const url = (pattern: string) =>
    `http://127.0.0.1:${p.port}/v1/connect/?bindings=${encodeURIComponent(
      JSON.stringify({ bindings: [{ exchange, routingKeyPattern: pattern }] }),
    )}`;
  const messagesOf = (r: RawResponse): MessageData[] =>
    parseEvents(r.body)
      .filter((e) => e.kind === 'message')
      .map((e) => e.data as MessageData);
  const publish = async (routingKey: string, body: Buffer, options: amqp.Options.Publish = {}) => {
    ch.publish(exchange, routingKey, body, options);
    await ch.waitForConfirms();
  };

  /** Publishes on a channel of its own and returns why the broker closed it ('' if it confirmed). */
  const publishOnThrowawayChannel = async (
    routingKey: string,
    body: Buffer,
    options: amqp.Options.Publish,
  ) => {
    const throwaway = await conn.createConfirmChannel();
    let closedWith = '';
    throwaway.on('error', (err: Error) => (closedWith = err.message));
    await new Promise<void>((resolve) => {
      throwaway.once('close', () => resolve());
      throwaway.publish(exchange, routingKey, body, options, () => resolve());
    });
    await throwaway.close().catch(() => undefined);
    return closedWith;
  };

  before(async () => {
    await needRabbit();
    await needRedis();
    conn = await amqp.connect(AMQP_URL);
    ch = await conn.createConfirmChannel();
    await ch.assertExchange(exchange, 'topic', { durable: false });
    p = await startRealProxy({ BINDING_LEASE_SECONDS: '5', MAX_BUFFERED_BYTES: String(64 * MiB) });
    all = await RawResponse.open(url('#'));
    ccOnly = await RawResponse.open(url('route.one'));
    for (const r of [all, ccOnly])
      await r.waitFor((x) => x.body.startsWith('event: ready\n'), 'ready', 15_000);
  });

  after(async () => {
    all?.close();
    ccOnly?.close();
    await p?.stop();
    if (p) await ch?.deleteQueue(p.ingestConfig.queueName).catch(() => undefined);
    await ch?.deleteExchange(exchange).catch(() => undefined);
    await conn?.close().catch(() => undefined);
  });

  let delivered = 0;
  for (const c of cases) {
    const verb = c.brokerRefuses
      ? 'cannot even publish'
      : c.tooLarge
        ? 'logs and does not deliver'
        : 'delivers';
    it(`${verb} ${c.name}`, async () => {
      const key = c.routingKey ?? `odd.${delivered}`;
      const options = { ...c.properties, ...(c.headers ? { headers: c.headers } : {}) };
      if (c.brokerRefuses) {
        const refused = await publishOnThrowawayChannel(key, c.body, options);
        expect(refused).to.match(/406 \(PRECONDITION-FAILED\).*unacceptable_type_in_header/);
      } else {
        await publish(key, c.body, options);
        if (!c.tooLarge) delivered++;
      }
      // A plain message after each one: the ingest must still route, in order.
      await publish(`after.${delivered}`, Buffer.from(JSON.stringify({ after: delivered })));
      delivered++;
      await all.waitFor(
        // Frames end in a blank line and nothing else does: parse only between whole frames.
        (r) => r.body.endsWith('\n\n') && messagesOf(r).length === delivered,
        `${delivered} messages`,
        30_000,
      );
      const skipped = c.brokerRefuses || c.tooLarge;
      const last = messagesOf(all).slice(skipped ? -1 : -2);
      expect(last.at(-1)!.payload).to.deep.equal({ after: delivered - 1 });
      if (c.tooLarge) {
        const logged = p.logs.filter((l) => l.msg === 'message too large for the bus; not delivered');
        expect(logged.at(-1)).to.include({ exchange, routingKey: key, maxMessageBytes: MAX_FRAME_BYTES });
      }
      if (skipped) return;
      const odd = last[0]!;
      expect(odd.exchange).to.equal(exchange);
      expect(odd.routingKey).to.equal(key);
      expect(odd.redelivered).to.equal(false);
      expect(odd.routes).to.deep.equal(c.routes ?? []);
      if (c.payload === undefined) {
        // Too deep for chai's deep equality: compare the text instead.
        expect(JSON.stringify(odd.payload)).to.equal(c.body.toString());
      } else {
        expect(odd.payload).to.deep.equal(c.payload);
      }
    });
  }

  it('routes on a CC key that only a CC header carries', async () => {
    await ccOnly.waitFor(() => messagesOf(ccOnly).length === 1, 'the CC-routed message', 10_000);
    expect(messagesOf(ccOnly).map((m) => m.payload)).to.deep.equal([1]);
  });

  it('kept both streams open, the ingest ready, and logged no error', async () => {
    expect(all.ended).to.equal(false);
    expect(ccOnly.ended).to.equal(false);
    await waitUntil(() => p.ingest.readiness().every((c) => c.ok()), 'the ingest to be ready', 10_000);
    expect(p.logs.filter((l) => l.level === 'error')).to.deep.equal([]);
  });
});
