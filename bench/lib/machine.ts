/** Where and on what the figures were taken: they only compare within one machine and run. */
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import { ROOT } from './paths.js';

export interface MachineInfo {
  readonly cpuModel: string;
  readonly cores: number;
  readonly memoryGiB: number;
  readonly node: string;
  readonly os: string;
  readonly hostname: string;
}

export interface CommitInfo {
  readonly commit: string;
  /** True when the working tree had uncommitted changes. */
  readonly dirty: boolean;
}

export function machineInfo(): MachineInfo {
  const cpus = os.cpus();
  return {
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    cores: cpus.length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    os: `${os.type()} ${os.release()}`,
    hostname: os.hostname(),
  };
}

/** The commit checked out in `dir` (this checkout by default), and whether its tree is dirty. */
export function commitInfo(dir = ROOT): CommitInfo {
  const git = (...args: string[]) => execFileSync('git', args, { cwd: dir, encoding: 'utf8' }).trim();
  try {
    return { commit: git('rev-parse', 'HEAD'), dirty: git('status', '--porcelain').length > 0 };
  } catch {
    return { commit: 'unknown', dirty: false };
  }
}
