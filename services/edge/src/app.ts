import type { IncomingMessage, ServerResponse } from 'node:http';
import express, { type ErrorRequestHandler, type Express } from 'express';
import { corsHeaders } from './cors.js';

export interface AppOptions {
  /** CORS_ORIGINS: `*` or the allowed origins. */
  readonly corsOrigins: readonly string[];
  readonly connect: (req: IncomingMessage, res: ServerResponse) => void;
  /** Seconds this server has been up, for the ping route. */
  readonly uptimeSeconds: () => number;
}

/** The three prefixes the original service answered on; they are aliases. */
const PREFIXES = ['/api/events/v1', '/events/v1', '/v1'];

/**
 * The client-facing HTTP app: the connect and ping routes under each prefix (with or without a
 * trailing slash: express matches both when strict routing is off), JSON for everything else.
 */
export function createApp(opts: AppOptions): Express {
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.set('query parser', false); // the connect handler reads the raw query itself

  app.use((req, res, next) => {
    const origin = req.headers.origin;
    for (const [name, value] of Object.entries(corsHeaders(opts.corsOrigins, origin)))
      res.setHeader(name, value);
    next();
  });
  app.get(
    PREFIXES.map((p) => `${p}/connect`),
    (req, res) => opts.connect(req, res),
  );
  app.get(
    PREFIXES.map((p) => `${p}/ping`),
    (_req, res) => {
      res.status(200).json({ alive: true, uptime: opts.uptimeSeconds() });
    },
  );
  app.use((req, res) => {
    res.status(404).json({ code: 'ResourceNotFound', message: `No such route: ${req.method} ${req.path}` });
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
