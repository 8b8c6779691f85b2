/** A real `eventsource` client that records every event, with waits for the tests. */
import { EventSource } from 'eventsource';

export interface ReceivedEvent {
  readonly type: string;
  readonly data: unknown;
  readonly lastEventId: string;
}

export interface Bindings {
  readonly bindings: readonly { exchange: string; routingKeyPattern: string }[];
}

export function connectUrl(
  base: string,
  bindings: Bindings | string,
  prefix = '/api/events/v1/connect/',
): string {
  const json = typeof bindings === 'string' ? bindings : JSON.stringify(bindings);
  return `${base}${prefix}?bindings=${encodeURIComponent(json)}`;
}

export class SseClient {
  readonly events: ReceivedEvent[] = [];
  readonly source: EventSource;
  private waiters: (() => void)[] = [];

  constructor(url: string) {
    this.source = new EventSource(url);
    for (const type of ['ready', 'message', 'ping', 'error']) {
      this.source.addEventListener(type, (ev) => {
        const e = ev as MessageEvent<string> & { data?: string };
        if (type === 'error' && e.data === undefined) return; // transport error, not an `error` event
        this.events.push({ type, data: JSON.parse(e.data ?? 'null') as unknown, lastEventId: e.lastEventId });
        for (const w of this.waiters.splice(0)) w();
      });
    }
  }

  of(type: string): ReceivedEvent[] {
    return this.events.filter((e) => e.type === type);
  }

  messages<T = Record<string, unknown>>(): T[] {
    return this.of('message').map((e) => e.data as T);
  }

  /** Resolves when `predicate` holds over the events so far; rejects after `ms`. */
  async waitFor(predicate: (c: SseClient) => boolean, what: string, ms = 10_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!predicate(this)) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}; events: ${JSON.stringify(this.events)}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 100));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  waitReady(ms?: number): Promise<void> {
    return this.waitFor((c) => c.of('ready').length > 0 || c.of('error').length > 0, 'ready', ms).then(() => {
      const err = this.of('error')[0];
      if (err) throw new Error(`got error instead of ready: ${JSON.stringify(err.data)}`);
    });
  }

  close(): void {
    this.source.close();
  }
}
