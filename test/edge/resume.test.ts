/**
 * The v2 routes (DESIGN.md §3b) on one edge, byte for byte: cursors in every event, the `retry:`
 * field, resuming with Last-Event-ID or since (cursor and time), the seam where replay meets live,
 * gaps, malformed cursors, terminal and retryable errors, and a drain that ends v2 streams without
 * an error. Cluster-wide resumes (another edge, a killed edge) are in test/e2e/resume.test.ts.
 */
import { expect } from 'chai';
import {
  MemoryHistory,
  type ChannelReplay,
  type History,
  type HistoryRetention,
  type RecordedMessage,
} from '@events-proxy/cluster';
import { encodeEnvelope, errorFrame, names, type Binding, type Cursor } from '@events-proxy/protocol';
import { waitUntil } from '../support/wait.js';
import { Gate, startEdge, type StartEdgeOptions, type TestEdge } from './harness.js';
import { RawResponse } from './raw-http.js';

const CURSOR = /^\d{13}-\d{6}$/;

/** A parsed SSE block: its fields as sent (the raw text is checked separately where bytes matter). */
interface Block {
  readonly event?: string;
  readonly data?: string;
  readonly id?: string;
  readonly retry?: string;
}

function blocks(body: string): Block[] {
  return body
    .split('\n\n')
    .filter((b) => b !== '')
    .map((b) => {
      const out: Record<string, string> = {};
      for (const line of b.split('\n')) {
        const colon = line.indexOf(': ');
        out[line.slice(0, colon)] = line.slice(colon + 2);
      }
      return out as Block;
    });
}

const messagesOf = (body: string) => blocks(body).filter((b) => b.event === 'message');

/**
 * A history whose reads can be held back, to publish while a replay is being prepared. With
 * `channelByChannel`, a read reads each channel on its own, as the Redis history does (one MULTI
 * per channel, and records one script per channel), and can be held between the first and the rest.
 */
