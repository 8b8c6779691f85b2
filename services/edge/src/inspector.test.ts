import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { INSPECTOR_DIR, loadInspectorFiles } from './inspector.js';

describe('edge: inspector files', () => {
  it('finds the page beside src/ and dist/ and points it at hashed assets', () => {
    const files = loadInspectorFiles();
    const html = files.pageAtRoot.body.toString();
    expect(html).to.match(/href="inspector\/inspector\.css\?v=[\w-]{12}"/);
    expect(html).to.match(/src="inspector\/inspector\.js\?v=[\w-]{12}"/);
    expect(files.pageInFolder.body.toString()).to.match(/src="inspector\.js\?v=[\w-]{12}"/);
    expect(
      files.assets.get('inspector.js')?.body.equals(readFileSync(`${INSPECTOR_DIR}inspector.js`)),
    ).to.equal(true);
  });

  it('says how to run without the page when its files are missing', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'inspector-'));
    try {
      expect(() => loadInspectorFiles(`${dir}/`)).to.throw(/missing from .*INSPECTOR_ENABLED=false/);
      writeFileSync(path.join(dir, 'index.html'), '<link href="other.css">');
      writeFileSync(path.join(dir, 'inspector.css'), '');
      writeFileSync(path.join(dir, 'inspector.js'), '');
      expect(() => loadInspectorFiles(`${dir}/`)).to.throw(/does not reference href="inspector\.css"/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
