/**
 * The README's snippets work in the order written, on a broker that has never seen their exchange.
 *
 * The runnable ones are kept in scripts/examples/ and appear in the README word for word (checked here);
 * this test starts the proxy with the README's own `npm start`, then runs them in the README's order:
 * declare the exchange, stream with curl, publish, and the web page in Chromium. The cluster snippet's three
 * processes are run too. Every other code block of the README and docs/ must be listed below with the
 * reason it is not run, so a new snippet is either tested or excused on purpose.
 *
 * Only ports, the exchange's name (a fresh one per run) and, when the tests use another broker, the AMQP
 * URL are substituted; KEY_PREFIX and AMQP_QUEUE are added to the environment so that the run shares
 * nothing with other installations on this machine.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import amqp from 'amqplib';
import { expect } from 'chai';
import { type Browser } from 'playwright-core';
import { AMQP_URL, REDIS_URL, needRabbit, needRedis } from '../support/services.js';
import { freePort, randomId } from '../support/processes.js';
import { LOCAL_AMQP_URL } from '../support/service-decision.js';
import { SseClient, connectUrl } from '../support/sse-client.js';
import { waitUntil } from '../support/wait.js';
import { dashboardExprs } from '../deploy/dashboard-metrics.js';
import { launchChromium } from '../support/chromium.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const EXAMPLES = path.join(ROOT, 'scripts/examples');
const README_AMQP = 'amqp://guest:guest@localhost';
const WAIT_MS = 20_000;

interface Block {
  readonly file: string;
  readonly line: number;
  readonly lang: string;
  readonly text: string;
}

/** Fenced code blocks of a Markdown file, with the text between the fences. */
function codeBlocks(file: string): Block[] {
  const lines = readFileSync(path.join(ROOT, file), 'utf8').split('\n');
  const blocks: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\w*)\s*$/.exec(lines[i] ?? '');
    if (!open) continue;
    const end = lines.indexOf('```', i + 1);
    if (end < 0) throw new Error(`${file}:${i + 1}: unclosed code block`);
    blocks.push({ file, line: i + 1, lang: open[1] ?? '', text: lines.slice(i + 1, end).join('\n') + '\n' });
    i = end;
  }
  return blocks;
}

const examples = (): Map<string, string> =>
  new Map(readdirSync(EXAMPLES).map((name) => [name, readFileSync(path.join(EXAMPLES, name), 'utf8')]));

/** The examples as the README shows them and as they are run below. */
const RUN_ORDER = ['declare-exchange.sh', 'stream.sh', 'publish.sh', 'page.html'];

/** Blocks this file runs by their own runner (below), by their first line. */
const RUN_HERE = {
  quickStart:
    "# set up (installs and starts RabbitMQ and Redis when missing) and run the proxy; it prints its page's URL,",
  cluster: 'bash scripts/services.sh && npm ci && npm run build',
};

