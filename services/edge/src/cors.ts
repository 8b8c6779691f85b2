/**
 * CORS response headers from CORS_ORIGINS: `*` lets any page read the stream; with a list, a
 * listed Origin is echoed back and every answer carries `Vary: Origin` (caches must keep the
 * answers apart); an origin that is not listed gets no Access-Control-Allow-Origin at all.
 */
export function corsHeaders(
  allowedOrigins: readonly string[],
  origin: string | undefined,
): Record<string, string> {
  if (allowedOrigins.includes('*')) return { 'Access-Control-Allow-Origin': '*' };
  if (origin !== undefined && allowedOrigins.includes(origin)) {
    return { 'Access-Control-Allow-Origin': origin, Vary: 'Origin' };
  }
  return { Vary: 'Origin' };
}
