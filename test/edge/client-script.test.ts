/**
 * GET /client/events-proxy-client.js (DESIGN.md §3d): every edge serves the client library's browser
 * build, so a page on any allowed origin can `import { connect } from '<edge>/client/events-proxy-client.js'`.
 * Browsers fetch module scripts with CORS and refuse a module served with a type that is not JavaScript
 * (nosniff), so those headers are what a page relies on; `?v=<version>` is the content-addressed URL.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { expect } from 'chai';
import { CLIENT_SCRIPT_FILE } from '@events-proxy/edge';
import { startEdge, type TestEdge } from './harness.js';
import { fetchAll } from './raw-http.js';

const PATH = '/client/events-proxy-client.js';

/** The start of the content's SHA-256, as the edge's `?v=` for it (services/edge/src/static-file.ts). */
const versionOf = (body: string): string =>
  createHash('sha256').update(Buffer.from(body)).digest('base64url').slice(0, 12);

describe('edge: the client library at /client/events-proxy-client.js', () => {
  let t: TestEdge;
  let listed: TestEdge;

  before(async () => {
    t = await startEdge();
    listed = await startEdge({ CORS_ORIGINS: 'https://a.example,https://b.example' });
  });

  after(async () => {
    await t?.stop();
    await listed?.stop();
  });

  it('serves the browser build as JavaScript, to any origin, never sniffed, revalidated', async () => {
    const res = await fetchAll(`${t.base}${PATH}`, { Origin: 'https://page.example' });
    expect(res.status).to.equal(200);
    expect(res.headers['content-type']).to.equal('text/javascript; charset=utf-8');
    expect(res.headers['access-control-allow-origin']).to.equal('*');
    expect(res.headers['x-content-type-options']).to.equal('nosniff');
    expect(res.headers['cache-control']).to.equal('no-cache');
    expect(res.headers['cross-origin-resource-policy']).to.equal('cross-origin');
    expect(res.headers['etag']).to.match(/^"[\w-]+"$/);
    expect(res.body).to.equal(readFileSync(CLIENT_SCRIPT_FILE, 'utf8'));
    // One self-contained ES module: it imports nothing, and it exports connect().
    expect(res.body).not.to.match(/\bimport\s*[\w{*"'(]|\bfrom\s*["']/);
    expect(res.body).to.match(/\bexport\s*\{[^}]*\bconnect\b[^}]*\}/);
  });

  it('lets its versioned URL be cached for a year, and only the right version', async () => {
    const plain = await fetchAll(`${t.base}${PATH}`);
    const version = versionOf(plain.body);
    const pinned = await fetchAll(`${t.base}${PATH}?v=${version}`);
    expect(pinned.status).to.equal(200);
    expect(pinned.headers['cache-control']).to.equal('public, max-age=31536000, immutable');
    expect(pinned.headers['content-type']).to.equal('text/javascript; charset=utf-8');
    expect(pinned.headers['x-content-type-options']).to.equal('nosniff');
    expect(pinned.headers['access-control-allow-origin']).to.equal('*');
    expect(pinned.body).to.equal(plain.body);
    // Another version's URL gets today's build, which must not be kept under that name.
    const stale = await fetchAll(`${t.base}${PATH}?v=AAAAAAAAAAAA`);
    expect(stale.status).to.equal(200);
    expect(stale.headers['cache-control']).to.equal('no-cache');
    expect(stale.body).to.equal(plain.body);
  });

  it('answers a matching If-None-Match with 304 and no body, another with the file', async () => {
    const first = await fetchAll(`${t.base}${PATH}`);
    const etag = String(first.headers['etag']);
    const again = await fetchAll(`${t.base}${PATH}`, { 'If-None-Match': etag });
    expect(again.status).to.equal(304);
    expect(again.body).to.equal('');
    expect(again.headers['etag']).to.equal(etag);
    const other = await fetchAll(`${t.base}${PATH}`, { 'If-None-Match': '"something-else"' });
    expect(other.status).to.equal(200);
    expect(other.body).to.equal(first.body);
  });

  it('with CORS_ORIGINS set, echoes a listed origin and allows no other', async () => {
    const ok = await fetchAll(`${listed.base}${PATH}`, { Origin: 'https://b.example' });
    expect(ok.status).to.equal(200);
    expect(ok.headers['access-control-allow-origin']).to.equal('https://b.example');
    expect(ok.headers['vary']).to.match(/\bOrigin\b/);
    expect(ok.headers['content-type']).to.equal('text/javascript; charset=utf-8');
    const other = await fetchAll(`${listed.base}${PATH}`, { Origin: 'https://evil.example' });
    expect(other.headers).not.to.have.property('access-control-allow-origin');
    expect(other.headers['vary']).to.match(/\bOrigin\b/);
  });

  it('is served with the inspector page turned off too', async () => {
    const off = await startEdge({ INSPECTOR_ENABLED: 'false' });
    try {
      const res = await fetchAll(`${off.base}${PATH}`);
      expect(res.status).to.equal(200);
      expect(res.headers['content-type']).to.equal('text/javascript; charset=utf-8');
      expect((await fetchAll(`${off.base}/inspector/`)).status).to.equal(404);
    } finally {
      await off.stop();
    }
  });
});
