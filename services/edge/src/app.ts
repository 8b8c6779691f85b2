import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import express, { type ErrorRequestHandler, type Express } from 'express';
import type { ConnectHandler, ProtocolVersion } from './connect-handler.js';
import { PREFLIGHT_HEADERS, corsHeaders } from './cors.js';
import { addClientScriptRoute } from './client-script.js';
import { addInspectorRoutes, notFound, type InspectorFiles } from './inspector.js';
import type { StaticFile } from './static-file.js';

export interface AppOptions {
  /** CORS_ORIGINS: `*` or the allowed origins. */
  readonly corsOrigins: readonly string[];
  /** AUTH_MODE=jwt: a listed origin may send credentials (its cookies). */
  readonly corsCredentials?: boolean;
  readonly connect: ConnectHandler;
  /** Seconds this server has been up, for the ping route. */
  readonly uptimeSeconds: () => number;
  /** The inspector page's files, served at `/` and `/inspector/`; absent: those paths are 404. */
  readonly inspector?: InspectorFiles;
  /** The client library's browser build, served at /client/events-proxy-client.js; absent: 404. */
  readonly clientScript?: StaticFile;
}

/** The three prefixes the original service answered on; they are aliases. */
const PREFIXES = ['/api/events/v1', '/events/v1', '/v1'];

/** The v2 routes (DESIGN.md §3b) under the same three prefixes. */
const V2_PREFIXES = PREFIXES.map((p) => p.replace(/v1$/, 'v2'));

/** Lower-cased connect paths, with and without the trailing slash, and their protocol version. */
const CONNECT_PATHS = new Map<string, ProtocolVersion>([
  ...PREFIXES.flatMap((p) => [`${p}/connect`, `${p}/connect/`]).map((p) => [p, 1] as const),
  ...V2_PREFIXES.flatMap((p) => [`${p}/connect`, `${p}/connect/`]).map((p) => [p, 2] as const),
]);

function connectVersion(req: IncomingMessage): ProtocolVersion | undefined {
  if (req.method !== 'GET' && req.method !== 'HEAD') return undefined;
  const url = req.url ?? '';
  const q = url.indexOf('?');
  return CONNECT_PATHS.get((q < 0 ? url : url.slice(0, q)).toLowerCase());
}

function setCorsHeaders(opts: AppOptions, req: IncomingMessage, res: ServerResponse): void {
  const headers = corsHeaders(opts.corsOrigins, req.headers.origin, opts.corsCredentials === true);
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
}

/**
 * The edge's request listener. Streams, the requests that stay open, go straight to the connect
 * handler on node:http: routing them through express would cost every open stream the
 * per-request objects express keeps (about 5 KiB of heap each, docs/performance.md). Everything
 * else goes to the express app, which answers the same connect paths identically.
 */
export function createRequestListener(opts: AppOptions): RequestListener {
  const app = createApp(opts);
  return (req, res) => {
    const version = connectVersion(req);
    if (version !== undefined) {
      setCorsHeaders(opts, req, res);
      opts.connect(req, res, version);
    } else {
      app(req, res);
    }
  };
}

/**
 * The client-facing HTTP app: the connect and ping routes under each prefix (with or without a
 * trailing slash: express matches both when strict routing is off; case-insensitively, like the
 * fast path in createRequestListener), the inspector page when enabled, JSON for everything else.
 */
export function createApp(opts: AppOptions): Express {
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.set('query parser', false); // the connect handler reads the raw query itself

  app.use((req, res, next) => {
    setCorsHeaders(opts, req, res);
    next();
  });
  app.options(
    [...PREFIXES, ...V2_PREFIXES].map((p) => `${p}/connect`),
    (_req, res) => {
      res.set(PREFLIGHT_HEADERS).status(204).end();
    },
  );
  app.get(
    PREFIXES.map((p) => `${p}/connect`),
    (req, res) => opts.connect(req, res, 1),
  );
  app.get(
    V2_PREFIXES.map((p) => `${p}/connect`),
    (req, res) => opts.connect(req, res, 2),
  );
  app.get(
    PREFIXES.map((p) => `${p}/ping`),
    (_req, res) => {
      res.status(200).json({ alive: true, uptime: opts.uptimeSeconds() });
    },
  );
  if (opts.clientScript) addClientScriptRoute(app, opts.clientScript);
  if (opts.inspector) addInspectorRoutes(app, opts.inspector);
  app.use((req, res) => {
    res.status(404).json(notFound(req));
  });
  const onError: ErrorRequestHandler = (err: { status?: unknown; message?: unknown }, _req, res, next) => {
    if (res.headersSent) return next(err);
    const status = typeof err.status === 'number' && err.status >= 400 && err.status < 500 ? err.status : 500;
    res.status(status).json({
      code: status === 500 ? 'InternalServerError' : 'BadRequest',
      message: status === 500 ? 'Internal server error' : String(err.message),
    });
  };
  app.use(onError);
  return app;
}
