// The Dockerfile, read statically (there is no Docker engine on CI machines): stages, the
// production stage's contents and user, and that its entry points are the npm start scripts.
import { expect } from 'chai';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

interface Instruction {
  op: string;
  args: string;
  line: number;
}

interface Stage {
  image: string;
  name: string | undefined;
  instructions: Instruction[];
}

/** Instructions with continuation lines joined and comments dropped. */
function parseDockerfile(text: string): { args: Map<string, string>; stages: Stage[] } {
  const instructions: Instruction[] = [];
  let pending = '';
  let start = 0;
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (pending === '' && (line === '' || line.startsWith('#'))) return;
    if (pending !== '' && line.startsWith('#')) return;
    if (pending === '') start = i + 1;
    if (line.endsWith('\\')) {
      pending += line.slice(0, -1) + ' ';
      return;
    }
    const full = (pending + line).trim();
    pending = '';
    const m = /^(\S+)\s*(.*)$/s.exec(full);
    if (m?.[1]) instructions.push({ op: m[1].toUpperCase(), args: (m[2] ?? '').trim(), line: start });
  });
  const args = new Map<string, string>();
  const stages: Stage[] = [];
  for (const ins of instructions) {
    if (ins.op === 'ARG' && stages.length === 0) {
      const [name, value] = ins.args.split('=', 2);
      if (name) args.set(name.trim(), (value ?? '').trim());
    } else if (ins.op === 'FROM') {
      const m = /^(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args);
      const image = (m?.[1] ?? '').replace(/\$\{?(\w+)\}?/g, (_, n: string) => args.get(n) ?? '');
      stages.push({ image, name: m?.[2], instructions: [] });
    } else {
      const current = stages[stages.length - 1];
      expect(current, `${ins.op} at line ${ins.line} is inside a stage`).to.not.equal(undefined);
      current?.instructions.push(ins);
    }
  }
  return { args, stages };
}

function ops(stage: Stage, op: string): Instruction[] {
  return stage.instructions.filter((i) => i.op === op);
}

function startScripts(): Record<string, string> {
  const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
    scripts: Record<string, string>;
  };
  return Object.fromEntries(Object.entries(pkg.scripts).filter(([name]) => /^start(:|$)/.test(name)));
}

function workspaces(): string[] {
  const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { workspaces: string[] };
  return pkg.workspaces;
}

