/**
 * The exact-delivery C client (`bench/client/sse-exact-client.c`): v2 streams through one port (a
 * load balancer), each connection keeping a bitmap of the numbered messages it received, so loss,
 * repeats (and whether they were flagged `redelivered`) and reordering are counted exactly, per
 * connection. Messages and events are sorted into classes by publish time (or event time) through
 * windows the harness announces. Compiled once into `.tmp/bench/`, run as shards of at most
 * {@link MAX_CONNS_PER_SHARD} connections.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { spawnChild, type Child } from './children.js';
import { EMPTY_HISTOGRAM, mergeHistograms, type HistogramJson } from './histogram.js';
import { JsonLines } from './json-lines.js';
import { BENCH_DIR, TMP_DIR } from './paths.js';
import { MAX_CONNS_PER_SHARD } from './sse-clients.js';

/** Classes the client sorts by (class 0: a time in no window). */
export const MAX_CLASSES = 64;

/** What one class (a window of publish times, or of event times) saw. */
export interface ClassReport {
  readonly cls: number;
  /** First copies of messages published in the class's windows, summed over connections. */
  readonly first: number;
  /** Later copies (a connection already had that seq); of them, flagged `"redelivered":true`. */
  readonly duplicates: number;
  readonly dupRedelivered: number;
  /** First copies flagged `redelivered` (a standby ingest published them). */
  readonly firstRedelivered: number;
  /** First copies that arrived after a higher seq on the same connection. */
  readonly reordered: number;
  /** Events that happened (were received) while the class's window was the time. */
  readonly gapEvents: number;
  readonly errorEvents: number;
  /** Ready streams that ended; reconnects opened; non-200 answers; failed connects. */
  readonly ends: number;
  readonly reconnects: number;
  readonly httpBad: number;
  readonly connectFailed: number;
  /** Publish (payload `t`) to receipt of each first copy, µs. */
  readonly latencyUs: HistogramJson;
}

export interface ExactReport {
  readonly reason: 'settled' | 'request' | 'final';
  readonly conns: number;
  readonly opened: number;
  readonly open: number;
  readonly readyNow: number;
  readonly waitingReconnect: number;
  readonly connected: number;
  readonly connectFailed: number;
  readonly httpOk: number;
  readonly httpBad: number;
  readonly lastStatus: number;
  readonly ready: number;
  readonly errorEvents: number;
  readonly gapEvents: number;
  readonly pings: number;
  readonly closedBeforeReady: number;
  readonly closedAfterReady: number;
  readonly messages: number;
  readonly first: number;
  readonly duplicates: number;
  readonly dupRedelivered: number;
  readonly firstRedelivered: number;
  readonly reordered: number;
  readonly bytes: number;
  readonly badFrames: number;
  readonly retryFields: number;
  readonly retryOnly: number;
  readonly reconnects: number;
  readonly reconnectReady: number;
  /** Fewest / most distinct messages one connection received; lowest highest seq received (-1: none). */
  readonly distinctMin: number;
  readonly distinctMax: number;
  readonly maxSeqMin: number;
  readonly firstError: string;
  /** Stream end → `ready` again, µs. */
  readonly reconnectUs: HistogramJson;
  readonly classes: readonly ClassReport[];
  /** Final report only: each connection's first copies per class, as [class, count] pairs. */
  readonly perConn?: readonly (readonly (readonly [cls: number, count: number])[])[];
  /** Final report only: seqs below expectSeqs some connection never got: [seq, connections, first index]. */
  readonly missing?: readonly (readonly [seq: number, connections: number, firstConn: number])[];
  readonly missingSeqs?: number;
  readonly missingTotal?: number;
  readonly expectSeqs?: number;
}

interface AckLine {
  readonly reason: 'ack';
  readonly token: number;
}

let compiled: string | undefined;

/** Compiles the client if the binary is missing or older than its source; returns its path. */
export function compileExactClient(): string {
  if (compiled) return compiled;
  const source = path.join(BENCH_DIR, 'client', 'sse-exact-client.c');
  const binary = path.join(TMP_DIR, 'sse-exact-client');
  fs.mkdirSync(TMP_DIR, { recursive: true });
  const stale = !fs.existsSync(binary) || fs.statSync(binary).mtimeMs < fs.statSync(source).mtimeMs;
  if (stale) execFileSync('gcc', ['-O2', '-Wall', '-o', binary, source], { stdio: 'inherit' });
  compiled = binary;
  return binary;
}

/** Source ranges 127.<net>.0.0/16 distinct from the other client's (which counts up from 1). */
let nextSourceNet = 200;

