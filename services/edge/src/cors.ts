/**
 * CORS response headers from CORS_ORIGINS: `*` lets any page read the stream; with a list, a
 * listed Origin is echoed back and every answer carries `Vary: Origin` (caches must keep the
 * answers apart); an origin that is not listed gets no Access-Control-Allow-Origin at all.
 * `credentials` (AUTH_MODE=jwt): a listed origin may send its cookies too. Never with `*`, which
 * browsers refuse to send credentials to anyway.
 */
export function corsHeaders(
  allowedOrigins: readonly string[],
  origin: string | undefined,
  credentials = false,
): Record<string, string> {
  if (allowedOrigins.includes('*')) return { 'Access-Control-Allow-Origin': '*' };
  if (origin !== undefined && allowedOrigins.includes(origin)) {
    return {
      'Access-Control-Allow-Origin': origin,
      ...(credentials ? { 'Access-Control-Allow-Credentials': 'true' } : {}),
      Vary: 'Origin',
    };
  }
  return { Vary: 'Origin' };
}

/**
 * The answer to a preflight (OPTIONS with Access-Control-Request-Method) for a connect path: a
 * fetch-based SSE client sends `Authorization` and `Last-Event-ID`, which a browser asks about first.
 * A native EventSource never preflights.
 */
export const PREFLIGHT_HEADERS: Record<string, string> = {
  'Access-Control-Allow-Methods': 'GET, HEAD',
  'Access-Control-Allow-Headers': 'Authorization, Last-Event-ID, Cache-Control',
  'Access-Control-Max-Age': '600',
};