describe('Dockerfile', function () {
  const text = readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8');
  const { stages } = parseDockerfile(text);
  const final = stages[stages.length - 1] as Stage;
  const build = stages.find((s) => ops(s, 'RUN').some((r) => /npm run build/.test(r.args)));

  it('builds in one stage and runs from a small production stage', function () {
    expect(stages.length).to.be.at.least(2);
    expect(build, 'a stage runs npm ci and npm run build').to.not.equal(undefined);
    expect(ops(build as Stage, 'RUN').some((r) => /\bnpm ci\b/.test(r.args))).to.equal(true);
    expect(build).to.not.equal(final);
    expect(final.image).to.equal('node:20-bookworm-slim');
    for (const s of stages) expect(s.image, `stage ${s.name} base`).to.match(/^node:20-bookworm-slim$/);
  });

  it('installs only production dependencies in the final stage', function () {
    const runs = ops(final, 'RUN').map((r) => r.args);
    expect(runs.some((r) => /\bnpm ci\b.*--omit=dev/.test(r))).to.equal(true);
    expect(runs.some((r) => /npm run build|npm install(?!-)/.test(r))).to.equal(false);
  });

  it('copies only manifests and compiled dist folders into the final stage', function () {
    const copies = ops(final, 'COPY');
    expect(copies.length).to.be.greaterThan(0);
    for (const c of copies) {
      expect(c.args, `line ${c.line}: COPY into the final stage comes from another stage`).to.match(
        /--from=\S+/,
      );
    }
    // The stage the dist folders come from collects exactly <workspace>/dist.
    const fromBuild = copies.find((c) => c.args.includes(`--from=${build?.name}`));
    expect(fromBuild, 'dist folders copied from the build stage').to.not.equal(undefined);
    const collect = ops(build as Stage, 'RUN').find((r) => /npm run build/.test(r.args))?.args ?? '';
    expect(collect).to.match(/workspaces/);
    expect(collect).to.match(/cp -R "\$ws\/dist"/);
    // The manifests stage copies package.json files, the lockfile and .npmrc, nothing else.
    const manifests = stages.find(
      (s) => s.name && copies.some((c) => c.args.includes(`--from=${s.name} `)) && s !== build,
    );
    expect(manifests, 'a manifests stage').to.not.equal(undefined);
    const commands = ops(manifests as Stage, 'RUN')
      .flatMap((r) => r.args.split(/&&|;|\bthen\b|\bdo\b/))
      .map((c) => c.trim())
      .filter((c) => c.startsWith('cp '));
    expect(commands.length, 'cp commands in the manifests stage').to.be.at.least(2);
    for (const command of commands) {
      const words = command
        .split(/\s+/)
        .slice(1)
        .filter((w) => !w.startsWith('-'));
      for (const src of words.slice(0, -1)) {
        expect(src.replace(/"/g, ''), `${command}: only manifests`).to.match(
          /(^|\/)(package\.json|package-lock\.json|\.npmrc)$/,
        );
      }
    }
  });

  it("ships the edge's inspector page where the edge looks for it, beside its dist/", async function () {
    const collect = ops(build as Stage, 'RUN').find((r) => /npm run build/.test(r.args))?.args ?? '';
    expect(collect).to.include('cp -R services/edge/inspector /out/services/edge/inspector');
    // /out/ is copied to the final stage's WORKDIR: the files land at <WORKDIR>/services/edge/inspector.
    const workdir =
      ops(final, 'WORKDIR')
        .map((w) => w.args)
        .pop() ?? '';
    const fromOut = ops(final, 'COPY').find((c) => /--from=\S+\s+\/out\/\s+\.\/$/.test(c.args));
    expect(fromOut, 'COPY --from=<build> /out/ ./').to.not.equal(undefined);
    // The compiled edge resolves the folder from dist/ exactly as it does from src/.
    const { INSPECTOR_DIR } = await import('@events-proxy/edge');
    expect(path.relative(ROOT, INSPECTOR_DIR)).to.equal(path.join('services', 'edge', 'inspector'));
    const fromDist = new URL('../inspector/', `file://${workdir}/services/edge/dist/inspector.js`).pathname;
    expect(fromDist).to.equal(`${workdir}/services/edge/inspector/`);
    for (const name of ['index.html', 'inspector.css', 'inspector.js']) {
      expect(existsSync(path.join(INSPECTOR_DIR, name)), name).to.equal(true);
    }
  });

  it('runs as the unprivileged node user with NODE_ENV=production', function () {
    const users = ops(final, 'USER');
    expect(users.length, 'USER in the final stage').to.be.at.least(1);
    expect(users[users.length - 1]?.args).to.equal('node');
    const userIndex = final.instructions.lastIndexOf(users[users.length - 1] as Instruction);
    expect(
      final.instructions.slice(userIndex).some((i) => i.op === 'RUN'),
      'nothing runs as root after USER',
    ).to.equal(false);
    expect(ops(final, 'ENV').map((e) => e.args)).to.include('NODE_ENV=production');
  });

  it('exposes the HTTP and metrics ports', function () {
    const ports = ops(final, 'EXPOSE').flatMap((e) => e.args.split(/\s+/));
    expect(ports).to.include.members(['8080', '9090']);
  });

  it('starts the edge by default, with a path an npm start script uses', function () {
    const cmds = ops(final, 'CMD');
    expect(cmds).to.have.length(1);
    const cmd = JSON.parse(cmds[0]?.args ?? '') as string[];
    expect(cmd).to.deep.equal(['node', 'services/edge/dist/main.js']);
    expect(ops(final, 'ENTRYPOINT'), 'role chosen by overriding the command').to.have.length(0);
    const scripts = startScripts();
    expect(Object.values(scripts)).to.include(`node ${cmd[1]}`);
  });

  it('contains every start script target (start, start:edge, start:ingest)', function () {
    const scripts = startScripts();
    expect(scripts).to.include.keys('start', 'start:edge', 'start:ingest');
    const ws = workspaces();
    for (const [name, command] of Object.entries(scripts)) {
      const m = /^node\s+(\S+)$/.exec(command);
      expect(m, `${name} is "node <file>"`).to.not.equal(null);
      const target = m?.[1] ?? '';
      const owner = ws.find((w) => target.startsWith(`${w}/dist/`));
      expect(owner, `${name}: ${target} lies in a workspace's dist/ (copied into the image)`).to.not.equal(
        undefined,
      );
      expect(text, `${name}: ${target} documented in the Dockerfile`).to.include(target);
    }
  });

  it('keeps local state out of the build context (.dockerignore)', function () {
    const ignore = readFileSync(path.join(ROOT, '.dockerignore'), 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('#'));
    expect(ignore).to.include.members(['**/node_modules', '**/dist', '.git', '.tmp']);
    for (const needed of ['package.json', 'package-lock.json', 'libs', 'services', 'tsconfig.base.json']) {
      expect(ignore, `${needed} stays in the context`).to.not.include(needed);
    }
  });
});
