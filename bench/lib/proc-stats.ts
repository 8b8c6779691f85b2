/** CPU time and memory of processes, read from /proc (Linux). */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';

let clockTicks: number | undefined;

/** Kernel clock ticks per second (USER_HZ) for /proc/<pid>/stat times. */
function ticksPerSecond(): number {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

/**
 * User and system CPU seconds used so far by the process, every thread (utime and stime of
 * /proc/<pid>/stat, in clock ticks: their sum is the process's run time to a tick, split by how the
 * ticks fell); its reaped children not counted.
 */
export function cpuTimes(pid: number): { readonly user: number; readonly system: number } | undefined {
  let stat: string;
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return undefined;
  }
  // The command name (field 2) may contain spaces and parentheses: fields are counted after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const hz = ticksPerSecond();
  return { user: Number(fields[11]) / hz, system: Number(fields[12]) / hz };
}

/** User + system CPU seconds used so far by the process (and its reaped children: no). */
export function cpuSeconds(pid: number): number | undefined {
  const t = cpuTimes(pid);
  return t === undefined ? undefined : t.user + t.system;
}

/**
 * CPU seconds run so far by every thread of the process, from /proc/<pid>/task/<tid>/schedstat
 * (nanoseconds, where /proc/<pid>/stat counts 10 ms ticks): for figures over a few thousand events.
 * A thread that exits takes its time with it, so use it over windows in which the threads stay.
 */
export function taskCpuSeconds(pid: number): number | undefined {
  let tasks: string[];
  try {
    tasks = fs.readdirSync(`/proc/${pid}/task`);
  } catch {
    return undefined;
  }
  let ns = 0;
  for (const tid of tasks) {
    try {
      ns += Number(fs.readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'latin1').split(' ', 1)[0]);
    } catch {
      // the thread ended meanwhile
    }
  }
  return ns / 1e9;
}

/** Resident set size in bytes (VmRSS), or undefined once the process is gone. */
export function rssBytes(pid: number): number | undefined {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'latin1');
    const m = /^VmRSS:\s+(\d+) kB/m.exec(status);
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** The first process whose command line contains every one of `parts` (e.g. RabbitMQ's beam.smp). */
export function findPid(parts: readonly string[]): number | undefined {
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = fs.readFileSync(`/proc/${entry}/cmdline`, 'latin1');
      if (parts.every((p) => cmdline.includes(p))) return Number(entry);
    } catch {
      // gone meanwhile
    }
  }
  return undefined;
}

/** CPU seconds the whole machine has been busy (all cores: not idle, not waiting for I/O). */
export function machineBusySeconds(): number {
  const line = fs.readFileSync('/proc/stat', 'latin1').split('\n', 1)[0]!;
  // user nice system idle iowait irq softirq steal
  const ticks = line.trim().split(/\s+/).slice(1, 9).map(Number);
  const busy = ticks.reduce((sum, t, i) => (i === 3 || i === 4 ? sum : sum + t), 0);
  return busy / ticksPerSecond();
}

/** Processes to meter, by the name shown in results. */
export type PidMap = Readonly<Record<string, number>>;

/** CPU used between `start` and `stop`, per process, as a share of one core (1.0 = one full core). */
export class CpuMeter {
  private readonly startedAt = performance.now();
  private readonly before: Map<string, number>;
  private readonly machineBefore = machineBusySeconds();
  private readonly cpuSeconds: (pid: number) => number | undefined;

  /** `precise`: per-thread nanosecond counters (taskCpuSeconds) instead of /proc/<pid>/stat's ticks. */
  constructor(
    private readonly pids: PidMap,
    opts: { readonly precise?: boolean } = {},
  ) {
    this.cpuSeconds = opts.precise ? taskCpuSeconds : cpuSeconds;
    this.before = new Map(Object.entries(pids).map(([name, pid]) => [name, this.cpuSeconds(pid) ?? 0]));
  }

  /** Seconds since construction (wall clock). */
  get wallSeconds(): number {
    return (performance.now() - this.startedAt) / 1000;
  }

  /** CPU seconds the whole machine was busy since construction (all cores, other tenants too). */
  machineSeconds(): number {
    return machineBusySeconds() - this.machineBefore;
  }

  /** Cores used by each process since construction, plus their `total` and the whole `machine`. */
  read(): Record<string, number> {
    const wall = (performance.now() - this.startedAt) / 1000;
    const out: Record<string, number> = {};
    let total = 0;
    for (const [name, pid] of Object.entries(this.pids)) {
      const used = (this.cpuSeconds(pid) ?? this.before.get(name) ?? 0) - (this.before.get(name) ?? 0);
      out[name] = round(used / wall, 3);
      total += used;
    }
    out.total = round(total / wall, 3);
    // Everything busy on the machine, kernel network work and other tenants included.
    out.machine = round((machineBusySeconds() - this.machineBefore) / wall, 3);
    return out;
  }

  /** CPU seconds used by one process since construction. */
  seconds(name: string): number {
    const pid = this.pids[name];
    if (pid === undefined) return 0;
    return (this.cpuSeconds(pid) ?? 0) - (this.before.get(name) ?? 0);
  }
}

export function round(value: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}
