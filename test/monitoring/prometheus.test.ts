/**
 * The monitoring that ships with the chart, proven against a real Prometheus: a private
 * Prometheus (1 s scrape and rule evaluation) scrapes one ingest and three edges, given `namespace`,
 * `pod` and `job` labels as the chart's ServiceMonitor would; the test drives real traffic, then
 * evaluates through Prometheus's HTTP API every query of the Grafana dashboard (variables
 * substituted as Grafana does), the chart's PrometheusRule alerts, and the prometheus-adapter
 * rule behind the edge HPA. v2 clients resume on one edge (one lossless, one gap, one malformed
 * cursor), so the Resumes (v2) row shows real values too; the third edge runs with AUTH_MODE=jwt
 * and MAX_STREAMS_PER_IP=1 and refuses a missing, a wrongly signed and an expired token, answers a
 * second stream 429 and ends a stream at its token's exp, for the Access control row. The second
 * edge ends a v2 stream at MAX_STREAM_SECONDS, and the three edges see each other in Redis, for
 * the elastic tier's panels.
 */
import http from 'node:http';
import net from 'node:net';
import { expect } from 'chai';
import amqp from 'amqplib';
import { AMQP_URL, REDIS_URL, needRabbit, needRedis } from '../support/services.js';
import { randomId, startService, stopAll, type ServiceProcess } from '../support/processes.js';
import { SseClient, connectUrl } from '../support/sse-client.js';
import { RawResponse, fetchAll } from '../edge/raw-http.js';
import { TestBroker } from '../support/broker.js';
import { metricValue } from '../support/prometheus.js';
import { waitUntil } from '../support/wait.js';
import { hsToken, newSecret } from '../support/tokens.js';
import { NAMESPACE, get, render, values, type Manifest } from '../deploy/helm.js';
import {
  dashboardTargets,
  interpolate,
  intervals,
  parseLabelValues,
  templateVariables,
  totalsOf,
  variableText,
  type DashboardTarget,
} from './grafana.js';
import { Prometheus, byLabel, findTool, num, type Labels, type VectorSample } from './prometheus.js';

const SCRAPE_SECONDS = 1;
/** Payload of the messages that fill the stalled client's buffers. */
const BULK_BYTES = 128 * 1024;

/** The fields of each SSE block of a raw v2 response (`retry:` alone, `event`/`data`/`id`). */
function sseBlocks(body: string): Record<string, string>[] {
  return body
    .split('\n\n')
    .filter((b) => b !== '')
    .map((b) =>
      Object.fromEntries(
        b.split('\n').map((line) => [line.slice(0, line.indexOf(': ')), line.slice(line.indexOf(': ') + 2)]),
      ),
    );
}
const eventsOf = (r: RawResponse, type: string) => sseBlocks(r.body).filter((b) => b.event === type);

