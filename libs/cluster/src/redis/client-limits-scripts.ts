import type { RedisClient } from './client.js';

/**
 * The client limits' Lua scripts. Every "now" is Redis's own clock (TIME), so the hosts' clocks
 * never matter. Each script touches one key, so it runs on a Redis Cluster too.
 *
 * Streams of a client key are one hash (`names().clientStreams`): per holder (an edge) the field
 * `<holder>` = the streams it holds, and `<holder>:exp` = the end of its lease (ms). A holder
 * whose lease has ended counts for nothing, and the next script on the key deletes its fields.
 * Lua numbers are doubles and Redis may print them in exponent form: every number written is
 * formatted first.
 */
const NOW_MS = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function digits(x) return string.format('%.0f', x) end
`;

/**
 * `live(key, holder)`: the streams of the other holders whose lease runs, and this holder's own
 * (nil when it has no running lease: never written, lost with the key, or ended), after deleting
 * the fields of every ended lease. `hold(key, holder, count, leaseMs, ttlMs)` writes this holder's
 * count with a new lease, or deletes its fields at 0.
 */
const HOLDERS = `${NOW_MS}
local function live(key, holder)
  local flat = redis.call('HGETALL', key)
  local fields = {}
  for i = 1, #flat, 2 do fields[flat[i]] = flat[i + 1] end
  local others, own = 0, nil
  for name, value in pairs(fields) do
    if string.sub(name, -4) ~= ':exp' then
      local ends = tonumber(fields[name .. ':exp'])
      if ends and ends > now then
        if name == holder then own = tonumber(value) else others = others + tonumber(value) end
      else
        redis.call('HDEL', key, name, name .. ':exp')
      end
    elseif fields[string.sub(name, 1, -5)] == nil then
      redis.call('HDEL', key, name)
    end
  end
  return others, own
end
local function hold(key, holder, count, leaseMs, ttlMs)
  if count > 0 then
    redis.call('HSET', key, holder, digits(count), holder .. ':exp', digits(now + leaseMs))
    redis.call('PEXPIRE', key, digits(ttlMs))
  else
    redis.call('HDEL', key, holder, holder .. ':exp')
  end
end
`;

const SCRIPTS = {
  /**
   * KEYS[1] streams; ARGV[1] holder, ARGV[2] limit, ARGV[3] lease ms, ARGV[4] the streams this
   * holder counts for the key (taken when its own fields are gone: a Redis that restarted empty, a
   * lease that ended while Redis was unreachable), ARGV[5] key TTL ms. 1 if counted, 0 if full.
   */
  epClientAcquire: `${HOLDERS}
local key, holder = KEYS[1], ARGV[1]
local leaseMs, ttlMs = tonumber(ARGV[3]), tonumber(ARGV[5])
local others, own = live(key, holder)
local restored = own == nil
if restored then own = tonumber(ARGV[4]) end
if others + own >= tonumber(ARGV[2]) then
  if restored then hold(key, holder, own, leaseMs, ttlMs) end
  return 0
end
hold(key, holder, own + 1, leaseMs, ttlMs)
return 1`,
  /**
   * KEYS[1] streams; ARGV[1] holder, ARGV[2] lease ms, ARGV[3] the streams this holder counts
   * for the key after this release (taken when its own fields are gone), ARGV[4] key TTL ms.
   * One stream fewer; the holder's fields go at 0. Returns the holder's count.
   */
  epClientRelease: `${HOLDERS}
local _, own = live(KEYS[1], ARGV[1])
local count = tonumber(ARGV[3])
if own ~= nil then count = own - 1 end
hold(KEYS[1], ARGV[1], count, tonumber(ARGV[2]), tonumber(ARGV[4]))
return count`,
  /**
   * KEYS[1] streams; ARGV[1] holder, ARGV[2] the streams this holder counts for the key, ARGV[3]
   * lease ms, ARGV[4] key TTL ms, ARGV[5] '1' to write that count over the stored one (the holder
   * has no call on the key in flight, so its count is exact), else only when its fields are gone.
   * Extends the holder's lease.
   */
  epClientRenew: `${HOLDERS}
local _, own = live(KEYS[1], ARGV[1])
local count = tonumber(ARGV[2])
if own ~= nil and ARGV[5] ~= '1' then count = own end
hold(KEYS[1], ARGV[1], count, tonumber(ARGV[3]), tonumber(ARGV[4]))
return 1`,
  /** KEYS[1] streams; ARGV[1] holder. Gives back every stream the holder counts (a clean shutdown). */
  epClientGiveBack: `
redis.call('HDEL', KEYS[1], ARGV[1], ARGV[1] .. ':exp')
return 1`,
  /**
   * KEYS[1] connect rate; ARGV[1] emission interval ms (1000 / rate), ARGV[2] tolerance ms
   * (emission × (burst - 1)). GCRA on the stored theoretical arrival time (TAT, ms, fractional):
   * allowed when TAT - now ≤ tolerance, and then TAT = max(TAT, now) + emission, kept until it is
   * past; refused leaves it. Returns 0 when allowed, else the ms until a connect would be (≥ 1).
   */
  epConnectTake: `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local emission, tolerance = tonumber(ARGV[1]), tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
if tat - now > tolerance then return math.max(1, math.ceil(tat - tolerance - now)) end
tat = tat + emission
redis.call('SET', KEYS[1], string.format('%.3f', tat), 'PX', string.format('%.0f', math.ceil(tat - now) + 1))
return 0`,
} as const;

export type ClientLimitsScript = keyof typeof SCRIPTS;

export interface ClientLimitsCommands {
  epClientAcquire(
    streams: string,
    holder: string,
    limit: number,
    leaseMs: number,
    held: number,
    ttlMs: number,
  ): Promise<number>;
  epClientRelease(
    streams: string,
    holder: string,
    leaseMs: number,
    held: number,
    ttlMs: number,
  ): Promise<number>;
  epClientRenew(
    streams: string,
    holder: string,
    held: number,
    leaseMs: number,
    ttlMs: number,
    overwrite: '0' | '1',
  ): Promise<number>;
  epClientGiveBack(streams: string, holder: string): Promise<number>;
  epConnectTake(rate: string, emissionMs: number, toleranceMs: number): Promise<number>;
}

/**
 * Registers the scripts on the connection (ioredis runs them by EVALSHA, loading on demand; its
 * pipelines get them too).
 */
export function defineClientLimitsCommands(redis: RedisClient): RedisClient & ClientLimitsCommands {
  for (const [name, lua] of Object.entries(SCRIPTS)) redis.defineCommand(name, { numberOfKeys: 1, lua });
  return redis as RedisClient & ClientLimitsCommands;
}
