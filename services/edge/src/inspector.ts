/**
 * The live inspector page (`/` and `/inspector/`): three static files in services/edge/inspector/,
 * read once at start and served from memory. The page is a plain client of the public protocol.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Express, Request, Response } from 'express';
import { errorText } from '@events-proxy/runtime';

/** Where the page's files are, beside src/ and dist/ alike (the Dockerfile copies the folder). */
export const INSPECTOR_DIR = fileURLToPath(new URL('../inspector/', import.meta.url));

/** Nothing external: scripts, styles and connections from this origin only; no framing, no forms. */
export const INSPECTOR_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self' data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** Assets are requested as `<name>?v=<hash of their content>`, so a browser may keep them a year. */
const IMMUTABLE = 'public, max-age=31536000, immutable';

interface File {
  readonly body: Buffer;
  readonly type: string;
  readonly etag: string;
  /** The start of the content hash, used as `?v=` in the references to an asset. */
  readonly version: string;
}

const ASSETS = {
  'inspector.css': 'text/css; charset=utf-8',
  'inspector.js': 'text/javascript; charset=utf-8',
};

function file(body: Buffer, type: string): File {
  const hash = createHash('sha256').update(body).digest('base64url');
  return { body, type, etag: `"${hash.slice(0, 27)}"`, version: hash.slice(0, 12) };
}

export interface InspectorFiles {
  /** The page as served at `/` (assets under `inspector/`) and at `/inspector/` (assets beside it). */
  readonly pageAtRoot: File;
  readonly pageInFolder: File;
  readonly assets: ReadonlyMap<string, File>;
}

/**
 * Reads the page's files. The HTML names its assets `inspector.css` and `inspector.js`; each
 * reference gets the asset's content hash (and the `inspector/` folder for the copy served at `/`).
 */
export function loadInspectorFiles(dir = INSPECTOR_DIR): InspectorFiles {
  let html: string;
  const assets = new Map<string, File>();
  try {
    html = readFileSync(`${dir}index.html`, 'utf8');
    for (const [name, type] of Object.entries(ASSETS)) assets.set(name, file(readFileSync(dir + name), type));
  } catch (err) {
    throw new Error(
      `the inspector page's files are missing from ${dir} (${errorText(err)}); ` +
        'set INSPECTOR_ENABLED=false to serve only the API',
      { cause: err },
    );
  }
  const page = (folder: string): File => {
    let out = html;
    for (const [name, asset] of assets) {
      const attr = name.endsWith('.css') ? 'href' : 'src';
      const ref = `${attr}="${name}"`;
      if (!out.includes(ref)) throw new Error(`${dir}index.html does not reference ${ref}`);
      out = out.replace(ref, `${attr}="${folder}${name}?v=${asset.version}"`);
    }
    return file(Buffer.from(out), 'text/html; charset=utf-8');
  };
  return { pageAtRoot: page('inspector/'), pageInFolder: page(''), assets };
}

function send(res: Response, f: File, cacheControl: string): void {
  res.set({
    'Content-Type': f.type,
    'Cache-Control': cacheControl,
    ETag: f.etag,
    'Content-Security-Policy': INSPECTOR_CSP,
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'no-referrer',
  });
  // res.send answers 304 itself when If-None-Match matches the ETag set above.
  res.status(200).send(f.body);
}

const pathOf = (req: Request): string => req.originalUrl.split('?')[0] ?? '';
const queryOf = (req: Request): string => {
  const q = req.originalUrl.indexOf('?');
  return q < 0 ? '' : req.originalUrl.slice(q);
};

/** Adds the page's routes: `/`, `/inspector/` (`/inspector` redirects there) and its two assets. */
export function addInspectorRoutes(app: Express, files: InspectorFiles = loadInspectorFiles()): void {
  // The page revalidates (ETag), so a new version shows at once; its assets are content-addressed.
  app.get('/', (req, res) => {
    if (pathOf(req) !== '/') return void res.status(404).json(notFound(req));
    send(res, files.pageAtRoot, 'no-cache');
  });
  app.get('/inspector/', (req, res) => {
    // Without the slash, the page's relative asset and API paths would resolve one level too high.
    if (!pathOf(req).endsWith('/')) return void res.redirect(301, `inspector/${queryOf(req)}`);
    send(res, files.pageInFolder, 'no-cache');
  });
  for (const [name, asset] of files.assets) {
    app.get(`/inspector/${name}`, (req, res) => {
      const version = /[?&]v=([^&]*)/.exec(queryOf(req))?.[1];
      send(res, asset, version === asset.version ? IMMUTABLE : 'no-cache');
    });
  }
}

/** The body every unknown route gets (app.ts answers the same). */
export function notFound(req: Request): { code: string; message: string } {
  return { code: 'ResourceNotFound', message: `No such route: ${req.method} ${req.path}` };
}
