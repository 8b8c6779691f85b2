import type { Cursor } from '@events-proxy/protocol';

/**
 * The history seam (DESIGN.md §3b): positions for every message, and what each (exchange, pattern)
 * channel retained, kept by the cluster, not by an edge, so a v2 client resumes through any edge.
 * Drivers: memory (single-node mode) and Redis (streams, standalone or Cluster). One behavioural
 * suite (test/cluster/history.suite.ts) runs against each.
 *
 * The ingest calls `assign`, then `record`, then publishes on the bus: a message is retained before
 * any edge can receive it live, so an edge that subscribes first and reads the history second
 * misses nothing between the two (it dedupes by cursor).
 */
export interface HistoryRetention {
  /** HISTORY_SECONDS in ms; 0 turns history off (every resume is a gap). */
  readonly retentionMs: number;
  /** HISTORY_MAX_MESSAGES: most messages a channel keeps, and a resume replays, per channel. */
  readonly maxMessages: number;
}

/** HISTORY_SECONDS and HISTORY_MAX_MESSAGES's defaults (DESIGN.md §3b). */
export const DEFAULT_HISTORY_RETENTION: HistoryRetention = { retentionMs: 300_000, maxMessages: 1000 };

/** One retained message of a channel. */
export interface HistoryEntry {
  readonly cursor: Cursor;
  /** When the ingest received it (ms since the epoch). */
  readonly receivedAt: number;
  /** Its v1 `message` frame, as published on the bus. */
  readonly frame: Buffer;
}

/** One message to retain under each of its channels. */
export interface RecordedMessage extends HistoryEntry {
  readonly channels: readonly string[];
}

/** What a channel holds after a cursor. */
export interface ChannelReplay {
  /**
   * Every message of the channel after this cursor is in `entries` or newer than the newest one
   * there; before it, messages may be missing (recording began later, or they were trimmed).
   * A resume from a cursor older than this is a gap.
   */
  readonly completeAfter: Cursor;
  /** The retained messages after the cursor asked for, oldest first (at most maxMessages). */
  readonly entries: readonly HistoryEntry[];
}

export interface History {
  readonly retention: HistoryRetention;
  /**
   * `count` new positions, in order, each after every position given before by any process of the
   * installation (also after a restart that lost the store). All are taken at `nowMs` or later.
   */
  assign(count: number, nowMs: number): Promise<Cursor[]>;
  /**
   * Retains the messages (in cursor order) under their channels, trimming each channel to the
   * retention. Idempotent: recording the same cursors again (a retried batch) changes nothing.
   * Rejects with ChannelsFailed when only some channels failed (the others were recorded).
   */
  record(messages: readonly RecordedMessage[]): Promise<void>;
  /** The newest position given (a fresh v2 connection starts there). */
  newest(): Promise<Cursor>;
  /**
   * The channel's binding was just put on the broker after a time without it: its history is
   * complete only from the newest position on. Called before the binding is reported live.
   */
  begin(channel: string): Promise<void>;
  /** The channel's binding left the broker: its history is dropped (a later `begin` restarts it). */
  forget(channel: string): Promise<void>;
  /** For each channel, in order, what it retained after `after`. */
  read(channels: readonly string[], after: Cursor): Promise<ChannelReplay[]>;
  isConnected(): boolean;
  close(): Promise<void>;
}
