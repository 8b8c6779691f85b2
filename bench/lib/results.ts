/**
 * Figures (ours vs the Node reference and vs the C reference, ratios, targets, met?), the results
 * table and the JSON record written to bench/results/<timestamp>.json.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { TargetKind } from './context.js';
import type { CommitInfo, MachineInfo } from './machine.js';
import { RESULTS_DIR } from './paths.js';

/**
 * What a figure must reach: a ratio to the Node reference (edge ÷ reference) or to the C
 * reference (edge ÷ c-reference) at least / at most, or an absolute value for the edge at least /
 * at most.
 */
export type Goal =
  | { readonly kind: 'ratioAtLeast'; readonly value: number }
  | { readonly kind: 'ratioAtMost'; readonly value: number }
  | { readonly kind: 'ratioToCAtLeast'; readonly value: number }
  | { readonly kind: 'ratioToCAtMost'; readonly value: number }
  | { readonly kind: 'atLeast'; readonly value: number }
  | { readonly kind: 'atMost'; readonly value: number };

export interface Figure {
  readonly name: string;
  readonly unit: string;
  /** The real services' value. */
  readonly edge: number | undefined;
  /** The Node reference broadcaster's. */
  readonly reference: number | undefined;
  /** edge ÷ reference, when both are known. */
  readonly ratio: number | undefined;
  /** The C reference broadcaster's. */
  readonly cReference: number | undefined;
  /** edge ÷ cReference, when both are known. */
  readonly ratioToC: number | undefined;
  /** Every goal of the figure (it must meet all of them). */
  readonly goals: readonly Goal[];
  /**
   * Whether every goal is met: false as soon as one whose values are known is not; undefined when
   * there is no goal, or one's values are missing (a system not run, or failed) and none failed.
   */
  readonly met: boolean | undefined;
}

const ratioOf = (a: number | undefined, b: number | undefined) =>
  a !== undefined && b !== undefined && b !== 0 ? Math.round((a / b) * 100) / 100 : undefined;

export function figure(
  name: string,
  unit: string,
  values: Partial<Record<TargetKind, number | undefined>>,
  goal?: Goal | readonly Goal[],
): Figure {
  const { edge, reference } = values;
  const cReference = values['c-reference'];
  const ratio = ratioOf(edge, reference);
  const ratioToC = ratioOf(edge, cReference);
  const goals: readonly Goal[] = goal === undefined ? [] : 'kind' in goal ? [goal] : goal;
  const verdicts = goals.map((g): boolean | undefined => {
    switch (g.kind) {
      case 'ratioAtLeast':
        return ratio === undefined ? undefined : ratio >= g.value;
      case 'ratioAtMost':
        return ratio === undefined ? undefined : ratio <= g.value;
      case 'ratioToCAtLeast':
        return ratioToC === undefined ? undefined : ratioToC >= g.value;
      case 'ratioToCAtMost':
        return ratioToC === undefined ? undefined : ratioToC <= g.value;
      case 'atLeast':
        return edge === undefined ? undefined : edge >= g.value;
      case 'atMost':
        return edge === undefined ? undefined : edge <= g.value;
    }
  });
  const met = verdicts.includes(false)
    ? false
    : verdicts.includes(undefined)
      ? undefined
      : goals.length > 0
        ? true
        : undefined;
  return { name, unit, edge, reference, ratio, cReference, ratioToC, goals, met };
}

/** A yes/no check (exact delivery, bindings gone after the lease, …). */
export interface Check {
  readonly name: string;
  readonly target: TargetKind;
  readonly ok: boolean;
  readonly detail?: string;
}

export interface ScenarioResult {
  readonly scenario: string;
  readonly title: string;
  readonly params: Record<string, unknown>;
  readonly figures: readonly Figure[];
  readonly checks: readonly Check[];
  /** Everything else measured, mostly per target (steps, CPU, latency summaries, profiles). */
  readonly details: Readonly<Record<string, unknown>>;
  /** Lines printed under the table: what was compared with what, what could not run as asked. */
  readonly notes?: readonly string[];
  readonly error?: string;
}

export interface RunRecord {
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly command: string;
  readonly quick: boolean;
  /** The reference broadcaster's design switches in this run. */
  readonly reference: Readonly<Record<string, string>>;
  readonly machine: MachineInfo;
  readonly commit: CommitInfo;
  /** The checkout the services ran from, when not this one (BENCH_SERVICES_DIR), and its commit. */
  readonly services?: { readonly dir: string; readonly commit: CommitInfo };
  readonly scenarios: readonly ScenarioResult[];
}

function goalText(goal: Goal): string {
  switch (goal.kind) {
    case 'ratioAtLeast':
      return `≥ ${goal.value}× node`;
    case 'ratioAtMost':
      return `≤ ${goal.value}× node`;
    case 'ratioToCAtLeast':
      return `≥ ${goal.value}× C`;
    case 'ratioToCAtMost':
      return `≤ ${goal.value}× C`;
    case 'atLeast':
      return `≥ ${goal.value}`;
    case 'atMost':
      return `≤ ${goal.value}`;
  }
}

const show = (v: number | undefined) =>
  v === undefined ? '–' : Math.abs(v) >= 1000 ? Math.round(v).toLocaleString('en-US') : String(v);

/** The results table, one row per figure and check, then the scenarios' notes. */
export function formatTable(results: readonly ScenarioResult[]): string {
  const rows: string[][] = [
    ['scenario', 'figure', 'ours', 'node ref', 'ratio', 'C ref', 'ratio to C', 'target', 'met'],
  ];
  const times = (r: number | undefined) => (r === undefined ? '' : `${r}×`);
  for (const r of results) {
    if (r.error)
      rows.push([r.scenario, `FAILED: ${r.error.split('\n')[0]!.slice(0, 90)}`, '', '', '', '', '', '', '✗']);
    for (const f of r.figures) {
      const met = f.met === undefined ? '' : f.met ? '✓' : '✗';
      rows.push([
        r.scenario,
        `${f.name} (${f.unit})`,
        show(f.edge),
        show(f.reference),
        times(f.ratio),
        show(f.cReference),
        times(f.ratioToC),
        f.goals.map(goalText).join(', '),
        met,
      ]);
    }
    for (const c of r.checks) {
      rows.push([
        r.scenario,
        `${c.name} [${c.target}]`,
        c.ok ? 'ok' : `NO: ${c.detail ?? ''}`,
        '',
        '',
        '',
        '',
        '',
        c.ok ? '✓' : '✗',
      ]);
    }
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => [...row[i]!].length)));
  const line = (row: string[]) => row.map((cell, i) => cell.padEnd(widths[i]!)).join(' │ ');
  const notes = results.flatMap((r) => (r.notes ?? []).map((n) => `${r.scenario}: ${n}`));
  return [
    line(rows[0]!),
    widths.map((w) => '─'.repeat(w)).join('─┼─'),
    ...rows.slice(1).map(line),
    ...(notes.length > 0 ? ['', ...notes] : []),
  ].join('\n');
}

/** Writes the record as bench/results/<timestamp>.json; returns the path. */
export function writeRecord(record: RunRecord): string {
  fs.mkdirSync(RESULTS_DIR, { recursive: true });
  const file = path.join(RESULTS_DIR, `${record.startedAt.replace(/[:.]/g, '-')}.json`);
  fs.writeFileSync(file, JSON.stringify(record, null, 2) + '\n');
  return file;
}
