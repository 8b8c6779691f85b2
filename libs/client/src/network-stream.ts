import { runAttempt, type AttemptEnd } from './attempt.js';
import { backoffDelay } from './backoff.js';
import type {
  Binding,
  ConnectOptions,
  GapInfo,
  HeaderRecord,
  StreamError,
  StreamEvent,
  StreamMessage,
} from './types.js';

/** What a network stream needs, defaults applied (connect() resolves them). */
export interface NetworkOptions extends ConnectOptions {
  readonly fetch: typeof fetch;
  readonly maxRetryDelayMs: number;
  readonly connectTimeoutMs: number;
}

/** Silence on top of the server's ping interval before a stream is declared dead. */
export const WATCHDOG_GRACE_MS = 5000;

export function connectUrl(base: string, bindings: readonly Binding[], since?: string): string {
  const list = bindings.map((b) => ({ exchange: b.exchange, routingKeyPattern: b.routingKeyPattern }));
  const from = since ? `&since=${encodeURIComponent(since)}` : '';
  return `${base.replace(/\/+$/, '')}/api/events/v2/connect/?bindings=${encodeURIComponent(JSON.stringify({ bindings: list }))}${from}`;
}

const parse = (data: string): unknown => {
  try {
    return JSON.parse(data);
  } catch {
    return undefined;
  }
};

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;

/**
 * Why this side ends the current attempt: a terminal error; or a warning for the page, then a new
 * try at once (a token that expired on an open stream) or after the backoff (silence).
 */
type Cut = { readonly terminal?: StreamError; readonly warning?: string; readonly now?: boolean };

/**
 * One tab's (or one Node program's) own connection: connects, parses, resumes with
 * `Last-Event-ID` after every drop, backs off, and watches for silence. It stops on its own only
 * for a terminal error, which it reports.
 */
export class NetworkStream {
  #stopped = false;
  #attempt: AbortController | undefined;
  #cut: Cut | undefined;
  #ready = false;
  #failures = 0;
  #retryFloorMs = 1000;
  #lastByteAt = 0;
  /** The silence after which the stream is dead: connectTimeoutMs until `ready`, then the ping interval + 5 s. */
  #silenceMs = 0;
  #watchdog: ReturnType<typeof setTimeout> | undefined;
  /** Ends the current wait; `#cutWait` only when a nudge may (not a server's `Retry-After`). */
  #endWait: (() => void) | undefined;
  #cutWait: (() => void) | undefined;

  readonly #opts: NetworkOptions;
  readonly #emit: (event: StreamEvent) => void;
  readonly #cursor: () => string | undefined;

  constructor(
    opts: NetworkOptions,
    emit: (event: StreamEvent) => void,
    /** Where to resume from: the stream's last cursor, read before every connect. */
    cursor: () => string | undefined,
  ) {
    this.#opts = opts;
    this.#emit = emit;
    this.#cursor = cursor;
  }

  start(): void {
    void this.#run();
  }

