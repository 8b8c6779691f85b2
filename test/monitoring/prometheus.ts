/**
 * A private Prometheus for the monitoring tests: Debian's `prometheus` binary started on a free
 * port with its own config and data directory (never the system service), its HTTP API, and
 * `promtool`. Both binaries come from `apt-get install prometheus`, which
 * `bash scripts/services.sh --for-tests` runs when they are missing.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { stringify as toYaml } from 'yaml';
import { freePort } from '../support/processes.js';

export const INSTALL_HINT =
  "run `bash scripts/services.sh --for-tests` (it installs Debian's prometheus package, which ships promtool), " +
  'or `apt-get install -y --no-install-recommends prometheus`';

/** The path of `prometheus` or `promtool` ($PROMETHEUS_BIN / $PROMTOOL_BIN, else $PATH); throws how to install it. */
export function findTool(name: 'prometheus' | 'promtool'): string {
  const envName = name === 'prometheus' ? 'PROMETHEUS_BIN' : 'PROMTOOL_BIN';
  const fromEnv = process.env[envName];
  const candidates = fromEnv
    ? [fromEnv]
    : [...(process.env.PATH ?? '').split(path.delimiter).filter(Boolean), '/usr/bin'].map((d) =>
        path.join(d, name),
      );
  for (const c of candidates) {
    try {
      accessSync(c, constants.X_OK);
      return c;
    } catch {
      // not here
    }
  }
  throw new Error(
    fromEnv
      ? `${envName}=${fromEnv} is not an executable: fix ${envName}, or unset it and ${INSTALL_HINT}`
      : `${name} not found on PATH: ${INSTALL_HINT}`,
  );
}

/** Runs promtool; resolves with its output and exit code (it does not throw on a non-zero exit). */
export function promtool(args: readonly string[], cwd?: string): Promise<{ code: number; output: string }> {
  const bin = findTool('promtool');
  return new Promise((resolve) => {
    execFile(bin, [...args], { cwd, encoding: 'utf8' }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, output: `${stdout}${stderr}` });
    });
  });
}

export type Labels = Record<string, string>;
export interface VectorSample {
  metric: Labels;
  value: [number, string];
}
export interface MatrixSeries {
  metric: Labels;
  values: [number, string][];
}
export type QueryData =
  | { resultType: 'vector'; result: VectorSample[] }
  | { resultType: 'matrix'; result: MatrixSeries[] }
  | { resultType: 'scalar' | 'string'; result: [number, string] };

export interface RuleState {
  name: string;
  type: 'alerting' | 'recording';
  query: string;
  health: string;
  lastError?: string;
  state?: string;
  alerts?: { labels: Labels; state: string; value: string }[];
}

export interface StaticTarget {
  /** host:port of the /metrics endpoint. */
  readonly target: string;
  /** Labels Prometheus adds to every series of the target (as Kubernetes SD relabelling would). */
  readonly labels: Labels;
}

export interface PrometheusOptions {
  /** Scrape jobs: job name → targets. */
  readonly jobs: Record<string, readonly StaticTarget[]>;
  /** Rule files' contents (Prometheus rule file format), written next to the config. */
  readonly ruleFiles?: Record<string, unknown>;
  readonly intervalSeconds?: number;
}

/** A number from a Prometheus sample value ("NaN", "+Inf" included). */
export const num = (v: string): number => Number(v.replace(/^\+/, ''));

export class Prometheus {
  private constructor(
    readonly url: string,
    readonly dir: string,
    private readonly child: ChildProcess,
    private readonly exited: Promise<number | null>,
    readonly output: () => string,
  ) {}

