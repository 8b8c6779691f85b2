/**
 * What an edge does when its bus subscription is lost and comes back (a silent link dropped, a
 * reset, a `client-output-buffer-limit` kill): every channel's messages published meanwhile come
 * from the history before new live ones, once each and in order, on v1 and v2; where the history
 * cannot prove it, v2 streams get `gap`. And an edge whose bus stays down past
 * BUS_LOSS_GRACE_SECONDS ends its streams (v1 with a retryable error, v2 without one).
 * In-process, over the memory drivers; the same over real Redis links is in test/faults/.
 */
import { expect } from 'chai';
import { MemoryHistory, type ChannelReplay, type History } from '@events-proxy/cluster';
import { names, type Cursor } from '@events-proxy/protocol';
import type { Binding } from '@events-proxy/protocol';
import { waitUntil } from '../support/wait.js';
import { startEdge, type StartEdgeOptions, type TestEdge } from './harness.js';
import { RawResponse } from './raw-http.js';

interface Block {
  readonly event?: string;
  readonly data?: string;
  readonly id?: string;
}

function blocks(body: string): Block[] {
  return body
    .split('\n\n')
    .filter((b) => b !== '' && !b.startsWith('retry:'))
    .map((b) => {
      const out: Record<string, string> = {};
      for (const line of b.split('\n')) {
        const colon = line.indexOf(': ');
        out[line.slice(0, colon)] = line.slice(colon + 2);
      }
      return out as Block;
    });
}

/** The `n` of every message payload, in the order received. */
const numbers = (body: string): number[] =>
  blocks(body)
    .filter((b) => b.event === 'message')
    .map((b) => (JSON.parse(b.data!) as { payload: { n: number } }).payload.n);

