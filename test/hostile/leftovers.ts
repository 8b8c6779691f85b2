/** What a run left in RabbitMQ and Redis: the checks that refused requests hold nothing. */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Redis } from 'ioredis';
import { bindingKey, names, parseBindingKey, type Binding } from '@events-proxy/protocol';

const run = promisify(execFile);

/** Every binding RabbitMQ has into `queue` (the default exchange's implicit one aside). */
export async function queueBindings(queue: string): Promise<Binding[]> {
  const { stdout } = await run('rabbitmqctl', [
    '-q',
    'list_bindings',
    'source_name',
    'destination_name',
    'routing_key',
    '--formatter',
    'json',
  ]);
  const rows = JSON.parse(stdout) as { source_name: string; destination_name: string; routing_key: string }[];
  return rows
    .filter((r) => r.destination_name === queue && r.source_name !== '')
    .map((r) => ({ exchange: r.source_name, routingKeyPattern: r.routing_key }));
}

/**
 * The Redis keys of an installation other than the BullMQ queue's own, and the binding keys in
 * its lease set: after every client but `kept` left and the leases lapsed, these should be only
 * the lease set holding exactly `kept`.
 */
export async function redisHoldings(
  redis: Redis,
  keyPrefix: string,
  allKeys: readonly string[],
): Promise<{ otherKeys: string[]; leased: string[] }> {
  const n = names(keyPrefix);
  const leased = await redis.zrange(n.leases, 0, -1);
  // The history of a binding still on the broker is its own; a reaped one's must be gone.
  const liveHistory = new Set(
    leased.flatMap((key) => Object.values(n.historyKeys(n.channel(parseBindingKey(key))))),
  );
  // The running edges' own stream counts (DESIGN.md §3e) are theirs, not a client's.
  const edgeLoad = n.edgeLoad('');
  const otherKeys = allKeys.filter(
    (k) =>
      k !== n.leases &&
      k !== n.historyPosition &&
      !liveHistory.has(k) &&
      !k.startsWith(`${n.bullPrefix}:`) &&
      k !== n.edgeLoads &&
      !k.startsWith(edgeLoad),
  );
  return { otherKeys, leased: leased.sort() };
}

/** The bindings carried by BullMQ jobs still stored under the installation's prefix. */
export async function queuedBindings(
  redis: Redis,
  keyPrefix: string,
  allKeys: readonly string[],
): Promise<Binding[]> {
  const n = names(keyPrefix);
  const jobKey = new RegExp(`^${escape(`${n.bullPrefix}:${n.bindQueue}:`)}[^:]+$`);
  const found: Binding[] = [];
  for (const key of allKeys.filter((k) => jobKey.test(k))) {
    if ((await redis.type(key)) !== 'hash') continue;
    const data = await redis.hget(key, 'data');
    if (data !== null) found.push(JSON.parse(data) as Binding);
  }
  return found;
}

export const keyOf = (b: Binding): string => bindingKey(b);

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
