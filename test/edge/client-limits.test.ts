// Per-client limits on one edge (docs/security.md "Per-client limits"): streams per address and per
// token subject, the connect rate, TRUST_PROXY, and that refused connects hold nothing. The
// cluster-wide behaviour (two edges, one SIGKILLed) is in test/e2e/client-limits.test.ts.
import { expect } from 'chai';
import { READY_FRAME } from '@events-proxy/protocol';
import { hsToken, newSecret } from '../support/tokens.js';
import { waitUntil } from '../support/wait.js';
import { startEdge, type TestEdge } from './harness.js';
import { RawResponse, fetchAll } from './raw-http.js';

const b = { exchange: 'exchange/test/client-limits', routingKeyPattern: '#' };

describe('edge: per-client limits', function () {
  this.timeout(30_000);
  let t: TestEdge | undefined;
  const open: RawResponse[] = [];

  afterEach(async () => {
    for (const r of open.splice(0)) r.close();
    await t?.stop();
    t = undefined;
  });

  const stream = async (url: string, headers: Record<string, string> = {}): Promise<RawResponse> => {
    const r = await RawResponse.open(url, headers);
    open.push(r);
    await r.waitFor((x) => x.body.includes('event: ready'), 'ready');
    return r;
  };

  const tooMany = async (url: string, headers: Record<string, string> = {}) => {
    const res = await fetchAll(url, headers);
    expect(res.status, res.body).to.equal(429);
    expect(res.headers['content-type']).to.match(/^application\/json/);
    return {
      retryAfter: Number(res.headers['retry-after']),
      body: JSON.parse(res.body) as { code: string; message: string },
    };
  };

  it('MAX_STREAMS_PER_IP: 429 with Retry-After beyond it, on v1 and v2, and room again once a stream ends', async () => {
    t = await startEdge({ MAX_STREAMS_PER_IP: '2' });
    const first = await stream(t.url([b]));
    await stream(t.url([b], '/api/events/v2/connect/'));
    for (const prefix of ['/api/events/v1/connect/', '/api/events/v2/connect/']) {
      const refused = await tooMany(t.url([b], prefix));
      expect(refused.retryAfter).to.equal(10);
      expect(refused.body).to.deep.equal({
        code: 'TooManyRequests',
        message: 'Too many open streams from this address (at most 2); close one and retry',
      });
    }
    expect(await t.metric('events_edge_connections_rejected_total', { reason: 'streams_per_ip' })).to.equal(
      2,
    );
    expect(t.edge.stats().connections).to.equal(2);
    first.close();
    await waitUntil(() => t!.edge.stats().connections === 1, 'the first stream gone', 5_000);
    await stream(t.url([b]));
  });

  it('refused connects take no stream count: bad bindings, bad tokens', async () => {
    const secret = newSecret();
    t = await startEdge({ MAX_STREAMS_PER_IP: '1', AUTH_MODE: 'jwt', AUTH_JWT_SECRET: secret });
    for (let i = 0; i < 3; i++) {
      const bad = await fetchAll(`${t.url('{"bindings": 5}')}&access_token=${await hsToken(secret, ['*'])}`);
      expect(bad.body).to.match(/event: error/);
      const unauthorized = await fetchAll(t.url([b]));
      expect(unauthorized.body).to.match(/Unauthorized: a token is required/);
    }
    await stream(`${t.url([b])}&access_token=${await hsToken(secret, ['*'])}`);
  });

  it('a stream the server ends (its token expired) gives its count back', async () => {
    const secret = newSecret();
    t = await startEdge({ MAX_STREAMS_PER_IP: '1', AUTH_MODE: 'jwt', AUTH_JWT_SECRET: secret });
    const r = await stream(`${t.url([b])}&access_token=${await hsToken(secret, ['*'], { expiresIn: 2 })}`);
    await r.waitEnd(6_000);
    await stream(`${t.url([b])}&access_token=${await hsToken(secret, ['*'])}`);
  });

  it('TRUST_PROXY=1: counts the address the nearest proxy saw, not what the client wrote further left', async () => {
    t = await startEdge({ MAX_STREAMS_PER_IP: '1', TRUST_PROXY: '1' });
    await stream(t.url([b]), { 'X-Forwarded-For': '198.51.100.7' });
    await stream(t.url([b]), { 'X-Forwarded-For': '198.51.100.8' });
    // A client prepending a made-up address still counts as the address the proxy appended.
    await tooMany(t.url([b]), { 'X-Forwarded-For': '203.0.113.99, 198.51.100.7' });
    // IPv6 clients count per /64.
    await stream(t.url([b]), { 'X-Forwarded-For': '2001:db8:1:2::1' });
    await tooMany(t.url([b]), { 'X-Forwarded-For': '2001:db8:1:2:ffff::2' });
  });

  it('TRUST_PROXY=0 (the default) ignores X-Forwarded-For', async () => {
    t = await startEdge({ MAX_STREAMS_PER_IP: '1' });
    await stream(t.url([b]), { 'X-Forwarded-For': '198.51.100.7' });
    await tooMany(t.url([b]), { 'X-Forwarded-For': '198.51.100.8' });
  });

  it('MAX_STREAMS_PER_SUBJECT: one subject across addresses; other subjects and tokens without sub are not held back', async () => {
    const secret = newSecret();
    t = await startEdge({
      AUTH_MODE: 'jwt',
      AUTH_JWT_SECRET: secret,
      MAX_STREAMS_PER_SUBJECT: '1',
      TRUST_PROXY: '1',
    });
    const as = async (sub: string | undefined) =>
      `${t!.url([b])}&access_token=${await hsToken(secret, ['*'], sub === undefined ? {} : { subject: sub })}`;
    await stream(await as('alice'), { 'X-Forwarded-For': '198.51.100.1' });
    const refused = await tooMany(await as('alice'), { 'X-Forwarded-For': '198.51.100.2' });
    expect(refused.body.message).to.equal(
      "Too many open streams for this token's subject (at most 1); close one and retry",
    );
    expect(
      await t.metric('events_edge_connections_rejected_total', { reason: 'streams_per_subject' }),
    ).to.equal(1);
    await stream(await as('bob'), { 'X-Forwarded-For': '198.51.100.2' });
    await stream(await as(undefined));
    await stream(await as(undefined));
  });

  it('CONNECT_RATE_PER_IP: the burst, then 429 with the seconds until the next, every attempt counted', async () => {
    t = await startEdge({ CONNECT_RATE_PER_IP: '0.5', CONNECT_BURST_PER_IP: '3' });
    // Refused attempts count too: a client cannot probe faster than the rate.
    expect((await fetchAll(t.url('nonsense'))).status).to.equal(200);
    await stream(t.url([b]));
    await stream(t.url([b]));
    const refused = await tooMany(t.url([b]));
    expect(refused.retryAfter).to.be.within(1, 2);
    expect(refused.body.message).to.match(
      /Too many connects from this address \(at most 0.5 per second, 3 at once\)/,
    );
    expect(await t.metric('events_edge_connections_rejected_total', { reason: 'connect_rate' })).to.equal(1);
  });

  it('with no limit set (the default), one address may open many streams', async () => {
    t = await startEdge();
    for (let i = 0; i < 30; i++) {
      const r = await RawResponse.open(t.url([b]));
      open.push(r);
    }
    for (const r of open) await r.waitFor((x) => x.body === READY_FRAME, 'ready');
  });
});
