import net from 'node:net';
import { expect } from 'chai';
import { READY_FRAME } from '@events-proxy/protocol';
import { startEdge, type TestEdge } from './harness.js';

const binding = { exchange: 'exchange/test/framing', routingKeyPattern: '#' };

/** Sends a raw request and collects what comes back until `until` holds or the socket closes. */
function rawRequest(
  url: string,
  request: (path: string) => string,
  until: (text: string) => boolean,
): Promise<string> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    let text = '';
    const socket = net.connect(Number(u.port), u.hostname, () =>
      socket.write(request(u.pathname + u.search)),
    );
    socket.on('data', (d: Buffer) => {
      text += d.toString('latin1');
      if (until(text)) {
        socket.destroy();
        resolve(text);
      }
    });
    socket.once('close', () => resolve(text));
    socket.once('error', reject);
  });
}

describe('edge: HTTP framing of the stream', () => {
  let t: TestEdge;

  before(async () => {
    t = await startEdge();
  });

  after(async () => {
    await t?.stop();
  });

  it('writes each event as one HTTP/1.1 chunk', async () => {
    const text = await rawRequest(
      t.url([binding]),
      (p) => `GET ${p} HTTP/1.1\r\nHost: x\r\n\r\n`,
      (x) => x.includes('id: -\n\n\r\n'),
    );
    expect(text).to.match(/\r\ntransfer-encoding: chunked\r\n/i);
    const body = text.slice(text.indexOf('\r\n\r\n') + 4);
    expect(body).to.equal(`${Buffer.byteLength(READY_FRAME).toString(16)}\r\n${READY_FRAME}\r\n`);
  });

  it('writes raw events, without chunks, to an HTTP/1.0 client', async () => {
    const text = await rawRequest(
      t.url([binding]),
      (p) => `GET ${p} HTTP/1.0\r\n\r\n`,
      (x) => x.endsWith('id: -\n\n'),
    );
    expect(text).not.to.match(/transfer-encoding/i);
    expect(text.slice(text.indexOf('\r\n\r\n') + 4)).to.equal(READY_FRAME);
  });

  it('answers HEAD with the stream headers and no body', async () => {
    const res = await fetch(t.url([binding]), { method: 'HEAD' });
    expect(res.status).to.equal(200);
    expect(res.headers.get('content-type')).to.equal('text/event-stream');
    expect(await res.text()).to.equal('');
  });
});