/** Blocks not run here, by their first line, and why. */
const NOT_RUN: Record<string, string> = {
  'export REDIS_URL= REDIS_CLUSTER_NODES=redis://127.0.0.1:7000,redis://127.0.0.1:7001,redis://127.0.0.1:7002':
    'needs a Redis Cluster; test/e2e/redis-cluster.test.ts runs the processes against a private one',
  'docker build -t registry.example.com/events-proxy:0.1.0 .': 'needs a Docker engine and a registry',
  'kubectl create namespace events': 'needs a Kubernetes cluster',
  'metrics:': 'Helm values (YAML), checked by rendering in test/deploy/chart.test.ts',
  'redis:':
    'Helm values (YAML) for Redis Sentinel; ci/redis-sentinel-values.yaml and test/deploy/chart.test.ts render the same values',
  'rules:': 'prometheus-adapter rules (YAML); test/deploy/chart.test.ts checks they equal the chart values',
  "yq '.prometheusAdapter' deploy/helm/events-proxy/values.yaml > adapter-rules.yaml": 'needs Kubernetes',
  'nginx.ingress.kubernetes.io/proxy-buffering: "off"': 'ingress annotations (YAML), rendered by the chart',
  'npm run build && npx mocha --no-config --node-option import=tsx --node-option conditions=events-proxy-source \\':
    'runs a test file of this suite (that test runs in npm test)',
  'AMQP_URL=amqp://user:pass@rabbit-0:5672/vh,amqp://user:pass@rabbit-1:5672/vh,amqp://user:pass@rabbit-2:5672/vh':
    'example values of two variables for a RabbitMQ cluster, not commands',
  'bash scripts/fetch-helm.sh                          # helm into .tmp/bin/helm (no cluster needed)':
    'the chart tests run these (test/deploy/chart.test.ts, helm lint and template)',
  'npm run bench                                # every scenario, against all three systems':
    'the benchmarks (minutes); test/bench/smoke.test.ts runs a quick one',
  'Set-Cookie: events_token=<jwt>; Domain=example.com; Path=/api/events/; Secure; HttpOnly; SameSite=Lax; Max-Age=300':
    "a response header of the application's backend; test/e2e/auth-browser.test.ts sets such a cookie and streams with it in Chromium",
  'const source = new EventSource(':
    'needs HTTPS origins of a real domain; test/e2e/auth-browser.test.ts opens the same EventSource (withCredentials, cross-origin) in Chromium',
  '<ul id="messages"></ul>': 'docs/client.md: run in Chromium by test/docs/client.test.ts',
  "import { connect, type StreamMessage } from '@events-proxy/client';":
    'docs/client.md: bundled with esbuild and run in Chromium by test/docs/client.test.ts',
  "import { connect } from '@events-proxy/client';":
    'docs/client.md: the store and the Node program, run by test/docs/client.test.ts',
  '# Open connections per edge pod (what the HPA sees), and the total.':
    'PromQL for a Prometheus; the metric names are checked in test/docs/docs.test.ts',
};

/**
 * docs/metrics.md's PromQL for the dashboard and the alerts is run elsewhere: test/monitoring evaluates
 * every dashboard expression on a real Prometheus and every alert with promtool, and checks that
 * docs/metrics.md shows each of them. A `promql` block counts as run when each of its expressions is one
 * of the dashboard's, or when it stands in the Alerts section.
 */
function provenPromql(b: Block): boolean {
  if (b.file !== 'docs/metrics.md' || b.lang !== 'promql') return false;
  const lines = readFileSync(path.join(ROOT, b.file), 'utf8').split('\n');
  const alerts = lines.findIndex((l) => l === '## Alerts');
  const after = lines.findIndex((l, i) => i > alerts && l.startsWith('## '));
  if (alerts >= 0 && b.line > alerts && (after < 0 || b.line < after + 1)) return true;
  const dashboard = new Set(dashboardExprs());
  const exprs = b.text.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('#'));
  return exprs.length > 0 && exprs.every((e) => dashboard.has(e));
}

function firstLine(b: Block): string {
  return b.text.split('\n')[0] ?? '';
}

