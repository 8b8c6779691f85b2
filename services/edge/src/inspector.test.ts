import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { CLIENT_IMPORT, INSPECTOR_DIR, loadInspectorFiles } from './inspector.js';
import { staticFile } from './static-file.js';

const client = (source: string) => staticFile(Buffer.from(source), 'text/javascript; charset=utf-8');

describe('edge: inspector files', () => {
  it('finds the page beside src/ and dist/ and points it at hashed assets', () => {
    const files = loadInspectorFiles(client('export const connect = 1;'));
    const html = files.pageAtRoot.body.toString();
    expect(html).to.match(/href="inspector\/inspector\.css\?v=[\w-]{12}"/);
    expect(html).to.match(/src="inspector\/inspector\.js\?v=[\w-]{12}"/);
    expect(files.pageInFolder.body.toString()).to.match(/src="inspector\.js\?v=[\w-]{12}"/);
    expect(
      files.assets.get('inspector.css')?.body.equals(readFileSync(`${INSPECTOR_DIR}inspector.css`)),
    ).to.equal(true);
  });

  it("imports the client library at the client's version, so a new client gives inspector.js a new hash", () => {
    expect(CLIENT_IMPORT).to.equal('../client/events-proxy-client.js');
    const source = readFileSync(`${INSPECTOR_DIR}inspector.js`, 'utf8');
    expect(source).to.include(`import { connect } from '${CLIENT_IMPORT}';`);
    const one = client('export const connect = 1;');
    const two = client('export const connect = 2;');
    const a = loadInspectorFiles(one);
    const b = loadInspectorFiles(two);
    const jsA = a.assets.get('inspector.js')!;
    const jsB = b.assets.get('inspector.js')!;
    // The file as written, with only the import's specifier changed.
    expect(jsA.body.toString()).to.equal(
      source.replace(`from '${CLIENT_IMPORT}'`, `from '${CLIENT_IMPORT}?v=${one.version}'`),
    );
    expect(jsB.body.toString()).to.include(`from '${CLIENT_IMPORT}?v=${two.version}'`);
    expect(jsA.version).not.to.equal(jsB.version);
    expect(a.pageAtRoot.body.toString()).to.include(`src="inspector/inspector.js?v=${jsA.version}"`);
    expect(b.pageInFolder.body.toString()).to.include(`src="inspector.js?v=${jsB.version}"`);
    // The stylesheet does not depend on the client.
    expect(a.assets.get('inspector.css')?.version).to.equal(b.assets.get('inspector.css')?.version);
  });

  it('says how to run without the page when its files are missing, and what a file lacks', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'inspector-'));
    const c = client('');
    try {
      expect(() => loadInspectorFiles(c, `${dir}/`)).to.throw(/missing from .*INSPECTOR_ENABLED=false/);
      writeFileSync(path.join(dir, 'index.html'), '<link href="other.css">');
      writeFileSync(path.join(dir, 'inspector.css'), '');
      writeFileSync(path.join(dir, 'inspector.js'), "import { connect } from './events-proxy-client.js';");
      expect(() => loadInspectorFiles(c, `${dir}/`)).to.throw(
        /inspector\.js does not import from '\.\.\/client\/events-proxy-client\.js'/,
      );
      writeFileSync(path.join(dir, 'inspector.js'), `import { connect } from "${CLIENT_IMPORT}";`);
      expect(() => loadInspectorFiles(c, `${dir}/`)).to.throw(/does not reference href="inspector\.css"/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
