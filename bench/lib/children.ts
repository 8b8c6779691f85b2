/**
 * Every process the benchmark starts goes through here, so all of them are stopped at the end:
 * on success, on error, and on Ctrl-C or SIGTERM of the runner.
 */
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import fs from 'node:fs';

export interface Child {
  readonly name: string;
  readonly process: ChildProcess;
  readonly pid: number;
  /** Resolves with the exit code (or the signal name) once the process has ended. */
  readonly exited: Promise<number | string>;
  isRunning(): boolean;
  /** SIGTERM (or `signal`), then SIGKILL after `graceMs`; resolves when it has exited. */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<number | string>;
}

export interface SpawnOptions {
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  /** stdout and stderr go to this file (appended); otherwise both are pipes the caller must read. */
  readonly logFile?: string;
  /** Keep stdin as a pipe (the C client reads commands from it). */
  readonly stdinPipe?: boolean;
}

const running = new Set<Child>();

export function spawnChild(
  name: string,
  command: string,
  args: readonly string[],
  opts: SpawnOptions = {},
): Child {
  const logFd = opts.logFile ? fs.openSync(opts.logFile, 'a') : undefined;
  const stdio: StdioOptions = [opts.stdinPipe ? 'pipe' : 'ignore', logFd ?? 'pipe', logFd ?? 'pipe'];
  const proc = spawn(command, [...args], { cwd: opts.cwd, env: opts.env ?? process.env, stdio });
  if (logFd !== undefined) fs.closeSync(logFd);
  if (proc.pid === undefined) throw new Error(`could not start ${name}: ${command}`);
  const exited = new Promise<number | string>((resolve) => {
    proc.once('exit', (code, signal) => {
      running.delete(child);
      resolve(code ?? signal ?? 'unknown');
    });
  });
  const child: Child = {
    name,
    process: proc,
    pid: proc.pid,
    exited,
    isRunning: () => proc.exitCode === null && proc.signalCode === null,
    stop: async (signal = 'SIGTERM', graceMs = 10_000) => {
      if (child.isRunning()) proc.kill(signal);
      const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
  running.add(child);
  return child;
}

/** Stops every child still running, politely first. */
export async function stopAllChildren(graceMs = 10_000): Promise<void> {
  await Promise.all([...running].map((c) => c.stop('SIGTERM', graceMs)));
}

let guarded = false;

/**
 * Makes sure no child outlives the runner: SIGKILL on exit, and a clean stop (then exit) on
 * SIGINT/SIGTERM. A second Ctrl-C kills at once.
 */
export function guardChildren(): void {
  if (guarded) return;
  guarded = true;
  process.on('exit', () => {
    for (const c of running) c.process.kill('SIGKILL');
  });
  let interrupted = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupted) process.exit(130);
    interrupted = true;
    process.stderr.write(`\n${signal}: stopping ${running.size} child process(es)…\n`);
    void stopAllChildren(3000).finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}
