import { expect } from 'chai';
import { ccKeysOf, minifyJson, renderMessageFrame, routesOf } from './message.js';
import { READY_FRAME, errorFrame, pingFrame, sseFrame } from './sse.js';
import { decodeEnvelope, encodeEnvelope } from './envelope.js';
import { names } from './names.js';

const delivery = (body: string | Buffer, cc: string[] = []) => ({
  exchange: 'exchange/x',
  routingKey: 'a.b',
  redelivered: false,
  cc,
  body: Buffer.isBuffer(body) ? body : Buffer.from(body),
});

function parseFrame(frame: Buffer | string) {
  const text = frame.toString();
  const m = /^event: (\w+)\ndata: ([^\n]*)\nid: -\n\n$/.exec(text);
  if (!m) throw new Error(`not one SSE event: ${JSON.stringify(text)}`);
  return { event: m[1], data: JSON.parse(m[2]!) as unknown, raw: m[2]! };
}

describe('protocol: SSE frames and the message event', () => {
  it('frames every event as event/data/id: - and a blank line', () => {
    expect(sseFrame('ready', '{}')).to.equal('event: ready\ndata: {}\nid: -\n\n');
    expect(READY_FRAME).to.equal('event: ready\ndata: {}\nid: -\n\n');
    expect(parseFrame(pingFrame(new Date(0)))).to.deep.include({
      event: 'ping',
      data: { time: '1970-01-01T00:00:00.000Z' },
    });
    expect(parseFrame(errorFrame('bad\ninput "x"'))).to.deep.include({
      event: 'error',
      data: 'bad\ninput "x"',
    });
  });

  it('carries a JSON payload untouched, with exchange, routingKey, redelivered and routes', () => {
    const body = '{\n  "big": 12345678901234567890,\n  "f": 1.50, "s": "a b\\n\\u00e9", "u": "é"\n}\n';
    const f = parseFrame(renderMessageFrame(delivery(body, ['route.index.x', 'other.key', 'route.y'])));
    expect(f.event).to.equal('message');
    expect(f.raw).to.equal(
      '{"payload":{"big":12345678901234567890,"f":1.50,"s":"a b\\n\\u00e9","u":"é"},"exchange":"exchange/x",' +
        '"routingKey":"a.b","redelivered":false,"routes":["index.x","y"]}',
    );
  });

  it('delivers a body that is not JSON as a string, and never breaks the frame', () => {
    for (const body of ['plain text\nwith lines\r\n', '{"unterminated": ', '', '\u2028x\u2029']) {
      expect(parseFrame(renderMessageFrame(delivery(body))).data).to.have.property('payload', body);
    }
    const binary = Buffer.from([0xff, 0xfe, 0x00, 0x0a]);
    expect(parseFrame(renderMessageFrame(delivery(binary))).data).to.have.property(
      'payload',
      binary.toString(),
    );
  });

  it('minifies JSON without touching strings', () => {
    expect(minifyJson(' [ 1 , "a \\" b" , { "k" : "\\\\" } ] ')).to.equal('[1,"a \\" b",{"k":"\\\\"}]');
    expect(minifyJson('{"a":1}')).to.equal('{"a":1}');
  });

  it('reads CC headers and lists only route.* keys as routes', () => {
    expect(ccKeysOf(undefined)).to.deep.equal([]);
    expect(ccKeysOf('route.a')).to.deep.equal(['route.a']);
    expect(ccKeysOf(['route.a', Buffer.from('b'), 3])).to.deep.equal(['route.a', 'b']);
    expect(routesOf(['route.a', 'routex', 'route.'])).to.deep.equal(['a', '']);
  });

  it('round-trips the bus envelope', () => {
    const frame = renderMessageFrame(delivery('{"a":1}'));
    const env = decodeEnvelope(encodeEnvelope('abc.42', 1700000000123, frame));
    expect(env?.id).to.equal('abc.42');
    expect(env?.receivedAt).to.equal(1700000000123);
    expect(env?.frame.equals(frame)).to.equal(true);
    expect(decodeEnvelope(Buffer.from('garbage'))).to.equal(undefined);
  });

  it('prefixes every shared name with the key prefix', () => {
    const n = names('x:');
    expect(n.channel({ exchange: 'exchange/a', routingKeyPattern: '#' })).to.equal('x:msg:10:exchange/a:#');
    expect(n.leases.startsWith('x:')).to.equal(true);
    expect(n.lock('k').startsWith('x:')).to.equal(true);
    expect(n.bullPrefix.startsWith('x:')).to.equal(true);
  });
});
