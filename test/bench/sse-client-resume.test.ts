/**
 * The C load client's resume mode (v2) and load-balancer mode, against scripted SSE servers: it
 * keeps the last `id:`, reconnects after the stream's `retry:` delay with `Last-Event-ID`, carries
 * the sequence check across the reconnect (so a lost or repeated message counts), counts `gap`
 * events and cursors that step back; new connections follow the endpoint list it is given; and a
 * phase counts the streams that ended in it and how long after its origin each was back.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { ClientShard, type ClientReport } from '../../bench/lib/sse-clients.js';
import { waitUntil } from '../support/wait.js';

const cursor = (n: number) => `1700000000000-${String(n).padStart(6, '0')}`;
const frame = (event: string, data: string, id: string) => `event: ${event}\ndata: ${data}\nid: ${id}\n\n`;
const message = (seq: number, id: string) =>
  frame('message', `{"payload":{"seq":${seq},"t":${process.hrtime.bigint()},"p":0},"exchange":"x"}`, id);

interface Seen {
  readonly lastEventIds: (string | undefined)[];
  readonly at: bigint[];
}

/**
 * First connection: `retry: 150`, `ready` (id 0), seq 0..2 (ids 1..3), end. Later ones: `ready` with
 * the Last-Event-ID, then `resumeWith` (what a server resuming after seq 2 would send).
 */
function scriptedServer(resumeWith: string[], seen: Seen): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    const lastEventId = req.headers['last-event-id'] as string | undefined;
    seen.lastEventIds.push(lastEventId);
    seen.at.push(process.hrtime.bigint());
    res.writeHead(200, { 'Content-Type': 'text/event-stream' });
    res.write('retry: 150\n\n');
    if (lastEventId === undefined) {
      res.write(frame('ready', '{}', cursor(0)));
      for (let seq = 0; seq < 3; seq++) res.write(message(seq, cursor(seq + 1)));
      res.end();
      return;
    }
    res.write(frame('ready', '{}', lastEventId));
    for (const f of resumeWith) res.write(f);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

async function run(resumeWith: string[], expectMessages: number): Promise<{ r: ClientReport; seen: Seen }> {
  const seen: Seen = { lastEventIds: [], at: [] };
  const server = await scriptedServer(resumeWith, seen);
  const { port } = server.address() as AddressInfo;
  const shard = ClientShard.start({ port, path: '/', conns: 1, endpoints: [port], resume: true });
  try {
    let report = await shard.report();
    await waitUntil(
      async () => (report = await shard.report()).messages === expectMessages && report.readyNow === 1,
      `${expectMessages} messages`,
      10_000,
    );
    return { r: report, seen };
  } finally {
    await shard.finish();
    server.closeAllConnections();
    server.close();
  }
}

describe('bench: the C client resumes v2 streams (Last-Event-ID, retry:, one sequence across reconnects)', function () {
  it('reconnects after the retry: delay with the last id and counts nothing lost when the stream carries on', async () => {
    const { r, seen } = await run([message(3, cursor(4)), message(4, cursor(5))], 5);
    expect(seen.lastEventIds).to.deep.equal([undefined, cursor(3)]);
    const waitedMs = Number(seen.at[1]! - seen.at[0]!) / 1e6;
    expect(waitedMs, 'the retry: delay').to.be.at.least(140);
    expect(r).to.include({ reconnects: 1, reconnectReady: 1, retryFields: 2, gaps: 0, duplicates: 0 });
    expect(r).to.include({ cursorRegressions: 0, badIds: 0, gapEvents: 0, badFrames: 0 });
    expect(r).to.include({ nextSeqMin: 5, nextSeqMax: 5, nextSeqSum: 5, inOrder: 5 });
  });

  it('counts a message lost across the reconnect, a repeated one, a cursor that steps back and a gap', async () => {
    const lost = await run([message(4, cursor(5))], 4);
    expect(lost.r).to.include({ gaps: 1, missing: 1, duplicates: 0, nextSeqMin: 5 });

    const repeated = await run([message(2, cursor(3)), message(3, cursor(4))], 5);
    expect(repeated.r).to.include({ duplicates: 1, cursorRegressions: 1, gaps: 0, nextSeqMin: 4 });

    const gap = await run(
      [frame('gap', `{"from":"${cursor(3)}","to":"${cursor(9)}"}`, cursor(9)), message(3, cursor(10))],
      4,
    );
    expect(gap.r).to.include({ gapEvents: 1, gaps: 0, cursorRegressions: 0 });
  });
});

describe('bench: the C client as behind a load balancer (endpoint list, phases)', function () {
  it('sends new connections only to the endpoints it was last given, and times each phase', async () => {
    const hits = [0, 0];
    const servers = await Promise.all(
      [0, 1].map(
        (n) =>
          new Promise<http.Server>((resolve) => {
            const s = http.createServer((_req, res) => {
              hits[n]!++;
              res.writeHead(200, { 'Content-Type': 'text/event-stream' });
              res.write('retry: 50\n\n');
              res.write(frame('ready', '{}', cursor(0)));
            });
            s.listen(0, '127.0.0.1', () => resolve(s));
          }),
      ),
    );
    const [a, b] = servers.map((s) => (s.address() as AddressInfo).port) as [number, number];
    const shard = ClientShard.start({ port: 0, path: '/', conns: 4, endpoints: [a, b], resume: true });
    try {
      await shard.settled(10_000);
      expect(hits).to.deep.equal([2, 2]);
      await shard.setEndpoints([b]);
      await shard.startPhase(1);
      const origin = process.hrtime.bigint();
      shard.setPhaseOrigin(1, origin);
      servers[0]!.closeAllConnections();
      let r = await shard.report();
      await waitUntil(async () => (r = await shard.report()).reconnectReady === 2, 'two back', 10_000);
      expect(hits).to.deep.equal([2, 4]);
      expect(r.readyNow).to.equal(4);
      const phase = r.phases.find((p) => p.phase === 1);
      expect(phase?.ends).to.equal(2);
      expect(phase?.backUs.n).to.equal(2);
      expect(phase!.backUs.max / 1000, 'ms from the origin').to.be.within(40, 2000);
      expect(r.phaseUnattributed).to.equal(0);
    } finally {
      await shard.finish();
      for (const s of servers) {
        s.closeAllConnections();
        s.close();
      }
    }
  });
});
