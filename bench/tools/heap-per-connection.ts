/**
 * What one idle connection costs on the JavaScript heap, class by class: starts the target
 * (`edge` or `reference`), takes a heap snapshot after a warm-up, opens N idle connections,
 * takes another, and prints the growth per connection.
 *
 *   npm run build && node --import tsx bench/tools/heap-per-connection.ts [edge|reference] [N]
 */
import fs from 'node:fs';
import path from 'node:path';
import { guardChildren } from '../lib/children.js';
import { BenchContext, type TargetKind } from '../lib/context.js';
import { heapGrowth, readHeapClasses } from '../lib/heap-snapshot.js';
import { sleep } from '../lib/load.js';
import { ClientGroup } from '../lib/sse-clients.js';
import { connectPath, startTarget } from '../lib/targets.js';

const kind = (process.argv[2] ?? 'edge') as TargetKind;
const connections = Number(process.argv[3] ?? 5000);

/** Signals the process and waits until its new snapshot file stops growing. */
async function snapshot(pid: number, dir: string): Promise<string> {
  const before = new Set(fs.readdirSync(dir));
  process.kill(pid, 'SIGUSR2');
  for (let i = 0; i < 600; i++) {
    await sleep(500);
    const file = fs.readdirSync(dir).find((f) => f.endsWith('.heapsnapshot') && !before.has(f));
    if (!file) continue;
    const size = fs.statSync(path.join(dir, file)).size;
    await sleep(1000);
    if (size > 0 && fs.statSync(path.join(dir, file)).size === size) return path.join(dir, file);
  }
  throw new Error('no heap snapshot appeared');
}

async function main(): Promise<void> {
  guardChildren();
  const ctx = await BenchContext.create({
    quick: false,
    profile: false,
    edges: 1,
    targets: [kind],
    amqpUrl: process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672',
    redisUrl: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    log: (line) => process.stderr.write(`${line}\n`),
  });
  const dir = path.join(ctx.runDir, 'heap');
  fs.mkdirSync(dir, { recursive: true });
  const env = { NODE_OPTIONS: `--heapsnapshot-signal=SIGUSR2 --diagnostic-dir=${dir}` };
  const target = await startTarget(ctx, kind, { label: 'heap', env });
  try {
    const exchange = await ctx.topicExchange('heap');
    const pathAndQuery = connectPath([{ exchange, routingKeyPattern: 'bench.heap.#' }]);
    const pid = target.servers[0]!.pid;
    const warmup = ClientGroup.start({ ports: target.ports, path: pathAndQuery, conns: 100 });
    await warmup.settled(60_000);
    await warmup.finish();
    await sleep(1000);
    const empty = readHeapClasses(await snapshot(pid, dir));
    const group = ClientGroup.start({ ports: target.ports, path: pathAndQuery, conns: connections });
    const settled = await group.settled(300_000);
    await sleep(2000);
    const full = readHeapClasses(await snapshot(pid, dir));
    await group.finish();
    const growth = heapGrowth(empty, full, settled.ready);
    const heapPerConn = growth.reduce((s, g) => s + g.bytesPerConnection, 0);
    console.log(
      `${kind}: ${settled.ready} connections; JS heap (self sizes) +${heapPerConn} B per connection ` +
        '(RSS figures: the memory scenario; taking a snapshot inflates RSS)',
    );
    console.log('bytes/conn  objects/conn  class');
    for (const g of growth.slice(0, 30)) {
      console.log(
        `${String(g.bytesPerConnection).padStart(10)}  ${String(g.countPerConnection).padStart(12)}  ${g.name}`,
      );
    }
  } finally {
    await target.stop();
    await ctx.close();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
