import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root. */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const BENCH_DIR = path.join(ROOT, 'bench');
/** Build output and logs of benchmark runs (gitignored). */
export const TMP_DIR = path.join(ROOT, '.tmp', 'bench');
export const RESULTS_DIR = path.join(BENCH_DIR, 'results');
/**
 * The checkout whose built services (services/<role>/dist) the edge system runs: this one, or
 * BENCH_SERVICES_DIR (another checkout with its own `npm ci` and build), to measure an older commit
 * with today's harness and references (docs/performance.md, "Before and after").
 */
export const SERVICES_ROOT = path.resolve(process.env.BENCH_SERVICES_DIR ?? ROOT);
