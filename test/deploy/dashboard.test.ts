// The Grafana dashboard (deploy/grafana/events-proxy-dashboard.json): structure, datasource
// handling, and PromQL that only uses metric names the services export.
import { expect } from 'chai';
import {
  ALLOWED_DASHBOARD_METRIC_NAMES,
  AUTH_METRIC_NAMES,
  DESIGN_METRIC_NAMES,
  ELASTIC_METRIC_NAMES,
  RESUME_METRIC_NAMES,
  dashboardExprs,
  dashboardMetricNames,
  loadDashboard,
  promqlMetricNames,
} from './dashboard-metrics.js';

interface Target {
  expr?: string;
  refId?: string;
  format?: string;
  datasource?: { type?: string; uid?: string };
}

interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { h: number; w: number; x: number; y: number };
  datasource?: { type?: string; uid?: string };
  targets?: Target[];
  panels?: Panel[];
}

interface Dashboard {
  uid: string;
  title: string;
  panels: Panel[];
  templating: { list: { name: string; type: string; query: unknown; datasource?: unknown }[] };
}

const ROWS = [
  'Overview',
  'Connections',
  'Delivery',
  'Ingest',
  'Resumes (v2)',
  'Access control',
  'Redis and broker',
  'Runtime',
];

function allPanels(d: Dashboard): Panel[] {
  return d.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
}

/** Every object stored under a "datasource" key, anywhere. */
function datasourceRefs(node: unknown, out: unknown[] = []): unknown[] {
  if (Array.isArray(node)) {
    for (const n of node) datasourceRefs(n, out);
  } else if (node !== null && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) {
      if (k === 'datasource') out.push(v);
      datasourceRefs(v, out);
    }
  }
  return out;
}

