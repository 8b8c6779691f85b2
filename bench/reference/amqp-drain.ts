/**
 * The ingest-throughput baseline: a bare amqplib consume-and-ack loop (ack per message, same
 * prefetch as the ingest) that drains COUNT messages from QUEUE, then prints one JSON line:
 * {"count":N,"firstNs":…,"lastNs":…} (CLOCK_MONOTONIC of the first and last delivery) and exits.
 * Env: AMQP_URL, QUEUE, COUNT, PREFETCH. Run by the harness as plain JavaScript.
 */
import amqp from 'amqplib';

const count = Number(process.env.COUNT);
const connection = await amqp.connect(process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672');
const channel = await connection.createChannel();
await channel.prefetch(Number(process.env.PREFETCH ?? 1000));
let received = 0;
let firstNs = 0n;
await channel.consume(process.env.QUEUE!, (msg) => {
  if (!msg) return;
  if (received === 0) firstNs = process.hrtime.bigint();
  channel.ack(msg);
  if (++received === count) void finish(process.hrtime.bigint());
});

async function finish(lastNs: bigint): Promise<void> {
  // Closing the channel first settles its acks; a connection close could overtake them.
  await channel.close();
  await connection.close();
  process.stdout.write(`{"count":${received},"firstNs":${firstNs},"lastNs":${lastNs}}\n`);
  process.exit(0);
}