export interface ExactShardOptions {
  readonly port: number;
  /**
   * Request path and query; every `__I__` becomes the connection's index, every `__G__` its index
   * modulo `groups`.
   */
  readonly path: string;
  /** Groups for `__G__` (default 1). */
  readonly groups?: number;
  readonly conns: number;
  readonly indexOffset?: number;
  /** Connections in flight (not yet `ready`) at most. */
  readonly maxPending?: number;
  /** Reconnect delay when the server sent no `retry:` (random 0..this ms). */
  readonly reconnectJitterMs?: number;
}

export class ExactShard {
  private readonly lines: JsonLines<ExactReport | AckLine>;
  private acks = 0;
  private finished: Promise<ExactReport> | undefined;

  private constructor(
    readonly child: Child,
    readonly options: ExactShardOptions,
  ) {
    this.lines = new JsonLines<ExactReport | AckLine>(child);
  }

  static start(options: ExactShardOptions): ExactShard {
    const net = nextSourceNet;
    nextSourceNet = nextSourceNet >= 254 ? 200 : nextSourceNet + 1;
    const args = [
      '--port',
      String(options.port),
      '--path',
      options.path,
      '--conns',
      String(options.conns),
      '--index-offset',
      String(options.indexOffset ?? 0),
      '--src-net',
      String(net),
      '--max-pending',
      String(options.maxPending ?? 256),
      '--reconnect-jitter-ms',
      String(options.reconnectJitterMs ?? 1000),
      ...(options.groups !== undefined ? ['--groups', String(options.groups)] : []),
    ];
    return new ExactShard(
      spawnChild('sse-exact-client', compileExactClient(), args, { stdinPipe: true }),
      options,
    );
  }

  get pid(): number {
    return this.child.pid;
  }

  private async next(reason: ExactReport['reason'], from: number, timeoutMs: number): Promise<ExactReport> {
    return (await this.lines.next(
      (r) => r.reason === reason,
      from,
      timeoutMs,
      `a "${reason}" report`,
    )) as ExactReport;
  }

  /** Waits until every connection is ready or has failed once. */
  settled(timeoutMs: number): Promise<ExactReport> {
    return this.next('settled', 0, timeoutMs);
  }

  report(timeoutMs = 10_000): Promise<ExactReport> {
    const from = this.lines.lines.length;
    this.child.process.stdin!.write('r\n');
    return this.next('request', from, timeoutMs);
  }

  /** Sends command lines and resolves once the client has applied them. */
  async apply(lines: readonly string[], timeoutMs = 10_000): Promise<void> {
    const token = ++this.acks;
    const from = this.lines.lines.length;
    this.child.process.stdin!.write(`${lines.map((l) => `${l}\n`).join('')}a${token}\n`);
    await this.lines.next(
      (r) => r.reason === 'ack' && r.token === token,
      from,
      timeoutMs,
      `the ack of ${lines.length} command(s)`,
    );
  }

  /**
   * Closes every connection; the final report lists what connections missed below `expectSeqs`.
   * Called again, it returns the same report.
   */
  finish(expectSeqs: number, timeoutMs = 60_000): Promise<ExactReport> {
    this.finished ??= (async () => {
      const from = this.lines.lines.length;
      if (this.child.isRunning()) this.child.process.stdin!.end(`n${expectSeqs}\nq\n`);
      try {
        return await this.next('final', from, timeoutMs);
      } finally {
        await this.child.stop('SIGTERM', 5000);
      }
    })();
    return this.finished;
  }
}

/** Connections spread over shards, reported as one. */
export class ExactGroup {
  private constructor(readonly shards: readonly ExactShard[]) {}

  /**
   * `ports`: several load balancers (each a process, as kube-proxy on several nodes); the shards
   * take them in turn, at least one shard each. Default: `port` alone.
   */
  static start(
    options: ExactShardOptions & { readonly perShard?: number; readonly ports?: readonly number[] },
  ): ExactGroup {
    const perShard = Math.min(options.perShard ?? MAX_CONNS_PER_SHARD, MAX_CONNS_PER_SHARD);
    const ports = options.ports && options.ports.length > 0 ? options.ports : [options.port];
    const count = Math.max(1, Math.ceil(options.conns / perShard), Math.min(ports.length, options.conns));
    const shards: ExactShard[] = [];
    let offset = options.indexOffset ?? 0;
    for (let i = 0; i < count; i++) {
      const conns = Math.floor(options.conns / count) + (i < options.conns % count ? 1 : 0);
      shards.push(
        ExactShard.start({ ...options, port: ports[i % ports.length]!, conns, indexOffset: offset }),
      );
      offset += conns;
    }
    return new ExactGroup(shards);
  }

  get pids(): Record<string, number> {
    return Object.fromEntries(this.shards.map((s, i) => [`client${i}`, s.pid]));
  }

