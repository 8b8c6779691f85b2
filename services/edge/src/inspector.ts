/**
 * The live inspector page (`/` and `/inspector/`): three static files in services/edge/inspector/,
 * read once at start and served from memory. The page streams through the client library's browser
 * build, which the edge serves at /client/events-proxy-client.js (client-script.ts).
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Express, Request, Response } from 'express';
import { errorText } from '@events-proxy/runtime';
import { CLIENT_SCRIPT_PATH } from './client-script.js';
import {
  IMMUTABLE,
  requestedVersion,
  sendStaticFile,
  staticFile,
  type StaticFile as File,
} from './static-file.js';

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

const ASSETS = {
  'inspector.css': 'text/css; charset=utf-8',
  'inspector.js': 'text/javascript; charset=utf-8',
};

export interface InspectorFiles {
  /** The page as served at `/` (assets under `inspector/`) and at `/inspector/` (assets beside it). */
  readonly pageAtRoot: File;
  readonly pageInFolder: File;
  readonly assets: ReadonlyMap<string, File>;
}

/**
 * How inspector.js (always served at /inspector/inspector.js) imports the client library: relative,
 * so the page works at `/`, at `/inspector/` and behind a proxy that serves the edge under a path.
 */
export const CLIENT_IMPORT = `..${CLIENT_SCRIPT_PATH}`;

/**
 * inspector.js with its import of the client library pointed at the client's current version
 * (`?v=`), so that a new client build gives inspector.js a new hash too, and a browser that keeps
 * inspector.js for a year never pairs it with a client it was not served with.
 */
function withClientVersion(js: string, client: File, file: string): string {
  const specifier = new RegExp(`(\\bfrom\\s*)(['"])${CLIENT_IMPORT.replace(/[.]/g, '\\.')}\\2`);
  if (!specifier.test(js)) throw new Error(`${file} does not import from '${CLIENT_IMPORT}'`);
  return js.replace(specifier, `$1$2${CLIENT_IMPORT}?v=${client.version}$2`);
}

/**
 * Reads the page's files. The HTML names its assets `inspector.css` and `inspector.js`; each
 * reference gets the asset's content hash (and the `inspector/` folder for the copy served at `/`).
 * inspector.js's import of the client library gets `clientScript`'s version before it is hashed.
 */
export function loadInspectorFiles(clientScript: File, dir = INSPECTOR_DIR): InspectorFiles {
  let html: string;
  let js: string;
  const assets = new Map<string, File>();
  try {
    html = readFileSync(`${dir}index.html`, 'utf8');
    js = readFileSync(`${dir}inspector.js`, 'utf8');
    assets.set('inspector.css', staticFile(readFileSync(`${dir}inspector.css`), ASSETS['inspector.css']));
  } catch (err) {
    throw new Error(
      `the inspector page's files are missing from ${dir} (${errorText(err)}); ` +
        'set INSPECTOR_ENABLED=false to serve only the API',
      { cause: err },
    );
  }
  assets.set(
    'inspector.js',
    staticFile(
      Buffer.from(withClientVersion(js, clientScript, `${dir}inspector.js`)),
      ASSETS['inspector.js'],
    ),
  );
  const page = (folder: string): File => {
    let out = html;
    for (const [name, asset] of assets) {
      const attr = name.endsWith('.css') ? 'href' : 'src';
      const ref = `${attr}="${name}"`;
      if (!out.includes(ref)) throw new Error(`${dir}index.html does not reference ${ref}`);
      out = out.replace(ref, `${attr}="${folder}${name}?v=${asset.version}"`);
    }
    return staticFile(Buffer.from(out), 'text/html; charset=utf-8');
  };
  return { pageAtRoot: page('inspector/'), pageInFolder: page(''), assets };
}

/** Assets are requested as `<name>?v=<hash of their content>`, so a browser may keep them a year. */
function send(res: Response, f: File, cacheControl: string): void {
  sendStaticFile(res, f, cacheControl, {
    'Content-Security-Policy': INSPECTOR_CSP,
    'Referrer-Policy': 'no-referrer',
  });
}

const pathOf = (req: Request): string => req.originalUrl.split('?')[0] ?? '';
const queryOf = (req: Request): string => {
  const q = req.originalUrl.indexOf('?');
  return q < 0 ? '' : req.originalUrl.slice(q);
};

/** Adds the page's routes: `/`, `/inspector/` (`/inspector` redirects there) and its two assets. */
export function addInspectorRoutes(app: Express, files: InspectorFiles): void {
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
      send(res, asset, requestedVersion(req.originalUrl) === asset.version ? IMMUTABLE : 'no-cache');
    });
  }
}

/** The body every unknown route gets (app.ts answers the same). */
export function notFound(req: Request): { code: string; message: string } {
  return { code: 'ResourceNotFound', message: `No such route: ${req.method} ${req.path}` };
}
