/**
 * The fault proxy (bench/lib/fault-proxy.ts), each mode proven against a TCP echo server of the
 * test's own and against the machine's Redis through ioredis. Silence can only be shown over a
 * window: those windows are short deadlines (SILENT_MS) on something that would otherwise have
 * answered at once, and each silence is then ended to show the held bytes still arrive, in order.
 */
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { Redis } from 'ioredis';
import { FaultProxy } from '../../bench/lib/fault-proxy.js';
import { REDIS_URL, needRedis } from './services.js';
import { waitUntil } from './wait.js';

/** How long a silent link is watched for something it must not carry. */
const SILENT_MS = 300;

/** One end of a TCP connection: what it received, and how it ended. */
class Peer {
  received = '';
  ended = false;
  closed = false;
  error: string | undefined;

  constructor(readonly socket: net.Socket) {
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => (this.received += d));
    socket.on('end', () => (this.ended = true));
    socket.on('close', () => (this.closed = true));
    socket.on('error', (err: NodeJS.ErrnoException) => (this.error ??= err.code ?? err.message));
  }

  static async connect(port: number): Promise<Peer> {
    const socket = net.connect({ host: '127.0.0.1', port });
    const peer = new Peer(socket);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    return peer;
  }

  /** Neither an end, a close nor an error seen. */
  get quiet(): boolean {
    return !this.ended && !this.closed && this.error === undefined;
  }

  waitFor(text: string, ms = 2000): Promise<void> {
    return waitUntil(() => this.received.includes(text), `${JSON.stringify(text)} to arrive`, ms);
  }
}

/**
 * An echo server that, when a connection ends its side, answers `bye` and ends too (a half-close
 * each way). `conns` are its sides of the connections, in order.
 */
class EchoServer {
  readonly conns: Peer[] = [];
  private constructor(private readonly server: net.Server) {}

