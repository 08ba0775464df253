/**
 * The Lua scripts of the Redis device store that touch queued commands (devices/redis-store.ts):
 * each device's `queued:{id}` set and the global `queued-expiry` index move together, in one
 * script, so a command is taken by exactly one caller — its result, the expiry sweep, the
 * reaper or revocation (issue 12).
 */

/** KEYS: device, offline, sessions, queued, queued-expiry. ARGV: id, cutoff. Returns {record, queued ids}. */
export const CLAIM_EXPIRED = `
local since = redis.call('ZSCORE', KEYS[2], ARGV[1])
if not since or tonumber(since) > tonumber(ARGV[2]) then return false end
local record = redis.call('HGETALL', KEYS[1])
local queued = redis.call('ZRANGE', KEYS[4], 0, -1)
for _, command in ipairs(queued) do redis.call('ZREM', KEYS[5], ARGV[1] .. ':' .. command) end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('SREM', KEYS[3], ARGV[1])
redis.call('DEL', KEYS[1], KEYS[4])
return {record, queued}`;

/**
 * KEYS: queued, queued-expiry. ARGV: command id, expiresAt, now, max, device id, key TTL slack ms.
 * Expired commands stay (not counted) until the expiry sweep takes them; the key outlives
 * its last command by the slack, as a safety net: the index is what the sweep reads.
 */
export const ADD_QUEUED = `
if redis.call('ZCOUNT', KEYS[1], '(' .. ARGV[3], '+inf') >= tonumber(ARGV[4]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[5] .. ':' .. ARGV[1])
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('PEXPIREAT', KEYS[1], tonumber(last[2]) + tonumber(ARGV[6]))
return 1`;

/** KEYS: queued, queued-expiry. ARGV: command id, device id. 1 for exactly one caller. */
export const TAKE_QUEUED = `
local a = redis.call('ZREM', KEYS[1], ARGV[1])
local b = redis.call('ZREM', KEYS[2], ARGV[2] .. ':' .. ARGV[1])
if a + b > 0 then return 1 end
return 0`;

/** KEYS: queued, queued-expiry. ARGV: device id. Returns the ids taken. */
export const TAKE_ALL_QUEUED = `
local queued = redis.call('ZRANGE', KEYS[1], 0, -1)
for _, command in ipairs(queued) do redis.call('ZREM', KEYS[2], ARGV[1] .. ':' .. command) end
redis.call('DEL', KEYS[1])
return queued`;

/** A queued key outlives its last command by this long (the expiry index is the authority). */
export const QUEUED_KEY_SLACK_MS = 86_400_000;
