import type { RedisClient } from './client.js';

/**
 * The lease store's Lua scripts. Every "now" is Redis's own clock (TIME), so the hosts' clocks
 * never matter. Leases are a sorted set: member = binding key, score = expiry in ms.
 */
const NOW_MS = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`;

const SCRIPTS = {
  /** KEYS[1] leases; ARGV[1] lease ms, ARGV[2..] keys. Extends only live leases; 1/0 per key. */
  epLeaseRenewIfLeased: `${NOW_MS}
local target = now + tonumber(ARGV[1])
local out = {}
for i = 2, #ARGV do
  local score = redis.call('ZSCORE', KEYS[1], ARGV[i])
  if score and tonumber(score) > now then
    if tonumber(score) < target then redis.call('ZADD', KEYS[1], target, ARGV[i]) end
    out[#out + 1] = 1
  else
    out[#out + 1] = 0
  end
end
return out`,
  /** KEYS[1] leases; ARGV[1] lease ms, ARGV[2] key. Adds, or extends without ever shortening. */
  epLeaseAdd: `${NOW_MS}
redis.call('ZADD', KEYS[1], 'GT', now + tonumber(ARGV[1]), ARGV[2])
return 1`,
  /** KEYS[1] leases; ARGV[1] limit. Keys whose lease has ended. */
  epLeaseExpired: `${NOW_MS}
return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))`,
  /** KEYS[1] leases; ARGV[1] key. Removes it only if its lease has ended; 1 if removed. */
  epLeaseRemoveIfExpired: `${NOW_MS}
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if score and tonumber(score) <= now then
  redis.call('ZREM', KEYS[1], ARGV[1])
  return 1
end
return 0`,
  /** KEYS[1] lock; ARGV[1] token. Deletes the lock only if this holder still owns it. */
  epLockRelease: `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`,
  /** KEYS[1] lock; ARGV[1] token, ARGV[2] ttl ms. Extends the lock only if this holder owns it. */
  epLockExtend: `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0`,
} as const;

export interface LeaseCommands {
  epLeaseRenewIfLeased(leases: string, leaseMs: number, ...keys: string[]): Promise<number[]>;
  epLeaseAdd(leases: string, leaseMs: number, key: string): Promise<number>;
  epLeaseExpired(leases: string, limit: number): Promise<string[]>;
  epLeaseRemoveIfExpired(leases: string, key: string): Promise<number>;
  epLockRelease(lock: string, token: string): Promise<number>;
  epLockExtend(lock: string, token: string, ttlMs: number): Promise<number>;
}

/**
 * Registers the scripts on the connection (ioredis runs them by EVALSHA, loading on demand). Each
 * script touches one key, so it runs on a Redis Cluster too.
 */
export function defineLeaseCommands(redis: RedisClient): RedisClient & LeaseCommands {
  for (const [name, lua] of Object.entries(SCRIPTS)) redis.defineCommand(name, { numberOfKeys: 1, lua });
  return redis as RedisClient & LeaseCommands;
}
