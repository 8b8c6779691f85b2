/**
 * What the fault suites share: a publisher that keeps publishing a numbered sequence through any
 * outage (and knows which messages the broker confirmed), a watcher that samples every process's
 * /readyz and notices exits, and checks on what the clients saw.
 */
import { expect } from 'chai';
import amqp from 'amqplib';
import { setTimeout as sleep } from 'node:timers/promises';
import { startService, type ServiceProcess } from '../support/processes.js';
import { SseClient, connectUrl } from '../support/sse-client.js';
import { waitUntil } from '../support/wait.js';
import { summarise } from '../support/figures.js';
import { SequencePublisher } from '../support/sequence-publisher.js';

export { SequencePublisher };
export { report, summarise } from '../support/figures.js';

interface Sample {
  readonly at: number;
  readonly ready: boolean;
}

/**
 * Samples every process's /readyz every 100 ms for the whole test, and fails the test if a
 * process exits on its own or logs an unhandled rejection.
 */
export class ProcessWatch {
  private readonly samples = new Map<ServiceProcess, Sample[]>();
  private running = true;
  private readonly loop: Promise<void>;

  constructor(private readonly procs: readonly ServiceProcess[]) {
    for (const p of procs) this.samples.set(p, []);
    this.loop = this.run();
  }

  /** Whether the process answered /readyz 200 at its latest sample. */
  ready(p: ServiceProcess): boolean {
    return this.samples.get(p)?.at(-1)?.ready === true;
  }

  /** The samples taken between two times (Date.now()). */
  between(p: ServiceProcess, from: number, to: number): Sample[] {
    return (this.samples.get(p) ?? []).filter((s) => s.at >= from && s.at <= to);
  }

  /** When the process was first seen ready again after `at`, or undefined. */
  readyAgainAfter(p: ServiceProcess, at: number): number | undefined {
    return (this.samples.get(p) ?? []).find((s) => s.at > at && s.ready)?.at;
  }

  /** Every process is still running and none logged an unhandled rejection or exception. */
  expectHealthy(): void {
    for (const p of this.procs) {
      expect(p.child.exitCode, `${p.role} exited:\n${tail(p.output())}`).to.equal(null);
      expect(p.child.signalCode, `${p.role} was killed:\n${tail(p.output())}`).to.equal(null);
      const fatal = p.logs().filter((l) => typeof l.msg === 'string' && /^(unhandled|uncaught)/.test(l.msg));
      expect(fatal, `${p.role} logged an unhandled error`).to.deep.equal([]);
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }

  private async run(): Promise<void> {
    while (this.running) {
      await Promise.all(
        [...this.samples].map(async ([p, list]) => {
          if (p.child.exitCode !== null || p.child.signalCode !== null) return;
          let ready: boolean;
          try {
            const res = await fetch(`http://127.0.0.1:${p.metricsPort}/readyz`, {
              signal: AbortSignal.timeout(2000),
            });
            ready = res.status === 200;
            await res.arrayBuffer();
          } catch {
            ready = false;
          }
          list.push({ at: Date.now(), ready });
        }),
      );
      await sleep(100);
    }
  }
}

function tail(text: string): string {
  return text.split('\n').slice(-40).join('\n');
}

/** The `seq` of every message a client received, in order. */
export function seqsOf(c: SseClient): number[] {
  return c.messages<{ payload: { seq?: number } }>().flatMap((m) => (m.payload.seq ? [m.payload.seq] : []));
}

/** The client's stream is still the one it opened: no `error` event, and still open. */
export function expectStreamOpen(c: SseClient, what: string): void {
  expect(c.of('error'), `${what}: error events`).to.deep.equal([]);
  expect(c.of('ready'), `${what}: ready events`).to.have.length(1);
  expect(c.source.readyState, `${what}: EventSource state (1 = open)`).to.equal(1);
}

/** Confirmed sequence numbers that the client did not receive, among those up to `upTo`. */
export function missing(confirmed: readonly number[], c: SseClient, upTo: number): number[] {
  const got = new Set(seqsOf(c));
  return confirmed.filter((s) => s <= upTo && !got.has(s));
}

/** Sequence numbers a client received more than once. */
export function duplicates(c: SseClient): number[] {
  const seen = new Set<number>();
  const twice = new Set<number>();
  for (const s of seqsOf(c)) (seen.has(s) ? twice : seen).add(s);
  return [...twice];
}

/** Waits until every client has received sequence number `seq` (a message confirmed after recovery). */
export async function waitAllReceived(
  clients: readonly SseClient[],
  seq: number,
  ms = 30_000,
): Promise<void> {
  for (const [i, c] of clients.entries()) {
    try {
      await waitUntil(() => seqsOf(c).includes(seq), `message ${seq} on stream ${i}`, ms);
    } catch (err) {
      const got = seqsOf(c);
      throw new Error(
        `${(err as Error).message}; it has ${got.length} messages, the last ${JSON.stringify(got.slice(-5))}, ` +
          `errors ${JSON.stringify(c.of('error'))}, missing ${summarise(missingBelow(got, seq))}`,
        { cause: err },
      );
    }
  }
}

function missingBelow(got: readonly number[], seq: number): number[] {
  const have = new Set(got);
  const out: number[] = [];
  for (let s = 1; s < seq; s++) if (!have.has(s)) out.push(s);
  return out;
}

/** A durable topic exchange (it survives a broker restart, as Pulse's do). */
export async function declareDurableExchange(url: string, exchange: string): Promise<void> {
  const conn = await amqp.connect(url);
  try {
    const ch = await conn.createChannel();
    await ch.assertExchange(exchange, 'topic', { durable: true });
  } finally {
    await conn.close();
  }
}

export interface SceneOptions {
  readonly amqpUrl: string;
  readonly redisUrl: string;
  readonly exchange: string;
  readonly env?: Record<string, string>;
}

/**
 * The stage most fault tests need: one ingest and two edges, three open streams (two bindings,
 * on both edges, one binding shared across edges) and a publisher sending a numbered sequence,
 * with every message already flowing to every stream.
 */
export class FaultScene {
  readonly clients: SseClient[] = [];