/** A memory history whose reads of some channels fail (their shard still failing over). */
function withFailingReads(inner: History, failing: Set<string>): History {
  return new Proxy(inner, {
    get(target, prop, receiver) {
      if (prop === 'read') {
        return async (channels: readonly string[], after: Cursor): Promise<ChannelReplay[]> => {
          if (channels.some((c) => failing.has(c))) throw new Error('CLUSTERDOWN (test)');
          return target.read(channels, after);
        };
      }
      const value = Reflect.get(target, prop, receiver) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

describe('edge: catching up after the bus lost its subscriptions', () => {
  const edges: TestEdge[] = [];
  const raws: RawResponse[] = [];
  let k = 0;
  const fresh = (): Binding => ({ exchange: `exchange/test/catch-up-${++k}`, routingKeyPattern: '#' });

  const edge = async (env: Record<string, string> = {}, opts: StartEdgeOptions = {}) => {
    const t = await startEdge(env, opts);
    edges.push(t);
    return t;
  };
  const open = async (url: string) => {
    const r = await RawResponse.open(url);
    raws.push(r);
    await r.waitFor((x) => x.body.includes('event: ready\n'), 'ready');
    return r;
  };
  const route = async (t: TestEdge, bindings: readonly Binding[], from: number, to: number) => {
    for (let n = from; n <= to; n++) await t.route(bindings, { n });
  };

  afterEach(async () => {
    for (const r of raws.splice(0)) r.close();
    for (const t of edges.splice(0)) await t.stop();
  });

  it('delivers what was published while the subscription was lost, from the history, once and in order (v1 and v2)', async () => {
    const t = await edge();
    const a = fresh();
    const b = fresh();
    const v1 = await open(t.url([a, b]));
    const v2 = await open(t.url([a, b], '/api/events/v2/connect/'));
    const v2single = await open(t.url([b], '/api/events/v2/connect/'));
    const v1single = await open(t.url([b]));
    await route(t, [a], 1, 2);
    await route(t, [a, b], 3, 3);
    t.bus.loseLink();
    await route(t, [a], 4, 5);
    await route(t, [b], 6, 6);
    await route(t, [a, b], 7, 7);
    t.bus.restoreLink();
    await route(t, [b], 8, 8);
    await route(t, [a, b], 9, 10);
    const all = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
    for (const r of [v1, v2]) await r.waitFor((x) => numbers(x.body).length >= all.length, 'every message');
    await v2single.waitFor((x) => numbers(x.body).length >= 6, 'every message of b');

    expect(numbers(v1.body)).to.deep.equal(all);
    expect(numbers(v2.body)).to.deep.equal(all);
    await v1single.waitFor((x) => numbers(x.body).length >= 6, 'every message of b');
    expect(numbers(v2single.body)).to.deep.equal([3, 6, 7, 8, 9, 10]);
    expect(numbers(v1single.body)).to.deep.equal([3, 6, 7, 8, 9, 10]);
    expect(blocks(v2.body).some((e) => e.event === 'gap')).to.equal(false);
    // v2 cursors stay in order and each message carries its own
    const ids = blocks(v2.body)
      .filter((e) => e.event === 'message')
      .map((e) => e.id!);
    expect([...ids].sort()).to.deep.equal(ids);
    expect(await t.metric('events_edge_bus_catch_ups_total', { result: 'lossless' })).to.equal(2);
    expect(await t.metric('events_edge_bus_catch_ups_total', { result: 'gap' })).to.equal(0);
    // What was missed (a: 4, 5, 7; b: 6, 7), and what came after the restore if the history had it
    // by the time it was read (its live copy is then skipped).
    expect(await t.metric('events_edge_bus_catch_up_messages_total')).to.be.within(3 + 2, 3 + 2 + 5);
  });

  it('holds messages of the new connection that come before its subscriptions are known to be in place', async () => {
    const t = await edge();
    const a = fresh();
    const v1 = await open(t.url([a]));
    const v2 = await open(t.url([a], '/api/events/v2/connect/'));
    await route(t, [a], 1, 1);
    t.bus.loseLink();
    await route(t, [a], 2, 3);
    t.bus.restoreLink({ hold: true });
    // Live on the new connection, before the PING that proves the SUBSCRIBE came back.
    await route(t, [a], 4, 5);
    t.bus.subscriptionsInPlace();
    for (const r of [v1, v2]) await r.waitFor((x) => numbers(x.body).length === 5, 'every message');
    expect(numbers(v1.body)).to.deep.equal([1, 2, 3, 4, 5]);
    expect(numbers(v2.body)).to.deep.equal([1, 2, 3, 4, 5]);
  });

  it('delivers once a message the catch-up found in the history while its live copy was still on its way', async () => {
    const t = await edge();
    const a = fresh();
    const v1 = await open(t.url([a]));
    const v2 = await open(t.url([a], '/api/events/v2/connect/'));
    await route(t, [a], 1, 1);
    t.bus.loseLink();
    await route(t, [a], 2, 2);
    // Retained, then (before its publish) the link comes back and the catch-up reads it.
    await t.route([a], { n: 3 }, 'a.b', async () => {
      t.bus.restoreLink();
      await waitUntil(
        async () => (await t.metric('events_edge_bus_catch_ups_total', { result: 'lossless' })) === 1,
        'the catch-up',
        5000,
      );
    });
    await route(t, [a], 4, 4);
    for (const r of [v1, v2]) await r.waitFor((x) => numbers(x.body).length >= 4, 'every message');
    expect(numbers(v1.body)).to.deep.equal([1, 2, 3, 4]);
    expect(numbers(v2.body)).to.deep.equal([1, 2, 3, 4]);
  });

  it('tells v2 streams `gap` when the history is off, and goes on live', async () => {
    const history = new MemoryHistory({ retentionMs: 0, maxMessages: 1000 });
    const t = await edge({}, { history });
    const a = fresh();
    const v1 = await open(t.url([a]));
    const v2 = await open(t.url([a], '/api/events/v2/connect/'));
    await route(t, [a], 1, 2);
    await v2.waitFor((x) => numbers(x.body).length === 2, 'two messages');
    const before = blocks(v2.body).at(-1)!.id!;
    t.bus.loseLink();
    await route(t, [a], 3, 4);
    t.bus.restoreLink();

    await waitUntil(
      async () => (await t.metric('events_edge_bus_catch_ups_total', { result: 'gap' })) === 1,
      'the catch-up',
      5000,
    );
    await route(t, [a], 5, 5);
    await v2.waitFor((x) => numbers(x.body).length === 3, 'the live message');
    await v1.waitFor((x) => numbers(x.body).length === 3, 'the live message');
    expect(numbers(v1.body)).to.deep.equal([1, 2, 5]);
    expect(numbers(v2.body)).to.deep.equal([1, 2, 5]);
    const events = blocks(v2.body);
    const gapAt = events.findIndex((e) => e.event === 'gap');
    expect(events.map((e) => e.event)).to.deep.equal(['ready', 'message', 'message', 'gap', 'message']);
    const gap = JSON.parse(events[gapAt]!.data!) as { from: string; to: string };
    expect(gap.from).to.equal(before);
    expect(gap.to > before).to.equal(true);
    expect(events[gapAt]!.id).to.equal(gap.to);
    expect(await t.metric('events_edge_gaps_total')).to.equal(1);
  });

  it('tells v2 streams `gap` when the history was trimmed past what was missed, then replays what it kept', async () => {
    const history = new MemoryHistory({ retentionMs: 300_000, maxMessages: 2 });
    const t = await edge({}, { history });
    const a = fresh();
    const v1 = await open(t.url([a]));
    const v2 = await open(t.url([a], '/api/events/v2/connect/'));
    await route(t, [a], 1, 1);
    t.bus.loseLink();
    await route(t, [a], 2, 5);
    t.bus.restoreLink();
    await v2.waitFor((x) => numbers(x.body).length === 3, 'what the history kept');
    await route(t, [a], 6, 6);
    await v2.waitFor((x) => numbers(x.body).length === 4, 'the live message');
    await v1.waitFor((x) => numbers(x.body).length === 4, 'the live message');
    expect(numbers(v2.body)).to.deep.equal([1, 4, 5, 6]);
    expect(numbers(v1.body)).to.deep.equal([1, 4, 5, 6]);
    expect(blocks(v2.body).map((e) => e.event)).to.deep.equal([
      'ready',
      'message',
      'gap',
      'message',
      'message',
      'message',
    ]);
  });

  it('catches up the channels it can read at once, while a channel whose history read fails holds on its own', async () => {
    const failing = new Set<string>();
    const history = withFailingReads(new MemoryHistory({ retentionMs: 300_000, maxMessages: 1000 }), failing);
    const t = await edge({}, { history });
    const slow = fresh();
    const ok = fresh();
    const v1ok = await open(t.url([ok]));
    const v2slow = await open(t.url([slow], '/api/events/v2/connect/'));
    const v1slow = await open(t.url([slow]));
    await route(t, [slow, ok], 1, 1);
    t.bus.loseLink();
    await route(t, [slow, ok], 2, 3);
    failing.add(names(t.config.keyPrefix).channel(slow));
    t.bus.restoreLink();
    await route(t, [slow, ok], 4, 4);
    // The readable channel caught up and goes on live, while the other still holds.
    await v1ok.waitFor((x) => numbers(x.body).length === 4, 'the readable channel caught up');
    await route(t, [ok], 5, 5);
    await v1ok.waitFor((x) => numbers(x.body).length === 5, 'the readable channel live');
    expect(numbers(v1slow.body)).to.deep.equal([1]);
    failing.clear();
    await v2slow.waitFor((x) => numbers(x.body).length === 4, 'the held channel after its read works', 5000);
    await v1slow.waitFor((x) => numbers(x.body).length === 4, 'the held channel after its read works', 5000);
    expect(numbers(v1ok.body)).to.deep.equal([1, 2, 3, 4, 5]);
    expect(numbers(v1slow.body)).to.deep.equal([1, 2, 3, 4]);
    expect(numbers(v2slow.body)).to.deep.equal([1, 2, 3, 4]);
    expect(blocks(v2slow.body).some((e) => e.event === 'gap')).to.equal(false);
  });

  it('ends its streams when the bus stays down past BUS_LOSS_GRACE_SECONDS: v1 with a retryable error, v2 without one', async () => {
    const t = await edge({ BUS_LOSS_GRACE_SECONDS: '0.5', DRAIN_SECONDS: '0' });
    const a = fresh();
    const v1 = await open(t.url([a]));
    const v2 = await open(t.url([a], '/api/events/v2/connect/'));
    await route(t, [a], 1, 1);
    await v2.waitFor((x) => numbers(x.body).length === 1, 'the message');
    const lostAt = Date.now();
    t.bus.loseLink();
    await v1.waitEnd(5000);
    await v2.waitEnd(5000);
    const tookMs = Date.now() - lostAt;
    expect(tookMs).to.be.at.least(500);
    expect(blocks(v1.body).at(-1)).to.deep.include({
      event: 'error',
      data: JSON.stringify('Server lost its message bus; please reconnect'),
    });
    const last = blocks(v2.body).at(-1)!;
    expect(last.event).to.equal('message');
    expect(await t.metric('events_edge_closes_total', { reason: 'bus_lost' })).to.equal(2);
    console.log(`      fault figures: streams ended ${tookMs} ms after the bus went down (grace 500 ms)`);
  });
});
