import { Cluster } from 'ioredis';
import {
  SEQ_PER_MS,
  cursorBefore,
  cursorOfStreamId,
  formatCursor,
  laterOf,
  names,
  parseCursor,
  predecessor,
  streamIdOf,
  type Cursor,
  type Names,
} from '@events-proxy/protocol';
import type { ChannelReplay, History, HistoryEntry, HistoryRetention, RecordedMessage } from '../history.js';
import { closeRedis, isReady, refreshSlotsAfter, type RedisClient } from './client.js';
import {
  defineHistoryCommands,
  type HistoryCommands,
  type HistoryScript,
  type RawStreamEntry,
} from './history-scripts.js';
import { throwFirstError } from './pipeline.js';
import { ChannelsFailed, SHARD_DEADLINE_MS, byChannel, settleByChannel } from '../channels-failed.js';

export interface RedisHistoryOptions {
  /** Owned by the history from now on. */
  readonly redis: RedisClient;
  readonly keyPrefix: string;
  readonly retention: HistoryRetention;
}

/** Entries per record script call: each call stays short (Redis runs one script at a time). */
const ENTRIES_PER_CALL = 256;

type Arg = string | Buffer | number;

interface ScriptCall {
  /** The channel whose keys the call touches (a failure is reported per channel). */
  readonly channel?: string;
  readonly script: HistoryScript;
  readonly args: readonly Arg[];
}

/**
 * The history on Redis, standalone or Cluster: positions in one key (`names().historyPosition`),
 * each channel's messages in a stream whose entry IDs are their positions, beside the cursor after
 * which that stream is complete (`names().historyKeys`). Frames stay Buffers end to end.
 */
export class RedisHistory implements History {
  readonly retention: HistoryRetention;
  private readonly redis: RedisClient & HistoryCommands;
  private readonly names: Names;
  /** Extra entries a channel may hold before its count trim runs (about a tenth of the limit). */
  private readonly trimSlack: number;

  constructor(opts: RedisHistoryOptions) {
    this.redis = defineHistoryCommands(opts.redis);
    this.names = names(opts.keyPrefix);
    this.retention = opts.retention;
    this.trimSlack = Math.ceil(opts.retention.maxMessages / 10);
  }

  async assign(count: number, nowMs: number): Promise<Cursor[]> {
    if (count === 0) return [];
    if (!Number.isInteger(count) || count < 0 || count > SEQ_PER_MS) {
      throw new RangeError(`assign(${count}): a batch takes 1 to ${SEQ_PER_MS} positions`);
    }
    const [ms, seq] = await this.redis
      .epHistoryAssign(this.names.historyPosition, count, nowMs)
      .catch(this.afterClusterError);
    const start = Number(ms);
    const cursors: Cursor[] = [];
    for (let i = 0; i < count; i++) cursors.push(formatCursor(start, seq + i));
    return cursors;
  }

  /**
   * Nothing given yet (a new installation, or a Redis that restarted empty): the newest is now, and
   * stored, so that positions given later, by the clock of any ingest, come after it.
   */
  async newest(): Promise<Cursor> {
    const now = cursorBefore(Date.now());
    const stored = await this.redis.set(this.names.historyPosition, now, 'NX', 'GET');
    return stored ?? now;
  }

  async record(messages: readonly RecordedMessage[]): Promise<void> {
    if (this.retention.retentionMs === 0 || messages.length === 0) return;
    const byChannel = new Map<string, RecordedMessage[]>();
    for (const m of messages) {
      for (const channel of new Set(m.channels)) {
        let list = byChannel.get(channel);
        if (list === undefined) byChannel.set(channel, (list = []));
        list.push(m);
      }
    }
    const cutoff = String(Math.max(0, Date.now() - this.retention.retentionMs));
    const calls: ScriptCall[] = [];
    for (const [channel, list] of byChannel) {
      list.sort((a, b) => (a.cursor < b.cursor ? -1 : a.cursor > b.cursor ? 1 : 0));
      const { entries, since } = this.names.historyKeys(channel);
      const head = [entries, since, String(this.retention.maxMessages), String(this.trimSlack), cutoff];
      const recordFrom = predecessor(list[0]!.cursor);
      for (let i = 0; i < list.length; i += ENTRIES_PER_CALL) {
        const args: Arg[] = [...head, recordFrom];
        for (const m of list.slice(i, i + ENTRIES_PER_CALL)) {
          args.push(streamIdOf(m.cursor), String(m.receivedAt), m.frame);
        }
        calls.push({ script: 'epHistoryRecord', args, channel });
      }
    }
    await this.together(calls);
  }

