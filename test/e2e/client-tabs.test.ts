/**
 * The client library (libs/client, DESIGN.md §3d) in several tabs of one origin, in Chromium: with
 * `shareAcrossTabs` the tabs hold one network stream between them (a Web Locks leader relays every
 * event over a BroadcastChannel), and whatever happens to that stream — its tab closes or freezes,
 * it goes silent without a FIN, its edge drains — every tab receives every message exactly once,
 * in order. Without the option every tab streams on its own.
 *
 * The page comes from a small server of this file's own on another port, so it imports the edge's
 * `/client/events-proxy-client.js` as a cross-origin module and streams cross-origin (resumes send
 * `Last-Event-ID`, which the browser preflights). The edges run in-process over the memory drivers
 * (test/edge/harness.ts): `route()` publishes a message as the ingest does and keeps it in the
 * history, so what is published is known exactly, cursor included.
 *
 * The tabs open in one window of one profile (`launchChromiumWithLifecycle`: a tab there can
 * really be frozen), so all but the newest are background tabs, hidden, with throttled timers, as a
 * user's are; the leader is usually one of them.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import type { CDPSession, Page } from 'playwright-core';
import { MemoryHistory } from '@events-proxy/cluster';
import type { Binding } from '@events-proxy/protocol';
import { FaultProxy } from '../../bench/lib/fault-proxy.js';
import { startEdge, type TestEdge } from '../edge/harness.js';
import { randomId } from '../support/processes.js';
import { TcpBalancer } from '../support/tcp-balancer.js';
import { waitUntil } from '../support/wait.js';
import { launchChromiumWithLifecycle, type LifecycleChromium } from '../support/chromium.js';

/** What the page keeps on `window` for the test to read. */
interface PageState {
  /** Set once the module ran (`failure` says why it could not connect). */
  started?: boolean;
  failure?: string;
  /** Every message the stream gave this tab, in order. */
  received: { n: number; cursor: string }[];
  statuses: string[];
  /** Every stream event (and the page's own lifecycle events), with Date.now(). */
  log: { at: number; kind: string; detail?: unknown }[];
  /** Every request the library made through this tab's `fetch`. */
  fetches: { at: number; lastEventId: string | null; aborted: boolean }[];
}

/**
 * The page: connects with the options in its query and records everything. Its `fetch` option
 * wraps the browser's, so the test sees which tab streams (its request is not aborted).
 */
const PAGE = `<!doctype html><html><body><script type="module">
  const q = new URLSearchParams(location.search);
  Object.assign(window, { received: [], statuses: [], log: [], fetches: [] });
  const note = (kind, detail) => window.log.push({ at: Date.now(), kind, detail });
  for (const e of ['freeze', 'resume', 'visibilitychange'])
    document.addEventListener(e, () => note('page:' + e, document.visibilityState));
  try {
    const { connect } = await import(q.get('lib'));
    const stream = connect({
      url: q.get('url'),
      bindings: JSON.parse(q.get('bindings')),
      shareAcrossTabs: q.get('share') === '1',
      fetch: (input, init) => {
        const call = { at: Date.now(), lastEventId: init?.headers?.['Last-Event-ID'] ?? null, aborted: false };
        window.fetches.push(call);
        init?.signal?.addEventListener('abort', () => { call.aborted = true; });
        return fetch(input, init);
      },
    });
    stream.on('message', (m) => window.received.push({ n: m.payload.n, cursor: m.cursor }));
    stream.on('status', (s) => { window.statuses.push(s); note('status', s); });
    stream.on('ready', (r) => note('ready', r));
    stream.on('gap', (g) => note('gap', g));
    stream.on('error', (e) => note('error', e));
    window.stream = stream;
  } catch (err) {
    window.failure = String(err && err.stack || err);
  }
  window.started = true;
</script></body></html>`;

const WAIT_MS = 20_000;

interface Published {
  readonly n: number;
  readonly cursor: string;
}

const readState = (tab: Page): Promise<PageState> =>
  tab.evaluate(() => {
    const w = window as unknown as PageState;
    return { received: w.received, statuses: w.statuses, log: w.log, fetches: w.fetches, failure: w.failure };
  });

/** Streaming now: a request of this tab's that the library has not aborted. */
const leads = (s: PageState): boolean => s.fetches.some((f) => !f.aborted);

