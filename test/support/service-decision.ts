/**
 * Where the tests get RabbitMQ and Redis, decided once per run, for each of the two on its own:
 *
 * 1. `AMQP_URL` / `REDIS_URL` set (non-empty): that one, as given.
 * 2. Else the local default (127.0.0.1:5672 guest/guest, 127.0.0.1:6379) answers: the local one.
 * 3. Else a Docker engine is reachable: a container of a pinned image, started with testcontainers
 *    once per run (test/support/setup-services.ts) and stopped at the end.
 * 4. Else nothing: the tests that need it fail with a message saying how to provide it.
 *
 * Pure over its probes, so the decision is tested without Docker (test/support/service-decision.test.ts).
 */

export const LOCAL_AMQP_URL = 'amqp://guest:guest@127.0.0.1:5672';
export const LOCAL_REDIS_URL = 'redis://127.0.0.1:6379';

/** The images started when Docker is the source: pinned, the versions CI's Debian packages have. */
export const IMAGES = { rabbit: 'rabbitmq:3.10-management', redis: 'redis:7.0.15' } as const;

export type Source = 'env' | 'local' | 'docker' | 'missing';

export interface ServiceChoice {
  readonly source: Source;
  /** The URL to use; for `docker`, the container's URL once started (set by the setup). */
  readonly url: string | undefined;
}

export interface Decision {
  readonly rabbit: ServiceChoice;
  readonly redis: ServiceChoice;
}

export interface Probes {
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Whether something accepts TCP connections at this URL. */
  reachable(url: string): Promise<boolean>;
  /** Whether a Docker engine answers (asked only when some service is neither given nor local). */
  dockerAvailable(): Promise<boolean>;
}

export async function decideServices(probes: Probes): Promise<Decision> {
  const given = (name: string): string | undefined => {
    const v = probes.env[name];
    return v === undefined || v.trim() === '' ? undefined : v;
  };
  const first = async (envName: string, local: string): Promise<ServiceChoice | undefined> => {
    const url = given(envName);
    if (url !== undefined) return { source: 'env', url };
    if (await probes.reachable(local)) return { source: 'local', url: local };
    return undefined;
  };
  const [rabbit, redis] = await Promise.all([
    first('AMQP_URL', LOCAL_AMQP_URL),
    first('REDIS_URL', LOCAL_REDIS_URL),
  ]);
  if (rabbit && redis) return { rabbit, redis };
  const docker = await probes.dockerAvailable();
  const fallback: ServiceChoice = docker
    ? { source: 'docker', url: undefined }
    : { source: 'missing', url: undefined };
  return { rabbit: rabbit ?? fallback, redis: redis ?? fallback };
}

/** What a test that needs the service says when it is unreachable. */
export function unreachableMessage(name: 'RabbitMQ' | 'Redis', url: string): string {
  const envName = name === 'RabbitMQ' ? 'AMQP_URL' : 'REDIS_URL';
  const image = name === 'RabbitMQ' ? IMAGES.rabbit : IMAGES.redis;
  return (
    `${name} is not reachable at ${url}. Start it with \`bash scripts/services.sh\` ` +
    `(installs and starts Redis and RabbitMQ on Debian), point ${envName} at a running one, ` +
    `or run the tests where a Docker engine answers (they then start ${image} with testcontainers).`
  );
}
