import type { EventSourceOfStream } from './stream.js';
import type { Binding, ReadyInfo, StreamEvent, StreamStatus } from './types.js';

/**
 * `shareAcrossTabs`: the tabs of one origin that stream the same (url, bindings, credentials)
 * share one network stream. The tab holding a Web Lock named after them streams and posts every
 * event on a BroadcastChannel of the same name; the others listen. When the leader tab closes (the
 * browser releases its lock) or freezes (it gives the lock up), the next tab in the lock's queue
 * streams from its own last cursor; what it receives twice is dropped by cursor.
 */

/** On the channel: a tab that joins says hello; the leader posts events, to all or to one tab. */
type Relay = { readonly hello: string } | { readonly to?: string; readonly e: readonly StreamEvent[] };

interface LockManagerLike {
  request(name: string, options: { signal: AbortSignal }, callback: () => Promise<void>): Promise<unknown>;
}

const LIFECYCLE = ['freeze', 'resume'];

const locksOf = (): LockManagerLike | undefined =>
  (globalThis as { navigator?: { locks?: LockManagerLike } }).navigator?.locks;

/** Whether this runtime can share: Web Locks and BroadcastChannel (browsers; not Node). */
export function canShareAcrossTabs(): boolean {
  return (
    locksOf() !== undefined &&
    typeof BroadcastChannel === 'function' &&
    typeof addEventListener === 'function'
  );
}

/** FNV-1a, 32 bits, base 36: a short name for the lock and the channel. */
function hash(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return (h >>> 0).toString(36);
}

export function shareName(url: string, bindings: readonly Binding[], credentials: string): string {
  const list = bindings.map((b) => [b.exchange, b.routingKeyPattern]);
  return `events-proxy-client:${hash(JSON.stringify([url.replace(/\/+$/, ''), list, credentials]))}`;
}

export class TabShare implements EventSourceOfStream {
  readonly #id = Math.random().toString(36).slice(2);
  #channel: BroadcastChannel | undefined;
  #lockRequest: AbortController | undefined;
  #leader: { readonly stream: EventSourceOfStream; readonly resign: () => void } | undefined;
  #status: StreamStatus = 'connecting';
  #ready: ReadyInfo | undefined;
  /** In the queue or leading: false while the tab is frozen, and once stopped. */
  #active = false;
  /**
   * Frozen (a background tab the browser suspends): give the stream, and the place in the lock's
   * queue, to other tabs; join the queue again on resume. The channel stays open, so what the
   * leader posts meanwhile is delivered when the tab runs again. (The browser fires these events
   * at the document, without bubbling.)
   */
  readonly #onLifecycle = (e: Event): void => {
    if (this.#channel === undefined) return;
    if (e.type === 'resume') this.#queue();
    else this.#yield();
  };

  readonly #name: string;
  /** This tab's own network stream, made when it becomes the leader. */
  readonly #network: (emit: (e: StreamEvent) => void) => EventSourceOfStream;
  readonly #deliver: (e: StreamEvent) => void;
  /** This tab's stream's last cursor: a tab that joins starts from the leader's. */
  readonly #cursor: () => string | undefined;

  constructor(
    name: string,
    network: (emit: (e: StreamEvent) => void) => EventSourceOfStream,
    deliver: (e: StreamEvent) => void,
    cursor: () => string | undefined,
  ) {
    this.#name = name;
    this.#network = network;
    this.#deliver = deliver;
    this.#cursor = cursor;
  }

  start(): void {
    for (const e of LIFECYCLE) document.addEventListener(e, this.#onLifecycle);
    this.#channel = new BroadcastChannel(this.#name);
    this.#channel.onmessage = (e: MessageEvent<Relay>) => this.#onRelay(e.data);
    this.#queue();
  }

  stop(): void {
    for (const e of LIFECYCLE) document.removeEventListener(e, this.#onLifecycle);
    this.#yield();
    this.#channel?.close();
    this.#channel = undefined;
  }

  nudge(): void {
    this.#leader?.stream.nudge();
  }

  /** Asks where the shared stream stands, and queues for the lock. */
  #queue(): void {
    if (this.#active) return;
    this.#active = true;
    this.#channel!.postMessage({ hello: this.#id } satisfies Relay);
    const request = new AbortController();
    this.#lockRequest = request;
    locksOf()!
      .request(
        this.#name,
        { signal: request.signal },
        () => new Promise<void>((resolve) => this.#lead(resolve)),
      )
      .catch(() => undefined); // aborted while queued
  }

  /** Leaves the queue, and gives the stream up if this tab holds it. */
  #yield(): void {
    this.#active = false;
    this.#lockRequest?.abort();
    this.#lockRequest = undefined;
    const leader = this.#leader;
    this.#leader = undefined;
    if (leader) {
      leader.stream.stop();
      leader.resign();
    }
  }

  #lead(resign: () => void): void {
    const channel = this.#channel;
    if (!this.#active || channel === undefined) return resign();
    const stream = this.#network((e) => {
      if (this.#leader?.stream !== stream) return;
      if (e.kind === 'status') this.#status = e.data;
      if (e.kind === 'ready') this.#ready = e.data;
      // Posted first: a terminal error closes this tab's stream, and its channel with it.
      channel.postMessage({ e: [e] } satisfies Relay);
      this.#deliver(e);
    });
    this.#leader = { stream, resign };
    stream.start();
  }

  #onRelay(relay: Relay): void {
    if ('hello' in relay) {
      // A tab that joins hears where the stream stands from the leader.
      const ready = this.#ready;
      if (this.#leader)
        this.#channel?.postMessage({
          to: relay.hello,
          e: [
            { kind: 'status', data: this.#status },
            ...(this.#status === 'open' && ready
              ? [{ kind: 'ready', data: { ...ready, cursor: this.#cursor() ?? ready.cursor } } as const]
              : []),
          ],
        } satisfies Relay);
      return;
    }
    if (relay.to && relay.to !== this.#id) return;
    // A tab that already has a cursor (one thawed after a freeze) keeps it: the leader's is ahead of
    // what it may still receive from the posts queued while it was frozen.
    if (relay.to && this.#cursor() !== undefined) {
      for (const e of relay.e) if (e.kind === 'status') this.#deliver(e);
      return;
    }
    // A tab that just took the lead may still have the previous leader's last posts queued: their
    // messages count (the stream drops repeats by cursor), their status no longer does.
    for (const e of relay.e)
      if (!this.#leader || (e.kind !== 'status' && e.kind !== 'ready')) this.#deliver(e);
  }
}
