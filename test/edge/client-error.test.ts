/**
 * Bytes a client sends after its request on an open stream (garbage, or a second, pipelined
 * request). Node's parser reads them and, when it cannot parse them, the server's `clientError`
 * listener runs while the stream's response is under way: a status line written then would land
 * in the middle of the chunked event stream. The listener must close the socket without writing,
 * and still count the refusal.
 */
import net from 'node:net';
import { expect } from 'chai';
import { READY_FRAME } from '@events-proxy/protocol';
import { waitUntil } from '../support/wait.js';
import { startEdge, type TestEdge } from './harness.js';

const binding = { exchange: 'exchange/test/client-error', routingKeyPattern: '#' };
/** The reason labels of events_edge_http_refusals_total. */
const REFUSAL_REASONS = ['malformed', 'headers_too_large', 'headers_timeout', 'method'];

/** A raw HTTP/1.1 client socket: every byte received, as latin1, and whether it closed. */
class RawSocket {
  text = '';
  closed = false;
  private constructor(private readonly socket: net.Socket) {
    socket.on('data', (d: Buffer) => (this.text += d.toString('latin1')));
    socket.on('error', () => undefined);
    socket.on('close', () => (this.closed = true));
  }

  static async open(url: string): Promise<RawSocket> {
    const u = new URL(url);
    const socket = net.connect(Number(u.port), u.hostname);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    return new RawSocket(socket);
  }

  write(bytes: string): void {
    this.socket.write(Buffer.from(bytes, 'latin1'));
  }

  /** What came after the response head. */
  get body(): string {
    const end = this.text.indexOf('\r\n\r\n');
    return end < 0 ? '' : this.text.slice(end + 4);
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/**
 * Splits an HTTP/1.1 chunked body into its chunks; throws unless the body is nothing but complete
 * chunks, each holding whole SSE events (`field: value` lines, each event ended by a blank line).
 */
function sseChunks(body: string): string[] {
  const chunks: string[] = [];
  let rest = body;
  while (rest !== '') {
    const m = /^([0-9a-f]+)\r\n/.exec(rest);
    if (!m) throw new Error(`not a chunk: ${JSON.stringify(rest)}`);
    const size = parseInt(m[1]!, 16);
    const data = rest.slice(m[0].length, m[0].length + size);
    if (
      size === 0 ||
      data.length !== size ||
      rest.slice(m[0].length + size, m[0].length + size + 2) !== '\r\n'
    ) {
      throw new Error(`not a whole chunk: ${JSON.stringify(rest)}`);
    }
    if (
      !/^(?:(?:event|data|id|retry): [^\n]*\n)+\n(?:(?:(?:event|data|id|retry): [^\n]*\n)+\n)*$/.test(data)
    ) {
      throw new Error(`not SSE events: ${JSON.stringify(data)}`);
    }
    chunks.push(data);
    rest = rest.slice(m[0].length + size + 2);
  }
  return chunks;
}

describe('edge: bytes after the request on an open stream (clientError)', () => {
  let t: TestEdge;

  before(async () => {
    t = await startEdge();
  });

  after(async () => {
    await t?.stop();
  });

  async function refusals(): Promise<Record<string, number>> {
    const counts: Record<string, number> = {};
    for (const reason of REFUSAL_REASONS) {
      counts[reason] = await t.metric('events_edge_http_refusals_total', { reason });
    }
    return counts;
  }

  /** A v1 stream on a raw socket, read up to its `ready` event. */
  async function openStream(): Promise<RawSocket> {
    const u = new URL(t.url([binding]));
    const s = await RawSocket.open(t.base);
    s.write(`GET ${u.pathname}${u.search} HTTP/1.1\r\nHost: x\r\n\r\n`);
    await waitUntil(() => s.body.includes(READY_FRAME) || s.closed, 'the ready event', 5_000);
    expect(s.text).to.match(/^HTTP\/1\.1 200 OK\r\n/);
    expect(s.text).to.match(/\r\ntransfer-encoding: chunked\r\n/i);
    return s;
  }

  /**
   * Opens a stream, sends `extra` on it, and checks that the socket was closed with only SSE
   * chunks after the head, that the edge let go of the stream, and that `reason` was counted once.
   */
  async function closedQuietly(extra: string, reason: string): Promise<void> {
    const before = await refusals();
    const s = await openStream();
    try {
      s.write(extra);
      await waitUntil(() => s.closed, 'the edge to close the socket', 5_000);
      expect(s.text.indexOf('HTTP/1.'), 'a status line after the first').to.equal(
        s.text.lastIndexOf('HTTP/1.'),
      );
      expect(sseChunks(s.body)).to.deep.equal([READY_FRAME]);
      await waitUntil(() => t.edge.stats().connections === 0, 'the edge to let go of the stream', 5_000);
      expect(await refusals()).to.deep.equal({ ...before, [reason]: before[reason]! + 1 });
    } finally {
      s.destroy();
    }
  }

  it('garbage: closes the stream without writing an answer into it, and counts the refusal', async () => {
    await closedQuietly('\x00\x01 not http at all\r\n\r\n', 'method');
  });

  it('a malformed pipelined request: closes the stream without writing an answer into it, and counts it', async () => {
    const u = new URL(t.url([binding]));
    await closedQuietly(`GET ${u.pathname}${u.search} HTTP/1.1\r\nHost x\r\n\r\n`, 'malformed');
  });

  it('a well-formed pipelined GET is queued behind the stream by Node: the stream flows on untouched', async () => {
    const before = await refusals();
    const s = await openStream();
    try {
      const u = new URL(t.url([binding]));
      s.write(`GET ${u.pathname}${u.search} HTTP/1.1\r\nHost: x\r\n\r\n`);
      // Each publish is an event on the first stream; wait for one sent after the second request.
      const frame = await t.publish([binding], 'm-1', { n: 1 });
      await waitUntil(() => s.body.includes(frame.toString('latin1')) || s.closed, 'the message', 5_000);
      expect(s.closed).to.equal(false);
      expect(sseChunks(s.body)).to.deep.equal([READY_FRAME, frame.toString('latin1')]);
      expect(await refusals()).to.deep.equal(before);
    } finally {
      s.destroy();
    }
    await waitUntil(() => t.edge.stats().connections === 0, 'the edge to let go of both streams', 5_000);
  });

  it('on a socket with no response under way, a refusal is still answered with its status and JSON', async () => {
    const before = await refusals();
    const s = await RawSocket.open(t.base);
    try {
      s.write('\x00\x01 not http at all\r\n\r\n');
      await waitUntil(() => s.closed, 'the answer and the close', 5_000);
      expect(s.text).to.match(/^HTTP\/1\.1 405 Method Not Allowed\r\n/);
      expect(JSON.parse(s.body)).to.include({ code: 'MethodNotAllowed' });
      expect(await refusals()).to.deep.equal({ ...before, method: before.method! + 1 });
    } finally {
      s.destroy();
    }
  });
});
