import { expect } from 'chai';
import { READY_FRAME } from '@events-proxy/protocol';
import { startEdge, type TestEdge } from './harness.js';
import { RawResponse, fetchAll } from './raw-http.js';

const binding = { exchange: 'exchange/test/routes', routingKeyPattern: '#' };

describe('edge: routes and HTTP answers', () => {
  let t: TestEdge;
  let listed: TestEdge;
  const open: RawResponse[] = [];

  before(async () => {
    t = await startEdge();
    listed = await startEdge({ CORS_ORIGINS: 'https://a.example,https://b.example' });
  });

  afterEach(() => {
    for (const r of open.splice(0)) r.close();
  });

  after(async () => {
    await t?.stop();
    await listed?.stop();
  });

  const stream = async (url: string, headers?: Record<string, string>) => {
    const r = await RawResponse.open(url, headers);
    open.push(r);
    return r;
  };

  for (const prefix of ['/api/events/v1', '/events/v1', '/v1']) {
    for (const slash of ['', '/']) {
      it(`streams on ${prefix}/connect${slash}`, async () => {
        const r = await stream(t.url([binding], `${prefix}/connect${slash}`));
        expect(r.status).to.equal(200);
        await r.waitFor((x) => x.body === READY_FRAME, 'ready');
      });
    }

    it(`answers ${prefix}/ping with alive and uptime`, async () => {
      const res = await fetchAll(`${t.base}${prefix}/ping`);
      expect(res.status).to.equal(200);
      expect(res.headers['content-type']).to.match(/^application\/json/);
      const body = JSON.parse(res.body) as { alive: unknown; uptime: unknown };
      expect(Object.keys(body)).to.deep.equal(['alive', 'uptime']);
      expect(body.alive).to.equal(true);
      expect(body.uptime).to.be.a('number').and.to.be.greaterThan(0);
    });
  }

  it('sends exactly the stream headers, flushed before any event', async () => {
    t.ingest.gate.shut(); // no `ready` yet: the headers must arrive on their own
    const r = await stream(t.url([{ exchange: 'exchange/test/headers', routingKeyPattern: '#' }]));
    expect(r.status).to.equal(200);
    expect(r.headers['content-type']).to.equal('text/event-stream');
    expect(r.headers['cache-control']).to.equal('no-cache');
    expect(r.headers['access-control-allow-origin']).to.equal('*');
    expect(r.headers['x-accel-buffering']).to.equal('no');
    expect(r.headers['connection']).to.equal('keep-alive');
    expect(r.headers).not.to.have.property('x-powered-by');
    expect(r.headers).not.to.have.property('etag');
    expect(r.headers).not.to.have.property('vary');
    expect(r.body).to.equal('');
    t.ingest.gate.open();
    await r.waitFor((x) => x.body === READY_FRAME, 'ready');
  });

  it('answers any non-empty Last-Event-ID with 204 and no body', async () => {
    const res = await fetchAll(t.url([binding]), { 'Last-Event-ID': '-' });
    expect(res.status).to.equal(204);
    expect(res.body).to.equal('');
    const other = await fetchAll(t.url('not even json'), { 'Last-Event-ID': '42' });
    expect(other.status).to.equal(204);
  });

  it('answers an unknown query key with 400 InvalidRequestArguments naming the key', async () => {
    const before = await t.metric('events_edge_connections_rejected_total', { reason: 'bad_request' });
    const res = await fetchAll(`${t.url([binding])}&foo=1`);
    expect(res.status).to.equal(400);
    expect(res.headers['content-type']).to.match(/^application\/json/);
    const body = JSON.parse(res.body) as { code: string; message: string };
    expect(body.code).to.equal('InvalidRequestArguments');
    expect(body.message).to.include('`foo`');
    const noBindings = await fetchAll(`${t.base}/v1/connect?other=x`);
    expect(noBindings.status).to.equal(400);
    expect((JSON.parse(noBindings.body) as { message: string }).message).to.include('`other`');
    expect(await t.metric('events_edge_connections_rejected_total', { reason: 'bad_request' })).to.equal(
      before + 2,
    );
  });

  it('answers other paths with a 404 JSON body', async () => {
    for (const path of ['/v1/connectx', '/v3/connect', '/api/events/v1/ping/extra', '/favicon.ico']) {
      const res = await fetchAll(`${t.base}${path}`);
      expect(res.status, path).to.equal(404);
      expect(res.headers['content-type']).to.match(/^application\/json/);
      expect(JSON.parse(res.body)).to.have.property('code', 'ResourceNotFound');
    }
  });

  it('echoes a listed Origin with Vary: Origin, and gives others no Allow-Origin', async () => {
    const a = await stream(listed.url([binding]), { Origin: 'https://a.example' });
    expect(a.headers['access-control-allow-origin']).to.equal('https://a.example');
    expect(a.headers['vary']).to.equal('Origin');
    const b = await fetchAll(`${listed.base}/v1/ping`, { Origin: 'https://b.example' });
    expect(b.headers['access-control-allow-origin']).to.equal('https://b.example');
    const other = await stream(listed.url([binding]), { Origin: 'https://evil.example' });
    expect(other.status).to.equal(200);
    expect(other.headers).not.to.have.property('access-control-allow-origin');
    expect(other.headers['vary']).to.equal('Origin');
    const any = await stream(t.url([binding]), { Origin: 'https://evil.example' });
    expect(any.headers['access-control-allow-origin']).to.equal('*');
  });
});
