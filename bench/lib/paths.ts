import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root. */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const BENCH_DIR = path.join(ROOT, 'bench');
/** Build output and logs of benchmark runs (gitignored). */
export const TMP_DIR = path.join(ROOT, '.tmp', 'bench');
export const RESULTS_DIR = path.join(BENCH_DIR, 'results');