class GatedHistory implements History {
  readonly readGate = new Gate();
  readonly betweenChannels = new Gate();
  reads = 0;
  channelsRead = 0;
  constructor(
    private readonly inner: History,
    private readonly opts: { channelByChannel?: boolean } = {},
  ) {}
  get retention(): HistoryRetention {
    return this.inner.retention;
  }
  assign(count: number, nowMs: number): Promise<Cursor[]> {
    return this.inner.assign(count, nowMs);
  }
  record(messages: readonly RecordedMessage[]): Promise<void> {
    return this.inner.record(messages);
  }
  newest(): Promise<Cursor> {
    return this.inner.newest();
  }
  begin(channel: string): Promise<void> {
    return this.inner.begin(channel);
  }
  forget(channel: string): Promise<void> {
    return this.inner.forget(channel);
  }
  async read(channels: readonly string[], after: Cursor): Promise<ChannelReplay[]> {
    this.reads++;
    await this.readGate.pass();
    if (this.opts.channelByChannel !== true) return this.inner.read(channels, after);
    const out: ChannelReplay[] = [];
    for (const [i, channel] of channels.entries()) {
      if (i > 0) await this.betweenChannels.pass();
      out.push(...(await this.inner.read([channel], after)));
      this.channelsRead++;
    }
    return out;
  }
  isConnected(): boolean {
    return true;
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

describe('edge: v2 resumable streams', () => {
  const edges: TestEdge[] = [];
  const raws: RawResponse[] = [];
  let n = 0;
  const fresh = (pattern = '#'): Binding => ({
    exchange: `exchange/test/resume-${++n}`,
    routingKeyPattern: pattern,
  });

  const edge = async (env: Record<string, string> = {}, opts: StartEdgeOptions = {}) => {
    const t = await startEdge(env, opts);
    edges.push(t);
    return t;
  };
  const v2 = (t: TestEdge, bindings: readonly Binding[], query = '') =>
    t.url(bindings, '/api/events/v2/connect/') + query;
  const open = async (url: string, headers: Record<string, string> = {}) => {
    const r = await RawResponse.open(url, headers);
    raws.push(r);
    return r;
  };
  const ready = (r: RawResponse) => r.waitFor((x) => x.body.includes('event: ready\n'), 'ready');

  afterEach(async () => {
    for (const r of raws.splice(0)) r.close();
    for (const t of edges.splice(0)) await t.stop();
  });

  it('starts with a jittered retry field, then ready (with the ping interval) and messages carrying cursors, byte for byte', async () => {
    const t = await edge({ SSE_RETRY_MS: '1500', PING_INTERVAL_SECONDS: '7' });
    const b = fresh();
    const r = await open(v2(t, [b]));
    await ready(r);
    expect(r.status).to.equal(200);
    expect(r.headers['content-type']).to.equal('text/event-stream');
    const retry = /^retry: (\d+)\n\n/.exec(r.body);
    expect(retry, r.body).to.not.equal(null);
    expect(Number(retry![1])).to.be.within(1500, 3000);
    const start = blocks(r.body)[1]!;
    expect(start.event).to.equal('ready');
    expect(start.id).to.match(CURSOR);
    const m1 = await t.route([b], { n: 1 });
    const m2 = await t.route([b], { n: 2 });
    await r.waitFor((x) => messagesOf(x.body).length === 2, 'two messages');
    const v1Frame = m1.frame.toString();
    expect(r.body).to.equal(
      retry![0] +
        `event: ready\ndata: {"pingIntervalSeconds":7}\nid: ${start.id}\n\n` +
        v1Frame.replace(/id: -\n\n$/, `id: ${m1.cursor}\n\n`) +
        m2.frame.toString().replace(/id: -\n\n$/, `id: ${m2.cursor}\n\n`),
    );
    expect(start.id! < m1.cursor && m1.cursor < m2.cursor).to.equal(true);
  });

  it('starts a fresh stream after its new binding began its history: resuming from ready is no gap', async () => {
    const t = await edge();
    const b = fresh();
    t.ingest.gate.shut(); // the binding is being put in place...
    const r = await open(v2(t, [b]));
    await waitUntil(() => t.ingest.requests.length === 1, 'the bind request', 5000);
    await t.route([fresh()], { elsewhere: true }); // ...while other traffic takes cursors
    t.ingest.gate.open();
    await ready(r);
    const start = blocks(r.body)[1]!.id!;
    r.close();
    const again = await open(v2(t, [b]), { 'Last-Event-ID': start });
    await ready(again);
    const m = await t.route([b], { n: 1 });
    await again.waitFor((x) => messagesOf(x.body).length === 1, 'the live message');
    expect(blocks(again.body).map((e) => e.event ?? 'retry')).to.deep.equal(['retry', 'ready', 'message']);
    expect(messagesOf(again.body)[0]!.id).to.equal(m.cursor);
  });

  it('pings carry the cursor of the last message sent', async () => {
    const t = await edge({ PING_INTERVAL_SECONDS: '1' });
    const b = fresh();
    const r = await open(v2(t, [b]));
    await ready(r);
    const m = await t.route([b], { n: 1 });
    await r.waitFor((x) => blocks(x.body).some((e) => e.event === 'ping'), 'a ping', 4000);
    const ping = blocks(r.body).find((e) => e.event === 'ping')!;
    expect(ping.id).to.equal(m.cursor);
    expect(JSON.parse(ping.data!)).to.have.property('time');
  });

  it('resumes with Last-Event-ID: replays what was missed, in order, once, then goes live', async () => {
    const t = await edge();
    const a = fresh();
    const b = fresh();
    const first = await open(v2(t, [a, b]));
    await ready(first);
    const seen = await t.route([a], { n: 0 });
    await first.waitFor((x) => messagesOf(x.body).length === 1, 'the first message');
    first.close();
    await waitUntil(() => t.edge.stats().connections === 0, 'the first stream gone', 5000);
    const missed = [
      await t.route([a], { n: 1 }),
      await t.route([a, b], { n: 2 }),
      await t.route([b], { n: 3 }),
    ];
    const again = await open(v2(t, [a, b]), { 'Last-Event-ID': seen.cursor });
    await again.waitFor((x) => messagesOf(x.body).length === 3, 'the replay');
    const live = await t.route([a, b], { n: 4 });
    await again.waitFor((x) => messagesOf(x.body).length === 4, 'the live message');
    const got = messagesOf(again.body);
    expect(got.map((m) => m.id)).to.deep.equal([...missed, live].map((m) => m.cursor));
    expect(got.map((m) => (JSON.parse(m.data!) as { payload: { n: number } }).payload.n)).to.deep.equal([
      1, 2, 3, 4,
    ]);
    const start = blocks(again.body)[1]!;
    expect(start).to.include({ event: 'ready', id: seen.cursor });
    expect(blocks(again.body).some((e) => e.event === 'gap')).to.equal(false);
    expect(await t.metric('events_edge_resumes_total', { result: 'lossless' })).to.equal(1);
    expect(await t.metric('events_edge_replayed_messages_total')).to.equal(3);
  });

  it('has no gap and no duplicate where replay meets live: messages published while the replay is read', async () => {
    const history = new GatedHistory(new MemoryHistory({ retentionMs: 300_000, maxMessages: 1000 }));
    const t = await edge({}, { history });
    const a = fresh();
    const b = fresh();
    const first = await open(v2(t, [a, b]));
    await ready(first);
    const from = blocks(first.body)[1]!.id!;
    first.close();
    const before = [await t.route([a], { n: 1 }), await t.route([b], { n: 2 })];
    history.readGate.shut();
    const again = await open(v2(t, [a, b], `&since=${from}`));
    await waitUntil(() => history.reads === 1, 'the replay being read', 5000);
    // Retained and published while the replay is held: the stream receives them live (and holds
    // them), and the history read returns them too.
    const during = [await t.route([a, b], { n: 3 }), await t.route([b], { n: 4 })];
    history.readGate.open();
    await again.waitFor((x) => messagesOf(x.body).length >= 4, 'the replay and the held messages');
    const after = await t.route([a], { n: 5 });
    await again.waitFor((x) => messagesOf(x.body).length >= 5, 'the live message');
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(messagesOf(again.body).map((m) => m.id)).to.deep.equal(
      [...before, ...during, after].map((m) => m.cursor),
    );
  });

  it('delivers once a message the replay found under one channel but not yet under the other (histories read channel by channel)', async () => {
    const history = new GatedHistory(new MemoryHistory({ retentionMs: 300_000, maxMessages: 1000 }), {
      channelByChannel: true,
    });
    const t = await edge({}, { history });
    const a = fresh();
    const b = fresh();
    const first = await open(v2(t, [a, b]));
    await ready(first);
    const from = blocks(first.body)[1]!.id!;
    first.close();
    const before = await t.route([a], { n: 1 });
    history.betweenChannels.shut();
    const again = await open(v2(t, [a, b]), { 'Last-Event-ID': from });
    await waitUntil(() => history.channelsRead === 1, "a's history read, b's not yet", 5000);
    // Retained under both channels between the two reads: a's read missed it, b's finds it, and
    // the stream receives it live on both channels (it holds them until it starts).
    const both = await t.route([a, b], { n: 2 });
    history.betweenChannels.open();
    await again.waitFor((x) => messagesOf(x.body).length >= 2, 'the replay');
    // Published after everything else on both channels: once it is in, nothing else is on its way.
    const after = await t.route([a, b], { n: 3 });
    await again.waitFor((x) => messagesOf(x.body).some((m) => m.id === after.cursor), 'the live message');
    expect(messagesOf(again.body).map((m) => m.id)).to.deep.equal([before, both, after].map((m) => m.cursor));
  });

  it("delivers two channels' messages that arrive out of cursor order (two Redis Cluster shards), each once", async () => {
    const t = await edge();
    const a = fresh();
    const b = fresh();
    const r = await open(v2(t, [a, b]));
    await ready(r);
    const [c1, c2] = await t.history.assign(2, Date.now());
    const channelOf = names(t.config.keyPrefix).channel;
    const envelope = (cursor: string, n: number) =>
      encodeEnvelope(
        cursor,
        Date.now(),
        Buffer.from(`event: message\ndata: {"payload":{"n":${n}}}\nid: -\n\n`),
      );
    // c2 arrives first (on b's shard), then c1 (on a's), then c2 again through a (it matched both).
    await t.bus.publish([{ channel: channelOf(b), envelope: envelope(c2!, 2) }]);
    await t.bus.publish([{ channel: channelOf(a), envelope: envelope(c1!, 1) }]);
    await t.bus.publish([{ channel: channelOf(a), envelope: envelope(c2!, 2) }]);
    const later = await t.route([a], { n: 3 });
    await r.waitFor((x) => messagesOf(x.body).length >= 3, 'three messages');
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(messagesOf(r.body).map((m) => m.id)).to.deep.equal([c2, c1, later.cursor]);
  });

  it('replays since a cursor, and since a time; Last-Event-ID wins over since', async () => {
    const t = await edge();
    const b = fresh();
    const r = await open(v2(t, [b]));
    await ready(r);
    const m1 = await t.route([b], { n: 1 });
    await new Promise((resolve) => setTimeout(resolve, 20));
    const between = new Date().toISOString();
    await new Promise((resolve) => setTimeout(resolve, 20));
    const m2 = await t.route([b], { n: 2 });
    const m3 = await t.route([b], { n: 3 });
    r.close();

    const byCursor = await open(v2(t, [b], `&since=${m1.cursor}`));
    await byCursor.waitFor((x) => messagesOf(x.body).length === 2, 'two replayed');
    expect(messagesOf(byCursor.body).map((m) => m.id)).to.deep.equal([m2.cursor, m3.cursor]);

    const byTime = await open(v2(t, [b], `&since=${encodeURIComponent(between)}`));
    await byTime.waitFor((x) => messagesOf(x.body).length === 2, 'two replayed');
    expect(messagesOf(byTime.body).map((m) => m.id)).to.deep.equal([m2.cursor, m3.cursor]);

    const both = await open(v2(t, [b], `&since=${m1.cursor}`), { 'Last-Event-ID': m2.cursor });
    await both.waitFor((x) => messagesOf(x.body).length === 1, 'one replayed');
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(messagesOf(both.body).map((m) => m.id)).to.deep.equal([m3.cursor]);
  });

  it('sends gap when the history was trimmed past the cursor, then what is retained', async () => {
    const history = new MemoryHistory({ retentionMs: 300_000, maxMessages: 2 });
    const t = await edge({}, { history });
    const b = fresh();
    const r = await open(v2(t, [b]));
    await ready(r);
    const from = blocks(r.body)[1]!.id!;
    r.close();
    const sent = [];
    for (let i = 1; i <= 4; i++) sent.push(await t.route([b], { n: i }));
    const again = await open(v2(t, [b]), { 'Last-Event-ID': from });
    await again.waitFor((x) => messagesOf(x.body).length === 2, 'the retained two');
    const events = blocks(again.body).slice(1);
    expect(events[0]).to.include({ event: 'ready', id: sent[1]!.cursor });
    expect(events[1]).to.deep.equal({
      event: 'gap',
      data: JSON.stringify({ from, to: sent[1]!.cursor }),
      id: sent[1]!.cursor,
    });
    expect(events.slice(2).map((e) => e.id)).to.deep.equal([sent[2]!.cursor, sent[3]!.cursor]);
    expect(await t.metric('events_edge_gaps_total')).to.equal(1);
    expect(await t.metric('events_edge_resumes_total', { result: 'gap' })).to.equal(1);
  });

  it('sends gap when a binding was off the broker while the client was away', async () => {
    const t = await edge();
    const b = fresh();
    const r = await open(v2(t, [b]));
    await ready(r);
    const m1 = await t.route([b], { n: 1 });
    await r.waitFor((x) => messagesOf(x.body).length === 1, 'one message');
    r.close();
    await waitUntil(() => t.edge.stats().heldBindings === 0, 'the binding released', 5000);
    // Its lease ran out and the ingest removed it (what it does to the history), and messages went
    // on elsewhere; what the exchange carried meanwhile never reached the history. Then it is
    // bound anew (the next client asking for it).
    await t.history.forget(names(t.config.keyPrefix).channel(b));
    await t.route([fresh()], { elsewhere: true });
    await t.history.begin(names(t.config.keyPrefix).channel(b));
    const rebound = await t.history.newest();
    const again = await open(v2(t, [b]), { 'Last-Event-ID': m1.cursor });
    await again.waitFor((x) => blocks(x.body).some((e) => e.event === 'gap'), 'the gap');
    const gap = blocks(again.body).find((e) => e.event === 'gap')!;
    expect(JSON.parse(gap.data!)).to.deep.equal({ from: m1.cursor, to: rebound });
  });

  it('answers every resume with gap when HISTORY_SECONDS is 0', async () => {
    const history = new MemoryHistory({ retentionMs: 0, maxMessages: 1000 });
    const t = await edge({}, { history });
    const b = fresh();
    const r = await open(v2(t, [b]));
    await ready(r);
    const m1 = await t.route([b], { n: 1 });
    await r.waitFor((x) => messagesOf(x.body).length === 1, 'one message');
    r.close();
    const again = await open(v2(t, [b]), { 'Last-Event-ID': m1.cursor });
    await again.waitFor((x) => blocks(x.body).some((e) => e.event === 'gap'), 'the gap');
    const m2 = await t.route([b], { n: 2 });
    await again.waitFor((x) => messagesOf(x.body).length === 1, 'the live message');
    expect(messagesOf(again.body)[0]!.id).to.equal(m2.cursor);
  });

  it('refuses a malformed cursor with a terminal error (id: -); Last-Event-ID: - gets 204', async () => {
    const t = await edge();
    const b = fresh();
    for (const [headers, query] of [
      [{ 'Last-Event-ID': 'not-a-cursor' }, ''],
      [{}, '&since=yesterday'],
      [{}, '&since=1700000000000-1'],
    ] as const) {
      const r = await open(v2(t, [b], query), headers);
      await r.waitEnd();
      expect(r.status).to.equal(200);
      const [retry, error] = blocks(r.body);
      expect(retry!.retry).to.match(/^\d+$/);
      expect(error!.event).to.equal('error');
      expect(error!.id).to.equal('-');
      expect(r.body.endsWith(errorFrame(JSON.parse(error!.data!) as string))).to.equal(true);
    }
    expect(await t.metric('events_edge_connections_rejected_total', { reason: 'cursor' })).to.equal(3);
    const stopped = await open(v2(t, [b]), { 'Last-Event-ID': '-' });
    await stopped.waitEnd();
    expect(stopped.status).to.equal(204);
    expect(t.ingest.requests).to.have.length(0); // nothing was bound for any of them
  });

  it('refuses bad bindings and unknown query keys as v1 does', async () => {
    const t = await edge();
    const bad = await open(`${t.base}/v2/connect?bindings=nope`);
    await bad.waitEnd();
    expect(blocks(bad.body)[1]).to.include({ event: 'error', id: '-' });
    const unknown = await open(`${v2(t, [fresh()])}&access_token=x`);
    await unknown.waitEnd();
    expect(unknown.status).to.equal(400);
    expect(JSON.parse(unknown.body)).to.deep.equal({
      code: 'InvalidRequestArguments',
      message: 'Unknown query parameter `access_token`: only `bindings` and `since` are accepted',
    });
  });

  it('ends an unknown exchange for good, but a bind timeout with the cursor so the browser retries', async () => {
    const t = await edge({ BIND_TIMEOUT_SECONDS: '0.3' });
    const missing = await open(v2(t, [{ exchange: 'exchange/missing-x', routingKeyPattern: '#' }]));
    await missing.waitEnd();
    expect(blocks(missing.body)[1]).to.include({ event: 'error', id: '-' });

    t.ingest.gate.shut();
    const from = await t.history.newest();
    const slow = await open(v2(t, [fresh()]), { 'Last-Event-ID': from });
    await slow.waitEnd(3000);
    const error = blocks(slow.body)[1]!;
    expect(error.event).to.equal('error');
    expect(error.id).to.equal(from);
  });

  it('drains v2 streams without an error event and closes their sockets; v1 streams get error', async () => {
    const t = await edge({ DRAIN_SECONDS: '0' });
    const b = fresh();
    const s2 = await open(v2(t, [b]));
    const s1 = await open(t.url([b]));
    await ready(s2);
    await s1.waitFor((x) => x.body.includes('event: ready'), 'v1 ready');
    const drained = t.edge.drain();
    await s2.waitEnd();
    await s1.waitEnd();
    expect(blocks(s2.body).map((e) => e.event ?? 'retry')).to.deep.equal(['retry', 'ready']);
    expect(s1.body).to.include('event: error');
    await drained;
    expect(await t.metric('events_edge_closes_total', { reason: 'shutdown' })).to.equal(2);
  });

  it('answers a v2 connect to a draining edge with 200, a retry field and the end', async () => {
    const t = await edge({ DRAIN_SECONDS: '2' });
    const b = fresh();
    // Two streams to close, one now and one a second later: the drain lasts that long.
    for (let i = 0; i < 2; i++) {
      const holder = await open(t.url([b]));
      await holder.waitFor((x) => x.body.includes('event: ready'), 'v1 ready');
    }
    const drained = t.edge.drain();
    const late = await open(v2(t, [b]));
    await late.waitEnd();
    expect(late.status).to.equal(200);
    expect(late.body).to.match(/^retry: \d+\n\n$/);
    const v1Late = await open(t.url([b]));
    await v1Late.waitEnd();
    expect(v1Late.status).to.equal(503);
    await drained;
  });
});
