import { expect } from 'chai';
import { ConfigError } from '@events-proxy/runtime';
import {
  DEFAULT_AMQP_URL,
  ENV_NAMES,
  loadIngestConfig,
  redactAmqpUrl,
  redactAmqpUrls,
} from '@events-proxy/ingest';

const REDIS = { REDIS_URL: 'redis://localhost:6379' };

function problemsOf(env: NodeJS.ProcessEnv, opts?: { requireRedis?: boolean }): readonly string[] {
  try {
    loadIngestConfig(env, opts);
  } catch (err) {
    expect(err).to.be.instanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  throw new Error('expected a ConfigError');
}

describe('ingest: config', () => {
  it('has the documented defaults', () => {
    const c = loadIngestConfig(REDIS);
    expect(c).to.deep.include({
      amqpUrl: DEFAULT_AMQP_URL,
      amqpUrls: [DEFAULT_AMQP_URL],
      amqpReconnectMaxDelayMs: 5000,
      queueName: 'queue/guest/events-proxy',
      queueType: 'classic',
      prefetch: 1000,
      queueMaxLength: 100_000,
      queueMessageTtlMs: 300_000,
      singleActiveConsumer: true,
      bindConcurrency: 32,
      redisUrl: 'redis://localhost:6379',
      busDriver: 'redis',
      keyPrefix: 'events-proxy:',
      bindingLeaseMs: 60_000,
      metricsPort: 9090,
      logLevel: 'info',
    });
  });

  it('reads every setting', () => {
    const c = loadIngestConfig({
      ...REDIS,
      AMQP_URL: 'amqp://alice:secret@rabbit:5672/vh',
      AMQP_QUEUE: 'queue/alice/mine',
      AMQP_QUEUE_TYPE: 'quorum',
      AMQP_RECONNECT_MAX_DELAY_SECONDS: '2.5',
      AMQP_PREFETCH: '50',
      AMQP_QUEUE_MAX_LENGTH: '10',
      AMQP_QUEUE_MESSAGE_TTL_SECONDS: '2.5',
      AMQP_SINGLE_ACTIVE_CONSUMER: 'false',
      BIND_CONCURRENCY: '3',
      MAX_MESSAGE_BYTES: '65536',
    });
    expect(c).to.deep.include({
      amqpUrl: 'amqp://alice:secret@rabbit:5672/vh',
      queueName: 'queue/alice/mine',
      queueType: 'quorum',
      amqpReconnectMaxDelayMs: 2500,
      prefetch: 50,
      queueMaxLength: 10,
      queueMessageTtlMs: 2500,
      singleActiveConsumer: false,
      bindConcurrency: 3,
      maxMessageBytes: 65_536,
    });
  });

  it('names the default queue after the AMQP user', () => {
    expect(loadIngestConfig({ ...REDIS, AMQP_URL: 'amqp://bob%40x:pw@h' }).queueName).to.equal(
      'queue/bob@x/events-proxy',
    );
    expect(loadIngestConfig({ ...REDIS, AMQP_URL: 'amqp://h' }).queueName).to.equal(
      'queue/guest/events-proxy',
    );
  });

  it("takes a comma list of broker URLs, in order, naming the default queue after the first URL's user", () => {
    const c = loadIngestConfig({
      ...REDIS,
      AMQP_URL: ' amqp://carol:pw@n1:5672/vh , amqps://carol:pw@n2/vh,amqp://other:pw@n3:5673/vh ',
    });
    expect(c.amqpUrls).to.deep.equal([
      'amqp://carol:pw@n1:5672/vh',
      'amqps://carol:pw@n2/vh',
      'amqp://other:pw@n3:5673/vh',
    ]);
    expect(c.amqpUrl).to.equal('amqp://carol:pw@n1:5672/vh');
    expect(c.queueName).to.equal('queue/carol/events-proxy');
  });

  it('checks each URL of the list, naming entries by position and never echoing them', () => {
    const problems = problemsOf({
      ...REDIS,
      AMQP_URL: 'amqp://u:hunter2@n1,http://u:hunter2@n2,not a url hunter2,amqp://u:hunter2@n1',
    });
    expect(problems).to.deep.equal([
      'AMQP_URL entry 2 of 4: expected a URL starting with amqp:// or amqps://',
      'AMQP_URL entry 3 of 4: expected a URL starting with amqp:// or amqps://',
      'AMQP_URL lists amqp://n1:5672/ more than once',
    ]);
    expect(problemsOf({ ...REDIS, AMQP_URL: 'amqp://h1/a,amqp://h2/b' })).to.deep.equal([
      'AMQP_URL: every URL must name the same virtual host (the nodes of one RabbitMQ cluster); found a, b',
    ]);
  });

  it('refuses an unknown AMQP_QUEUE_TYPE and a reconnect cap out of range', () => {
    expect(
      problemsOf({ ...REDIS, AMQP_QUEUE_TYPE: 'stream', AMQP_RECONNECT_MAX_DELAY_SECONDS: '0.1' }),
    ).to.deep.equal([
      'AMQP_RECONNECT_MAX_DELAY_SECONDS="0.1": expected a number of seconds from 0.5 to 300',
      'AMQP_QUEUE_TYPE="stream": expected one of classic, quorum',
    ]);
  });

  it('builds a TLS URL from PULSE_* when AMQP_URL is unset, URL-encoding each part', () => {
    const c = loadIngestConfig({
      ...REDIS,
      PULSE_USERNAME: 'user/1',
      PULSE_PASSWORD: 'p@ss:w/rd',
      PULSE_HOSTNAME: 'pulse.example.com',
      PULSE_VHOST: 'v/h',
    });
    expect(c.amqpUrl).to.equal('amqps://user%2F1:p%40ss%3Aw%2Frd@pulse.example.com:5671/v%2Fh');
    expect(c.queueName).to.equal('queue/user/1/events-proxy');
    const u = new URL(c.amqpUrl);
    expect(decodeURIComponent(u.password)).to.equal('p@ss:w/rd');
  });

  it('prefers AMQP_URL over PULSE_*', () => {
    const c = loadIngestConfig({
      ...REDIS,
      AMQP_URL: 'amqp://a:b@h:1',
      PULSE_HOSTNAME: 'p',
      PULSE_USERNAME: 'u',
    });
    expect(c.amqpUrl).to.equal('amqp://a:b@h:1');
  });

  it('lists every bad value at once, without echoing the AMQP URL', () => {
    const problems = problemsOf({
      AMQP_URL: 'http://user:hunter2@h',
      AMQP_PREFETCH: '0',
      AMQP_QUEUE_MAX_LENGTH: 'lots',
      AMQP_QUEUE_MESSAGE_TTL_SECONDS: '-1',
      AMQP_SINGLE_ACTIVE_CONSUMER: 'maybe',
      BIND_CONCURRENCY: '1.5',
    });
    const text = problems.join('\n');
    for (const name of [
      'REDIS_URL',
      'AMQP_URL',
      'AMQP_PREFETCH',
      'AMQP_QUEUE_MAX_LENGTH',
      'AMQP_QUEUE_MESSAGE_TTL_SECONDS',
      'AMQP_SINGLE_ACTIVE_CONSUMER',
      'BIND_CONCURRENCY',
    ]) {
      expect(text).to.contain(name);
    }
    expect(problems).to.have.length(7);
    expect(text).not.to.contain('hunter2');
  });

  it('asks for the Pulse credentials when only PULSE_HOSTNAME is set', () => {
    const problems = problemsOf({ ...REDIS, PULSE_HOSTNAME: 'pulse.example.com' });
    expect(problems.join('\n')).to.contain('PULSE_USERNAME').and.contain('PULSE_PASSWORD');
  });

  it('requires REDIS_URL unless told otherwise', () => {
    expect(problemsOf({})).to.deep.equal([
      'REDIS_URL is required by the ingest role (e.g. redis://localhost:6379), ' +
        'or REDIS_CLUSTER_NODES for a Redis Cluster (e.g. redis://redis-0:6379,redis://redis-1:6379), ' +
        'or REDIS_SENTINELS with REDIS_SENTINEL_MASTER for a Redis Sentinel group (e.g. redis-sentinel:26379 and mymaster)',
    ]);
    expect(loadIngestConfig({}, { requireRedis: false }).redisUrl).to.equal(undefined);
  });

  it('ENV_NAMES lists exactly the variables read', () => {
    expect([...ENV_NAMES].sort()).to.deep.equal(
      [
        'AMQP_URL',
        'AMQP_RECONNECT_MAX_DELAY_SECONDS',
        'AMQP_QUEUE_TYPE',
        'PULSE_USERNAME',
        'PULSE_PASSWORD',
        'PULSE_HOSTNAME',
        'PULSE_VHOST',
        'AMQP_QUEUE',
        'AMQP_PREFETCH',
        'AMQP_QUEUE_MAX_LENGTH',
        'AMQP_QUEUE_MESSAGE_TTL_SECONDS',
        'AMQP_SINGLE_ACTIVE_CONSUMER',
        'BIND_CONCURRENCY',
        'INGEST_HANDOFF_SECONDS',
        'MAX_MESSAGE_BYTES',
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
      ].sort(),
    );
  });

  it('redacts credentials from AMQP URLs', () => {
    expect(redactAmqpUrl('amqps://u:secret@host:5671/v%2Fh')).to.equal('amqps://host:5671/v/h');
    expect(redactAmqpUrl('amqp://u:secret@host')).to.equal('amqp://host:5672/');
    expect(redactAmqpUrls(['amqp://u:secret@a:1', 'amqps://u:secret@b/v'])).to.equal(
      'amqp://a:1/, amqps://b:5671/v',
    );
  });
});
