/** REDIS_URL and REDIS_CLUSTER_NODES (DESIGN.md §4): one or the other, checked with clear errors. */
import { expect } from 'chai';
import type { ConfigError } from '@events-proxy/runtime';
import { EnvReader, checkRedisConfigured, readCommonConfig } from '@events-proxy/runtime';

function read(env: Record<string, string>, role?: string) {
  const reader = new EnvReader(env);
  const config = readCommonConfig(reader);
  if (role) checkRedisConfigured(reader, config, role);
  try {
    reader.done();
    return { config, problems: [] as readonly string[] };
  } catch (err) {
    return { config, problems: (err as ConfigError).problems };
  }
}

const NODES = 'redis://10.0.0.1:7000, redis://10.0.0.2:7000,redis://10.0.0.3:7000';

describe('runtime: Redis configuration', () => {
  it('reads REDIS_CLUSTER_NODES as a list of seeds and picks the sharded bus', () => {
    const { config, problems } = read({ REDIS_CLUSTER_NODES: NODES }, 'edge');
    expect(problems).to.deep.equal([]);
    expect(config.redisClusterNodes).to.deep.equal([
      'redis://10.0.0.1:7000',
      'redis://10.0.0.2:7000',
      'redis://10.0.0.3:7000',
    ]);
    expect(config.redisUrl).to.equal(undefined);
    expect(config.busDriver).to.equal('redis-sharded');
  });

  it('keeps a standalone Redis as it was: no cluster nodes, plain pub/sub by default', () => {
    const { config, problems } = read({ REDIS_URL: 'redis://localhost:6379' }, 'ingest');
    expect(problems).to.deep.equal([]);
    expect(config.redisClusterNodes).to.equal(undefined);
    expect(config.busDriver).to.equal('redis');
  });

  it('refuses REDIS_URL and REDIS_CLUSTER_NODES together, saying which to keep', () => {
    const { problems } = read({ REDIS_URL: 'redis://localhost:6379', REDIS_CLUSTER_NODES: NODES });
    expect(problems).to.deep.equal([
      'REDIS_URL and REDIS_CLUSTER_NODES are both set: set REDIS_URL for a standalone Redis, ' +
        'or REDIS_CLUSTER_NODES for a Redis Cluster, not both',
    ]);
  });

  it('refuses BUS_DRIVER=redis on a Redis Cluster, and accepts redis-sharded', () => {
    expect(read({ REDIS_CLUSTER_NODES: NODES, BUS_DRIVER: 'redis' }).problems).to.deep.equal([
      'BUS_DRIVER=redis cannot be used with REDIS_CLUSTER_NODES: a Redis Cluster uses sharded pub/sub; ' +
        'unset BUS_DRIVER or set it to redis-sharded',
    ]);
    expect(read({ REDIS_CLUSTER_NODES: NODES, BUS_DRIVER: 'redis-sharded' }).problems).to.deep.equal([]);
  });

  it('names each malformed seed and what it should look like', () => {
    const { problems } = read({
      REDIS_CLUSTER_NODES: 'redis://ok:7000,10.0.0.2:7000,http://h:1,redis://nohost,redis://h:7000/2',
    });
    expect(problems).to.deep.equal([
      'REDIS_CLUSTER_NODES: "10.0.0.2:7000" is not a URL: expected redis://host:port',
      'REDIS_CLUSTER_NODES: "http://h:1" must start with redis:// or rediss://',
      'REDIS_CLUSTER_NODES: "redis://nohost" needs a host and a port: expected redis://host:port',
      'REDIS_CLUSTER_NODES: "redis://h:7000/2" names a database: a Redis Cluster has only database 0, drop the path',
    ]);
  });

  it('asks a cluster role for one of the two when neither is set; an empty list counts as unset', () => {
    expect(read({ REDIS_CLUSTER_NODES: ' , ' }, 'edge').problems).to.deep.equal([
      'REDIS_URL is required by the edge role (e.g. redis://localhost:6379), ' +
        'or REDIS_CLUSTER_NODES for a Redis Cluster (e.g. redis://redis-0:6379,redis://redis-1:6379)',
    ]);
    expect(read({}).problems).to.deep.equal([]); // single-node mode: neither is fine
  });
});
