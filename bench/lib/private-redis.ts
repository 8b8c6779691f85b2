/**
 * A redis-server of the benchmark's own, on a free port, for figures that need Redis's CPU to be
 * this run's alone: the machine's Redis also serves whatever else runs here (other test runs share
 * it), and its CPU is theirs too. Stopped by its pid with the other children.
 */
import net from 'node:net';
import { spawnChild, type Child } from './children.js';
import { freePort } from './free-port.js';
import { sleep } from './load.js';

export interface PrivateRedis {
  readonly url: string;
  readonly pid: number;
  readonly child: Child;
  stop(): Promise<void>;
}

function pong(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    let reply = '';
    socket.setTimeout(500, () => socket.destroy());
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (d) => {
      reply += d.toString();
      if (reply.includes('\r\n')) socket.end();
    });
    socket.on('close', () => resolve(reply.startsWith('+PONG')));
    socket.on('error', () => resolve(false));
  });
}

export async function startPrivateRedis(logFile: string): Promise<PrivateRedis> {
  const port = await freePort();
  const child = spawnChild(
    'redis-private',
    'redis-server',
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      // What docs/operations.md asks of a production Redis (BullMQ and the history need it).
      '--maxmemory-policy',
      'noeviction',
      '--maxclients',
      '1000',
    ],
    { logFile },
  );
  const deadline = Date.now() + 10_000;
  while (!(await pong(port))) {
    if (!child.isRunning()) throw new Error(`redis-server exited at start (see ${logFile})`);
    if (Date.now() > deadline) throw new Error(`redis-server on ${port} did not answer PING in 10 s`);
    await sleep(50);
  }
  return {
    url: `redis://127.0.0.1:${port}`,
    pid: child.pid,
    child,
    stop: async () => {
      await child.stop('SIGTERM', 5000);
    },
  };
}
