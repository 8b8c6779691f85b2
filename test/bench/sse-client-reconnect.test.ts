/**
 * The C load client's reconnect mode, against a scripted SSE server: a stream that ends is
 * replaced by a new connection, and after the new `ready` the client tells a message that was
 * published before it (fine to miss) from one published after it (lost: the server's fault).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { ClientShard, type ClientReport } from '../../bench/lib/sse-clients.js';
import { waitUntil } from '../support/wait.js';

const frame = (event: string, data: string) => `event: ${event}\ndata: ${data}\nid: -\n\n`;
const now = () => process.hrtime.bigint();
const message = (seq: number, t: bigint, previous: bigint) =>
  frame('message', `{"payload":{"seq":${seq},"t":${t},"p":${previous}},"exchange":"x","routingKey":"k"}`);

/**
 * First connection: `ready`, seq 0..2, end of stream. Second: `ready`, then seq 4, whose
 * predecessor (seq 3, never sent) was published `before` or after that `ready`.
 */
function scriptedServer(seq3PublishedBeforeReady: boolean): Promise<http.Server> {
  let connections = 0;
  const server = http.createServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/event-stream' });
    const first = ++connections === 1;
    const beforeReady = now();
    res.write(frame('ready', '{}'));
    if (first) {
      let previous = 0n;
      for (let seq = 0; seq < 3; seq++) {
        const t = now();
        res.write(message(seq, t, previous));
        previous = t;
      }
      res.end();
      return;
    }
    // Well after the client has read `ready`, so "published after ready" is unambiguous.
    setTimeout(() => {
      const seq3 = seq3PublishedBeforeReady ? beforeReady - 1_000_000n : now();
      res.write(message(4, now(), seq3));
      res.write(message(5, now(), now()));
    }, 200);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

async function run(seq3PublishedBeforeReady: boolean): Promise<ClientReport> {
  const server = await scriptedServer(seq3PublishedBeforeReady);
  const { port } = server.address() as AddressInfo;
  const shard = ClientShard.start({ port, path: '/', conns: 1, reconnectPorts: [port] });
  try {
    let report = await shard.report();
    await waitUntil(async () => (report = await shard.report()).messages === 5, 'five messages', 10_000);
    return report;
  } finally {
    await shard.finish();
    server.closeAllConnections();
    server.close();
  }
}

describe('bench: the C client reconnects when a stream ends and checks what came after the new ready', function () {
  it('counts a message published after the new ready that never arrived as lost', async () => {
    const r = await run(false);
    expect(r).to.include({ reconnects: 1, reconnectReady: 1, closedAfterReady: 1, lostAfterReady: 1 });
    expect(r).to.include({ gaps: 0, duplicates: 0, nextSeqMin: 6, nextSeqMax: 6 });
  });

  it('does not count messages published before the new ready', async () => {
    const r = await run(true);
    expect(r).to.include({ reconnects: 1, reconnectReady: 1, lostAfterReady: 0, gaps: 0, readyNow: 1 });
    expect(r.reconnectUs.n).to.equal(1);
  });
});
