import type { StreamError, StreamEvent, StreamEvents, StreamMessage, StreamStatus } from './types.js';

/** Where a stream's events come from: its own connection, or the tab that holds the shared one. */
export interface EventSourceOfStream {
  start(): void;
  stop(): void;
  /** The tab woke or the network came back. */
  nudge(): void;
}

/** How many delivered messages' cursors a stream remembers to drop repeats. */
const RECENT_CURSORS = 4096;

type Listener<K extends keyof StreamEvents> = (value: StreamEvents[K]) => void;
type Listeners = { [K in keyof StreamEvents]: Set<Listener<K>> };

/** A listener that throws is reported, as an EventTarget does; the stream and other listeners go on. */
const report = (err: unknown): void =>
  ((globalThis as { reportError?: (e: unknown) => void }).reportError ?? console.error)(err);

/**
 * What `connect()` returns: listeners, async iteration, the cursor to resume from. Every event
 * passes through `deliver`, which drops a message whose cursor was already delivered.
 */
export class EventsProxyStream implements AsyncIterable<StreamMessage> {
  readonly #listeners: Listeners = {
    ready: new Set(),
    message: new Set(),
    gap: new Set(),
    error: new Set(),
    status: new Set(),
  };
  /** The open `for await` loops: each is woken when a message arrives or the stream closes. */
  readonly #queues = new Set<{ readonly buffered: StreamMessage[]; wake?: () => void }>();
  /** The cursors of the last messages delivered, oldest first (a Set iterates in insertion order). */
  readonly #seen = new Set<string>();
  #cursor: string | undefined;
  #current: StreamStatus = 'connecting';
  #source: EventSourceOfStream | undefined;
  /** What connect() wired up (wake-ups, the signal), undone when the stream closes. */
  #unwire: (() => void) | undefined;
  /** The terminal error that closed the stream, thrown to `for await` loops. */
  #closedWith: Error | undefined;

  /** The cursor to resume from (`since=` in a later `connect`): the newest position delivered. */
  get lastCursor(): string | undefined {
    return this.#cursor;
  }

  get status(): StreamStatus {
    return this.#current;
  }

  /** Adds a listener; returns the function that removes it. */
  on<K extends keyof StreamEvents>(kind: K, listener: Listener<K>): () => void {
    const set = this.#listeners[kind] as Set<Listener<K>>;
    if (!set) throw new TypeError(`unknown event ${String(kind)}: use ready, message, gap, error or status`);
    set.add(listener);
    return () => void set.delete(listener);
  }

  /**
   * The messages from now on; the loop ends when the stream closes, and throws the error that
   * closed it for good. `break` ends only the loop.
   */
  async *[Symbol.asyncIterator](): AsyncGenerator<StreamMessage, void, undefined> {
    const queue: { readonly buffered: StreamMessage[]; wake?: () => void } = { buffered: [] };
    this.#queues.add(queue);
    try {
      for (;;) {
        const next = queue.buffered.shift();
        if (next !== undefined) yield next;
        else if (this.#current === 'closed') {
          if (this.#closedWith) throw this.#closedWith;
          return;
        } else await new Promise<void>((resolve) => (queue.wake = resolve));
      }
    } finally {
      this.#queues.delete(queue);
    }
  }

  close(): void {
    this.#finish(undefined);
  }

  /** @internal connect() wires the stream to its source, and what to undo when it closes. */
  attach(source: EventSourceOfStream, unwire: () => void): void {
    this.#source = source;
    this.#unwire = unwire;
    source.start();
  }

  /** @internal */
  nudge(): void {
    this.#source?.nudge();
  }

  /** @internal The one way in for every event of the source. */
  deliver(event: StreamEvent): void {
    if (this.#current === 'closed') return;
    switch (event.kind) {
      case 'message':
        // A message seen again (the overlap when a new leader tab resumes from a position the
        // others already passed) is dropped.
        if (this.#seen.has(event.data.cursor)) return;
        this.#seen.add(event.data.cursor);
        if (this.#seen.size > RECENT_CURSORS) this.#seen.delete(this.#seen.values().next().value!);
        this.#cursor = event.data.cursor;
        this.#emit('message', event.data);
        for (const q of this.#queues) {
          q.buffered.push(event.data);
          q.wake?.();
        }
        return;
      case 'ready':
        this.#cursor = event.data.cursor;
        this.#emit('ready', event.data);
        return;
      case 'gap':
        this.#cursor = event.data.to;
        this.#emit('gap', event.data);
        return;
      case 'ping':
        this.#cursor = event.cursor;
        return;
      case 'status':
        // A tab that takes over a shared stream starts its own, 'connecting': for this stream, that
        // is a reconnect.
        if (event.data !== 'closed')
          this.#setStatus(
            event.data === 'connecting' && this.#current !== 'connecting' ? 'reconnecting' : event.data,
          );
        return;
      case 'error':
        this.#emit('error', event.data);
        if (event.data.terminal) this.#finish(event.data);
        return;
    }
  }

  #finish(error: StreamError | undefined): void {
    if (this.#current === 'closed') return;
    this.#closedWith = error && new Error(error.message);
    this.#source?.stop();
    this.#unwire?.();
    this.#setStatus('closed');
    for (const q of this.#queues) q.wake?.();
  }

  #setStatus(status: StreamStatus): void {
    if (status === this.#current) return;
    this.#current = status;
    this.#emit('status', status);
  }

  #emit<K extends keyof StreamEvents>(kind: K, value: StreamEvents[K]): void {
    for (const listener of [...this.#listeners[kind]] as Listener<K>[]) {
      try {
        listener(value);
      } catch (err) {
        report(err);
      }
    }
  }
}