  static async start(): Promise<EchoServer> {
    const server = net.createServer({ allowHalfOpen: true });
    const echo = new EchoServer(server);
    server.on('connection', (s) => {
      const peer = new Peer(s);
      echo.conns.push(peer);
      s.on('data', (d: string) => s.write(d));
      s.on('end', () => s.end('bye'));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return echo;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const c of this.conns) c.socket.destroy();
    await closed;
  }
}

/** Resolves 'timeout' unless `p` settles within `ms`. */
function within<T>(p: Promise<T>, ms: number): Promise<T | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), ms))),
  ]).finally(() => clearTimeout(timer));
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('fault proxy', () => {
  it('only forwards to loopback', async () => {
    for (const host of ['10.0.0.1', 'example.com', '0.0.0.0']) {
      let refused = false;
      await FaultProxy.start({ host, port: 6379 }).catch(() => (refused = true));
      expect(refused, host).to.equal(true);
    }
  });

  it('points URLs at itself', async () => {
    const proxy = await FaultProxy.start({ host: 'localhost', port: 5672 });
    try {
      expect(proxy.url()).to.equal(`redis://127.0.0.1:${proxy.port}`);
      expect(proxy.rewrite('amqp://guest:guest@localhost:5672/%2f?heartbeat=10')).to.equal(
        `amqp://guest:guest@127.0.0.1:${proxy.port}/%2f?heartbeat=10`,
      );
    } finally {
      await proxy.close();
    }
  });

  describe('over a TCP echo server', () => {
    let echo: EchoServer;
    let proxy: FaultProxy;
    const peers: Peer[] = [];

    const connect = async (): Promise<Peer> => {
      const p = await Peer.connect(proxy.port);
      peers.push(p);
      return p;
    };

    beforeEach(async () => {
      echo = await EchoServer.start();
      proxy = await FaultProxy.start({ host: '127.0.0.1', port: echo.port });
    });

    afterEach(async () => {
      for (const p of peers.splice(0)) p.socket.destroy();
      await proxy.close();
      await echo.close();
    });

    it('passes bytes both ways and half-closes each way', async () => {
      const c = await connect();
      c.socket.write('hello');
      await c.waitFor('hello');
      c.socket.end();
      await waitUntil(() => c.closed, 'the connection to close', 2000);
      expect(c.received).to.equal('hellobye');
      expect([c.ended, c.error]).to.deep.equal([true, undefined]);
      await waitUntil(() => proxy.stats().open === 0, 'the proxy to let go of it', 2000);
      expect(proxy.stats()).to.include({ accepted: 1, open: 0, silenced: 0 });
    });

    it('blackhole: open and new connections go silent both ways with no end or reset; heal delivers what was held, in order', async () => {
      const old = await connect();
      old.socket.write('a');
      await old.waitFor('a');
      proxy.blackhole();
      expect(proxy.stats()).to.include({ mode: 'blackhole', open: 1, silenced: 1 });
      // Bytes into the silence both ways: more than every buffer on the way holds, then an end.
      const big = 'x'.repeat(4 << 20);
      old.socket.write(`b${big}c`);
      old.socket.end();
      echo.conns[0]!.socket.write('from-server');
      const fresh = await connect();
      fresh.socket.write('hello');
      await sleep(SILENT_MS);
      expect(old.received).to.equal('a');
      expect(fresh.received).to.equal('');
      expect(echo.conns.length, 'connections the server saw').to.equal(1);
      expect(echo.conns[0]!.received).to.equal('a');
      expect([old.quiet, fresh.quiet, echo.conns[0]!.quiet]).to.deep.equal([true, true, true]);
      expect(proxy.stats()).to.include({ accepted: 2, open: 2, silenced: 2, lost: 0 });

      proxy.heal();
      await old.waitFor('bye', 5000);
      // The echo of 'a' came before the silence; the rest is each side's bytes in the order sent.
      expect(old.received === `afrom-serverb${big}cbye`, 'the client got every byte, in order').to.equal(
        true,
      );
      expect(echo.conns[0]!.received === `ab${big}c`, 'the server got every byte, in order').to.equal(true);
      expect(echo.conns[0]!.ended).to.equal(true);
      await fresh.waitFor('hello');
      expect(echo.conns.length).to.equal(2);
      expect(proxy.stats()).to.include({ mode: 'pass', silenced: 0 });
    });

    it('stallExisting: open connections go silent for good, new ones pass; reset() then ends the stalled ones', async () => {
      const old = await connect();
      old.socket.write('a');
      await old.waitFor('a');
      proxy.stallExisting();
      old.socket.write('b');
      const fresh = await connect();
      fresh.socket.write('hello');
      await fresh.waitFor('hello');
      proxy.heal();
      expect(proxy.stats()).to.include({ open: 2, silenced: 1, lost: 1 });
      await sleep(SILENT_MS);
      expect(old.received).to.equal('a');
      expect(echo.conns[0]!.received).to.equal('a');
      expect([old.quiet, echo.conns[0]!.quiet]).to.deep.equal([true, true]);

      proxy.reset();
      await waitUntil(() => old.closed && echo.conns[0]!.closed, 'both sides to be reset', 2000);
      expect([old.error, echo.conns[0]!.error]).to.deep.equal(['ECONNRESET', 'ECONNRESET']);
      expect(fresh.error).to.equal('ECONNRESET');
      expect(proxy.stats()).to.include({ open: 0, reset: 2 });
    });

    it('heal({ resumeSilenced: false }) and dropSilenced(): the silenced ones stay silent', async () => {
      const one = await connect();
      proxy.blackhole();
      proxy.heal({ resumeSilenced: false });
      proxy.blackhole();
      const two = await connect();
      proxy.dropSilenced();
      proxy.heal();
      expect(proxy.stats()).to.include({ open: 2, silenced: 2, lost: 2 });
      one.socket.write('one');
      two.socket.write('two');
      const three = await connect();
      three.socket.write('three');
      await three.waitFor('three');
      await sleep(SILENT_MS);
      expect([one.received, two.received, one.quiet, two.quiet]).to.deep.equal(['', '', true, true]);
    });

    it('reset: every open connection is reset on both sides at once; new ones pass', async () => {
      const c = await connect();
      c.socket.write('a');
      await c.waitFor('a');
      proxy.reset();
      await waitUntil(() => c.closed && echo.conns[0]!.closed, 'both sides to be reset', 1000);
      expect([c.error, echo.conns[0]!.error]).to.deep.equal(['ECONNRESET', 'ECONNRESET']);
      const fresh = await connect();
      fresh.socket.write('again');
      await fresh.waitFor('again');
    });

    it('refuse: new connections are reset at once and never reach the server; open ones carry on', async () => {
      const old = await connect();
      old.socket.write('a');
      await old.waitFor('a');
      proxy.refuse();
      const refused = new Peer(net.connect({ host: '127.0.0.1', port: proxy.port }));
      await waitUntil(() => refused.closed, 'the new connection to be reset', 1000);
      expect(refused.error).to.equal('ECONNRESET');
      old.socket.write('b');
      await old.waitFor('ab');
      expect(echo.conns.length).to.equal(1);
      expect(proxy.stats()).to.include({ mode: 'refuse', accepted: 2, refused: 1, open: 1 });
      proxy.heal();
      const fresh = await connect();
      fresh.socket.write('hello');
      await fresh.waitFor('hello');
    });

    it('resets the client when the target refuses the connection', async () => {
      await echo.close();
      const c = await connect();
      await waitUntil(() => c.closed, 'the client to be reset', 1000);
      expect(c.error).to.equal('ECONNRESET');
      expect(proxy.stats().open).to.equal(0);
    });
  });

  describe('in front of Redis (ioredis)', () => {
    let proxy: FaultProxy;
    const clients: Redis[] = [];

    /** A client through the proxy, connected; `closes` counts its 'close' and 'end' events. */
    const client = async (): Promise<{ redis: Redis; closes: string[] }> => {
      const redis = new Redis(proxy.url(), { lazyConnect: true, maxRetriesPerRequest: null });
      clients.push(redis);
      const closes: string[] = [];
      redis.on('error', () => undefined);
      redis.on('close', () => closes.push('close'));
      redis.on('end', () => closes.push('end'));
      await redis.connect();
      expect(await redis.ping()).to.equal('PONG');
      return { redis, closes };
    };

    before(async () => {
      await needRedis();
    });

    beforeEach(async () => {
      const u = new URL(REDIS_URL);
      proxy = await FaultProxy.start({ host: u.hostname, port: Number(u.port || 6379) });
    });

    afterEach(async () => {
      for (const r of clients.splice(0)) r.disconnect();
      await proxy.close();
    });

    it('blackhole: a PING never answers and the client sees no close; after heal it answers', async () => {
      const { redis, closes } = await client();
      proxy.blackhole();
      const ping = redis.ping();
      expect(await within(ping, SILENT_MS)).to.equal('timeout');
      expect(closes).to.deep.equal([]);
      expect(redis.status).to.equal('ready');
      proxy.heal();
      expect(await within(ping, 2000)).to.equal('PONG');
      expect(await redis.ping()).to.equal('PONG');
      expect(closes).to.deep.equal([]);
    });

    it("stallExisting: an old client's PING hangs while a new client's answers", async () => {
      const old = await client();
      proxy.stallExisting();
      const ping = old.redis.ping();
      const fresh = await client();
      expect(await fresh.redis.ping()).to.equal('PONG');
      expect(await within(ping, SILENT_MS)).to.equal('timeout');
      expect(old.closes).to.deep.equal([]);
    });

    it('reset: the client sees the connection reset at once, then reconnects', async () => {
      const { redis, closes } = await client();
      const errors: string[] = [];
      redis.on('error', (err: NodeJS.ErrnoException) => errors.push(err.code ?? err.message));
      proxy.reset();
      await waitUntil(() => closes.includes('close'), "the client's close", 1000);
      expect(errors).to.include('ECONNRESET');
      expect(await within(redis.ping(), 2000)).to.equal('PONG');
    });

    it('refuse: a new connection is reset, an open one still answers', async () => {
      const { redis } = await client();
      proxy.refuse();
      const refused = new Redis(proxy.url(), { lazyConnect: true, retryStrategy: () => null });
      clients.push(refused);
      const errors: string[] = [];
      refused.on('error', (err: NodeJS.ErrnoException) => errors.push(err.code ?? err.message));
      let failed = false;
      await refused.connect().catch(() => (failed = true));
      expect(failed).to.equal(true);
      expect(errors).to.include('ECONNRESET');
      expect(await redis.ping()).to.equal('PONG');
      expect(proxy.stats()).to.include({ refused: 1, open: 1 });
    });
  });
});
