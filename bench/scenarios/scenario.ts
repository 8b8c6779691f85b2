/** The shape of a benchmark scenario, and helpers they share. */
import { TARGET_KINDS, type BenchContext, type TargetKind } from '../lib/context.js';
import type { ScenarioResult } from '../lib/results.js';
import { startTarget, type Target, type TargetOptions } from '../lib/targets.js';
import { errorDetail } from '@events-proxy/runtime';

export interface Scenario<P extends object = object> {
  readonly name: string;
  readonly title: string;
  /** The full parameters, or the small ones of `--quick`. */
  params(quick: boolean): P;
  run(ctx: BenchContext, params: P): Promise<ScenarioResult>;
}

/** A scenario with its parameter type erased, for the registry. */
export type AnyScenario = Scenario<object>;

/** A target's outcome: what it measured, or why it failed. */
export type Outcome<T> =
  { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: string };

/** perTarget's options: the targets' own, and the kinds the scenario cannot run on. */
export interface PerTargetOptions extends TargetOptions {
  /** Kinds left out, whatever --targets says (the scenario needs what they do not do). */
  readonly skip?: readonly TargetKind[];
}

/**
 * Runs `fn` against a freshly started target of each kind in the run (the edge system first),
 * stopping it afterwards whatever happens. One target failing does not stop the others.
 */
export async function perTarget<T>(
  ctx: BenchContext,
  options: PerTargetOptions,
  fn: (target: Target) => Promise<T>,
): Promise<Partial<Record<TargetKind, Outcome<T>>>> {
  const out: Partial<Record<TargetKind, Outcome<T>>> = {};
  for (const kind of ctx.options.targets) {
    if (options.skip?.includes(kind)) {
      ctx.log(`  ${options.label} → ${kind}: skipped (not supported by this scenario)`);
      continue;
    }
    ctx.log(`  ${options.label} → ${kind}`);
    let target: Target | undefined;
    try {
      target = await startTarget(ctx, kind, { ...options, label: `${options.label}-${kind}` });
      out[kind] = { ok: true, value: await fn(target) };
    } catch (err) {
      const error = errorDetail(err);
      ctx.log(`  ${options.label} → ${kind} failed: ${error}`);
      out[kind] = { ok: false, error };
    } finally {
      await target?.stop().catch((err: unknown) => ctx.log(`  stopping ${kind} failed: ${String(err)}`));
    }
  }
  return out;
}

/** The measured value of each target that succeeded. */
export function valuesOf<T>(
  outcomes: Partial<Record<TargetKind, Outcome<T>>>,
): Partial<Record<TargetKind, T>> {
  const out: Partial<Record<TargetKind, T>> = {};
  for (const [kind, o] of Object.entries(outcomes) as [TargetKind, Outcome<T>][])
    if (o.ok) out[kind] = o.value;
  return out;
}

/** The failures, joined, for ScenarioResult.error (undefined when all succeeded). */
export function errorsOf<T>(outcomes: Partial<Record<TargetKind, Outcome<T>>>): string | undefined {
  const errors = (Object.entries(outcomes) as [TargetKind, Outcome<T>][])
    .filter((e): e is [TargetKind, { ok: false; error: string }] => !e[1].ok)
    .map(([kind, o]) => `${kind}: ${o.error}`);
  return errors.length > 0 ? errors.join('\n') : undefined;
}

/** Picks one number out of each target's value. */
export function pickEach<T>(
  values: Partial<Record<TargetKind, T>>,
  pick: (v: T) => number | undefined,
): Partial<Record<TargetKind, number | undefined>> {
  const out: Partial<Record<TargetKind, number | undefined>> = {};
  for (const kind of TARGET_KINDS) {
    const v = values[kind];
    if (v !== undefined) out[kind] = pick(v);
  }
  return out;
}
