/**
 * The C epoll client (`bench/client/sse-client.c`): compiled once into `.tmp/bench/`, run as shards of
 * at most {@link MAX_CONNS_PER_SHARD} connections (one process holds about 19,980 sockets), each
 * shard from its own 127.<net>.x.y source addresses.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { spawnChild, type Child } from './children.js';
import { mergeHistograms, type HistogramJson } from './histogram.js';
import { JsonLines } from './json-lines.js';
import { BENCH_DIR, TMP_DIR } from './paths.js';

export const MAX_CONNS_PER_SHARD = 9_500;

/** One report line of the C client (see the header of sse-client.c). */
export interface ClientReport {
  readonly reason: 'settled' | 'request' | 'final';
  readonly elapsedMs: number;
  readonly intervalMs: number;
  readonly conns: number;
  readonly opened: number;
  readonly open: number;
  readonly readyNow: number;
  readonly connected: number;
  readonly connectFailed: number;
  readonly httpOk: number;
  readonly httpBad: number;
  readonly lastStatus: number;
  readonly ready: number;
  readonly errorEvents: number;
  readonly pings: number;
  readonly closedBeforeReady: number;
  readonly closedAfterReady: number;
  readonly messages: number;
  readonly intervalMessages: number;
  readonly bytes: number;
  readonly inOrder: number;
  readonly duplicates: number;
  readonly gaps: number;
  readonly missing: number;
  readonly badFrames: number;
  /** Lowest / highest next expected seq over connections that got `ready` (-1: none). */
  readonly nextSeqMin: number;
  readonly nextSeqMax: number;
  /** Reconnect mode: new connections opened after a stream ended or an attempt failed. */
  readonly reconnects: number;
  /** Reconnect mode: reconnected streams that got `ready`. */
  readonly reconnectReady: number;
  /** Reconnect mode: streams whose first message showed that one published after `ready` was lost. */
  readonly lostAfterReady: number;
  /** Reconnect mode: connections waiting for their reconnect delay (a gauge). */
  readonly waitingReconnect: number;
  /** Reconnect mode: open reconnected streams that got `ready` but no message yet (left out of nextSeq*). */
  readonly readyWithoutMessage: number;
  /** CLOCK_MONOTONIC (ns, as a decimal string's number) at the report, first and last `ready` (0: none). */
  readonly nowNs: number;
  readonly firstReadyNs: number;
  readonly lastReadyNs: number;
  /** Reconnect mode: CLOCK_MONOTONIC (ns) of the first and last end of a ready stream (0: none). */
  readonly firstEndNs: number;
  readonly lastEndNs: number;
  /** Reconnect mode: reconnected streams already ready when the last stream ended. */
  readonly reconnectReadyAtLastEnd: number;
  /** Sum over connections of the next seq each expects (with a count per key: what they received in order). */
  readonly nextSeqSum: number;
  /** Resume mode: `gap` events received. */
  readonly gapEvents: number;
  /** Resume mode: `message` cursors not after the previous id (a repeat or a step back). */
  readonly cursorRegressions: number;
  /** Resume mode: ids neither `-` nor a cursor. */
  readonly badIds: number;
  /** `retry:` fields received (each v2 stream starts with one). */
  readonly retryFields: number;
  /** 200 responses that ended before any event (a draining edge's answer to a v2 connect). */
  readonly retryOnly: number;
  /** Reconnects whose phase had no origin yet (a harness bug if not 0). */
  readonly phaseUnattributed: number;
  readonly firstError: string;
  readonly latencyUs: HistogramJson;
  readonly intervalLatencyUs: HistogramJson;
  readonly readyUs: HistogramJson;
  /** Reconnect mode: from a stream's end to the `ready` of its replacement. */
  readonly reconnectUs: HistogramJson;
  /**
   * Per phase (see {@link ClientGroup.startPhase}): ready streams that ended in it, and for each
   * replacement that got `ready`, the time from the phase's origin.
   */
  readonly phases: readonly PhaseReport[];
}