describe('monitoring: dashboard, alerts and autoscaling query against a real Prometheus', function () {
  this.timeout(60_000);
  const run = randomId();
  const queue = `queue/guest/prom-${run}`;
  const exchange = `exchange/e2e/${run}/prom`;
  const missingExchange = `exchange/e2e/${run}/missing`;

  let prom: Prometheus;
  let broker: TestBroker;
  let ingest: ServiceProcess;
  let edgeA: ServiceProcess;
  let edgeB: ServiceProcess;
  let edgeC: ServiceProcess;
  const secret = newSecret();
  let stalled: net.Socket | undefined;
  const clients: SseClient[] = [];

  // What the chart renders: the PrometheusRule, and the Service names that become `job`.
  let chart: Manifest[];
  let jobs: { edge: string; ingest: string };
  const pods = {
    ingest: 'ep-events-proxy-ingest-0',
    a: 'ep-events-proxy-edge-a',
    b: 'ep-events-proxy-edge-b',
    c: 'ep-events-proxy-edge-c',
  };

  /** When Prometheus first had all three targets up (seconds), and the moment the checks read. */
  let upSince = 0;
  let settledAt = 0;
  /** Bulk messages published until the stalled client was cut off. */
  let bulk = 0;
  const N_A = 2;
  const N_B = 2;
  /** v2 on edge A: messages its first stream gets live, then messages its resume replays. */
  const N_V2_LIVE = 1;
  const N_REPLAYED = 3;
  const N_V2 = N_V2_LIVE + N_REPLAYED;

  const direct = async (p: ServiceProcess, name: string, labels?: Record<string, string>): Promise<number> =>
    metricValue(await p.metrics(), name, labels) ?? 0;

  before(async function () {
    // Fails (does not skip) with how to install Prometheus when it is missing.
    findTool('prometheus');
    findTool('promtool');
    await needRabbit();
    await needRedis();

    chart = render({ name: 'defaults' }, ['--set', 'metrics.prometheusRule.enabled=true']);
    const serviceNames = chart.filter((d) => d.kind === 'Service').map((d) => d.metadata.name);
    jobs = {
      edge: serviceNames.find((n) => n.endsWith('-edge'))!,
      ingest: serviceNames.find((n) => n.endsWith('-ingest'))!,
    };
    expect(jobs.edge, 'the chart renders an edge Service').to.be.a('string');
    expect(jobs.ingest, 'the chart renders an ingest Service').to.be.a('string');
    const rule = chart.find((d) => d.kind === 'PrometheusRule');
    expect(rule, 'the chart renders a PrometheusRule').to.not.equal(undefined);

    broker = await TestBroker.connect();
    await broker.topicExchange(exchange);
    const env = {
      AMQP_URL,
      REDIS_URL,
      KEY_PREFIX: `prom-${run}:`,
      AMQP_QUEUE: queue,
      // Leases outlive the test, so the bindings gauge stays at what the clients asked for.
      BINDING_LEASE_SECONDS: '600',
      LOG_LEVEL: 'info',
    };
    ingest = await startService('ingest', env);
    [edgeA, edgeB, edgeC] = await Promise.all([
      // A: full at 4 streams, and cuts off a client with 64 KiB unsent.
      startService('edge', { ...env, MAX_CONNECTIONS: '4', MAX_BUFFERED_BYTES: String(64 * 1024) }),
      // B: closes streams that got no message for 3 s, and ends v2 streams after 0.8 to 1 s.
      startService('edge', { ...env, IDLE_TIMEOUT_SECONDS: '3', MAX_STREAM_SECONDS: '1' }),
      // C: access control: HS256 tokens, and one open stream per client address.
      startService('edge', { ...env, AUTH_MODE: 'jwt', AUTH_JWT_SECRET: secret, MAX_STREAMS_PER_IP: '1' }),
    ]);

    const target = (p: ServiceProcess, pod: string) => ({
      target: `127.0.0.1:${p.metricsPort}`,
      labels: { namespace: NAMESPACE, pod },
    });
    prom = await Prometheus.start({
      intervalSeconds: SCRAPE_SECONDS,
      jobs: {
        [jobs.ingest]: [target(ingest, pods.ingest)],
        [jobs.edge]: [target(edgeA, pods.a), target(edgeB, pods.b), target(edgeC, pods.c)],
      },
      ruleFiles: { 'events-proxy.rules.yaml': { groups: (rule!.spec as { groups: unknown[] }).groups } },
    });
    await prom.waitFor(
      'all four targets up',
      () => prom.vector('up == 1'),
      (v) => v.length === 4,
    );
    upSince = Date.now() / 1000;
  });

  after(async () => {
    for (const c of clients) c.close();
    stalled?.destroy();
    await prom?.stop();
    await stopAll();
    await broker?.deleteQueue(queue);
    await broker?.close();
  });

  /** An SSE client that closes itself on a server `error` event (so EventSource does not reconnect). */
  const client = (edge: ServiceProcess, ex: string, pattern: string): SseClient => {
    const c = new SseClient(
      connectUrl(edge.url(''), { bindings: [{ exchange: ex, routingKeyPattern: pattern }] }),
    );
    c.source.addEventListener('error', (ev) => {
      if ((ev as MessageEvent).data !== undefined) c.close();
    });
    clients.push(c);
    return c;
  };

  /**
   * Edge C (AUTH_MODE=jwt, MAX_STREAMS_PER_IP=1): three connects refused for their token (none, a
   * wrong signature, expired), each a 200 and a terminal error; one stream whose token expires in
   * 3 s; while it is open, a second connect with a good token is answered 429 (streams_per_ip);
   * then the stream is ended at its token's exp.
   */
  async function accessControlTraffic(): Promise<void> {
    const url = connectUrl(edgeC.url(''), { bindings: [{ exchange, routingKeyPattern: 'idle.#' }] });
    const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });
    const refused = async (headers: Record<string, string>, why: RegExp) => {
      const r = await fetchAll(url, headers);
      expect(r.status, r.body).to.equal(200);
      expect(r.body)
        .to.match(/event: error/)
        .and.match(why);
    };
    await refused({}, /a token is required/);
    await refused(bearer(await hsToken(newSecret(), [exchange])), /signature/);
    await refused(bearer(await hsToken(secret, [exchange], { expiresIn: -60 })), /expired/);

    const expiring = await RawResponse.open(url, bearer(await hsToken(secret, [exchange], { expiresIn: 3 })));
    try {
      await expiring.waitFor((r) => eventsOf(r, 'ready').length === 1, 'C: the stream ready');
      const second = await fetchAll(url, bearer(await hsToken(secret, [exchange])));
      expect(second.status, second.body).to.equal(429);
      expect(second.headers['retry-after']).to.equal('10');
      await expiring.waitEnd(10_000);
      expect(eventsOf(expiring, 'error').map((e) => e.data)).to.have.length(1);
      expect(eventsOf(expiring, 'error')[0]!.data).to.match(/token expired/);
      expect(eventsOf(expiring, 'message'), 'C: no message').to.deep.equal([]);
    } finally {
      expiring.close();
    }
  }

  it('scrapes one ingest and three edges, each with the job, namespace and pod labels Kubernetes gives them', async () => {
    const up = await prom.vector('up');
    expect(up.map((s) => [s.metric.job, s.metric.namespace, s.metric.pod]).sort()).to.deep.equal(
      [
        [jobs.edge, NAMESPACE, pods.a],
        [jobs.edge, NAMESPACE, pods.b],
        [jobs.edge, NAMESPACE, pods.c],
        [jobs.ingest, NAMESPACE, pods.ingest],
      ].sort(),
    );
  });

  it('drives connections, messages, v2 resumes (lossless, gap, malformed cursor), idle closures, a slow client, refused connections, token refusals, a 429, a token expiry and a v2 stream at its max lifetime', async () => {
    // Edge B: a client that gets N_B messages (at once, well within its idle timeout), one that
    // never gets any, and one whose exchange does not exist. Both live streams end as idle.
    const busy = client(edgeB, exchange, 'b.#');
    await busy.waitReady();
    for (let i = 0; i < N_B; i++) await broker.publish(exchange, `b.${i}`, { n: i });
    await busy.waitFor((x) => x.messages().length === N_B, 'B messages');
    const idle = client(edgeB, exchange, 'idle.#');
    await idle.waitReady();
    // A v2 stream on B, on the binding `idle.#` (already leased: no bind request), ends at its max
    // lifetime (MAX_STREAM_SECONDS=1), before B's idle timeout, without an `error` event.
    const lifetime = await RawResponse.open(
      connectUrl(
        edgeB.url(''),
        { bindings: [{ exchange, routingKeyPattern: 'idle.#' }] },
        '/api/events/v2/connect/',
      ),
    );
    await lifetime.waitFor((r) => eventsOf(r, 'ready').length === 1, 'B: the v2 stream ready');
    await lifetime.waitEnd(10_000);
    expect(eventsOf(lifetime, 'error'), 'B: no error event at max lifetime').to.deep.equal([]);
    // Edge C meanwhile (it waits about 3 s for a token to expire): its stream binds `idle.#`, already
    // leased and never published to, so it asks the ingest for nothing and receives nothing.
    const accessControl = accessControlTraffic();
    accessControl.catch(() => undefined); // awaited below; not an unhandled rejection meanwhile
    const failed = client(edgeB, missingExchange, '#');
    await failed.waitFor((c) => c.of('error').length === 1, 'the bind error');

    // Edge A, before its readers, v2 (raw requests: EventSource would reconnect on its own). A
    // stream on `v2.#` gets a message live and leaves; N_REPLAYED are published while it is away
    // (its binding's lease keeps them routed and retained); a resume from the live message's cursor
    // replays them: lossless. A resume of `gap.#`, bound only now, from that cursor cannot be
    // proven lossless: gap. A Last-Event-ID that is no cursor is refused (reason cursor).
    const v2 = (pattern: string, headers: Record<string, string> = {}) =>
      RawResponse.open(
        connectUrl(
          edgeA.url(''),
          { bindings: [{ exchange, routingKeyPattern: pattern }] },
          '/api/events/v2/connect/',
        ),
        headers,
      );
    const first = await v2('v2.#');
    await first.waitFor((r) => eventsOf(r, 'ready').length === 1, 'the first v2 stream ready');
    await broker.publish(exchange, 'v2.live', { n: 0 });
    await first.waitFor((r) => eventsOf(r, 'message').length === N_V2_LIVE, 'the live v2 message');
    const cursor = eventsOf(first, 'message')[0]!.id!;
    first.close();
    await waitUntil(
      async () => (await direct(edgeA, 'events_edge_connections')) === 0,
      'A: v2 stream gone',
      10_000,
    );
    const framesBefore = await direct(ingest, 'events_ingest_frames_published_total');
    for (let i = 0; i < N_REPLAYED; i++) await broker.publish(exchange, `v2.${i}`, { n: i });
    await waitUntil(
      async () =>
        (await direct(ingest, 'events_ingest_frames_published_total')) === framesBefore + N_REPLAYED,
      'the missed v2 messages retained and published',
      10_000,
    );
    const lossless = await v2('v2.#', { 'Last-Event-ID': cursor });
    await lossless.waitFor((r) => eventsOf(r, 'message').length >= N_REPLAYED, 'the replay');
    expect(
      eventsOf(lossless, 'message').map((m) => (JSON.parse(m.data!) as { routingKey: string }).routingKey),
    ).to.deep.equal(Array.from({ length: N_REPLAYED }, (_, i) => `v2.${i}`));
    expect(eventsOf(lossless, 'gap'), 'no gap').to.deep.equal([]);
    lossless.close();
    const gap = await v2('gap.#', { 'Last-Event-ID': cursor });
    await gap.waitFor((r) => eventsOf(r, 'gap').length === 1, 'the gap');
    gap.close();
    const malformed = await v2('v2.#', { 'Last-Event-ID': 'not-a-cursor' });
    await malformed.waitEnd();
    expect(eventsOf(malformed, 'error'), malformed.body).to.have.length(1);
    await waitUntil(
      async () => (await direct(edgeA, 'events_edge_connections')) === 0,
      'A: v2 streams gone',
      10_000,
    );

    // Edge A: three readers, then a client that never reads, which makes A full.
    const readers = [0, 1, 2].map(() => client(edgeA, exchange, 'a.#'));
    await Promise.all(readers.map((c) => c.waitReady()));
    const socket = net.connect(edgeA.port, '127.0.0.1');
    stalled = socket;
    socket.pause();
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    const slowUrl = new URL(
      connectUrl(edgeA.url(''), { bindings: [{ exchange, routingKeyPattern: 'slow.#' }] }),
    );
    socket.write(`GET ${slowUrl.pathname}${slowUrl.search} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
    await waitUntil(
      async () => (await direct(edgeA, 'events_edge_connections_total')) === 3 + 4,
      'A: 3 v2 streams, then 4 streams',
      10_000,
    );

    // Refused: A is full (HTTP 503, reason max_connections).
    const status = await new Promise<number>((resolve, reject) =>
      http
        .get(connectUrl(edgeA.url(''), { bindings: [{ exchange, routingKeyPattern: 'a.#' }] }), (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        })
        .once('error', reject),
    );
    expect(status).to.equal(503);

    for (let i = 0; i < N_A; i++) await broker.publish(exchange, `a.${i}`, { n: i });
    await Promise.all(readers.map((c) => c.waitFor((x) => x.messages().length === N_A, 'A messages')));

    // One message straight into the shared queue: consumed, matched by no binding.
    const conn = await amqp.connect(AMQP_URL);
    const ch = await conn.createConfirmChannel();
    ch.sendToQueue(queue, Buffer.from('{}'));
    await ch.waitForConfirms();
    await conn.close();

    // Fill the stalled client's buffers until A cuts it off as too slow.
    const payload = 'x'.repeat(BULK_BYTES);
    while ((await direct(edgeA, 'events_edge_closes_total', { reason: 'slow' })) === 0) {
      if (bulk >= 2_000) throw new Error('edge A never closed the stalled client');
      for (let i = 0; i < 8; i++) {
        bulk++;
        await broker.publish(exchange, `slow.${bulk}`, { payload });
      }
    }

    await accessControl;

    // Both of B's streams end as idle; the readers on A stay.
    await busy.waitFor((x) => x.of('error').length === 1, 'the busy client idle-closed', 10_000);
    await idle.waitFor((x) => x.of('error').length === 1, 'the idle client idle-closed', 10_000);
    await waitUntil(
      async () => (await direct(edgeB, 'events_edge_connections')) === 0,
      'B: no streams',
      10_000,
    );
    await waitUntil(
      async () => (await direct(edgeA, 'events_edge_connections')) === 3,
      'A: 3 streams',
      10_000,
    );
    await waitUntil(
      async () => (await direct(edgeC, 'events_edge_connections')) === 0,
      'C: no streams',
      10_000,
    );
    await waitUntil(
      async () =>
        (await direct(ingest, 'events_ingest_messages_consumed_total')) === N_A + N_B + N_V2 + 1 + bulk,
      'the ingest to consume every message',
      10_000,
    );

    // Prometheus has scraped the final state once every counter it reports equals the process's own.
    const watched: [ServiceProcess, string, string][] = [
      [edgeA, pods.a, 'events_edge_connections'],
      [edgeA, pods.a, 'events_edge_bus_subscriptions'],
      [edgeA, pods.a, 'events_edge_connections_total'],
      [edgeA, pods.a, 'events_edge_closes_total'],
      [edgeA, pods.a, 'events_edge_messages_sent_total'],
      [edgeA, pods.a, 'events_edge_resumes_total'],
      [edgeA, pods.a, 'events_edge_gaps_total'],
      [edgeA, pods.a, 'events_edge_replayed_messages_total'],
      [edgeA, pods.a, 'events_edge_connections_rejected_total'],
      [edgeB, pods.b, 'events_edge_connections'],
      [edgeB, pods.b, 'events_edge_bus_subscriptions'],
      [edgeB, pods.b, 'events_edge_closes_total'],
      [edgeB, pods.b, 'events_edge_idle_closures_total'],
      [edgeB, pods.b, 'events_edge_messages_sent_total'],
      [edgeC, pods.c, 'events_edge_connections'],
      [edgeC, pods.c, 'events_edge_bus_subscriptions'],
      [edgeC, pods.c, 'events_edge_connections_total'],
      [edgeC, pods.c, 'events_edge_connections_rejected_total'],
      [edgeC, pods.c, 'events_edge_closes_total'],
      [edgeC, pods.c, 'events_edge_auth_refusals_total'],
      [edgeA, pods.a, 'events_edge_tier_edges'],
      [edgeA, pods.a, 'events_edge_tier_mean_streams'],
      [edgeB, pods.b, 'events_edge_tier_edges'],
      [edgeB, pods.b, 'events_edge_tier_mean_streams'],
      [edgeC, pods.c, 'events_edge_tier_edges'],
      [edgeC, pods.c, 'events_edge_tier_mean_streams'],
      [ingest, pods.ingest, 'events_ingest_messages_consumed_total'],
      [ingest, pods.ingest, 'events_ingest_frames_published_total'],
      [ingest, pods.ingest, 'events_ingest_bind_requests_total'],
      [ingest, pods.ingest, 'events_ingest_bindings'],
      [ingest, pods.ingest, 'events_ingest_history_seconds_count'],
    ];
    await prom.waitFor(
      'Prometheus to scrape the final counters',
      async () => {
        const diffs: string[] = [];
        for (const [p, pod, name] of watched) {
          const want = await direct(p, name);
          const got = (await prom.vector(`sum(${name}{pod="${pod}"})`))[0];
          if (got === undefined || num(got.value[1]) !== want)
            diffs.push(`${pod} ${name}: ${got?.value[1]} != ${want}`);
        }
        return diffs;
      },
      (diffs) => diffs.length === 0,
    );
    settledAt = Date.now() / 1000;
  });

  /** Grafana's view: variables from their label_values() queries, All selected, over the test's range. */
  async function grafanaContext(): Promise<{
    variables: Record<string, string>;
    options: Record<string, string[]>;
  }> {
    const variables: Record<string, string> = {};
    const options: Record<string, string[]> = {};
    for (const v of templateVariables()) {
      const { match, label } = parseLabelValues(
        interpolate(v.query, variables, { interval: 1, rateInterval: 4 }),
      );
      const values = (await prom.labelValues(label, match)).sort();
      options[v.name] = values;
      variables[v.name] = variableText(v, 'All', values);
    }
    return { variables, options };
  }

  it("resolves the dashboard's namespace and job variables from their label_values() queries", async () => {
    const { variables, options } = await grafanaContext();
    expect(options).to.deep.equal({ namespace: [NAMESPACE], job: [jobs.edge, jobs.ingest].sort() });
    expect(variables.namespace).to.equal('.*');
    expect(variables.job).to.equal(`(${[jobs.edge, jobs.ingest].sort().join('|')})`);
  });

  it('returns data for every dashboard query over the test, and rates above 0 where the traffic moved the counter', async () => {
    const { variables } = await grafanaContext();
    const range = settledAt - upSince;
    const macros = intervals({ scrapeIntervalSeconds: SCRAPE_SECONDS, rangeSeconds: range });
    expect(macros).to.deep.equal({ interval: 1, rateInterval: 4 });
    const targets = dashboardTargets();
    expect(targets.length).to.be.greaterThan(30);
    const problems: string[] = [];
    for (const t of targets) {
      const expr = interpolate(t.expr, variables, macros);
      const series = await prom.queryRange(expr, Math.floor(upSince), Math.ceil(settledAt), macros.interval);
      const finite = series.flatMap((s) => s.values.map((v) => num(v[1]))).filter(Number.isFinite);
      if (series.length === 0 || finite.length === 0) {
        problems.push(`${t.panel} [${t.refId}] returned no data: ${expr}`);
        continue;
      }
      // A counter the traffic moved must show a rate above 0 at some step, in the series of its labels.
      if (t.expr !== totalsOf(t.expr) && !/\) \/ /.test(t.expr)) {
        const totals = interpolate(totalsOf(t.expr), variables, macros);
        const [before, after] = await Promise.all([
          prom.vector(totals, Math.ceil(upSince)),
          prom.vector(totals, settledAt),
        ]);
        for (const end of after) {
          const start = before.find((b) => sameLabels(b.metric, end.metric));
          if (start !== undefined && num(end.value[1]) === num(start.value[1])) continue;
          const s = series.find((x) => sameLabels(x.metric, end.metric));
          if (!s?.values.some((v) => num(v[1]) > 0)) {
            problems.push(
              `${t.panel} [${t.refId}] ${JSON.stringify(end.metric)} moved but its rate never rose: ${expr}`,
            );
          }
        }
      }
    }
    expect(problems, 'dashboard queries').to.deep.equal([]);
  });

  it('shows values that match the traffic: open connections, messages sent, closes, rejections, ingest counts, resumes', async () => {
    const { variables } = await grafanaContext();
    const macros = intervals({ scrapeIntervalSeconds: SCRAPE_SECONDS, rangeSeconds: settledAt - upSince });
    const targets = dashboardTargets();
    // Two panels are called "Active bindings": the Overview stat and the Ingest time series.
    const find = (panel: string, refId = 'A'): DashboardTarget => {
      const [title, type] = panel.split('|');
      const t = targets.find(
        (x) => x.panel === title && x.refId === refId && (type === undefined || x.panelType === type),
      );
      if (!t) throw new Error(`no dashboard panel "${panel}" query ${refId}`);
      return t;
    };
    /** The panel's query at the settled moment, as Grafana sends it; with totals=true its counters' totals. */
    const at = async (panel: string, refId = 'A', totals = false): Promise<VectorSample[]> => {
      const t = find(panel, refId);
      return prom.vector(interpolate(totals ? totalsOf(t.expr) : t.expr, variables, macros), settledAt);
    };
    const scalar = async (panel: string, refId = 'A', totals = false): Promise<number> => {
      const v = await at(panel, refId, totals);
      expect(v, `${panel} [${refId}] is one value`).to.have.length(1);
      return num(v[0]!.value[1]);
    };
    const aMessages = await direct(edgeA, 'events_edge_messages_sent_total');
    expect(
      aMessages,
      'A: v2 live and replayed, 2 messages to 3 readers, and some bulk to the stalled client',
    ).to.be.greaterThan(N_V2 + 3 * N_A);

    // Overview
    expect(await scalar('Open connections')).to.equal(3);
    expect(await scalar('Edge pods')).to.equal(3);
    expect(await scalar('New connections/s', 'A', true)).to.equal(11);
    expect(await scalar('Messages sent/s', 'A', true)).to.equal(aMessages + N_B);
    expect(await scalar('Delivery lag p99', 'A', true)).to.be.within(0, 5);
    expect(await scalar('Active bindings|stat')).to.equal(6);
    expect(await scalar('Broker')).to.equal(1);
    expect(await scalar('Redis')).to.equal(1);

    // Connections
    expect(byLabel(await at('Open connections by pod'), 'pod')).to.deep.equal({
      [pods.a]: 3,
      [pods.b]: 0,
      [pods.c]: 0,
    });
    expect(await scalar('Average connections per edge pod (HPA signal)')).to.equal(1);
    expect(await scalar('Average connections per edge pod (HPA signal)', 'B')).to.equal(3);
    expect(await scalar('Accepted and rejected connections/s', 'A', true)).to.equal(11);
    expect(byLabel(await at('Accepted and rejected connections/s', 'B', true), 'reason')).to.deep.equal({
      max_connections: 1,
      draining: 0,
      bad_request: 0,
      bindings: 0,
      cursor: 1,
      bind_failed: 1,
      unauthorized: 3,
      connect_rate: 0,
      streams_per_ip: 1,
      streams_per_subject: 0,
    });
    expect(byLabel(await at('Server-side closes/s by reason', 'A', true), 'reason')).to.deep.equal({
      idle: 2,
      slow: 1,
      error: 1,
      shutdown: 0,
      // Every refusal answered in the stream counts as a `limit` close: the malformed cursor and
      // C's three token refusals.
      limit: 4,
      expired: 1,
      bus_lost: 0,
      // No v2 stream lived 10 s (none can be moved), and B's lived 1 s at most.
      rebalance: 0,
      max_lifetime: 1,
    });
    expect(await scalar('Server-side closes/s by reason', 'B', true)).to.equal(2);
    for (const q of ['A', 'B', 'C']) expect(await scalar('Time to ready', q, true)).to.be.within(0, 30);
    expect(byLabel(await at('Connection churn by pod', 'A', true), 'pod')).to.deep.equal({
      [pods.a]: 7,
      [pods.b]: 3,
      [pods.c]: 1,
    });
    // The elastic tier: 3 streams on A, none on B and C; every edge sees the three ready edges.
    expect(await scalar('Streams per edge (most, least, mean)', 'A')).to.equal(3);
    expect(await scalar('Streams per edge (most, least, mean)', 'B')).to.equal(0);
    expect(await scalar('Streams per edge (most, least, mean)', 'C')).to.equal(1);
    // The mean each edge saw at its last look (a second apart): 3 streams over 3 edges, or 4 while
    // an edge's view still held B's v2 stream, ended at its lifetime moments before.
    expect(await scalar('Streams per edge (most, least, mean)', 'D')).to.be.oneOf([1, 1.3]);
    expect(byLabel(await at('Streams moved/s (rebalance, max lifetime)', 'A', true), 'reason')).to.deep.equal(
      {
        rebalance: 0,
        max_lifetime: 1,
      },
    );
    for (const q of ['A', 'B', 'C']) expect(await scalar('Ready edges seen in Redis', q)).to.equal(3);

    // Delivery
    expect(byLabel(await at('Messages sent/s by pod', 'A', true), 'pod')).to.deep.equal({
      [pods.a]: aMessages,
      [pods.b]: N_B,
      [pods.c]: 0,
    });
    const bytes = byLabel(await at('Bytes sent/s by pod', 'A', true), 'pod');
    expect(bytes[pods.a]).to.be.greaterThan(bulk * 1000);
    expect(bytes[pods.b]).to.be.greaterThan(0);
    expect(bytes[pods.c], 'C: ready and error frames').to.be.greaterThan(0);
    for (const q of ['A', 'B', 'C']) expect(await scalar('Delivery lag', q, true)).to.be.within(0, 5);
    const heat = byLabel(await at('Delivery lag distribution', 'A', true), 'le');
    expect(heat['+Inf'], 'every delivery is in the +Inf bucket').to.equal(
      await direct(edgeA, 'events_edge_delivery_lag_seconds_count').then(
        async (a) => a + (await direct(edgeB, 'events_edge_delivery_lag_seconds_count')),
      ),
    );
    expect(await scalar('Fan-out: client deliveries per published frame', 'A', true)).to.be.closeTo(
      (aMessages + N_B) / (N_A + N_B + N_V2 + bulk),
      1e-9,
    );
    expect(await scalar('Bytes sent/s per open connection', 'A', true)).to.be.greaterThan(0);

    // Ingest
    const consumed = N_A + N_B + N_V2 + 1 + bulk;
    expect(await scalar('Ingest messages/s', 'A', true)).to.equal(consumed);
    expect(await scalar('Ingest messages/s', 'B', true)).to.equal(N_A + N_B + N_V2 + bulk);
    expect(await scalar('Ingest messages/s', 'C', true)).to.equal(1);
    expect(byLabel(await at('Active bindings|timeseries'), 'pod')).to.deep.equal({ [pods.ingest]: 6 });
    expect(byLabel(await at('Bind requests/s by result', 'A', true), 'result')).to.deep.equal({
      ok: 6,
      error: 1,
    });
    expect(byLabel(await at('Consumed messages/s by pod', 'A', true), 'pod')).to.deep.equal({
      [pods.ingest]: consumed,
    });

    // Resumes (v2): one lossless resume replaying N_REPLAYED, one gap; every batch retained.
    expect(byLabel(await at('Resumes/s by result', 'A', true), 'result')).to.deep.equal({
      lossless: 1,
      gap: 1,
    });
    expect(await scalar('Replayed messages/s', 'A', true)).to.equal(N_REPLAYED);
    expect(await scalar('Gaps as a share of resumes', 'A', true)).to.equal(0.5);
    const retain = byLabel(await at('History retain time p99 by pod', 'A', true), 'pod');
    expect(Object.keys(retain)).to.deep.equal([pods.ingest]);
    expect(retain[pods.ingest]).to.be.within(0, 1);
    expect(byLabel(await at('History failures/s by pod', 'A', true), 'pod')).to.deep.equal({
      [pods.ingest]: 0,
    });

    // Access control: edge C's refusals, its 429 and its expired stream; no limit check failed.
    expect(byLabel(await at('Token refusals/s by reason', 'A', true), 'reason')).to.deep.equal({
      missing: 1,
      malformed: 0,
      signature: 1,
      expired: 1,
      not_yet_valid: 0,
      issuer: 0,
      audience: 0,
      not_granted: 0,
    });
    expect(byLabel(await at('Per-client limit refusals/s by reason', 'A', true), 'reason')).to.deep.equal({
      connect_rate: 0,
      streams_per_ip: 1,
      streams_per_subject: 0,
    });
    expect(await scalar('Streams ended at token expiry/s', 'A', true)).to.equal(1);
    expect(await scalar('Streams ended at token expiry/s', 'B', true)).to.equal(1);
    expect(byLabel(await at('Limit checks failed/s by pod', 'A', true), 'pod')).to.deep.equal({
      [pods.a]: 0,
      [pods.b]: 0,
      [pods.c]: 0,
    });

    // Redis and broker
    expect(byLabel(await at('AMQP connection by ingest pod'), 'pod')).to.deep.equal({ [pods.ingest]: 1 });
    expect(byLabel(await at('Redis connection by pod'), 'pod')).to.deep.equal({
      [pods.ingest]: 1,
      [pods.a]: 1,
      [pods.b]: 1,
      [pods.c]: 1,
    });
    expect(byLabel(await at('Redis subscriptions by edge pod'), 'pod')).to.deep.equal({
      [pods.a]: 1,
      [pods.b]: 0,
      [pods.c]: 0,
    });

    // Runtime: one positive value per process.
    for (const panel of [
      'CPU by pod',
      'Resident memory by pod',
      'Heap used by pod',
      'Open file descriptors by pod',
      'Uptime by pod',
    ]) {
      const v = byLabel(await at(panel, 'A', panel === 'CPU by pod'), 'pod');
      expect(Object.keys(v).sort(), panel).to.deep.equal([pods.a, pods.b, pods.c, pods.ingest].sort());
      for (const x of Object.values(v)) expect(x, panel).to.be.greaterThan(0);
    }
    const lag = byLabel(await at('Event-loop lag p99 by pod'), 'pod');
    expect(Object.keys(lag).sort()).to.deep.equal([pods.a, pods.b, pods.c, pods.ingest].sort());
  });

  it("loads the chart's alert rules into Prometheus: all evaluate, and the traffic makes exactly the expected ones pending", async () => {
    const rendered = (
      chart.find((d) => d.kind === 'PrometheusRule')!.spec as { groups: { rules: { alert: string }[] }[] }
    ).groups.flatMap((g) => g.rules.map((r) => r.alert));
    const rules = await prom.waitFor(
      'every rule evaluated',
      () => prom.rules(),
      (rs) => rs.length === rendered.length && rs.every((r) => r.health !== 'unknown'),
    );
    expect(
      rules.filter((r) => r.health !== 'ok').map((r) => `${r.name}: ${r.health} ${r.lastError ?? ''}`),
      'rules with evaluation errors',
    ).to.deep.equal([]);
    // Rejections at MAX_CONNECTIONS, a slow-client close per 10 accepted connections, 1 of 7 bind
    // requests failed: pending (their `for` is minutes). Everything else stays quiet, the token
    // alert too: 1 signature refusal in 17 connects, far under 0.05/s.
    const pending = [
      'EventsProxyBindErrors',
      'EventsProxyConnectionsRejected',
      'EventsProxySlowClientCloses',
    ];
    const quiet = [
      'EventsProxyBrokerDisconnected',
      'EventsProxyIngestPodDisconnected',
      'EventsProxyRedisDisconnected',
      'EventsProxyEdgeNearConnectionLimit',
      'EventsProxyIngestStalled',
      'EventsProxyHistoryFailing',
      'EventsProxyTokensRefused',
      'EventsProxyClientLimitsUnavailable',
    ];
    const states = await prom.waitFor(
      `${pending.join(', ')} pending`,
      async () => Object.fromEntries((await prom.rules()).map((r) => [r.name, r.state ?? ''])),
      (s) => pending.every((n) => s[n] === 'pending'),
    );
    for (const n of quiet) expect(states[n], n).to.equal('inactive');
    expect(Object.values(states).filter((s) => s === 'firing')).to.deep.equal([]);
  });

  it('serves the HPA metric through the prometheus-adapter rule: one value per edge pod, equal to its open connections', async () => {
    const rule = (
      get(values({ name: 'defaults' }), 'prometheusAdapter.rules.custom') as {
        seriesQuery: string;
        resources: { overrides: Record<string, { resource: string }> };
        name: { matches: string; as: string };
        metricsQuery: string;
      }[]
    )[0]!;
    const hpa = chart.find((d) => d.kind === 'HorizontalPodAutoscaler')!;
    const hpaMetric = (
      hpa.spec as { metrics: { type: string; pods?: { metric: { name: string } } }[] }
    ).metrics.find((m) => m.type === 'Pods')!.pods!.metric.name;

    // Discovery: the adapter lists the series of seriesQuery and maps labels to resources.
    const series = await prom.series(rule.seriesQuery, Math.floor(upSince), Math.ceil(settledAt));
    const labelFor = (resource: string): string =>
      Object.entries(rule.resources.overrides).find(([, r]) => r.resource === resource)![0];
    const nsLabel = labelFor('namespace');
    const podLabel = labelFor('pod');
    const names = new Set(
      series.map((s) => s.__name__!.replace(new RegExp(rule.name.matches), rule.name.as)),
    );
    expect([...names], 'metric names the adapter serves').to.deep.equal([hpaMetric]);
    const discovered = series.map((s) => [s[nsLabel], s[podLabel]]).sort();
    expect(discovered).to.deep.equal([
      [NAMESPACE, pods.a],
      [NAMESPACE, pods.b],
      [NAMESPACE, pods.c],
    ]);

    // The HPA asks for every pod of the Deployment (pod=~"a|b"); `kubectl get --raw .../pods/<name>/...` for one.
    const metricsQuery = (podNames: string[]): string => {
      const matchers = [
        `${nsLabel}="${NAMESPACE}"`,
        podNames.length === 1 ? `${podLabel}="${podNames[0]}"` : `${podLabel}=~"${podNames.join('|')}"`,
      ].join(',');
      const q = rule.metricsQuery
        .replaceAll('<<.Series>>', [...series.map((s) => s.__name__!)][0]!)
        .replaceAll('<<.LabelMatchers>>', matchers)
        .replaceAll('<<.GroupBy>>', podLabel);
      expect(q, 'every template field substituted').to.not.include('<<');
      return q;
    };
    const want = {
      [pods.a]: await direct(edgeA, 'events_edge_connections'),
      [pods.b]: await direct(edgeB, 'events_edge_connections'),
      [pods.c]: await direct(edgeC, 'events_edge_connections'),
    };
    expect(want).to.deep.equal({ [pods.a]: 3, [pods.b]: 0, [pods.c]: 0 });
    const all = await prom.vector(metricsQuery([pods.a, pods.b, pods.c]), settledAt);
    expect(
      all.map((s) => Object.keys(s.metric)),
      'only the group-by label is left',
    ).to.deep.equal([[podLabel], [podLabel], [podLabel]]);
    expect(byLabel(all, podLabel)).to.deep.equal(want);
    for (const pod of [pods.a, pods.b, pods.c]) {
      expect(byLabel(await prom.vector(metricsQuery([pod]), settledAt), podLabel)).to.deep.equal({
        [pod]: want[pod],
      });
    }
  });
});

function sameLabels(a: Labels, b: Labels): boolean {
  const ka = Object.keys(a).sort();
  const kb = Object.keys(b).sort();
  return ka.length === kb.length && ka.every((k, i) => k === kb[i] && a[k] === b[k]);
}
