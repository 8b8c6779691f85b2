/**
 * Files the edge serves from memory (the inspector page, the client library's browser build):
 * read once at start, with an ETag and a content version, so `<name>?v=<version>` may be cached
 * for a year and the bare name is revalidated.
 */
import { createHash } from 'node:crypto';
import type { Response } from 'express';

export interface StaticFile {
  readonly body: Buffer;
  readonly type: string;
  readonly etag: string;
  /** The start of the content hash, used as `?v=` in references to the file. */
  readonly version: string;
}

/** For `<name>?v=<version>`: the content behind that address never changes. */
export const IMMUTABLE = 'public, max-age=31536000, immutable';

export function staticFile(body: Buffer, type: string): StaticFile {
  const hash = createHash('sha256').update(body).digest('base64url');
  return { body, type, etag: `"${hash.slice(0, 27)}"`, version: hash.slice(0, 12) };
}

/** The `v` query parameter of a request's URL, if any. */
export function requestedVersion(originalUrl: string): string | undefined {
  const q = originalUrl.indexOf('?');
  return q < 0 ? undefined : /(?:^|&)v=([^&]*)/.exec(originalUrl.slice(q + 1))?.[1];
}

/** Sends the file; `res.send` answers 304 itself when If-None-Match matches the ETag set here. */
export function sendStaticFile(
  res: Response,
  f: StaticFile,
  cacheControl: string,
  extra: Record<string, string> = {},
): void {
  res.set({
    'Content-Type': f.type,
    'Cache-Control': cacheControl,
    ETag: f.etag,
    'X-Content-Type-Options': 'nosniff',
    ...extra,
  });
  res.status(200).send(f.body);
}
