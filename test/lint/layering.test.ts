// The layering of docs/architecture.md is enforced by eslint.config.js (no-restricted-imports): each
// deliberate violation below fails `npm run check`, and the allowed imports pass.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { ESLint } from 'eslint';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** One import of `names` from `source`, re-exported so nothing else in the snippet is flagged. */
const importing = (source: string, names = 'x'): string =>
  `import { ${names} } from '${source}';\nexport { ${names} };\n`;

const VIOLATIONS: { name: string; file: string; code: string; rule?: string }[] = [
  { name: 'protocol importing ioredis', file: 'libs/protocol/src/x.ts', code: importing('ioredis', 'Redis') },
  {
    name: 'client importing @events-proxy/protocol',
    file: 'libs/client/src/x.ts',
    code: importing('@events-proxy/protocol', 'TopicMatcher'),
  },
  {
    name: 'client importing node:http',
    file: 'libs/client/src/x.ts',
    code: importing('node:http', 'request'),
  },
  {
    name: 'client importing events',
    file: 'libs/client/src/x.ts',
    code: importing('events', 'EventEmitter'),
  },
  {
    name: 'protocol importing node:net',
    file: 'libs/protocol/src/x.ts',
    code: importing('node:net', 'connect'),
  },
  { name: 'protocol importing fs/promises', file: 'libs/protocol/src/x.ts', code: importing('fs/promises') },
  { name: 'protocol importing prom-client', file: 'libs/protocol/src/x.ts', code: importing('prom-client') },
  {
    name: 'protocol importing @events-proxy/cluster',
    file: 'libs/protocol/src/x.ts',
    code: importing('@events-proxy/cluster', 'MemoryBus'),
  },
  {
    name: 'runtime importing @events-proxy/cluster',
    file: 'libs/runtime/src/x.ts',
    code: importing('@events-proxy/cluster'),
  },
  {
    name: 'cluster importing @events-proxy/edge',
    file: 'libs/cluster/src/x.ts',
    code: importing('@events-proxy/edge', 'createEdge'),
  },
  { name: 'cluster importing amqplib', file: 'libs/cluster/src/redis/x.ts', code: importing('amqplib') },
  {
    name: 'edge importing @events-proxy/ingest',
    file: 'services/edge/src/x.ts',
    code: importing('@events-proxy/ingest', 'createIngest'),
  },
  {
    name: 'edge importing @events-proxy/single-node',
    file: 'services/edge/src/x.ts',
    code: importing('@events-proxy/single-node'),
  },
  { name: 'edge importing amqplib', file: 'services/edge/src/x.ts', code: importing('amqplib') },
  { name: 'ingest importing express', file: 'services/ingest/src/x.ts', code: importing('express') },
  {
    name: "ingest importing edge's file by relative path",
    file: 'services/ingest/src/x.ts',
    code: importing('../../edge/src/hub.js', 'Hub'),
  },
  {
    name: "a nested edge file importing cluster's dist/ by relative path",
    file: 'services/edge/src/sub/x.ts',
    code: `import type { Bus } from '../../../../libs/cluster/dist/index.js';\nexport type { Bus };\n`,
  },
  {
    name: 'a package file leaving its src/',
    file: 'libs/cluster/src/x.ts',
    code: importing('../../../test/support/wait.js'),
  },
  {
    name: 'a relative import written un-normalized',
    file: 'services/edge/src/x.ts',
    code: importing('./../../ingest/src/hub.js'),
  },
  {
    name: 'a test importing ../../services/edge/src/hub.js',
    file: 'test/edge/x.test.ts',
    code: importing('../../services/edge/src/hub.js', 'Hub'),
  },
  {
    name: 'a test importing @events-proxy/edge/src/hub.js',
    file: 'test/edge/x.test.ts',
    code: importing('@events-proxy/edge/src/hub.js', 'Hub'),
  },
  {
    name: 'a benchmark importing ../../libs/cluster/dist/index.js',
    file: 'bench/lib/x.ts',
    code: importing('../../libs/cluster/dist/index.js'),
  },
  {
    name: "a test's dynamic import of ../../services/ingest/src/config.js",
    file: 'test/deploy/x.test.ts',
    code: `export const m = await import('../../services/ingest/src/config.js');\n`,
    rule: 'no-restricted-syntax',
  },
  {
    name: 'a dynamic import in product code',
    file: 'services/edge/src/x.ts',
    code: `export const m = await import('@events-proxy/cluster');\n`,
    rule: 'no-restricted-syntax',
  },
];

const ALLOWED: { name: string; file: string; code: string }[] = [
  {
    name: 'client importing eventsource-parser',
    file: 'libs/client/src/x.ts',
    code: importing('eventsource-parser', 'createParser'),
  },
  {
    name: 'edge importing @events-proxy/cluster',
    file: 'services/edge/src/x.ts',
    code: importing('@events-proxy/cluster', 'MemoryBus'),
  },
  {
    name: 'single-node importing both roles',
    file: 'services/single-node/src/x.ts',
    code: `import { createEdge } from '@events-proxy/edge';\nimport { createIngest } from '@events-proxy/ingest';\nexport { createEdge, createIngest };\n`,
  },
  {
    name: 'cluster importing runtime',
    file: 'libs/cluster/src/x.ts',
    code: importing('@events-proxy/runtime', 'createLogger'),
  },
  {
    name: 'cluster importing ioredis',
    file: 'libs/cluster/src/redis/x.ts',
    code: importing('ioredis', 'Redis'),
  },
  {
    name: 'runtime importing protocol',
    file: 'libs/runtime/src/x.ts',
    code: importing('@events-proxy/protocol'),
  },
  {
    name: 'protocol importing node:crypto',
    file: 'libs/protocol/src/x.ts',
    code: importing('node:crypto', 'createHash'),
  },
  {
    name: 'a nested package file importing its own src/',
    file: 'libs/cluster/src/redis/x.ts',
    code: importing('../bus.js'),
  },
  {
    name: "a package's own test importing the repository's test helpers",
    file: 'services/edge/src/x.test.ts',
    code: importing('../../../test/edge/harness.js', 'SpyBus'),
  },
  {
    name: 'a test importing test and bench helpers',
    file: 'test/edge/x.test.ts',
    code: `import { waitUntil } from '../support/wait.js';\nimport { x } from '../../bench/lib/context.js';\nexport { waitUntil, x };\n`,
  },
  {
    name: 'a test importing @events-proxy/edge',
    file: 'test/edge/x.test.ts',
    code: importing('@events-proxy/edge', 'createEdge'),
  },
];

describe('lint: layering', () => {
  let eslint: ESLint;

  before(() => {
    eslint = new ESLint({ cwd: ROOT });
  });

  const lint = async (code: string, file: string) => {
    const [result] = await eslint.lintText(code, { filePath: path.join(ROOT, file) });
    return result!.messages.map((m) => ({ rule: m.ruleId, severity: m.severity, message: m.message }));
  };

  for (const v of VIOLATIONS) {
    it(`fails ${v.name}`, async () => {
      const messages = await lint(v.code, v.file);
      const rule = v.rule ?? 'no-restricted-imports';
      expect(
        messages.filter((m) => m.rule === rule && m.severity === 2),
        JSON.stringify(messages),
      ).to.have.length.greaterThan(0);
      expect(
        messages.every((m) => m.message.includes('docs/architecture.md')),
        JSON.stringify(messages),
      ).to.equal(true);
    });
  }

  for (const a of ALLOWED) {
    it(`allows ${a.name}`, async () => {
      expect(await lint(a.code, a.file)).to.deep.equal([]);
    });
  }
});
