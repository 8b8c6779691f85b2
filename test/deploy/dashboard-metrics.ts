// Metric names the Grafana dashboard (deploy/grafana/events-proxy-dashboard.json) queries, and
// the names it may use: DESIGN.md §6, the v2 resume and history metrics, the access-control
// metrics, the elastic tier's gauges, and prom-client's default metrics. Shared by the deploy
// tests and by the suite that scrapes live services for the same names.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const DASHBOARD_PATH = fileURLToPath(
  new URL('../../deploy/grafana/events-proxy-dashboard.json', import.meta.url),
);

/** DESIGN.md §6: fixed names (histograms by their base name). */
export const DESIGN_METRIC_NAMES: readonly string[] = [
  'events_edge_connections',
  'events_edge_connections_total',
  'events_edge_connections_rejected_total',
  'events_edge_closes_total',
  'events_edge_idle_closures_total',
  'events_edge_messages_sent_total',
  'events_edge_bytes_sent_total',
  'events_edge_delivery_lag_seconds',
  'events_edge_ready_seconds',
  'events_edge_bus_subscriptions',
  'events_ingest_messages_consumed_total',
  'events_ingest_frames_published_total',
  'events_ingest_messages_unmatched_total',
  'events_ingest_bindings',
  'events_ingest_bind_requests_total',
  'events_amqp_connected',
  'events_redis_connected',
];

/**
 * Names outside DESIGN.md §6 that the dashboard and the chart's alerts use: the v2 resume and
 * history metrics (docs/metrics.md; not *contract*, so a rename must update the dashboard, the
 * alerts and this list together). test/e2e/metrics.test.ts checks that the services export every
 * name the dashboard queries.
 */
export const RESUME_METRIC_NAMES: readonly string[] = [
  'events_edge_resumes_total',
  'events_edge_gaps_total',
  'events_edge_replayed_messages_total',
  'events_ingest_history_seconds',
  'events_ingest_history_failures_total',
];

/**
 * The access-control metrics (DESIGN.md §3c, docs/metrics.md; not *contract* either): token
 * refusals by reason, and per-client limit checks that failed. The dashboard's Access control row
 * and the chart's EventsProxyTokensRefused and EventsProxyClientLimitsUnavailable use them; the
 * 429 and `unauthorized` reasons and the `expired` close are values of §6 metrics.
 */
export const AUTH_METRIC_NAMES: readonly string[] = [
  'events_edge_auth_refusals_total',
  'events_edge_client_limit_errors_total',
];

/**
 * The elastic edge tier's gauges (DESIGN.md §3e, docs/metrics.md; not *contract*): the ready edges
 * and the mean streams per ready edge that each edge reads from Redis. The dashboard's
 * *Streams per edge* and *Ready edges seen in Redis* panels use them; the `rebalance` and
 * `max_lifetime` closes are values of a §6 metric.
 */
export const ELASTIC_METRIC_NAMES: readonly string[] = [
  'events_edge_tier_edges',
  'events_edge_tier_mean_streams',
];

/** prom-client 15 `collectDefaultMetrics()` names (Linux). */
export const PROM_CLIENT_DEFAULT_METRIC_NAMES: readonly string[] = [
  'process_cpu_user_seconds_total',
  'process_cpu_system_seconds_total',
  'process_cpu_seconds_total',
  'process_start_time_seconds',
  'process_resident_memory_bytes',
  'process_virtual_memory_bytes',
  'process_heap_bytes',
  'process_open_fds',
  'process_max_fds',
  'nodejs_eventloop_lag_seconds',
  'nodejs_eventloop_lag_min_seconds',
  'nodejs_eventloop_lag_max_seconds',
  'nodejs_eventloop_lag_mean_seconds',
  'nodejs_eventloop_lag_stddev_seconds',
  'nodejs_eventloop_lag_p50_seconds',
  'nodejs_eventloop_lag_p90_seconds',
  'nodejs_eventloop_lag_p99_seconds',
  'nodejs_active_resources',
  'nodejs_active_resources_total',
  'nodejs_active_handles',
  'nodejs_active_handles_total',
  'nodejs_active_requests',
  'nodejs_active_requests_total',
  'nodejs_heap_size_total_bytes',
  'nodejs_heap_size_used_bytes',
  'nodejs_external_memory_bytes',
  'nodejs_heap_space_size_total_bytes',
  'nodejs_heap_space_size_used_bytes',
  'nodejs_heap_space_size_available_bytes',
  'nodejs_version_info',
  'nodejs_gc_duration_seconds',
];

