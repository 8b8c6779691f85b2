import type { RedisClient } from './client.js';

/**
 * The Redis history's Lua scripts. Cursors are `<13-digit ms>-<6-digit seq>` (libs/protocol
 * cursor.ts); stream entry IDs are the same positions unpadded. Lua numbers are doubles: a 13-digit
 * ms is exact in one, but `..` would print it as `1.7e+12`, so ms values are formatted with
 * `%.0f` or kept as the digit strings they came as.
 */
const CURSORS = `
local function cursorOf(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return string.rep('0', 13 - #ms) .. ms .. '-' .. string.rep('0', 6 - #seq) .. seq
end
-- Compared as numbers: Redis sets LC_COLLATE from its environment, and Lua compares strings with strcoll.
local function isAfter(a, b)
  local am, bm = tonumber(string.sub(a, 1, 13)), tonumber(string.sub(b, 1, 13))
  if am ~= bm then return am > bm end
  return tonumber(string.sub(a, 15)) > tonumber(string.sub(b, 15))
end
`;

const SCRIPTS = {
  /**
   * KEYS[1] position; ARGV[1] count (1..1000000), ARGV[2] now ms. The rule of nextPositions: from
   * the clock when it is ahead of the newest position given, else right after it; a batch that
   * would pass seq 999999 moves to the next ms. Returns {start ms as digits, start seq}.
   */
  epHistoryAssign: {
    keys: 1,
    lua: `
local count = tonumber(ARGV[1])
local ms = math.max(0, math.floor(tonumber(ARGV[2])))
local seq = 0
local last = redis.call('GET', KEYS[1])
if last then
  local lastMs, lastSeq = tonumber(string.sub(last, 1, 13)), tonumber(string.sub(last, 15))
  if lastMs >= ms then
    ms = lastMs
    seq = lastSeq + 1
  end
end
if seq + count > 1000000 then
  ms = ms + 1
  seq = 0
end
local msText = string.format('%013.0f', ms)
redis.call('SET', KEYS[1], msText .. '-' .. string.format('%06d', seq + count - 1))
return {msText, seq}`,
  },
  /**
   * KEYS[1] entries (stream), KEYS[2] since; ARGV[1] max messages, ARGV[2] slack, ARGV[3] cutoff ms
   * (entries with an older ID are out of the time window), ARGV[4] the cursor before the batch's
   * first, then (stream ID, received at, frame) per entry, in cursor order.
   *
   * `since` is the cursor after which the stream holds every message of the channel. It starts
   * before the first message recorded (unless begin() set it), and is raised past every message the
   * stream lost: one that came after a newer one (it cannot be inserted) and everything trimmed.
   * The trims are exact and done here rather than by XADD MAXLEN/MINID `~`, because Redis does not
   * say what a trim removed (XINFO's max-deleted-entry-id moves only with XDEL) and `since` must be
   * the newest removed cursor: a later one would report gaps that are not there. The count trim
   * waits for `slack` extra entries, so its XRANGE of the entries to drop is paid once per `slack`
   * messages rather than on every one.
   */
  epHistoryRecord: {
    keys: 2,
    lua: `${CURSORS}
local entries, sinceKey = KEYS[1], KEYS[2]
local since = redis.call('SET', sinceKey, ARGV[4], 'NX', 'GET') or ARGV[4]
local raised = since
local function lose(cursor)
  if isAfter(cursor, raised) then raised = cursor end
end
local failure
for i = 5, #ARGV, 3 do
  local id = ARGV[i]
  local cursor = cursorOf(id)
  -- At or before since, a message cannot count for continuity: not kept.
  if isAfter(cursor, raised) then
    local added = redis.pcall('XADD', entries, id, 't', ARGV[i + 1], 'f', ARGV[i + 2])
    if type(added) == 'table' and added.err then
      if not string.find(added.err, 'equal or smaller', 1, true) then
        failure = added
        break
      end
      -- Not after the stream's top: recorded already (a retried batch), or lost for replay.
      if #redis.call('XRANGE', entries, id, id) == 0 then lose(cursor) end
    end
  end
end
if not failure then
  local maxLen = tonumber(ARGV[1])
  local length = redis.call('XLEN', entries)
  if length > maxLen + tonumber(ARGV[2]) then
    local dropped = redis.call('XRANGE', entries, '-', '+', 'COUNT', length - maxLen)
    lose(cursorOf(dropped[#dropped][1]))
    redis.call('XTRIM', entries, 'MAXLEN', maxLen)
  end
  local cutoff = ARGV[3] .. '-0'
  -- Usually empty: then no entry (and its frame) is copied into Lua.
  if #redis.call('XRANGE', entries, '-', '(' .. cutoff, 'COUNT', 1) > 0 then
    lose(cursorOf(redis.call('XREVRANGE', entries, '(' .. cutoff, '-', 'COUNT', 1)[1][1]))
    redis.call('XTRIM', entries, 'MINID', cutoff)
  end
end
if raised ~= since then redis.call('SET', sinceKey, raised) end
if failure then return failure end
return 1`,
  },
  /**
   * KEYS[1] entries, KEYS[2] since; ARGV[1] the newest position, ARGV[2] the stream ID right after
   * it. The history is complete from the newest position on: older entries go, and since is raised
   * to it (never lowered: a message recorded meanwhile may have raised it further).
   */
  epHistoryBegin: {
    keys: 2,
    lua: `${CURSORS}
local since = redis.call('GET', KEYS[2])
if not since or isAfter(ARGV[1], since) then redis.call('SET', KEYS[2], ARGV[1]) end
redis.call('XTRIM', KEYS[1], 'MINID', ARGV[2])
return 1`,
  },
} as const;

export type HistoryScript = keyof typeof SCRIPTS;

/** A stream entry as the `…Buffer` form of a command returns it: ID, then field/value pairs. */
export type RawStreamEntry = [id: Buffer, fields: Buffer[]];

export interface HistoryCommands {
  epHistoryAssign(position: string, count: number, nowMs: number): Promise<[string, number]>;
  epHistoryBeginBuffer(entries: string, since: string, newest: string, nextId: string): Promise<number>;
  epHistoryRecordBuffer(entries: string, since: string, ...args: (string | Buffer)[]): Promise<number>;
}

/**
 * Registers the scripts on the connection (ioredis runs them by EVALSHA, loading on demand; its
 * pipelines get them too). Each script's keys share one hash slot, so they run on a Redis Cluster.
 */
export function defineHistoryCommands(redis: RedisClient): RedisClient & HistoryCommands {
  for (const [name, { keys, lua }] of Object.entries(SCRIPTS)) {
    redis.defineCommand(name, { numberOfKeys: keys, lua });
  }
  return redis as RedisClient & HistoryCommands;
}