describe('docs: snippets', function () {
  it('shows every file of scripts/examples in the README word for word', () => {
    const readme = codeBlocks('README.md').map((b) => b.text);
    for (const [name, text] of examples()) {
      expect(readme, `README.md shows scripts/examples/${name} as a code block`).to.include(text);
    }
    // In the order the tests below run them (the order that works on a fresh broker).
    const order = readme.flatMap((text) => [...examples()].filter(([, t]) => t === text).map(([n]) => n));
    expect(order).to.deep.equal(RUN_ORDER);
  });

  it('runs or excuses every code block of the README and docs/', () => {
    const files = ['README.md', ...readdirSync(path.join(ROOT, 'docs')).map((f) => `docs/${f}`)].filter((f) =>
      f.endsWith('.md'),
    );
    const examplesText = new Set(examples().values());
    const handled = new Set([...Object.values(RUN_HERE), ...Object.keys(NOT_RUN)]);
    const seen = new Set<string>();
    const unaccounted: string[] = [];
    for (const file of files) {
      for (const b of codeBlocks(file)) {
        if (b.lang === '') continue; // diagrams and plain text
        seen.add(firstLine(b));
        if (examplesText.has(b.text) || provenPromql(b)) continue;
        if (!handled.has(firstLine(b))) unaccounted.push(`${b.file}:${b.line}: ${firstLine(b)}`);
      }
    }
    expect(
      unaccounted,
      'code blocks neither run (scripts/examples, RUN_HERE) nor excused (NOT_RUN)',
    ).to.deep.equal([]);
    const stale = [...handled].filter((l) => !seen.has(l));
    expect(stale, 'entries that name no code block any more').to.deep.equal([]);
  });

  describe('in the order written, on a fresh exchange', function () {
    this.timeout(90_000);
    const run = randomId();
    const exchange = `exchange/demo-${run}`;
    const children: ChildProcess[] = [];
    let port: number;
    let browser: Browser | undefined;
    let site: http.Server | undefined;

    /** A README snippet as run here: this run's port, exchange and broker. */
    const adapt = (text: string): string => {
      let out = text.replaceAll('localhost:8080', `localhost:${port}`).replaceAll('exchange/demo', exchange);
      if (AMQP_URL !== LOCAL_AMQP_URL) out = out.replaceAll(README_AMQP, AMQP_URL);
      return out;
    };

    const sh = (
      command: string,
      env: Record<string, string> = {},
    ): { child: ChildProcess; output: () => string; exited: Promise<number | null> } => {
      // Own process group, so npm and the node it starts are stopped together.
      const child = spawn('bash', ['-c', command], {
        cwd: ROOT,
        env: { ...process.env, ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: true,
      });
      children.push(child);
      let out = '';
      child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
      const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
      return { child, output: () => out, exited };
    };

    const runToEnd = async (name: string): Promise<void> => {
      const p = sh(adapt(readFileSync(path.join(EXAMPLES, name), 'utf8')));
      const code = await p.exited;
      expect(code, `scripts/examples/${name} exits 0:\n${p.output()}`).to.equal(0);
    };

    const exchangeExists = async (): Promise<boolean> => {
      const conn = await amqp.connect(AMQP_URL);
      try {
        const ch = await conn.createChannel();
        ch.on('error', () => undefined);
        return await ch.checkExchange(exchange).then(
          () => true,
          () => false,
        );
      } finally {
        await conn.close().catch(() => undefined);
      }
    };

    before(async () => {
      await needRabbit();
      port = await freePort();
    });

    after(async () => {
      await browser?.close();
      site?.close();
      for (const c of children) {
        if (c.exitCode === null && c.signalCode === null && c.pid) {
          try {
            process.kill(-c.pid, 'SIGTERM');
          } catch {
            // already gone
          }
        }
      }
      await Promise.all(
        children.map((c) =>
          c.exitCode !== null || c.signalCode !== null
            ? undefined
            : new Promise((resolve) => c.once('exit', resolve)),
        ),
      );
      const conn = await amqp.connect(AMQP_URL).catch(() => undefined);
      if (conn) {
        const ch = await conn.createChannel();
        await ch.deleteExchange(exchange).catch(() => undefined);
        await ch.deleteQueue(`queue/guest/snippets-${run}`).catch(() => undefined);
        await ch.deleteQueue(`queue/guest/snippets-cluster-${run}`).catch(() => undefined);
        await conn.close().catch(() => undefined);
      }
    });

    it("starts with the quick start's npm start, which prints the page's URL", async () => {
      const quickStart = codeBlocks('README.md').find((b) => firstLine(b) === RUN_HERE.quickStart);
      expect(quickStart?.text).to.include('bash scripts/services.sh && npm ci && npm start\n');
      // The set-up half is what .ci/run runs; `npm ci` here would pull node_modules from under the suite.
      const p = sh('npm start', {
        PORT: String(port),
        METRICS_PORT: String(await freePort()),
        REDIS_URL: '',
        AMQP_URL,
        AMQP_QUEUE: `queue/guest/snippets-${run}`,
      });
      const line = `inspector at http://localhost:${port}/`;
      await waitUntil(() => p.output().includes(line) || p.child.exitCode !== null, `"${line}"`, WAIT_MS);
      expect(p.output(), 'npm start prints the page URL').to.include(line);
      const page = await fetch(`http://localhost:${port}/`);
      expect(page.status).to.equal(200);
      expect(await page.text()).to.include('<title>Pulse inspector');
    });

    it('declares the exchange, streams it with curl, publishes, and curl shows the message', async () => {
      expect(await exchangeExists(), `${exchange} is new to the broker`).to.equal(false);
      await runToEnd('declare-exchange.sh');
      expect(await exchangeExists()).to.equal(true);
      const stream = sh(adapt(readFileSync(path.join(EXAMPLES, 'stream.sh'), 'utf8')));
      await waitUntil(
        () => stream.output().includes('event: ready\n'),
        'curl to print `ready`',
        WAIT_MS,
      ).catch((err: Error) => {
        throw new Error(`${err.message}; curl printed:\n${stream.output()}`);
      });
      await runToEnd('publish.sh');
      await waitUntil(
        () => stream.output().includes(`"payload":{"hi":1},"exchange":"${exchange}","routingKey":"a.b"`),
        'the message in curl',
        WAIT_MS,
      ).catch((err: Error) => {
        throw new Error(`${err.message}; curl printed:\n${stream.output()}`);
      });
    });

    it('runs the web page snippet in Chromium, from another origin', async function () {
      const html = adapt(readFileSync(path.join(EXAMPLES, 'page.html'), 'utf8'));
      site = http.createServer((_req, res) => {
        res.writeHead(200, { 'Content-Type': 'text/html' });
        res.end(html);
      });
      await new Promise<void>((resolve) => site?.listen(0, 'localhost', resolve));
      browser = await launchChromium();
      const page = await browser.newPage();
      const logs: string[] = [];
      page.on('console', (m) => logs.push(m.text()));
      await page.goto(`http://localhost:${(site.address() as AddressInfo).port}/`);
      await waitUntil(() => logs.includes('bound: messages published from now on arrive'), 'ready', WAIT_MS);
      await runToEnd('publish.sh');
      await waitUntil(
        () => logs.some((l) => l.startsWith(`${exchange} a.b`)),
        `the message in the page's console (${logs.join(' | ')})`,
        WAIT_MS,
      );
      expect(logs.filter((l) => l.startsWith('server says'))).to.deep.equal([]);
    });

    it('runs the three processes of the cluster snippet, and both edges deliver', async () => {
      await needRedis();
      const block = codeBlocks('README.md').find((b) => firstLine(b) === RUN_HERE.cluster);
      const lines = (block?.text ?? '').trim().split('\n').slice(1); // the set-up line is the quick start's
      expect(lines).to.have.length(3);
      const ports = new Map<string, string>();
      for (const p of ['8080', '8081', '9090', '9091', '9092']) ports.set(p, String(await freePort()));
      const env = {
        AMQP_URL,
        KEY_PREFIX: `snippets-${run}:`,
        AMQP_QUEUE: `queue/guest/snippets-cluster-${run}`,
        // Each connection, subscription and binding in the logs shown if a message does not arrive.
        LOG_LEVEL: 'debug',
      };
      const commands = lines.map((l) =>
        l
          .replace(/\s+#.*$/, '')
          .replace(/\b(8080|8081|9090|9091|9092)\b/g, (p) => ports.get(p) ?? p)
          .replaceAll('redis://127.0.0.1:6379', REDIS_URL),
      );
      // One at a time: each npm run start:* builds first.
      const processes: { command: string; output: () => string }[] = [];
      for (const [i, command] of commands.entries()) {
        const p = sh(command, env);
        processes.push({ command, output: p.output });
        const want = i === 0 ? 'connected to RabbitMQ' : 'edge running';
        await waitUntil(() => p.output().includes(want) || p.child.exitCode !== null, want, WAIT_MS);
        expect(p.output(), command).to.include(want);
      }
      const clients = [ports.get('8080'), ports.get('8081')].map(
        (p) =>
          new SseClient(
            connectUrl(`http://localhost:${p}`, { bindings: [{ exchange, routingKeyPattern: '#' }] }),
          ),
      );
      try {
        for (const c of clients) await c.waitReady();
        await runToEnd('publish.sh');
        for (const [i, c] of clients.entries()) {
          await c
            .waitFor((x) => x.messages().length === 1, `the message on edge ${i + 1}`)
            .catch((err: Error) => {
              const tails = processes.map(
                (p) => `--- ${p.command}\n${p.output().trim().split('\n').slice(-40).join('\n')}`,
              );
              throw new Error(`${err.message}\n${tails.join('\n')}`);
            });
        }
      } finally {
        for (const c of clients) c.close();
      }
    });
  });
});
