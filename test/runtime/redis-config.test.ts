/**
 * REDIS_URL, REDIS_CLUSTER_NODES and REDIS_SENTINELS with REDIS_SENTINEL_MASTER (DESIGN.md §4):
 * exactly one of the three, checked with clear errors.
 */
import { expect } from 'chai';
import type { ConfigError } from '@events-proxy/runtime';
import {
  EnvReader,
  checkRedisConfigured,
  parseSentinelList,
  readCommonConfig,
  redisTargetSummary,
} from '@events-proxy/runtime';

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
      'REDIS_URL and REDIS_CLUSTER_NODES are both set: set exactly one of REDIS_URL (a standalone Redis), ' +
        'REDIS_CLUSTER_NODES (a Redis Cluster) or REDIS_SENTINELS (a Redis Sentinel group)',
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

  it('asks a cluster role for one of the three when none is set; an empty list counts as unset', () => {
    const required =
      'REDIS_URL is required by the edge role (e.g. redis://localhost:6379), ' +
      'or REDIS_CLUSTER_NODES for a Redis Cluster (e.g. redis://redis-0:6379,redis://redis-1:6379), ' +
      'or REDIS_SENTINELS with REDIS_SENTINEL_MASTER for a Redis Sentinel group (e.g. redis-sentinel:26379 and mymaster)';
    expect(read({ REDIS_CLUSTER_NODES: ' , ' }, 'edge').problems).to.deep.equal([required]);
    expect(read({ REDIS_SENTINELS: ' ,' }, 'edge').problems).to.deep.equal([required]);
    expect(read({}).problems).to.deep.equal([]); // single-node mode: none is fine
  });
});

