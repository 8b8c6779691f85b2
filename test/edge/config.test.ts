import { expect } from 'chai';
import { ConfigError } from '@events-proxy/runtime';
import { ENV_NAMES, loadEdgeConfig } from '@events-proxy/edge';

const REDIS = { REDIS_URL: 'redis://127.0.0.1:6379' };

describe('edge: config', () => {
  it('has the documented defaults', () => {
    const c = loadEdgeConfig(REDIS);
    expect(c).to.deep.include({
      port: 8080,
      pingIntervalSeconds: 20,
      idleTimeoutSeconds: 0,
      maxBindingsPerConnection: 50,
      maxConnections: 10_000,
      bindTimeoutMs: 10_000,
      maxBufferedBytes: 1024 * 1024,
      drainMs: 5_000,
      maxRequestHeaderBytes: 16_384,
      headersTimeoutMs: 10_000,
      redisUrl: 'redis://127.0.0.1:6379',
      busDriver: 'redis',
      bindingLeaseMs: 60_000,
      metricsPort: 9090,
      logLevel: 'info',
      inspectorEnabled: true,
    });
    expect(c.allowedExchangePrefixes).to.deep.equal(['exchange/']);
    expect(c.corsOrigins).to.deep.equal(['*']);
    expect(c.auth).to.deep.equal({
      mode: 'none',
      jwtSecret: undefined,
      publicKeysFile: undefined,
      keysReloadMs: 30_000,
      issuer: undefined,
      audience: undefined,
      cookieName: 'events_token',
      clockSkewSeconds: 30,
    });
    expect(c.clientLimits).to.deep.equal({
      trustProxyHops: 0,
      maxStreamsPerIp: 0,
      maxStreamsPerSubject: 0,
      connectRatePerIp: 0,
      connectBurstPerIp: 20,
      clientLeaseMs: 30_000,
    });
  });

  it('reads the access-control and per-client limit variables', () => {
    const c = loadEdgeConfig({
      ...REDIS,
      AUTH_MODE: 'jwt',
      AUTH_JWT_SECRET: 's'.repeat(32),
      AUTH_JWT_PUBLIC_KEYS_FILE: '/etc/jwks.json',
      AUTH_JWT_KEYS_RELOAD_SECONDS: '0',
      AUTH_JWT_ISSUER: 'https://issuer.example',
      AUTH_JWT_AUDIENCE: 'events',
      AUTH_COOKIE_NAME: 'tok',
      AUTH_CLOCK_SKEW_SECONDS: '5',
      TRUST_PROXY: 'true',
      MAX_STREAMS_PER_IP: '10',
      MAX_STREAMS_PER_SUBJECT: '3',
      CONNECT_RATE_PER_IP: '0.5',
      CONNECT_BURST_PER_IP: '4',
      CLIENT_LEASE_SECONDS: '12',
    });
    expect(c.auth).to.deep.equal({
      mode: 'jwt',
      jwtSecret: 's'.repeat(32),
      publicKeysFile: '/etc/jwks.json',
      keysReloadMs: 0,
      issuer: 'https://issuer.example',
      audience: 'events',
      cookieName: 'tok',
      clockSkewSeconds: 5,
    });
    expect(c.clientLimits).to.deep.equal({
      trustProxyHops: 1,
      maxStreamsPerIp: 10,
      maxStreamsPerSubject: 3,
      connectRatePerIp: 0.5,
      connectBurstPerIp: 4,
      clientLeaseMs: 12_000,
    });
    expect(loadEdgeConfig({ ...REDIS, TRUST_PROXY: '2' }).clientLimits.trustProxyHops).to.equal(2);
    expect(loadEdgeConfig({ ...REDIS, TRUST_PROXY: 'false' }).clientLimits.trustProxyHops).to.equal(0);
  });

  it('names each bad access-control or limit value', () => {
    let problems: readonly string[] = [];
    try {
      loadEdgeConfig({
        ...REDIS,
        TRUST_PROXY: 'yes please',
        CONNECT_RATE_PER_IP: '-1',
        CONNECT_BURST_PER_IP: '0',
      });
    } catch (err) {
      problems = (err as ConfigError).problems;
    }
    expect(problems.join('\n')).to.match(/TRUST_PROXY="yes please": expected the number of proxies/);
    expect(problems.join('\n')).to.match(/CONNECT_RATE_PER_IP="-1": expected connects per second/);
    expect(problems.join('\n')).to.match(/CONNECT_BURST_PER_IP="0"/);
  });

  it('reads every variable', () => {
    const c = loadEdgeConfig({
      ...REDIS,
      PORT: '9000',
      PING_INTERVAL_SECONDS: '3',
      IDLE_TIMEOUT_SECONDS: '20',
      MAX_BINDINGS_PER_CONNECTION: '5',
      MAX_CONNECTIONS: '7',
      ALLOWED_EXCHANGE_PREFIXES: 'exchange/taskcluster-, exchange/other/',
      CORS_ORIGINS: 'https://a.example, https://b.example',
      BIND_TIMEOUT_SECONDS: '2.5',
      MAX_BUFFERED_BYTES: '4096',
      DRAIN_SECONDS: '0',
      KEY_PREFIX: 'x:',
      BUS_DRIVER: 'redis-sharded',
      INSPECTOR_ENABLED: 'false',
    });
    expect(c).to.deep.include({
      port: 9000,
      pingIntervalSeconds: 3,
      idleTimeoutSeconds: 20,
      maxBindingsPerConnection: 5,
      maxConnections: 7,
      bindTimeoutMs: 2_500,
      maxBufferedBytes: 4096,
      drainMs: 0,
      keyPrefix: 'x:',
      busDriver: 'redis-sharded',
      inspectorEnabled: false,
    });
    expect(c.allowedExchangePrefixes).to.deep.equal(['exchange/taskcluster-', 'exchange/other/']);
    expect(c.corsOrigins).to.deep.equal(['https://a.example', 'https://b.example']);
  });

  it('allows every exchange when ALLOWED_EXCHANGE_PREFIXES is set but empty', () => {
    expect(loadEdgeConfig({ ...REDIS, ALLOWED_EXCHANGE_PREFIXES: '' }).allowedExchangePrefixes).to.deep.equal(
      [],
    );
  });

  it('treats a CORS list containing * as any origin', () => {
    expect(loadEdgeConfig({ ...REDIS, CORS_ORIGINS: 'https://a.example,*' }).corsOrigins).to.deep.equal([
      '*',
    ]);
  });

  it('requires REDIS_URL unless told not to', () => {
    expect(() => loadEdgeConfig({})).to.throw(ConfigError, /REDIS_URL is required/);
    expect(loadEdgeConfig({}, { requireRedis: false }).redisUrl).to.equal(undefined);
  });

  it('reports every bad variable at once', () => {
    try {
      loadEdgeConfig({
        ...REDIS,
        PORT: 'http',
        PING_INTERVAL_SECONDS: '0',
        MAX_CONNECTIONS: '-1',
        MAX_BUFFERED_BYTES: '1.5',
        CORS_ORIGINS: ' ',
        BIND_TIMEOUT_SECONDS: 'soon',
      });
      expect.fail('expected a ConfigError');
    } catch (err) {
      expect(err).to.be.instanceOf(ConfigError);
      const problems = (err as ConfigError).problems.join('\n');
      for (const name of [
        'PORT',
        'PING_INTERVAL_SECONDS',
        'MAX_CONNECTIONS',
        'MAX_BUFFERED_BYTES',
        'CORS_ORIGINS',
        'BIND_TIMEOUT_SECONDS',
      ]) {
        expect(problems).to.include(name);
      }
    }
  });

  it('reads the elastic tier settings (§3e), with their defaults and clear errors', () => {
    expect(loadEdgeConfig(REDIS).rebalance).to.deep.equal({
      tolerance: 0.1,
      ratePerSecond: 50,
      maxStreamMs: 0,
    });
    expect(
      loadEdgeConfig({
        ...REDIS,
        REBALANCE_TOLERANCE: '0',
        REBALANCE_RATE_PER_SECOND: '5',
        MAX_STREAM_SECONDS: '3600',
      }).rebalance,
    ).to.deep.equal({ tolerance: 0, ratePerSecond: 5, maxStreamMs: 3_600_000 });
    expect(() => loadEdgeConfig({ ...REDIS, REBALANCE_TOLERANCE: '10%' })).to.throw(
      ConfigError,
      /REBALANCE_TOLERANCE="10%": expected a number from 0 to 10/,
    );
    expect(() => loadEdgeConfig({ ...REDIS, REBALANCE_RATE_PER_SECOND: '0' })).to.throw(
      ConfigError,
      /REBALANCE_RATE_PER_SECOND="0": expected a whole number from 1/,
    );
    expect(() => loadEdgeConfig({ ...REDIS, MAX_STREAM_SECONDS: '-1' })).to.throw(
      ConfigError,
      /MAX_STREAM_SECONDS="-1"/,
    );
  });

  it('lists exactly the variables it reads', () => {
    expect([...ENV_NAMES].sort()).to.deep.equal(
      [
        'REDIS_URL',
        'REDIS_CLUSTER_NODES',
        'REDIS_SENTINELS',
        'REDIS_SENTINEL_MASTER',
        'REDIS_SENTINEL_PASSWORD',
        'BUS_DRIVER',
        'KEY_PREFIX',
        'BINDING_LEASE_SECONDS',
        'HISTORY_SECONDS',
        'HISTORY_MAX_MESSAGES',
        'REDIS_HEALTH_TIMEOUT_SECONDS',
        'METRICS_PORT',
        'LOG_LEVEL',
        'PORT',
        'PING_INTERVAL_SECONDS',
        'IDLE_TIMEOUT_SECONDS',
        'MAX_BINDINGS_PER_CONNECTION',
        'MAX_CONNECTIONS',
        'ALLOWED_EXCHANGE_PREFIXES',
        'CORS_ORIGINS',
        'BIND_TIMEOUT_SECONDS',
        'MAX_BUFFERED_BYTES',
        'DRAIN_SECONDS',
        'BUS_LOSS_GRACE_SECONDS',
        'MAX_REQUEST_HEADER_BYTES',
        'HEADERS_TIMEOUT_SECONDS',
        'LISTEN_BACKLOG',
        'SSE_RETRY_MS',
        'INSPECTOR_ENABLED',
        'AUTH_MODE',
        'AUTH_JWT_SECRET',
        'AUTH_JWT_PUBLIC_KEYS_FILE',
        'AUTH_JWT_KEYS_RELOAD_SECONDS',
        'AUTH_JWT_ISSUER',
        'AUTH_JWT_AUDIENCE',
        'AUTH_COOKIE_NAME',
        'AUTH_CLOCK_SKEW_SECONDS',
        'TRUST_PROXY',
        'MAX_STREAMS_PER_IP',
        'MAX_STREAMS_PER_SUBJECT',
        'CONNECT_RATE_PER_IP',
        'CONNECT_BURST_PER_IP',
        'CLIENT_LEASE_SECONDS',
        'REBALANCE_TOLERANCE',
        'REBALANCE_RATE_PER_SECOND',
        'MAX_STREAM_SECONDS',
      ].sort(),
    );
  });
});