/** Every name the dashboard may use. */
export const ALLOWED_DASHBOARD_METRIC_NAMES: ReadonlySet<string> = new Set([
  ...DESIGN_METRIC_NAMES,
  ...RESUME_METRIC_NAMES,
  ...AUTH_METRIC_NAMES,
  ...ELASTIC_METRIC_NAMES,
  ...PROM_CLIENT_DEFAULT_METRIC_NAMES,
]);

// Words that look like identifiers in PromQL but are not series names.
const KEYWORDS = new Set([
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'and',
  'or',
  'unless',
  'bool',
  'offset',
  'atan2',
  'inf',
  'nan',
]);

const HISTOGRAM_SUFFIX = /_(bucket|sum|count)$/;

/**
 * Metric names referenced by one PromQL expression, in order of appearance, with Grafana
 * variables removed and histogram series (`_bucket`, `_sum`, `_count`) reduced to their base
 * name. Functions, aggregations, label names, keywords and numbers are not names.
 */
export function promqlMetricNames(expr: string): string[] {
  let s = expr;
  // String literals (label values, label_replace arguments) may contain anything.
  s = s.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""');
  // Grafana variables: ${name}, ${name:fmt}, $name, $__rate_interval.
  s = s.replace(/\$\{[^}]*\}|\$\w+/g, '');
  // Label matchers, range and subquery selectors.
  s = s.replace(/\{[^}]*\}/g, ' ');
  s = s.replace(/\[[^\]]*\]/g, ' ');
  // Grouping and matching clauses list label names.
  s = s.replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/gi, ' ');
  const names: string[] = [];
  for (const m of s.matchAll(/[A-Za-z_:][A-Za-z0-9_:]*/g)) {
    const word = m[0];
    const at = m.index ?? 0;
    const before = at > 0 ? s[at - 1] : '';
    if (before !== undefined && /[0-9.]/.test(before)) continue; // 1e9, 5m, 0.5
    if (KEYWORDS.has(word.toLowerCase())) continue;
    if (
      s
        .slice(at + word.length)
        .trimStart()
        .startsWith('(')
    )
      continue; // function or aggregation
    const name = word.replace(HISTOGRAM_SUFFIX, '');
    if (!names.includes(name)) names.push(name);
  }
  return names;
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Every `expr` string anywhere in a dashboard (panels, nested rows, targets). */
export function dashboardExprs(dashboard: Json = loadDashboard()): string[] {
  const out: string[] = [];
  const walk = (node: Json): void => {
    if (Array.isArray(node)) {
      node.forEach(walk);
    } else if (node !== null && typeof node === 'object') {
      for (const [key, value] of Object.entries(node)) {
        if (key === 'expr' && typeof value === 'string') out.push(value);
        else walk(value);
      }
    }
  };
  walk(dashboard);
  return out;
}

export function loadDashboard(path: string = DASHBOARD_PATH): Json {
  return JSON.parse(readFileSync(path, 'utf8')) as Json;
}

/**
 * Sorted, unique metric names used in the PromQL `expr` fields of the dashboard; histograms
 * appear by their base name (e.g. `events_edge_delivery_lag_seconds`).
 */
export function dashboardMetricNames(path: string = DASHBOARD_PATH): string[] {
  const names = new Set<string>();
  for (const expr of dashboardExprs(loadDashboard(path))) {
    for (const name of promqlMetricNames(expr)) names.add(name);
  }
  return [...names].sort();
}
