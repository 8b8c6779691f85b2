/**
 * Server-Sent Events framing. Every event has exactly three fields and `id: -`: the constant id
 * gives the browser a last event id, so its automatic reconnect carries `Last-Event-ID` and is
 * answered 204 (which stops it), as the original service did.
 */
export type EventKind = 'ready' | 'message' | 'ping' | 'error';

/** `dataJson` must be one line of JSON (JSON.stringify output is). */
export function sseFrame(kind: EventKind, dataJson: string): string {
  return `event: ${kind}\ndata: ${dataJson}\nid: -\n\n`;
}

export const READY_FRAME = sseFrame('ready', '{}');

export function pingFrame(now: Date = new Date()): string {
  return sseFrame('ping', JSON.stringify({ time: now.toISOString() }));
}

/** The error event's data is a JSON string saying what went wrong. */
export function errorFrame(message: string): string {
  return sseFrame('error', JSON.stringify(message));
}