describe('runtime: Redis Sentinel configuration', () => {
  const SENTINELS = 'sentinel-0:26379, sentinel-1:26379,sentinel-2:26379';

  it('reads REDIS_SENTINELS and REDIS_SENTINEL_MASTER; a cluster role counts it as configured', () => {
    const { config, problems } = read(
      { REDIS_SENTINELS: SENTINELS, REDIS_SENTINEL_MASTER: 'mymaster' },
      'edge',
    );
    expect(problems).to.deep.equal([]);
    expect(config.redisSentinel).to.deep.equal({
      sentinels: ['sentinel-0:26379', 'sentinel-1:26379', 'sentinel-2:26379'],
      masterName: 'mymaster',
    });
    expect(config.redisUrl).to.equal(undefined);
    expect(config.redisClusterNodes).to.equal(undefined);
    // A standalone topology: plain pub/sub by default, sharded pub/sub on request.
    expect(config.busDriver).to.equal('redis');
    expect(
      read({ REDIS_SENTINELS: SENTINELS, REDIS_SENTINEL_MASTER: 'm', BUS_DRIVER: 'redis-sharded' }).problems,
    ).to.deep.equal([]);
    expect(redisTargetSummary(config)).to.deep.equal({ sentinels: 3, master: 'mymaster' });
  });

  it('requires REDIS_SENTINEL_MASTER with REDIS_SENTINELS, and refuses it (and the password) alone', () => {
    expect(read({ REDIS_SENTINELS: SENTINELS }, 'ingest').problems).to.deep.equal([
      'REDIS_SENTINEL_MASTER is required with REDIS_SENTINELS: the name the sentinels monitor the master ' +
        "under (`sentinel monitor <name> …`; Bitnami's chart: mymaster)",
    ]);
    expect(read({ REDIS_URL: 'redis://r:6379', REDIS_SENTINEL_MASTER: 'mymaster' }).problems).to.deep.equal([
      'REDIS_SENTINEL_MASTER is set without REDIS_SENTINELS: set both for a Redis Sentinel group, or neither',
    ]);
    expect(read({ REDIS_URL: 'redis://r:6379', REDIS_SENTINEL_PASSWORD: 'pw' }).problems).to.deep.equal([
      "REDIS_SENTINEL_PASSWORD is set without REDIS_SENTINELS: it is the sentinels' password",
    ]);
  });

  it('refuses REDIS_SENTINELS with REDIS_URL or REDIS_CLUSTER_NODES, naming exactly one to keep', () => {
    const sentinel = { REDIS_SENTINELS: SENTINELS, REDIS_SENTINEL_MASTER: 'mymaster' };
    const oneOf =
      'set exactly one of REDIS_URL (a standalone Redis), ' +
      'REDIS_CLUSTER_NODES (a Redis Cluster) or REDIS_SENTINELS (a Redis Sentinel group)';
    expect(read({ ...sentinel, REDIS_URL: 'redis://r:6379' }).problems).to.deep.equal([
      `REDIS_URL and REDIS_SENTINELS are both set: ${oneOf}`,
    ]);
    expect(read({ ...sentinel, REDIS_CLUSTER_NODES: NODES }).problems).to.deep.equal([
      `REDIS_CLUSTER_NODES and REDIS_SENTINELS are both set: ${oneOf}`,
    ]);
    expect(
      read({ ...sentinel, REDIS_URL: 'redis://r:6379', REDIS_CLUSTER_NODES: NODES }).problems,
    ).to.deep.equal([`REDIS_URL and REDIS_CLUSTER_NODES and REDIS_SENTINELS are all set: ${oneOf}`]);
  });

  it('names each malformed sentinel address and what it should look like', () => {
    const { problems } = read({
      REDIS_SENTINELS:
        'ok:26379,nohostport,redis://nohost,http://h:1,h:99999,redis://h:1/x,redis://h:1?x=1,[::1]:26379,redis://[::1]:2',
      REDIS_SENTINEL_MASTER: 'mymaster',
    });
    expect(problems).to.deep.equal([
      'REDIS_SENTINELS: "nohostport" is not host:port or a redis:// URL: expected e.g. redis-sentinel:26379',
      'REDIS_SENTINELS: "redis://nohost" needs a host and a port: expected redis://host:port',
      'REDIS_SENTINELS: "http://h:1" must start with redis:// or rediss://',
      'REDIS_SENTINELS: "h:99999" has a port outside 1 to 65535',
      'REDIS_SENTINELS: "redis://h:1/x" has a path that is not a database number: expected redis://host:port[/db]',
      'REDIS_SENTINELS: "redis://h:1?x=1" has a query or fragment, which REDIS_SENTINELS does not read',
    ]);
  });

  it('takes credentials, TLS and the database from the URL form, for sentinels and data nodes alike', () => {
    expect(parseSentinelList(['rediss://app:p%40ss@s-0:26379/2', 's-1:26379', '[::1]:26380'])).to.deep.equal({
      list: {
        sentinels: [
          { host: 's-0', port: 26379 },
          { host: 's-1', port: 26379 },
          { host: '::1', port: 26380 },
        ],
        username: 'app',
        password: 'p@ss',
        tls: true,
        db: 2,
      },
      problems: [],
    });
    expect(parseSentinelList(['s-0:26379']).list).to.deep.equal({
      sentinels: [{ host: 's-0', port: 26379 }],
      tls: false,
      db: 0,
    });
    // The same settings on every URL is fine; different ones are refused.
    expect(parseSentinelList(['redis://:pw@a:1', 'redis://:pw@b:1']).problems).to.deep.equal([]);
    expect(
      parseSentinelList(['redis://:pw@a:1', 'rediss://:pw@b:1', 'redis://:other@c:1']).problems,
    ).to.deep.equal([
      '"rediss://:pw@b:1" has other credentials, scheme or database than "redis://:pw@a:1": every sentinel URL ' +
        'must carry the same ones (or give them once and the other sentinels as host:port)',
      '"redis://:other@c:1" has other credentials, scheme or database than "redis://:pw@a:1": every sentinel URL ' +
        'must carry the same ones (or give them once and the other sentinels as host:port)',
    ]);
  });

  it("keeps REDIS_SENTINEL_PASSWORD, the sentinels' own password, apart", () => {
    const { config, problems } = read({
      REDIS_SENTINELS: 'redis://:data-pw@s-0:26379',
      REDIS_SENTINEL_MASTER: 'mymaster',
      REDIS_SENTINEL_PASSWORD: 'sentinel-pw',
    });
    expect(problems).to.deep.equal([]);
    expect(config.redisSentinel?.sentinelPassword).to.equal('sentinel-pw');
  });
});
