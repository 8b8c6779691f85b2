/**
 * @events-proxy/client: the way a web page or a Node program consumes the events proxy's v2
 * streams (docs/client.md; the contract is DESIGN.md §3d).
 */
import { NetworkStream, type NetworkOptions } from './network-stream.js';
import { EventsProxyStream } from './stream.js';
import { TabShare, canShareAcrossTabs, shareName } from './tab-share.js';
import type { ConnectOptions } from './types.js';

export { EventsProxyStream } from './stream.js';
export type {
  Binding,
  ConnectOptions,
  GapInfo,
  HeaderRecord,
  HeadersOption,
  ReadyInfo,
  StreamError,
  StreamEvents,
  StreamMessage,
  StreamStatus,
} from './types.js';

const isText = (v: unknown): v is string => typeof v === 'string' && v !== '';

function check(opts: ConnectOptions): void {
  const bad = (what: string): never => {
    throw new TypeError(`connect(options): ${what}`);
  };
  if (!isText(opts?.url)) bad("url must be an edge's base URL, e.g. 'https://events.example.com'");
  if (
    !Array.isArray(opts.bindings) ||
    !opts.bindings.length ||
    !opts.bindings.every((b) => isText(b?.exchange) && isText(b.routingKeyPattern))
  )
    bad('bindings must be a non-empty array of { exchange, routingKeyPattern }, both non-empty strings');
  if (!opts.fetch && typeof fetch !== 'function') bad('this runtime has no fetch; pass options.fetch');
}

/** Wakes the stream when a tab becomes visible again, is restored, or the network comes back. */
function watchWake(stream: EventsProxyStream): () => void {
  if (typeof addEventListener !== 'function') return () => undefined;
  const nudge = (): void => {
    if (typeof document === 'undefined' || document.visibilityState === 'visible') stream.nudge();
  };
  const events = ['online', 'pageshow', 'visibilitychange'];
  for (const e of events) addEventListener(e, nudge);
  return () => {
    for (const e of events) removeEventListener(e, nudge);
  };
}

/** Opens a resumable stream of the messages matching `bindings` (it connects at once). */
export function connect(opts: ConnectOptions): EventsProxyStream {
  check(opts);
  const stream = new EventsProxyStream();
  const network: NetworkOptions = {
    ...opts,
    fetch: opts.fetch ?? ((input, init) => globalThis.fetch(input, init)),
    maxRetryDelayMs: opts.maxRetryDelayMs ?? 30_000,
    connectTimeoutMs: opts.connectTimeoutMs ?? 30_000,
  };
  const deliver = stream.deliver.bind(stream);
  const cursor = (): string | undefined => stream.lastCursor;
  const ownStream = (emit: typeof deliver) => new NetworkStream(network, emit, cursor);
  const source =
    opts.shareAcrossTabs && canShareAcrossTabs()
      ? new TabShare(
          shareName(
            opts.url,
            opts.bindings,
            typeof opts.shareAcrossTabs === 'string' ? opts.shareAcrossTabs : '',
          ),
          ownStream,
          deliver,
          cursor,
        )
      : ownStream(deliver);
  const signal = opts.signal;
  const onAbort = (): void => stream.close();
  const unwatch = watchWake(stream);
  stream.attach(source, () => {
    unwatch();
    signal?.removeEventListener('abort', onAbort);
  });
  if (signal?.aborted) stream.close();
  else signal?.addEventListener('abort', onAbort);
  return stream;
}
