/**
 * End to end on a Redis Cluster with replicas (6 private nodes, --cluster-replicas 1): one ingest
 * and two edges with REDIS_CLUSTER_NODES, real SSE clients with open streams, messages published
 * to the machine's RabbitMQ. One primary is SIGKILLed: the streams stay open, delivery on its
 * channels resumes once its replica is promoted, and no process exits. Prints the time from the
 * kill to the first delivery on a channel of the killed shard (docs/operations.md records it).
 */
import { expect } from 'chai';
import { names, type Binding } from '@events-proxy/protocol';
import { AMQP_URL, needRabbit } from '../support/services.js';
import { randomId, startService, stopAll, type ServiceProcess } from '../support/processes.js';
import { metricValue } from '../support/prometheus.js';
import { SseClient, connectUrl } from '../support/sse-client.js';
import { TestBroker } from '../support/broker.js';
import { waitUntil } from '../support/wait.js';
import { PrivateRedisCluster, type PrivateRedis } from '../cluster/redis-support.js';

const BINDINGS = 12;
const EventSourceOpen = 1;

describe('e2e: ingest and two edges on a Redis Cluster with replicas', function () {
  this.timeout(120_000);
  const run = randomId();
  const keyPrefix = `e2e-${run}:`;
  const queue = `queue/guest/e2e-rc-${run}`;
  const exchange = `exchange/e2e/${run}/rc`;
  let cluster: PrivateRedisCluster;
  let broker: TestBroker;
  let processes: ServiceProcess[];
  const clients = new Map<string, SseClient>(); // by routing key pattern
  const bindings: Binding[] = Array.from({ length: BINDINGS }, (_, i) => ({
    exchange,
    routingKeyPattern: `rc.${i}.#`,
  }));

  before(async () => {
    await needRabbit();
    cluster = await PrivateRedisCluster.start({ primaries: 3, replicas: 1 });
    broker = await TestBroker.connect();
    await broker.topicExchange(exchange);
    const env = {
      AMQP_URL,
      REDIS_URL: '', // the cluster instead (REDIS_URL and REDIS_CLUSTER_NODES exclude each other)
      REDIS_CLUSTER_NODES: cluster.urls.join(','),
      KEY_PREFIX: keyPrefix,
      AMQP_QUEUE: queue,
      BINDING_LEASE_SECONDS: '10',
    };
    const ingest = await startService('ingest', env);
    const edges = await Promise.all([startService('edge', env), startService('edge', env)]);
    processes = [ingest, ...edges];
    for (const [i, b] of bindings.entries()) {
      const c = new SseClient(connectUrl(edges[i % 2]!.url(''), { bindings: [b] }));
      clients.set(b.routingKeyPattern, c);
      await c.waitReady();
    }
  });

  after(async () => {
    for (const c of clients.values()) c.close();
    await stopAll();
    await broker?.deleteQueue(queue);
    await broker?.close();
    await cluster?.stop();
  });

  const seqs = (b: Binding) =>
    clients
      .get(b.routingKeyPattern)!
      .messages<{ payload: { seq: number } }>()
      .map((m) => m.payload.seq);
  const publish = (b: Binding, seq: number) =>
    broker.publish(exchange, b.routingKeyPattern.replace('#', 'x'), { seq });

  it('keeps every stream open through a primary fail-over, and delivery resumes on its channels', async () => {
    const channelOf = names(keyPrefix).channel;
    const shardOf = new Map<Binding, PrivateRedis>();
    for (const b of bindings) shardOf.set(b, await cluster.primaryOf(channelOf(b)));
    // Not the shard of the position key: every message's cursor comes from it (one order for the
    // whole installation), so its fail-over pauses every channel; any other shard's must not.
    const positionShard = await cluster.primaryOf(names(keyPrefix).historyPosition);
    const victim = bindings.map((b) => shardOf.get(b)!).find((p) => p !== positionShard)!;
    expect(victim, 'a shard with channels other than the position key').to.not.equal(undefined);
    const onVictim = bindings.filter((b) => shardOf.get(b) === victim);
    const elsewhere = bindings.filter((b) => shardOf.get(b) !== victim);
    expect(elsewhere.length, 'bindings on the shards that stay up').to.be.greaterThan(0);

    let seq = 0;
    for (const b of bindings) await publish(b, ++seq);
    for (const b of bindings)
      await waitUntil(() => seqs(b).length === 1, `the first message on ${b.routingKeyPattern}`, 20_000);

    const probe = onVictim[0]!;
    const control = elsewhere[0]!;
    const killedAt = Date.now();
    const seqAtKill = seq;
    const sentDuring = new Map<Binding, number[]>([
      [probe, []],
      [control, []],
    ]);
    const sentAt = new Map<number, number>();
    const controlSeenAt = new Map<number, number>();
    const noteControl = () => {
      for (const s of seqs(control))
        if (s > seqAtKill && !controlSeenAt.has(s)) controlSeenAt.set(s, Date.now());
    };
    await victim.stop('SIGKILL');

    // Publish to one channel of each side every 100 ms until the killed shard's channel delivers
    // a message published after the kill.
    let resumedAt = 0;
    let controlFirstAt = 0;
    while (resumedAt === 0) {
      expect(Date.now() - killedAt, 'time waiting for the killed shard to deliver again').to.be.below(60_000);
      await publish(probe, ++seq);
      sentDuring.get(probe)!.push(seq);
      await publish(control, ++seq);
      sentDuring.get(control)!.push(seq);
      sentAt.set(seq, Date.now());
      await new Promise((r) => setTimeout(r, 100));
      noteControl();
      if (controlFirstAt === 0 && seqs(control).some((s) => s > seqAtKill)) controlFirstAt = Date.now();
      if (seqs(probe).some((s) => s > seqAtKill)) resumedAt = Date.now();
    }
    // A healthy shard's channel goes on while the killed shard fails over: when the fail-over took
    // long enough to tell (a replica promoted seconds later), some of its messages arrived meanwhile.
    const duringFailover = [...controlSeenAt].filter(([, at]) => at < resumedAt);
    if (resumedAt - killedAt >= 2500) {
      expect(
        duringFailover.length,
        'messages of a healthy shard delivered while the killed shard was failing over',
      ).to.be.greaterThan(0);
    }
    const lags = [...controlSeenAt].map(([s, at]) => at - sentAt.get(s)!).sort((a, b) => a - b);
    console.log(
      `      redis cluster fail-over (SIGKILL of a primary, replica promoted): first delivery on its shard ` +
        `${resumedAt - killedAt} ms after the kill; on another shard ${controlFirstAt ? controlFirstAt - killedAt : 'n/a'} ms; ` +
        `another shard's channel meanwhile: ${duringFailover.length} messages, lag median ${lags[Math.floor(lags.length / 2)]} ms, ` +
        `max ${lags.at(-1)} ms (sampled every 100 ms)`,
    );

    // After the fail-over every channel delivers a new message to its still-open stream.
    const final = new Map<Binding, number>();
    for (const b of bindings) {
      final.set(b, ++seq);
      await publish(b, seq);
    }
    for (const b of bindings) {
      await waitUntil(
        () => seqs(b).includes(final.get(b)!),
        `the last message on ${b.routingKeyPattern}`,
        30_000,
      ).catch((err: Error) => {
        // What the processes logged says which step (history, bus, subscription) is stuck.
        const logs = processes.map((p) => `--- ${p.role}:\n${p.output().split('\n').slice(-40).join('\n')}`);
        throw new Error(`${err.message}\n${logs.join('\n')}`);
      });
    }
    const duplicates = bindings.reduce((n, b) => n + seqs(b).length - new Set(seqs(b)).size, 0);
    console.log(`      messages delivered twice during the fail-over (all channels): ${duplicates}`);
    const lost = (b: Binding) => sentDuring.get(b)!.filter((s) => !seqs(b).includes(s)).length;
    console.log(
      `      published during the fail-over and never delivered: killed shard ${lost(probe)} of ` +
        `${sentDuring.get(probe)!.length}, other shard ${lost(control)} of ${sentDuring.get(control)!.length}`,
    );

    for (const c of clients.values()) {
      expect(c.of('error'), 'error events').to.deep.equal([]);
      expect(c.source.readyState, 'EventSource state').to.equal(EventSourceOpen);
    }
    for (const p of processes) expect(p.child.exitCode, `${p.role} exit code`).to.equal(null);

    // A new connection on the promoted shard binds through the control plane on the cluster.
    const late = new SseClient(
      connectUrl(processes[1]!.url(''), { bindings: [{ exchange, routingKeyPattern: 'late.#' }] }),
    );
    clients.set('late.#', late);
    await late.waitReady();
    await broker.publish(exchange, 'late.x', { seq: seq + 1 });
    await late.waitFor((c) => c.messages().length === 1, 'a message on the new connection', 20_000);

    await cluster.waitHealthy(30_000).catch(() => undefined); // the killed node stays down: not required
    for (const p of processes) {
      await waitUntil(
        async () => (await fetch(`http://127.0.0.1:${p.metricsPort}/readyz`)).status === 200,
        `${p.role} to be ready again`,
        30_000,
      );
      const metrics = await p.metrics();
      expect(
        metricValue(metrics, 'events_process_unhandled_rejections_total'),
        `${p.role} unhandled rejections`,
      ).to.equal(0);
      expect(metricValue(metrics, 'events_redis_connected'), `${p.role} events_redis_connected`).to.equal(1);
    }
  });
});
