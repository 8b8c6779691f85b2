/**
 * Cursors: the positions the ingest tier gives messages (DESIGN.md §3b). One cursor orders every
 * message of an installation, whatever its exchange or binding, so one cursor covers every binding
 * of a v2 connection.
 *
 * A cursor is `<ms>-<seq>`: the time the batch was received (ms since the epoch, 13 digits) and a
 * sequence number within that millisecond (6 digits), both zero-padded, so comparing two cursors
 * as strings compares their positions. Positions never go back: each is taken after the newest
 * one ever given (kept in the history store), or from the clock when the store has none (a
 * restart without persistence), so a cursor from before a restart is older than every new one.
 * On Redis, a position is also the ID of its entry in each channel's stream (`<ms>-<seq>`).
 */
export type Cursor = string;

const MS_DIGITS = 13;
const SEQ_DIGITS = 6;
/** Sequence numbers one millisecond can hold; a batch that would pass it moves to the next ms. */
export const SEQ_PER_MS = 10 ** SEQ_DIGITS;
const CURSOR_RE = /^(\d{13})-(\d{6})$/;

/** The position before every other: where a channel with a complete history starts. */
export const ORIGIN_CURSOR: Cursor = formatCursor(0, 0);

export interface Position {
  readonly ms: number;
  readonly seq: number;
}

export function formatCursor(ms: number, seq: number): Cursor {
  return `${String(ms).padStart(MS_DIGITS, '0')}-${String(seq).padStart(SEQ_DIGITS, '0')}`;
}

/** The position a string names, or undefined when this installation cannot have made it. */
export function parseCursor(text: string): Position | undefined {
  const m = CURSOR_RE.exec(text);
  if (m === null) return undefined;
  return { ms: Number(m[1]), seq: Number(m[2]) };
}

export function isCursor(text: string): boolean {
  return CURSOR_RE.test(text);
}

/** The cursor just before every position taken at or after `ms`. */
export function cursorBefore(ms: number): Cursor {
  return ms <= 0 ? ORIGIN_CURSOR : formatCursor(ms - 1, SEQ_PER_MS - 1);
}

/** The cursor just before `c`. */
export function predecessor(c: Cursor): Cursor {
  const p = parseCursor(c);
  if (p === undefined) throw new Error(`not a cursor: ${c}`);
  if (p.seq > 0) return formatCursor(p.ms, p.seq - 1);
  return cursorBefore(p.ms);
}

export function laterOf(a: Cursor, b: Cursor): Cursor {
  return a > b ? a : b;
}

/**
 * Where `count` new positions start, after `last` (the newest given, if any), taken at `nowMs`:
 * the clock when it is ahead of `last`, else right after `last`. The batch fits one millisecond.
 */
export function nextPositions(last: Position | undefined, nowMs: number, count: number): Position {
  let ms = Math.max(0, Math.floor(nowMs));
  let seq = 0;
  if (last !== undefined && last.ms >= ms) {
    ms = last.ms;
    seq = last.seq + 1;
  }
  if (seq + count > SEQ_PER_MS) {
    ms += 1;
    seq = 0;
  }
  return { ms, seq };
}

/** A stream entry ID (`<ms>-<seq>`, unpadded) as a cursor. */
export function cursorOfStreamId(id: string): Cursor {
  const dash = id.indexOf('-');
  return formatCursor(Number(id.slice(0, dash)), Number(id.slice(dash + 1)));
}

/** A cursor as a stream entry ID. */
export function streamIdOf(c: Cursor): string {
  const p = parseCursor(c);
  if (p === undefined) throw new Error(`not a cursor: ${c}`);
  return `${p.ms}-${p.seq}`;
}