/** What each tab has, for a failure message: messages, repeats, the stream's events. */
function describeTabs(
  names: readonly string[],
  states: readonly PageState[],
  published: readonly Published[],
): string {
  const start = Math.min(...states.flatMap((s) => [...s.log, ...s.fetches].map((l) => l.at)));
  return states
    .map((s, i) => {
      const ns = s.received.map((r) => r.n);
      const missing = published.filter((p) => !s.received.some((r) => r.cursor === p.cursor)).map((p) => p.n);
      const repeats = ns.filter((n, j) => ns.indexOf(n) !== j);
      const log = s.log.map((l) => `    +${l.at - start}ms ${l.kind} ${JSON.stringify(l.detail ?? '')}`);
      const fetches = s.fetches.map(
        (f) => `    +${f.at - start}ms fetch Last-Event-ID=${f.lastEventId} aborted=${f.aborted}`,
      );
      return [
        `${names[i]}: received n=[${ns.join(',')}] missing=[${missing.join(',')}] repeated=[${repeats.join(',')}]`,
        `  cursors: ${s.received.map((r) => `${r.n}:${r.cursor}`).join(' ')}`,
        ...(s.failure ? [`  failure: ${s.failure}`] : []),
        ...log,
        ...fetches,
      ].join('\n');
    })
    .join('\n');
}

