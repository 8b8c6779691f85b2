/**
 * The inspector page's HTTP answers: `/` and `/inspector/` serve it with a strict CSP, its assets are
 * content-addressed and cached, its script imports the client library this edge serves (at that
 * build's version), and INSPECTOR_ENABLED=false leaves only the API (404 JSON).
 */
import { createHash } from 'node:crypto';
import { expect } from 'chai';
import { startEdge, type TestEdge } from './harness.js';
import { fetchAll } from './raw-http.js';

const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; " +
  "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

describe('edge: the inspector page', () => {
  let t: TestEdge;
  let off: TestEdge;

  before(async () => {
    t = await startEdge();
    off = await startEdge({ INSPECTOR_ENABLED: 'false' });
  });

  after(async () => {
    await t?.stop();
    await off?.stop();
  });

  const assetRefs = (html: string): string[] =>
    [...html.matchAll(/(?:href|src)="([^"]*inspector\.(?:css|js)[^"]*)"/g)].map((m) => m[1] ?? '');

  for (const [path, folder] of [
    ['/', 'inspector/'],
    ['/inspector/', ''],
    ['/?bindings[0][exchange]=exchange/x&bindings[0][routingKeyPattern]=%23', 'inspector/'],
  ] as const) {
    it(`serves the page at ${path} with a CSP that allows nothing external`, async () => {
      const res = await fetchAll(`${t.base}${path}`);
      expect(res.status).to.equal(200);
      expect(res.headers['content-type']).to.equal('text/html; charset=utf-8');
      expect(res.headers['content-security-policy']).to.equal(CSP);
      expect(res.headers['x-content-type-options']).to.equal('nosniff');
      expect(res.headers['referrer-policy']).to.equal('no-referrer');
      expect(res.headers['cache-control']).to.equal('no-cache');
      expect(res.headers['etag']).to.match(/^"[\w-]+"$/);
      expect(res.body).to.match(/^<!doctype html>/i);
      const refs = assetRefs(res.body);
      expect(refs).to.have.length(2);
      for (const ref of refs)
        expect(ref).to.match(new RegExp(`^${folder}inspector\\.(css|js)\\?v=[\\w-]{12}$`));
      // Nothing external: no absolute URL outside the data: favicon, no inline script or style.
      expect(res.body).not.to.match(/(?:src|href)="(?!data:)[a-z]+:/i);
      expect(res.body).not.to.match(/<script(?![^>]*\bsrc=)/);
      expect(res.body).not.to.match(/<style|\sstyle="/);
    });
  }

  it('serves its assets with a year of caching at their hashed URL, and revalidation otherwise', async () => {
    const page = await fetchAll(`${t.base}/inspector/`);
    for (const ref of assetRefs(page.body)) {
      const hashed = await fetchAll(`${t.base}/inspector/${ref}`);
      expect(hashed.status, ref).to.equal(200);
      expect(hashed.headers['content-type']).to.match(
        ref.includes('.css') ? /^text\/css/ : /^text\/javascript/,
      );
      expect(hashed.headers['cache-control']).to.equal('public, max-age=31536000, immutable');
      expect(hashed.headers['x-content-type-options']).to.equal('nosniff');
      const plain = await fetchAll(`${t.base}/inspector/${ref.split('?')[0]}`);
      expect(plain.headers['cache-control']).to.equal('no-cache');
      expect(plain.body).to.equal(hashed.body);
    }
  });

  it("imports the client library from this edge, at the version it serves, under the page's CSP", async () => {
    for (const pagePath of ['/', '/inspector/']) {
      const page = await fetchAll(`${t.base}${pagePath}`);
      const jsRef = assetRefs(page.body).find((r) => r.includes('.js'))!;
      const jsUrl = new URL(jsRef, `${t.base}${pagePath}`);
      expect(jsUrl.pathname).to.equal('/inspector/inspector.js');
      const js = await fetchAll(jsUrl.href);
      const specifiers = [...js.body.matchAll(/^import\b[^;]*?\bfrom\s*'([^']*)'/gm)].map((m) => m[1] ?? '');
      expect(specifiers).to.have.length(1);
      // Relative to the script, whichever page loaded it: same origin, so `script-src 'self'` allows it.
      const clientUrl = new URL(specifiers[0]!, jsUrl);
      expect(clientUrl.origin).to.equal(t.base);
      expect(clientUrl.pathname).to.equal('/client/events-proxy-client.js');
      const version = clientUrl.searchParams.get('v');
      const client = await fetchAll(clientUrl.href);
      expect(client.status).to.equal(200);
      expect(client.headers['content-type']).to.match(/^text\/javascript/);
      expect(client.headers['cache-control']).to.equal('public, max-age=31536000, immutable');
      // The version is the content's: a new client build changes this URL, and so inspector.js's.
      expect(version).to.equal(
        createHash('sha256').update(Buffer.from(client.body)).digest('base64url').slice(0, 12),
      );
    }
  });

  it('answers a matching If-None-Match with 304', async () => {
    const page = await fetchAll(`${t.base}/`);
    const again = await fetchAll(`${t.base}/`, { 'If-None-Match': String(page.headers['etag']) });
    expect(again.status).to.equal(304);
    expect(again.body).to.equal('');
  });

  it('redirects /inspector to /inspector/ (relative, keeping the query)', async () => {
    const res = await fetchAll(`${t.base}/inspector?bindings[0][exchange]=exchange/x`);
    expect(res.status).to.equal(301);
    expect(res.headers['location']).to.equal('inspector/?bindings[0][exchange]=exchange/x');
  });

  it('keeps unknown paths 404 JSON', async () => {
    for (const path of ['/index.html', '/inspector/other.js', '/inspector/index.html', '/inspector.js']) {
      const res = await fetchAll(`${t.base}${path}`);
      expect(res.status, path).to.equal(404);
      expect(JSON.parse(res.body), path).to.have.property('code', 'ResourceNotFound');
    }
  });

  it('with INSPECTOR_ENABLED=false answers every page path 404 JSON, and the API as before', async () => {
    for (const path of [
      '/',
      '/inspector/',
      '/inspector',
      '/inspector/inspector.js',
      '/inspector/inspector.css',
    ]) {
      const res = await fetchAll(`${off.base}${path}`);
      expect(res.status, path).to.equal(404);
      expect(res.headers['content-type'], path).to.match(/^application\/json/);
      expect(JSON.parse(res.body), path).to.deep.equal({
        code: 'ResourceNotFound',
        message: `No such route: GET ${path}`,
      });
      expect(res.headers, path).not.to.have.property('content-security-policy');
    }
    expect((await fetchAll(`${off.base}/v1/ping`)).status).to.equal(200);
    expect((await fetchAll(`${off.base}/client/events-proxy-client.js`)).status).to.equal(200);
  });
});
