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

export function pingData(now: Date = new Date()): string {
  return JSON.stringify({ time: now.toISOString() });
}

export function pingFrame(now: Date = new Date()): string {
  return sseFrame('ping', pingData(now));
}

/** The error event's data is a JSON string saying what went wrong. */
export function errorFrame(message: string): string {
  return sseFrame('error', JSON.stringify(message));
}

/**
 * v2 (DESIGN.md §3b): every event but a terminal `error` carries the cursor of the last message the
 * connection was sent (or its starting position), so the browser's `lastEventId` is a place to
 * resume from.
 */
export type V2EventKind = EventKind | 'gap';

/**
 * v2's `ready` data tells the client how often the server pings, so it can tell a stream that went
 * silent (a dropped link with no FIN) from a quiet one (DESIGN.md §3d). v1's stays `{}`.
 */
export function v2ReadyData(pingIntervalSeconds: number): string {
  return JSON.stringify({ pingIntervalSeconds });
}

export function sseFrameWithId(kind: V2EventKind, dataJson: string, id: string): string {
  return `event: ${kind}\ndata: ${dataJson}\nid: ${id}\n\n`;
}

/** The line a v2 stream starts with: how long the browser waits before it reconnects. */
export function retryField(ms: number): string {
  return `retry: ${Math.round(ms)}\n\n`;
}

/** The `gap` event: continuity from `from` (as the client gave it) cannot be proven; resuming after `to`. */
export function gapFrame(from: string, to: string): string {
  return sseFrameWithId('gap', JSON.stringify({ from, to }), to);
}

const V1_ID_TAIL = 'id: -\n\n';

/**
 * A v1 frame (ending `id: -`) with the given id instead: the v2 `message` frame is the v1 frame the
 * ingest rendered once, with its cursor, made once per message on each edge.
 */
export function withEventId(v1Frame: Buffer, id: string): Buffer {
  const head = v1Frame.length - V1_ID_TAIL.length;
  const tail = `id: ${id}\n\n`;
  const out = Buffer.allocUnsafe(head + tail.length);
  v1Frame.copy(out, 0, 0, head);
  out.write(tail, head, 'latin1');
  return out;
}
