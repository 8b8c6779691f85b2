/**
 * The token check with random tokens: garbage, JWT-shaped strings with random headers and payloads,
 * and real tokens with one character changed, from each source (header, cookie, query). Every one
 * is answered 200 with exactly one `Unauthorized` error event that does not repeat the token, and
 * the edge keeps serving a good token afterwards.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { hsToken, newSecret } from '../support/tokens.js';
import { startEdge, type TestEdge } from '../edge/harness.js';
import { RawResponse } from '../edge/raw-http.js';
import { checkAsync } from './property-runs.js';

const b = { exchange: 'exchange/hostile/tokens', routingKeyPattern: '#' };
const b64url = (s: string): string => Buffer.from(s).toString('base64url');

describe('hostile input: random tokens against AUTH_MODE=jwt', function () {
  this.timeout(60_000);
  let t: TestEdge;
  let secret: string;
  let good: string;

  before(async () => {
    secret = newSecret();
    t = await startEdge({ AUTH_MODE: 'jwt', AUTH_JWT_SECRET: secret });
    good = await hsToken(secret, [b.exchange], { issuer: null, audience: null });
  });

  after(async () => {
    await t?.stop();
  });

  const jsonish = fc.oneof(
    fc.json(),
    fc.constantFrom(
      '{"alg":"HS256"}',
      '{"alg":"none"}',
      '{"alg":"RS256","kid":5}',
      '{"alg":["HS256"]}',
      '[]',
      'null',
    ),
  );
  const token = fc.oneof(
    fc.string({ maxLength: 300 }).filter((s) => s !== ''),
    fc
      .tuple(jsonish, jsonish, fc.string({ maxLength: 60 }))
      .map(([h, p, sig]) => `${b64url(h)}.${b64url(p)}.${b64url(sig)}`),
    fc.tuple(fc.nat(), fc.constantFrom(...'AZaz09-_.=+/'.split(''))).map(([i, c]) => {
      // Not the last character: its low bits are base64 padding, which a decoder may ignore.
      const at = i % (good.length - 1);
      return good.slice(0, at) + (good[at] === c ? 'Q' : c) + good.slice(at + 1);
    }),
  );
  const source = fc.constantFrom('header', 'cookie', 'query');

  it('answers every bad token with one Unauthorized error event, never the token, and keeps serving', async () => {
    await checkAsync(
      fc.asyncProperty(token, source, async (tok, from) => {
        if (tok === good) return;
        const base = t.url([b]);
        const safe = tok.replace(/[\r\n\0]/g, ' ').trim();
        const headers: Record<string, string> =
          from === 'header'
            ? { Authorization: `Bearer ${safe}` }
            : from === 'cookie'
              ? { Cookie: `events_token=${encodeURIComponent(safe)}` }
              : {};
        const url = from === 'query' ? `${base}&access_token=${encodeURIComponent(tok)}` : base;
        const r = await RawResponse.open(url, headers);
        await r.waitEnd(5_000);
        expect(r.status).to.equal(200);
        const errors = [...r.body.matchAll(/event: error\ndata: (.*)\nid: -\n\n/g)].map(
          (m) => JSON.parse(m[1]!) as string,
        );
        expect(errors, r.body).to.have.length(1);
        expect(errors[0]).to.match(/^Unauthorized: /);
        if (safe.length >= 8) expect(r.body).not.to.include(safe);
        expect(r.body).not.to.match(/event: ready/);
      }),
      { numRuns: 300, timeLimitMs: 20_000 },
    );
    expect(t.edge.stats()).to.include({ connections: 0, heldBindings: 0 });
    const ok = await RawResponse.open(`${t.url([b])}&access_token=${good}`);
    await ok.waitFor((x) => x.body.includes('event: ready'), 'a good token still works');
    ok.close();
  });
});
