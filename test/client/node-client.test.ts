/**
 * The client library (`@events-proxy/client`, DESIGN.md §3d) in Node against a real edge over real
 * sockets: an in-process edge (test/edge/harness.ts, whose `route()` does what the ingest does with
 * a message), with a loopback fault proxy or a small front door in between where a test needs the
 * network or a proxy in front to misbehave. Message sets are asserted exactly; times are printed.
 * Real processes (drains, SIGKILL, RabbitMQ) are in test/e2e/resume.test.ts; several browser
 * tabs in test/e2e/client-tabs.test.ts.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import {
  connect,
  type ConnectOptions,
  type EventsProxyStream,
  type ReadyInfo,
  type StreamError,
  type StreamMessage,
  type StreamStatus,
} from '@events-proxy/client';
import type { Binding } from '@events-proxy/protocol';
import { FaultProxy } from '../../bench/lib/fault-proxy.js';
import { startEdge, type TestEdge } from '../edge/harness.js';
import { report } from '../support/figures.js';
import { hsToken, newSecret } from '../support/tokens.js';
import { waitUntil } from '../support/wait.js';

/** Everything a stream told its listeners, in order. */
class Recorder {
  readonly messages: StreamMessage[] = [];
  readonly readies: ReadyInfo[] = [];
  readonly errors: StreamError[] = [];
  readonly statuses: StreamStatus[] = [];
  readonly gaps: unknown[] = [];

  constructor(readonly stream: EventsProxyStream) {
    stream.on('message', (m) => this.messages.push(m));
    stream.on('ready', (r) => this.readies.push(r));
    stream.on('error', (e) => this.errors.push(e));
    stream.on('status', (s) => this.statuses.push(s));
    stream.on('gap', (g) => this.gaps.push(g));
  }

  get payloads(): unknown[] {
    return this.messages.map((m) => m.payload);
  }

  async waitFor(count: number, what = `${count} messages`, ms = 20_000): Promise<void> {
    await waitUntil(
      () => this.messages.length >= count,
      () => `${what}; got ${JSON.stringify(this.payloads)}, errors ${JSON.stringify(this.errors)}`,
      ms,
    );
  }

  async waitReady(count = 1, ms = 20_000): Promise<void> {
    await waitUntil(
      () => this.readies.length >= count,
      () => `ready #${count}; errors ${JSON.stringify(this.errors)}, statuses ${this.statuses.join(',')}`,
      ms,
    );
  }
}

/** A fetch that records when each request was made and what it carried. */
function countingFetch(): { fetch: typeof fetch; calls: { at: number; lastEventId: string | null }[] } {
  const calls: { at: number; lastEventId: string | null }[] = [];
  return {
    calls,
    fetch: (input, init) => {
      calls.push({ at: Date.now(), lastEventId: new Headers(init?.headers).get('last-event-id') });
      return fetch(input, init);
    },
  };
}

const upTo = (n: number, from = 1): number[] => Array.from({ length: n - from + 1 }, (_, i) => from + i);

/**
 * Something in front of the edge (an ingress, an auth proxy): answers the scripted statuses to
 * the first requests, then passes requests through to the edge.
 */
class FrontDoor {
  private readonly counted: { requests: number };
  private constructor(
    private readonly server: http.Server,
    readonly base: string,
    counted: { requests: number },
  ) {
    this.counted = counted;
  }

  /** Requests that reached it so far. */
  get requests(): number {
    return this.counted.requests;
  }