  async begin(channel: string): Promise<void> {
    const { entries, since } = this.names.historyKeys(channel);
    if (this.retention.retentionMs === 0) {
      await this.redis.del(entries, since);
      return;
    }
    const newest = await this.newest();
    const p = parseCursor(newest)!;
    // The stream ID right after the newest position (a seq of 1000000 is a valid stream ID).
    await this.redis.epHistoryBeginBuffer(entries, since, newest, `${p.ms}-${p.seq + 1}`);
  }

  async forget(channel: string): Promise<void> {
    const { entries, since } = this.names.historyKeys(channel);
    await this.redis.del(entries, since);
  }

  async read(channels: readonly string[], after: Cursor): Promise<ChannelReplay[]> {
    const afterId = streamIdOf(after); // throws on a malformed cursor, before any call is made
    if (this.retention.retentionMs === 0 || channels.length === 0) {
      const newest = await this.newest();
      return channels.map(() => ({ completeAfter: newest, entries: [] }));
    }
    const limit = this.retention.maxMessages;
    // Since and entries in one transaction, so that no trim falls between the two (plain
    // commands in MULTI cost Redis about a fifth of the same in a Lua script, which copies every
    // entry into Lua and back).
    const reads = channels.map(async (channel) => {
      const { entries, since } = this.names.historyKeys(channel);
      const results = await this.redis
        .multi()
        .getBuffer(since)
        .xrevrangeBuffer(entries, '+', `(${afterId}`, 'COUNT', limit + 1)
        .exec();
      throwFirstError(results);
      return [results![0]![1], results![1]![1]] as [Buffer | null, RawStreamEntry[]];
    });
    const [newest, ...replies] = await Promise.all([this.newest(), ...reads]).catch(this.afterClusterError);
    return replies.map(([since, raw]) => {
      // A channel nobody began or recorded (or forgot): complete only from now on.
      let completeAfter = since === null ? newest : since.toString();
      const entries = raw.map(toEntry).reverse();
      if (entries.length > limit) {
        // More than a resume may replay: the oldest of them stands for all that are left out.
        completeAfter = laterOf(completeAfter, entries.shift()!.cursor);
      }
      return { completeAfter, entries };
    });
  }

  /**
   * Runs the calls together: one pipeline on a standalone Redis; on a Redis Cluster, whose keys
   * are in many slots, concurrent calls, which auto-pipelining sends as one pipeline per node.
   * Rejects with the first failure (after every call has settled, so none rejects unhandled).
   */
  private async together(calls: readonly ScriptCall[]): Promise<unknown[]> {
    if (calls.length === 0) return [];
    type Invoke = Record<string, (...args: Arg[]) => unknown>;
    if (this.redis instanceof Cluster) {
      const client = this.redis as unknown as Invoke;
      const promises = calls.map((c) => client[`${c.script}Buffer`]!(...c.args) as Promise<unknown>);
      if (calls.every((c) => c.channel !== undefined)) {
        // Recording is idempotent: a channel reported failed (or still in flight) is recorded again.
        try {
          await settleByChannel(
            byChannel(calls.map((c, i) => ({ channel: c.channel!, promise: promises[i]! }))),
            SHARD_DEADLINE_MS,
          );
        } catch (err) {
          refreshSlotsAfter(this.redis, err instanceof ChannelsFailed ? err.cause : err);
          throw err;
        }
        return await Promise.all(promises);
      }
      const settled = await Promise.allSettled(promises);
      const failed = settled.find((s) => s.status === 'rejected');
      if (failed) this.afterClusterError(failed.reason);
      return settled.map((s) => (s as PromiseFulfilledResult<unknown>).value);
    }
    const pipeline = this.redis.pipeline();
    const invoke = pipeline as unknown as Invoke;
    for (const c of calls) invoke[`${c.script}Buffer`]!(...c.args);
    const results = await pipeline.exec();
    throwFirstError(results);
    return results!.map(([, value]) => value);
  }

  /** Rethrows; first, on a Redis Cluster whose slots moved (a fail-over), reloads the slot map. */
  private readonly afterClusterError = (err: unknown): never => {
    refreshSlotsAfter(this.redis, err);
    throw err;
  };

  isConnected(): boolean {
    return isReady(this.redis);
  }

  async close(): Promise<void> {
    await closeRedis(this.redis);
  }
}

function toEntry([id, fields]: RawStreamEntry): HistoryEntry {
  let receivedAt = 0;
  let frame: Buffer = Buffer.alloc(0);
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const name = fields[i]!.toString();
    if (name === 't') receivedAt = Number(fields[i + 1]!.toString());
    else if (name === 'f') frame = fields[i + 1]!;
  }
  return { cursor: cursorOfStreamId(id.toString()), receivedAt, frame };
}
