/**
 * A real `eventsource` client for the v2 routes, left to reconnect on its own: it records every
 * event with its id, arrival time and which of its connections brought it (`gap` included), and
 * every time its connection failed or ended (the transport `error` the library dispatches before
 * it reconnects with Last-Event-ID).
 *
 * Each client has its own HTTP connection pool without keep-alive, closed with the client, so it
 * holds exactly the connections its streams use: Node's shared pool opens a spare socket each time
 * a stream is aborted, and a TCP balancer assigns a backend to that socket when it opens, which
 * would decide the edge of some later client of another test.
 */
import { EventSource, type FetchLike } from 'eventsource';
import { Agent, fetch as undiciFetch } from 'undici';

/** The events a v2 stream sends; `error` here is the server's event, never a transport error. */
const EVENT_TYPES = ['ready', 'message', 'gap', 'ping', 'error'] as const;

export interface StreamEvent {
  readonly type: string;
  readonly data: unknown;
  /** The event's `lastEventId` (the cursor it carried, or the last one before it). */
  readonly id: string;
  /** Date.now() when it arrived. */
  readonly at: number;
  /** Which connection brought it: 1 for the first, 2 after the first reconnect, and so on. */
  readonly connection: number;
}

export interface Drop {
  readonly at: number;
  /** The library's message (`terminated`, `fetch failed`, or none for a stream the server ended). */
  readonly message: string;
}

export class ResumingSseClient {
  readonly events: StreamEvent[] = [];
  /** Each time a connection failed or ended and the client went on to reconnect. */
  readonly drops: Drop[] = [];
  /** Date.now() of each `open` (a response that began a stream). */
  readonly opens: number[] = [];
  readonly source: EventSource;
  private waiters: (() => void)[] = [];
  private readonly pool = new Agent({ pipelining: 0 });

  constructor(readonly url: string) {
    const fetch: FetchLike = (input, init) =>
      undiciFetch(input, {
        signal: init.signal as AbortSignal,
        headers: init.headers,
        dispatcher: this.pool,
      });
    this.source = new EventSource(url, { fetch });
    this.source.addEventListener('open', () => {
      this.opens.push(Date.now());
      this.wake();
    });
    for (const type of EVENT_TYPES) {
      this.source.addEventListener(type, (ev) => {
        const e = ev as MessageEvent<string | undefined> & { message?: string };
        if (type === 'error' && e.data === undefined) {
          this.drops.push({ at: Date.now(), message: e.message ?? '' });
        } else {
          this.events.push({
            type,
            data: JSON.parse(e.data ?? 'null') as unknown,
            id: e.lastEventId,
            at: Date.now(),
            connection: this.opens.length,
          });
        }
        this.wake();
      });
    }
  }

  of(type: string): StreamEvent[] {
    return this.events.filter((e) => e.type === type);
  }

  /** The `message` events' data. */
  messages<T = Record<string, unknown>>(): T[] {
    return this.of('message').map((e) => e.data as T);
  }

  /** Resolves when `predicate` holds over what was received; rejects after `ms`. */
  async waitFor(predicate: (c: this) => boolean, what: string, ms = 15_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!predicate(this)) {
      const left = deadline - Date.now();
      if (left <= 0) {
        const tail = this.events.slice(-5);
        throw new Error(
          `timed out after ${ms} ms waiting for ${what}; ${this.events.length} events, the last ${JSON.stringify(tail)}; ` +
            `drops ${JSON.stringify(this.drops)}; state ${this.source.readyState}`,
        );
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 100));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Waits for the first `ready`; fails on an `error` event instead. */
  async waitReady(ms?: number): Promise<void> {
    await this.waitFor((c) => c.of('ready').length > 0 || c.of('error').length > 0, 'ready', ms);
    const err = this.of('error')[0];
    if (err) throw new Error(`got error instead of ready: ${JSON.stringify(err.data)}`);
  }

  close(): void {
    this.source.close();
    void this.pool.destroy();
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }
}
