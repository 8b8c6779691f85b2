// Access control on the edge (DESIGN.md §3c): every refusal reason on v1 and v2, each token
// source and their order, grants, expiry during a stream, JWKS keys and their rotation, CORS
// with credentials. Real HTTP against an in-process edge; tokens signed with `jose`.
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import { expect } from 'chai';
import { SignJWT } from 'jose';
import { ConfigError } from '@events-proxy/runtime';
import { loadEdgeConfig } from '@events-proxy/edge';
import {
  AUDIENCE,
  ISSUER,
  hsToken,
  keyToken,
  newSecret,
  signingKey,
  unsignedToken,
  writeJwks,
  type SigningKey,
} from '../support/tokens.js';
import { waitUntil } from '../support/wait.js';
import { startEdge, type TestEdge } from './harness.js';
import { RawResponse, fetchAll } from './raw-http.js';

const V1 = '/api/events/v1/connect/';
const V2 = '/api/events/v2/connect/';
const granted = { exchange: 'exchange/auth/granted', routingKeyPattern: '#' };
const other = { exchange: 'exchange/auth/other', routingKeyPattern: '#' };

/** The `error` events of an SSE body, as (data, id). */
function errorEvents(body: string): { data: unknown; id: string }[] {
  return [...body.matchAll(/event: error\ndata: (.*)\nid: (.*)\n\n/g)].map((m) => ({
    data: JSON.parse(m[1]!) as unknown,
    id: m[2]!,
  }));
}

