/**
 * How the property-based tests run: bounded in runs and in time, seeded, and saying the seed on
 * failure. FC_SEED=<n> replays a failing run; FC_RUNS scales the number of runs.
 */
import fc from 'fast-check';

export const SEED = process.env.FC_SEED === undefined ? Date.now() % 2 ** 31 : Number(process.env.FC_SEED);
const RUNS_SCALE = process.env.FC_RUNS === undefined ? 1 : Number(process.env.FC_RUNS);

export interface Bounds {
  readonly numRuns: number;
  /** Stop generating new runs after this long (what ran must still have passed). */
  readonly timeLimitMs: number;
}

function parameters<T>(bounds: Bounds): fc.Parameters<T> {
  return {
    seed: SEED,
    numRuns: Math.max(1, Math.round(bounds.numRuns * RUNS_SCALE)),
    interruptAfterTimeLimit: bounds.timeLimitMs,
    markInterruptAsFailure: false,
  };
}

function withSeed(err: unknown): Error {
  const text = err instanceof Error ? err.message : String(err);
  return new Error(`property failed with seed ${SEED} (replay: FC_SEED=${SEED}):\n${text}`);
}

export function check<Ts extends [unknown, ...unknown[]]>(property: fc.IProperty<Ts>, bounds: Bounds): void {
  try {
    fc.assert(property, parameters(bounds));
  } catch (err) {
    throw withSeed(err);
  }
}

export async function checkAsync<Ts extends [unknown, ...unknown[]]>(
  property: fc.IAsyncProperty<Ts>,
  bounds: Bounds,
): Promise<void> {
  try {
    await fc.assert(property, parameters(bounds));
  } catch (err) {
    throw withSeed(err);
  }
}
