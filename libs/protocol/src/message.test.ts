import { expect } from 'chai';
import {
  ccKeysOf,
  messageDataJson,
  minifyJson,
  renderMessageEnvelope,
  routesOf,
  type Delivery,
} from './message.js';
import { READY_FRAME, errorFrame, pingFrame, sseFrame } from './sse.js';
import { decodeEnvelope, encodeEnvelope } from './envelope.js';
import { names } from './names.js';

/** The `message` event of a delivery, as the envelope carries it. */
const messageFrame = (d: Delivery): Buffer => Buffer.from(sseFrame('message', messageDataJson(d)));

const delivery = (body: string | Buffer, cc: string[] = []) => ({
  exchange: 'exchange/x',
  routingKey: 'a.b',
  redelivered: false,
  cc,
  body: Buffer.isBuffer(body) ? body : Buffer.from(body),
});

/** The obvious minifier, one character at a time: the reference minifyJson must agree with. */
function scanMinify(text: string): string {
  let out = '';
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (inString) {
      out += c;
      if (c === '\\') out += text[++i];
      else if (c === '"') inString = false;
    } else if (c === '"') {
      inString = true;
      out += c;
    } else if (c !== ' ' && c !== '\n' && c !== '\r' && c !== '\t') {
      out += c;
    }
  }
  return out;
}

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
    const f = parseFrame(messageFrame(delivery(body, ['route.index.x', 'other.key', 'route.y'])));
    expect(f.event).to.equal('message');
    expect(f.raw).to.equal(
      '{"payload":{"big":12345678901234567890,"f":1.50,"s":"a b\\n\\u00e9","u":"é"},"exchange":"exchange/x",' +
        '"routingKey":"a.b","redelivered":false,"routes":["index.x","y"]}',
    );
  });

  it('delivers a body that is not JSON as a string, and never breaks the frame', () => {
    for (const body of ['plain text\nwith lines\r\n', '{"unterminated": ', '', '\u2028x\u2029']) {
      expect(parseFrame(messageFrame(delivery(body))).data).to.have.property('payload', body);
    }
    const binary = Buffer.from([0xff, 0xfe, 0x00, 0x0a]);
    expect(parseFrame(messageFrame(delivery(binary))).data).to.have.property('payload', binary.toString());
  });

  it('minifies JSON without touching strings', () => {
    expect(minifyJson(' [ 1 , "a \\" b" , { "k" : "\\\\" } ] ')).to.equal('[1,"a \\" b",{"k":"\\\\"}]');
    expect(minifyJson('{"a":1}')).to.equal('{"a":1}');
    expect(minifyJson('{"a\\\\":"b\\\\\\"c d" , "e":" "}')).to.equal('{"a\\\\":"b\\\\\\"c d","e":" "}');
  });

  it('minifies generated JSON exactly as a character-by-character scan does (seeded)', () => {
    let seed = 20261124;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
    const ws = () =>
      Array.from({ length: Math.floor(random() * 3) }, () => pick([' ', '\n', '\r', '\t'])).join('');
    const str = () =>
      '"' +
      Array.from({ length: Math.floor(random() * 8) }, () =>
        pick(['a', ' ', '\\\\', '\\"', '\\n', "'", 'é']),
      ).join('') +
      '"';
    const value = (depth: number): string => {
      const kind = depth > 3 ? pick(['s', 'n']) : pick(['s', 'n', 'a', 'o', 'l']);
      if (kind === 's') return str();
      if (kind === 'n') return pick(['0', '-1.50', '1e+10', '2.0E-3']);
      if (kind === 'l') return pick(['true', 'false', 'null']);
      const n = Math.floor(random() * 4);
      const items = Array.from({ length: n }, () =>
        kind === 'a'
          ? ws() + value(depth + 1) + ws()
          : ws() + str() + ws() + ':' + ws() + value(depth + 1) + ws(),
      );
      return (kind === 'a' ? '[' : '{') + items.join(',') + (kind === 'a' ? ']' : '}');
    };
    for (let i = 0; i < 2000; i++) {
      const text = ws() + value(0) + ws();
      JSON.parse(text); // the generator makes valid JSON only
      expect(minifyJson(text), text).to.equal(scanMinify(text));
    }
  });

  it('reads CC headers and lists only route.* keys as routes', () => {
    expect(ccKeysOf(undefined)).to.deep.equal([]);
    expect(ccKeysOf('route.a')).to.deep.equal(['route.a']);
    expect(ccKeysOf(['route.a', Buffer.from('b'), 3])).to.deep.equal(['route.a', 'b']);
    expect(routesOf(['route.a', 'routex', 'route.'])).to.deep.equal(['a', '']);
  });

  it('renders the envelope of a message in one go, byte for byte as frame plus envelope', () => {
    for (const body of ['{"a": "é ü"}', 'plain text é', Buffer.from([0xff, 0x00, 0x41])]) {
      const d = delivery(body, ['route.x', 'other']);
      const envelope = renderMessageEnvelope('ab.12', 1700000000123, d);
      expect(envelope.equals(encodeEnvelope('ab.12', 1700000000123, messageFrame(d)))).to.equal(true);
      expect(decodeEnvelope(envelope)?.frame.equals(messageFrame(d))).to.equal(true);
    }
  });

  it('round-trips the bus envelope', () => {
    const frame = messageFrame(delivery('{"a":1}'));
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
