import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Counter } from 'prom-client';

/** Why the HTTP layer refused a request before any route saw it (the reason label). */
export const HTTP_REFUSAL_REASONS = ['malformed', 'headers_too_large', 'headers_timeout', 'method'] as const;
export type HttpRefusalReason = (typeof HTTP_REFUSAL_REASONS)[number];

export interface HttpLimits {
  /** MAX_REQUEST_HEADER_BYTES: request line (with the query string) plus headers. */
  readonly maxHeaderBytes: number;
  /** HEADERS_TIMEOUT_SECONDS, in ms: the whole request head must arrive within this. */
  readonly headersTimeoutMs: number;
}

/** One refusal: status, JSON body code, message, reason label. */
interface Refusal {
  readonly status: number;
  readonly code: string;
  readonly message: string;
  readonly reason: HttpRefusalReason;
}

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  431: 'Request Header Fields Too Large',
};

/**
 * The answer to a request Node's HTTP parser refused. Node's own answers are bodiless; these
 * say what was wrong and what to do, as JSON like every other refusal. Parser error codes are
 * mapped to fixed texts: nothing of the request, the stack or the parser's internals is echoed.
 */
function refusalFor(err: NodeJS.ErrnoException, limits: HttpLimits): Refusal {
  switch (err.code) {
    case 'HPE_HEADER_OVERFLOW':
      return {
        status: 431,
        code: 'RequestHeaderFieldsTooLarge',
        message:
          `The request line and headers are larger than ${limits.maxHeaderBytes} bytes: ` +
          'use fewer or shorter bindings (the query string counts), or send smaller headers',
        reason: 'headers_too_large',
      };
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return {
        status: 408,
        code: 'RequestTimeout',
        message: `The request headers did not arrive within ${limits.headersTimeoutMs / 1000}s`,
        reason: 'headers_timeout',
      };
    case 'HPE_INVALID_METHOD':
      return {
        status: 405,
        code: 'MethodNotAllowed',
        message: 'Unknown HTTP method: use GET',
        reason: 'method',
      };
    default:
      return {
        status: 400,
        code: 'BadRequest',
        message: 'Malformed HTTP request: send an HTTP/1.1 GET with a valid request line and headers',
        reason: 'malformed',
      };
  }
}

function writeRefusal(socket: Duplex, r: Refusal): void {
  const body = JSON.stringify({ code: r.code, message: r.message });
  socket.end(
    `HTTP/1.1 ${r.status} ${STATUS_TEXT[r.status]}\r\n` +
      'Content-Type: application/json; charset=utf-8\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n` +
      'Connection: close\r\n\r\n' +
      body,
  );
}

/**
 * Whether a response has already begun on this socket: its headers are out (or rendered), as on
 * an open stream whose client then sent bytes the parser refused (garbage, or a malformed
 * pipelined request). Node keeps the socket's current response in the undocumented
 * `_httpMessage`; its own default listener checks the same (`_httpMessage._headerSent`).
 */
function responseUnderWay(socket: Duplex): boolean {
  const current = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } | null })._httpMessage;
  return current?.headersSent === true;
}

/**
 * The server's `clientError` listener: a client that reset, or left halfway through its request,
 * is dropped uncounted; any other parser refusal is counted and gets a JSON answer, and the
 * connection is closed. When a response is already under way on the socket (an open stream),
 * nothing is written: a status line there would land in the middle of the stream's body, so the
 * socket is destroyed instead (still counted), as Node's default listener does.
 */
export function clientErrorListener(
  limits: HttpLimits,
  refusals: Counter<'reason'>,
): (err: NodeJS.ErrnoException, socket: Duplex) => void {
  return (err, socket) => {
    // Gone: reset, or closed halfway through its request head (EOF state); nobody to answer.
    if (err.code === 'ECONNRESET' || err.code === 'HPE_INVALID_EOF_STATE' || !socket.writable) {
      socket.destroy();
      return;
    }
    const refusal = refusalFor(err, limits);
    refusals.inc({ reason: refusal.reason });
    if (responseUnderWay(socket)) {
      socket.destroy();
      return;
    }
    writeRefusal(socket, refusal);
  };
}

/**
 * The server's `connect` listener: this is not a proxy. Without it Node drops CONNECT requests
 * without an answer.
 */
export function connectMethodListener(
  refusals: Counter<'reason'>,
): (req: IncomingMessage, socket: Duplex) => void {
  return (_req, socket) => {
    refusals.inc({ reason: 'method' });
    socket.on('error', () => undefined);
    writeRefusal(socket, {
      status: 405,
      code: 'MethodNotAllowed',
      message: 'CONNECT is not supported: this is not a proxy; use GET',
      reason: 'method',
    });
  };
}
