/**
 * Counts the frames the ingest publishes on one Redis channel: prints `{"subscribed":true}` once
 * subscribed, `{"first":true}` at the first frame, {"count":N,"firstNs":…,"lastNs":…} once COUNT
 * frames have arrived (CLOCK_MONOTONIC), and {"total":M} a second later (extras show as M > N).
 * Env: REDIS_URL, CHANNEL, COUNT. Run by the harness as plain JavaScript.
 */
import { Redis } from 'ioredis';

const count = Number(process.env.COUNT);
const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
let received = 0;
let firstNs = 0n;
redis.on('messageBuffer', () => {
  if (received === 0) {
    firstNs = process.hrtime.bigint();
    process.stdout.write('{"first":true}\n');
  }
  if (++received === count) {
    const lastNs = process.hrtime.bigint();
    process.stdout.write(`{"count":${received},"firstNs":${firstNs},"lastNs":${lastNs}}\n`);
    setTimeout(() => {
      process.stdout.write(`{"total":${received}}\n`);
      redis.disconnect();
      process.exit(0);
    }, 1000);
  }
});
await redis.subscribe(process.env.CHANNEL!);
process.stdout.write('{"subscribed":true}\n');
