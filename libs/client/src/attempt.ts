import { createParser, type EventSourceMessage } from 'eventsource-parser';
import type { HeaderRecord } from './types.js';

/** One connect request and the stream it opens, fed to `onEvent` as SSE events. */
export interface AttemptRequest {
  readonly url: string;
  readonly headers: HeaderRecord;
  readonly fetch: typeof fetch;
  readonly credentials: RequestCredentials | undefined;
  readonly signal: AbortSignal;
  /** Called for every chunk, before it is parsed: the watchdog's proof of life. */
  readonly onBytes: () => void;
  readonly onRetry: (ms: number) => void;
  readonly onEvent: (event: EventSourceMessage) => void;
}

/** How an attempt ended: the stream ended (or was aborted), an HTTP answer other than a stream, a failure. */
export type AttemptEnd =
  | { readonly kind: 'ended' }
  | {
      readonly kind: 'refused';
      readonly status: number;
      readonly message: string;
      readonly terminal: boolean;
      readonly retryAfterMs: number | undefined;
    }
  /** The request or the stream failed (network, or `headers()` threw): said in `message`. */
  | { readonly kind: 'failed'; readonly message: string };

const errorText = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/** `Retry-After` as seconds or an HTTP date, in milliseconds from now. */
export function retryAfterMs(value: string | null, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const ms = /^\s*\d+\s*$/.test(value) ? Number(value) * 1000 : Date.parse(value) - now;
  return Number.isNaN(ms) ? undefined : Math.max(0, ms);
}

/** What a refusal's body says: our JSON bodies' `message`, else the start of the text. */
async function refusalText(res: Response): Promise<string> {
  const body = await res.text().catch(() => '');
  try {
    return String((JSON.parse(body) as { message?: unknown }).message ?? body);
  } catch {
    return body.slice(0, 200);
  }
}

function refused(res: Response, message: string): AttemptEnd {
  const status = res.status;
  // 429 and 5xx are worth another try (429 after Retry-After); 408 too. 204 means "stop", like a
  // browser's EventSource; 401, 403 and other 4xx will not change by trying again.
  const retryable = status === 429 || status === 408 || status >= 500;
  const after = status === 429 || status === 503 ? retryAfterMs(res.headers.get('retry-after')) : undefined;
  return {
    kind: 'refused',
    status,
    message: `HTTP ${status}${message ? `: ${message}` : ''}`,
    terminal: !retryable,
    retryAfterMs: after,
  };
}

export async function runAttempt(req: AttemptRequest): Promise<AttemptEnd> {
  try {
    const res = await req.fetch(req.url, {
      headers: req.headers,
      signal: req.signal,
      credentials: req.credentials,
    });
    if (res.status === 204) return refused(res, 'the server asked not to reconnect');
    if (res.status !== 200) return refused(res, await refusalText(res));
    const type = res.headers.get('content-type') ?? '';
    if (!type.startsWith('text/event-stream') || !res.body) {
      void res.body?.cancel().catch(() => undefined);
      return refused(
        res,
        `expected a text/event-stream, got ${type || 'no content type'}; is the url an edge?`,
      );
    }
    const parser = createParser({ onEvent: req.onEvent, onRetry: req.onRetry });
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    // Node 20's fetch never settles a read pending when the request is aborted after the body's
    // last byte: cancelling the reader settles it (done) everywhere.
    req.signal.addEventListener('abort', () => void reader.cancel().catch(() => undefined));
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) {
      req.onBytes();
      parser.feed(decoder.decode(chunk.value, { stream: true }));
    }
    return { kind: 'ended' };
  } catch (err) {
    return req.signal.aborted
      ? { kind: 'ended' }
      : { kind: 'failed', message: `network error: ${errorText(err)}` };
  }
}