  static async start(opts: PrometheusOptions): Promise<Prometheus> {
    const bin = findTool('prometheus');
    const dir = mkdtempSync(path.join(os.tmpdir(), 'events-proxy-prometheus-'));
    const interval = `${opts.intervalSeconds ?? 1}s`;
    const ruleFiles = Object.entries(opts.ruleFiles ?? {}).map(([name, content]) => {
      const file = path.join(dir, name);
      writeFileSync(file, toYaml(content));
      return file;
    });
    const config = {
      global: { scrape_interval: interval, scrape_timeout: interval, evaluation_interval: interval },
      rule_files: ruleFiles,
      scrape_configs: Object.entries(opts.jobs).map(([job, targets]) => ({
        job_name: job,
        static_configs: targets.map((t) => ({ targets: [t.target], labels: t.labels })),
      })),
    };
    writeFileSync(path.join(dir, 'prometheus.yml'), toYaml(config));
    const port = await freePort();
    const child = spawn(
      bin,
      [
        `--config.file=${path.join(dir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${path.join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--log.level=warn',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => {
      child.once('exit', (code) => resolve(code));
      child.once('error', (err) => {
        out += String(err);
        resolve(-1);
      });
    });
    const prom = new Prometheus(`http://127.0.0.1:${port}`, dir, child, exited, () => out);
    let gone = false;
    void exited.then(() => (gone = true));
    const deadline = Date.now() + 20_000;
    for (;;) {
      if (gone) {
        rmSync(dir, { recursive: true, force: true });
        throw new Error(`prometheus exited before it was ready:\n${out}`);
      }
      const ready = await fetch(`${prom.url}/-/ready`).then(
        (r) => r.ok,
        () => false,
      );
      if (ready) return prom;
      if (Date.now() > deadline) {
        await prom.stop();
        throw new Error(`prometheus was not ready within 20 s:\n${out}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await this.exited;
    clearTimeout(timer);
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** GET one API endpoint; throws with Prometheus's error (and the parameters) when it fails. */
  async api<T>(endpoint: string, params: Record<string, string | string[]> = {}): Promise<T> {
    const qs = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) for (const one of [v].flat()) qs.append(k, one);
    const res = await fetch(`${this.url}/api/v1/${endpoint}?${qs.toString()}`);
    const text = await res.text();
    let json: { status?: string; data?: T; error?: string; errorType?: string };
    try {
      json = JSON.parse(text) as typeof json;
    } catch {
      throw new Error(`Prometheus ${endpoint} answered HTTP ${res.status}: ${text}`);
    }
    if (json.status !== 'success') {
      throw new Error(
        `Prometheus ${endpoint} failed (${json.errorType ?? res.status}): ${json.error ?? ''}\n  ${JSON.stringify(params)}`,
      );
    }
    return json.data as T;
  }

  /** An instant query, at `time` (seconds) or now. */
  async query(expr: string, time?: number): Promise<QueryData> {
    return this.api<QueryData>('query', {
      query: expr,
      ...(time === undefined ? {} : { time: String(time) }),
    });
  }

  /** An instant query that must return a vector. */
  async vector(expr: string, time?: number): Promise<VectorSample[]> {
    const data = await this.query(expr, time);
    if (data.resultType !== 'vector') throw new Error(`${expr}: expected a vector, got ${data.resultType}`);
    return data.result;
  }

  async queryRange(expr: string, start: number, end: number, step: number): Promise<MatrixSeries[]> {
    const data = await this.api<QueryData>('query_range', {
      query: expr,
      start: String(start),
      end: String(end),
      step: String(step),
    });
    if (data.resultType !== 'matrix') throw new Error(`${expr}: expected a matrix, got ${data.resultType}`);
    return data.result;
  }

  /** /api/v1/series: the label sets of the series matching `match`. */
  async series(match: string, start?: number, end?: number): Promise<Labels[]> {
    return this.api<Labels[]>('series', {
      'match[]': match,
      ...(start === undefined ? {} : { start: String(start) }),
      ...(end === undefined ? {} : { end: String(end) }),
    });
  }

  /** /api/v1/label/<name>/values, optionally limited to the series matching `match`. */
  async labelValues(label: string, match?: string): Promise<string[]> {
    return this.api<string[]>(
      `label/${encodeURIComponent(label)}/values`,
      match === undefined ? {} : { 'match[]': match },
    );
  }

  async rules(): Promise<RuleState[]> {
    const data = await this.api<{ groups: { rules: RuleState[] }[] }>('rules');
    return data.groups.flatMap((g) => g.rules);
  }

  /**
   * Polls `read` until `ok` holds for its result; fails after `ms` with `what` and the last result,
   * so a query that never returns the expected value says what it returned instead.
   */
  async waitFor<T>(what: string, read: () => Promise<T>, ok: (v: T) => boolean, ms = 15_000): Promise<T> {
    const deadline = Date.now() + ms;
    let last: T | undefined;
    let lastError: unknown;
    for (;;) {
      try {
        last = await read();
        lastError = undefined;
        if (ok(last)) return last;
      } catch (err) {
        lastError = err;
      }
      if (Date.now() > deadline) {
        const got = lastError === undefined ? JSON.stringify(last) : String(lastError);
        throw new Error(`timed out after ${ms} ms waiting for ${what}; last result: ${got}`);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

/** A vector's samples by the value of one label, e.g. byLabel(samples, 'pod'). */
export function byLabel(samples: readonly VectorSample[], label: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of samples) out[s.metric[label] ?? ''] = num(s.value[1]);
  return out;
}
