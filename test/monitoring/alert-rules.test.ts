/**
 * The chart's PrometheusRule, checked with promtool: `promtool check rules` on the rules as the
 * chart renders them, and `promtool test rules` on the unit tests in test/monitoring/rules/, which
 * feed each alert synthetic series where it must fire and where it must stay quiet.
 */
import { copyFileSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import { NAMESPACE, RELEASE, render, valuesCases, type Manifest } from '../deploy/helm.js';
import { findTool, promtool } from './prometheus.js';

const UNIT_TESTS_DIR = fileURLToPath(new URL('./rules/', import.meta.url));
/** The name the unit tests' `rule_files` give the rendered rules. */
const RENDERED = 'rendered-rules.yaml';

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
}

/** The rendered PrometheusRule as a Prometheus rule file ({ groups }). */
function ruleFile(docs: Manifest[]): { groups: { name: string; rules: Rule[] }[] } {
  const rules = docs.filter((d) => d.kind === 'PrometheusRule');
  expect(rules, 'one PrometheusRule').to.have.length(1);
  return { groups: (rules[0]!.spec as { groups: { name: string; rules: Rule[] }[] }).groups };
}

interface UnitTestFile {
  rule_files: string[];
  tests: {
    name: string;
    alert_rule_test?: { eval_time: string; alertname: string; exp_alerts?: unknown[] }[];
  }[];
}

function unitTestFiles(): string[] {
  return readdirSync(UNIT_TESTS_DIR)
    .filter((f) => /\.ya?ml$/.test(f))
    .sort();
}