  private constructor(
    readonly ingest: ServiceProcess,
    readonly edges: readonly [ServiceProcess, ServiceProcess],
    readonly streams: readonly SseClient[],
    readonly publisher: SequencePublisher,
    readonly watch: ProcessWatch,
    private readonly opts: SceneOptions,
  ) {
    this.clients.push(...streams);
  }

  static async start(opts: SceneOptions): Promise<FaultScene> {
    const env = { AMQP_URL: opts.amqpUrl, REDIS_URL: opts.redisUrl, ...opts.env };
    const ingest = await startService('ingest', env);
    const edges = await Promise.all([startService('edge', env), startService('edge', env)]);
    const watch = new ProcessWatch([ingest, ...edges]);
    const open = (edge: ServiceProcess, pattern: string) => openStream(edge, opts.exchange, pattern);
    const streams = [
      await open(edges[0], 'seq.#'),
      await open(edges[1], 'seq.#'),
      await open(edges[0], 'seq.*'),
    ];
    const publisher = SequencePublisher.start(opts.amqpUrl, opts.exchange, 'seq');
    await waitAllReceived(streams, 5);
    return new FaultScene(ingest, [edges[0], edges[1]], streams, publisher, watch, opts);
  }

  get processes(): ServiceProcess[] {
    return [this.ingest, ...this.edges];
  }

  /** Opens one more stream on `edge` and waits for its `ready`. */
  async open(edge: ServiceProcess, pattern: string): Promise<SseClient> {
    const c = await openStream(edge, this.opts.exchange, pattern);
    this.clients.push(c);
    return c;
  }

  /** Every sample of `p` taken between the two times said `ready` (or, with false, not ready). */
  expectReadiness(p: ServiceProcess, ready: boolean, from: number, to: number): void {
    const samples = this.watch.between(p, from, to);
    expect(samples.length, `${p.role} readiness samples`).to.be.greaterThan(3);
    const wrong = samples.filter((s) => s.ready !== ready);
    expect(wrong, `${p.role} /readyz said ${ready ? 'not ready' : 'ready'}`).to.deep.equal([]);
  }

  /** Waits until every process answers /readyz 200 again after `at`; returns when the last did. */
  async waitReadyAgain(at: number, ms = 60_000): Promise<number> {
    let last = at;
    for (const p of this.processes) {
      await waitUntil(() => this.watch.readyAgainAfter(p, at) !== undefined, `${p.role} ready again`, ms);
      last = Math.max(last, this.watch.readyAgainAfter(p, at)!);
    }
    return last;
  }

  async stop(): Promise<void> {
    await this.publisher.stop();
    await this.watch.stop();
    for (const c of this.clients) c.close();
  }
}

async function openStream(edge: ServiceProcess, exchange: string, pattern: string): Promise<SseClient> {
  const c = new SseClient(connectUrl(edge.url(''), { bindings: [{ exchange, routingKeyPattern: pattern }] }));
  await c.waitReady(20_000);
  return c;
}

/** Every confirmed message up to `upTo` reached every stream; repeats only as `redelivered`. */
export function expectNoneLost(
  publisher: SequencePublisher,
  streams: readonly SseClient[],
  upTo: number,
): void {
  const confirmed = publisher.confirmed.map((c) => c.seq);
  for (const [i, c] of streams.entries()) {
    expect(summarise(missing(confirmed, c, upTo)), `stream ${i}: confirmed messages not delivered`).to.equal(
      '[]',
    );
    // A message that was published on the bus but not acked when the fault struck comes again,
    // and the broker flags it.
    const seen = new Set<number>();
    const unflagged: number[] = [];
    for (const m of c.messages<{ payload: { seq: number }; redelivered: boolean }>()) {
      if (seen.has(m.payload.seq) && !m.redelivered) unflagged.push(m.payload.seq);
      seen.add(m.payload.seq);
    }
    expect(unflagged, `stream ${i}: repeats not flagged redelivered`).to.deep.equal([]);
  }
}
