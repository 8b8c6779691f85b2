/**
 * Runs the real service processes (built `dist/` entry points) for cross-process tests, and
 * stops them afterwards. Each gets free ports and its output kept for failure messages.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../../bench/lib/free-port.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export type Role = 'ingest' | 'edge' | 'single-node';

export interface ServiceProcess {
  readonly role: Role;
  readonly port: number;
  readonly metricsPort: number;
  readonly child: ChildProcess;
  /** Everything the process printed so far. */
  output(): string;
  /** JSON log lines printed so far. */
  logs(): Record<string, unknown>[];
  url(pathAndQuery: string): string;
  metrics(): Promise<string>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export { freePort };

const running = new Set<ServiceProcess>();

export async function startService(
  role: Role,
  env: Record<string, string>,
  opts: { waitReady?: boolean; port?: number } = {},
): Promise<ServiceProcess> {
  const port = opts.port ?? (await freePort());
  const metricsPort = await freePort();
  const entry = path.join(ROOT, 'services', role, 'dist', 'main.js');
  const child = spawn(process.execPath, [entry], {
    cwd: ROOT,
    env: {
      ...process.env,
      LOG_LEVEL: 'debug',
      ...env,
      PORT: String(port),
      METRICS_PORT: String(metricsPort),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

  const proc: ServiceProcess = {
    role,
    port,
    metricsPort,
    child,
    output: () => out,
    logs: () =>
      out
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>),
    url: (p) => `http://127.0.0.1:${port}${p}`,
    metrics: async () => (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text(),
    stop: async (signal = 'SIGTERM') => {
      running.delete(proc);
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
  running.add(proc);
  if (opts.waitReady !== false) await waitReady(proc, exited);
  return proc;
}

async function waitReady(proc: ServiceProcess, exited: Promise<number | null>): Promise<void> {
  let done = false;
  void exited.then(() => (done = true));
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if (done) throw new Error(`${proc.role} exited before it was ready:\n${proc.output()}`);
    try {
      const res = await fetch(`http://127.0.0.1:${proc.metricsPort}/readyz`);
      if (res.status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${proc.role} was not ready within 20 s:\n${proc.output()}`);
}

/** Stops every process still running (for after() hooks). */
export async function stopAll(): Promise<void> {
  await Promise.all([...running].map((p) => p.stop()));
}

export function randomId(): string {
  return Math.random().toString(36).slice(2, 10);
}
