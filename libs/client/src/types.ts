/** One (exchange, routing-key pattern) pair, as the connect route takes it. */
export interface Binding {
  readonly exchange: string;
  readonly routingKeyPattern: string;
}

export type HeaderRecord = Record<string, string>;

/** A record, or a function (possibly async) called before every connect: refresh a token there. */
export type HeadersOption = HeaderRecord | (() => HeaderRecord | Promise<HeaderRecord>);

export interface ConnectOptions {
  /** An edge's base URL, e.g. `https://events.example.com`; the library adds `/api/events/v2/connect/`. */
  readonly url: string;
  readonly bindings: readonly Binding[];
  /** A cursor or an ISO 8601 time to start from (the first connect only; later ones resume). */
  readonly since?: string;
  readonly headers?: HeadersOption;
  /**
   * Browsers: one network stream for all tabs of this origin with the same URL and bindings. A
   * string names the credentials too (a user id, say): tabs with different strings never share.
   */
  readonly shareAcrossTabs?: boolean | string;
  /** Aborting it closes the stream. */
  readonly signal?: AbortSignal;
  readonly fetch?: typeof fetch;
  /** Sent with every request; `include` sends cookies to another origin (AUTH_COOKIE_NAME). */
  readonly credentials?: RequestCredentials;
  /** The backoff's ceiling (default 30 000 ms). */
  readonly maxRetryDelayMs?: number;
  /** How long a connect may take to reach `ready` before it is abandoned (default 30 000 ms). */
  readonly connectTimeoutMs?: number;
}

/** A `message` event: the pulse message and the cursor it can be resumed after. */
export interface StreamMessage {
  readonly payload: unknown;
  readonly exchange: string;
  readonly routingKey: string;
  readonly redelivered: boolean;
  readonly routes: readonly string[];
  readonly cursor: string;
}

/** Each time the stream is (re)established. */
export interface ReadyInfo {
  readonly cursor: string;
  /** From the server's `ready`; the watchdog declares the stream dead after this plus 5 s of silence. */
  readonly pingIntervalSeconds: number | undefined;
}

/** The server could not prove that nothing was missed between `from` and `to`. */
export interface GapInfo {
  readonly from: string;
  readonly to: string;
}

export interface StreamError {
  readonly message: string;
  /** True when the stream has stopped for good (the status is then `closed`). */
  readonly terminal: boolean;
  /** The HTTP status, when the error is one. */
  readonly status?: number;
}

export type StreamStatus = 'connecting' | 'open' | 'reconnecting' | 'closed';

export interface StreamEvents {
  ready: ReadyInfo;
  message: StreamMessage;
  gap: GapInfo;
  error: StreamError;
  status: StreamStatus;
}

/**
 * What a stream's source (its own network connection, or the tab that holds the shared one)
 * hands to the stream. `ping` moves the cursor without telling the page.
 */
export type StreamEvent =
  | { readonly kind: 'ready'; readonly data: ReadyInfo }
  | { readonly kind: 'message'; readonly data: StreamMessage }
  | { readonly kind: 'gap'; readonly data: GapInfo }
  | { readonly kind: 'ping'; readonly cursor: string }
  | { readonly kind: 'error'; readonly data: StreamError }
  | { readonly kind: 'status'; readonly data: StreamStatus };
