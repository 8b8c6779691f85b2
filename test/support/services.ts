/**
 * Where the test suites find RabbitMQ and Redis: AMQP_URL and REDIS_URL, else the local defaults.
 * test/support/setup-services.ts runs first (mocha `require`) and, on a machine with neither local
 * services nor these variables but with a Docker engine, starts them with testcontainers and sets the
 * variables. `bash scripts/services.sh` installs and starts both on Debian.
 */
import { reachable } from './net-probe.js';
import { LOCAL_AMQP_URL, LOCAL_REDIS_URL, unreachableMessage } from './service-decision.js';

const given = (v: string | undefined): string | undefined =>
  v === undefined || v.trim() === '' ? undefined : v;

export const AMQP_URL = given(process.env.AMQP_URL) ?? LOCAL_AMQP_URL;
export const REDIS_URL = given(process.env.REDIS_URL) ?? LOCAL_REDIS_URL;

const checked = new Map<string, Promise<void>>();

function need(name: 'RabbitMQ' | 'Redis', url: string): Promise<void> {
  let p = checked.get(url);
  if (!p) {
    p = reachable(url).then((ok) => {
      if (!ok) throw new Error(unreachableMessage(name, url));
    });
    checked.set(url, p);
  }
  return p;
}

/** Fails the calling hook with a clear message when RabbitMQ is not reachable. */
export const needRabbit = (): Promise<void> => need('RabbitMQ', AMQP_URL);
/** Fails the calling hook with a clear message when Redis is not reachable. */
export const needRedis = (): Promise<void> => need('Redis', REDIS_URL);
