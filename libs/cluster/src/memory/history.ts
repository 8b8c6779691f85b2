import {
  ORIGIN_CURSOR,
  cursorBefore,
  formatCursor,
  laterOf,
  nextPositions,
  parseCursor,
  predecessor,
  type Cursor,
  type Position,
} from '@events-proxy/protocol';
import type { ChannelReplay, History, HistoryEntry, HistoryRetention, RecordedMessage } from '../history.js';

interface ChannelLog {
  /** Every message after this was recorded (or trimmed, which moves `trimmedUpTo`). */
  completeAfter: Cursor;
  /** The newest cursor trimmed away (ORIGIN_CURSOR: none). */
  trimmedUpTo: Cursor;
  /** Oldest first. */
  entries: HistoryEntry[];
}

/**
 * Single-node mode's history: positions from this process's clock, channels' messages in arrays.
 * Gone with the process, so after a restart every old cursor resumes with a gap (its channels'
 * histories begin after it).
 */
export class MemoryHistory implements History {
  private last: Position | undefined;
  private readonly channels = new Map<string, ChannelLog>();

  constructor(readonly retention: HistoryRetention) {}

  async assign(count: number, nowMs: number): Promise<Cursor[]> {
    const start = nextPositions(this.last, nowMs, count);
    const cursors: Cursor[] = [];
    for (let i = 0; i < count; i++) cursors.push(formatCursor(start.ms, start.seq + i));
    if (count > 0) this.last = { ms: start.ms, seq: start.seq + count - 1 };
    return cursors;
  }

  async newest(): Promise<Cursor> {
    // Nothing given yet: the newest is now, and later positions come after it whatever the clock.
    this.last ??= parseCursor(cursorBefore(Date.now()))!;
    return formatCursor(this.last.ms, this.last.seq);
  }

  async record(messages: readonly RecordedMessage[]): Promise<void> {
    if (this.retention.retentionMs === 0) return;
    const now = Date.now();
    for (const m of messages) {
      for (const channel of m.channels) {
        let log = this.channels.get(channel);
        if (log === undefined) {
          // Recording starts with this message (the binding's begin() was lost, or never ran here).
          log = { completeAfter: predecessor(m.cursor), trimmedUpTo: ORIGIN_CURSOR, entries: [] };
          this.channels.set(channel, log);
        }
        const top = log.entries[log.entries.length - 1];
        if (top !== undefined && top.cursor >= m.cursor) {
          // Recorded already (a retried batch), or it came after a newer one and cannot be inserted:
          // then it is lost for replay, and the history is complete only after it.
          if (!log.entries.some((e) => e.cursor === m.cursor)) {
            log.completeAfter = laterOf(log.completeAfter, m.cursor);
          }
          continue;
        }
        log.entries.push({ cursor: m.cursor, receivedAt: m.receivedAt, frame: m.frame });
        this.trim(log, now);
      }
    }
  }

  private trim(log: ChannelLog, now: number): void {
    const { maxMessages, retentionMs } = this.retention;
    let drop = Math.max(0, log.entries.length - maxMessages);
    while (drop < log.entries.length && log.entries[drop]!.receivedAt < now - retentionMs) drop++;
    if (drop === 0) return;
    log.trimmedUpTo = laterOf(log.trimmedUpTo, log.entries[drop - 1]!.cursor);
    log.entries.splice(0, drop);
  }

  async begin(channel: string): Promise<void> {
    const newest = await this.newest();
    this.channels.set(channel, { completeAfter: newest, trimmedUpTo: ORIGIN_CURSOR, entries: [] });
  }

  async forget(channel: string): Promise<void> {
    this.channels.delete(channel);
  }

  async read(channels: readonly string[], after: Cursor): Promise<ChannelReplay[]> {
    const newest = await this.newest();
    return channels.map((channel) => {
      const log = this.channels.get(channel);
      if (log === undefined || this.retention.retentionMs === 0)
        return { completeAfter: newest, entries: [] };
      let first = log.entries.length;
      while (first > 0 && log.entries[first - 1]!.cursor > after) first--;
      let completeAfter = laterOf(log.completeAfter, log.trimmedUpTo);
      const tooMany = log.entries.length - first - this.retention.maxMessages;
      if (tooMany > 0) {
        completeAfter = laterOf(completeAfter, log.entries[first + tooMany - 1]!.cursor);
        first += tooMany;
      }
      return { completeAfter, entries: log.entries.slice(first) };
    });
  }

  isConnected(): boolean {
    return true;
  }

  async close(): Promise<void> {
    this.channels.clear();
  }
}
