import { ORIGIN_CURSOR, laterOf, type Cursor } from '@events-proxy/protocol';
import type { ChannelReplay, HistoryEntry } from './history.js';

/** What a resuming v2 connection is sent between `ready` and live messages. */
export interface ReplayPlan {
  /**
   * Set when the history cannot prove that nothing matching was missed since the cursor: the
   * cursor the replay resumes after (the `gap` event's `to`).
   */
  readonly gapTo: Cursor | undefined;
  /** The messages to replay, in cursor order, each once (one may be retained under several channels). */
  readonly entries: readonly HistoryEntry[];
  /**
   * Per channel (in the order given), the newest cursor its history held when it was read
   * (ORIGIN_CURSOR if none): a live message of that channel at or before it was read already.
   */
  readonly readThrough: readonly Cursor[];
}

export interface ReplayRequest {
  /** The cursor to resume after. */
  readonly after: Cursor;
  /** Now (ms since the epoch): entries received more than `retentionMs` ago are not replayed. */
  readonly nowMs: number;
  readonly retentionMs: number;
  /** `since=<time>`: only messages received at or after this (ms since the epoch). */
  readonly receivedSince?: number;
}

/**
 * Merges what each channel of a connection retained into one replay. Continuity holds from the
 * latest `completeAfter` of all channels; entries older than the retention window count as missing
 * (storage trims approximately, replay does not), and so does everything at or before a gap.
 */
export function planReplay(channels: readonly ChannelReplay[], req: ReplayRequest): ReplayPlan {
  const oldestKept = req.nowMs - req.retentionMs;
  let completeAfter = req.after;
  const kept: HistoryEntry[][] = [];
  for (const channel of channels) {
    completeAfter = laterOf(completeAfter, channel.completeAfter);
    let first = 0;
    while (first < channel.entries.length && channel.entries[first]!.receivedAt < oldestKept) {
      completeAfter = laterOf(completeAfter, channel.entries[first]!.cursor);
      first++;
    }
    kept.push(channel.entries.slice(first) as HistoryEntry[]);
  }
  const byCursor = new Map<Cursor, HistoryEntry>();
  for (const entries of kept) {
    for (const e of entries) {
      if (e.cursor <= completeAfter) continue;
      if (req.receivedSince !== undefined && e.receivedAt < req.receivedSince) continue;
      byCursor.set(e.cursor, e);
    }
  }
  const entries = [...byCursor.values()].sort((a, b) => (a.cursor < b.cursor ? -1 : 1));
  const readThrough = channels.map((c) => c.entries[c.entries.length - 1]?.cursor ?? ORIGIN_CURSOR);
  return { gapTo: completeAfter > req.after ? completeAfter : undefined, entries, readThrough };
}
