/**
 * Ports for the processes and private servers that tests and benchmarks start.
 *
 * Asking the kernel for port 0 and passing that number on leaves a gap until the child binds it,
 * and such ports come from the ephemeral range, which every outgoing connection also draws its
 * local port from: a load test's thousands of client sockets took one in that gap now and then
 * (`EADDRINUSE` in a SIGKILLed-edge run). So ports come from below the ephemeral range, where no
 * outgoing socket can take them, at random, checked free, and never twice from one process.
 */
import fs from 'node:fs';
import net from 'node:net';

const LOWEST = 20_000;
const handedOut = new Set<number>();

/** The first port of the kernel's ephemeral range (net.ipv4.ip_local_port_range). */
function ephemeralStart(): number {
  try {
    const [low] = fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/);
    const n = Number(low);
    if (Number.isInteger(n) && n > LOWEST + 1000) return n;
  } catch {
    // not Linux: the IANA dynamic range
  }
  return 49_152;
}

const HIGHEST = ephemeralStart() - 1;

function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    // No host: the check covers every address, as the child's own listen does.
    server.listen({ port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = LOWEST + Math.floor(Math.random() * (HIGHEST - LOWEST + 1));
    if (handedOut.has(port)) continue;
    handedOut.add(port);
    if (await isFree(port)) return port;
  }
  throw new Error(`no free TCP port found between ${LOWEST} and ${HIGHEST}`);
}
