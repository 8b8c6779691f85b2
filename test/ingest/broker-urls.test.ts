/**
 * The connection's choice of broker: several URLs tried in turn, and the reconnect backoff's cap
 * and probe, against real sockets (the machine's RabbitMQ is only connected to, never stopped).
 */
import net from 'node:net';
import { expect } from 'chai';
import {
  DEFAULT_HEARTBEAT_SECONDS,
  DEFAULT_RECONNECT_MAX_MS,
  ReconnectingAmqpConnection,
  reconnectDelayMs,
  withDefaultHeartbeat,
} from '@events-proxy/ingest';
import { freePort } from '../support/processes.js';
import { AMQP_URL, needRabbit } from '../support/services.js';
import { waitUntil } from '../support/wait.js';
import { captureLogger } from './support.js';

/** A URL like AMQP_URL but on another port (nothing listens there unless the test says so). */
function onPort(port: number): string {
  const u = new URL(AMQP_URL);
  u.hostname = '127.0.0.1';
  u.port = String(port);
  return u.toString();
}

describe('ingest: broker URLs and reconnect backoff', function () {
  this.timeout(30_000);
  const connections: ReconnectingAmqpConnection[] = [];
  const servers: net.Server[] = [];

  before(() => needRabbit());

  afterEach(async () => {
    await Promise.all(connections.splice(0).map((c) => c.stop()));
    await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
  });

  it('caps the backoff at 5 s by default, with jitter', () => {
    expect(DEFAULT_RECONNECT_MAX_MS).to.equal(5000);
    expect(reconnectDelayMs(1, 500, 5000, () => 0.5)).to.equal(500);
    expect(reconnectDelayMs(4, 500, 5000, () => 0.5)).to.equal(4000);
    for (const attempt of [5, 10, 100]) {
      expect(reconnectDelayMs(attempt, 500, 5000, () => 0)).to.equal(4000);
      expect(reconnectDelayMs(attempt, 500, 5000, () => 0.999)).to.equal(5000);
    }
  });

  it('asks for a 4 s heartbeat unless the URL sets one, keeping the rest of the URL as it is', () => {
    expect(DEFAULT_HEARTBEAT_SECONDS).to.equal(4);
    expect(withDefaultHeartbeat('amqps://u%2F1:p%40ss@h:5671/v%2Fh', 10)).to.equal(
      'amqps://u%2F1:p%40ss@h:5671/v%2Fh?heartbeat=10',
    );
    expect(withDefaultHeartbeat('amqp://h/?frameMax=8192', 10)).to.equal(
      'amqp://h/?frameMax=8192&heartbeat=10',
    );
    expect(withDefaultHeartbeat('amqp://h?heartbeat=3', 10)).to.equal('amqp://h?heartbeat=3');
  });

  it('tries the URLs in turn and connects to the first that answers, logging only redacted forms', async () => {
    const closed = await freePort();
    const { logger, lines, text } = captureLogger();
    const urls = [onPort(closed), AMQP_URL];
    const conn = new ReconnectingAmqpConnection({ urls, logger, setup: async () => undefined });
    connections.push(conn);
    conn.start();
    await waitUntil(() => conn.isConnected(), 'a connection to the second URL', 10_000);
    const broker = new URL(AMQP_URL);
    expect(conn.connectedTo).to.equal(`amqp://${broker.hostname}:${broker.port || 5672}/`);
    expect(lines.filter((l) => l.msg.startsWith('waiting for RabbitMQ'))).to.deep.equal([]);
    expect(text()).not.to.include(`:${decodeURIComponent(broker.password)}@`);
  });

  it('after every URL failed, says so for each and waits', async () => {
    const [a, b] = [await freePort(), await freePort()];
    const { logger, lines } = captureLogger();
    const conn = new ReconnectingAmqpConnection({
      urls: [onPort(a), onPort(b)],
      logger,
      setup: async () => undefined,
      initialDelayMs: 60_000,
      maxDelayMs: 60_000,
    });
    connections.push(conn);
    conn.start();
    await waitUntil(() => lines.some((l) => l.msg.startsWith('waiting for RabbitMQ')), 'a wait', 10_000);
    const waiting = lines.find((l) => l.msg.startsWith('waiting for RabbitMQ'))!;
    expect(waiting.msg).to.match(
      new RegExp(
        `^waiting for RabbitMQ at amqp://127\\.0\\.0\\.1:${a}/, amqp://127\\.0\\.0\\.1:${b}/: ` +
          `amqp://127\\.0\\.0\\.1:${a}/: .*ECONNREFUSED.*; amqp://127\\.0\\.0\\.1:${b}/: .*ECONNREFUSED.*; retrying in`,
      ),
    );
    expect(conn.isConnected()).to.equal(false);
  });

  it('does not retry in a loop against a port that accepts TCP but never speaks AMQP', async () => {
    let accepted = 0;
    const server = net.createServer((socket) => {
      accepted++;
      socket.destroy();
    });
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as net.AddressInfo;
    const { logger, lines } = captureLogger();
    const conn = new ReconnectingAmqpConnection({
      urls: [onPort(port)],
      logger,
      setup: async () => undefined,
      initialDelayMs: 200,
      maxDelayMs: 400,
      probeIntervalMs: 20,
    });
    connections.push(conn);
    conn.start();
    const rounds = () => lines.filter((l) => l.msg.startsWith('waiting for RabbitMQ')).length;
    await waitUntil(() => rounds() >= 4, 'four failed rounds', 20_000);
    // Each round is one AMQP attempt, and each wait one probe (which finds the port open and stops).
    expect(accepted).to.be.at.most(2 * rounds() + 2);
    expect(lines.map((l) => l.msg)).not.to.include('RabbitMQ accepts connections again; reconnecting now');
  });

  it('reconnects at once when a refusing port starts to listen', async () => {
    const port = await freePort();
    const { logger, lines } = captureLogger();
    const conn = new ReconnectingAmqpConnection({
      urls: [onPort(port)],
      logger,
      setup: async () => undefined,
      initialDelayMs: 60_000,
      maxDelayMs: 60_000,
    });
    connections.push(conn);
    conn.start();
    await waitUntil(() => lines.some((l) => l.msg.startsWith('waiting for RabbitMQ')), 'a wait', 10_000);
    let accepted = 0;
    const server = net.createServer((socket) => {
      accepted++;
      socket.destroy();
    });
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    await waitUntil(
      () => lines.some((l) => l.msg === 'RabbitMQ accepts connections again; reconnecting now'),
      'the probe to see the port open',
      10_000,
    );
    // The probe, then the AMQP attempt it triggered (which this fake broker fails).
    await waitUntil(() => accepted >= 2, 'the reconnect attempt', 10_000);
    await waitUntil(
      () => lines.filter((l) => l.msg.startsWith('waiting for RabbitMQ')).length >= 2,
      'a wait',
      10_000,
    );
    const second = lines.filter((l) => l.msg.startsWith('waiting for RabbitMQ'))[1]!;
    expect(second.attempt, 'the backoff started over').to.equal(1);
  });
});
