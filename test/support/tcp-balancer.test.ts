/** The tests' TCP balancer: round robin (or least connections) over backends marked up, failures the client can see. */
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { freePort } from './processes.js';
import { TcpBalancer } from './tcp-balancer.js';
import { waitUntil } from './wait.js';

/**
 * A backend that answers what a connection sends with its name and an echo, and ends with 1 MiB
 * and `end` on `bye`. It sends nothing to a connection that sends nothing.
 */
async function backend(name: string): Promise<net.Server> {
  const server = net.createServer((s) => {
    s.once('data', () => s.write(`${name}\n`));
    s.on('data', (d: Buffer) => {
      if (d.toString().includes('bye')) s.end(`${d.toString()}${'x'.repeat(1 << 20)}\nend\n`);
      else s.write(d);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

interface Outcome {
  readonly received: string;
  /** `end` (a clean close), or the error code the client saw. */
  readonly how: string;
}

/** Connects, sends `send`, and reads until the connection ends one way or another. */
function exchange(port: number, send: string): Promise<Outcome> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    let received = '';
    let how = 'end';
    s.on('data', (d: Buffer) => (received += d.toString()));
    s.on('error', (err: NodeJS.ErrnoException) => (how = err.code ?? err.message));
    s.on('close', () => resolve({ received, how }));
    s.write(send);
  });
}

describe('test support: TcpBalancer', () => {
  const servers: net.Server[] = [];
  let balancer: TcpBalancer;

  beforeEach(async () => {
    balancer = await TcpBalancer.start();
    for (const name of ['a', 'b', 'c']) {
      const s = await backend(name);
      servers.push(s);
      balancer.add(name, (s.address() as AddressInfo).port);
    }
  });

  afterEach(async () => {
    await balancer.close();
    for (const s of servers.splice(0)) s.close();
  });

  it('sends each new connection to the next backend marked up, and pipes both ways intact', async () => {
    const first = await Promise.all([1, 2, 3, 4].map(() => exchange(balancer.port, 'hi bye')));
    expect(first.map((o) => o.received.split('\n')[0]).sort()).to.deep.equal(['a', 'a', 'b', 'c']);
    for (const o of first) {
      expect(o.how).to.equal('end');
      expect(o.received).to.match(/^[abc]\nhi bye/);
      expect(o.received.endsWith(`${'x'.repeat(1 << 20)}\nend\n`)).to.equal(true);
    }
    balancer.markDown('b');
    const names: string[] = [];
    for (let i = 0; i < 4; i++) names.push((await exchange(balancer.port, 'bye')).received.slice(0, 1));
    expect(names).to.not.include('b');
    expect(new Set(names)).to.deep.equal(new Set(['a', 'c']));
    balancer.markUp('b');
    expect(balancer.up).to.deep.equal(['a', 'b', 'c']);
    const routed = balancer.routed;
    expect(routed).to.have.length(8);
    await waitUntil(() => balancer.open().length === 0, 'every connection closed at the balancer', 5000);
    expect(routed.every((c) => c.bytesToClient > 1 << 20 && c.bytesToBackend >= 3)).to.equal(true);
    expect(balancer.usedSince('b')).to.have.length(1);
    expect(balancer.streamsSince(0)).to.deep.equal([]);
  });

  it('resets a connection when no backend is up, and when its backend is dead', async () => {
    for (const name of ['a', 'b', 'c']) balancer.markDown(name);
    const none = await exchange(balancer.port, 'bye');
    expect(none).to.deep.equal({ received: '', how: 'ECONNRESET' });
    expect(balancer.routed.at(-1)!.failure).to.equal('no backend up');

    const dead = await TcpBalancer.start();
    try {
      dead.add('gone', await freePort());
      const refused = await exchange(dead.port, 'bye');
      expect(refused).to.deep.equal({ received: '', how: 'ECONNRESET' });
      expect(dead.routed[0]!.failure).to.equal('ECONNREFUSED');
    } finally {
      await dead.close();
    }
  });

  it('tells which backend the one open connection carrying a response is on', async () => {
    const held = net.connect({ host: '127.0.0.1', port: balancer.port });
    held.write('hi');
    await new Promise<void>((resolve) => held.once('data', () => resolve()));
    const idle = net.connect({ host: '127.0.0.1', port: balancer.port });
    await new Promise<void>((resolve) => idle.once('connect', () => resolve()));
    try {
      expect(balancer.streamingBackend()).to.equal(balancer.routed[0]!.backend);
    } finally {
      held.destroy();
      idle.destroy();
    }
  });

  it('with least-connections, sends each new connection to the backend with the fewest open ones', async () => {
    const lc = await TcpBalancer.start('least-connections');
    const held: net.Socket[] = [];
    const firstLine = (s: net.Socket) =>
      new Promise<string>((resolve) => s.once('data', (d: Buffer) => resolve(d.toString().split('\n')[0]!)));
    const open = async () => {
      const s = net.connect({ host: '127.0.0.1', port: lc.port });
      held.push(s);
      s.write('hi');
      return firstLine(s);
    };
    try {
      lc.add('a', (servers[0]!.address() as AddressInfo).port);
      lc.add('b', (servers[1]!.address() as AddressInfo).port);
      // Two on a, then a third backend joins: it gets every new connection until it has as many.
      lc.markDown('b');
      expect([await open(), await open()]).to.deep.equal(['a', 'a']);
      lc.markUp('b');
      expect([await open(), await open()]).to.deep.equal(['b', 'b']);
      held[2]!.destroy();
      await waitUntil(() => lc.open().length === 3, 'the closed connection gone', 5000);
      expect(await open()).to.equal('b');
    } finally {
      for (const s of held) s.destroy();
      await lc.close();
    }
  });
});