describe('e2e: client library tabs in Chromium (shareAcrossTabs)', function () {
  this.timeout(60_000);
  const run = randomId();
  let chrome: LifecycleChromium;
  let site: http.Server;
  let siteBase = '';
  /** Undone after each test, last first: tabs, edges, proxies. */
  const cleanups: (() => Promise<unknown>)[] = [];

  before(async () => {
    site = http.createServer((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
      res.end(PAGE);
    });
    await new Promise<void>((resolve) => site.listen(0, '127.0.0.1', resolve));
    // localhost is a secure context (Web Locks need one), and another origin than the edges' 127.0.0.1.
    siteBase = `http://localhost:${(site.address() as AddressInfo).port}`;
    chrome = await launchChromiumWithLifecycle();
  });

  afterEach(async () => {
    for (const undo of cleanups.splice(0).reverse()) await undo().catch(() => undefined);
  });

  after(async () => {
    await chrome?.close();
    site?.close();
  });

  /** An edge that lists only the page's origin in CORS_ORIGINS. */
  const edge = async (env: Record<string, string> = {}, history?: MemoryHistory): Promise<TestEdge> => {
    const t = await startEdge({ CORS_ORIGINS: siteBase, ...env }, history ? { history } : {});
    cleanups.push(() => t.stop());
    return t;
  };

  const bindingsFor = (name: string): Binding[] => [
    { exchange: `exchange/e2e/${run}/client-tabs/${name}`, routingKeyPattern: '#' },
  ];

  /** Opens `count` tabs of the page, one after the other (the first asks for the lock first). */
  async function openTabs(
    count: number,
    opts: { lib: string; url: string; bindings: Binding[]; share: boolean },
  ): Promise<Page[]> {
    const query = new URLSearchParams({
      lib: `${opts.lib}/client/events-proxy-client.js`,
      url: opts.url,
      bindings: JSON.stringify(opts.bindings),
      share: opts.share ? '1' : '0',
    });
    const tabs: Page[] = [];
    for (let i = 0; i < count; i++) {
      const tab = await chrome.context.newPage();
      cleanups.push(() => tab.close());
      tabs.push(tab);
      await tab.goto(`${siteBase}/?${query.toString()}`);
      await tab.waitForFunction(() => (window as unknown as PageState).started === true, undefined, {
        timeout: WAIT_MS,
      });
      const failure = await tab.evaluate(() => (window as unknown as PageState).failure);
      expect(failure, `tab ${i} could not connect`).to.equal(undefined);
    }
    return tabs;
  }

  /**
   * Three tabs sharing one stream from a fresh edge, three messages through it (each tab has each
   * once), and which tab leads.
   */
  async function threeSharedTabs(name: string) {
    const t = await edge();
    const bindings = bindingsFor(name);
    const tabs = await openTabs(3, { lib: t.base, url: t.base, bindings, share: true });
    await waitOpen(tabs);
    const published: Published[] = [];
    const route = (p: unknown): Promise<{ cursor: string }> => t.route(bindings, p);
    await publish(route, published, 3);
    await expectEveryMessageOnce(tabs, tabs, published);
    const leader = await leaderOf(tabs, tabs);
    return { t, tabs, published, route, leader, rest: tabs.filter((tab) => tab !== leader) };
  }

  const names = (tabs: readonly Page[], all: readonly Page[]): string[] =>
    tabs.map((t) => `tab ${all.indexOf(t)}`);

  /** Waits until every one of `tabs` has been told the stream is open. */
  async function waitOpen(tabs: readonly Page[]): Promise<void> {
    let states: PageState[] = [];
    await waitUntil(
      async () => {
        states = await Promise.all(tabs.map(readState));
        return states.every((s) => s.statuses.includes('open'));
      },
      () => `every tab open:\n${describeTabs(names(tabs, tabs), states, [])}`,
      WAIT_MS,
    );
  }

  /** Publishes `count` more messages (n numbered on from the last), one after the other, as the ingest would. */
  async function publish(
    route: (payload: unknown) => Promise<{ cursor: string }>,
    published: Published[],
    count: number,
  ): Promise<void> {
    for (let i = 0; i < count; i++) {
      const n = published.length + 1;
      const { cursor } = await route({ n });
      published.push({ n, cursor });
    }
  }

  /**
   * Waits until each of `tabs` has the last message published, then checks that each has every
   * published message exactly once, in order, with its cursor.
   */
  async function expectEveryMessageOnce(
    tabs: readonly Page[],
    all: readonly Page[],
    published: readonly Published[],
  ): Promise<PageState[]> {
    const last = published[published.length - 1]!.cursor;
    let states: PageState[] = [];
    await waitUntil(
      async () => {
        states = await Promise.all(tabs.map(readState));
        return states.every((s) => s.received.some((r) => r.cursor === last));
      },
      () => `message ${published.length} in every tab:\n${describeTabs(names(tabs, all), states, published)}`,
      WAIT_MS,
    );
    states.forEach((s, i) => {
      expect(
        s.received,
        `${names(tabs, all)[i]}:\n${describeTabs(names(tabs, all), states, published)}`,
      ).to.deep.equal(published.map((p) => ({ n: p.n, cursor: p.cursor })));
    });
    return states;
  }

  /** The one tab of `tabs` that streams now. */
  async function leaderOf(tabs: readonly Page[], all: readonly Page[]): Promise<Page> {
    const states = await Promise.all(tabs.map(readState));
    const leading = tabs.filter((_, i) => leads(states[i]!));
    expect(leading, `one tab streams:\n${describeTabs(names(tabs, all), states, [])}`).to.have.length(1);
    return leading[0]!;
  }

  const totalFetches = async (tabs: readonly Page[]): Promise<number> =>
    (await Promise.all(tabs.map(readState))).reduce((sum, s) => sum + s.fetches.length, 0);

  it('without shareAcrossTabs, each of three tabs holds its own stream', async () => {
    const t = await edge();
    const bindings = bindingsFor('own');
    const tabs = await openTabs(3, { lib: t.base, url: t.base, bindings, share: false });
    await waitOpen(tabs);
    const published: Published[] = [];
    await publish((p) => t.route(bindings, p), published, 5);
    await expectEveryMessageOnce(tabs, tabs, published);
    expect(await t.metric('events_edge_connections')).to.equal(3);
    for (const tab of tabs) expect((await readState(tab)).fetches).to.have.length(1);
  });

  it('three tabs of one origin share one stream, and each receives every message once', async () => {
    const t = await edge();
    const bindings = bindingsFor('three');
    const started = Date.now();
    const tabs = await openTabs(3, { lib: t.base, url: t.base, bindings, share: true });
    await waitOpen(tabs);
    console.log(`      three tabs open in ${Date.now() - started} ms`);
    const published: Published[] = [];
    await publish((p) => t.route(bindings, p), published, 10);
    await expectEveryMessageOnce(tabs, tabs, published);
    expect(await t.metric('events_edge_connections')).to.equal(1);
    expect(await t.metric('events_edge_connections_total'), 'streams ever opened').to.equal(1);
    expect(await totalFetches(tabs), 'requests the tabs made').to.equal(1);
    await leaderOf(tabs, tabs);
  });

  it('when the leader tab closes mid-flow, another takes over and no tab misses or repeats a message', async () => {
    const { t, tabs, published, route, leader, rest } = await threeSharedTabs('handover');

    // Messages keep coming, one every 20 ms, through the hand-over.
    let publishing = true;
    const publisher = (async () => {
      while (publishing) {
        await publish(route, published, 1);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();
    await waitUntil(() => published.length >= 8, 'a few messages in flight', WAIT_MS);
    const closedAt = Date.now();
    const publishedBefore = published.length;
    await leader.close();
    let newLeader: Page | undefined;
    await waitUntil(
      async () => {
        const states = await Promise.all(rest.map(readState));
        const i = states.findIndex((s) => leads(s) && s.statuses.length > 0);
        newLeader = i >= 0 ? rest[i] : undefined;
        return newLeader !== undefined && states[i]!.log.some((l) => l.kind === 'ready' && l.at >= closedAt);
      },
      'another tab streaming',
      WAIT_MS,
    );
    const tookOverMs = Date.now() - closedAt;
    const publishedDuring = published.length - publishedBefore;
    // A few more after the new stream is up, then stop.
    const target = published.length + 5;
    await waitUntil(() => published.length >= target, 'messages after the hand-over', WAIT_MS);
    publishing = false;
    await publisher;
    await publish(route, published, 1);
    const states = await expectEveryMessageOnce(rest, tabs, published);
    console.log(
      `      hand-over: a new leader streamed ${tookOverMs} ms after the close; ` +
        `${publishedDuring} messages published meanwhile, ${published.length} in all`,
    );
    await waitUntil(
      async () => (await t.metric('events_edge_connections')) === 1,
      'one stream at the edge',
      WAIT_MS,
    );
    expect(await t.metric('events_edge_connections_total'), 'streams ever opened').to.equal(2);
    const resumed = states[rest.indexOf(newLeader!)]!.fetches;
    expect(resumed, 'the new leader made one request').to.have.length(1);
    expect(resumed[0]!.lastEventId, 'it resumed from a cursor').to.be.a('string');
  });

  it('a frozen leader gives the stream up; thawed, it catches up as a follower', async () => {
    const { t, tabs, published, route, leader: frozen, rest } = await threeSharedTabs('freeze');
    const cdp: CDPSession = await chrome.context.newCDPSession(frozen);
    cleanups.push(() => cdp.detach());

    const frozenAt = Date.now();
    await cdp.send('Page.setWebLifecycleState', { state: 'frozen' });
    let states: PageState[] = [];
    await waitUntil(
      async () => {
        states = await Promise.all(rest.map(readState));
        return states.some(leads);
      },
      () => `another tab streaming after the freeze:\n${describeTabs(names(rest, tabs), states, published)}`,
      WAIT_MS,
    ).catch(async (err: Error) => {
      // A frozen page still answers the debugger: say what it saw.
      const seen = await readState(frozen);
      throw new Error(
        `${err.message}\n${describeTabs([`tab ${tabs.indexOf(frozen)} (frozen)`], [seen], published)}`,
      );
    });
    console.log(`      freeze: another tab streamed ${Date.now() - frozenAt} ms after the freeze`);
    await publish(route, published, 5);
    await expectEveryMessageOnce(rest, tabs, published);
    await waitUntil(
      async () => (await t.metric('events_edge_connections')) === 1,
      'one stream at the edge',
      WAIT_MS,
    );

    const thawedAt = Date.now();
    await cdp.send('Page.setWebLifecycleState', { state: 'active' });
    await waitUntil(
      async () => (await readState(frozen)).log.some((l) => l.kind === 'page:resume'),
      'the resume event in the thawed tab',
      WAIT_MS,
    );
    await publish(route, published, 2);
    await expectEveryMessageOnce(tabs, tabs, published);
    console.log(`      thaw: the thawed tab had every message ${Date.now() - thawedAt} ms after it resumed`);
    expect(await t.metric('events_edge_connections')).to.equal(1);
    expect(await leaderOf(tabs, tabs)).to.not.equal(frozen);
  });

  it('a stream that goes silent without a FIN is dropped by the watchdog and resumed, in every tab', async () => {
    const t = await edge({ PING_INTERVAL_SECONDS: '1' });
    const proxy = await FaultProxy.start({ host: '127.0.0.1', port: Number(new URL(t.base).port) });
    cleanups.push(() => proxy.close());
    const bindings = bindingsFor('watchdog');
    const tabs = await openTabs(3, { lib: t.base, url: proxy.url('http'), bindings, share: true });
    await waitOpen(tabs);
    const published: Published[] = [];
    const route = (p: unknown): Promise<{ cursor: string }> => t.route(bindings, p);
    await publish(route, published, 3);
    await expectEveryMessageOnce(tabs, tabs, published);
    const leader = await leaderOf(tabs, tabs);

    const stalledAt = Date.now();
    proxy.stallExisting();
    await publish(route, published, 3);
    await expectEveryMessageOnce(tabs, tabs, published);
    console.log(
      `      watchdog: the messages published into the silence arrived ${Date.now() - stalledAt} ms after it began`,
    );
    await publish(route, published, 1);
    const states = await expectEveryMessageOnce(tabs, tabs, published);
    for (const [i, s] of states.entries()) {
      const said = s.log
        .filter((l) => l.kind === 'error')
        .map((l) => (l.detail as { message: string }).message);
      expect(
        said.some((m) => /^nothing arrived for \d+s/.test(m)),
        `tab ${i} was told: ${said.join('; ')}`,
      ).to.equal(true);
    }
    const requests = states[tabs.indexOf(leader)]!.fetches;
    expect(requests.map((f) => f.lastEventId)).to.deep.equal([null, published[2]!.cursor]);
    const firedAt = states[tabs.indexOf(leader)]!.log.find((l) => l.kind === 'error')!.at;
    console.log(
      `      watchdog: fired ${firedAt - stalledAt} ms into the silence; resumed ${requests[1]!.at - stalledAt} ms into it`,
    );
    expect(await totalFetches(tabs), 'requests the tabs made').to.equal(2);
  });

  it('an edge that drains ends the shared stream, which resumes through another edge, in every tab', async () => {
    // Two edges behind a balancer share one history (as the cluster's is shared); a message goes
    // to both edges' buses under one cursor.
    const history = new MemoryHistory({ retentionMs: 300_000, maxMessages: 1000 });
    const env = { KEY_PREFIX: `client-tabs-${run}:`, DRAIN_SECONDS: '1' };
    const edges = { a: await edge(env, history), b: await edge(env, history) };
    const bindings = bindingsFor('drain');
    // A binding an edge's (fake) ingest puts in place for the first time begins its history there:
    // bind on both edges before anything is published, as a running cluster would already have.
    for (const t of Object.values(edges)) await bindOnce(t, bindings);
    const opened = {
      a: await edges.a.metric('events_edge_connections_total'),
      b: await edges.b.metric('events_edge_connections_total'),
    };
    const route = async (payload: unknown): Promise<{ cursor: string }> => {
      const { cursor } = await edges.a.route(bindings, payload);
      await edges.b.publish(bindings, cursor, payload);
      return { cursor };
    };
    const balancer = await TcpBalancer.start();
    cleanups.push(() => balancer.close());
    for (const [name, t] of Object.entries(edges)) balancer.add(name, Number(new URL(t.base).port));

    const tabs = await openTabs(3, { lib: edges.a.base, url: balancer.base, bindings, share: true });
    await waitOpen(tabs);
    const published: Published[] = [];
    await publish(route, published, 3);
    await expectEveryMessageOnce(tabs, tabs, published);
    const from = balancer.streamingBackend() as keyof typeof edges;
    const to = from === 'a' ? 'b' : 'a';

    // SIGTERM: out of the Service's endpoints, then the drain, with messages published during it.
    const drainedAt = Date.now();
    balancer.markDown(from);
    const drained = edges[from].edge.drain();
    await publish(route, published, 3);
    await drained;
    await publish(route, published, 3);
    await expectEveryMessageOnce(tabs, tabs, published);
    console.log(
      `      drain: every tab had every message ${Date.now() - drainedAt} ms after the drain began`,
    );
    expect(await edges[to].metric('events_edge_connections')).to.equal(1);
    expect(await edges[from].metric('events_edge_connections')).to.equal(0);
    expect(
      await edges[from].metric('events_edge_connections_total'),
      'streams the tabs opened on the drained edge',
    ).to.equal(opened[from] + 1);
    expect(
      await edges[to].metric('events_edge_connections_total'),
      'streams the tabs opened on the other edge',
    ).to.equal(opened[to] + 1);
    expect(await totalFetches(tabs), 'requests the tabs made').to.equal(2);
  });
});

/** Opens a v2 stream on `t` until `ready` (its binding is in place), then leaves. */
async function bindOnce(t: TestEdge, bindings: readonly Binding[]): Promise<void> {
  const controller = new AbortController();
  const res = await fetch(t.url(bindings, '/api/events/v2/connect/'), { signal: controller.signal });
  const reader = res.body!.getReader();
  let text = '';
  while (!text.includes('event: ready')) {
    const chunk = await reader.read();
    if (chunk.done) throw new Error(`the stream ended before ready: ${text}`);
    text += Buffer.from(chunk.value).toString();
  }
  controller.abort();
  await waitUntil(
    async () => (await t.metric('events_edge_connections')) === 0,
    'the binding stream closed',
    5_000,
  );
}