export interface PhaseReport {
  readonly phase: number;
  readonly ends: number;
  /** 200 responses in the phase that ended before any event. */
  readonly retryOnly: number;
  readonly backUs: HistogramJson;
}

let compiled: string | undefined;

/** Compiles the client if the binary is missing or older than its source; returns its path. */
export function compileClient(): string {
  if (compiled) return compiled;
  const source = path.join(BENCH_DIR, 'client', 'sse-client.c');
  const binary = path.join(TMP_DIR, 'sse-client');
  fs.mkdirSync(TMP_DIR, { recursive: true });
  const stale = !fs.existsSync(binary) || fs.statSync(binary).mtimeMs < fs.statSync(source).mtimeMs;
  if (stale) execFileSync('gcc', ['-O2', '-Wall', '-o', binary, source], { stdio: 'inherit' });
  compiled = binary;
  return binary;
}

let nextSourceNet = 1;

/** A distinct 127.<net>.0.0/16 source range per shard, reused after 254. */
function takeSourceNet(): number {
  const net = nextSourceNet;
  nextSourceNet = (nextSourceNet % 254) + 1;
  return net;
}

export interface ShardOptions {
  readonly port: number;
  /** Request path and query; every `__I__` becomes the connection's index. */
  readonly path: string;
  readonly conns: number;
  readonly indexOffset?: number;
  /** Connections opened per second (0: as fast as `maxPending` allows). */
  readonly connectRate?: number;
  /** Connections in flight (not yet `ready`) at most. */
  readonly maxPending?: number;
  /** A file of paths, one a line, instead of `path`: connection i uses line i % lines. */
  readonly pathsFile?: string;
  /** Reconnect mode: where a connection goes when its stream ends (see sse-client.c). */
  readonly reconnectPorts?: readonly number[];
  /** Reconnect mode: each reconnect waits a random 0..this many ms (resume mode: only without `retry:`). */
  readonly reconnectJitterMs?: number;
  /**
   * Load-balancer mode: every connection goes to the next of these ports, round robin, like a
   * Kubernetes Service over its ready endpoints; {@link ClientShard.setEndpoints} changes them.
   * Implies reconnect mode; `port` is then ignored.
   */
  readonly endpoints?: readonly number[];
  /** Resume mode (v2): Last-Event-ID and the `retry:` delay on reconnect, one sequence across reconnects. */
  readonly resume?: boolean;
}

/** The answer to an "a<n>" command: every command before it has been applied. */
interface AckLine {
  readonly reason: 'ack';
  readonly token: number;
}

export class ClientShard {
  private readonly reports: JsonLines<ClientReport | AckLine>;
  private acks = 0;

  private constructor(
    readonly child: Child,
    readonly options: ShardOptions,
  ) {
    this.reports = new JsonLines<ClientReport | AckLine>(child);
  }

