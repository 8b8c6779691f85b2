import { isIPv4, isIPv6 } from 'node:net';
import type { IncomingMessage } from 'node:http';

/**
 * The address a request's per-client limits count against. With `trustProxyHops` proxies in front
 * of the edge (TRUST_PROXY), each appending the address it received the request from to
 * X-Forwarded-For, the client is the entry that many from the right; anything further left was
 * written by the client and is ignored. With 0 the header is ignored. A list shorter than that
 * (a request that bypassed a proxy) falls back to its leftmost entry.
 */
export function clientAddress(req: IncomingMessage, trustProxyHops: number): string {
  let address = req.socket.remoteAddress ?? '';
  if (trustProxyHops > 0) {
    const header = req.headers['x-forwarded-for'];
    const entries = (Array.isArray(header) ? header.join(',') : (header ?? ''))
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '');
    // The socket's peer is the nearest proxy; each hop before it added one entry.
    const forwarded = entries[Math.max(0, entries.length - trustProxyHops)];
    if (forwarded !== undefined) address = forwarded;
  }
  return limitKeyOf(address);
}

/**
 * The key an address is counted under: an IPv4 address as is (IPv4-mapped IPv6 too), an IPv6
 * address by its /64 (one subscriber usually holds a whole /64, so counting single addresses would
 * let one client take 2^64 of them), anything else as given.
 */
export function limitKeyOf(address: string): string {
  const bare = address.replace(/^\[|\](:\d+)?$/g, '').replace(/^(\d+\.\d+\.\d+\.\d+):\d+$/, '$1');
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(bare);
  if (mapped) return mapped[1]!;
  if (isIPv4(bare)) return bare;
  if (isIPv6(bare)) return `${ipv6Prefix64(bare)}::/64`;
  return bare;
}

/** The first four groups of an IPv6 address, expanded (`2001:db8::1` → `2001:db8:0:0`). */
function ipv6Prefix64(address: string): string {
  const zone = address.indexOf('%');
  const plain = zone < 0 ? address : address.slice(0, zone);
  const [head = '', tail] = plain.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups =
    tail === undefined
      ? left
      : [...left, ...new Array<string>(8 - left.length - right.length).fill('0'), ...right];
  return groups
    .slice(0, 4)
    .map((g) => parseInt(g, 16).toString(16))
    .join(':');
}