describe('Grafana dashboard (deploy/grafana)', function () {
  const dashboard = loadDashboard() as unknown as Dashboard;

  it('has the rows Overview, Connections, Delivery, Ingest, Resumes (v2), Access control, Redis and broker, Runtime in order', function () {
    const rows = dashboard.panels.filter((p) => p.type === 'row').map((p) => p.title);
    expect(rows).to.deep.equal(ROWS);
    expect(dashboard.uid).to.match(/^[-\w]+$/);
  });

  it('takes its datasource from a ${datasource} variable of type prometheus, with no fixed UIDs', function () {
    const variable = dashboard.templating.list.find((v) => v.name === 'datasource');
    expect(variable?.type).to.equal('datasource');
    expect(variable?.query).to.equal('prometheus');
    const refs = datasourceRefs({ panels: dashboard.panels, templating: dashboard.templating });
    expect(refs.length).to.be.greaterThan(0);
    for (const ref of refs) {
      if (typeof ref === 'string') {
        expect(ref).to.be.oneOf(['${datasource}', '$datasource']);
      } else {
        expect(ref).to.deep.equal({ type: 'prometheus', uid: '${datasource}' });
      }
    }
    for (const panel of allPanels(dashboard).filter((p) => p.type !== 'row')) {
      expect(panel.datasource, `${panel.title} datasource`).to.deep.equal({
        type: 'prometheus',
        uid: '${datasource}',
      });
      expect(panel.targets ?? [], `${panel.title} has queries`).to.have.length.greaterThan(0);
    }
  });

  it('queries only DESIGN §6 metrics, the v2 resume and history metrics, the access-control metrics, the elastic tier gauges, and prom-client defaults', function () {
    const names = dashboardMetricNames();
    const unknown = names.filter((n) => !ALLOWED_DASHBOARD_METRIC_NAMES.has(n));
    expect(
      unknown,
      'metric names outside DESIGN §6, the resume, access-control and elastic-tier metrics and prom-client defaults',
    ).to.deep.equal([]);
    for (const v of dashboard.templating.list) {
      const q = typeof v.query === 'string' ? v.query : (v.query as { query?: string } | undefined)?.query;
      const m = /label_values\(\s*([A-Za-z_:][A-Za-z0-9_:]*)/.exec(q ?? '');
      if (m?.[1])
        expect(ALLOWED_DASHBOARD_METRIC_NAMES.has(m[1]), `variable ${v.name} metric ${m[1]}`).to.equal(true);
    }
  });

  it('shows every DESIGN §6 metric, every v2 resume and history metric, every access-control metric and every elastic tier gauge somewhere', function () {
    const names = new Set(dashboardMetricNames());
    expect(DESIGN_METRIC_NAMES.filter((n) => !names.has(n))).to.deep.equal([]);
    expect(RESUME_METRIC_NAMES.filter((n) => !names.has(n))).to.deep.equal([]);
    expect(AUTH_METRIC_NAMES.filter((n) => !names.has(n))).to.deep.equal([]);
    expect(ELASTIC_METRIC_NAMES.filter((n) => !names.has(n))).to.deep.equal([]);
  });

  it('shows the elastic edge tier in the Connections row: streams per edge (most, least, mean), the streams moved and the ready edges', function () {
    const row = dashboard.panels.findIndex((p) => p.type === 'row' && p.title === 'Connections');
    const next = dashboard.panels.findIndex((p, i) => i > row && p.type === 'row');
    const panels = dashboard.panels.slice(row + 1, next);
    const exprs = (title: string): string[] => {
      const panel = panels.find((p) => p.title === title);
      expect(panel, `a "${title}" panel in the Connections row`).to.not.equal(undefined);
      return (panel?.targets ?? []).map((t) => t.expr ?? '');
    };
    const spread = exprs('Streams per edge (most, least, mean)');
    for (const agg of ['max', 'min', 'avg']) {
      expect(spread, `${agg} of events_edge_connections`).to.include(
        `${agg}(events_edge_connections{namespace=~"$namespace", job=~"$job"})`,
      );
    }
    expect(spread.some((e) => /^max\(events_edge_tier_mean_streams\{/.test(e))).to.equal(true);
    const moved = exprs('Streams moved/s (rebalance, max lifetime)');
    expect(moved).to.deep.equal([
      'sum by (reason) (rate(events_edge_closes_total{namespace=~"$namespace", job=~"$job", reason=~"rebalance|max_lifetime"}[$__rate_interval]))',
    ]);
    const edges = exprs('Ready edges seen in Redis');
    expect(edges.filter((e) => /^(min|max)\(events_edge_tier_edges\{/.test(e))).to.have.length(2);
  });

  it('shows access control in its own row: token refusals, the 429 reasons, token expiry and failed limit checks', function () {
    const row = dashboard.panels.findIndex((p) => p.type === 'row' && p.title === 'Access control');
    const next = dashboard.panels.findIndex((p, i) => i > row && p.type === 'row');
    const exprs = dashboard.panels
      .slice(row + 1, next)
      .flatMap((p) => (p.targets ?? []).map((t) => t.expr ?? ''));
    expect(exprs.length, 'queries in the Access control row').to.be.within(2, 8);
    const shown = (re: RegExp) => exprs.some((e) => re.test(e));
    expect(
      shown(/^sum by \(reason\) \(rate\(events_edge_auth_refusals_total\{/),
      'token refusals by reason',
    ).to.equal(true);
    for (const reason of ['connect_rate', 'streams_per_ip', 'streams_per_subject']) {
      expect(
        shown(new RegExp(`events_edge_connections_rejected_total\\{[^}]*reason=~"[^"]*\\b${reason}\\b`)),
        `the 429 reason ${reason}`,
      ).to.equal(true);
    }
    expect(shown(/events_edge_closes_total\{[^}]*reason="expired"/), 'streams ended at exp').to.equal(true);
    expect(shown(/events_edge_client_limit_errors_total\{/), 'failed limit checks').to.equal(true);
  });

  it('reads counters through rate()/increase() and histograms through histogram_quantile() or a heatmap', function () {
    for (const panel of allPanels(dashboard)) {
      for (const t of panel.targets ?? []) {
        const expr = t.expr ?? '';
        for (const m of expr.matchAll(/([A-Za-z_:][A-Za-z0-9_:]*_total)\{/g)) {
          const before = expr.slice(0, m.index);
          expect(
            /(rate|increase)\($/.test(before),
            `${panel.title}: ${m[1]} inside rate()/increase()`,
          ).to.equal(true);
        }
        if (/_bucket\{/.test(expr)) {
          const ok =
            /^histogram_quantile\(/.test(expr) || (panel.type === 'heatmap' && t.format === 'heatmap');
          expect(ok, `${panel.title}: buckets need histogram_quantile() or a heatmap`).to.equal(true);
          expect(
            /\((rate|increase)\([^)]*_bucket\{/.test(expr),
            `${panel.title}: buckets are rated`,
          ).to.equal(true);
          expect(/by \(([^)]*\b)?le\b/.test(expr), `${panel.title}: aggregation keeps le`).to.equal(true);
        }
        if (/\b(rate|increase)\(/.test(expr)) {
          expect(expr, `${panel.title}: uses $__rate_interval`).to.include('[$__rate_interval]');
        }
      }
    }
  });

  it('lays panels out without overlaps and with unique ids', function () {
    const panels = allPanels(dashboard);
    const ids = panels.map((p) => p.id);
    expect(new Set(ids).size).to.equal(ids.length);
    for (const [i, a] of panels.entries()) {
      expect(a.gridPos.x + a.gridPos.w, `${a.title} fits in 24 columns`).to.be.at.most(24);
      for (const b of panels.slice(i + 1)) {
        const overlap =
          a.gridPos.x < b.gridPos.x + b.gridPos.w &&
          b.gridPos.x < a.gridPos.x + a.gridPos.w &&
          a.gridPos.y < b.gridPos.y + b.gridPos.h &&
          b.gridPos.y < a.gridPos.y + a.gridPos.h;
        expect(overlap, `${a.title} overlaps ${b.title}`).to.equal(false);
      }
    }
  });

  it('extracts metric names from PromQL (dashboardMetricNames helper)', function () {
    expect(
      promqlMetricNames(
        'histogram_quantile(0.99, sum by (le, pod) (rate(events_edge_delivery_lag_seconds_bucket{job=~"$job", x="a{b}"}[$__rate_interval])))',
      ),
    ).to.deep.equal(['events_edge_delivery_lag_seconds']);
    expect(
      promqlMetricNames(
        'sum(rate(a_total[5m])) / ignoring(reason) group_left(pod) b offset 1h > 1e3 and on (namespace) time() - process_start_time_seconds',
      ),
    ).to.deep.equal(['a_total', 'b', 'process_start_time_seconds']);
    expect(promqlMetricNames('max(x_count{le="+Inf"}) - x_sum')).to.deep.equal(['x']);
    expect(dashboardExprs().length).to.be.greaterThan(20);
    expect(dashboardMetricNames()).to.include('events_edge_connections');
  });
});