describe('monitoring: alert rules with promtool', function () {
  this.timeout(30_000);
  let dir: string;

  before(function () {
    findTool('promtool'); // fails (does not skip) with how to install it
    dir = mkdtempSync(path.join(os.tmpdir(), 'events-proxy-promtool-'));
  });

  after(function () {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('passes `promtool check rules` as rendered with the defaults and with every ci/ values file', async function () {
    for (const c of valuesCases()) {
      const file = ruleFile(render(c, ['--set', 'metrics.prometheusRule.enabled=true']));
      const count = file.groups.reduce((n, g) => n + g.rules.length, 0);
      const target = path.join(dir, `${c.name.replace(/\W+/g, '-')}.rules.yaml`);
      writeFileSync(target, toYaml(file));
      const { code, output } = await promtool(['check', 'rules', target]);
      expect(code, `${c.name}: promtool check rules\n${output}`).to.equal(0);
      expect(output, c.name).to.include(`SUCCESS: ${count} rules found`);
    }
  });

  it('passes `promtool test rules`: every alert fires when it should and stays quiet when it should not', async function () {
    writeFileSync(
      path.join(dir, RENDERED),
      toYaml(ruleFile(render({ name: 'defaults' }, ['--set', 'metrics.prometheusRule.enabled=true']))),
    );
    const files = unitTestFiles();
    expect(files.length, `unit tests in ${UNIT_TESTS_DIR}`).to.be.greaterThan(0);
    for (const f of files) copyFileSync(path.join(UNIT_TESTS_DIR, f), path.join(dir, f));
    const { code, output } = await promtool(['test', 'rules', ...files], dir);
    expect(code, `promtool test rules\n${output}`).to.equal(0);
    expect(output).to.include('SUCCESS');
    expect(output).to.not.include('FAILED');
  });

  it('has, for every alert the chart renders, a unit test where it fires and one where it stays quiet', function () {
    const alerts = ruleFile(render({ name: 'defaults' }, ['--set', 'metrics.prometheusRule.enabled=true']))
      .groups.flatMap((g) => g.rules)
      .map((r) => r.alert)
      .filter((a): a is string => a !== undefined);
    expect(alerts.length).to.be.greaterThan(5);
    const fires = new Set<string>();
    const quiet = new Set<string>();
    for (const f of unitTestFiles()) {
      const doc = parseYaml(readFileSync(path.join(UNIT_TESTS_DIR, f), 'utf8')) as UnitTestFile;
      expect(doc.rule_files, `${f} tests the rendered rules`).to.deep.equal([RENDERED]);
      for (const t of doc.tests) {
        for (const a of t.alert_rule_test ?? []) {
          ((a.exp_alerts ?? []).length > 0 ? fires : quiet).add(a.alertname);
        }
      }
    }
    expect(
      alerts.filter((a) => !fires.has(a)),
      'alerts with no firing case',
    ).to.deep.equal([]);
    expect(
      alerts.filter((a) => !quiet.has(a)),
      'alerts with no quiet case',
    ).to.deep.equal([]);
    const unknown = [...fires, ...quiet].filter((a) => !alerts.includes(a));
    expect(unknown, 'unit tests of alerts the chart does not render').to.deep.equal([]);
  });

  it('is shown in docs/metrics.md: every alert with its expression as rendered, the selector written SEL', function () {
    const doc = readFileSync(fileURLToPath(new URL('../../docs/metrics.md', import.meta.url)), 'utf8');
    const alertsSection = doc.slice(doc.indexOf('\n## Alerts\n'));
    expect(alertsSection.length, 'docs/metrics.md has an ## Alerts section').to.be.greaterThan(100);
    const docs = render({ name: 'defaults' }, ['--set', 'metrics.prometheusRule.enabled=true']);
    const selector = `namespace="${NAMESPACE}",job=~"${RELEASE}-events-proxy-(edge|ingest)"`;
    const flat = (s: string) => s.replace(/\s+/g, ' ').trim();
    const problems: string[] = [];
    for (const r of ruleFile(docs).groups.flatMap((g) => g.rules)) {
      if (!r.alert) continue;
      const shown = flat(r.expr).replaceAll(selector, 'SEL');
      if (!alertsSection.includes(`**${r.alert}**`)) problems.push(`${r.alert}: not named`);
      if (!flat(alertsSection).includes(shown)) problems.push(`${r.alert}: expression not shown: ${shown}`);
    }
    expect(problems).to.deep.equal([]);
  });

  it('refuses thresholds an alert could never cross (histogram tops, ratios of 1)', function () {
    const withThreshold = (json: string) =>
      render({ name: 'defaults' }, [
        '--set',
        'metrics.prometheusRule.enabled=true',
        '--set-json',
        `metrics.prometheusRule.thresholds=${json}`,
      ]);
    // histogram_quantile() never returns more than the largest finite bucket (5 s for delivery
    // lag, 30 s for ready); a pod never holds more than MAX_CONNECTIONS; a ratio never passes 1;
    // an ingest retries a failed history call once a second, so it never fails faster; token
    // refusals are a share of connects, so their ratio never passes 1 either.
    for (const bad of [
      { deliveryLagP99Seconds: 5 },
      { readyP95Seconds: 30 },
      { connectionsSaturation: 1 },
      { bindErrorRatio: 1 },
      { historyFailuresPerSecond: 1 },
      { tokenRefusalRatio: 1 },
    ]) {
      expect(() => withThreshold(JSON.stringify(bad)), JSON.stringify(bad)).to.throw(/exclusiveMaximum/);
    }
    const ok = withThreshold(
      JSON.stringify({
        deliveryLagP99Seconds: 4.5,
        readyP95Seconds: 20,
        connectionsSaturation: 0.95,
        bindErrorRatio: 0.5,
        historyFailuresPerSecond: 0.25,
        tokenRefusalRatio: 0.6,
        tokenRefusalsPerSecond: 0.2,
      }),
    );
    const exprs = ruleFile(ok)
      .groups.flatMap((g) => g.rules)
      .map((r) => r.expr)
      .join('\n');
    expect(exprs)
      .to.include('> 4.5')
      .and.include('> 20')
      .and.include('> 0.95 * 10000')
      .and.include('> 0.5')
      .and.include('> 0.25')
      .and.include('> 0.6 and on (namespace)')
      .and.include('> 0.2');
  });
});
