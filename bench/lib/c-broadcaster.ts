/**
 * The C reference broadcaster (`bench/reference/broadcaster.c`): compiled on first use into
 * `.tmp/bench/`, like the C clients, with the warnings on (it must build without one).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { BENCH_DIR, TMP_DIR } from './paths.js';

let compiled: string | undefined;

/** Compiles the broadcaster if the binary is missing or older than its source; returns its path. */
export function compileCBroadcaster(): string {
  if (compiled) return compiled;
  const source = path.join(BENCH_DIR, 'reference', 'broadcaster.c');
  const binary = path.join(TMP_DIR, 'broadcaster-c');
  fs.mkdirSync(TMP_DIR, { recursive: true });
  const stale = !fs.existsSync(binary) || fs.statSync(binary).mtimeMs < fs.statSync(source).mtimeMs;
  if (stale) execFileSync('gcc', ['-O2', '-Wall', '-Wextra', '-o', binary, source], { stdio: 'inherit' });
  compiled = binary;
  return binary;
}
