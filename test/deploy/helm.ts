// Rendering the Helm chart offline for the deploy tests: find helm, lint, template, parse.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml, parseAllDocuments } from 'yaml';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const CHART_DIR = path.join(ROOT, 'deploy/helm/events-proxy');
export const CI_VALUES_DIR = path.join(CHART_DIR, 'ci');
export const RELEASE = 'ep';
export const NAMESPACE = 'events';

/** helm from $HELM_BIN, else .tmp/bin/helm (where scripts/fetch-helm.sh puts it). */
export function findHelm(): string {
  const fromEnv = process.env.HELM_BIN;
  if (fromEnv) {
    if (!existsSync(fromEnv)) {
      throw new Error(
        `HELM_BIN=${fromEnv} does not exist: fix HELM_BIN, or unset it and run \`bash scripts/services.sh --for-tests\``,
      );
    }
    return fromEnv;
  }
  const local = path.join(ROOT, '.tmp/bin/helm');
  if (existsSync(local)) return local;
  throw new Error(
    'helm not found: run `bash scripts/services.sh --for-tests` (it puts helm at .tmp/bin/helm), or set HELM_BIN',
  );
}

export function helm(args: readonly string[]): string {
  const bin = findHelm();
  try {
    return execFileSync(bin, args, {
      cwd: ROOT,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      maxBuffer: 64 * 1024 * 1024,
    });
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(`helm ${args.join(' ')} failed:\n${e.stdout ?? ''}${e.stderr ?? e.message}`, {
      cause: err,
    });
  }
}

export interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  [key: string]: unknown;
}

export interface ValuesCase {
  /** "defaults" or "ci/<file>". */
  name: string;
  /** Absolute path of the values file, none for the chart's defaults. */
  valuesFile?: string;
}

export function valuesCases(): ValuesCase[] {
  const files = readdirSync(CI_VALUES_DIR)
    .filter((f) => /\.ya?ml$/.test(f))
    .sort();
  return [
    { name: 'defaults' },
    ...files.map((f) => ({ name: `ci/${f}`, valuesFile: path.join(CI_VALUES_DIR, f) })),
  ];
}

function valuesArgs(c: ValuesCase, extra: readonly string[] = []): string[] {
  return [...(c.valuesFile ? ['-f', c.valuesFile] : []), ...extra];
}

export function lint(c: ValuesCase): string {
  return helm(['lint', '--strict', CHART_DIR, ...valuesArgs(c)]);
}

export function render(c: ValuesCase, extra: readonly string[] = []): Manifest[] {
  const out = helm(['template', RELEASE, CHART_DIR, '--namespace', NAMESPACE, ...valuesArgs(c, extra)]);
  const docs: Manifest[] = [];
  for (const doc of parseAllDocuments(out)) {
    if (doc.errors.length > 0) throw new Error(`rendered YAML does not parse: ${doc.errors[0]?.message}`);
    const js = doc.toJS() as Manifest | null;
    if (js !== null && js !== undefined) docs.push(js);
  }
  return docs;
}

type Plain = Record<string, unknown>;

function isPlain(v: unknown): v is Plain {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function merge(base: unknown, over: unknown): unknown {
  if (!isPlain(base) || !isPlain(over)) return over;
  const out: Plain = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = merge(base[k], v);
  return out;
}

/** The chart's values.yaml merged with the case's values file (as Helm does, near enough). */
export function values(c: ValuesCase): Plain {
  const defaults = parseYaml(readFileSync(path.join(CHART_DIR, 'values.yaml'), 'utf8')) as Plain;
  if (!c.valuesFile) return defaults;
  return merge(defaults, parseYaml(readFileSync(c.valuesFile, 'utf8'))) as Plain;
}

/** A value by dotted path, e.g. get(v, 'edge.autoscaling.enabled'). */
export function get(obj: unknown, dotted: string): unknown {
  let cur: unknown = obj;
  for (const key of dotted.split('.')) {
    if (!isPlain(cur)) return undefined;
    cur = cur[key];
  }
  return cur;
}