  stop(): void {
    this.#stopped = true;
    this.#attempt?.abort();
    this.#endWait?.();
    clearTimeout(this.#watchdog);
  }

  /** A tab woke or the network came back: check the stream now, or skip the rest of a backoff wait. */
  nudge(): void {
    if (this.#attempt) this.#check();
    else this.#cutWait?.();
  }

  async #run(): Promise<void> {
    this.#emit({ kind: 'status', data: 'connecting' });
    while (!this.#stopped) {
      const end = await this.#connectOnce();
      if (this.#stopped) return;
      const cut = this.#cut;
      if (cut?.terminal) return this.#fail(cut.terminal);
      if (end.kind === 'refused' && end.terminal)
        return this.#fail({ message: end.message, terminal: true, status: end.status });
      // Said as soon as the stream is gone, not after the wait.
      this.#emit({ kind: 'status', data: 'reconnecting' });
      if (this.#ready) this.#failures = 0;
      if (cut?.warning !== undefined) this.#warn(cut.warning);
      if (cut?.now) continue;
      let atLeastMs: number | undefined;
      if (end.kind === 'failed') this.#warn(end.message);
      if (end.kind === 'refused') {
        this.#warn(end.message, end.status);
        atLeastMs = end.retryAfterMs;
      }
      await this.#wait(
        backoffDelay(++this.#failures, this.#retryFloorMs, this.#opts.maxRetryDelayMs, atLeastMs),
        atLeastMs === undefined,
      );
    }
  }

  async #connectOnce(): Promise<AttemptEnd> {
    let headers: HeaderRecord;
    try {
      const h = this.#opts.headers;
      headers = { ...(typeof h === 'function' ? await h() : h) };
    } catch (err) {
      return {
        kind: 'failed',
        message: `headers() failed: ${err instanceof Error ? err.message : String(err)}`,
      };
    }
    const cursor = this.#cursor();
    headers['Accept'] = 'text/event-stream';
    if (cursor) headers['Last-Event-ID'] = cursor;
    const controller = new AbortController();
    this.#attempt = controller;
    this.#cut = undefined;
    this.#ready = false;
    this.#silenceMs = this.#opts.connectTimeoutMs;
    this.#lastByteAt = Date.now();
    this.#arm();
    if (this.#stopped) controller.abort();
    try {
      return await runAttempt({
        url: connectUrl(this.#opts.url, this.#opts.bindings, cursor ? undefined : this.#opts.since),
        headers,
        fetch: this.#opts.fetch,
        credentials: this.#opts.credentials,
        signal: controller.signal,
        onBytes: () => {
          this.#lastByteAt = Date.now();
        },
        onRetry: (ms) => {
          this.#retryFloorMs = ms;
        },
        onEvent: (e) => this.#onEvent(e.event, e.data, e.id),
      });
    } finally {
      this.#attempt = undefined;
      clearTimeout(this.#watchdog);
    }
  }

  /** An error the stream recovers from by itself: said for a UI, then retried. */
  #warn(message: string, status?: number): void {
    this.#emit({ kind: 'error', data: { message, terminal: false, status } });
  }

  #fail(error: StreamError): void {
    this.#stopped = true;
    this.#emit({ kind: 'error', data: error });
  }

  #onEvent(event: string | undefined, data: string, id: string | undefined): void {
    if (this.#stopped || this.#cut) return;
    const cursor = id && id !== '-' ? id : undefined;
    const body = parse(data);
    if (event === 'error') return this.#onServerError(typeof body === 'string' ? body : data, !cursor);
    // Every other event carries a cursor; one that does not is not ours, and is ignored (as is a
    // kind this client does not know, as a browser's EventSource does).
    if (!cursor) return;
    if (event === 'ping') this.#emit({ kind: 'ping', cursor });
    if (!isRecord(body)) return;
    if (event === 'message') this.#emit({ kind: 'message', data: { ...body, cursor } as StreamMessage });
    if (event === 'gap') this.#emit({ kind: 'gap', data: body as unknown as GapInfo });
    if (event === 'ready') {
      const ping = typeof body.pingIntervalSeconds === 'number' ? body.pingIntervalSeconds : undefined;
      if (ping !== undefined) this.#silenceMs = ping * 1000 + WATCHDOG_GRACE_MS;
      this.#ready = true;
      this.#arm();
      this.#emit({ kind: 'ready', data: { cursor, pingIntervalSeconds: ping } });
      this.#emit({ kind: 'status', data: 'open' });
    }
  }

  /**
   * The server's `error`: a retryable one (it carries a cursor) is reported and the stream that
   * ends after it is resumed; a terminal one (`id: -`) stops the stream, except a token that
   * expired on an open stream when `headers` is a function: that asks it for a new one, at once.
   */
  #onServerError(message: string, terminal: boolean): void {
    if (!terminal) return this.#warn(message);
    const refresh =
      this.#ready && typeof this.#opts.headers === 'function' && message.startsWith('Unauthorized:');
    this.#end(refresh ? { warning: message, now: true } : { terminal: { message, terminal: true } });
  }

  #end(cut: Cut): void {
    this.#cut = cut;
    this.#attempt?.abort();
  }

  /** One timer per attempt, re-armed when it fires, never per chunk. */
  #arm(): void {
    clearTimeout(this.#watchdog);
    this.#watchdog = setTimeout(() => this.#check(), this.#lastByteAt + this.#silenceMs - Date.now() + 5);
  }

  #check(): void {
    if (!this.#attempt || this.#cut) return;
    const silentMs = Date.now() - this.#lastByteAt;
    if (silentMs >= this.#silenceMs)
      this.#end({ warning: `nothing arrived for ${Math.round(silentMs / 1000)}s; reconnecting` });
    else this.#arm();
  }

  #wait(ms: number, cuttable: boolean): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.#endWait = this.#cutWait = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#endWait = done;
      this.#cutWait = cuttable ? done : undefined;
    });
  }
}
