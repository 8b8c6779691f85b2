/**
 * What the Redis history costs Redis: records N messages (FRAME bytes each) over K channels, in
 * batches of BATCH like the router's, through RedisHistory, and prints
 *   - Redis `used_memory` growth (and MEMORY USAGE of the streams) per retained message;
 *   - Redis CPU (`INFO cpu` used_cpu_sys + used_cpu_user) per recorded message, while the channels
 *     fill up and then in the steady state, where every record also trims;
 *   - Redis CPU per read of maxMessages (1000) entries.
 * Redis's CPU counters count every client: on a shared Redis, the idle rate measured first is
 * printed beside the figures. Keys go under a fresh prefix, deleted at the end.
 *
 *   node --import tsx bench/tools/history-cost.ts [N=20000] [K=20] [FRAME=1024] [BATCH=100]
 *   REDIS_URL=redis://127.0.0.1:6380 node --import tsx bench/tools/history-cost.ts
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { RedisHistory, type RecordedMessage } from '@events-proxy/cluster';
import { ORIGIN_CURSOR, names } from '@events-proxy/protocol';

const [N, K, FRAME, BATCH] = [20_000, 20, 1024, 100].map((d, i) => Number(process.argv[2 + i] ?? d)) as [
  number,
  number,
  number,
  number,
];
const READS = 200;
const MAX_MESSAGES = 1000;
const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

function field(info: string, name: string): number {
  const m = new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info);
  if (!m) throw new Error(`INFO has no ${name}`);
  return Number(m[1]);
}

async function cpuSeconds(redis: Redis): Promise<number> {
  const info = await redis.info('cpu');
  return field(info, 'used_cpu_sys') + field(info, 'used_cpu_user');
}

async function usedMemory(redis: Redis): Promise<number> {
  return field(await redis.info('memory'), 'used_memory');
}

/** Redis CPU seconds and wall seconds that `work` took. */
async function measure(redis: Redis, work: () => Promise<void>): Promise<{ cpu: number; wall: number }> {
  const cpu0 = await cpuSeconds(redis);
  const t0 = performance.now();
  await work();
  const wall = (performance.now() - t0) / 1000;
  return { cpu: (await cpuSeconds(redis)) - cpu0, wall };
}

async function main(): Promise<void> {
  const keyPrefix = `bench-history-${randomBytes(4).toString('hex')}:`;
  const admin = new Redis(url);
  const history = new RedisHistory({
    redis: new Redis(url),
    keyPrefix,
    retention: { retentionMs: 3_600_000, maxMessages: MAX_MESSAGES },
  });
  const channels = Array.from({ length: K }, (_, i) => `${keyPrefix}msg:exchange/bench/${i}\u0000#`);
  const frames = Array.from({ length: 16 }, () => randomBytes(FRAME));
  let sent = 0;
  const recordAll = async (count: number) => {
    for (let done = 0; done < count; done += BATCH) {
      const size = Math.min(BATCH, count - done);
      const now = Date.now();
      const cursors = await history.assign(size, now);
      const batch: RecordedMessage[] = cursors.map((cursor) => {
        const i = sent++;
        return { cursor, receivedAt: now, frame: frames[i % frames.length]!, channels: [channels[i % K]!] };
      });
      await history.record(batch);
    }
  };
  try {
    const idle = await measure(admin, () => new Promise((r) => setTimeout(r, 2000)));
    await recordAll(K * 10); // scripts loaded, connections warm
    await Promise.all(channels.map((c) => history.forget(c)));
    const mem0 = await usedMemory(admin);
    const fill = await measure(admin, () => recordAll(N));
    const mem1 = await usedMemory(admin);
    let retained = 0;
    let streamBytes = 0;
    for (const c of channels) {
      const { entries } = names(keyPrefix).historyKeys(c);
      retained += await admin.xlen(entries);
      streamBytes += (await admin.memory('USAGE', entries, 'SAMPLES', '0')) ?? 0;
    }
    const steady = await measure(admin, () => recordAll(N));
    const reads = await measure(admin, async () => {
      for (let i = 0; i < READS; i++) {
        const [replay] = await history.read([channels[i % K]!], ORIGIN_CURSOR);
        if (replay!.entries.length !== MAX_MESSAGES)
          throw new Error(`read ${replay!.entries.length} entries`);
      }
    });
    const us = (seconds: number, per: number) => ((seconds * 1e6) / per).toFixed(1);
    const idleRate = idle.cpu / idle.wall;
    const lines = [
      `redis ${url}, ${N} messages of ${FRAME} B over ${K} channels, batches of ${BATCH}, maxMessages ${MAX_MESSAGES}`,
      `idle Redis CPU (other clients): ${(idleRate * 100).toFixed(1)} % of a core`,
      `retained ${retained} messages: used_memory +${((mem1 - mem0) / retained).toFixed(0)} B per message, ` +
        `MEMORY USAGE of the streams ${(streamBytes / retained).toFixed(0)} B per message`,
      `record while filling: ${us(fill.cpu, N)} us Redis CPU per message (${us(fill.cpu - idleRate * fill.wall, N)} net of idle), ` +
        `${us(fill.wall, N)} us wall per message`,
      `record, steady state (trimming): ${us(steady.cpu, N)} us Redis CPU per message (${us(steady.cpu - idleRate * steady.wall, N)} net of idle), ` +
        `${us(steady.wall, N)} us wall per message`,
      `read of ${MAX_MESSAGES} entries: ${us(reads.cpu, READS)} us Redis CPU (${us(reads.cpu - idleRate * reads.wall, READS)} net of idle), ` +
        `${((reads.wall * 1000) / READS).toFixed(2)} ms wall per read`,
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    await Promise.all(channels.map((c) => history.forget(c)));
    await admin.del(names(keyPrefix).historyPosition);
    await history.close();
    admin.disconnect();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