  async settled(timeoutMs: number): Promise<ExactReport> {
    return mergeExactReports(await Promise.all(this.shards.map((s) => s.settled(timeoutMs))));
  }

  async report(): Promise<ExactReport> {
    return mergeExactReports(await Promise.all(this.shards.map((s) => s.report())));
  }

  /** Labels publish times (and event times) in [startNs, endNs) with `cls` (1..63). */
  async windows(list: readonly { cls: number; startNs: bigint; endNs: bigint }[]): Promise<void> {
    for (const w of list)
      if (w.cls < 1 || w.cls >= MAX_CLASSES)
        throw new Error(`window class ${w.cls} out of 1..${MAX_CLASSES - 1}`);
    const lines = list.map((w) => `w${w.cls} ${w.startNs} ${w.endNs}`);
    await Promise.all(this.shards.map((s) => s.apply(lines)));
  }

  async finish(expectSeqs: number): Promise<ExactReport> {
    return mergeExactReports(await Promise.all(this.shards.map((s) => s.finish(expectSeqs))));
  }
}

const SUMMED = [
  'conns',
  'opened',
  'open',
  'readyNow',
  'waitingReconnect',
  'connected',
  'connectFailed',
  'httpOk',
  'httpBad',
  'ready',
  'errorEvents',
  'gapEvents',
  'pings',
  'closedBeforeReady',
  'closedAfterReady',
  'messages',
  'first',
  'duplicates',
  'dupRedelivered',
  'firstRedelivered',
  'reordered',
  'bytes',
  'badFrames',
  'retryFields',
  'retryOnly',
  'reconnects',
  'reconnectReady',
] as const;

const CLASS_SUMMED = [
  'first',
  'duplicates',
  'dupRedelivered',
  'firstRedelivered',
  'reordered',
  'gapEvents',
  'errorEvents',
  'ends',
  'reconnects',
  'httpBad',
  'connectFailed',
] as const;

export function emptyClass(cls: number): ClassReport {
  return {
    cls,
    first: 0,
    duplicates: 0,
    dupRedelivered: 0,
    firstRedelivered: 0,
    reordered: 0,
    gapEvents: 0,
    errorEvents: 0,
    ends: 0,
    reconnects: 0,
    httpBad: 0,
    connectFailed: 0,
    latencyUs: EMPTY_HISTOGRAM,
  };
}

/** Sums classes (of one class over shards, or several classes into one). */
export function mergeClasses(cls: number, list: readonly ClassReport[]): ClassReport {
  const out: Record<string, unknown> = { ...emptyClass(cls) };
  for (const k of CLASS_SUMMED) out[k] = list.reduce((s, c) => s + c[k], 0);
  out.latencyUs = mergeHistograms(list.map((c) => c.latencyUs));
  return out as unknown as ClassReport;
}

export function mergeExactReports(reports: readonly ExactReport[]): ExactReport {
  const first = reports[0];
  if (!first) throw new Error('no client reports to merge');
  if (reports.length === 1) return first;
  const sums = Object.fromEntries(SUMMED.map((k) => [k, reports.reduce((s, r) => s + r[k], 0)]));
  const byClass = new Map<number, ClassReport[]>();
  for (const r of reports) for (const c of r.classes) byClass.set(c.cls, [...(byClass.get(c.cls) ?? []), c]);
  const finals = reports.every((r) => r.perConn !== undefined);
  const missing = new Map<number, [number, number, number]>();
  if (finals)
    for (const r of reports)
      for (const [seq, n, firstConn] of r.missing ?? []) {
        const m = missing.get(seq);
        if (m) m[1] += n;
        else missing.set(seq, [seq, n, firstConn]);
      }
  return {
    ...first,
    ...sums,
    distinctMin: Math.min(...reports.map((r) => r.distinctMin)),
    distinctMax: Math.max(...reports.map((r) => r.distinctMax)),
    maxSeqMin: Math.min(...reports.map((r) => r.maxSeqMin)),
    firstError: reports.find((r) => r.firstError)?.firstError ?? '',
    reconnectUs: mergeHistograms(reports.map((r) => r.reconnectUs)),
    classes: [...byClass.entries()].sort((a, b) => a[0] - b[0]).map(([cls, list]) => mergeClasses(cls, list)),
    ...(finals
      ? {
          perConn: reports.flatMap((r) => r.perConn!),
          missing: [...missing.values()].sort((a, b) => a[0] - b[0]),
          missingSeqs: missing.size,
          missingTotal: reports.reduce((s, r) => s + (r.missingTotal ?? 0), 0),
        }
      : {}),
  } as ExactReport;
}