describe('edge: access control (AUTH_MODE=jwt)', function () {
  this.timeout(30_000);
  let t: TestEdge;
  let secret: string;
  let rsaA: SigningKey;
  let rsaB: SigningKey;
  let ec: SigningKey;
  let stranger: SigningKey;
  const logLines: string[] = [];
  /** Every token a test sent: none may show up in a log line. */
  const sent: string[] = [];

  const url = (bindings: object[], prefix = V1, query = ''): string =>
    `${t.base}${prefix}?bindings=${encodeURIComponent(JSON.stringify({ bindings }))}${query}`;
  const tokenQuery = (token: string): string => {
    sent.push(token);
    return `&access_token=${encodeURIComponent(token)}`;
  };
  const bearer = (token: string): Record<string, string> => {
    sent.push(token);
    return { Authorization: `Bearer ${token}` };
  };

  before(async () => {
    secret = newSecret();
    [rsaA, rsaB, ec, stranger] = await Promise.all([
      signingKey('RS256', 'rsa-a'),
      signingKey('RS256', 'rsa-b'),
      signingKey('ES256', 'ec-c'),
      signingKey('RS256', 'rsa-a'), // not in the file, but claims key A's kid
    ]);
    t = await startEdge(
      {
        AUTH_MODE: 'jwt',
        AUTH_JWT_SECRET: secret,
        AUTH_JWT_PUBLIC_KEYS_FILE: writeJwks([rsaA.publicJwk, rsaB.publicJwk, ec.publicJwk]),
        AUTH_JWT_ISSUER: ISSUER,
        AUTH_JWT_AUDIENCE: AUDIENCE,
        AUTH_CLOCK_SKEW_SECONDS: '5',
      },
      { logLines },
    );
  });

  after(async () => {
    await t?.stop();
  });

  /** What the edge holds now: a refused connect must leave every one of these as it was. */
  const held = () => ({
    requests: t.ingest.requests.length,
    subscribes: t.bus.subscribeCalls,
    ...t.edge.stats(),
  });

  describe('refuses with a terminal error event naming the reason, and holds nothing', () => {
    const cases: {
      name: string;
      reason: string;
      request: () => Promise<{ query?: string; headers?: Record<string, string>; bindings?: object[] }>;
      text: RegExp;
    }[] = [
      { name: 'no token', reason: 'missing', request: async () => ({}), text: /a token is required/ },
      {
        name: 'a token that is not a JWT',
        reason: 'malformed',
        request: async () => ({ query: tokenQuery('not-a-token') }),
        text: /not a JSON Web Token/,
      },
      {
        name: 'an Authorization header that is not Bearer',
        reason: 'malformed',
        request: async () => ({ headers: { Authorization: 'Basic dXNlcjpwYXNz' } }),
        text: /must be `Bearer <token>`/,
      },
      {
        name: 'an exchanges claim that is not a list',
        reason: 'malformed',
        request: async () => ({ query: tokenQuery(await hsToken(secret, 'exchange/auth/granted')) }),
        text: /`exchanges` claim must be an array/,
      },
      {
        name: 'HS256 signed with another secret',
        reason: 'signature',
        request: async () => ({ query: tokenQuery(await hsToken(newSecret(), [granted.exchange])) }),
        text: /signature does not verify with any HS256 key/,
      },
      {
        name: "RS256 signed by a stranger claiming a known key's kid",
        reason: 'signature',
        request: async () => ({ query: tokenQuery(await keyToken(stranger, [granted.exchange])) }),
        text: /signature does not verify with any RS256 key/,
      },
      {
        name: 'a kid no key has',
        reason: 'signature',
        request: async () => ({
          query: tokenQuery(await keyToken({ ...stranger, kid: 'nobody' }, [granted.exchange])),
        }),
        text: /no RS256 key of this server has the token's kid "nobody"/,
      },
      {
        name: 'alg none',
        reason: 'signature',
        request: async () => ({ query: tokenQuery(unsignedToken([granted.exchange])) }),
        text: /signed with alg "none"; this server accepts HS256, RS256, ES256/,
      },
      {
        name: 'an expired token',
        reason: 'expired',
        request: async () => ({
          query: tokenQuery(await hsToken(secret, [granted.exchange], { expiresIn: -60 })),
        }),
        text: /the token expired at \d{4}-\d\d-\d\dT/,
      },
      {
        name: 'a token expired within the clock skew (exp is exact)',
        reason: 'expired',
        request: async () => ({
          query: tokenQuery(await hsToken(secret, [granted.exchange], { expiresIn: -2 })),
        }),
        text: /the token expired at/,
      },
      {
        name: 'a token not valid yet (nbf past the clock skew)',
        reason: 'not_yet_valid',
        request: async () => ({
          query: tokenQuery(await hsToken(secret, [granted.exchange], { notBefore: 60 })),
        }),
        text: /not valid before/,
      },
      {
        name: 'the wrong issuer',
        reason: 'issuer',
        request: async () => ({
          query: tokenQuery(await hsToken(secret, [granted.exchange], { issuer: 'https://evil.test' })),
        }),
        text: /issuer \(iss\) is not "https:\/\/issuer.test"/,
      },
      {
        name: 'the wrong audience',
        reason: 'audience',
        request: async () => ({
          query: tokenQuery(await hsToken(secret, [granted.exchange], { audience: 'someone-else' })),
        }),
        text: /audience \(aud\) does not include "events-proxy-test"/,
      },
      {
        name: 'an exchange the token does not grant',
        reason: 'not_granted',
        request: async () => ({
          query: tokenQuery(await hsToken(secret, [granted.exchange])),
          bindings: [granted, other],
        }),
        text: /does not grant the exchange "exchange\/auth\/other"/,
      },
      {
        name: 'a token without an exchanges claim',
        reason: 'not_granted',
        request: async () => ({ query: tokenQuery(await hsToken(secret, undefined)) }),
        text: /does not grant the exchange "exchange\/auth\/granted"/,
      },
    ];

    for (const version of [1, 2] as const) {
      for (const c of cases) {
        it(`v${version}: ${c.name} (${c.reason})`, async () => {
          const before = held();
          const rejected = await t.metric('events_edge_connections_rejected_total', {
            reason: 'unauthorized',
          });
          const refusals = await t.metric('events_edge_auth_refusals_total', { reason: c.reason });
          const { query = '', headers = {}, bindings = [granted] } = await c.request();
          const res = await fetchAll(url(bindings, version === 1 ? V1 : V2, query), headers);
          expect(res.status).to.equal(200);
          expect(res.headers['content-type']).to.equal('text/event-stream');
          const errors = errorEvents(res.body);
          expect(errors, res.body).to.have.length(1);
          expect(errors[0]!.data)
            .to.be.a('string')
            .that.matches(/^Unauthorized: /)
            .and.matches(c.text);
          expect(errors[0]!.id, 'a terminal error: the browser does not come back').to.equal('-');
          if (version === 2) expect(res.body).to.match(/^retry: \d+\n\n/);
          expect(res.body).not.to.match(/event: (ready|message|ping)/);
          for (const token of sent) expect(res.body).not.to.include(token);
          expect(held(), 'nothing asked for, subscribed or held').to.deep.equal(before);
          expect(
            await t.metric('events_edge_connections_rejected_total', { reason: 'unauthorized' }),
          ).to.equal(rejected + 1);
          expect(await t.metric('events_edge_auth_refusals_total', { reason: c.reason })).to.equal(
            refusals + 1,
          );
        });
      }
    }
  });

  it('refuses HS256 signed with a public key as the secret (never an HMAC key)', async () => {
    const pem = JSON.stringify(rsaA.publicJwk);
    const forged = await new SignJWT({ exchanges: [granted.exchange] })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setExpirationTime('1h')
      .sign(Buffer.from(pem));
    const res = await fetchAll(url([granted], V1, tokenQuery(forged)));
    expect(errorEvents(res.body)[0]!.data).to.match(/signature does not verify with any HS256 key/);
  });

  describe('accepts a valid token', () => {
    const streams: RawResponse[] = [];
    afterEach(() => {
      for (const r of streams.splice(0)) r.close();
    });
    const ready = async (u: string, headers: Record<string, string> = {}): Promise<RawResponse> => {
      const r = await RawResponse.open(u, headers);
      streams.push(r);
      await r.waitFor((x) => x.body.includes('event: ready'), `ready from ${u}`);
      expect(errorEvents(r.body)).to.deep.equal([]);
      return r;
    };

    it('from the Authorization header, and delivers messages', async () => {
      const r = await ready(url([granted]), bearer(await hsToken(secret, [granted.exchange])));
      await t.publish([granted], 'auth-1', { n: 1 });
      await r.waitFor((x) => x.body.includes('event: message'), 'the message');
    });

    it('from the cookie, among other cookies', async () => {
      const token = await hsToken(secret, [granted.exchange]);
      sent.push(token);
      await ready(url([granted]), { Cookie: `a=1; events_token=${token}; b=2` });
    });

    it('from the access_token query key, on v1 and v2', async () => {
      await ready(url([granted], V1, tokenQuery(await hsToken(secret, [granted.exchange]))));
      const v2 = await ready(url([granted], V2, tokenQuery(await hsToken(secret, [granted.exchange]))));
      expect(v2.body).to.match(/event: ready\ndata: \{"pingIntervalSeconds":60\}\nid: \d{13}-\d{6}\n\n/);
    });

    it('in that order: the header wins over the cookie, the cookie over the query', async () => {
      const good = await hsToken(secret, [granted.exchange]);
      await ready(url([granted], V1, tokenQuery('garbage')), {
        ...bearer(good),
        Cookie: 'events_token=garbage',
      });
      await ready(url([granted], V1, tokenQuery('garbage')), { Cookie: `events_token=${good}` });
      const refused = await fetchAll(url([granted], V1, tokenQuery(good)), {
        Authorization: 'Bearer garbage',
      });
      expect(errorEvents(refused.body)[0]!.data).to.match(/not a JSON Web Token/);
    });

    it('signed by either RS256 key of the file, by its kid or without one, and by the ES256 key', async () => {
      await ready(url([granted], V1, tokenQuery(await keyToken(rsaA, [granted.exchange]))));
      await ready(url([granted], V1, tokenQuery(await keyToken(rsaB, [granted.exchange]))));
      await ready(url([granted], V1, tokenQuery(await keyToken(rsaB, [granted.exchange], { noKid: true }))));
      await ready(url([granted], V1, tokenQuery(await keyToken(ec, [granted.exchange]))));
    });

    it('granting exact names, prefixes ending in *, and every exchange with *', async () => {
      const both = [granted, other];
      await ready(url(both, V1, tokenQuery(await hsToken(secret, [granted.exchange, other.exchange]))));
      await ready(url(both, V1, tokenQuery(await hsToken(secret, ['exchange/auth/*']))));
      await ready(url(both, V1, tokenQuery(await hsToken(secret, ['*']))));
      const prefixOnly = await fetchAll(
        url(both, V1, tokenQuery(await hsToken(secret, ['exchange/auth/g*']))),
      );
      expect(errorEvents(prefixOnly.body)[0]!.data).to.match(
        /does not grant the exchange "exchange\/auth\/other"/,
      );
    });

    it('still within ALLOWED_EXCHANGE_PREFIXES: a grant does not widen it', async () => {
      const outside = { exchange: 'private/x', routingKeyPattern: '#' };
      const res = await fetchAll(url([outside], V1, tokenQuery(await hsToken(secret, ['*']))));
      expect(errorEvents(res.body)[0]!.data).to.match(/exchange\//);
      expect(errorEvents(res.body)[0]!.data).not.to.match(/^Unauthorized/);
    });

    it('without exp: the stream is not ended for it', async () => {
      await ready(
        url([granted], V1, tokenQuery(await hsToken(secret, [granted.exchange], { expiresIn: null }))),
      );
    });
  });

  for (const version of [1, 2] as const) {
    it(`v${version}: ends the stream at the token's exp with a terminal error, and lets go of its binding`, async () => {
      const binding = { exchange: `exchange/auth/expiring-v${version}`, routingKeyPattern: '#' };
      const closes = await t.metric('events_edge_closes_total', { reason: 'expired' });
      const token = await hsToken(secret, [binding.exchange], { expiresIn: 2 });
      const r = await RawResponse.open(url([binding], version === 1 ? V1 : V2, tokenQuery(token)));
      await r.waitFor((x) => x.body.includes('event: ready'), 'ready');
      expect(t.edge.stats().heldBindings).to.be.greaterThan(0);
      await r.waitEnd(6_000);
      const errors = errorEvents(r.body);
      expect(errors).to.have.length(1);
      expect(errors[0]!.data).to.match(/^Unauthorized: the token expired at .*; reconnect with a new token$/);
      expect(errors[0]!.id).to.equal('-');
      expect(await t.metric('events_edge_closes_total', { reason: 'expired' })).to.equal(closes + 1);
      await waitUntil(() => t.edge.stats().connections === 0, 'the connection gone', 5_000);
    });
  }

  // Mocha runs a suite's own tests before its nested suites: this one must come after all of them.
  describe('afterwards', () => {
    it('never writes a token to its log lines', () => {
      expect(sent.length).to.be.greaterThan(10);
      const log = logLines.join('');
      expect(log).to.include('"reason":"unauthorized"');
      for (const token of sent) expect(log).not.to.include(token);
    });
  });
});

describe('edge: JWKS rotation', function () {
  this.timeout(30_000);
  let t: TestEdge | undefined;
  afterEach(async () => {
    await t?.stop();
    t = undefined;
  });

  it('picks up a rewritten keys file without a restart, and keeps the old keys when the new file is broken', async () => {
    const [a, b, c] = await Promise.all([
      signingKey('RS256', 'old'),
      signingKey('RS256', 'new'),
      signingKey('ES256', 'newer'),
    ]);
    const file = writeJwks([a.publicJwk, b.publicJwk]);
    t = await startEdge({
      AUTH_MODE: 'jwt',
      AUTH_JWT_PUBLIC_KEYS_FILE: file,
      AUTH_JWT_KEYS_RELOAD_SECONDS: '0.1',
    });
    const verdict = async (key: SigningKey): Promise<string> => {
      const token = await keyToken(key, [granted.exchange], { issuer: null, audience: null });
      const r = await RawResponse.open(
        `${t!.base}${V1}?bindings=${encodeURIComponent(JSON.stringify({ bindings: [granted] }))}&access_token=${token}`,
      );
      await r.waitFor((x) => x.body.includes('event: '), 'the first event');
      r.close();
      return r.body.includes('event: ready') ? 'accepted' : String(errorEvents(r.body)[0]?.data);
    };
    expect(await verdict(a)).to.equal('accepted');
    expect(await verdict(b)).to.equal('accepted');
    expect(await verdict(c)).to.match(/accepts RS256$/);

    writeJwks([b.publicJwk, c.publicJwk], file);
    await waitUntil(async () => (await verdict(a)) !== 'accepted', 'the retired key refused', 5_000);
    expect(await verdict(a)).to.match(/no RS256 key of this server has the token's kid "old"/);
    expect(await verdict(b)).to.equal('accepted');
    expect(await verdict(c)).to.equal('accepted');

    writeFileSync(file, '{"keys": [');
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(await verdict(b), 'a broken file keeps the keys loaded before').to.equal('accepted');
  });
});

describe('edge: access control configuration', () => {
  const problems = (env: Record<string, string>): string[] => {
    try {
      loadEdgeConfig(env, { requireRedis: false });
      return [];
    } catch (err) {
      expect(err).to.be.instanceOf(ConfigError);
      return [...(err as ConfigError).problems];
    }
  };

  it('AUTH_MODE=none is the default, and access_token is then an unknown query key', async () => {
    const t = await startEdge();
    try {
      expect(t.config.auth.mode).to.equal('none');
      const res = await fetchAll(`${t.url([granted])}&access_token=x`);
      expect(res.status).to.equal(400);
      expect(res.body).to.match(/Unknown query parameter `access_token`/);
    } finally {
      await t.stop();
    }
  });

  it('refuses to start with jwt and no key, a short secret, or a bad cookie name', () => {
    expect(problems({ AUTH_MODE: 'jwt' }).join('\n')).to.match(/AUTH_MODE=jwt needs a key/);
    const short = problems({ AUTH_MODE: 'jwt', AUTH_JWT_SECRET: 'short-secret' });
    expect(short.join('\n')).to.match(/AUTH_JWT_SECRET is 12 bytes: an HS256 secret needs at least 32/);
    expect(short.join('\n'), 'the secret itself is not echoed').not.to.include('short-secret');
    expect(problems({ AUTH_COOKIE_NAME: 'a b' }).join('\n')).to.match(/AUTH_COOKIE_NAME/);
    expect(problems({ AUTH_MODE: 'basic' }).join('\n')).to.match(/AUTH_MODE.*none, jwt/);
  });

  it('refuses to start with a keys file that is missing, holds a private key, or has no usable key', async () => {
    const { privateKey } = await signingKey('RS256', 'p');
    const { exportJWK } = await import('jose');
    const privateJwk = await exportJWK(privateKey);
    const weak = { kty: 'oct', k: 'c2VjcmV0' };
    for (const [file, text] of [
      [
        '/nonexistent/jwks.json',
        /AUTH_JWT_PUBLIC_KEYS_FILE="\/nonexistent\/jwks.json": not a readable JSON file/,
      ],
      [writeJwks([privateJwk]), /holds a private key/],
      [writeJwks([weak]), /is a shared secret: public keys only here/],
      [writeJwks([]), /no usable RS256 or ES256 public key/],
    ] as const) {
      let failure: unknown;
      try {
        const t = await startEdge({ AUTH_MODE: 'jwt', AUTH_JWT_PUBLIC_KEYS_FILE: file });
        await t.stop();
      } catch (err) {
        failure = err;
      }
      expect(failure, String(file)).to.be.instanceOf(ConfigError);
      expect((failure as ConfigError).message).to.match(text);
    }
  });
});

describe('edge: CORS with credentials (AUTH_MODE=jwt)', function () {
  this.timeout(20_000);
  let t: TestEdge;
  before(async () => {
    t = await startEdge({
      AUTH_MODE: 'jwt',
      AUTH_JWT_SECRET: newSecret(),
      CORS_ORIGINS: 'https://app.example',
    });
  });
  after(async () => {
    await t?.stop();
  });

  it('a listed origin gets itself and Access-Control-Allow-Credentials; another gets neither', async () => {
    const listed = await fetchAll(t.url([granted]), { Origin: 'https://app.example' });
    expect(listed.headers['access-control-allow-origin']).to.equal('https://app.example');
    expect(listed.headers['access-control-allow-credentials']).to.equal('true');
    expect(listed.headers['vary']).to.equal('Origin');
    const unlisted = await fetchAll(t.url([granted]), { Origin: 'https://evil.example' });
    expect(unlisted.headers).not.to.have.property('access-control-allow-origin');
    expect(unlisted.headers).not.to.have.property('access-control-allow-credentials');
  });

  it('answers a preflight for a fetch-based client sending Authorization and Last-Event-ID', async () => {
    const res = await fetch(`${t.base}${V2}`, {
      method: 'OPTIONS',
      headers: {
        Origin: 'https://app.example',
        'Access-Control-Request-Method': 'GET',
        'Access-Control-Request-Headers': 'authorization,last-event-id',
      },
    });
    expect(res.status).to.equal(204);
    expect(res.headers.get('access-control-allow-origin')).to.equal('https://app.example');
    expect(res.headers.get('access-control-allow-credentials')).to.equal('true');
    expect(res.headers.get('access-control-allow-headers'))
      .to.match(/Authorization/)
      .and.match(/Last-Event-ID/);
  });

  it('with CORS_ORIGINS=* sends no Access-Control-Allow-Credentials (browsers refuse cookies to *)', async () => {
    const open = await startEdge({ AUTH_MODE: 'jwt', AUTH_JWT_SECRET: newSecret() });
    try {
      const res = await fetchAll(open.url([granted]), { Origin: 'https://app.example' });
      expect(res.headers['access-control-allow-origin']).to.equal('*');
      expect(res.headers).not.to.have.property('access-control-allow-credentials');
    } finally {
      await open.stop();
    }
  });
});

describe('edge: MAX_CONNECTIONS with token checks in flight', function () {
  this.timeout(20_000);

  it('counts the connects that were waiting for their token check: never more streams than the limit', async () => {
    const secret = newSecret();
    const t = await startEdge({ AUTH_MODE: 'jwt', AUTH_JWT_SECRET: secret, MAX_CONNECTIONS: '2' });
    const sockets: net.Socket[] = [];
    try {
      const token = await hsToken(secret, [granted.exchange], { issuer: null, audience: null });
      const { port } = new URL(t.base);
      for (let i = 0; i < 8; i++) {
        const socket = net.connect(Number(port), '127.0.0.1');
        sockets.push(socket);
        await new Promise((resolve) => socket.once('connect', resolve));
      }
      const heads = sockets.map(
        (socket) =>
          new Promise<string>((resolve) => {
            let got = '';
            socket.on('data', (d: Buffer) => {
              got += d.toString('latin1');
              if (got.includes('\r\n')) resolve(got.slice(0, got.indexOf('\r\n')));
            });
          }),
      );
      // Written in one tick, so the edge reads them in one turn: each passes the limit before any
      // token check (which waits for WebCrypto) has finished.
      const path = new URL(`${t.url([granted])}&access_token=${token}`);
      for (const socket of sockets) {
        socket.write(`GET ${path.pathname}${path.search} HTTP/1.1\r\nHost: x\r\n\r\n`);
      }
      const statuses = await Promise.all(heads);
      expect(statuses.filter((l) => l === 'HTTP/1.1 200 OK')).to.have.length(2);
      expect(statuses.filter((l) => l.startsWith('HTTP/1.1 503'))).to.have.length(6);
      expect(t.edge.stats().connections).to.equal(2);
    } finally {
      for (const s of sockets) s.destroy();
      await t.stop();
    }
  });
});
