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

/** Removes insignificant whitespace from valid JSON text. */
export function minifyJson(text: string): string {
  let out = '';
  let runStart = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) {
      out += text.slice(runStart, i);
      runStart = i + 1;
    }
  }
  return runStart === 0 ? text : out + text.slice(runStart);
}

/** The `data` JSON of a `message` event, keys in the documented order. */
export function messageDataJson(d: Delivery): string {
  return (
    `{"payload":${payloadJson(d.body)},"exchange":${JSON.stringify(d.exchange)},` +
    `"routingKey":${JSON.stringify(d.routingKey)},"redelivered":${d.redelivered},` +
    `"routes":${JSON.stringify(routesOf(d.cc))}}`
  );
}

/** The complete `message` event, rendered once per delivery and written as-is to every client. */
export function renderMessageFrame(d: Delivery): Buffer {
  return Buffer.from(sseFrame('message', messageDataJson(d)));
}