  static start(options: ShardOptions): ClientShard {
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
      String(takeSourceNet()),
      '--connect-rate',
      String(options.connectRate ?? 0),
      '--max-pending',
      String(options.maxPending ?? 256),
      ...(options.pathsFile ? ['--paths-file', options.pathsFile] : []),
      ...(options.reconnectPorts && options.reconnectPorts.length > 0
        ? [
            '--reconnect-ports',
            options.reconnectPorts.join(','),
            '--reconnect-jitter-ms',
            String(options.reconnectJitterMs ?? 0),
          ]
        : []),
      ...(options.endpoints && options.endpoints.length > 0
        ? [
            '--endpoints',
            options.endpoints.join(','),
            '--reconnect-jitter-ms',
            String(options.reconnectJitterMs ?? 0),
          ]
        : []),
      ...(options.resume ? ['--resume', '1'] : []),
    ];
    const child = spawnChild('sse-client', compileClient(), args, { stdinPipe: true });
    return new ClientShard(child, options);
  }

  get pid(): number {
    return this.child.pid;
  }

  private async next(reason: ClientReport['reason'], from: number, timeoutMs: number): Promise<ClientReport> {
    const line = await this.reports.next((r) => r.reason === reason, from, timeoutMs, `a "${reason}" report`);
    return line as ClientReport;
  }

  /** Waits until every connection is ready or has failed. */
  settled(timeoutMs: number): Promise<ClientReport> {
    return this.next('settled', 0, timeoutMs);
  }

  /** Asks for a report now (the interval figures restart). */
  report(timeoutMs = 10_000): Promise<ClientReport> {
    const from = this.reports.lines.length;
    this.child.process.stdin!.write('r\n');
    return this.next('request', from, timeoutMs);
  }

  /** Sends one command line (see sse-client.c) without waiting. */
  command(line: string): void {
    this.child.process.stdin!.write(`${line}\n`);
  }

  /** Sends a command and resolves once the client has applied it (without a report). */
  private async applied(line: string, timeoutMs = 10_000): Promise<void> {
    const token = ++this.acks;
    const from = this.reports.lines.length;
    this.command(`${line}\na${token}`);
    await this.reports.next(
      (r) => r.reason === 'ack' && r.token === token,
      from,
      timeoutMs,
      `the ack of "${line}"`,
    );
  }

  /** Load-balancer mode: new connections go to these ports from now on (applied once this resolves). */
  setEndpoints(ports: readonly number[]): Promise<void> {
    return this.applied(`e${ports.join(',')}`);
  }

  /** Starts phase `k` (1..15): ready streams that end from now on count in it (applied once this resolves). */
  startPhase(k: number): Promise<void> {
    return this.applied(`p${k}`);
  }

  /** Sets phase `k`'s origin (CLOCK_MONOTONIC ns: `process.hrtime.bigint()`), e.g. the SIGTERM's time. */
  setPhaseOrigin(k: number, ns: bigint): void {
    this.command(`t${k} ${ns}`);
  }

  /** Closes every connection, returns the final report, and waits for the process to exit. */
  async finish(timeoutMs = 20_000): Promise<ClientReport> {
    const from = this.reports.lines.length;
    if (this.child.isRunning()) this.child.process.stdin!.end('q\n');
    const final = await this.next('final', from, timeoutMs);
    await this.child.stop('SIGTERM', 5000);
    return final;
  }
}

/** Several shards as one: spreads `conns` over shards and merges their reports. */
export class ClientGroup {
  private constructor(readonly shards: readonly ClientShard[]) {}

  /**
   * Starts ceil(conns / perShard) shards; connection indexes run 0..conns-1 across them (plus
   * `indexOffset`), and shard i connects to `ports[i % ports.length]`.
   */
  static start(
    options: Omit<ShardOptions, 'port'> & { ports: readonly number[]; perShard?: number },
  ): ClientGroup {
    const perShard = Math.min(options.perShard ?? MAX_CONNS_PER_SHARD, MAX_CONNS_PER_SHARD);
    const count = Math.max(1, Math.ceil(options.conns / perShard));
    const shards: ClientShard[] = [];
    let offset = options.indexOffset ?? 0;
    for (let i = 0; i < count; i++) {
      const conns = Math.floor(options.conns / count) + (i < options.conns % count ? 1 : 0);
      const rate = options.connectRate ? options.connectRate / count : 0;
      shards.push(
        ClientShard.start({
          ...options,
          port: options.ports[i % options.ports.length]!,
          conns,
          indexOffset: offset,
          connectRate: rate,
        }),
      );
      offset += conns;
    }
    return new ClientGroup(shards);
  }

  get pids(): Record<string, number> {
    return Object.fromEntries(this.shards.map((s, i) => [`client${i}`, s.pid]));
  }

  async settled(timeoutMs: number): Promise<ClientReport> {
    return mergeReports(await Promise.all(this.shards.map((s) => s.settled(timeoutMs))));
  }

