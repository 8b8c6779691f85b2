/** The tests' choice of RabbitMQ and Redis, with the probes injected (no Docker engine needed). */
import { expect } from 'chai';
import {
  IMAGES,
  LOCAL_AMQP_URL,
  LOCAL_REDIS_URL,
  decideServices,
  unreachableMessage,
  type Probes,
} from './service-decision.js';

function probes(opts: { env?: Record<string, string>; local?: string[]; docker?: boolean }): Probes & {
  dockerAsked: () => number;
} {
  let asked = 0;
  return {
    env: opts.env ?? {},
    reachable: async (url) => (opts.local ?? []).includes(url),
    dockerAvailable: async () => {
      asked++;
      return opts.docker ?? false;
    },
    dockerAsked: () => asked,
  };
}

describe('test support: where RabbitMQ and Redis come from', () => {
  it('uses AMQP_URL and REDIS_URL as given, without probing Docker', async () => {
    const p = probes({
      env: { AMQP_URL: 'amqp://u:p@rabbit:5672', REDIS_URL: 'redis://redis:6379' },
      docker: true,
    });
    expect(await decideServices(p)).to.deep.equal({
      rabbit: { source: 'env', url: 'amqp://u:p@rabbit:5672' },
      redis: { source: 'env', url: 'redis://redis:6379' },
    });
    expect(p.dockerAsked()).to.equal(0);
  });

  it('uses the local services when they answer, without probing Docker (this machine)', async () => {
    const p = probes({ local: [LOCAL_AMQP_URL, LOCAL_REDIS_URL], docker: true });
    expect(await decideServices(p)).to.deep.equal({
      rabbit: { source: 'local', url: LOCAL_AMQP_URL },
      redis: { source: 'local', url: LOCAL_REDIS_URL },
    });
    expect(p.dockerAsked()).to.equal(0);
  });

  it('counts an empty variable as unset', async () => {
    const p = probes({ env: { AMQP_URL: '', REDIS_URL: ' ' }, local: [LOCAL_AMQP_URL, LOCAL_REDIS_URL] });
    const d = await decideServices(p);
    expect([d.rabbit.source, d.redis.source]).to.deep.equal(['local', 'local']);
  });

  it('starts containers with Docker when neither is given nor local', async () => {
    const p = probes({ docker: true });
    expect(await decideServices(p)).to.deep.equal({
      rabbit: { source: 'docker', url: undefined },
      redis: { source: 'docker', url: undefined },
    });
    expect(p.dockerAsked()).to.equal(1);
  });

  it('decides for each service on its own', async () => {
    const d = await decideServices(probes({ local: [LOCAL_AMQP_URL], docker: true }));
    expect([d.rabbit.source, d.redis.source]).to.deep.equal(['local', 'docker']);
    const e = await decideServices(probes({ env: { REDIS_URL: 'redis://r:1' }, docker: true }));
    expect([e.rabbit.source, e.redis.source]).to.deep.equal(['docker', 'env']);
  });

  it('leaves a service missing without Docker, and then says how to provide it', async () => {
    const d = await decideServices(probes({ local: [LOCAL_REDIS_URL], docker: false }));
    expect([d.rabbit.source, d.redis.source]).to.deep.equal(['missing', 'local']);
    const message = unreachableMessage('RabbitMQ', LOCAL_AMQP_URL);
    expect(message).to.include(`RabbitMQ is not reachable at ${LOCAL_AMQP_URL}`);
    expect(message).to.include('bash scripts/services.sh');
    expect(message).to.include('AMQP_URL');
    expect(message).to.include(
      `Docker engine answers (they then start ${IMAGES.rabbit} with testcontainers)`,
    );
    expect(unreachableMessage('Redis', LOCAL_REDIS_URL)).to.include('REDIS_URL').and.include(IMAGES.redis);
  });

  it('pins the images', () => {
    expect(IMAGES).to.deep.equal({ rabbit: 'rabbitmq:3.10-management', redis: 'redis:7.0.15' });
  });
});