  static async start(
    edgeBase: string,
    script: readonly { status: number; headers?: Record<string, string> }[],
  ): Promise<FrontDoor> {
    const target = new URL(edgeBase);
    const counted = { requests: 0 };
    const server = http.createServer((req, res) => {
      const step = script[counted.requests++];
      if (step !== undefined) {
        res.writeHead(step.status, { 'Content-Type': 'application/json', ...step.headers });
        res.end(
          step.status === 204 ? undefined : JSON.stringify({ message: `front door says ${step.status}` }),
        );
        return;
      }
      const upstream = http.request(
        { host: target.hostname, port: target.port, path: req.url, method: req.method, headers: req.headers },
        (up) => {
          res.writeHead(up.statusCode ?? 502, up.headers);
          up.pipe(res);
        },
      );
      upstream.on('error', () => res.destroy());
      res.on('close', () => upstream.destroy());
      upstream.end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return new FrontDoor(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`, counted);
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

describe('client library in Node, against a real edge', function () {
  this.timeout(60_000);
  const edges: TestEdge[] = [];
  const streams: EventsProxyStream[] = [];
  const closers: { close(): Promise<void> }[] = [];
  let n = 0;
  const fresh = (): Binding => ({ exchange: `exchange/test/client-${++n}`, routingKeyPattern: '#' });

  /** SSE_RETRY_MS=100: the server's retry floor, so reconnects in these tests take ~0.1-0.2 s. */
  const edge = async (env: Record<string, string> = {}) => {
    const t = await startEdge({ SSE_RETRY_MS: '100', INSPECTOR_ENABLED: 'false', ...env });
    edges.push(t);
    return t;
  };
  const open = (opts: ConnectOptions): Recorder => {
    const stream = connect(opts);
    streams.push(stream);
    return new Recorder(stream);
  };
  const proxyTo = async (t: TestEdge, mode?: 'blackhole') => {
    const proxy = await FaultProxy.start({ host: '127.0.0.1', port: Number(new URL(t.base).port) }, { mode });
    closers.push(proxy);
    return proxy;
  };
  /** Publishes `seqs` in order on `b`, as the ingest would: each gets a cursor and is retained. */
  const publish = async (t: TestEdge, b: Binding, seqs: readonly number[]) => {
    const cursors: string[] = [];
    for (const seq of seqs) cursors.push((await t.route([b], { seq })).cursor);
    return cursors;
  };
  const seqs = (r: Recorder) => r.messages.map((m) => (m.payload as { seq: number }).seq);

  afterEach(async () => {
    for (const s of streams.splice(0)) s.close();
    for (const c of closers.splice(0)) await c.close();
    for (const t of edges.splice(0)) await t.stop();
  });

  it('delivers messages with their cursors after ready, which says the ping interval', async () => {
    const t = await edge({ PING_INTERVAL_SECONDS: '7' });
    const b = fresh();
    const r = open({ url: t.base, bindings: [b] });
    expect(r.stream.status).to.equal('connecting');
    await r.waitReady();
    expect(r.readies[0]!.pingIntervalSeconds).to.equal(7);
    expect(r.stream.status).to.equal('open');
    const cursors = await publish(t, b, [1, 2, 3]);
    await r.waitFor(3);
    expect(r.messages).to.deep.equal(
      [1, 2, 3].map((seq, i) => ({
        payload: { seq },
        exchange: b.exchange,
        routingKey: 'a.b',
        redelivered: false,
        routes: [],
        cursor: cursors[i],
      })),
    );
    expect(r.stream.lastCursor).to.equal(cursors[2]);
    expect(r.statuses).to.deep.equal(['open']);
    expect(r.errors).to.deep.equal([]);
    expect(await t.metric('events_edge_connections')).to.equal(1);
  });

  it('resumes after every reset connection: nothing lost, nothing repeated, each resume from the last cursor', async () => {
    const t = await edge();
    const b = fresh();
    const proxy = await proxyTo(t);
    const f = countingFetch();
    const r = open({ url: proxy.url('http'), bindings: [b], fetch: f.fetch });
    await r.waitReady();
    const drops = 4;
    const times: number[] = [];
    for (let round = 0; round < drops; round++) {
      await publish(t, b, upTo(round * 10 + 5, round * 10 + 1));
      await r.waitFor(round * 10 + 5);
      const cursorBefore = r.stream.lastCursor;
      const at = Date.now();
      proxy.reset();
      // Published while the client is down or coming back: the resume replays them.
      await publish(t, b, upTo(round * 10 + 10, round * 10 + 6));
      await r.waitReady(round + 2);
      times.push(Date.now() - at);
      expect(f.calls.at(-1)!.lastEventId, 'the resume carries the last cursor').to.equal(cursorBefore);
    }
    await r.waitFor(drops * 10);
    expect(seqs(r)).to.deep.equal(upTo(drops * 10));
    expect(r.gaps).to.deep.equal([]);
    expect(r.errors.every((e) => !e.terminal && e.message.startsWith('network error'))).to.equal(true);
    report('client library: reset connections', {
      drops,
      lost: 0,
      duplicates: 0,
      backWithinMs: times.join('/'),
    });
  });

  it('notices a black-holed stream after the ping interval plus 5 s, and resumes with nothing lost', async () => {
    const t = await edge({ PING_INTERVAL_SECONDS: '1' });
    const b = fresh();
    const proxy = await proxyTo(t);
    const r = open({ url: proxy.url('http'), bindings: [b] });
    await r.waitReady();
    await publish(t, b, [1, 2]);
    await r.waitFor(2);
    // The connection goes silent both ways with no FIN or RST; new connections pass (a node replaced).
    const at = Date.now();
    proxy.stallExisting();
    await publish(t, b, [3, 4, 5]);
    await r.waitFor(5, 'the messages sent into the silence', 20_000);
    const recoveredMs = Date.now() - at;
    expect(seqs(r)).to.deep.equal([1, 2, 3, 4, 5]);
    expect(r.errors.map((e) => e.message)).to.deep.equal([r.errors[0]!.message]);
    expect(r.errors[0]!.message).to.match(/^nothing arrived for \ds; reconnecting$/);
    expect(r.statuses).to.deep.equal(['open', 'reconnecting', 'open']);
    report('client library: black-holed stream', { pingIntervalSeconds: 1, recoveredMs });
  });

  it('gives up a connect that stays silent for connectTimeoutMs, and gets through once the link heals', async () => {
    const t = await edge();
    const b = fresh();
    const proxy = await proxyTo(t, 'blackhole');
    const r = open({ url: proxy.url('http'), bindings: [b], connectTimeoutMs: 1000 });
    await waitUntil(() => r.errors.length >= 1, 'the silent connect to be given up', 10_000);
    expect(r.errors[0]).to.deep.include({ terminal: false });
    expect(r.errors[0]!.message).to.match(/^nothing arrived for 1s; reconnecting$/);
    proxy.heal({ resumeSilenced: false });
    await r.waitReady();
    await publish(t, b, [1]);
    await r.waitFor(1);
  });

  it('stops for good on a terminal error event: no retry, and a for-await loop throws it', async () => {
    const t = await edge();
    const f = countingFetch();
    const stream = connect({
      url: t.base,
      bindings: [{ exchange: 'not-allowed/x', routingKeyPattern: '#' }],
      fetch: f.fetch,
    });
    streams.push(stream);
    const r = new Recorder(stream);
    let thrown: unknown;
    try {
      for await (const m of stream) expect.fail(`no message expected, got ${JSON.stringify(m)}`);
    } catch (err) {
      thrown = err;
    }
    expect((thrown as Error).message).to.match(/ALLOWED_EXCHANGE_PREFIXES|not allowed|allowed prefix/i);
    expect(r.errors).to.have.length(1);
    expect(r.errors[0]).to.include({ terminal: true, message: (thrown as Error).message });
    expect(stream.status).to.equal('closed');
    expect(r.statuses.at(-1)).to.equal('closed');
    // Watched for ten times the server's retry floor: nothing comes back.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(f.calls).to.have.length(1);
  });

  for (const status of [204, 401, 403, 400]) {
    it(`stops for good when something in front of the edge answers ${status}`, async () => {
      const t = await edge();
      const door = await FrontDoor.start(t.base, [{ status }]);
      closers.push(door);
      const r = open({ url: door.base, bindings: [fresh()] });
      await waitUntil(() => r.stream.status === 'closed', `the stream to close on ${status}`, 10_000);
      expect(r.errors).to.have.length(1);
      expect(r.errors[0]).to.include({ terminal: true, status });
      expect(r.errors[0]!.message).to.match(new RegExp(`^HTTP ${status}`));
      await new Promise((resolve) => setTimeout(resolve, 1000));
      expect(door.requests).to.equal(1);
    });
  }

  it('retries a 502 and a 503 from something in front of the edge, backing off, then streams', async () => {
    const t = await edge();
    const b = fresh();
    const door = await FrontDoor.start(t.base, [{ status: 502 }, { status: 503 }]);
    closers.push(door);
    const f = countingFetch();
    const r = open({ url: door.base, bindings: [b], fetch: f.fetch });
    await r.waitReady();
    await publish(t, b, [1]);
    await r.waitFor(1);
    expect(r.errors.map((e) => [e.status, e.terminal])).to.deep.equal([
      [502, false],
      [503, false],
    ]);
    expect(r.errors[0]!.message).to.equal('HTTP 502: front door says 502');
    const waits = f.calls.slice(1).map((c, i) => c.at - f.calls[i]!.at);
    // No server `retry:` has been seen yet: the floor is 1 s, the ceiling doubles (2 s, then 4 s).
    for (const [i, w] of waits.entries())
      expect(w, `wait ${i + 1}`).to.be.within(990, 1000 * 2 ** (i + 1) + 200);
    report('client library: 5xx in front', { waitsMs: waits.join('/') });
  });

  it("waits out the edge's 429 Retry-After before connecting again", async () => {
    const t = await edge({ CONNECT_RATE_PER_IP: '0.5', CONNECT_BURST_PER_IP: '1' });
    const b = fresh();
    const first = open({ url: t.base, bindings: [b] });
    await first.waitReady();
    const f = countingFetch();
    const second = open({ url: t.base, bindings: [b], fetch: f.fetch });
    await second.waitReady(1, 20_000);
    const refused = second.errors.filter((e) => e.status === 429);
    expect(refused.length, 'refused connects').to.be.greaterThan(0);
    expect(second.errors.every((e) => e.status === 429 && !e.terminal)).to.equal(true);
    expect(f.calls).to.have.length(refused.length + 1);
    // Each try after a 429 came no sooner than the Retry-After (the edge says whole seconds: 2 here).
    const waits = f.calls.slice(1).map((c, i) => c.at - f.calls[i]!.at);
    for (const w of waits) expect(w).to.be.at.least(1000);
    await publish(t, b, [1]);
    await second.waitFor(1);
    report('client library: 429 Retry-After', { refused: refused.length, waitsMs: waits.join('/') });
  });

  it('asks headers() for a new token when the token expires on an open stream, and resumes with nothing lost', async () => {
    const secret = newSecret();
    const t = await edge({ AUTH_MODE: 'jwt', AUTH_JWT_SECRET: secret });
    const b = fresh();
    let tokens = 0;
    const r = open({
      url: t.base,
      bindings: [b],
      headers: async () => {
        tokens++;
        // The first token expires in 2 s; the next ones last an hour.
        return {
          Authorization: `Bearer ${await hsToken(secret, [b.exchange], { expiresIn: tokens === 1 ? 2 : 3600 })}`,
        };
      },
    });
    await r.waitReady();
    await publish(t, b, [1, 2]);
    await r.waitFor(2);
    await waitUntil(
      () => r.readies.length === 2,
      () =>
        `the stream to come back with a new token; errors ${JSON.stringify(r.errors)}, statuses ${r.statuses.join(',')}`,
      10_000,
    );
    await publish(t, b, [3, 4]);
    await r.waitFor(4);
    expect(seqs(r)).to.deep.equal([1, 2, 3, 4]);
    expect(tokens).to.equal(2);
    expect(r.errors).to.have.length(1);
    expect(r.errors[0]!.terminal).to.equal(false);
    expect(r.errors[0]!.message).to.match(/^Unauthorized: the token expired at /);
    expect(r.readies[1]!.cursor, 'resumed from the last message').to.equal(r.messages[1]!.cursor);
  });

  it('stops for good on a token the edge refuses before the stream is open, even with a headers() function', async () => {
    const t = await edge({ AUTH_MODE: 'jwt', AUTH_JWT_SECRET: newSecret() });
    let tokens = 0;
    const r = open({
      url: t.base,
      bindings: [fresh()],
      headers: async () => {
        tokens++;
        return { Authorization: `Bearer ${await hsToken(newSecret(), ['exchange/*'])}` };
      },
    });
    await waitUntil(() => r.stream.status === 'closed', 'the stream to close', 10_000);
    expect(r.errors).to.have.length(1);
    expect(r.errors[0]!.terminal).to.equal(true);
    expect(r.errors[0]!.message).to.match(/^Unauthorized: /);
    expect(tokens).to.equal(1);
  });

  it('starts from `since`: a cursor replays what came after it, then live messages', async () => {
    const t = await edge();
    const b = fresh();
    // Another client holds the binding, so the history of its channel is complete from here on.
    const holder = open({ url: t.base, bindings: [b] });
    await holder.waitReady();
    const cursors = await publish(t, b, [1, 2, 3]);
    const r = open({ url: t.base, bindings: [b], since: cursors[0] });
    await r.waitFor(2);
    await publish(t, b, [4]);
    await r.waitFor(3);
    expect(seqs(r)).to.deep.equal([2, 3, 4]);
  });

  it('close(), an aborted signal and a loop that breaks: the connection goes, and only the loop ends on break', async () => {
    const t = await edge();
    const b = fresh();
    const controller = new AbortController();
    const aborted = open({ url: t.base, bindings: [b], signal: controller.signal });
    const looped = open({ url: t.base, bindings: [b] });
    await aborted.waitReady();
    await looped.waitReady();
    expect(await t.metric('events_edge_connections')).to.equal(2);

    const got: number[] = [];
    const loop = (async () => {
      for await (const m of looped.stream) {
        got.push((m.payload as { seq: number }).seq);
        if (got.length === 2) break;
      }
    })();
    await publish(t, b, [1, 2, 3]);
    await loop;
    expect(got).to.deep.equal([1, 2]);
    await looped.waitFor(3);
    expect(looped.stream.status, 'break ends the loop, not the stream').to.equal('open');

    const ended = (async () => {
      const seen: number[] = [];
      for await (const m of aborted.stream) seen.push((m.payload as { seq: number }).seq);
      return seen;
    })();
    controller.abort();
    expect(await ended).to.deep.equal([]);
    expect(aborted.stream.status).to.equal('closed');
    await waitUntil(
      async () => (await t.metric('events_edge_connections')) === 1,
      'the aborted stream to go',
      5000,
    );
    looped.stream.close();
    await waitUntil(
      async () => (await t.metric('events_edge_connections')) === 0,
      'the closed stream to go',
      5000,
    );
    expect(aborted.errors).to.deep.equal([]);
  });

  it('shareAcrossTabs where there are no Web Locks (Node): each stream connects on its own', async () => {
    const t = await edge();
    const b = fresh();
    const one = open({ url: t.base, bindings: [b], shareAcrossTabs: true });
    const two = open({ url: t.base, bindings: [b], shareAcrossTabs: true });
    await one.waitReady();
    await two.waitReady();
    expect(await t.metric('events_edge_connections')).to.equal(2);
    await publish(t, b, [1, 2]);
    await one.waitFor(2);
    await two.waitFor(2);
    expect(seqs(one)).to.deep.equal([1, 2]);
    expect(seqs(two)).to.deep.equal([1, 2]);
  });

  it('refuses bad options at once, saying what is wrong', () => {
    expect(() => connect({ url: '', bindings: [fresh()] })).to.throw(
      TypeError,
      /url must be an edge's base URL/,
    );
    expect(() => connect({ url: 'http://127.0.0.1:1', bindings: [] })).to.throw(TypeError, /non-empty array/);
    expect(() =>
      connect({ url: 'http://127.0.0.1:1', bindings: [{ exchange: 'x', routingKeyPattern: '' }] }),
    ).to.throw(TypeError, /both non-empty strings/);
  });
});