  async report(): Promise<ClientReport> {
    return mergeReports(await Promise.all(this.shards.map((s) => s.report())));
  }

  async finish(): Promise<ClientReport> {
    return mergeReports(await Promise.all(this.shards.map((s) => s.finish())));
  }

  async setEndpoints(ports: readonly number[]): Promise<void> {
    await Promise.all(this.shards.map((s) => s.setEndpoints(ports)));
  }

  async startPhase(k: number): Promise<void> {
    await Promise.all(this.shards.map((s) => s.startPhase(k)));
  }

  setPhaseOrigin(k: number, ns: bigint): void {
    for (const s of this.shards) s.setPhaseOrigin(k, ns);
  }
}

const SUMMED = [
  'conns',
  'opened',
  'open',
  'readyNow',
  'connected',
  'connectFailed',
  'httpOk',
  'httpBad',
  'ready',
  'errorEvents',
  'pings',
  'closedBeforeReady',
  'closedAfterReady',
  'messages',
  'intervalMessages',
  'bytes',
  'inOrder',
  'duplicates',
  'gaps',
  'missing',
  'badFrames',
  'reconnects',
  'reconnectReady',
  'lostAfterReady',
  'waitingReconnect',
  'readyWithoutMessage',
  'reconnectReadyAtLastEnd',
  'nextSeqSum',
  'gapEvents',
  'cursorRegressions',
  'badIds',
  'retryFields',
  'retryOnly',
  'phaseUnattributed',
] as const;

function mergePhases(reports: readonly ClientReport[]): PhaseReport[] {
  const byPhase = new Map<number, PhaseReport[]>();
  for (const r of reports)
    for (const p of r.phases) byPhase.set(p.phase, [...(byPhase.get(p.phase) ?? []), p]);
  return [...byPhase.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([phase, list]) => ({
      phase,
      ends: list.reduce((sum, p) => sum + p.ends, 0),
      retryOnly: list.reduce((sum, p) => sum + p.retryOnly, 0),
      backUs: mergeHistograms(list.map((p) => p.backUs)),
    }));
}

export function mergeReports(reports: readonly ClientReport[]): ClientReport {
  const first = reports[0];
  if (!first) throw new Error('no client reports to merge');
  const sums = Object.fromEntries(SUMMED.map((k) => [k, reports.reduce((s, r) => s + r[k], 0)]));
  const withReady = reports.filter((r) => r.nextSeqMin >= 0);
  return {
    ...first,
    ...sums,
    elapsedMs: Math.max(...reports.map((r) => r.elapsedMs)),
    intervalMs: Math.max(...reports.map((r) => r.intervalMs)),
    nextSeqMin: withReady.length ? Math.min(...withReady.map((r) => r.nextSeqMin)) : -1,
    nextSeqMax: withReady.length ? Math.max(...withReady.map((r) => r.nextSeqMax)) : -1,
    nowNs: Math.max(...reports.map((r) => r.nowNs)),
    firstReadyNs: Math.min(...reports.map((r) => r.firstReadyNs || Infinity)) || 0,
    lastReadyNs: Math.max(...reports.map((r) => r.lastReadyNs)),
    firstEndNs: Math.min(...reports.map((r) => r.firstEndNs || Infinity)) || 0,
    lastEndNs: Math.max(...reports.map((r) => r.lastEndNs)),
    firstError: reports.find((r) => r.firstError)?.firstError ?? '',
    latencyUs: mergeHistograms(reports.map((r) => r.latencyUs)),
    intervalLatencyUs: mergeHistograms(reports.map((r) => r.intervalLatencyUs)),
    readyUs: mergeHistograms(reports.map((r) => r.readyUs)),
    reconnectUs: mergeHistograms(reports.map((r) => r.reconnectUs)),
    phases: mergePhases(reports),
  } as ClientReport;
}
