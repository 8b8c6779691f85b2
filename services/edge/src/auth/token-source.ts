import type { IncomingHttpHeaders } from 'node:http';

/** Where a connect request's token came from (DESIGN.md §3c: tried in this order). */
export type TokenSource = 'header' | 'cookie' | 'query';

export type FoundToken =
  | { readonly token: string; readonly source: TokenSource }
  /** An Authorization header that is not `Bearer <token>`: the client meant to send one. */
  | { readonly token: undefined; readonly problem: string }
  | undefined;

const BEARER = /^Bearer[ \t]+([^ \t]+)[ \t]*$/i;

/**
 * The request's token: `Authorization: Bearer <token>`, else the cookie `cookieName`, else the
 * `access_token` query key. Never logged: callers keep it to themselves.
 */
export function findToken(
  headers: IncomingHttpHeaders,
  params: URLSearchParams,
  cookieName: string,
): FoundToken {
  const authorization = headers.authorization;
  if (authorization !== undefined && authorization.trim() !== '') {
    const bearer = BEARER.exec(authorization);
    if (bearer === null) {
      return { token: undefined, problem: 'the Authorization header must be `Bearer <token>`' };
    }
    return { token: bearer[1]!, source: 'header' };
  }
  const cookie = cookieValue(headers.cookie, cookieName);
  if (cookie !== undefined && cookie !== '') return { token: cookie, source: 'cookie' };
  const query = params.get('access_token');
  if (query !== null && query !== '') return { token: query, source: 'query' };
  return undefined;
}

/** The first cookie called `name` in a Cookie header (RFC 6265 §5.4: `a=1; b=2`). */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  for (const pair of header.split(';')) {
    const eq = pair.indexOf('=');
    if (eq < 0 || pair.slice(0, eq).trim() !== name) continue;
    let value = pair.slice(eq + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    return value;
  }
  return undefined;
}
