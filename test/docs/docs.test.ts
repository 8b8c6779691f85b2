// The operator docs stay in step with the code: every environment variable is in the README's
// Configuration section and in the chart's values.yaml, and docs/metrics.md names exactly the
// metrics the services register (no missing names, no stale ones).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { Registry } from 'prom-client';
import { LinkDropCounts, registerLinkDropCounter, registerRedisGauge } from '@events-proxy/cluster';
import { registerProcessGuardMetrics } from '@events-proxy/runtime';
import { ENV_NAMES as EDGE_ENV_NAMES, createEdgeMetrics } from '@events-proxy/edge';
import { ENV_NAMES as INGEST_ENV_NAMES, createIngestMetrics } from '@events-proxy/ingest';
import { dashboardExprs } from '../deploy/dashboard-metrics.js';

const read = (path: string): string =>
  readFileSync(fileURLToPath(new URL(`../../${path}`, import.meta.url)), 'utf8');

/** The text of one `## ` section of a Markdown file, heading included, up to the next one. */
function section(markdown: string, heading: string): string {
  const start = markdown.indexOf(`\n## ${heading}\n`);
  if (start < 0) throw new Error(`no "## ${heading}" section`);
  const next = markdown.indexOf('\n## ', start + 1);
  return markdown.slice(start, next < 0 ? undefined : next);
}

/** Every metric the edge and ingest roles register (the default process metrics aside). */
async function registeredMetrics(): Promise<Map<string, string>> {
  const edge = new Registry();
  createEdgeMetrics(edge, { connections: () => 0, busSubscriptions: () => 0 });
  const ingest = new Registry();
  createIngestMetrics(ingest, { bindings: () => 0, amqpConnected: () => true });
  const redis = new Registry();
  registerRedisGauge(redis, () => true);
  registerLinkDropCounter(redis, new LinkDropCounts());
  registerProcessGuardMetrics(redis);
  const types = new Map<string, string>();
  for (const registry of [edge, ingest, redis]) {
    for (const metric of await registry.getMetricsAsJSON()) types.set(metric.name, String(metric.type));
  }
  return types;
}

describe('docs:', () => {
  const envNames = [...new Set([...EDGE_ENV_NAMES, ...INGEST_ENV_NAMES])];

  it('reads a sensible set of environment variables', () => {
    expect(envNames).to.include.members(['AMQP_URL', 'REDIS_URL', 'PORT', 'METRICS_PORT', 'PULSE_HOSTNAME']);
  });

  it("lists every environment variable in the README's Configuration section", () => {
    const config = section(read('README.md'), 'Configuration');
    const missing = envNames.filter((name) => !config.includes(`\`${name}\``));
    expect(missing, 'variables missing from README.md ## Configuration').to.deep.equal([]);
    expect(config).not.to.include('docs/configuration.md');
  });

  it("names every environment variable in the Helm chart's values.yaml", () => {
    const values = read('deploy/helm/events-proxy/values.yaml');
    const missing = envNames.filter((name) => !values.includes(`[${name}]`));
    expect(missing, 'variables missing from deploy/helm/events-proxy/values.yaml').to.deep.equal([]);
  });

  it('documents every metric the services register in docs/metrics.md', async () => {
    const doc = read('docs/metrics.md');
    const names = [...(await registeredMetrics()).keys()];
    expect(names).to.include.members([
      'events_edge_connections',
      'events_amqp_connected',
      'events_redis_connected',
    ]);
    const missing = names.filter((name) => !doc.includes(`\`${name}\``));
    expect(missing, 'metrics missing from docs/metrics.md').to.deep.equal([]);
  });

  it('mentions no events_* metric in docs/metrics.md that the services do not register', async () => {
    const types = await registeredMetrics();
    const known = (name: string): boolean => {
      if (types.has(name)) return true;
      const base = name.replace(/_(bucket|sum|count)$/, '');
      return base !== name && types.get(base) === 'histogram';
    };
    const mentioned = [...new Set(read('docs/metrics.md').match(/\bevents_[a-z0-9_]+/g) ?? [])];
    expect(mentioned.length).to.be.greaterThan(0);
    const stale = mentioned.filter((name) => !known(name));
    expect(stale, 'names in docs/metrics.md that no service registers').to.deep.equal([]);
  });

  it('shows every query of the Grafana dashboard, as the dashboard has it, in docs/metrics.md', () => {
    const doc = section(read('docs/metrics.md'), 'Dashboard panels');
    const exprs = dashboardExprs();
    expect(exprs.length).to.be.greaterThan(20);
    const missing = exprs.filter((expr) => !doc.includes(expr));
    expect(missing, 'dashboard queries missing from docs/metrics.md ## Dashboard panels').to.deep.equal([]);
  });
});
