import http from 'node:http';
import net from 'node:net';
import { expect } from 'chai';
import type { HttpRefusalReason } from './http-refusals.js';
import { StreamSockets } from './stream-socket.js';

/** A raw client socket: every byte received (latin1), and whether it closed. */
interface Raw {
  readonly socket: net.Socket;
  text(): string;
  closed(): boolean;
}

async function until(check: () => boolean, what: string, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('edge: stream sockets taken from node:http', () => {
  let server: http.Server;
  let sockets: StreamSockets;
  let refusals: HttpRefusalReason[];
  let gone: number;
  /** The last stream response, and whether its socket was detached. */
  let last: { res: http.ServerResponse; socket: net.Socket; detached: boolean } | undefined;
  const clients: net.Socket[] = [];

  beforeEach(async () => {
    refusals = [];
    gone = 0;
    last = undefined;
    sockets = new StreamSockets({ maxHeaderBytes: 1024, refused: (r) => refusals.push(r) });
    server = http.createServer((req, res) => {
      if (req.url === '/plain') {
        res.end('plain answer');
        return;
      }
      res.writeHead(200, { 'Content-Type': 'text/event-stream' });
      res.flushHeaders();
      const socket = res.socket!;
      sockets.watchClose(socket, { clientGone: () => gone++ });
      const entry = { res, socket, detached: false };
      last = entry;
      setImmediate(() => {
        entry.detached = sockets.detach(res);
        socket.write('5\r\nhello\r\n');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  });

  afterEach(async () => {
    for (const c of clients.splice(0)) c.destroy();
    sockets.destroyEnding();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  async function open(request = 'GET /stream HTTP/1.1\r\nHost: x\r\n\r\n'): Promise<Raw> {
    const socket = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
    clients.push(socket);
    let text = '';
    let closed = false;
    socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
    socket.on('error', () => undefined);
    socket.on('close', () => (closed = true));
    socket.write(request);
    const raw = { socket, text: () => text, closed: () => closed };
    await until(() => text.includes('hello'), 'the first chunk');
    return raw;
  }

  it('lets go of the response, the parser and the server listeners; writes still flow', async () => {
    await open();
    const { res, socket, detached } = last!;
    expect(detached).to.equal(true);
    expect(res.socket).to.equal(null);
    expect((socket as net.Socket & { parser?: unknown }).parser).to.equal(null);
    const names = (event: string) => socket.rawListeners(event).map((l) => l.name);
    expect(names('data').filter((n) => n.includes('socketOnData'))).to.deep.equal([]);
    expect(names('close').filter((n) => n.includes('socketOnClose'))).to.deep.equal([]);
    expect(socket.listenerCount('data')).to.equal(1);
  });

  it('tells the stream when the client closes', async () => {
    const raw = await open();
    raw.socket.destroy();
    await until(() => gone === 1, 'clientGone');
  });

  it('a client that closes its side (FIN) ends the stream at once, without a write to find out', async () => {
    const raw = await open();
    raw.socket.end();
    await until(() => gone === 1 && raw.closed(), 'clientGone and the socket closed');
  });

  it('ends a detached stream with the chunked terminator, then closes the socket', async () => {
    const raw = await open();
    last!.socket.write('0\r\n\r\n');
    sockets.end(last!.socket);
    await until(() => raw.closed(), 'the socket to close');
    expect(raw.text()).to.match(/hello\r\n0\r\n\r\n$/);
  });

  it('garbage on a detached stream: counted as node:http would, the socket closed, nothing written', async () => {
    const raw = await open();
    raw.socket.write('\x00\x01 not http\r\n\r\n');
    await until(() => raw.closed(), 'the socket to close');
    expect(refusals).to.deep.equal(['method']);
    expect(raw.text().indexOf('HTTP/1.1')).to.equal(raw.text().lastIndexOf('HTTP/1.1'));
  });

  it('a malformed pipelined request: counted as malformed, the socket closed', async () => {
    const raw = await open();
    raw.socket.write('GET /plain HTTP/1.1\r\nHost x\r\n\r\n');
    await until(() => raw.closed(), 'the socket to close');
    expect(refusals).to.deep.equal(['malformed']);
  });

  it('a request head larger than the limit, never finished: counted, the socket closed', async () => {
    const raw = await open();
    raw.socket.write(`GET /plain HTTP/1.1\r\nX-Long: ${'a'.repeat(2000)}`);
    await until(() => raw.closed(), 'the socket to close');
    expect(refusals).to.deep.equal(['headers_too_large']);
  });

  it('a well-formed pipelined request waits for the stream to end, then node:http answers it', async () => {
    const raw = await open();
    raw.socket.write('GET /plain HTTP/1.1\r\nHo');
    raw.socket.write('st: x\r\n\r\n');
    await new Promise((r) => setTimeout(r, 50));
    last!.socket.write('5\r\nworld\r\n');
    await until(() => raw.text().includes('world'), 'the stream to flow on');
    expect(raw.text()).not.to.include('plain answer');
    last!.socket.write('0\r\n\r\n');
    sockets.end(last!.socket);
    await until(() => raw.text().includes('plain answer'), 'the pipelined answer');
    expect(raw.text()).to.match(/world\r\n0\r\n\r\nHTTP\/1\.1 200 OK\r\n[\s\S]*plain answer$/);
    expect(refusals).to.deep.equal([]);
  });

  it('destroyEnding cuts ended sockets whose clients do not read', async () => {
    const raw = await open();
    raw.socket.pause();
    const big = Buffer.alloc(8 * 1024 * 1024, 0x61);
    last!.socket.write(big);
    sockets.end(last!.socket);
    await new Promise((r) => setTimeout(r, 50));
    expect(last!.socket.destroyed).to.equal(false);
    expect(sockets.destroyEnding()).to.equal(1);
    expect(last!.socket.destroyed).to.equal(true);
  });
});
