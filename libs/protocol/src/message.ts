import { envelopeHeader } from './envelope.js';
import { sseFrame } from './sse.js';

/** An AMQP delivery as the ingest sees it: what the `message` event is built from. */
export interface Delivery {
  readonly exchange: string;
  readonly routingKey: string;
  readonly redelivered: boolean;
  /** The `CC` header's keys (sender-selected distribution), if any. */
  readonly cc: readonly string[];
  readonly body: Buffer;
}

/** The `data` of a `message` event. */
export interface MessageData {
  readonly payload: unknown;
  readonly exchange: string;
  readonly routingKey: string;
  readonly redelivered: boolean;
  readonly routes: string[];
}

const ROUTE_PREFIX = 'route.';

/** CC keys that start with `route.`, prefix removed; other CC keys are not listed. */
export function routesOf(cc: readonly string[]): string[] {
  return cc.filter((k) => k.startsWith(ROUTE_PREFIX)).map((k) => k.slice(ROUTE_PREFIX.length));
}

/** Reads the CC header as AMQP clients set it: an array of strings (or Buffers), or one string. */
export function ccKeysOf(header: unknown): string[] {
  if (header === undefined || header === null) return [];
  const list = Array.isArray(header) ? header : [header];
  return list.flatMap((k) => (typeof k === 'string' ? [k] : Buffer.isBuffer(k) ? [k.toString()] : []));
}

/**
 * The JSON text of the payload: the body itself when it is JSON (whitespace outside strings
 * removed, so numbers and escapes stay byte for byte as the publisher wrote them), otherwise the
 * body as a JSON string, so nothing is dropped.
 */
export function payloadJson(body: Buffer): string {
  const text = body.toString('utf8');
  try {
    JSON.parse(text);
  } catch {
    return JSON.stringify(text);
  }
  return minifyJson(text);
}

/**
 * Removes insignificant whitespace from valid JSON text. Strings are skipped whole, from quote to
 * quote (a native search), so only the characters between values are looked at one by one; text
 * without whitespace (what most publishers send) is returned as it is.
 */
export function minifyJson(text: string): string {
  let out = '';
  let runStart = 0;
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      i = closingQuote(text, i);
    } else if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) {
      out += text.slice(runStart, i);
      runStart = i + 1;
    }
  }
  return runStart === 0 ? text : out + text.slice(runStart);
}

/** The index of the quote that closes the JSON string opening at `open` (the text is valid JSON). */
function closingQuote(text: string, open: number): number {
  let q = text.indexOf('"', open + 1);
  for (;;) {
    if (q < 0) return text.length; // unterminated: cannot happen once JSON.parse accepted the text
    let backslashes = 0;
    while (text.charCodeAt(q - 1 - backslashes) === 0x5c) backslashes++;
    if (backslashes % 2 === 0) return q;
    q = text.indexOf('"', q + 1);
  }
}

/** The `data` JSON of a `message` event, keys in the documented order. */
export function messageDataJson(d: Delivery): string {
  return (
    `{"payload":${payloadJson(d.body)},"exchange":${JSON.stringify(d.exchange)},` +
    `"routingKey":${JSON.stringify(d.routingKey)},"redelivered":${d.redelivered},` +
    `"routes":${JSON.stringify(routesOf(d.cc))}}`
  );
}

/**
 * The bus envelope of a `message` event: the complete frame, rendered once per delivery and written
 * as-is to every client, behind its envelope header (what `encodeEnvelope` makes of it), built with
 * one allocation. What the ingest publishes for each routed delivery.
 */
export function renderMessageFrame(d: Delivery): string {
  return sseFrame('message', messageDataJson(d));
}

export function renderMessageEnvelope(id: string, receivedAt: number, d: Delivery): Buffer {
  return Buffer.from(envelopeHeader(id, receivedAt) + sseFrame('message', messageDataJson(d)));
}
