/**
 * The client library's browser build (DESIGN.md §3d), served by every edge at
 * `/client/events-proxy-client.js`: one self-contained ES module, so a page on any allowed origin
 * can `import { connect } from '<edge>/client/events-proxy-client.js'`. Module scripts are fetched
 * with CORS; the app's CORS middleware gives this route the API's Access-Control-Allow-Origin.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Express } from 'express';
import { errorText } from '@events-proxy/runtime';
import { IMMUTABLE, requestedVersion, sendStaticFile, staticFile, type StaticFile } from './static-file.js';

export const CLIENT_SCRIPT_PATH = '/client/events-proxy-client.js';

/** libs/client/dist/browser/events-proxy-client.js, built by `npm run build` (libs/client/scripts/bundle.mjs). */
export const CLIENT_SCRIPT_FILE = fileURLToPath(
  import.meta.resolve('@events-proxy/client/events-proxy-client.js'),
);

export function loadClientScript(file = CLIENT_SCRIPT_FILE): StaticFile {
  try {
    return staticFile(readFileSync(file), 'text/javascript; charset=utf-8');
  } catch (err) {
    throw new Error(
      `the client library's browser build is missing (${errorText(err)}); run \`npm run build\`, which makes it`,
      { cause: err },
    );
  }
}

/**
 * Without `?v=`, a page gets the current build and revalidates it (no-cache with an ETag); with the
 * current version, it may keep it a year. `Cross-Origin-Resource-Policy: cross-origin` lets pages
 * that require it (COEP) load it from another origin.
 */
export function addClientScriptRoute(app: Express, script: StaticFile): void {
  app.get(CLIENT_SCRIPT_PATH, (req, res) => {
    const cache = requestedVersion(req.originalUrl) === script.version ? IMMUTABLE : 'no-cache';
    sendStaticFile(res, script, cache, { 'Cross-Origin-Resource-Policy': 'cross-origin' });
  });
}
