/**
 * What Grafana sends to Prometheus for the dashboard's queries: template variables and the
 * `$__interval` / `$__rate_interval` macros substituted the way Grafana's Prometheus data source
 * does it, so the monitoring test evaluates the exact PromQL an operator's panel runs.
 */
import { loadDashboard } from '../deploy/dashboard-metrics.js';

export interface DashboardTarget {
  readonly panel: string;
  readonly panelType: string;
  readonly refId: string;
  readonly expr: string;
  readonly legendFormat: string;
}

interface RawPanel {
  title: string;
  type: string;
  panels?: RawPanel[];
  targets?: { expr?: string; refId?: string; legendFormat?: string }[];
}

export interface TemplateVariable {
  readonly name: string;
  readonly type: string;
  readonly query: string;
  readonly includeAll: boolean;
  readonly multi: boolean;
  readonly allValue?: string;
}

interface RawDashboard {
  panels: RawPanel[];
  templating: {
    list: {
      name: string;
      type: string;
      query: unknown;
      includeAll?: boolean;
      multi?: boolean;
      allValue?: string | null;
    }[];
  };
}

const dashboard = (): RawDashboard => loadDashboard() as unknown as RawDashboard;

/** Every query of every panel (rows' nested panels included), in dashboard order. */
export function dashboardTargets(): DashboardTarget[] {
  const out: DashboardTarget[] = [];
  const walk = (panels: RawPanel[]): void => {
    for (const p of panels) {
      for (const t of p.targets ?? []) {
        if (t.expr === undefined) continue;
        out.push({
          panel: p.title,
          panelType: p.type,
          refId: t.refId ?? '',
          expr: t.expr,
          legendFormat: t.legendFormat ?? '',
        });
      }
      walk(p.panels ?? []);
    }
  };
  walk(dashboard().panels);
  return out;
}

/** The dashboard's query variables (the data source variable aside). */
export function templateVariables(): TemplateVariable[] {
  return dashboard()
    .templating.list.filter((v) => v.type === 'query')
    .map((v) => ({
      name: v.name,
      type: v.type,
      query: typeof v.query === 'string' ? v.query : ((v.query as { query?: string }).query ?? ''),
      includeAll: v.includeAll === true,
      multi: v.multi === true,
      ...(v.allValue ? { allValue: v.allValue } : {}),
    }));
}

/** `label_values(<selector>, <label>)` → its parts; throws on any other variable query. */
export function parseLabelValues(query: string): { match: string; label: string } {
  const m = /^\s*label_values\(\s*(.+?)\s*,\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)\s*$/.exec(query);
  if (!m) throw new Error(`not a label_values() query: ${query}`);
  return { match: m[1]!, label: m[2]! };
}

/** Grafana's regex escaping of a multi-value / include-All variable's values for Prometheus. */
export function prometheusRegexEscape(value: string): string {
  return value.replace(/\\/g, '\\\\\\\\').replace(/[$^*{}[\]'+?.()|]/g, '\\\\$&');
}

/**
 * The text Grafana puts in place of a variable: with "All" selected, the `allValue` when the
 * variable has one (as is), else every option; several values become `(a|b)`, each escaped.
 */
export function variableText(
  v: TemplateVariable,
  selected: 'All' | readonly string[],
  options: readonly string[],
): string {
  if (selected === 'All' && v.allValue !== undefined) return v.allValue;
  const values = selected === 'All' ? options : selected;
  if (!v.multi && !v.includeAll) return values[0] ?? '';
  const escaped = values.map(prometheusRegexEscape);
  return escaped.length === 1 ? escaped[0]! : `(${escaped.join('|')})`;
}

export interface Intervals {
  /** The data source's scrape interval setting ("Min time interval"), seconds. */
  readonly scrapeIntervalSeconds: number;
  /** The dashboard's time range, seconds. */
  readonly rangeSeconds: number;
  /** The panel's max data points (about its width in pixels). */
  readonly maxDataPoints?: number;
}

/**
 * `$__interval` (the query step) and `$__rate_interval`, in seconds. Grafana: interval =
 * range / maxDataPoints rounded to a "nice" value, at least the scrape interval; rate interval =
 * max(interval + scrape interval, 4 × scrape interval). The rounding here is to whole seconds,
 * which equals Grafana's for the short ranges the tests use (where the minimum wins).
 */
export function intervals(i: Intervals): { interval: number; rateInterval: number } {
  const interval = Math.max(i.scrapeIntervalSeconds, Math.ceil(i.rangeSeconds / (i.maxDataPoints ?? 1000)));
  return {
    interval,
    rateInterval: Math.max(interval + i.scrapeIntervalSeconds, 4 * i.scrapeIntervalSeconds),
  };
}

/** Substitutes `$name`, `${name}` and the interval macros in one expression. */
export function interpolate(
  expr: string,
  variables: Record<string, string>,
  macros: { interval: number; rateInterval: number },
): string {
  const all: Record<string, string> = {
    ...variables,
    __interval: `${macros.interval}s`,
    __rate_interval: `${macros.rateInterval}s`,
  };
  const out = expr.replace(
    /\$\{(\w+)(?::\w+)?\}|\$(\w+)/g,
    (whole, braced: string | undefined, bare: string | undefined) => {
      const name = (braced ?? bare)!;
      const value = all[name];
      if (value === undefined) throw new Error(`unknown variable $${name} in ${expr}`);
      return value;
    },
  );
  return out;
}

/**
 * The same expression with every `rate(x[$__rate_interval])` / `increase(...)` replaced by the
 * counter `x` itself: aggregation, label matchers and grouping kept, so it reads the totals the
 * panel's rates are taken of (exact numbers to compare with the traffic a test drove).
 */
export function totalsOf(expr: string): string {
  return expr.replace(/\b(?:rate|increase)\(([^()[\]]*)\[\$__rate_interval\]\)/g, '$1');
}
