/**
 * Where the test suites find RabbitMQ and Redis. Tests talk to real ones: AMQP_URL and REDIS_URL
 * (defaults: localhost). `bash scripts/services.sh` installs and starts both on Debian.
 */
import net from 'node:net';

export const AMQP_URL = process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

const checked = new Map<string, Promise<void>>();

function reachable(url: string, defaultPort: number): Promise<boolean> {
  const u = new URL(url);
  return new Promise((resolve) => {
    const socket = net.connect({ host: u.hostname, port: Number(u.port || defaultPort) });
    socket.setTimeout(2000);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(false));
  });
}

function need(name: string, envName: string, url: string, port: number): Promise<void> {
  let p = checked.get(url);
  if (!p) {
    p = reachable(url, port).then((ok) => {
      if (!ok) {
        throw new Error(
          `${name} is not reachable at ${url}. Start it with \`bash scripts/services.sh\` ` +
            `(installs and starts Redis and RabbitMQ on Debian), or point ${envName} at a running one.`,
        );
      }
    });
    checked.set(url, p);
  }
  return p;
}

/** Fails the calling hook with a clear message when RabbitMQ is not reachable. */
export const needRabbit = (): Promise<void> => need('RabbitMQ', 'AMQP_URL', AMQP_URL, 5672);
/** Fails the calling hook with a clear message when Redis is not reachable. */
export const needRedis = (): Promise<void> => need('Redis', 'REDIS_URL', REDIS_URL, 6379);
