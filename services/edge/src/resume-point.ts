import { cursorBefore, isCursor, type Cursor } from '@events-proxy/protocol';

/** Where a v2 connection asked to resume from (Last-Event-ID, or the `since` query key). */
export interface ResumePoint {
  /** The cursor to resume after. */
  readonly after: Cursor;
  /** What the client gave, as given (the `gap` event's `from`). */
  readonly from: string;
  /** `since=<time>`: replay only what the ingest received at or after this (ms since the epoch). */
  readonly receivedSince?: number;
}

export type ResumeParse =
  | { readonly ok: true; readonly resume: ResumePoint | undefined }
  | { readonly ok: false; readonly message: string };

/** An ISO 8601 date-time with a time zone, as `Date.prototype.toISOString` and most clients write it. */
const ISO_TIME_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/;

/**
 * Reads the resume point of a v2 request: `Last-Event-ID` wins over `since` (it is the newer
 * position: the browser sends it on its own when it reconnects). A value this installation cannot
 * have made is refused with a message saying what to send.
 */
export function parseResumePoint(lastEventId: string | undefined, since: readonly string[]): ResumeParse {
  if (since.length > 1) return { ok: false, message: 'The `since` query parameter must be given once' };
  if (lastEventId !== undefined && lastEventId !== '') {
    if (isCursor(lastEventId)) return { ok: true, resume: { after: lastEventId, from: lastEventId } };
    return {
      ok: false,
      message:
        'Last-Event-ID is not a cursor of this server: send the id of an event this server sent, ' +
        'or open a new EventSource without it',
    };
  }
  const value = since[0];
  if (value === undefined) return { ok: true, resume: undefined };
  if (isCursor(value)) return { ok: true, resume: { after: value, from: value } };
  const ms = ISO_TIME_RE.test(value) ? Date.parse(value) : Number.NaN;
  if (Number.isFinite(ms))
    return { ok: true, resume: { after: cursorBefore(ms), from: value, receivedSince: ms } };
  return {
    ok: false,
    message:
      'The `since` query parameter must be a cursor (the id of an event this server sent) or an ' +
      'ISO 8601 time such as 2026-01-31T12:00:00Z',
  };
}
